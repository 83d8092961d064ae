//! `bfd-agent run` end to end (root): the agent in a network namespace
//! against the BFD implementations users already run (FRR's bfdd, BIRD 2,
//! another agent), each started by the test in a namespace of its own, over
//! a veth (issue 5's tests).
//!
//! For each pairing: Up within 3 s of both sides starting; cutting one
//! direction with an nftables drop in the sender's output hook (before any
//! XDP program could see the packets) makes the other side report Down with
//! diagnostic 1 (control detection time expired), the agent no later than
//! the detection time + 2 ms after the last packet (its `kernel detection
//! event` log line measures exactly that); Up again after the cut is
//! lifted. Also: 60 s without any state change at 50 ms x 3, passive on
//! either side, multihop through a router, `--no-xdp`, echo both ways with
//! FRR (FRR's reflected by our XDP program with ip_forward off, ours routed
//! back by FRR's side), a reload that changes one session and leaves the
//! other alone, and `bfd-agent check`. And a regression test for a bug these
//! tests found (`kernel_detection_uses_the_detection_time_a_poll_just_shortened`).
//!
//! Sessions timed by the XDP program are checked against the agent's
//! `kernel detection event` line; sessions timed in userspace (`--no-xdp`,
//! multihop) against a packet capture of the peer's packets on the agent's
//! link.
//!
//! Tools: FRR (bfdd, zebra, vtysh), BIRD 2 (bird, birdc), nft, tcpdump and
//! tshark.
//!
//! Every test makes its own namespaces, pins, sockets and daemons, and
//! removes them when it ends, also when it fails; a failing test prints
//! the logs of the daemons it ran.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail, ensure};
use bfd_lab::{
    agent::{Agent, AgentArgs},
    bird::{Bird, BirdRelease},
    e2e::{
        AGENT_V4, AGENT_V6, BfdPacket, Capture, Cut, Frr, FrrRelease, Link, LogLine, PEER_V4, PEER_V6,
        Routed, TempDir, bfd_profile, bgp_peer, count, documents, fast_config, frr_config, frr_peer,
        realtime_minus_monotonic_us, set_sysctl, sysctl,
    },
    lab::{NetNs, require_root, run, wait_for},
    release_tests,
};
use serde_json::Value;

/// Issue 5: both sides Up within 3 s of both having started.
const UP_WITHIN: Duration = Duration::from_secs(3);
/// Issue 5: the detection time + 2 ms after the last packet received.
const DETECTION_SLACK_US: u64 = 2_000;
/// 50 ms x 3.
const DETECTION_TIME_US: u64 = 150_000;
/// After a cut is lifted, a peer that is Down sends once a second (RFC
/// 5880 §6.8.3): a few seconds to come back Up.
const BACK_UP_WITHIN: Duration = Duration::from_secs(6);
/// Generous bound for things that take one or two detection times.
const SOON: Duration = Duration::from_secs(3);

const CONTROL_DETECTION_EXPIRED: &str = "control detection time expired";
const NEIGHBOR_DOWN: &str = "neighbor signaled session down";

/// The agent's `session state change` lines since `since` lines ago (an
/// index into [`Agent::state_changes`]).
fn changes_since(agent: &Agent, since: usize) -> Vec<LogLine> {
    agent.state_changes().into_iter().skip(since).collect()
}

/// Waits for the agent's `kernel detection event` line with index >=
/// `since` and checks it: a control timeout the agent acted on, the silence
/// at least the Detection Time and at most 2 ms more.
fn check_kernel_detection(agent: &Agent, since: usize, detection_time_us: u64) -> anyhow::Result<LogLine> {
    let event = wait_for("the kernel detection event in the agent's log", SOON, || {
        Ok(agent.kernel_events().into_iter().nth(since))
    })?;
    ensure!(event.field("kind") == Some("control"), "not a control timeout: {event}");
    ensure!(event.field("acted") == Some("true"), "the agent did not act on it: {event}");
    let silence = event.number("silence_us").with_context(|| format!("no silence_us: {event}"))?;
    let detection =
        event.number("detection_time_us").with_context(|| format!("no detection_time_us: {event}"))?;
    let overshoot = event.number("overshoot_us").with_context(|| format!("no overshoot_us: {event}"))?;
    ensure!(
        detection == detection_time_us,
        "detection time {detection} µs, expected {detection_time_us}: {event}"
    );
    ensure!(silence >= detection, "fired before the detection time: {event}");
    ensure!(
        overshoot <= DETECTION_SLACK_US,
        "detected {overshoot} µs after the detection time (at most {DETECTION_SLACK_US}): {event}"
    );
    eprintln!(
        "{}: kernel detection: silence {silence} µs, detection time {detection} µs, overshoot {overshoot} µs",
        agent.name()
    );
    Ok(event)
}

/// The agent's session with `peer` is Down with `diagnostic`, and a log
/// line says it went Up -> Down with that diagnostic.
fn check_down(agent: &Agent, peer: &str, diagnostic: &str, since: usize) -> anyhow::Result<()> {
    let session = wait_for(&format!("agent {}: {peer} down, {diagnostic}", agent.name()), SOON, || {
        Ok(agent.peer(peer)?.filter(|s| s["status"] == "down" && s["diagnostic"] == diagnostic))
    })?;
    let changes = changes_since(agent, since);
    ensure!(
        changes.iter().any(|line| line.field("from") == Some("Up")
            && line.field("to") == Some("Down")
            && line.field("diagnostic") == Some(diagnostic)),
        "no Up -> Down ({diagnostic}) state change in the log: {changes:#?}\n{session:#}"
    );
    Ok(())
}

/// Waits until the agent's session with `peer` is Up and runs at the peer's
/// 50 ms: right after Up the peer's last packets may still say 1 s (RFC
/// 5880 §6.8.3: slow while not Up, faster after its Poll), and a cut then
/// is detected after 3 s, rightly.
///
/// With the fast path, also until the kernel has absorbed three more
/// packets, so that the cut falls in the steady state the test measures
/// (the window right after a Poll has its own regression test,
/// `kernel_detection_uses_the_detection_time_a_poll_just_shortened`).
fn agent_sees_fast(agent: &Agent, peer: &str) -> anyhow::Result<()> {
    let session = wait_for(&format!("agent {}: {peer} up at 50 ms", agent.name()), SOON, || {
        Ok(agent.peer(peer)?.filter(|s| s["status"] == "up" && s["remote-transmit-interval"] == 50))
    })?;
    if session["fast-path"] == true {
        let absorbed = count(&session, "control-absorbed-in-kernel");
        wait_for(&format!("agent {}: {peer}'s packets absorbed at 50 ms", agent.name()), SOON, || {
            Ok(agent.peer(peer)?.filter(|s| count(s, "control-absorbed-in-kernel") >= absorbed + 3).map(drop))
        })?;
    }
    Ok(())
}

/// `--rt-deadline 300us/1ms`: the engine thread as the README recommends
/// where timing must be precise.
fn deadline_engine() -> Vec<String> {
    vec!["--rt-deadline".into(), "300us/1ms".into()]
}

/// For sessions timed in userspace: the agent's Down (its `at_us`,
/// CLOCK_MONOTONIC) came no later than the Detection Time + 2 ms after the
/// last of the peer's packets in `capture` (taken on the agent's link,
/// CLOCK_REALTIME; the offset between the clocks is read now).
fn check_userspace_detection(agent: &Agent, capture: &mut Capture, changes: usize) -> anyhow::Result<()> {
    let offset = realtime_minus_monotonic_us();
    let packets = capture.bfd_packets()?;
    let down = changes_since(agent, changes)
        .into_iter()
        .find(|line| line.field("to") == Some("Down"))
        .context("no Down line")?;
    let down_at = down.number("at_us").context("at_us")? + offset;
    let last = packets.iter().rfind(|p| p.at_us < down_at).context("no packet captured before the Down")?;
    let silence = down_at - last.at_us;
    eprintln!(
        "{}: userspace detection: Down {silence} µs after the last packet ({} captured)",
        agent.name(),
        packets.len()
    );
    // 1 ms of slack below: the capture stamps a packet before the agent
    // reads it, and the two clocks are compared through a sampled offset.
    ensure!(
        silence + 1_000 >= DETECTION_TIME_US && silence <= DETECTION_TIME_US + DETECTION_SLACK_US,
        "Down {silence} µs after the last packet ({last:?}); detection time {DETECTION_TIME_US} µs: {down}"
    );
    Ok(())
}

/// Waits until FRR's session with `peer` is Up and runs at the agent's 50 ms.
fn frr_sees_fast(frr: &Frr, peer: &str) -> anyhow::Result<()> {
    wait_for(&format!("FRR: {peer} up at 50 ms"), SOON, || {
        let session = frr.peer(peer)?;
        Ok((session["status"] == "up" && session["remote-transmit-interval"] == 50).then_some(()))
    })
}

// ---------------------------------------------------------------------------
// 1. agent <-> FRR, IPv4 single-hop, XDP
// ---------------------------------------------------------------------------

fn agent_and_frr_come_up_detect_cuts_in_the_kernel_and_recover(release: FrrRelease) -> anyhow::Result<()> {
    require_root()?;
    let link = Link::new("f4")?;
    let frr = Frr::start_release(&link.b, release, &frr_config(&[frr_peer(AGENT_V4, PEER_V4, false, &[])]))?;
    let agent = Agent::start(&link.a, "A", &link.a_if, &fast_config(PEER_V4, AGENT_V4))?;
    let started = agent.started();
    agent.wait_status(PEER_V4, "up", UP_WITHIN)?;
    frr.wait_status(AGENT_V4, "up", UP_WITHIN.saturating_sub(started.elapsed()))?;
    eprintln!("both Up {:?} after the agent started", started.elapsed());
    ensure!(
        agent.logged("the XDP fast path times this session"),
        "the XDP program does not time the session:\n{}",
        agent.log()
    );

    // Steady state: the XDP program absorbs the peer's packets.
    let session = wait_for("40 packets absorbed in the kernel", Duration::from_secs(5), || {
        Ok(Some(agent.session(PEER_V4)?).filter(|s| count(s, "control-absorbed-in-kernel") >= 40))
    })?;
    ensure!(session["fast-path"] == true, "fast-path is not true: {session:#}");
    let (absorbed, seen) =
        (count(&session, "control-absorbed-in-kernel"), count(&session, "control-seen-in-userspace"));
    ensure!(absorbed > seen, "the kernel absorbed {absorbed} packets, userspace saw {seen}: {session:#}");
    for key in [
        "peer",
        "local",
        "id",
        "remote-id",
        "diagnostic",
        "remote-diagnostic",
        "receive-interval",
        "transmit-interval",
        "detect-multiplier",
        "remote-receive-interval",
        "remote-transmit-interval",
    ] {
        ensure!(session.get(key).is_some(), "show peers --json lacks {key:?}: {session:#}");
    }
    ensure!(session["local"] == AGENT_V4 && session["receive-interval"] == 50, "{session:#}");

    // Cut FRR -> agent: the agent's kernel timer detects it.
    agent_sees_fast(&agent, PEER_V4)?;
    let (changes, events) = (agent.state_changes().len(), agent.kernel_events().len());
    let cut = Cut::outgoing_control(&link.b)?;
    check_down(&agent, PEER_V4, CONTROL_DETECTION_EXPIRED, changes)?;
    check_kernel_detection(&agent, events, DETECTION_TIME_US)?;
    // FRR goes Down too: the agent's Up packets stopped. (The agent's Down
    // packets carry Your Discriminator 0, as RFC 5880 §6.8.1 wants after a
    // detection timeout, and FRR ignores those while it is not Down itself
    // ("'remote discriminator' is zero, not overridden"), so FRR usually
    // detects by its own timer rather than hearing the agent's Down.)
    let frr_session = frr.wait_status(AGENT_V4, "down", SOON)?;
    ensure!(
        frr_session["diagnostic"] == CONTROL_DETECTION_EXPIRED
            || frr_session["remote-diagnostic"] == CONTROL_DETECTION_EXPIRED,
        "{frr_session:#}"
    );

    cut.lift()?;
    agent.wait_status(PEER_V4, "up", BACK_UP_WITHIN)?;
    frr.wait_status(AGENT_V4, "up", SOON)?;

    // Cut agent -> FRR: FRR detects it; the agent hears FRR's Down.
    frr_sees_fast(&frr, AGENT_V4)?;
    let changes = agent.state_changes().len();
    let cut = Cut::outgoing_control(&link.a)?;
    let frr_session = wait_for("FRR down with control detection time expired", SOON, || {
        let session = frr.peer(AGENT_V4)?;
        Ok((session["status"] == "down" && session["diagnostic"] == CONTROL_DETECTION_EXPIRED)
            .then_some(session))
    })?;
    let went_down = wait_for("the agent's Up -> Down", SOON, || {
        Ok(changes_since(&agent, changes).into_iter().find(|line| line.field("from") == Some("Up")))
    })?;
    let diagnostic = went_down.field("diagnostic").unwrap_or_default();
    ensure!(
        went_down.field("to") == Some("Down")
            && [NEIGHBOR_DOWN, CONTROL_DETECTION_EXPIRED].contains(&diagnostic),
        "the agent went {went_down}; FRR: {frr_session:#}"
    );
    eprintln!("agent after the agent -> FRR cut: {went_down}");
    let session = agent.session(PEER_V4)?;
    ensure!(
        session["remote-diagnostic"] == CONTROL_DETECTION_EXPIRED || diagnostic == CONTROL_DETECTION_EXPIRED,
        "the agent does not show FRR's diagnostic: {session:#}"
    );
    cut.lift()?;
    agent.wait_status(PEER_V4, "up", BACK_UP_WITHIN)?;
    frr.wait_status(AGENT_V4, "up", SOON)?;

    // The other views answer too.
    let counters = agent.show_counters()?;
    ensure!(counters.len() == 1 && count(&counters[0], "session-down") == 2, "counters: {counters:#?}");
    let brief = bfd_lab::lab::run_stdout(&mut agent.cli(["show", "peers", "brief"]))?;
    ensure!(brief.contains(PEER_V4) && brief.contains("up"), "show peers brief:\n{brief}");
    let mut agent = agent;
    agent.stop()?;
    Ok(())
}

release_tests!(agent_and_frr_come_up_detect_cuts_in_the_kernel_and_recover {
    agent_and_frr_come_up_detect_cuts_in_the_kernel_and_recover_frr_8_4: FrrRelease::V8_4,
    agent_and_frr_come_up_detect_cuts_in_the_kernel_and_recover_frr_10_7: FrrRelease::V10_7,
});

/// Regression test. A scripted peer brings the session Up at 1 s (Detection Time 3 s), then sends one
/// Poll that lowers its Desired Min TX to 50 ms (Detection Time 150 ms) and
/// falls silent. RFC 5880 §6.8.4: the session must go Down 150 ms after
/// that Poll. The bug was a Down 3 s after it: the Poll, passed up by the
/// XDP program as "changed", re-armed the kernel timer with the old
/// Detection Time, and the agent's new (shorter) one reached only the map
/// entry, not the running timer. Now a passed packet re-arms the timer to
/// check back after 1 ms, under whatever the agent has written by then.
#[bfd_lab::test]
fn kernel_detection_uses_the_detection_time_a_poll_just_shortened() -> anyhow::Result<()> {
    use bfd_common::wire::{ControlPacket, ControlRepr, Diagnostic, State};
    require_root()?;
    let link = Link::new("po")?;
    let agent = Agent::start(&link.a, "A", &link.a_if, &fast_config(PEER_V4, AGENT_V4))?;
    let (rx, tx) = link.b.run_in(|| {
        let rx = std::net::UdpSocket::bind((PEER_V4, bfd_common::CONTROL_PORT))?;
        let tx = std::net::UdpSocket::bind((PEER_V4, bfd_common::SOURCE_PORT_MIN))?;
        tx.set_ttl(u32::from(bfd_common::TTL))?;
        tx.connect((AGENT_V4, bfd_common::CONTROL_PORT))?;
        Ok((rx, tx))
    })?;
    rx.set_read_timeout(Some(Duration::from_millis(50)))?;
    const PEER_DISCR: u32 = 0x5eed_0001;
    let receive = |want: Option<State>, deadline: Instant| -> anyhow::Result<Option<ControlRepr>> {
        let mut buffer = [0u8; 128];
        while Instant::now() < deadline {
            let Ok(len) = rx.recv(&mut buffer) else { continue };
            let Ok(repr) = ControlRepr::parse(&ControlPacket::new_unchecked(&buffer[..len])) else {
                continue;
            };
            if want.is_none_or(|state| repr.state == state) {
                return Ok(Some(repr));
            }
        }
        Ok(None)
    };
    let packet = |state: State, your: u32, desired_min_tx: u32, poll: bool, final_: bool| {
        let repr = ControlRepr {
            diagnostic: Diagnostic::NoDiagnostic,
            state,
            poll,
            final_,
            control_plane_independent: false,
            demand: false,
            detect_mult: 3,
            my_discriminator: PEER_DISCR,
            your_discriminator: your,
            desired_min_tx,
            required_min_rx: 50_000,
            required_min_echo_rx: 0,
            auth: None,
        };
        bfd_lab::scenario::control_bytes(&repr)
    };
    // Three-way handshake at 1 s.
    let down = receive(Some(State::Down), Instant::now() + Duration::from_secs(3))?
        .context("no Down from the agent")?;
    let agent_discr = down.my_discriminator;
    tx.send(&packet(State::Down, agent_discr, 1_000_000, false, false))?;
    receive(Some(State::Init), Instant::now() + Duration::from_secs(3))?
        .context("the agent did not go Init")?;
    tx.send(&packet(State::Up, agent_discr, 1_000_000, false, false))?;
    agent.wait_status(PEER_V4, "up", SOON)?;
    // A second at 1 s: steady Up packets (absorbed), Finals to its Polls.
    let steady_until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < steady_until {
        tx.send(&packet(State::Up, agent_discr, 1_000_000, false, false))?;
        let slot = Instant::now() + Duration::from_millis(250);
        while let Some(repr) = receive(None, slot)? {
            if repr.poll {
                tx.send(&packet(State::Up, agent_discr, 1_000_000, false, true))?;
            }
        }
    }
    let session = agent.session(PEER_V4)?;
    ensure!(session["status"] == "up" && session["remote-transmit-interval"] == 1000, "{session:#}");
    // The Poll that shortens the Detection Time to 150 ms, then silence.
    let changes = agent.state_changes().len();
    tx.send(&packet(State::Up, agent_discr, 50_000, true, false))?;
    let poll_sent_us = bfd_lab::lab::monotonic_ns() / 1000;
    let went_down = wait_for("the agent's Down", Duration::from_secs(5), || {
        Ok(changes_since(&agent, changes).into_iter().find(|line| line.field("to") == Some("Down")))
    })?;
    let after_us = went_down.number("at_us").context("at_us")?.saturating_sub(poll_sent_us);
    eprintln!("Down {after_us} µs after the Poll: {went_down}");
    for event in agent.kernel_events() {
        eprintln!("{event}");
    }
    ensure!(
        after_us <= DETECTION_TIME_US + DETECTION_SLACK_US,
        "the agent went Down {after_us} µs after the peer's last packet (a Poll for 50 ms x 3: 150 ms)"
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// 2. Stability
// ---------------------------------------------------------------------------

#[bfd_lab::test]
fn agent_and_frr_stay_up_for_60_s_at_50_ms_x_3() -> anyhow::Result<()> {
    require_root()?;
    let link = Link::new("st")?;
    let frr = Frr::start(&link.b, &frr_config(&[frr_peer(AGENT_V4, PEER_V4, false, &[])]))?;
    let agent = Agent::start(&link.a, "A", &link.a_if, &fast_config(PEER_V4, AGENT_V4))?;
    agent.wait_status(PEER_V4, "up", UP_WITHIN)?;
    frr.wait_status(AGENT_V4, "up", UP_WITHIN)?;
    let changes = agent.state_changes().len();
    let frr_up = count(&frr.peer_counters(AGENT_V4)?, "session-up");

    // Checked every second, so that a flap fails the test at once.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_secs(1));
        agent.ensure_running()?;
        let new = changes_since(&agent, changes);
        ensure!(new.is_empty(), "state changes after {:?} of 60 s: {new:#?}", start.elapsed());
        let frr_counters = frr.peer_counters(AGENT_V4)?;
        ensure!(
            count(&frr_counters, "session-down") == 0 && count(&frr_counters, "session-up") == frr_up,
            "FRR's session flapped after {:?}: {frr_counters:#}",
            start.elapsed()
        );
    }
    let session = agent.session(PEER_V4)?;
    let counters = agent.show_counters()?;
    ensure!(session["status"] == "up", "{session:#}");
    ensure!(
        counters.len() == 1
            && count(&counters[0], "session-down") == 0
            && count(&counters[0], "session-up") == 1,
        "{counters:#?}"
    );
    ensure!(agent.kernel_events().is_empty(), "kernel detection events: {:#?}", agent.kernel_events());
    let frr_session = frr.peer(AGENT_V4)?;
    ensure!(frr_session["status"] == "up" && frr_session["uptime"].as_u64() >= Some(59), "{frr_session:#}");
    eprintln!(
        "after 60 s: agent {} packets in ({} absorbed in the kernel), {} out; FRR {} in, {} out",
        count(&counters[0], "control-packet-input"),
        count(&session, "control-absorbed-in-kernel"),
        count(&counters[0], "control-packet-output"),
        count(&frr.peer_counters(AGENT_V4)?, "control-packet-input"),
        count(&frr.peer_counters(AGENT_V4)?, "control-packet-output"),
    );
    // At 50 ms less FRR's 0-25% jitter, 60 s is at least 1200 packets each way.
    ensure!(count(&frr.peer_counters(AGENT_V4)?, "control-packet-input") >= 1200, "the agent sent too few");
    ensure!(count(&counters[0], "control-packet-input") >= 1200, "the agent counted too few: {counters:#?}");
    Ok(())
}

/// The same 60 s at 50 ms x 3 for every other pairing, side by side, each
/// in namespaces of its own: two agents (an IPv4 and an IPv6 session
/// between them), an agent with BIRD 2 over IPv4 and another over IPv6, an
/// agent with FRR over IPv6, an agent with FRR multihop through a router,
/// and a passive agent with an active FRR. Seven sessions (nine agent
/// sides, five peer sides). No state change anywhere: in the agents' logs,
/// in FRR's session counters, in BIRD's log and sessions.
#[bfd_lab::test]
fn agent_pairs_bird_v4_v6_frr_v6_multihop_and_passive_stay_up_for_60_s_at_50_ms_x_3() -> anyhow::Result<()> {
    require_root()?;
    let pair = Link::new("sa")?;
    let (a, b) = two_agents(&pair)?;
    let bird4_link = Link::new("sb")?;
    let bird4 = Bird::start(&bird4_link.b, &bfd_lab::bird::bfd_config(PEER_V4, AGENT_V4, PEER_V4))?;
    let c = Agent::start(&bird4_link.a, "C", &bird4_link.a_if, &fast_config(PEER_V4, AGENT_V4))?;
    let bird6_link = Link::new("sc")?;
    let bird6 = Bird::start(&bird6_link.b, &bfd_lab::bird::bfd_config(PEER_V4, AGENT_V6, PEER_V6))?;
    let d = Agent::start(&bird6_link.a, "D", &bird6_link.a_if, &fast_config(PEER_V6, AGENT_V6))?;
    let frr6_link = Link::new("sd")?;
    let frr6 = Frr::start(&frr6_link.b, &frr_config(&[frr_peer(AGENT_V6, PEER_V6, false, &[])]))?;
    let e = Agent::start(&frr6_link.a, "E", &frr6_link.a_if, &fast_config(PEER_V6, AGENT_V6))?;
    let routed = Routed::new("sm", ROUTED_NET)?;
    let frr_multihop = Frr::start(&routed.peer, &multihop_frr_config(&routed))?;
    let f = Agent::start(&routed.agent, "F", &routed.agent_if, &multihop_agent_config(&routed))?;
    let passive_link = Link::new("sp")?;
    let frr_active = Frr::start(&passive_link.b, &frr_config(&[frr_peer(AGENT_V4, PEER_V4, false, &[])]))?;
    let g = Agent::start(&passive_link.a, "G", &passive_link.a_if, &passive_agent_config(PEER_V4, AGENT_V4))?;

    let agents: [(&Agent, &[&str]); 7] = [
        (&a, &[PEER_V4, PEER_V6]),
        (&b, &[AGENT_V4, AGENT_V6]),
        (&c, &[PEER_V4]),
        (&d, &[PEER_V6]),
        (&e, &[PEER_V6]),
        (&f, &[routed.peer_ip.as_str()]),
        (&g, &[PEER_V4]),
    ];
    // (FRR, the agent's address as FRR knows it) and the same for BIRD.
    let frrs = [(&frr6, AGENT_V6), (&frr_multihop, routed.agent_ip.as_str()), (&frr_active, AGENT_V4)];
    let birds = [(&bird4, AGENT_V4), (&bird6, AGENT_V6)];
    for (agent, peers) in agents {
        for peer in peers {
            agent.wait_status(peer, "up", UP_WITHIN)?;
        }
    }
    for (frr, peer) in frrs {
        frr.wait_status(peer, "up", UP_WITHIN)?;
    }
    for (bird, peer) in birds {
        bird.wait_state(peer, "Up", UP_WITHIN)?;
    }
    let passive = g.session(PEER_V4)?;
    ensure!(passive["passive-mode"] == true, "agent G is not passive: {passive:#}");
    let multihop = f.session(&routed.peer_ip)?;
    ensure!(multihop["multihop"] == true, "agent F's session is not multihop: {multihop:#}");
    let agent_changes: Vec<usize> = agents.iter().map(|(agent, _)| agent.state_changes().len()).collect();
    let frr_ups = frrs
        .iter()
        .map(|(frr, peer)| Ok(count(&frr.peer_counters(peer)?, "session-up")))
        .collect::<anyhow::Result<Vec<u64>>>()?;
    let bird_changes: Vec<usize> = birds.iter().map(|(bird, _)| bird.state_changes().len()).collect();
    for ((bird, peer), changes) in birds.iter().zip(&bird_changes) {
        // Its way Up is in the log: the check below is not blind.
        ensure!(*changes > 0, "BIRD ({peer}) logs no state changes:\n{}", bird.log());
    }

    // Checked every second, so that a flap fails the test at once.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_secs(1));
        for ((agent, _), changes) in agents.iter().zip(&agent_changes) {
            agent.ensure_running()?;
            let new = changes_since(agent, *changes);
            ensure!(
                new.is_empty(),
                "agent {}: state changes after {:?}: {new:#?}",
                agent.name(),
                start.elapsed()
            );
        }
        for ((frr, peer), up) in frrs.iter().zip(&frr_ups) {
            let counters = frr.peer_counters(peer)?;
            ensure!(
                count(&counters, "session-down") == 0 && count(&counters, "session-up") == *up,
                "FRR's session with {peer} flapped after {:?}: {counters:#}",
                start.elapsed()
            );
        }
        for ((bird, peer), changes) in birds.iter().zip(&bird_changes) {
            let new: Vec<String> = bird.state_changes().into_iter().skip(*changes).collect();
            ensure!(
                new.is_empty(),
                "BIRD's session with {peer} changed state after {:?}: {new:#?}",
                start.elapsed()
            );
            bird.wait_state(peer, "Up", Duration::from_millis(1))?;
        }
    }

    for (agent, peers) in agents {
        ensure!(agent.kernel_events().is_empty(), "agent {}: {:#?}", agent.name(), agent.kernel_events());
        let counters = agent.show_counters()?;
        for peer in peers {
            let session = agent.session(peer)?;
            ensure!(session["status"] == "up", "agent {}: {session:#}", agent.name());
            let session_counters = counters
                .iter()
                .find(|counters| counters["peer"] == *peer)
                .with_context(|| format!("agent {}: no counters for {peer}: {counters:#?}", agent.name()))?;
            ensure!(
                count(session_counters, "session-down") == 0 && count(session_counters, "session-up") == 1,
                "agent {} {peer}: {session_counters:#}",
                agent.name()
            );
            // At 50 ms less 0-25% jitter, 60 s is at least 1200 packets.
            ensure!(
                count(session_counters, "control-packet-input") >= 1150,
                "agent {} {peer}: {session_counters:#}",
                agent.name()
            );
            // Multihop sessions are timed in userspace; the others in the kernel.
            let in_kernel = session["fast-path"] == true;
            ensure!(in_kernel != (agent.name() == "F"), "agent {} {peer}: {session:#}", agent.name());
            ensure!(
                !in_kernel || count(&session, "control-absorbed-in-kernel") >= 1150,
                "agent {} {peer}: {session:#}",
                agent.name()
            );
            eprintln!(
                "agent {} {peer}: {} packets in ({} absorbed in the kernel), {} out",
                agent.name(),
                count(session_counters, "control-packet-input"),
                count(&session, "control-absorbed-in-kernel"),
                count(session_counters, "control-packet-output"),
            );
        }
    }
    for (frr, peer) in frrs {
        let session = frr.peer(peer)?;
        ensure!(session["status"] == "up" && session["uptime"].as_u64() >= Some(59), "FRR: {session:#}");
        let counters = frr.peer_counters(peer)?;
        ensure!(count(&counters, "control-packet-input") >= 1150, "FRR {peer}: {counters:#}");
    }
    for (bird, peer) in birds {
        let session = bird.wait_state(peer, "Up", Duration::from_millis(1))?;
        eprintln!("BIRD: {}", session.line);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// 3. agent <-> agent, IPv4 and IPv6
// ---------------------------------------------------------------------------

/// Two agents, each with a v4 and a v6 session to the other.
fn two_agents(link: &Link) -> anyhow::Result<(Agent, Agent)> {
    let profile = bfd_profile("fast", "receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3");
    let config_a = documents(&[
        profile.clone(),
        bgp_peer("b-v4", PEER_V4, AGENT_V4, "fast", ""),
        bgp_peer("b-v6", PEER_V6, AGENT_V6, "fast", ""),
    ]);
    let config_b = documents(&[
        profile,
        bgp_peer("a-v4", AGENT_V4, PEER_V4, "fast", ""),
        bgp_peer("a-v6", AGENT_V6, PEER_V6, "fast", ""),
    ]);
    let a = Agent::start(&link.a, "A", &link.a_if, &config_a)?;
    let b = Agent::start(&link.b, "B", &link.b_if, &config_b)?;
    Ok((a, b))
}

/// Cuts `from`'s control packets and checks that `to` (`to_peers`: its
/// sessions) detects it in the kernel, then lifts the cut.
fn cut_and_check_agent(from: &NetNs, to: &Agent, to_peers: &[&str], others: &[&Agent]) -> anyhow::Result<()> {
    for peer in to_peers {
        agent_sees_fast(to, peer)?;
    }
    let (changes, events) = (to.state_changes().len(), to.kernel_events().len());
    let cut = Cut::outgoing_control(from)?;
    for (index, peer) in to_peers.iter().enumerate() {
        check_down(to, peer, CONTROL_DETECTION_EXPIRED, changes)?;
        check_kernel_detection(to, events + index, DETECTION_TIME_US)?;
    }
    cut.lift()?;
    for peer in to_peers {
        to.wait_status(peer, "up", BACK_UP_WITHIN)?;
    }
    for other in others {
        for session in other.show_peers()? {
            let peer = session["peer"].as_str().unwrap_or_default().to_owned();
            other.wait_status(&peer, "up", SOON)?;
        }
    }
    Ok(())
}

#[bfd_lab::test]
fn two_agents_come_up_over_ipv4_and_ipv6_and_detect_cuts_both_ways() -> anyhow::Result<()> {
    require_root()?;
    let link = Link::new("aa")?;
    let (a, b) = two_agents(&link)?;
    let started = b.started();
    for (agent, peers) in [(&a, [PEER_V4, PEER_V6]), (&b, [AGENT_V4, AGENT_V6])] {
        for peer in peers {
            agent.wait_status(peer, "up", UP_WITHIN.saturating_sub(started.elapsed()))?;
        }
    }
    eprintln!("all four Up {:?} after both started", started.elapsed());
    for (agent, peers) in [(&a, [PEER_V4, PEER_V6]), (&b, [AGENT_V4, AGENT_V6])] {
        for peer in peers {
            let session = wait_for("packets absorbed", Duration::from_secs(5), || {
                Ok(Some(agent.session(peer)?).filter(|s| count(s, "control-absorbed-in-kernel") >= 20))
            })?;
            ensure!(session["fast-path"] == true, "agent {}: {session:#}", agent.name());
        }
    }
    // A's packets stop: B detects both sessions' silence in the kernel.
    cut_and_check_agent(&link.a, &b, &[AGENT_V4, AGENT_V6], &[&a])?;
    // And the other way.
    cut_and_check_agent(&link.b, &a, &[PEER_V4, PEER_V6], &[&b])?;
    let (mut a, mut b) = (a, b);
    a.stop()?;
    // B hears A's AdminDown (RFC 5880 §6.8.16): Down with diagnostic 7,
    // not a detection failure.
    for peer in [AGENT_V4, AGENT_V6] {
        let session = wait_for("B hears A's AdminDown", SOON, || {
            Ok(Some(b.session(peer)?).filter(|s| s["status"] == "down"))
        })?;
        ensure!(session["diagnostic"] == NEIGHBOR_DOWN, "B after A stopped: {session:#}");
        ensure!(session["remote-diagnostic"] == "administratively down", "B after A stopped: {session:#}");
    }
    b.stop()?;
    Ok(())
}

// ---------------------------------------------------------------------------
// 4. agent <-> BIRD 2, IPv4 and IPv6
// ---------------------------------------------------------------------------

/// agent <-> BIRD over a link, the agent at `agent_ip`, BIRD at `bird_ip`:
/// Up within 3 s; BIRD's packets cut: the agent's kernel timer, diagnostic
/// 1, within the detection time + 2 ms; the agent's packets cut: BIRD's
/// timer (diagnostic 1, which its Down packets carry to the agent); Up
/// again after each cut is lifted.
fn agent_and_bird(prefix: &str, agent_ip: &str, bird_ip: &str, release: BirdRelease) -> anyhow::Result<()> {
    require_root()?;
    let link = Link::new(prefix)?;
    let bird = Bird::start_release(&link.b, release, &bfd_lab::bird::bfd_config(PEER_V4, agent_ip, bird_ip))?;
    let agent = Agent::start(&link.a, "A", &link.a_if, &fast_config(bird_ip, agent_ip))?;
    let started = agent.started();
    agent.wait_status(bird_ip, "up", UP_WITHIN)?;
    bird.wait_state(agent_ip, "Up", UP_WITHIN.saturating_sub(started.elapsed()))?;
    eprintln!("both Up {:?} after the agent started", started.elapsed());
    let session = wait_for("packets absorbed", Duration::from_secs(5), || {
        Ok(Some(agent.session(bird_ip)?).filter(|s| count(s, "control-absorbed-in-kernel") >= 20))
    })?;
    ensure!(
        session["fast-path"] == true
            && session["remote-transmit-interval"] == 50
            && session["local"] == agent_ip,
        "{session:#}"
    );

    // BIRD -> agent cut: the agent's kernel timer.
    agent_sees_fast(&agent, bird_ip)?;
    let (changes, events) = (agent.state_changes().len(), agent.kernel_events().len());
    let cut = Cut::outgoing_control(&link.b)?;
    check_down(&agent, bird_ip, CONTROL_DETECTION_EXPIRED, changes)?;
    check_kernel_detection(&agent, events, DETECTION_TIME_US)?;
    bird.wait_state(agent_ip, "Down", SOON)?;
    cut.lift()?;
    agent.wait_status(bird_ip, "up", BACK_UP_WITHIN)?;
    bird.wait_state(agent_ip, "Up", SOON)?;

    // agent -> BIRD cut: BIRD detects; the agent goes Down one way or the other.
    let session = wait_for("BIRD: 150 ms detection time", SOON, || {
        Ok(bird.session(agent_ip)?.filter(|s| s.state == "Up" && s.timeout == "0.150"))
    })?;
    eprintln!("BIRD: {}", session.line);
    let (changes, expired) = (agent.state_changes().len(), bird.log_lines("expired").len());
    let cut = Cut::outgoing_control(&link.a)?;
    bird.wait_state(agent_ip, "Down", SOON)?;
    let went_down = wait_for("the agent's Up -> Down", SOON, || {
        Ok(changes_since(&agent, changes).into_iter().find(|line| line.field("from") == Some("Up")))
    })?;
    eprintln!("agent after the agent -> BIRD cut: {went_down}");
    let diagnostic = went_down.field("diagnostic").unwrap_or_default();
    ensure!([NEIGHBOR_DOWN, CONTROL_DETECTION_EXPIRED].contains(&diagnostic), "{went_down}");
    // BIRD's own timer fired (its diagnostic 1), as its log says and, when
    // the agent heard BIRD's Down, as the agent's view of it says.
    let bird_expired: Vec<String> = bird.log_lines("expired").into_iter().skip(expired).collect();
    ensure!(
        bird_expired.iter().any(|line| line.contains(&format!("Session to {agent_ip} expired"))),
        "BIRD did not time out: {bird_expired:#?}\n{}",
        bird.log()
    );
    let session = agent.session(bird_ip)?;
    ensure!(
        diagnostic == CONTROL_DETECTION_EXPIRED || session["remote-diagnostic"] == CONTROL_DETECTION_EXPIRED,
        "the agent does not show BIRD's diagnostic: {session:#}"
    );
    cut.lift()?;
    agent.wait_status(bird_ip, "up", BACK_UP_WITHIN)?;
    bird.wait_state(agent_ip, "Up", SOON)?;
    let mut agent = agent;
    agent.stop()?;
    Ok(())
}

fn agent_and_bird_come_up_detect_cuts_and_recover(release: BirdRelease) -> anyhow::Result<()> {
    agent_and_bird("bi", AGENT_V4, PEER_V4, release)
}

release_tests!(agent_and_bird_come_up_detect_cuts_and_recover {
    agent_and_bird_come_up_detect_cuts_and_recover_bird_2_0: BirdRelease::V2_0,
    agent_and_bird_come_up_detect_cuts_and_recover_bird_2_20: BirdRelease::V2_20,
    agent_and_bird_come_up_detect_cuts_and_recover_bird_3: BirdRelease::V3,
});

fn agent_and_bird_over_ipv6_come_up_detect_cuts_and_recover(release: BirdRelease) -> anyhow::Result<()> {
    agent_and_bird("b6", AGENT_V6, PEER_V6, release)
}

release_tests!(agent_and_bird_over_ipv6_come_up_detect_cuts_and_recover {
    agent_and_bird_over_ipv6_come_up_detect_cuts_and_recover_bird_2_0: BirdRelease::V2_0,
    agent_and_bird_over_ipv6_come_up_detect_cuts_and_recover_bird_2_20: BirdRelease::V2_20,
    agent_and_bird_over_ipv6_come_up_detect_cuts_and_recover_bird_3: BirdRelease::V3,
});

// ---------------------------------------------------------------------------
// 5. agent <-> FRR, IPv6
// ---------------------------------------------------------------------------

fn agent_and_frr_over_ipv6_come_up_detect_cuts_and_recover(release: FrrRelease) -> anyhow::Result<()> {
    require_root()?;
    let link = Link::new("f6")?;
    let frr = Frr::start_release(&link.b, release, &frr_config(&[frr_peer(AGENT_V6, PEER_V6, false, &[])]))?;
    let agent = Agent::start(&link.a, "A", &link.a_if, &fast_config(PEER_V6, AGENT_V6))?;
    let started = agent.started();
    agent.wait_status(PEER_V6, "up", UP_WITHIN)?;
    frr.wait_status(AGENT_V6, "up", UP_WITHIN.saturating_sub(started.elapsed()))?;
    eprintln!("both Up {:?} after the agent started", started.elapsed());
    let session = wait_for("packets absorbed", Duration::from_secs(5), || {
        Ok(Some(agent.session(PEER_V6)?).filter(|s| count(s, "control-absorbed-in-kernel") >= 20))
    })?;
    ensure!(session["fast-path"] == true && session["local"] == AGENT_V6, "{session:#}");

    agent_sees_fast(&agent, PEER_V6)?;
    let (changes, events) = (agent.state_changes().len(), agent.kernel_events().len());
    let cut = Cut::outgoing_control(&link.b)?;
    check_down(&agent, PEER_V6, CONTROL_DETECTION_EXPIRED, changes)?;
    check_kernel_detection(&agent, events, DETECTION_TIME_US)?;
    frr.wait_status(AGENT_V6, "down", SOON)?;
    cut.lift()?;
    agent.wait_status(PEER_V6, "up", BACK_UP_WITHIN)?;
    frr.wait_status(AGENT_V6, "up", SOON)?;

    frr_sees_fast(&frr, AGENT_V6)?;
    let cut = Cut::outgoing_control(&link.a)?;
    let frr_session = frr.wait_status(AGENT_V6, "down", SOON)?;
    ensure!(frr_session["diagnostic"] == CONTROL_DETECTION_EXPIRED, "{frr_session:#}");
    cut.lift()?;
    agent.wait_status(PEER_V6, "up", BACK_UP_WITHIN)?;
    frr.wait_status(AGENT_V6, "up", SOON)?;
    let mut agent = agent;
    agent.stop()?;
    Ok(())
}

release_tests!(agent_and_frr_over_ipv6_come_up_detect_cuts_and_recover {
    agent_and_frr_over_ipv6_come_up_detect_cuts_and_recover_frr_8_4: FrrRelease::V8_4,
    agent_and_frr_over_ipv6_come_up_detect_cuts_and_recover_frr_10_7: FrrRelease::V10_7,
});

// ---------------------------------------------------------------------------
// 6. Passive on either side
// ---------------------------------------------------------------------------

/// The 50 ms x 3 profile with `passiveMode: true`, and one BGPPeer using it.
fn passive_agent_config(peer: &str, local: &str) -> String {
    documents(&[
        bfd_profile(
            "quiet",
            "receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3, passiveMode: true",
        ),
        bgp_peer("peer", peer, local, "quiet", ""),
    ])
}

/// FRR's session with `peer` goes Down by its own timer: diagnostic 1.
fn frr_detects(frr: &Frr, peer: &str) -> anyhow::Result<Value> {
    wait_for(&format!("FRR: {peer} down with control detection time expired"), SOON, || {
        let session = frr.peer(peer)?;
        Ok((session["status"] == "down" && session["diagnostic"] == CONTROL_DETECTION_EXPIRED)
            .then_some(session))
    })
}

/// The agent's session with `peer` went Up -> Down since `changes`, with
/// FRR's Down (diagnostic 3) or by its own timer (1); returns the line.
fn agent_follows_down(agent: &Agent, peer: &str, changes: usize) -> anyhow::Result<LogLine> {
    let went_down = wait_for(&format!("agent {}: {peer} Up -> Down", agent.name()), SOON, || {
        Ok(changes_since(agent, changes).into_iter().find(|line| line.field("from") == Some("Up")))
    })?;
    ensure!(
        went_down.field("to") == Some("Down")
            && [NEIGHBOR_DOWN, CONTROL_DETECTION_EXPIRED]
                .contains(&went_down.field("diagnostic").unwrap_or_default()),
        "agent {}: {went_down}",
        agent.name()
    );
    Ok(went_down)
}

/// The passive agent waits for FRR's first packet (RFC 5880 §6.1). FRR's
/// packets cut: the agent's kernel timer detects it (diagnostic 1, within
/// the detection time + 2 ms); having lost its peer (bfd.RemoteDiscr zeroed
/// by the timeout) the agent falls silent (§6.8.7), so FRR's timer expires
/// too; once the cut is lifted, FRR, the active side, still sending at 1 s
/// while Down, brings the session back. The agent's packets cut: FRR
/// detects (diagnostic 1); the session comes back once lifted.
fn a_passive_agent_and_an_active_frr_come_up_detect_cuts_and_recover(
    release: FrrRelease,
) -> anyhow::Result<()> {
    require_root()?;
    let link = Link::new("pa")?;
    let frr = Frr::start_release(&link.b, release, &frr_config(&[frr_peer(AGENT_V4, PEER_V4, false, &[])]))?;
    let agent = Agent::start(&link.a, "A", &link.a_if, &passive_agent_config(PEER_V4, AGENT_V4))?;
    let started = agent.started();
    let session = agent.wait_status(PEER_V4, "up", UP_WITHIN)?;
    frr.wait_status(AGENT_V4, "up", UP_WITHIN.saturating_sub(started.elapsed()))?;
    eprintln!("both Up {:?} after the agent started", started.elapsed());
    ensure!(session["passive-mode"] == true, "the agent does not say it is passive: {session:#}");
    ensure!(frr.peer(AGENT_V4)?["passive-mode"] == false, "FRR is the active one");

    // FRR -> agent cut: the passive agent's kernel timer.
    agent_sees_fast(&agent, PEER_V4)?;
    let (changes, events) = (agent.state_changes().len(), agent.kernel_events().len());
    let cut = Cut::outgoing_control(&link.b)?;
    check_down(&agent, PEER_V4, CONTROL_DETECTION_EXPIRED, changes)?;
    check_kernel_detection(&agent, events, DETECTION_TIME_US)?;
    let frr_session = frr_detects(&frr, AGENT_V4)?;
    eprintln!("FRR after the FRR -> agent cut: {} ({})", frr_session["status"], frr_session["diagnostic"]);
    // Silent while Down: an active side would send at 1 s.
    let sent = count(&agent.show_counters()?[0], "control-packet-output");
    std::thread::sleep(Duration::from_millis(1_500));
    let counters = agent.show_counters()?;
    ensure!(
        count(&counters[0], "control-packet-output") == sent,
        "the passive agent sent while it had no peer ({sent} before): {counters:#?}"
    );
    cut.lift()?;
    agent.wait_status(PEER_V4, "up", BACK_UP_WITHIN)?;
    frr.wait_status(AGENT_V4, "up", SOON)?;

    cut_agent_to_frr_and_recover(&link, agent, &frr)?;
    Ok(())
}

release_tests!(a_passive_agent_and_an_active_frr_come_up_detect_cuts_and_recover {
    a_passive_agent_and_an_active_frr_come_up_detect_cuts_and_recover_frr_8_4: FrrRelease::V8_4,
    a_passive_agent_and_an_active_frr_come_up_detect_cuts_and_recover_frr_10_7: FrrRelease::V10_7,
});

/// FRR passive, the agent active. FRR's packets cut: the agent's kernel
/// timer (diagnostic 1, within the detection time + 2 ms); FRR goes Down
/// too and, having lost its peer, falls silent (RFC 5880 §6.8.7); once the
/// cut is lifted the agent, still sending at 1 s while Down, brings the
/// session back. The agent's packets cut: FRR detects (diagnostic 1); the
/// session comes back once lifted.
fn an_active_agent_and_a_passive_frr_come_up_detect_cuts_and_recover(
    release: FrrRelease,
) -> anyhow::Result<()> {
    require_root()?;
    let link = Link::new("pf")?;
    let frr = Frr::start_release(
        &link.b,
        release,
        &frr_config(&[frr_peer(AGENT_V4, PEER_V4, false, &["passive-mode"])]),
    )?;
    ensure!(frr.peer(AGENT_V4)?["passive-mode"] == true, "FRR is not passive: {:#}", frr.peer(AGENT_V4)?);
    let agent = Agent::start(&link.a, "A", &link.a_if, &fast_config(PEER_V4, AGENT_V4))?;
    let started = agent.started();
    agent.wait_status(PEER_V4, "up", UP_WITHIN)?;
    frr.wait_status(AGENT_V4, "up", UP_WITHIN.saturating_sub(started.elapsed()))?;
    eprintln!("both Up {:?} after the agent started", started.elapsed());

    // FRR -> agent cut: the agent's kernel timer.
    agent_sees_fast(&agent, PEER_V4)?;
    let (changes, events) = (agent.state_changes().len(), agent.kernel_events().len());
    let cut = Cut::outgoing_control(&link.b)?;
    check_down(&agent, PEER_V4, CONTROL_DETECTION_EXPIRED, changes)?;
    check_kernel_detection(&agent, events, DETECTION_TIME_US)?;
    // FRR goes Down too (see the first test: it ignores the agent's Down
    // packets, which carry Your Discriminator 0, and times out itself).
    let frr_session = frr.wait_status(AGENT_V4, "down", SOON)?;
    ensure!(
        frr_session["diagnostic"] == CONTROL_DETECTION_EXPIRED
            || frr_session["remote-diagnostic"] == CONTROL_DETECTION_EXPIRED,
        "{frr_session:#}"
    );
    eprintln!("FRR after the FRR -> agent cut: {} ({})", frr_session["status"], frr_session["diagnostic"]);
    cut.lift()?;
    agent.wait_status(PEER_V4, "up", BACK_UP_WITHIN)?;
    frr.wait_status(AGENT_V4, "up", SOON)?;

    cut_agent_to_frr_and_recover(&link, agent, &frr)?;
    Ok(())
}

release_tests!(an_active_agent_and_a_passive_frr_come_up_detect_cuts_and_recover {
    an_active_agent_and_a_passive_frr_come_up_detect_cuts_and_recover_frr_8_4: FrrRelease::V8_4,
    an_active_agent_and_a_passive_frr_come_up_detect_cuts_and_recover_frr_10_7: FrrRelease::V10_7,
});

// ---------------------------------------------------------------------------
// 7. IPv4 multihop through a router
// ---------------------------------------------------------------------------

/// The second octet of [`Routed`]'s addresses in these tests.
const ROUTED_NET: u8 = 77;

/// bfdd's multihop peer at 50 ms x 3 for [`Routed`].
fn multihop_frr_config(routed: &Routed) -> String {
    frr_config(&[frr_peer(&routed.agent_ip, &routed.peer_ip, true, &[])])
}

/// The agent's multihop peer at 50 ms x 3, minimum TTL 254, for [`Routed`].
fn multihop_agent_config(routed: &Routed) -> String {
    documents(&[
        bfd_profile("mh", "receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3, minimumTtl: 254"),
        bgp_peer("peer", &routed.peer_ip, &routed.agent_ip, "mh", "ebgpMultiHop: true"),
    ])
}

fn agent_and_frr_come_up_multihop_through_a_router(release: FrrRelease) -> anyhow::Result<()> {
    require_root()?;
    let routed = Routed::new("mh", ROUTED_NET)?;
    let (agent_ip, frr_ip) = (routed.agent_ip.as_str(), routed.peer_ip.as_str());
    let (agent_ns, frr_ns, a_if) = (&routed.agent, &routed.peer, &routed.agent_if);
    let frr = Frr::start_release(frr_ns, release, &multihop_frr_config(&routed))?;
    // Userspace timing is as precise as the engine's scheduling: run it as
    // the README recommends for precision (SCHED_DEADLINE), so that the
    // 2 ms bound measures the agent, not a busy or stalling machine.
    let args = AgentArgs { extra: deadline_engine(), ..AgentArgs::new(a_if, multihop_agent_config(&routed)) };
    let agent = Agent::start_with(agent_ns, "A", args)?;
    let started = agent.started();
    let session = agent.wait_status(frr_ip, "up", UP_WITHIN)?;
    let frr_session = frr.wait_status(agent_ip, "up", UP_WITHIN.saturating_sub(started.elapsed()))?;
    eprintln!("both Up {:?} after the agent started", started.elapsed());
    ensure!(session["multihop"] == true && session["minimum-ttl"] == 254, "{session:#}");
    ensure!(frr_session["multihop"] == true, "{frr_session:#}");
    // Multihop sessions are timed in userspace (the agent's design).
    ensure!(session["fast-path"] == false, "{session:#}");

    // FRR -> agent cut: the agent detects in userspace, diagnostic 1.
    let mut capture = Capture::start(agent_ns, a_if, &format!("udp dst port 4784 and src host {frr_ip}"))?;
    agent_sees_fast(&agent, frr_ip)?;
    // Let the capture hold some of FRR's packets before the cut.
    std::thread::sleep(Duration::from_millis(300));
    let changes = agent.state_changes().len();
    let cut = Cut::new(frr_ns, "output", "udp dport 4784")?;
    check_down(&agent, frr_ip, CONTROL_DETECTION_EXPIRED, changes)?;
    check_userspace_detection(&agent, &mut capture, changes)?;
    frr.wait_status(agent_ip, "down", SOON)?;
    cut.lift()?;
    agent.wait_status(frr_ip, "up", BACK_UP_WITHIN)?;
    frr.wait_status(agent_ip, "up", SOON)?;
    let mut agent = agent;
    agent.stop()?;
    Ok(())
}

release_tests!(agent_and_frr_come_up_multihop_through_a_router {
    agent_and_frr_come_up_multihop_through_a_router_frr_8_4: FrrRelease::V8_4,
    agent_and_frr_come_up_multihop_through_a_router_frr_10_7: FrrRelease::V10_7,
});

// ---------------------------------------------------------------------------
// 8. --no-xdp
// ---------------------------------------------------------------------------

fn without_xdp_the_agent_runs_the_session_in_userspace(release: FrrRelease) -> anyhow::Result<()> {
    require_root()?;
    let link = Link::new("nx")?;
    let frr = Frr::start_release(&link.b, release, &frr_config(&[frr_peer(AGENT_V4, PEER_V4, false, &[])]))?;
    let args = AgentArgs {
        no_xdp: true,
        extra: deadline_engine(),
        ..AgentArgs::new(&link.a_if, fast_config(PEER_V4, AGENT_V4))
    };
    let agent = Agent::start_with(&link.a, "A", args)?;
    let started = agent.started();
    let session = agent.wait_status(PEER_V4, "up", UP_WITHIN)?;
    frr.wait_status(AGENT_V4, "up", UP_WITHIN.saturating_sub(started.elapsed()))?;
    eprintln!("both Up {:?} after the agent started", started.elapsed());
    ensure!(session["fast-path"] == false, "{session:#}");
    ensure!(agent.logged("--no-xdp"), "the log does not say the fast path is off:\n{}", agent.log());
    let link_text =
        bfd_lab::lab::run_stdout(Command::new("ip").args(["-n", link.a.name(), "link", "show", &link.a_if]))?;
    ensure!(!link_text.contains("xdp"), "an XDP program is attached: {link_text}");
    let status = bfd_lab::lab::run_stdout(&mut agent.cli(["show", "status"]))?;
    ensure!(status.contains("userspace"), "show status: {status}");

    // FRR -> agent cut, with a capture of FRR's packets as the agent's
    // link receives them: the agent's userspace timer fires no later than
    // the detection time + 2 ms after the last one.
    let mut capture =
        Capture::start(&link.a, &link.a_if, &format!("udp dst port 3784 and src host {PEER_V4}"))?;
    agent_sees_fast(&agent, PEER_V4)?;
    // Let the capture hold some of FRR's packets before the cut.
    std::thread::sleep(Duration::from_millis(300));
    let changes = agent.state_changes().len();
    let cut = Cut::outgoing_control(&link.b)?;
    check_down(&agent, PEER_V4, CONTROL_DETECTION_EXPIRED, changes)?;
    check_userspace_detection(&agent, &mut capture, changes)?;
    cut.lift()?;
    agent.wait_status(PEER_V4, "up", BACK_UP_WITHIN)?;
    frr.wait_status(AGENT_V4, "up", SOON)?;
    let mut agent = agent;
    agent.stop()?;
    Ok(())
}

release_tests!(without_xdp_the_agent_runs_the_session_in_userspace {
    without_xdp_the_agent_runs_the_session_in_userspace_frr_8_4: FrrRelease::V8_4,
    without_xdp_the_agent_runs_the_session_in_userspace_frr_10_7: FrrRelease::V10_7,
});

// ---------------------------------------------------------------------------
// 9. FRR's echo, reflected by the XDP program
// ---------------------------------------------------------------------------

fn frrs_echo_is_reflected_by_the_xdp_program_without_ip_forward(release: FrrRelease) -> anyhow::Result<()> {
    require_root()?;
    let link = Link::new("ec")?;
    ensure!(sysctl(&link.a, "net.ipv4.ip_forward")? == "0", "ip_forward is on in the agent's namespace");
    // bfdd sends echo only on a session bound to an interface it knows,
    // and learns interfaces from zebra.
    let frr = Frr::start_with_zebra_release(
        &link.b,
        release,
        &format!(
            "debug bfd peer\nbfd\n peer {AGENT_V4} interface {} local-address {PEER_V4}\n  receive-interval 50\n  \
             transmit-interval 50\n  detect-multiplier 3\n  echo-mode\n  echo transmit-interval 50\n  echo \
             receive-interval 50\n exit\nexit\n",
            link.b_if
        ),
    )?;
    // Native XDP_TX on a veth reaches the other end only if that end runs an
    // XDP program too (see fastpath_veth.rs), which FRR's end does not: in
    // native mode (what `auto` picks on a veth) the reflections are lost and
    // FRR's session flaps on echo failure (seen: 18 flaps in 4 s). Generic
    // mode reflects through the stack's transmit path instead.
    let args = AgentArgs {
        mode: Some("generic".into()),
        ..AgentArgs::new(&link.a_if, fast_config(PEER_V4, AGENT_V4))
    };
    let agent = Agent::start_with(&link.a, "A", args)?;
    ensure!(agent.logged("xdp generic"), "not in generic mode:\n{}", agent.log());
    let started = agent.started();
    let session = agent.wait_status(PEER_V4, "up", UP_WITHIN)?;
    frr.wait_status(AGENT_V4, "up", UP_WITHIN.saturating_sub(started.elapsed()))?;
    ensure!(session["echo-receive-interval"] == 50, "the agent does not invite echo: {session:#}");
    let frr_session = frr.peer(AGENT_V4)?;
    ensure!(
        frr_session["echo-transmit-interval"] == 50 && frr_session["remote-echo-receive-interval"] == 50,
        "FRR does not run echo at 50 ms: {frr_session:#}"
    );
    let changes = agent.state_changes().len();

    let echo_in =
        |frr: &Frr| -> anyhow::Result<u64> { Ok(count(&frr.peer_counters(AGENT_V4)?, "echo-packet-input")) };
    wait_for("FRR's echoes to come back", SOON, || Ok((echo_in(&frr)? > 10).then_some(())))?;
    let (first_in, first_reflected) = (echo_in(&frr)?, count(&agent.xdp_stats()?, "echo-reflected"));
    std::thread::sleep(Duration::from_secs(10));
    let counters = frr.peer_counters(AGENT_V4)?;
    let stats = agent.xdp_stats()?;
    let (echo_out, echo_back) =
        (count(&counters, "echo-packet-output"), count(&counters, "echo-packet-input"));
    let reflected = count(&stats, "echo-reflected");
    eprintln!(
        "so far: FRR's echoes out {echo_out}, back {echo_back} ({} in the last 10 s); the agent reflected {reflected}",
        echo_back - first_in
    );
    ensure!(count(&counters, "session-down") == 0, "FRR's session went down: {counters:#}");
    ensure!(frr.peer(AGENT_V4)?["status"] == "up", "{:#}", frr.peer(AGENT_V4)?);
    // At 50 ms (FRR jitters echo too), 10 s is well over 150 echoes.
    ensure!(echo_back >= first_in + 150, "FRR's echo input grew from {first_in} to {echo_back}");
    ensure!(
        reflected >= first_reflected + 150,
        "reflections grew from {first_reflected} to {reflected}: {stats:#}"
    );
    ensure!(reflected + 5 >= echo_back, "FRR got back {echo_back} echoes, the agent reflected {reflected}");
    let new = changes_since(&agent, changes);
    ensure!(new.is_empty(), "the agent's session changed state: {new:#?}");
    ensure!(sysctl(&link.a, "net.ipv4.ip_forward")? == "0", "ip_forward was turned on");
    let mut agent = agent;
    agent.stop()?;
    Ok(())
}

release_tests!(frrs_echo_is_reflected_by_the_xdp_program_without_ip_forward {
    frrs_echo_is_reflected_by_the_xdp_program_without_ip_forward_frr_8_4: FrrRelease::V8_4,
    frrs_echo_is_reflected_by_the_xdp_program_without_ip_forward_frr_10_7: FrrRelease::V10_7,
});

/// The other direction of issue 5's echo test: the agent originates echo
/// (profile `echoMode: true`), FRR's side routes it back (ip_forward on
/// there, as FRR expects of a reflector), and the XDP program times the
/// returning echoes.
fn the_agents_echo_comes_back_through_frrs_side(release: FrrRelease) -> anyhow::Result<()> {
    require_root()?;
    let link = Link::new("eo")?;
    set_sysctl(&link.b, "net.ipv4.ip_forward", "1")?;
    let frr = Frr::start_release(&link.b, release, &frr_config(&[frr_peer(AGENT_V4, PEER_V4, false, &[])]))?;
    let config = documents(&[
        bfd_profile(
            "echo",
            "receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3, echoMode: true, echoInterval: 50",
        ),
        bgp_peer("peer", PEER_V4, AGENT_V4, "echo", ""),
    ]);
    let agent = Agent::start(&link.a, "A", &link.a_if, &config)?;
    agent.wait_status(PEER_V4, "up", UP_WITHIN)?;
    frr.wait_status(AGENT_V4, "up", SOON)?;
    let changes = agent.state_changes().len();
    std::thread::sleep(Duration::from_secs(5));
    let new = changes_since(&agent, changes);
    ensure!(new.is_empty(), "the session changed state while echoing: {new:#?}");
    let counters = agent.show_counters()?;
    let stats = agent.xdp_stats()?;
    ensure!(
        count(&counters[0], "echo-packet-output") >= 75 && count(&stats, "echo-own") >= 75,
        "too few echoes out or back in 5 s: {counters:#?} {stats:#}"
    );
    let session = agent.session(PEER_V4)?;
    eprintln!(
        "in 5 s: {} echoes out, {} back (XDP: {}), round trip {} µs",
        count(&counters[0], "echo-packet-output"),
        count(&counters[0], "echo-packet-input"),
        count(&stats, "echo-own"),
        session["echo-rtt-us"]
    );
    ensure!(session["echo-rtt-us"].as_u64().is_some(), "no echo round-trip time: {session:#}");
    let frr_session = frr.peer(AGENT_V4)?;
    ensure!(frr_session["status"] == "up", "{frr_session:#}");

    // The echo path alone fails (FRR's side stops forwarding our echoes;
    // control packets still pass): Down with diagnostic 2 (RFC 5880 §6.8.5),
    // detected by the XDP program's echo timer.
    let changes = agent.state_changes().len();
    run(link.b.command("nft").args(["add", "table", "inet", "echo_cut"]))?;
    run(link.b.command("nft").args([
        "add",
        "chain",
        "inet",
        "echo_cut",
        "fw",
        "{ type filter hook forward priority 0; }",
    ]))?;
    run(link
        .b
        .command("nft")
        .args(["add", "rule", "inet", "echo_cut", "fw", "udp", "dport", "3785", "drop"]))?;
    // The session comes straight back (control packets still flow) and
    // fails again one echo detection time later: the log, not a status
    // poll, sees each Up -> Down.
    wait_for("an Up -> Down with diagnostic 2 in the log", SOON, || {
        Ok(changes_since(&agent, changes).into_iter().find(|line| {
            line.field("from") == Some("Up")
                && line.field("to") == Some("Down")
                && line.field("diagnostic") == Some("echo function failed")
        }))
    })?;
    ensure!(
        agent.kernel_events().iter().any(|event| event.field("kind") == Some("echo")),
        "no kernel echo detection: {:#?}",
        agent.kernel_events()
    );
    run(link.b.command("nft").args(["delete", "table", "inet", "echo_cut"]))?;
    let mut agent = agent;
    agent.stop()?;
    Ok(())
}

release_tests!(the_agents_echo_comes_back_through_frrs_side {
    the_agents_echo_comes_back_through_frrs_side_frr_8_4: FrrRelease::V8_4,
    the_agents_echo_comes_back_through_frrs_side_frr_10_7: FrrRelease::V10_7,
});

/// The agent takes the peer's MAC for each echo packet from its neighbour
/// table, which rtnetlink's notifications keep current. FRR's side changes
/// its MAC and announces it (`arp_notify`: a gratuitous ARP, which updates
/// the agent's kernel entry): the next echoes go to the new MAC and keep
/// coming back. Sent to the old MAC, the peer's stack would drop them (not
/// its address) and the session would fail with diagnostic 2. On both
/// transmit paths: `udp` opens the table at the first echo packet, `packet`
/// shares the one it opened for control frames.
fn the_agents_echo_follows_a_peer_whose_mac_changes(transmit: &str) -> anyhow::Result<()> {
    require_root()?;
    let link = Link::new("em")?;
    set_sysctl(&link.b, "net.ipv4.ip_forward", "1")?;
    set_sysctl(&link.b, &format!("net.ipv4.conf.{}.arp_notify", link.b_if), "1")?;
    let frr = Frr::start(&link.b, &frr_config(&[frr_peer(AGENT_V4, PEER_V4, false, &[])]))?;
    let config = documents(&[
        bfd_profile(
            "echo",
            "receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3, echoMode: true, echoInterval: 50",
        ),
        bgp_peer("peer", PEER_V4, AGENT_V4, "echo", ""),
    ]);
    let args =
        AgentArgs { extra: vec!["--transmit".into(), transmit.into()], ..AgentArgs::new(&link.a_if, config) };
    let agent = Agent::start_with(&link.a, "A", args)?;
    agent.wait_status(PEER_V4, "up", UP_WITHIN)?;
    frr.wait_status(AGENT_V4, "up", SOON)?;
    wait_for("echoes coming back", SOON, || Ok((echoes_back(&agent)? >= 10).then_some(())))?;

    let changes = agent.state_changes().len();
    let new_mac = "02:00:00:77:00:01";
    link.b.ip(["link", "set", "dev", &link.b_if, "address", new_mac])?;
    // The gratuitous ARP updates the agent's kernel entry.
    wait_for("the agent's kernel to learn the new MAC", SOON, || {
        let neighbours = bfd_lab::lab::run_stdout(
            link.a.command("ip").args(["neigh", "show", PEER_V4, "dev", &link.a_if]),
        )?;
        Ok(neighbours.contains(new_mac).then_some(()))
    })?;
    let back_before = echoes_back(&agent)?;
    std::thread::sleep(Duration::from_secs(3));
    let back = echoes_back(&agent)? - back_before;
    eprintln!("--transmit {transmit}: in the 3 s after the peer's MAC changed: {back} echoes back");
    // At 50 ms, 3 s is 60 echoes; the session's echo detection time is
    // 150 ms, so a lost stream would be a state change below.
    ensure!(back >= 45, "{back} echoes came back in 3 s after the MAC changed");
    let new = changes_since(&agent, changes);
    ensure!(new.is_empty(), "the session changed state after the peer's MAC changed: {new:#?}");
    let mut agent = agent;
    agent.stop()?;
    Ok(())
}

#[bfd_lab::test]
fn the_agents_echo_follows_a_peer_whose_mac_changes_on_the_udp_path() -> anyhow::Result<()> {
    the_agents_echo_follows_a_peer_whose_mac_changes("udp")
}

#[bfd_lab::test]
fn the_agents_echo_follows_a_peer_whose_mac_changes_on_the_packet_path() -> anyhow::Result<()> {
    the_agents_echo_follows_a_peer_whose_mac_changes("packet")
}

/// Our echoes that came back, as the XDP program counted them.
fn echoes_back(agent: &Agent) -> anyhow::Result<u64> {
    Ok(count(&agent.xdp_stats()?, "echo-own"))
}

// ---------------------------------------------------------------------------
// 10. Reload
// ---------------------------------------------------------------------------

fn a_reload_renegotiates_the_changed_session_and_leaves_the_other_alone(
    release: FrrRelease,
) -> anyhow::Result<()> {
    require_root()?;
    let link = Link::new("rl")?;
    // Two sessions between one FRR and one agent, from two of the agent's
    // addresses. (bfdd 8.4 keys single-hop peers by the peer's address: a
    // second `peer X local-address Z` replaces the first, so the two
    // addresses are on the agent's side.)
    let local_2 = "10.77.0.12";
    link.a.ip(["addr", "add", &format!("{local_2}/24"), "dev", &link.a_if])?;
    let frr = Frr::start_release(
        &link.b,
        release,
        &frr_config(&[frr_peer(AGENT_V4, PEER_V4, false, &[]), frr_peer(local_2, PEER_V4, false, &[])]),
    )?;
    let config = |one_tx: u32| {
        documents(&[
            bfd_profile(
                "one",
                &format!("receiveInterval: 50, transmitInterval: {one_tx}, detectMultiplier: 3"),
            ),
            bfd_profile("two", "receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3"),
            bgp_peer("peer-1", PEER_V4, AGENT_V4, "one", ""),
            bgp_peer("peer-2", PEER_V4, local_2, "two", ""),
        ])
    };
    let agent = Agent::start(&link.a, "A", &link.a_if, &config(50))?;
    let session = |local: &str| -> anyhow::Result<Value> {
        agent
            .show_peers()?
            .into_iter()
            .find(|s| s["peer"] == PEER_V4 && s["local"] == local)
            .with_context(|| format!("the agent has no session from {local}"))
    };
    for (local, frr_peer) in [(AGENT_V4, AGENT_V4), (local_2, local_2)] {
        wait_for(&format!("both sides of {local} up at 50 ms"), UP_WITHIN, || {
            let (ours, theirs) = (session(local)?, frr.peer(frr_peer)?);
            Ok((ours["status"] == "up"
                && ours["remote-transmit-interval"] == 50
                && theirs["status"] == "up"
                && theirs["remote-transmit-interval"] == 50)
                .then_some(()))
        })?;
    }
    let changes = agent.state_changes().len();
    let ids = [session(AGENT_V4)?["id"].clone(), session(local_2)?["id"].clone()];

    // The file changes: profile one sends at 100 ms. FRR's side of the
    // link sees every packet (no XDP program there absorbs them).
    let mut capture = Capture::start(&link.b, &link.b_if, "udp port 3784")?;
    agent.rewrite_config(0, &config(100))?;
    let applied =
        wait_for("the reload", SOON, || Ok(agent.log_lines("configuration applied").into_iter().nth(1)))?;
    ensure!(applied.field("summary") == Some("0 added, 0 removed, 1 changed, 1 unchanged"), "{applied}");
    let frr_one = wait_for("FRR sees 100 ms from the agent", SOON, || {
        Ok(Some(frr.peer(AGENT_V4)?).filter(|s| s["remote-transmit-interval"] == 100))
    })?;
    let frr_two = frr.peer(local_2)?;
    ensure!(frr_two["remote-transmit-interval"] == 50, "the unchanged session changed: {frr_two:#}");
    let one = session(AGENT_V4)?;
    ensure!(one["transmit-interval"] == 100, "{one:#}");
    // A few more packets into the capture after FRR took the new interval
    // (its Final is sent at once; this covers the capture's own delay).
    std::thread::sleep(Duration::from_millis(300));

    // Poll/Final on the changed session only.
    let packets = capture.bfd_packets()?;
    let from_to = |p: &&BfdPacket, from: &str, to: &str| p.source == from && p.destination == to;
    let poll =
        packets.iter().find(|p| from_to(p, AGENT_V4, PEER_V4) && p.poll && p.desired_min_tx_us == 100_000);
    let final_ = poll.and_then(|poll| {
        packets.iter().find(|p| from_to(p, PEER_V4, AGENT_V4) && p.final_ && p.at_us >= poll.at_us)
    });
    let polled_two = packets.iter().any(|p| from_to(&p, local_2, PEER_V4) && p.poll);
    ensure!(
        poll.is_some() && final_.is_some() && !polled_two,
        "Poll/Final: changed session poll {poll:?} final {final_:?}, unchanged session polled {polled_two}, in {} \
         packets",
        packets.len()
    );

    // Nothing went down, on either side, and the sessions are the same ones.
    let new = changes_since(&agent, changes);
    ensure!(new.is_empty(), "state changes on reload: {new:#?}");
    for (index, local) in [AGENT_V4, local_2].into_iter().enumerate() {
        let counters = frr.peer_counters(local)?;
        ensure!(count(&counters, "session-down") == 0 && count(&counters, "session-up") == 1, "{counters:#}");
        let id = &session(local)?["id"];
        ensure!(*id == ids[index], "the session from {local} was replaced: id {} -> {id}", ids[index]);
    }
    ensure!(frr_one["status"] == "up", "{frr_one:#}");

    // An explicit reload, and a SIGHUP, with nothing changed touch nothing.
    let summary = agent.reload()?;
    ensure!(summary.contains("0 changed, 2 unchanged"), "reload: {summary}");
    agent.hangup()?;
    let applied = wait_for("the SIGHUP reload", SOON, || {
        Ok(agent.log_lines("configuration applied").into_iter().nth(3))
    })?;
    ensure!(applied.field("summary") == Some("0 added, 0 removed, 0 changed, 2 unchanged"), "{applied}");
    std::thread::sleep(Duration::from_millis(500));
    let new = changes_since(&agent, changes);
    ensure!(new.is_empty(), "state changes on reload: {new:#?}");
    let mut agent = agent;
    agent.stop()?;
    Ok(())
}

release_tests!(a_reload_renegotiates_the_changed_session_and_leaves_the_other_alone {
    a_reload_renegotiates_the_changed_session_and_leaves_the_other_alone_frr_8_4: FrrRelease::V8_4,
    a_reload_renegotiates_the_changed_session_and_leaves_the_other_alone_frr_10_7: FrrRelease::V10_7,
});

// ---------------------------------------------------------------------------
// 11. bfd-agent check
// ---------------------------------------------------------------------------

/// The profiles MetalLB's BFD guide recommends, peers using them, and
/// documents of other kinds.
const METALLB_PROFILES: &str = "\
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata:
  name: aggressive
  namespace: metallb-system
spec:
  receiveInterval: 50
  transmitInterval: 50
  detectMultiplier: 3
  echoMode: true
  echoInterval: 50
  minimumTtl: 254
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata:
  name: conservative
  namespace: metallb-system
spec:
  receiveInterval: 1000
  transmitInterval: 1000
  detectMultiplier: 5
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata:
  name: balanced
  namespace: metallb-system
spec:
  receiveInterval: 200
  transmitInterval: 200
  detectMultiplier: 3
  minimumTtl: 254
";

const METALLB_PEERS: &str = "\
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: tor-a
  namespace: metallb-system
spec:
  myASN: 64500
  peerASN: 64501
  peerAddress: 10.0.0.1
  sourceAddress: 10.0.0.2
  bfdProfile: aggressive
---
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata:
  name: tor-b
  namespace: metallb-system
spec:
  myASN: 64500
  peerASN: 64502
  peerAddress: 10.0.1.1
  bfdProfile: conservative
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: remote
  namespace: metallb-system
spec:
  myASN: 64500
  peerASN: 64503
  peerAddress: 192.0.2.10
  ebgpMultiHop: true
  bfdProfile: balanced
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: pool
  namespace: metallb-system
spec:
  addresses:
  - 198.51.100.0/24
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: adv
  namespace: metallb-system
spec:
  ipAddressPools: [pool]
";

/// `bfd-agent check --config FILE...`: (exit success, stdout, stderr).
fn check(files: &[std::path::PathBuf]) -> anyhow::Result<(bool, String, String)> {
    let mut command = Command::new(bfd_lab::lab::agent_binary()?);
    command.arg("check");
    for file in files {
        command.arg("--config").arg(file);
    }
    let output = command.output()?;
    Ok((
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

#[bfd_lab::test]
fn check_accepts_metallb_configs_and_names_file_document_and_field_of_each_error() -> anyhow::Result<()> {
    let dir = TempDir::new("chk")?;
    // Valid: one file, and the same split in two.
    let whole = dir.join("metallb.yaml");
    std::fs::write(&whole, format!("{METALLB_PROFILES}---\n{METALLB_PEERS}"))?;
    let (ok, stdout, stderr) = check(std::slice::from_ref(&whole))?;
    ensure!(ok, "a valid config was refused:\n{stdout}{stderr}");
    ensure!(stdout.contains("3 BFD sessions"), "summary:\n{stdout}");
    let (profiles, peers) = (dir.join("profiles.yaml"), dir.join("peers.yaml"));
    std::fs::write(&profiles, METALLB_PROFILES)?;
    std::fs::write(&peers, METALLB_PEERS)?;
    let (ok, stdout, stderr) = check(&[profiles.clone(), peers])?;
    ensure!(ok, "a valid config in two files was refused:\n{stdout}{stderr}");

    // Each broken config: (name, the documents, what the message must name).
    let fast = "receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3";
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "unknown profile",
            documents(&[bfd_profile("fast", fast), bgp_peer("peer-x", "10.0.0.1", "10.0.0.2", "nosuch", "")]),
            vec!["BGPPeer metallb-system/peer-x", "spec.bfdProfile", "nosuch"],
        ),
        (
            "receiveInterval out of range",
            documents(&[
                bfd_profile("bad", "receiveInterval: 5, transmitInterval: 50, detectMultiplier: 3"),
                bgp_peer("peer-y", "10.0.0.1", "10.0.0.2", "bad", ""),
            ]),
            vec!["BFDProfile metallb-system/bad", "spec.receiveInterval", "5", "out of range"],
        ),
        (
            "detectMultiplier out of range",
            documents(&[
                bfd_profile("bad", "receiveInterval: 50, transmitInterval: 50, detectMultiplier: 256"),
                bgp_peer("peer-y", "10.0.0.1", "10.0.0.2", "bad", ""),
            ]),
            vec!["BFDProfile metallb-system/bad", "spec.detectMultiplier", "256"],
        ),
        (
            "profile in another namespace",
            documents(&[
                bfd_profile("fast", fast).replace("namespace: metallb-system", "namespace: elsewhere"),
                bgp_peer("peer-z", "10.0.0.1", "10.0.0.2", "fast", ""),
            ]),
            vec!["BGPPeer metallb-system/peer-z", "spec.bfdProfile", "elsewhere"],
        ),
        (
            "echo mode on a multihop peer",
            documents(&[
                bfd_profile("echo", &format!("{fast}, echoMode: true")),
                bgp_peer("peer-m", "192.0.2.1", "10.0.0.2", "echo", "ebgpMultiHop: true"),
            ]),
            vec!["BGPPeer metallb-system/peer-m", "echoMode"],
        ),
    ];
    let mut failures = Vec::new();
    for (index, (name, text, wanted)) in cases.iter().enumerate() {
        let file = dir.join(&format!("broken-{index}.yaml"));
        std::fs::write(&file, text)?;
        let (ok, stdout, stderr) = check(std::slice::from_ref(&file))?;
        let file_name = file.display().to_string();
        let missing: Vec<&str> = std::iter::once(file_name.as_str())
            .chain(wanted.iter().copied())
            .filter(|w| !stderr.contains(w))
            .collect();
        if ok || !missing.is_empty() {
            failures.push(format!(
                "{name}: exit ok {ok}, missing {missing:?}\nstdout: {stdout}\nstderr: {stderr}"
            ));
        } else {
            eprintln!("{name}: {}", stderr.lines().next().unwrap_or_default());
        }
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("\n"));
    }
    Ok(())
}

/// Echo between two agents over IPv6: one sends our echo frames to the
/// other's MAC (from the neighbour table, over netlink) with its own address
/// as source and destination, the other's XDP program reflects them
/// (`ip_forward` off; generic mode, see above), and the sender's XDP program
/// times them: round-trip times and no echo failure. (Cutting the echo path
/// alone is tested with FRR, whose forwarding nftables can cut: XDP_TX and
/// AF_PACKET both bypass nftables.)
#[bfd_lab::test]
fn two_agents_run_echo_over_ipv6() -> anyhow::Result<()> {
    require_root()?;
    let link = Link::new("e6")?;
    let echo_profile =
        "receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3, echoMode: true, echoInterval: 50";
    let plain_profile = "receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3";
    let config_a =
        documents(&[bfd_profile("echo", echo_profile), bgp_peer("b", PEER_V6, AGENT_V6, "echo", "")]);
    let config_b =
        documents(&[bfd_profile("plain", plain_profile), bgp_peer("a", AGENT_V6, PEER_V6, "plain", "")]);
    let generic = |iface: &str, config: String| AgentArgs {
        mode: Some("generic".into()),
        ..AgentArgs::new(iface, config)
    };
    let a = Agent::start_with(&link.a, "A", generic(&link.a_if, config_a))?;
    let b = Agent::start_with(&link.b, "B", generic(&link.b_if, config_b))?;
    a.wait_status(PEER_V6, "up", UP_WITHIN)?;
    b.wait_status(AGENT_V6, "up", UP_WITHIN)?;
    let session = wait_for("echoes coming back", Duration::from_secs(5), || {
        Ok(Some(a.show_counters()?).filter(|c| count(&c[0], "echo-packet-input") >= 40))
    })?;
    let out = count(&session[0], "echo-packet-output");
    ensure!(out >= 40, "{session:#?}");
    let reflected = a.session(PEER_V6)?;
    ensure!(reflected["rtt-max"].as_u64().is_some_and(|max| max > 0), "no round-trip times: {reflected:#}");
    ensure!(count(&b.xdp_stats()?, "echo-reflected") >= 40, "{:#}", b.xdp_stats()?);
    let (changes_a, changes_b) = (a.state_changes().len(), b.state_changes().len());
    std::thread::sleep(Duration::from_secs(2));
    ensure!(
        changes_since(&a, changes_a).is_empty() && changes_since(&b, changes_b).is_empty(),
        "a state change while echo runs: {:#?} {:#?}",
        changes_since(&a, changes_a),
        changes_since(&b, changes_b)
    );

    Ok(())
}

/// The agent -> FRR cut of the passive tests: FRR's timer detects, the
/// agent hears FRR's Down (or times out), both come back after the lift,
/// and the agent has counted its second Down; then the agent stops cleanly.
fn cut_agent_to_frr_and_recover(link: &Link, agent: Agent, frr: &Frr) -> anyhow::Result<()> {
    frr_sees_fast(frr, AGENT_V4)?;
    let changes = agent.state_changes().len();
    let cut = Cut::outgoing_control(&link.a)?;
    frr_detects(frr, AGENT_V4)?;
    let went_down = agent_follows_down(&agent, PEER_V4, changes)?;
    eprintln!("agent after the agent -> FRR cut: {went_down}");
    cut.lift()?;
    agent.wait_status(PEER_V4, "up", BACK_UP_WITHIN)?;
    frr.wait_status(AGENT_V4, "up", SOON)?;
    let counters = agent.show_counters()?;
    ensure!(count(&counters[0], "session-down") == 2, "counters: {counters:#?}");
    let mut agent = agent;
    agent.stop()
}
