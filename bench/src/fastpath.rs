//! `fastpath`: the XDP program's cost per packet on each of its main
//! paths, measured by the kernel with `BPF_PROG_TEST_RUN` and a large
//! repeat count (the kernel times the whole loop and returns the time per
//! run). The program runs on crafted frames, loaded but attached nowhere,
//! with one configured session whose detection timer every control packet
//! re-arms, as in the steady state.

use std::time::Duration;

use anyhow::Context as _;
use bfd_common::{
    TTL,
    maps::{CFG_ABSORB, CFG_ECHO},
    wire::{AuthRepr, ControlRepr, State},
};
use bfd_lab::{
    frame::{TPID_8021AD, TPID_8021Q},
    lab::{PinDir, monotonic_ns, require_root},
    scenario::{
        Crafted, LOCAL_DISCR, LONG_DETECT_NS, LOOPBACK_IFINDEX, NODE_V4, NODE_V6, PEER_V4, PEER_V6,
        REMOTE_DISCR, control_bytes, frr_echo_payload, ip, own_echo_payload, session_config, steady_repr,
    },
};
use bfd_user::fastpath::{FastPath, XdpAction, load_unattached};

use crate::report::cpu_model;

/// Repeats per `BPF_PROG_TEST_RUN` call, and calls per path (the median is
/// printed).
const REPEAT: u32 = 1_000_000;
const RUNS: usize = 5;
/// Calls of one run each, per path.
const SINGLES: usize = 20_000;
/// The path whose every run restarts the detection timer.
const RESTARTED: &str = "absorb: IPv4 control, timer restarted";

pub fn run() -> anyhow::Result<()> {
    require_root()?;
    let pins = PinDir::new("bnch");
    let program = load_unattached(pins.path())?;
    let mut fast = FastPath::open(pins.path())?;
    let mut config = session_config(ip(PEER_V4), ip(NODE_V4));
    config.flags = CFG_ABSORB | CFG_ECHO;
    config.echo_detect_ns = LONG_DETECT_NS;
    fast.set_session(LOCAL_DISCR, &config)?;
    // A second session over IPv6 (discriminators are per session).
    let mut config_v6 = session_config(ip(PEER_V6), ip(NODE_V6));
    let steady_v6 = ControlRepr { your_discriminator: LOCAL_DISCR + 1, ..steady_repr() };
    config_v6.expect = bfd_common::maps::SessionConfig::expect_header(&steady_v6);
    fast.set_session(LOCAL_DISCR + 1, &config_v6)?;
    // A third like the first but with no detection timer (a Down
    // session's), to show what re-arming the timer costs.
    let steady_untimed = ControlRepr { your_discriminator: LOCAL_DISCR + 2, ..steady_repr() };
    let mut config_untimed = session_config(ip(PEER_V4), ip(NODE_V4));
    config_untimed.detect_ns = 0;
    config_untimed.expect = bfd_common::maps::SessionConfig::expect_header(&steady_untimed);
    fast.set_session(LOCAL_DISCR + 2, &config_untimed)?;
    // A fourth with keyed SHA1 (issue 18): its template holds the header
    // and the authentication section the agent verified.
    let sha1 = AuthRepr::KeyedSha1 { meticulous: false, key_id: 1, sequence: 9, hash: [0x5a; 20] };
    let steady_sha1 = ControlRepr { your_discriminator: LOCAL_DISCR + 3, auth: Some(sha1), ..steady_repr() };
    let mut config_sha1 = session_config(ip(PEER_V4), ip(NODE_V4));
    (config_sha1.expect, config_sha1.expect_auth) =
        bfd_common::maps::SessionConfig::expect_packet(&steady_sha1);
    fast.set_session(LOCAL_DISCR + 3, &config_sha1)?;
    let next_sha1 = ControlRepr {
        auth: Some(AuthRepr::KeyedSha1 { meticulous: false, key_id: 1, sequence: 10, hash: [0x5a; 20] }),
        ..steady_sha1
    };
    fast.add_echo_peer(LOOPBACK_IFINDEX, ip(PEER_V4), LOCAL_DISCR)?;
    fast.add_echo_peer(LOOPBACK_IFINDEX, ip(PEER_V6), LOCAL_DISCR + 1)?;

    let steady = Crafted::control(control_bytes(&steady_repr()));
    let steady_v6_frame = Crafted {
        vlans: vec![(TPID_8021AD, 100), (TPID_8021Q, 20)],
        src: ip(PEER_V6),
        dst: ip(NODE_V6),
        ..Crafted::control(control_bytes(&steady_v6))
    };
    let changed = Crafted::control(control_bytes(&ControlRepr { poll: true, ..steady_repr() }));
    let bring_up = Crafted::control(control_bytes(&ControlRepr {
        state: State::Down,
        your_discriminator: 0,
        ..steady_repr()
    }));
    let own_echo = Crafted {
        ttl: TTL - 1,
        ..Crafted::echo(ip(NODE_V4), own_echo_payload(LOCAL_DISCR, 1, monotonic_ns()))
    };
    let mut unknown = steady.clone();
    unknown.payload[8..12].copy_from_slice(&0x0badu32.to_be_bytes());
    let not_bfd = Crafted { dst_port: 53, ..steady.clone() };
    // A bring-up packet from a new source each run: the pass path, with the
    // rate limiter's first sight of a source (one LRU insert).
    let new_sources: Vec<Vec<u8>> = (0..SINGLES)
        .map(|index| {
            let source = std::net::Ipv4Addr::new(
                10,
                200 + (index / 65_536) as u8,
                (index / 256 % 256) as u8,
                (index % 256) as u8,
            );
            Crafted { src: std::net::IpAddr::V4(source), ..bring_up.clone() }.bytes()
        })
        .collect();
    let paths: Vec<(&str, Vec<u8>, XdpAction)> = vec![
        ("absorb: IPv4 control, timer kept", steady.bytes(), XdpAction::Drop),
        (RESTARTED, steady.bytes(), XdpAction::Drop),
        ("absorb: IPv6 control in QinQ", steady_v6_frame.bytes(), XdpAction::Drop),
        (
            "absorb: IPv4 control, no timer",
            Crafted::control(control_bytes(&steady_untimed)).bytes(),
            XdpAction::Drop,
        ),
        (
            "absorb: IPv4 control + keyed SHA1 section",
            Crafted::control(control_bytes(&steady_sha1)).bytes(),
            XdpAction::Drop,
        ),
        (
            "pass: keyed SHA1, not the template",
            Crafted::control(control_bytes(&next_sha1)).bytes(),
            XdpAction::Pass,
        ),
        (
            "reflect: IPv4 echo (FRR's)",
            Crafted::echo(ip(PEER_V4), frr_echo_payload(REMOTE_DISCR)).bytes(),
            XdpAction::Tx,
        ),
        (
            "reflect: IPv6 echo",
            Crafted::echo(ip(PEER_V6), frr_echo_payload(REMOTE_DISCR)).bytes(),
            XdpAction::Tx,
        ),
        ("own echo back: timed, echo timer re-armed", own_echo.bytes(), XdpAction::Drop),
        ("pass: control with Poll (to the agent)", changed.bytes(), XdpAction::Pass),
        // One source at a flood's rate: past its burst, every run is dropped
        // by the per-source limit.
        ("drop: bring-up over its source's rate", bring_up.bytes(), XdpAction::Drop),
        ("drop: unknown Your Discriminator", unknown.bytes(), XdpAction::Drop),
        ("pass: not BFD (UDP 53)", not_bfd.bytes(), XdpAction::Pass),
    ];

    println!("== bench fastpath");
    println!(
        "kernel {}, {}\nBPF_PROG_TEST_RUN, the kernel's time per run of the program:\n  batch:  {REPEAT} \
         repeats in one call, median of {RUNS} calls\n  single: one run per call, median of {SINGLES} calls \
         (includes the kernel's clock reads around the run)\n",
        kernel_release(),
        cpu_model()
    );
    println!("{:<42} {:<8} {:>9} {:>9}", "path", "verdict", "batch ns", "single ns");
    let paths = paths.into_iter().map(|(what, frame, expected)| (what, vec![frame], expected)).chain([(
        "pass: bring-up from a new source",
        new_sources,
        XdpAction::Pass,
    )]);
    for (what, frames, expected) in paths {
        let frame = frames[0].clone();
        // One run per call: every run sees the frame as crafted.
        let mut singles: Vec<Duration> = Vec::with_capacity(SINGLES);
        let mut action = XdpAction::Aborted;
        for index in 0..SINGLES {
            if what == RESTARTED {
                // A detection time alternately 4x shorter and 4x longer
                // than the pending deadline: each run must restart the
                // timer (see the program's `must_restart`). The map write
                // is outside the run the kernel times.
                config.detect_ns = if index % 2 == 0 { LONG_DETECT_NS / 4 } else { LONG_DETECT_NS };
                fast.set_session(LOCAL_DISCR, &config)?;
            }
            let output = program
                .run(&frames[index % frames.len()], LOOPBACK_IFINDEX, 1)
                .with_context(|| what.to_owned())?;
            action = output.action;
            singles.push(output.duration);
        }
        let single = median(&mut singles);
        // Many runs per call: the kernel runs them on the same buffer, so a
        // path that rewrites the frame (the reflector) sees its own output
        // from the second run on and is not measured this way.
        let mut batches: Vec<Duration> = Vec::with_capacity(RUNS);
        let mut batch_action = XdpAction::Aborted;
        for _ in 0..if what == RESTARTED { 0 } else { RUNS } {
            let output = program.run(&frame, LOOPBACK_IFINDEX, REPEAT).with_context(|| what.to_owned())?;
            batch_action = output.action;
            batches.push(output.duration);
        }
        let batch = if batch_action == action && !batches.is_empty() {
            median(&mut batches).as_nanos().to_string()
        } else {
            "n/a".to_owned()
        };
        let note = if action == expected { "" } else { "  (unexpected verdict!)" };
        println!("{what:<42} {:<8} {batch:>9} {:>9}{note}", format!("{action:?}"), single.as_nanos());
    }
    println!(
        "\nn/a: repeats within one call do not stay on the path: XDP_TX turns an echo around (the next run \
         sees TTL 254 and passes it), one source's bring-up packets are over its rate after the burst \
         (single runs give each a new source), and repeats find the timer just restarted.\n\
         timer kept: the deadline is between half a detection time and a whole one ahead, the timer is \
         left to fire and wait out the rest; restarted: less than half is left (in the steady state at \
         Detect Mult 3, every other packet)."
    );
    let stats = fast.stats()?;
    println!(
        "{} frames run: {} absorbed, {} reflected, {} own echoes",
        stats.frames, stats.ctl_absorbed, stats.echo_reflected, stats.echo_own
    );
    drop(program);
    drop(pins);
    Ok(())
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "?".into(), |text| text.trim().to_owned())
}
