//! The XDP program's decisions, one by one, on crafted frames run with
//! `BPF_PROG_TEST_RUN` (root): the program is loaded but attached nowhere,
//! its maps pinned in a directory of its own and configured through the
//! agent's library (`bfd_user::fastpath::FastPath`), as the agent does.
//!
//! Every run must count the frame in exactly one decision counter; the
//! helpers below check that on every frame.
//!
//! `BPF_PROG_TEST_RUN` takes the ingress interface in its `xdp_md` context
//! and looks up its receive queue in the caller's network namespace, so
//! frames "arrive" on the loopback device (index 1 everywhere); sessions
//! that must not match use interface indexes that exist nowhere.

use std::{process::Command, time::Duration};

use anyhow::{Context as _, ensure};
use bfd_common::{
    MULTIHOP_CONTROL_PORT, TTL,
    maps::{
        CFG_ABSORB, CFG_AUTH, CFG_ECHO, CFG_MULTIHOP, DETECTED_CONTROL, DETECTED_ECHO, DetectEvent,
        ECHO_RTT_HISTOGRAM_SHIFT, EVENT_CONTROL_TIMEOUT, EVENT_ECHO_TIMEOUT, GAP_HISTOGRAM_SHIFT,
        GlobalStats, OVERSHOOT_HISTOGRAM_SHIFT, SESSION_CONFIG_MAP, SESSION_STATE_MAP, SessionConfig,
        SessionState, histogram_bucket,
    },
    wire::{AuthRepr, ControlRepr, Diagnostic, Error, Password, State},
};
use bfd_lab::{
    frame::{TPID_8021AD, TPID_8021Q, internet_checksum},
    lab::{PinDir, monotonic_ns, require_root, run_stdout},
    scenario::{
        Crafted, LOCAL_DISCR, LOOPBACK_IFINDEX, NODE_V4, NODE_V6, PEER_V4, PEER_V6, REMOTE_DISCR,
        control_bytes, frr_echo_payload, ip, own_echo_payload, session_config, steady_repr,
    },
};
use bfd_user::fastpath::{Events, FastPath, TestRunOutput, Unattached, XdpAction, load_unattached};
use serde_json::Value;

/// An interface index that exists nowhere (for sessions whose packets must
/// be seen arriving on the wrong interface).
const OTHER_IFINDEX: u32 = 4242;

/// The program, loaded unattached, with its maps pinned and opened.
/// Dropped in field order: the map handles, the program, then the pins.
struct Lab {
    fast: FastPath,
    program: Unattached,
    pins: PinDir,
}

impl Lab {
    /// Loads the program with the standard single-hop IPv4 session
    /// configured.
    fn new() -> anyhow::Result<Lab> {
        require_root()?;
        let pins = PinDir::new("bfdr");
        let program = load_unattached(pins.path())?;
        let mut fast = FastPath::open(pins.path())?;
        fast.set_session(LOCAL_DISCR, &session_config(ip(PEER_V4), ip(NODE_V4)))?;
        Ok(Lab { fast, program, pins })
    }

    /// Rewrites the session's configuration with `change` (new
    /// generation).
    fn reconfigure(&mut self, change: impl FnOnce(&mut SessionConfig)) -> anyhow::Result<()> {
        let mut config = self.fast.session_config(LOCAL_DISCR)?.context("session configured")?;
        config.generation += 1;
        change(&mut config);
        self.fast.set_session(LOCAL_DISCR, &config)?;
        Ok(())
    }

    /// Runs the program once on `frame`, arriving on `ifindex`; checks that
    /// it was counted in exactly one decision and returns the result and
    /// the counters it moved.
    fn run_on(&self, frame: &[u8], ifindex: u32) -> anyhow::Result<(TestRunOutput, GlobalStats)> {
        let before = self.fast.stats()?;
        let output = self.program.run(frame, ifindex, 1)?;
        let moved = difference(&self.fast.stats()?, &before);
        ensure!(
            moved.frames == 1 && moved.decisions() == 1,
            "a frame must be counted in exactly one decision: {moved:#?}"
        );
        Ok((output, moved))
    }

    fn run(&self, frame: &[u8]) -> anyhow::Result<(TestRunOutput, GlobalStats)> {
        self.run_on(frame, LOOPBACK_IFINDEX)
    }

    fn state(&self) -> anyhow::Result<SessionState> {
        self.fast.session_state(LOCAL_DISCR)?.context("the session has kernel state")
    }
}

/// `after - before`, field by field.
fn difference(after: &GlobalStats, before: &GlobalStats) -> GlobalStats {
    let mut moved = *after;
    let words: &mut [u64] = bytemuck::cast_slice_mut(std::slice::from_mut(&mut moved));
    let before: &[u64] = bytemuck::cast_slice(std::slice::from_ref(before));
    for (word, before) in words.iter_mut().zip(before) {
        *word -= before;
    }
    moved
}

fn steady_frame() -> Crafted {
    Crafted::control(control_bytes(&steady_repr()))
}

#[bfd_lab::test]
fn absorbs_the_expected_packet_and_stamps_the_session() -> anyhow::Result<()> {
    let lab = Lab::new()?;
    let before = monotonic_ns();
    let (output, moved) = lab.run(&steady_frame().bytes())?;
    let after = monotonic_ns();
    assert_eq!(output.action, XdpAction::Drop);
    assert_eq!(moved.ctl_absorbed, 1, "{moved:#?}");
    let state = lab.state()?;
    assert_eq!((state.rx_packets, state.absorbed, state.passed), (1, 1, 0), "{state:#?}");
    assert!(
        (before..=after).contains(&state.last_rx_ns),
        "last_rx_ns {} not in {before}..={after}",
        state.last_rx_ns
    );
    Ok(())
}

#[bfd_lab::test]
fn every_gap_between_valid_packets_goes_into_the_gap_histogram() -> anyhow::Result<()> {
    let mut lab = Lab::new()?;
    // A new epoch (the session came Up): the first packet starts it.
    lab.reconfigure(|config| config.gap_epoch = 1)?;
    let sleeps = [Duration::from_millis(2), Duration::from_millis(40), Duration::from_millis(5)];
    lab.run(&steady_frame().bytes())?;
    let first_rx_ns = lab.state()?.last_rx_ns;
    for sleep in sleeps {
        std::thread::sleep(sleep);
        lab.run(&steady_frame().bytes())?;
    }
    // A packet dropped as invalid for the session is no gap.
    let wrong_ttl = Crafted { ttl: TTL - 1, ..steady_frame() };
    assert_eq!(lab.run(&wrong_ttl.bytes())?.1.ctl_drop_ttl, 1);
    let state = lab.state()?;
    let histogram = state.gap_hist;
    assert_eq!(state.rx_packets, 4);
    assert_eq!(
        histogram.count(),
        state.rx_packets - 1,
        "one gap per valid packet but the first: {histogram:?}"
    );
    // Each gap is at least its sleep: the 40 ms one is at or above the
    // bucket of 40 ms, and is the largest gap of the epoch.
    let at_least_40ms = histogram_bucket(40_000_000, GAP_HISTOGRAM_SHIFT);
    assert!(histogram.buckets[at_least_40ms..].iter().sum::<u64>() >= 1, "{histogram:?}");
    assert!(state.max_gap_ns >= 40_000_000);
    assert!(histogram.buckets[histogram_bucket(state.max_gap_ns, GAP_HISTOGRAM_SHIFT)] >= 1);
    // The gaps add up to the time from the first packet to the last.
    assert_eq!(histogram.sum_ns, state.last_rx_ns - first_rx_ns, "{histogram:?}");
    assert!(histogram.sum_ns >= 47_000_000, "{histogram:?}");
    // A new epoch restarts the largest gap, never the histogram (its
    // buckets are counters).
    lab.reconfigure(|config| config.gap_epoch = 2)?;
    lab.run(&steady_frame().bytes())?;
    let state = lab.state()?;
    assert_eq!(state.max_gap_ns, 0);
    assert_eq!(state.gap_hist.count(), 4);
    Ok(())
}

#[bfd_lab::test]
fn passes_what_the_agent_must_see_and_stamps_it() -> anyhow::Result<()> {
    let mut lab = Lab::new()?;
    let steady = steady_repr();
    // (what, packet, which counter must move)
    type Counter = fn(&GlobalStats) -> u64;
    let discr0: Counter = |stats| stats.ctl_pass_discr0;
    let changed: Counter = |stats| stats.ctl_pass_changed;
    let auth: Counter = |stats| stats.ctl_pass_auth;
    let mut with_extra_bytes = control_bytes(&steady);
    with_extra_bytes.extend_from_slice(&[0; 6]);
    with_extra_bytes[3] = 30; // A clear, Length 30: valid (§6.8.6 sets a minimum only)
    let cases: Vec<(&str, Vec<u8>, Counter)> = vec![
        (
            "Your Discriminator 0 (bring-up)",
            control_bytes(&ControlRepr { state: State::Down, your_discriminator: 0, ..steady }),
            discr0,
        ),
        ("state Init", control_bytes(&ControlRepr { state: State::Init, ..steady }), changed),
        ("state Down", control_bytes(&ControlRepr { state: State::Down, ..steady }), changed),
        ("a diagnostic", control_bytes(&ControlRepr { diagnostic: Diagnostic::PathDown, ..steady }), changed),
        ("Poll", control_bytes(&ControlRepr { poll: true, ..steady }), changed),
        ("Final", control_bytes(&ControlRepr { final_: true, ..steady }), changed),
        ("Demand", control_bytes(&ControlRepr { demand: true, ..steady }), changed),
        (
            "Control Plane Independent",
            control_bytes(&ControlRepr { control_plane_independent: true, ..steady }),
            changed,
        ),
        ("Detect Mult", control_bytes(&ControlRepr { detect_mult: 5, ..steady }), changed),
        ("My Discriminator", control_bytes(&ControlRepr { my_discriminator: 77, ..steady }), changed),
        ("Desired Min TX", control_bytes(&ControlRepr { desired_min_tx: 1_000_000, ..steady }), changed),
        ("Required Min RX", control_bytes(&ControlRepr { required_min_rx: 100_000, ..steady }), changed),
        ("Required Min Echo RX", control_bytes(&ControlRepr { required_min_echo_rx: 0, ..steady }), changed),
        ("bytes past the header, A clear", with_extra_bytes, auth),
    ];
    let mut stamped = 0;
    for (what, payload, counter) in cases {
        let before = lab.state()?;
        let (output, moved) = lab.run(&Crafted::control(payload).bytes())?;
        assert_eq!(output.action, XdpAction::Pass, "{what}");
        assert_eq!(counter(&moved), 1, "{what}: {moved:#?}");
        let state = lab.state()?;
        if counter(&moved) != moved.ctl_pass_discr0 {
            // A packet of the session: stamped and counted as passed.
            stamped += 1;
            assert!(state.last_rx_ns > before.last_rx_ns, "{what}: not stamped");
            assert_eq!((state.rx_packets, state.passed, state.absorbed), (stamped, stamped, 0), "{what}");
        } else {
            assert_eq!(state, before, "{what}: a bring-up packet belongs to no session yet");
        }
    }

    // A session that does not allow absorbing passes even the steady packet.
    lab.reconfigure(|config| config.flags &= !CFG_ABSORB)?;
    let (output, moved) = lab.run(&steady_frame().bytes())?;
    assert_eq!((output.action, moved.ctl_pass_changed), (XdpAction::Pass, 1));

    // Longer than the kernel inspects (24 + 28 bytes) and consistent: the
    // agent's to validate.
    lab.reconfigure(|config| config.flags |= CFG_ABSORB)?;
    let mut oversize = control_bytes(&steady);
    oversize.resize(60, 0);
    oversize[3] = 60;
    let (output, moved) = lab.run(&Crafted::control(oversize).bytes())?;
    assert_eq!((output.action, moved.ctl_pass_oversize), (XdpAction::Pass, 1), "{moved:#?}");
    Ok(())
}

#[bfd_lab::test]
fn drops_invalid_packets_and_counts_them_by_reason() -> anyhow::Result<()> {
    let lab = Lab::new()?;
    let steady = control_bytes(&steady_repr());
    let mutated = |change: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = steady.clone();
        change(&mut bytes);
        bytes
    };
    let with_auth = |auth_type: u8, auth_len: u8, length: u8| {
        mutated(&|bytes| {
            bytes[1] |= 0x04; // A
            bytes.resize(usize::from(length), 0);
            bytes[3] = length;
            bytes[24] = auth_type;
            bytes[25] = auth_len;
        })
    };
    let cases: Vec<(Error, Vec<u8>)> = vec![
        (Error::Truncated, steady[..20].to_vec()),
        (Error::BadVersion, mutated(&|bytes| bytes[0] = (2 << 5) | (bytes[0] & 0x1f))),
        (Error::LengthTooShort, mutated(&|bytes| bytes[3] = 20)),
        (Error::LengthExceedsPayload, mutated(&|bytes| bytes[3] = 30)),
        (Error::ZeroDetectMult, mutated(&|bytes| bytes[2] = 0)),
        (Error::MultipointSet, mutated(&|bytes| bytes[1] |= 0x01)),
        (Error::ZeroMyDiscriminator, mutated(&|bytes| bytes[4..8].fill(0))),
        // State Up with Your Discriminator 0.
        (Error::ZeroYourDiscriminator, mutated(&|bytes| bytes[8..12].fill(0))),
        (Error::AuthLengthMismatch, with_auth(4, 28, 50)),
        (Error::AuthTypeUnknown, with_auth(9, 8, 32)),
        (Error::AuthLengthInvalid, with_auth(2, 20, 44)),
    ];
    // Longer than the kernel inspects: its mandatory section is still
    // checked.
    let oversize = |change: &dyn Fn(&mut Vec<u8>)| {
        mutated(&|bytes| {
            bytes.resize(60, 0);
            bytes[3] = 60;
            change(bytes);
        })
    };
    let cases = cases.into_iter().chain([
        (Error::ZeroDetectMult, oversize(&|bytes| bytes[2] = 0)),
        (Error::BadVersion, oversize(&|bytes| bytes[0] = 0)),
        (Error::ZeroMyDiscriminator, oversize(&|bytes| bytes[4..8].fill(0))),
    ]);
    for (error, payload) in cases {
        let (output, moved) = lab.run(&Crafted::control(payload).bytes())?;
        assert_eq!(output.action, XdpAction::Drop, "{error:?}");
        assert_eq!(moved.control_invalid.get(error), 1, "{error:?}: {moved:#?}");
    }
    assert_eq!(lab.state()?.rx_packets, 0, "no invalid packet may reach the session");
    Ok(())
}

#[bfd_lab::test]
fn drops_packets_that_do_not_match_their_session() -> anyhow::Result<()> {
    let mut lab = Lab::new()?;
    type Counter = fn(&GlobalStats) -> u64;
    let unknown =
        Crafted::control(control_bytes(&ControlRepr { your_discriminator: 0x0bad, ..steady_repr() }));
    let cases: Vec<(&str, Crafted, Counter)> = vec![
        ("unknown Your Discriminator", unknown, |stats| stats.ctl_drop_unknown),
        // RFC 5881 §5: single-hop packets are sent with 255 and one hop
        // less means they were routed.
        ("TTL 254 on a single-hop session", Crafted { ttl: TTL - 1, ..steady_frame() }, |stats| {
            stats.ctl_drop_ttl
        }),
        ("spoofed source", Crafted { src: ip("192.0.2.99"), ..steady_frame() }, |stats| stats.ctl_drop_src),
        ("another destination", Crafted { dst: ip("192.0.2.77"), ..steady_frame() }, |stats| {
            stats.ctl_drop_dst
        }),
        ("the multihop port", Crafted { dst_port: MULTIHOP_CONTROL_PORT, ..steady_frame() }, |stats| {
            stats.ctl_drop_port
        }),
    ];
    for (what, frame, counter) in cases {
        let (output, moved) = lab.run(&frame.bytes())?;
        assert_eq!(output.action, XdpAction::Drop, "{what}");
        assert_eq!(counter(&moved), 1, "{what}: {moved:#?}");
    }
    let state = lab.state()?;
    assert_eq!(
        (state.drop_ttl, state.drop_src, state.drop_dst, state.drop_port, state.rx_packets),
        (1, 1, 1, 1, 0),
        "{state:#?}"
    );

    // A single-hop session arriving on another interface.
    lab.reconfigure(|config| config.ifindex = OTHER_IFINDEX)?;
    let (output, moved) = lab.run(&steady_frame().bytes())?;
    assert_eq!((output.action, moved.ctl_drop_iface), (XdpAction::Drop, 1), "{moved:#?}");
    assert_eq!(lab.state()?.drop_iface, 1);
    // With no interface configured, any will do.
    lab.reconfigure(|config| config.ifindex = 0)?;
    assert_eq!(lab.run(&steady_frame().bytes())?.1.ctl_absorbed, 1);
    // With no local address configured, any destination will do.
    lab.reconfigure(|config| config.local = [0; 16])?;
    let (_, moved) = lab.run(&Crafted { dst: ip("192.0.2.77"), ..steady_frame() }.bytes())?;
    assert_eq!(moved.ctl_absorbed, 1);
    Ok(())
}

#[bfd_lab::test]
fn multihop_sessions_take_a_minimum_ttl_from_any_interface() -> anyhow::Result<()> {
    let mut lab = Lab::new()?;
    lab.reconfigure(|config| {
        config.flags = CFG_MULTIHOP | CFG_ABSORB;
        config.min_ttl = 250;
        // Ignored for multihop (RFC 5883: no interface binding).
        config.ifindex = OTHER_IFINDEX;
    })?;
    let multihop = |ttl| Crafted { ttl, dst_port: MULTIHOP_CONTROL_PORT, ..steady_frame() }.bytes();
    let (output, moved) = lab.run(&multihop(250))?;
    assert_eq!((output.action, moved.ctl_absorbed), (XdpAction::Drop, 1), "TTL at the minimum");
    assert_eq!(lab.run(&multihop(255))?.1.ctl_absorbed, 1, "TTL above the minimum");
    assert_eq!(lab.run(&multihop(249))?.1.ctl_drop_ttl, 1, "TTL below the minimum");
    assert_eq!(lab.run(&steady_frame().bytes())?.1.ctl_drop_port, 1, "the single-hop port");
    Ok(())
}

/// `frame` (an untagged IPv4 frame) with `options` (a multiple of 4 bytes)
/// after its 20-byte IP header: IHL, Total Length and checksum fixed.
fn with_ipv4_options(frame: &[u8], options: &[u8]) -> Vec<u8> {
    let mut bytes = frame[..34].to_vec();
    bytes.extend_from_slice(options);
    bytes.extend_from_slice(&frame[34..]);
    let ip = &mut bytes[14..34 + options.len()];
    ip[0] = 0x40 | ((20 + options.len()) / 4) as u8;
    let total = u16::from_be_bytes([ip[2], ip[3]]) + options.len() as u16;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[10..12].fill(0);
    let checksum = internet_checksum(&[ip]);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    bytes
}

/// `frame` (an untagged IPv6 frame) with an 8-byte hop-by-hop options
/// header (RFC 8200 §4.3: Next Header UDP, a PadN option) before UDP.
fn with_ipv6_hop_by_hop(frame: &[u8]) -> Vec<u8> {
    let mut bytes = frame[..54].to_vec();
    bytes.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
    bytes.extend_from_slice(&frame[54..]);
    bytes[14 + 6] = 0; // Next Header: hop-by-hop options
    let payload_len = u16::from_be_bytes([bytes[18], bytes[19]]) + 8;
    bytes[18..20].copy_from_slice(&payload_len.to_be_bytes());
    bytes
}

#[bfd_lab::test]
fn parses_vlan_tags_ipv4_options_and_ipv6() -> anyhow::Result<()> {
    let mut lab = Lab::new()?;
    for (what, vlans) in [
        ("802.1Q", vec![(TPID_8021Q, 10)]),
        ("802.1ad + 802.1Q", vec![(TPID_8021AD, 100), (TPID_8021Q, 20)]),
        ("802.1Q + 802.1Q", vec![(TPID_8021Q, 100), (TPID_8021Q, 20)]),
    ] {
        let (output, moved) = lab.run(&Crafted { vlans, ..steady_frame() }.bytes())?;
        assert_eq!((output.action, moved.ctl_absorbed), (XdpAction::Drop, 1), "{what}");
    }
    // A third tag is more than the program parses: the stack's business.
    let three = Crafted { vlans: vec![(TPID_8021AD, 1), (TPID_8021Q, 2), (TPID_8021Q, 3)], ..steady_frame() };
    assert_eq!(lab.run(&three.bytes())?.1.not_bfd, 1, "three tags");

    // IPv4 options (IHL 6: one NOP, and End of Options padding).
    let options = with_ipv4_options(&steady_frame().bytes(), &[1, 0, 0, 0]);
    let (output, moved) = lab.run(&options)?;
    assert_eq!((output.action, moved.ctl_absorbed), (XdpAction::Drop, 1), "IPv4 options");

    // An IPv4 fragment is never parsed (its UDP header may be elsewhere).
    let mut fragment = steady_frame().bytes();
    fragment[14 + 6] |= 0x20; // More Fragments
    assert_eq!(lab.run(&fragment)?.1.not_bfd, 1, "IPv4 fragment");

    // The same session over IPv6.
    lab.reconfigure(|config| {
        config.peer = bfd_common::maps::address(ip(PEER_V6));
        config.local = bfd_common::maps::address(ip(NODE_V6));
    })?;
    let ipv6 = Crafted { src: ip(PEER_V6), dst: ip(NODE_V6), ..steady_frame() };
    let (output, moved) = lab.run(&ipv6.bytes())?;
    assert_eq!((output.action, moved.ctl_absorbed), (XdpAction::Drop, 1), "IPv6");
    let (output, moved) =
        lab.run(&Crafted { vlans: vec![(TPID_8021AD, 7), (TPID_8021Q, 8)], ..ipv6.clone() }.bytes())?;
    assert_eq!((output.action, moved.ctl_absorbed), (XdpAction::Drop, 1), "IPv6 in QinQ");
    // Extension headers go to the slow path, untouched.
    let hop_by_hop = with_ipv6_hop_by_hop(&ipv6.bytes());
    let (output, moved) = lab.run(&hop_by_hop)?;
    assert_eq!((output.action, moved.not_bfd), (XdpAction::Pass, 1), "IPv6 hop-by-hop");
    assert_eq!(output.frame, hop_by_hop);
    // An IPv4 packet does not match the IPv6 session.
    assert_eq!(lab.run(&steady_frame().bytes())?.1.ctl_drop_src, 1);
    Ok(())
}

#[bfd_lab::test]
fn non_bfd_frames_pass_untouched() -> anyhow::Result<()> {
    let lab = Lab::new()?;
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[2, 0, 0, 0, 0, 2, 0x08, 0x06]);
    arp.extend_from_slice(&[
        0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 2, 192, 0, 2, 2, 0, 0, 0, 0, 0, 0, 192, 0, 2, 1,
    ]);
    let mut tcp = steady_frame().bytes();
    tcp[14 + 9] = 6; // protocol TCP (checksum no longer matters to XDP)
    let dns = Crafted { dst_port: 53, ..steady_frame() }.bytes();
    for (what, frame) in [("ARP", arp), ("TCP", tcp), ("UDP 53", dns)] {
        let (output, moved) = lab.run(&frame)?;
        assert_eq!((output.action, moved.not_bfd), (XdpAction::Pass, 1), "{what}");
        assert_eq!(output.frame, frame, "{what} must pass untouched");
    }
    Ok(())
}

#[bfd_lab::test]
fn truncated_frames_pass_or_are_counted_never_anything_else() -> anyhow::Result<()> {
    let mut lab = Lab::new()?;
    // Allow the echo's peer too, so that a cut echo may also be reflected.
    lab.fast.add_echo_peer(LOOPBACK_IFINDEX, ip(PEER_V4), LOCAL_DISCR)?;
    let frames = [
        ("IPv4 control", steady_frame().bytes()),
        (
            "QinQ IPv6 control",
            Crafted {
                vlans: vec![(TPID_8021AD, 1), (TPID_8021Q, 2)],
                src: ip(PEER_V6),
                dst: ip(NODE_V6),
                ..steady_frame()
            }
            .bytes(),
        ),
        ("IPv4 control with options", with_ipv4_options(&steady_frame().bytes(), &[1, 1, 1, 0])),
        ("IPv4 echo", Crafted::echo(ip(PEER_V4), frr_echo_payload(REMOTE_DISCR)).bytes()),
        (
            "IPv6 own echo",
            Crafted { ttl: TTL - 1, ..Crafted::echo(ip(NODE_V6), own_echo_payload(LOCAL_DISCR, 1, 1)) }
                .bytes(),
        ),
    ];
    // The kernel refuses test frames shorter than an Ethernet header
    // (net/bpf/test_run.c: EINVAL), and a real frame is never that short.
    let runt = steady_frame().bytes();
    for len in 0..14 {
        ensure!(lab.program.run(&runt[..len], LOOPBACK_IFINDEX, 1).is_err(), "a {len}-byte frame was run");
    }
    for (what, frame) in frames {
        // Every length from an Ethernet header to one byte short.
        for len in 14..frame.len() {
            let (output, moved) = lab.run(&frame[..len]).with_context(|| format!("{what} cut to {len}"))?;
            let counted_drop = moved.control_invalid.total() == 1 || moved.ctl_drop_src == 1;
            match output.action {
                XdpAction::Pass => {
                    ensure!(output.frame == frame[..len], "{what} cut to {len}: passed changed")
                }
                XdpAction::Drop => {
                    ensure!(counted_drop || moved.echo_own == 1, "{what} cut to {len}: {moved:#?}")
                }
                XdpAction::Tx => ensure!(moved.echo_reflected == 1, "{what} cut to {len}"),
                other => anyhow::bail!("{what} cut to {len}: {other:?}"),
            }
        }
    }
    Ok(())
}

/// Checks that `output` is `input` turned around by the reflector: MACs
/// swapped, TTL / hop limit 255 → 254 with a valid IPv4 checksum, every
/// other byte as it was.
fn assert_reflected(what: &str, input: &[u8], output: &[u8], ip_offset: usize, ipv6: bool) {
    assert_eq!(output.len(), input.len(), "{what}: length");
    assert_eq!(output[..6], input[6..12], "{what}: destination MAC is the sender's");
    assert_eq!(output[6..12], input[..6], "{what}: source MAC is ours");
    let ttl_at = ip_offset + if ipv6 { 7 } else { 8 };
    assert_eq!((input[ttl_at], output[ttl_at]), (255, 254), "{what}: TTL / hop limit");
    let mut changed = vec![ttl_at];
    if !ipv6 {
        let header_len = usize::from(output[ip_offset] & 0x0f) * 4;
        assert_eq!(
            internet_checksum(&[&output[ip_offset..ip_offset + header_len]]),
            0,
            "{what}: IPv4 checksum"
        );
        changed.extend([ip_offset + 10, ip_offset + 11]);
    }
    for index in 12..input.len() {
        if !changed.contains(&index) {
            assert_eq!(output[index], input[index], "{what}: byte {index} changed");
        }
    }
}

#[bfd_lab::test]
fn reflects_an_allowed_peers_echo_changing_only_macs_and_ttl() -> anyhow::Result<()> {
    let mut lab = Lab::new()?;
    lab.fast.add_echo_peer(LOOPBACK_IFINDEX, ip(PEER_V4), LOCAL_DISCR)?;
    lab.fast.add_echo_peer(LOOPBACK_IFINDEX, ip(PEER_V6), LOCAL_DISCR)?;
    let echo_v4 = Crafted::echo(ip(PEER_V4), frr_echo_payload(REMOTE_DISCR));
    let echo_v6 = Crafted::echo(ip(PEER_V6), frr_echo_payload(REMOTE_DISCR));
    let qinq = vec![(TPID_8021AD, 100), (TPID_8021Q, 20)];
    let cases = [
        ("IPv4", echo_v4.bytes(), 14, false),
        ("IPv4 in QinQ", Crafted { vlans: qinq.clone(), ..echo_v4.clone() }.bytes(), 22, false),
        ("IPv4 with options", with_ipv4_options(&echo_v4.bytes(), &[1, 1, 1, 1, 1, 1, 1, 0]), 14, false),
        ("IPv6", echo_v6.bytes(), 14, true),
        ("IPv6 in 802.1Q", Crafted { vlans: vec![(TPID_8021Q, 5)], ..echo_v6.clone() }.bytes(), 18, true),
        // A bfd-xdp peer's echo is in our format, and its discriminator
        // may be one of ours: it is still the peer's (its source is the
        // peer's address, not ours).
        (
            "our format from the peer",
            Crafted::echo(ip(PEER_V4), own_echo_payload(LOCAL_DISCR, 1, 2)).bytes(),
            14,
            false,
        ),
    ];
    for (index, (what, input, ip_offset, ipv6)) in cases.iter().enumerate() {
        let (output, moved) = lab.run(input)?;
        assert_eq!(output.action, XdpAction::Tx, "{what}");
        assert_eq!(moved.echo_reflected, 1, "{what}: {moved:#?}");
        assert_reflected(what, input, &output.frame, *ip_offset, *ipv6);
        assert_eq!(lab.state()?.echo_reflected, index as u64 + 1, "{what}: counted in the session");
    }
    // The checksum update is right for every starting checksum, not just
    // this frame's: vary the IP ID, which moves the checksum around.
    for id in (0..=u16::MAX).step_by(251) {
        let mut input = echo_v4.bytes();
        input[18..20].copy_from_slice(&id.to_be_bytes());
        input[24..26].fill(0);
        let checksum = internet_checksum(&[&input[14..34]]);
        input[24..26].copy_from_slice(&checksum.to_be_bytes());
        let (output, _) = lab.run(&input)?;
        assert_reflected(&format!("IPv4 with ID {id}"), &input, &output.frame, 14, false);
    }
    Ok(())
}

#[bfd_lab::test]
fn does_not_reflect_echoes_it_was_not_asked_to() -> anyhow::Result<()> {
    let mut lab = Lab::new()?;
    lab.fast.add_echo_peer(LOOPBACK_IFINDEX, ip(PEER_V4), LOCAL_DISCR)?;
    lab.fast.add_echo_peer(OTHER_IFINDEX, ip("192.0.2.5"), 0)?;
    type Counter = fn(&GlobalStats) -> u64;
    let payload = frr_echo_payload(REMOTE_DISCR);
    let cases: Vec<(&str, Crafted, Counter)> = vec![
        ("a peer not in the allowlist", Crafted::echo(ip("192.0.2.3"), payload.clone()), |stats| {
            stats.echo_pass_denied
        }),
        ("allowed on another interface", Crafted::echo(ip("192.0.2.5"), payload.clone()), |stats| {
            stats.echo_pass_denied
        }),
        (
            "not addressed to its sender",
            Crafted { dst: ip(NODE_V4), ..Crafted::echo(ip(PEER_V4), payload.clone()) },
            |stats| stats.echo_pass_not_self,
        ),
        ("TTL 254", Crafted { ttl: TTL - 1, ..Crafted::echo(ip(PEER_V4), payload.clone()) }, |stats| {
            stats.echo_pass_ttl
        }),
    ];
    for (what, frame, counter) in cases {
        let input = frame.bytes();
        let (output, moved) = lab.run(&input)?;
        assert_eq!(output.action, XdpAction::Pass, "{what}");
        assert_eq!(counter(&moved), 1, "{what}: {moved:#?}");
        assert_eq!(output.frame, input, "{what}: passed untouched");
    }
    // Removing the peer stops the reflection.
    assert!(lab.fast.remove_echo_peer(LOOPBACK_IFINDEX, ip(PEER_V4))?);
    let (output, moved) = lab.run(&Crafted::echo(ip(PEER_V4), payload).bytes())?;
    assert_eq!((output.action, moved.echo_pass_denied), (XdpAction::Pass, 1));
    Ok(())
}

#[bfd_lab::test]
fn times_and_absorbs_our_own_echo() -> anyhow::Result<()> {
    let mut lab = Lab::new()?;
    lab.reconfigure(|config| {
        config.flags |= CFG_ECHO;
        config.echo_detect_ns = bfd_lab::scenario::LONG_DETECT_NS;
    })?;
    // Our echo as the peer loops it back: from and to our address, one hop
    // down from 255.
    let sent_at = monotonic_ns() - 1_000_000;
    let echo =
        Crafted { ttl: TTL - 1, ..Crafted::echo(ip(NODE_V4), own_echo_payload(LOCAL_DISCR, 7, sent_at)) };
    let before = monotonic_ns();
    let (output, moved) = lab.run(&echo.bytes())?;
    let after = monotonic_ns();
    assert_eq!((output.action, moved.echo_own), (XdpAction::Drop, 1), "{moved:#?}");
    let state = lab.state()?;
    assert_eq!(state.echo_rx, 1);
    assert!((before..=after).contains(&state.last_echo_rx_ns), "{state:#?}");
    assert_eq!(state.echo_rtt_ns, state.last_echo_rx_ns - sent_at, "RTT from the payload's tx_time_ns");
    assert!(state.echo_rtt_ns >= 1_000_000);
    // The round-trip histogram holds that one sample, in its bucket.
    let histogram = state.echo_rtt_hist;
    assert_eq!((histogram.count(), histogram.sum_ns), (1, state.echo_rtt_ns), "{histogram:?}");
    assert_eq!(histogram.buckets[histogram_bucket(state.echo_rtt_ns, ECHO_RTT_HISTOGRAM_SHIFT)], 1);

    // Not ours after all: too many hops (GTSM), or another source, or a
    // session without echo: then it is just an echo nobody allowed.
    let ttl = Crafted { ttl: TTL - 2, ..echo.clone() };
    assert_eq!(lab.run(&ttl.bytes())?.1.echo_pass_ttl, 1, "TTL 253");
    lab.reconfigure(|config| config.flags &= !CFG_ECHO)?;
    assert_eq!(lab.run(&echo.bytes())?.1.echo_pass_ttl, 1, "echo off");
    assert_eq!(lab.state()?.echo_rx, 1);
    // An unknown discriminator in our format.
    let unknown =
        Crafted { ttl: TTL - 1, ..Crafted::echo(ip(NODE_V4), own_echo_payload(0x0bad, 1, sent_at)) };
    assert_eq!(lab.run(&unknown.bytes())?.1.echo_pass_ttl, 1, "unknown session");
    Ok(())
}

/// Waits for the next detection event.
/// `steady` with an authentication section, as a frame.
fn authenticated_frame(auth: AuthRepr, change: impl FnOnce(&mut ControlRepr)) -> Vec<u8> {
    let mut repr = ControlRepr { auth: Some(auth), ..steady_repr() };
    change(&mut repr);
    Crafted::control(control_bytes(&repr)).bytes()
}

/// Issue 18: a packet with the A bit is absorbed (and stamps the session)
/// only if it is byte-identical to the template, header and authentication
/// section: a packet the agent verified. Any other goes to the agent
/// without stamping the session: a forged packet is no proof of life.
#[bfd_lab::test]
fn authenticated_packets_are_absorbed_only_byte_identical_to_the_template() -> anyhow::Result<()> {
    let mut lab = Lab::new()?;
    let password = AuthRepr::SimplePassword { key_id: 1, password: Password::new(b"secret").unwrap() };
    let sha1 = AuthRepr::KeyedSha1 { meticulous: false, key_id: 1, sequence: 9, hash: [0x5a; 20] };
    let unchanged = |_: &mut ControlRepr| {};

    // Without an authenticated template (as for a meticulous type): every
    // authenticated packet is passed, unstamped.
    for (what, frame) in [
        ("simple password", authenticated_frame(password, unchanged)),
        ("keyed SHA1", authenticated_frame(sha1, unchanged)),
    ] {
        let before = lab.state()?;
        let (output, moved) = lab.run(&frame)?;
        assert_eq!((output.action, moved.ctl_pass_auth), (XdpAction::Pass, 1), "{what}: {moved:#?}");
        let state = lab.state()?;
        assert_eq!(
            (state.last_rx_ns, state.rx_packets),
            (before.last_rx_ns, before.rx_packets),
            "{what}: stamped"
        );
        assert_eq!(state.passed, before.passed + 1, "{what}");
    }

    for (what, section) in [("simple password", password), ("keyed SHA1", sha1)] {
        let (expect, expect_auth) =
            SessionConfig::expect_packet(&ControlRepr { auth: Some(section), ..steady_repr() });
        lab.reconfigure(|config| {
            config.flags |= CFG_AUTH;
            config.expect = expect;
            config.expect_auth = expect_auth;
        })?;
        // The template: absorbed and stamped.
        let before = lab.state()?;
        let sent_at = monotonic_ns();
        let (output, moved) = lab.run(&authenticated_frame(section, unchanged))?;
        assert_eq!((output.action, moved.ctl_absorbed), (XdpAction::Drop, 1), "{what}: {moved:#?}");
        let state = lab.state()?;
        assert!(state.last_rx_ns >= sent_at, "{what}: not stamped");
        assert_eq!(
            (state.rx_packets, state.absorbed),
            (before.rx_packets + 1, before.absorbed + 1),
            "{what}"
        );

        // Anything else with the A bit: passed, not stamped.
        let mut other_password = password;
        if let AuthRepr::SimplePassword { password, .. } = &mut other_password {
            *password = Password::new(b"secreu").unwrap();
        }
        let next_sequence =
            AuthRepr::KeyedSha1 { meticulous: false, key_id: 1, sequence: 10, hash: [0x5a; 20] };
        let mut last_hash_byte = [0x5a; 20];
        last_hash_byte[19] = 0x5b; // the packet's bytes 48..52: the last word compared
        let other_hash =
            AuthRepr::KeyedSha1 { meticulous: false, key_id: 1, sequence: 9, hash: last_hash_byte };
        let cases = [
            ("another password", authenticated_frame(other_password, unchanged)),
            (
                "another key id",
                authenticated_frame(
                    if what == "keyed SHA1" {
                        AuthRepr::KeyedSha1 { meticulous: false, key_id: 2, sequence: 9, hash: [0x5a; 20] }
                    } else {
                        AuthRepr::SimplePassword { key_id: 2, password: Password::new(b"secret").unwrap() }
                    },
                    unchanged,
                ),
            ),
            ("the next sequence number", authenticated_frame(next_sequence, unchanged)),
            ("another digest", authenticated_frame(other_hash, unchanged)),
            ("the template's section with Poll", authenticated_frame(section, |repr| repr.poll = true)),
            (
                "the template's section in state Down",
                authenticated_frame(section, |repr| repr.state = State::Down),
            ),
            ("no authentication section (A clear)", steady_frame().bytes()),
            (
                "meticulous",
                authenticated_frame(
                    AuthRepr::KeyedSha1 { meticulous: true, key_id: 1, sequence: 9, hash: [0x5a; 20] },
                    unchanged,
                ),
            ),
        ];
        for (case, frame) in cases {
            let before = lab.state()?;
            let (output, moved) = lab.run(&frame)?;
            assert_eq!(
                (output.action, moved.ctl_pass_auth),
                (XdpAction::Pass, 1),
                "{what}, {case}: {moved:#?}"
            );
            let state = lab.state()?;
            assert_eq!(
                (state.last_rx_ns, state.rx_packets, state.absorbed, state.passed),
                (before.last_rx_ns, before.rx_packets, before.absorbed, before.passed + 1),
                "{what}, {case}: must not stamp"
            );
        }
    }
    Ok(())
}

/// Issue 18: an authenticated packet that is not the template never pushes
/// the detection timer back (the detection comes one detection time after
/// the last absorbed packet however many arrive), but starts an idle timer;
/// the timer also counts from the agent's verified receive time
/// (`verified_rx_ns`).
#[bfd_lab::test]
fn unverified_packets_never_postpone_a_detection_and_verified_ones_do() -> anyhow::Result<()> {
    let mut lab = Lab::new()?;
    let detect_ns = 30_000_000;
    let password = AuthRepr::SimplePassword { key_id: 1, password: Password::new(b"secret").unwrap() };
    let forged = authenticated_frame(
        AuthRepr::SimplePassword { key_id: 1, password: Password::new(b"guess").unwrap() },
        |_| {},
    );
    let (expect, expect_auth) =
        SessionConfig::expect_packet(&ControlRepr { auth: Some(password), ..steady_repr() });
    lab.reconfigure(|config| {
        config.flags |= CFG_AUTH;
        config.detect_ns = detect_ns;
        config.expect = expect;
        config.expect_auth = expect_auth;
    })?;
    let mut events = Events::open(lab.pins.path())?;

    // A verified (absorbed) packet, then forged ones every 5 ms for 60 ms.
    lab.run(&authenticated_frame(password, |_| {}))?;
    let absorbed_at = lab.state()?.last_rx_ns;
    for _ in 0..12 {
        std::thread::sleep(Duration::from_millis(5));
        lab.run(&forged)?;
    }
    let event = next_event(&mut events)?;
    assert_eq!((event.kind, event.last_rx_ns), (EVENT_CONTROL_TIMEOUT, absorbed_at), "{event:#?}");
    let late = (event.fired_at_ns - absorbed_at).checked_sub(detect_ns).context("fired early")?;
    assert!(late < 1_000_000, "the forged packets postponed the detection by {late} ns");
    // Forged packets after the expiry start the idle timer again, and each
    // expiry is a detection again (the agent, Down by then, ignores them):
    // still counted from the absorbed packet.
    while let Some(event) = events.wait(Some(Duration::from_millis(100)))? {
        assert_eq!(event.last_rx_ns, absorbed_at, "{event:#?}");
    }
    assert_eq!(lab.state()?.detected & DETECTED_CONTROL, DETECTED_CONTROL, "a forged packet clears nothing");

    // A peer whose packets are never the template (its sequence number
    // moves on every packet): the agent verifies one and writes its time;
    // the next unverified packet starts the idle timer, which counts from
    // the verified time.
    let verified_at = monotonic_ns();
    lab.reconfigure(|config| config.verified_rx_ns = verified_at)?;
    lab.run(&forged)?;
    let event = next_event(&mut events)?;
    assert_eq!(event.last_rx_ns, verified_at, "{event:#?}");
    let waited = event.fired_at_ns - verified_at;
    assert!(waited >= detect_ns && waited < detect_ns + 1_000_000, "waited {waited} ns");

    // A verified time written while the timer runs moves the detection on.
    lab.run(&authenticated_frame(password, |_| {}))?;
    std::thread::sleep(Duration::from_millis(15));
    let verified_at = monotonic_ns();
    lab.reconfigure(|config| config.verified_rx_ns = verified_at)?;
    let event = next_event(&mut events)?;
    assert_eq!(event.last_rx_ns, verified_at, "{event:#?}");
    let waited = event.fired_at_ns - verified_at;
    assert!(waited >= detect_ns && waited < detect_ns + 1_000_000, "waited {waited} ns");
    assert_eq!(events.next()?, None, "one event per expiry");
    Ok(())
}

/// Issue 18, the core and the kernel together: an authenticated session's
/// view (`map_config`) makes the kernel absorb exactly the packet the core
/// verified, pass the next one (a new sequence number) unstamped, and, once
/// the core verified that one, count from its time and absorb it; a
/// meticulous session gives the kernel nothing to absorb or time.
#[bfd_lab::test]
fn the_session_cores_view_drives_the_kernel_for_authenticated_sessions() -> anyhow::Result<()> {
    use bfd_common::wire::AuthType;
    use bfd_session::auth::{DigestKind, sign};
    use bfd_session::{
        AuthConfig, Detection, Key, Lifetime, ReceivedControl, Secret, Session, SessionConfig as CoreConfig,
        SessionKey, Sha1Construction, Time, WallTime,
    };
    use bfd_user::session_map::map_config;

    let key = SessionKey {
        peer: ip(PEER_V4),
        local: Some(ip(NODE_V4)),
        ifindex: Some(LOOPBACK_IFINDEX),
        multihop: false,
    };
    let config = CoreConfig {
        desired_min_tx: Duration::from_millis(300),
        required_min_rx: Duration::from_millis(300),
        detection: Detection::Kernel,
        ..CoreConfig::default()
    };
    for auth_type in [AuthType::SimplePassword, AuthType::KeyedMd5, AuthType::MeticulousKeyedSha1] {
        let mut lab = Lab::new()?;
        let chain = AuthConfig {
            auth_type,
            keys: vec![Key {
                id: 1,
                secret: Secret::new(b"s3cret".to_vec()),
                send: Lifetime::ALWAYS,
                accept: Lifetime::ALWAYS,
            }],
            sha1: Sha1Construction::Rfc5880,
        };
        let mut session = Session::with_auth(
            LOCAL_DISCR,
            config,
            Some((chain.clone(), WallTime::from_unix_secs(1_800_000_000))),
            1,
            Time::ZERO,
        )?;
        // The peer's packet with sequence number `sequence`, as sent.
        let packet = |state: State, sequence: u32| -> Vec<u8> {
            let repr = ControlRepr { state, ..steady_repr() };
            let repr = match auth_type {
                AuthType::SimplePassword => ControlRepr {
                    auth: Some(AuthRepr::SimplePassword {
                        key_id: 1,
                        password: Password::new(b"s3cret").unwrap(),
                    }),
                    ..repr
                },
                AuthType::KeyedMd5 => sign(
                    DigestKind::of(&chain).unwrap(),
                    ControlRepr {
                        auth: Some(AuthRepr::KeyedMd5 {
                            meticulous: false,
                            key_id: 1,
                            sequence,
                            digest: [0; 16],
                        }),
                        ..repr
                    },
                    b"s3cret",
                )
                .unwrap(),
                _ => sign(
                    DigestKind::of(&chain).unwrap(),
                    ControlRepr {
                        auth: Some(AuthRepr::KeyedSha1 {
                            meticulous: true,
                            key_id: 1,
                            sequence,
                            hash: [0; 20],
                        }),
                        ..repr
                    },
                    b"s3cret",
                )
                .unwrap(),
            };
            control_bytes(&repr)
        };
        let mut generation = 1;
        let mut sync = |lab: &mut Lab, session: &Session| -> anyhow::Result<SessionConfig> {
            generation += 1;
            let entry = map_config(&session.fast_path(), &key, 0, generation);
            lab.fast.set_session(LOCAL_DISCR, &entry)?;
            Ok(entry)
        };
        // The peer's Init, verified by the core: Up.
        let init = packet(State::Init, 7);
        let (output, _) = lab.run(&Crafted::control(init.clone()).bytes())?;
        assert_eq!(output.action, XdpAction::Pass, "{auth_type}");
        session.on_packet(Time::from_nanos(monotonic_ns()), &ReceivedControl::parse(&init)?)?;
        assert_eq!(session.state(), State::Up, "{auth_type}");
        let entry = sync(&mut lab, &session)?;
        if auth_type == AuthType::MeticulousKeyedSha1 {
            assert_eq!(
                (entry.flags & CFG_ABSORB, entry.detect_ns, entry.verified_rx_ns),
                (0, 0, 0),
                "{auth_type}"
            );
            // Not even a packet without the A bit stamps it.
            let (output, moved) = lab.run(&steady_frame().bytes())?;
            assert_eq!((output.action, moved.ctl_pass_auth), (XdpAction::Pass, 1), "{auth_type}");
            assert_eq!(lab.state()?.rx_packets, 0, "{auth_type}");
            let (output, moved) = lab.run(&Crafted::control(packet(State::Up, 8)).bytes())?;
            assert_eq!((output.action, moved.ctl_pass_auth), (XdpAction::Pass, 1), "{auth_type}");
            continue;
        }
        assert_eq!((entry.flags & CFG_ABSORB, entry.detect_ns), (CFG_ABSORB, 900_000_000), "{auth_type}");
        assert_ne!(entry.verified_rx_ns, 0, "{auth_type}");
        // The same bytes again: absorbed.
        let (output, moved) = lab.run(&Crafted::control(init.clone()).bytes())?;
        assert_eq!((output.action, moved.ctl_absorbed), (XdpAction::Drop, 1), "{auth_type}: {moved:#?}");
        // The next sequence number (simple password: the peer's Up): passed
        // unstamped; verified by the core, it becomes the template.
        let next = packet(State::Up, 8);
        let stamp = lab.state()?.last_rx_ns;
        let (output, moved) = lab.run(&Crafted::control(next.clone()).bytes())?;
        assert_eq!((output.action, moved.ctl_pass_auth), (XdpAction::Pass, 1), "{auth_type}: {moved:#?}");
        assert_eq!(lab.state()?.last_rx_ns, stamp, "{auth_type}: stamped before verification");
        let verified_at = Time::from_nanos(monotonic_ns());
        session.on_packet(verified_at, &ReceivedControl::parse(&next)?)?;
        let entry = sync(&mut lab, &session)?;
        assert_eq!(entry.verified_rx_ns, verified_at.as_nanos(), "{auth_type}");
        let (output, moved) = lab.run(&Crafted::control(next).bytes())?;
        assert_eq!((output.action, moved.ctl_absorbed), (XdpAction::Drop, 1), "{auth_type}: {moved:#?}");
    }
    Ok(())
}

fn next_event(events: &mut Events) -> anyhow::Result<DetectEvent> {
    events.wait(Some(Duration::from_secs(2)))?.context("no detection event within 2 s")
}

#[bfd_lab::test]
fn the_control_timer_fires_one_detection_time_after_the_last_packet() -> anyhow::Result<()> {
    let mut lab = Lab::new()?;
    let detect_ns = 30_000_000;
    lab.reconfigure(|config| config.detect_ns = detect_ns)?;
    let mut events = Events::open(lab.pins.path())?;
    // Two packets 10 ms apart: the first starts the timer; the second finds
    // it due 20 ms on, more than half the detection time, and leaves it
    // (restarting is half the absorb path's cost): the callback waits out
    // the rest, so the detection still comes one detection time after the
    // second packet.
    lab.run(&steady_frame().bytes())?;
    let first = lab.state()?;
    assert_eq!(first.ctl_due_ns, first.last_rx_ns + detect_ns, "the first packet starts the timer");
    std::thread::sleep(Duration::from_millis(10));
    lab.run(&steady_frame().bytes())?;
    let second = lab.state()?;
    // (Judged by the kernel's own stamps: a sleep may overrun.)
    let kept = first.ctl_due_ns - second.last_rx_ns >= detect_ns / 2;
    let expected = if kept { first.ctl_due_ns } else { second.last_rx_ns + detect_ns };
    assert_eq!(second.ctl_due_ns, expected, "kept while at least half the detection time is left ({kept})");
    let last_rx_ns = second.last_rx_ns;
    let event = next_event(&mut events)?;
    assert_eq!(
        (event.discriminator, event.kind, event.generation, event.last_rx_ns),
        (LOCAL_DISCR, EVENT_CONTROL_TIMEOUT, 2, last_rx_ns),
        "{event:#?}"
    );
    let late = (event.fired_at_ns - event.last_rx_ns).checked_sub(detect_ns).context("fired early")?;
    assert!(late < 1_000_000, "fired {late} ns after the detection time");
    let state = lab.state()?;
    assert_eq!((state.detected & DETECTED_CONTROL, state.ctl_expired), (DETECTED_CONTROL, 1));
    // The overshoot histogram holds exactly that lateness.
    let overshoot = state.detect_overshoot_hist;
    assert_eq!((overshoot.count(), overshoot.sum_ns), (1, late), "{overshoot:?}");
    assert_eq!(overshoot.buckets[histogram_bucket(late, OVERSHOOT_HISTOGRAM_SHIFT)], 1);
    assert_eq!(lab.fast.stats()?.ctl_expired, 1);
    assert_eq!(events.next()?, None, "one event per expiry");

    // The next packet clears the flag and re-arms the timer.
    lab.run(&steady_frame().bytes())?;
    assert_eq!(lab.state()?.detected & DETECTED_CONTROL, 0);
    // One that finds less than half the detection time left restarts it.
    std::thread::sleep(Duration::from_millis(20));
    lab.run(&steady_frame().bytes())?;
    let restarted = lab.state()?;
    assert_eq!(restarted.ctl_due_ns, restarted.last_rx_ns + detect_ns, "10 ms or less of 30 left: restarted");
    // A longer detection time written while the timer runs is honoured
    // without another packet: the timer waits for the rest.
    let longer_ns = 80_000_000;
    lab.reconfigure(|config| config.detect_ns = longer_ns)?;
    let event = next_event(&mut events)?;
    assert_eq!(event.generation, 3);
    let waited = event.fired_at_ns - event.last_rx_ns;
    assert!(waited >= longer_ns && waited < longer_ns + 1_000_000, "waited {waited} ns");

    // Disarmed (detection time 0, as for a Down session): no event.
    lab.run(&steady_frame().bytes())?;
    lab.reconfigure(|config| config.detect_ns = 0)?;
    assert_eq!(events.wait(Some(Duration::from_millis(150)))?, None, "a disarmed timer must stay quiet");
    // And a removed session neither (its timer goes with its state).
    lab.reconfigure(|config| config.detect_ns = detect_ns)?;
    lab.run(&steady_frame().bytes())?;
    assert!(lab.fast.remove_session(LOCAL_DISCR)?);
    assert_eq!(lab.fast.session_state(LOCAL_DISCR)?, None);
    assert_eq!(events.wait(Some(Duration::from_millis(100)))?, None, "a removed session must stay quiet");
    Ok(())
}

#[bfd_lab::test]
fn the_echo_timer_fires_one_detection_time_after_our_last_echo() -> anyhow::Result<()> {
    let mut lab = Lab::new()?;
    let echo_detect_ns = 25_000_000;
    lab.reconfigure(|config| {
        config.flags |= CFG_ECHO;
        config.echo_detect_ns = echo_detect_ns;
    })?;
    let mut events = Events::open(lab.pins.path())?;
    let echo = Crafted {
        ttl: TTL - 1,
        ..Crafted::echo(ip(NODE_V4), own_echo_payload(LOCAL_DISCR, 1, monotonic_ns()))
    };
    lab.run(&echo.bytes())?;
    let event = next_event(&mut events)?;
    let state = lab.state()?;
    assert_eq!((event.kind, event.last_rx_ns), (EVENT_ECHO_TIMEOUT, state.last_echo_rx_ns), "{event:#?}");
    let late = (event.fired_at_ns - event.last_rx_ns).checked_sub(echo_detect_ns).context("fired early")?;
    assert!(late < 1_000_000, "fired {late} ns after the echo detection time");
    assert_eq!((state.detected, state.echo_expired, state.ctl_expired), (DETECTED_ECHO, 1, 0));
    lab.run(&echo.bytes())?;
    assert_eq!(lab.state()?.detected, 0, "our next echo clears the flag");
    Ok(())
}

#[bfd_lab::test]
fn session_maps_dump_with_btf_field_names() -> anyhow::Result<()> {
    let mut lab = Lab::new()?;
    lab.fast.add_echo_peer(LOOPBACK_IFINDEX, ip(PEER_V4), LOCAL_DISCR)?;
    lab.run(&steady_frame().bytes())?;
    let dump = |map: &str| -> anyhow::Result<Value> {
        let text = run_stdout(
            Command::new("bpftool").args(["--json", "map", "dump", "pinned"]).arg(lab.pins.join(map)),
        )?;
        serde_json::from_str(&text).with_context(|| format!("bpftool output: {text}"))
    };
    let config = dump(SESSION_CONFIG_MAP)?;
    let value = &config[0]["formatted"]["value"];
    assert_eq!(config[0]["formatted"]["key"], LOCAL_DISCR, "{config:#}");
    assert_eq!(value["detect_ns"], bfd_lab::scenario::LONG_DETECT_NS, "{config:#}");
    assert_eq!(value["expect"].as_array().map(Vec::len), Some(24), "{config:#}");
    let state = dump(SESSION_STATE_MAP)?;
    assert_eq!(state[0]["formatted"]["value"]["absorbed"], 1, "{state:#}");
    let peers = dump(bfd_common::maps::ECHO_PEERS_MAP)?;
    assert_eq!(peers[0]["formatted"]["key"]["ifindex"], LOOPBACK_IFINDEX, "{peers:#}");
    assert_eq!(peers[0]["formatted"]["value"], LOCAL_DISCR, "{peers:#}");
    Ok(())
}

/// The session core and the kernel agree: a session brought Up by
/// `bfd-session` (kernel detection), written to the map through
/// `bfd_user::session_map`, makes the XDP program absorb exactly the
/// packets that would change nothing, and pass the rest.
#[bfd_lab::test]
fn the_session_cores_view_drives_the_kernel() -> anyhow::Result<()> {
    use bfd_session::{Detection, Session, SessionConfig as CoreConfig, SessionKey, Time};
    use bfd_user::session_map::map_config;

    let mut lab = Lab::new()?;
    let config = CoreConfig {
        desired_min_tx: Duration::from_millis(300),
        required_min_rx: Duration::from_millis(300),
        detection: Detection::Kernel,
        ..CoreConfig::default()
    };
    let mut session = Session::new(LOCAL_DISCR, config, 1, Time::ZERO)?;
    let key = SessionKey {
        peer: ip(PEER_V4),
        local: Some(ip(NODE_V4)),
        ifindex: Some(LOOPBACK_IFINDEX),
        multihop: false,
    };
    let mut generation = 1;
    let mut sync = |lab: &mut Lab, session: &Session| -> anyhow::Result<()> {
        generation += 1;
        lab.fast.set_session(LOCAL_DISCR, &map_config(&session.fast_path(), &key, 0, generation))?;
        Ok(())
    };
    sync(&mut lab, &session)?;
    // Down: the peer's Init comes up to the agent (nothing to absorb yet).
    let init = ControlRepr { state: State::Init, ..steady_repr() };
    let (output, moved) = lab.run(&Crafted::control(control_bytes(&init)).bytes())?;
    assert_eq!((output.action, moved.ctl_pass_changed), (XdpAction::Pass, 1));
    session.on_control(Time::from_nanos(1), &init)?;
    assert_eq!(session.state(), State::Up);
    sync(&mut lab, &session)?;
    // Up: the peer's Init again changes nothing now: absorbed.
    let (output, moved) = lab.run(&Crafted::control(control_bytes(&init)).bytes())?;
    assert_eq!((output.action, moved.ctl_absorbed), (XdpAction::Drop, 1), "{moved:#?}");
    // A Poll, a Down and new timers all come up.
    for changed in [
        ControlRepr { poll: true, ..init },
        ControlRepr { state: State::Down, ..init },
        ControlRepr { desired_min_tx: 50_000, ..init },
    ] {
        let (output, moved) = lab.run(&Crafted::control(control_bytes(&changed)).bytes())?;
        assert_eq!((output.action, moved.ctl_pass_changed), (XdpAction::Pass, 1), "{changed}");
    }
    // The kernel times what the core says: 3 x 300 ms.
    let entry = lab.fast.session_config(LOCAL_DISCR)?.context("configured")?;
    assert_eq!(entry.detect_ns, 900_000_000);
    Ok(())
}

/// RFC 5881 §5 (GTSM) for every single-hop packet, whatever its
/// discriminator: a bring-up packet (Your Discriminator 0) at TTL 254 never
/// reaches the agent. On the multihop port the minimum is per session, so
/// the agent checks it. And a source sending bring-up packets faster than
/// `SLOW_PATH_RATE` with bursts of `SLOW_PATH_BURST` is cut off in the
/// kernel (GCRA per source), while another source still gets through.
#[bfd_lab::test]
fn bring_up_packets_off_the_link_or_over_their_sources_rate_are_dropped() -> anyhow::Result<()> {
    use bfd_common::maps::{SLOW_PATH_BURST, SLOW_PATH_RATE};
    let lab = Lab::new()?;
    let bring_up = ControlRepr { your_discriminator: 0, state: State::Down, ..steady_repr() };
    let frame = |src: &str, ttl: u8, dst_port: u16| Crafted {
        src: ip(src),
        ttl,
        dst_port,
        ..Crafted::control(control_bytes(&bring_up))
    };
    let (output, moved) = lab.run(&frame("192.0.2.50", TTL - 1, 3784).bytes())?;
    assert_eq!((output.action, moved.ctl_drop_ttl), (XdpAction::Drop, 1), "{moved:#?}");
    let (output, moved) = lab.run(&frame("192.0.2.51", TTL - 1, MULTIHOP_CONTROL_PORT).bytes())?;
    assert_eq!((output.action, moved.ctl_pass_discr0), (XdpAction::Pass, 1), "{moved:#?}");

    // A flood from one source: the burst passes, then one per 1/RATE s.
    let flood = frame("192.0.2.60", TTL, 3784).bytes();
    let sent = SLOW_PATH_BURST + 500;
    let (mut passed, mut dropped) = (0u64, 0u64);
    let started = std::time::Instant::now();
    for _ in 0..sent {
        let (output, moved) = lab.run(&flood)?;
        match output.action {
            XdpAction::Pass => passed += moved.ctl_pass_discr0,
            _ => dropped += moved.ctl_drop_rate,
        }
    }
    let elapsed = started.elapsed();
    // At most the burst, the first packet, and what the rate allowed
    // while the flood lasted (rounded up).
    let allowed = SLOW_PATH_BURST + 1 + (elapsed.as_nanos() as u64 * SLOW_PATH_RATE).div_ceil(1_000_000_000);
    eprintln!(
        "flood of {sent} in {elapsed:?}: {passed} passed, {dropped} dropped (at most {allowed} allowed)"
    );
    assert_eq!(passed + dropped, sent, "every packet passed or counted as dropped");
    assert!(passed >= SLOW_PATH_BURST && passed <= allowed, "{passed} passed, {allowed} allowed");
    // Another source is not held back by the first one's flood.
    let (output, _) = lab.run(&frame("192.0.2.61", TTL, 3784).bytes())?;
    assert_eq!(output.action, XdpAction::Pass);
    Ok(())
}

/// Issue 17, the kernel keepalive: once the agent's lease has expired (and
/// for at most its `max_absence_ns`), an absorbed packet of a session with
/// a keepalive entry is answered with XDP_TX by the session's packet, the
/// frame turned around exactly as a freshly built one from us would be
/// (MACs and addresses swapped, our port to 3784, a valid UDP checksum),
/// IPv4 and IPv6; not more often than the entry's interval; not while the
/// lease holds; not after the bound.
#[bfd_lab::test]
fn answers_for_an_absent_agent_once_its_lease_expired() -> anyhow::Result<()> {
    use bfd_common::maps::Keepalive;
    let mut lab = Lab::new()?;
    let mut lease = bfd_user::fastpath::LeaseMap::open(lab.pins.path(), Duration::from_secs(30))?;
    let ours =
        ControlRepr { my_discriminator: LOCAL_DISCR, your_discriminator: REMOTE_DISCR, ..steady_repr() };
    let packet: [u8; 24] = control_bytes(&ours).try_into().expect("24 bytes");
    let interval = Duration::from_millis(200);
    lab.fast.set_keepalive(
        LOCAL_DISCR,
        &Keepalive {
            min_interval_ns: interval.as_nanos() as u64,
            source_port: 49200,
            reserved: [0; 6],
            packet,
        },
    )?;
    let answer = |input: &Crafted| Crafted {
        dst_mac: input.src_mac,
        src_mac: input.dst_mac,
        src: input.dst,
        dst: input.src,
        src_port: 49200,
        dst_port: bfd_common::CONTROL_PORT,
        payload: packet.to_vec(),
        ..input.clone()
    };

    // The agent runs: absorbed, no answer.
    lease.renew(monotonic_ns() + 10_000_000_000);
    let (output, moved) = lab.run(&steady_frame().bytes())?;
    assert_eq!((output.action, moved.ctl_absorbed), (XdpAction::Drop, 1));

    // Away, but the agent's last deadline (the lease less its 50 ms slack)
    // is less than the interval ago: it may have sent then, so RFC 5880
    // §6.8.7 forbids an answer yet.
    lease.renew(monotonic_ns() - 1_000_000);
    let (output, _) = lab.run(&steady_frame().bytes())?;
    assert_eq!(output.action, XdpAction::Drop, "too soon after the agent's last deadline");

    // Away long enough: answered, byte for byte what we would send.
    lease.renew(monotonic_ns() - 200_000_000);
    let (output, moved) = lab.run(&steady_frame().bytes())?;
    assert_eq!((output.action, moved.ctl_absorbed), (XdpAction::Tx, 1));
    assert_eq!(output.frame, answer(&steady_frame()).bytes(), "IPv4 answer");
    // Within the interval: absorbed, not answered.
    let (output, _) = lab.run(&steady_frame().bytes())?;
    assert_eq!(output.action, XdpAction::Drop, "rate-limited");

    // IPv6, an interval later.
    std::thread::sleep(interval);
    lab.reconfigure(|config| {
        config.peer = bfd_common::maps::address(ip(PEER_V6));
        config.local = bfd_common::maps::address(ip(NODE_V6));
    })?;
    let ipv6 = Crafted { src: ip(PEER_V6), dst: ip(NODE_V6), ..steady_frame() };
    let (output, _) = lab.run(&ipv6.bytes())?;
    assert_eq!(output.action, XdpAction::Tx);
    assert_eq!(output.frame, answer(&ipv6).bytes(), "IPv6 answer");

    // A Poll (passed up, not absorbed: it differs from the template) from
    // a peer still Up: nobody would read it, so it is answered too, with
    // the steady-state packet (no Final: only the agent answers a Poll).
    std::thread::sleep(interval);
    let poll =
        Crafted { payload: control_bytes(&ControlRepr { poll: true, ..steady_repr() }), ..ipv6.clone() };
    let (output, moved) = lab.run(&poll.bytes())?;
    assert_eq!((output.action, moved.ctl_pass_changed), (XdpAction::Tx, 1), "a Poll");
    assert_eq!(output.frame, answer(&poll).bytes(), "the answer to a Poll");
    // A peer no longer Up is not answered: its packet goes up.
    std::thread::sleep(interval);
    let down = Crafted {
        payload: control_bytes(&ControlRepr { state: State::Down, ..steady_repr() }),
        ..ipv6.clone()
    };
    assert_eq!(lab.run(&down.bytes())?.0.action, XdpAction::Pass, "a Down packet");

    // Multihop (RFC 5883): arrived through a router at TTL 254 on port
    // 4784; answered to 4784 at TTL 255 (the router takes it to 254), the
    // IPv4 header checksum updated, back to the router's MAC.
    lab.reconfigure(|config| {
        config.peer = bfd_common::maps::address(ip(PEER_V4));
        config.local = bfd_common::maps::address(ip(NODE_V4));
        config.flags |= CFG_MULTIHOP;
        config.min_ttl = 254;
    })?;
    let multihop = Crafted { ttl: 254, dst_port: MULTIHOP_CONTROL_PORT, ..steady_frame() };
    let (output, _) = lab.run(&multihop.bytes())?;
    assert_eq!(output.action, XdpAction::Tx, "multihop");
    assert_eq!(
        output.frame,
        Crafted { ttl: 255, dst_port: MULTIHOP_CONTROL_PORT, ..answer(&multihop) }.bytes(),
        "the multihop answer"
    );

    // Past the bound: absorbed, no answer.
    std::thread::sleep(interval);
    lease.renew(monotonic_ns() - 31_000_000_000);
    let (output, _) = lab.run(&multihop.bytes())?;
    assert_ne!(output.action, XdpAction::Tx, "past the bound");
    // No keepalive entry (the session is not Up): no answer.
    lease.renew(monotonic_ns() - 1_000_000_000);
    lab.fast.remove_keepalive(LOCAL_DISCR);
    let (output, _) = lab.run(&multihop.bytes())?;
    assert_ne!(output.action, XdpAction::Tx, "no keepalive entry");
    Ok(())
}

#[bfd_lab::test]
fn every_session_state_reads_in_batches_as_one_by_one() -> anyhow::Result<()> {
    let lab = Lab::new()?;
    let mut fast = FastPath::open(lab.pins.path())?;
    // The standard session counts a packet; 2,500 more sessions (more
    // than two batches) are configured.
    lab.run(&steady_frame().bytes())?;
    let others: Vec<u32> = (1..=2500).map(|index| 0x0100_0000 + index).collect();
    for discriminator in &others {
        fast.set_session(*discriminator, &session_config(ip(PEER_V4), ip(NODE_V4)))?;
    }
    let states = lab.fast.session_states()?;
    assert_eq!(states.len(), 1 + others.len());
    for (discriminator, state) in &states {
        assert_eq!(Some(*state), lab.fast.session_state(*discriminator)?, "session {discriminator}");
    }
    assert_eq!(states[&LOCAL_DISCR].rx_packets, 1);
    // A removed session is gone from the next read.
    fast.remove_session(others[0])?;
    let states = lab.fast.session_states()?;
    assert!(!states.contains_key(&others[0]) && states.len() == others.len());
    Ok(())
}
