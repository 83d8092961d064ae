//! `--kernel-answers` (issue 19), between two agents (root): the end with
//! the larger discriminator hands its steady-state transmission to its XDP
//! program, which answers each of the other end's packets; the other end
//! originates. Checked on the wire at one end of the link, never from the
//! agents' logs alone:
//!
//! - RFC 5880 §6.8.7 for both ends' packets (the answers inherit the
//!   originator's jitter, which leaves the answering kernel a margin:
//!   80-100% of the interval), and no state change;
//! - the answering agent sends (almost) nothing itself: its
//!   `control-packet-output` stays still while the wire carries its
//!   packets at the full rate;
//! - a cut of the originator's packets: the answering end's kernel times
//!   it, its agent takes transmission back and its Down reaches the peer
//!   one Detection Time after the originator's last packet (the originator
//!   detects at the same time: the answers stop with its packets);
//! - after the cut both come Up again and the kernel answers again.
//!
//! Generic XDP (a native XDP_TX on veth reaches the far end only through
//! its own XDP program; generic mode goes through the stack), the two ends
//! joined by a bridge whose port is where the capture runs
//! ([`SwitchedLink`]).

use std::time::Duration;

use anyhow::{Context as _, ensure};
use bfd_lab::{
    agent::{Agent, AgentArgs},
    bird::{self, Bird, BirdRelease},
    e2e::{
        AGENT_V4, BfdPacket, Capture, Cut, Frr, FrrRelease, Link, PEER_V4, SwitchedLink, TxWindow,
        bfd_profile, bgp_peer, count, documents, frr_config, frr_peer,
    },
    lab::{realtime_us, require_root, wait_for},
    release_tests,
};
use bfd_session::table::ANSWERING_DISCRIMINATORS;

/// The lab's peer configurations (`frr_peer`, `bird::bfd_config`) run 50
/// ms x 3: these must match them.
const INTERVAL_MS: u64 = 50;
const DETECT_MULT: u8 = 3;
/// How long the steady state is captured.
const STEADY: Duration = Duration::from_secs(5);
/// The capture's own slack each side of §6.8.7's window.
const CAPTURE_SLACK_US: u64 = 500;
/// The share of intervals that must be inside the window (this VM's
/// stalls show up as single long intervals).
const INSIDE_AT_LEAST: f64 = 0.98;
/// How late after the Detection Time the Down may reach the peer.
const DOWN_SLACK_US: u64 = 5_000;

#[bfd_lab::test]
fn the_larger_discriminator_answers_from_the_kernel_and_the_peer_hears_every_interval() -> anyhow::Result<()>
{
    require_root()?;
    let interval_us = INTERVAL_MS * 1000;
    let switched = SwitchedLink::new("ka")?;
    let link = &switched.link;
    let profile = format!(
        "receiveInterval: {INTERVAL_MS}, transmitInterval: {INTERVAL_MS}, detectMultiplier: {DETECT_MULT}"
    );
    let args = |iface: &str, peer: &str, local: &str| AgentArgs {
        mode: Some("generic".into()),
        extra: vec!["--kernel-answers".into()],
        ..AgentArgs::new(
            iface,
            documents(&[bfd_profile("fast", &profile), bgp_peer("p", peer, local, "fast", "")]),
        )
    };
    let a = Agent::start_with(&link.a, "A", args(&link.a_if, PEER_V4, AGENT_V4))?;
    let b = Agent::start_with(&link.b, "B", args(&link.b_if, AGENT_V4, PEER_V4))?;
    // At the switch: every frame of both ends, the kernel's answers too.
    let mut capture = Capture::start(&switched.switch, &switched.a_port, "udp port 3784")?;
    a.wait_status(PEER_V4, "up", Duration::from_secs(10))?;
    b.wait_status(AGENT_V4, "up", Duration::from_secs(10))?;
    // Who answers: the larger discriminator.
    let session = a.session(PEER_V4)?;
    let (ours, theirs) = (
        session["id"].as_u64().context("A's discriminator")?,
        session["remote-id"].as_u64().context("B's discriminator")?,
    );
    ensure!(ours != theirs, "equal discriminators: {session:#}");
    let (answerer, answerer_address, originator, originator_ns, originator_address) = if ours > theirs {
        (&a, AGENT_V4, &b, &link.b, PEER_V4)
    } else {
        (&b, PEER_V4, &a, &link.a, AGENT_V4)
    };
    eprintln!("discriminators A {ours}, B {theirs}: {answerer_address} answers from the kernel");
    // Past the bring-up's Poll Sequences and the handover.
    std::thread::sleep(Duration::from_secs(1));
    let changes = (a.state_changes().len(), b.state_changes().len());
    let (answerer_sent, originator_sent) =
        (answerer.control_packets_sent()?, originator.control_packets_sent()?);
    let steady_from = realtime_us();
    std::thread::sleep(STEADY);
    let steady_to = realtime_us();
    let answerer_own = answerer.control_packets_sent()? - answerer_sent;
    let originator_own = originator.control_packets_sent()? - originator_sent;
    let steady_changes = (a.state_changes().len() - changes.0, b.state_changes().len() - changes.1);

    // The cut: the originator's packets stop at its output hook.
    let cut_at = realtime_us();
    let cut = Cut::outgoing_control(originator_ns)?;
    wait_for("the answering end to detect", Duration::from_secs(3), || {
        Ok((answerer.session(originator_address)?["status"] == "down").then_some(()))
    })?;
    std::thread::sleep(Duration::from_millis(200));
    drop(cut);
    a.wait_status(PEER_V4, "up", Duration::from_secs(10))?;
    b.wait_status(AGENT_V4, "up", Duration::from_secs(10))?;
    std::thread::sleep(Duration::from_secs(2));
    let answerer_before = answerer.control_packets_sent()?;
    let again_from = realtime_us();
    std::thread::sleep(Duration::from_secs(2));
    let again_to = realtime_us();
    let answerer_again = answerer.control_packets_sent()? - answerer_before;
    let packets = capture.bfd_packets()?;

    // §6.8.7 for both ends in the steady state, as the wire shows them.
    let steady: Vec<BfdPacket> =
        packets.iter().filter(|p| p.at_us >= steady_from && p.at_us <= steady_to).cloned().collect();
    for (who, address) in [("answering", answerer_address), ("originating", originator_address)] {
        TxWindow::measure(&steady, address, interval_us, DETECT_MULT, CAPTURE_SLACK_US).check(
            &format!("the {who} end {address}"),
            STEADY,
            INSIDE_AT_LEAST,
        )?;
    }
    // The originator leaves the answering kernel a margin: its intervals
    // are drawn from 80-100% of the interval, not 75-100% (issue 19,
    // `Session::jittered`), on the wire too.
    let originating =
        TxWindow::measure(&steady, originator_address, interval_us, DETECT_MULT, CAPTURE_SLACK_US);
    TxWindow { low_us: (interval_us * 4 / 5).saturating_sub(CAPTURE_SLACK_US), ..originating }.check(
        &format!("the originating end {originator_address} against 80-100%"),
        STEADY,
        INSIDE_AT_LEAST,
    )?;
    // The answering agent sent next to nothing itself: its kernel did.
    eprintln!(
        "in {STEADY:?}: the answering agent sent {answerer_own} packets itself, the originating agent {originator_own}"
    );
    ensure!(answerer_own <= 2, "the answering agent sent {answerer_own} packets itself in {STEADY:?}");
    let expected = STEADY.as_micros() as u64 / interval_us;
    ensure!(originator_own >= expected * 9 / 10, "the originating agent sent {originator_own} in {STEADY:?}");
    ensure!(steady_changes == (0, 0), "state changes in the steady state (A, B): {steady_changes:?}");

    // The Down: the originator's last packet before the cut, then the
    // answering end's Down, one Detection Time later.
    let detection_time_us = interval_us * u64::from(DETECT_MULT);
    let down = packets
        .iter()
        .find(|p| p.source == answerer_address && p.at_us > cut_at && p.is_down())
        .context("no Down of the answering end after the cut")?;
    let last = packets
        .iter()
        .rfind(|p| p.source == originator_address && p.at_us < down.at_us && p.is_up())
        .context("no packet of the originator's before the Down")?;
    let silence = down.at_us - last.at_us;
    eprintln!("the answering end's Down reached the wire {silence} µs after the originator's last packet");
    ensure!(silence + CAPTURE_SLACK_US >= detection_time_us, "the Down came early: {silence} µs");
    ensure!(silence <= detection_time_us + DOWN_SLACK_US, "the Down came {silence} µs after the last packet");

    // Up again: the kernel answers again.
    let again: Vec<BfdPacket> =
        packets.iter().filter(|p| p.at_us >= again_from && p.at_us <= again_to).cloned().collect();
    let answers = again.iter().filter(|p| p.source == answerer_address && p.is_up()).count() as u64;
    eprintln!(
        "after the cut, in 2 s: {answers} packets of the answering end, {answerer_again} sent by its agent"
    );
    ensure!(
        answers >= 2_000_000 / interval_us * 9 / 10,
        "only {answers} packets of the answering end in 2 s"
    );
    ensure!(answerer_again <= 2, "the answering agent sent {answerer_again} packets itself after the cut");
    Ok(())
}

/// A peer that always originates (FRR's bfdd, BIRD), as users run them.
#[derive(Clone, Copy, Debug)]
enum Originator {
    Frr(FrrRelease),
    Bird(BirdRelease),
}

/// The peer's daemon, kept running for the test.
enum Running {
    Frr(Frr),
    Bird(Bird),
}

impl Running {
    /// The peer's state changes so far: FRR's up and down counters, BIRD's
    /// logged events (`debug { events }` logs every one).
    fn state_changes(&self) -> anyhow::Result<u64> {
        Ok(match self {
            Running::Frr(frr) => {
                let counters = frr.peer_counters(AGENT_V4)?;
                count(&counters, "session-up") + count(&counters, "session-down")
            }
            Running::Bird(bird) => bird.state_changes().len() as u64,
        })
    }
}

/// `--kernel-answers` against a peer that always originates: the agent's
/// session draws its discriminator from the top of the space
/// (`ANSWERING_DISCRIMINATORS`), so it is the larger 31 times in 32 and the
/// kernel answers the peer's packets: the agent sends (almost) nothing
/// itself, our packets on the wire follow the peer's one for one (its
/// jitter inherited, never sooner than §6.8.7's 75% after our previous
/// one), and neither end sees a state change. When the peer's
/// discriminator is the larger (1 in 32), the agent originates and must
/// send at the full rate inside §6.8.7's window: checked either way.
/// Captured at the peer's end (generic XDP: the answers go out through the
/// agent's veth's stack).
fn a_peer_that_originates_is_answered_by_the_kernel(peer: Originator) -> anyhow::Result<()> {
    require_root()?;
    let interval_us = INTERVAL_MS * 1000;
    let link = Link::new("kp")?;
    let running = match peer {
        Originator::Frr(release) => Running::Frr(Frr::start_release(
            &link.b,
            release,
            &frr_config(&[frr_peer(AGENT_V4, PEER_V4, false, &[])]),
        )?),
        Originator::Bird(release) => Running::Bird(Bird::start_release(
            &link.b,
            release,
            &bird::bfd_config(PEER_V4, AGENT_V4, PEER_V4),
        )?),
    };
    let profile = format!(
        "receiveInterval: {INTERVAL_MS}, transmitInterval: {INTERVAL_MS}, detectMultiplier: {DETECT_MULT}"
    );
    let agent = Agent::start_with(
        &link.a,
        "A",
        AgentArgs {
            mode: Some("generic".into()),
            extra: vec!["--kernel-answers".into()],
            ..AgentArgs::new(
                &link.a_if,
                documents(&[bfd_profile("fast", &profile), bgp_peer("p", PEER_V4, AGENT_V4, "fast", "")]),
            )
        },
    )?;
    let mut capture = Capture::start(&link.b, &link.b_if, "udp port 3784")?;
    wait_for(&format!("Up at {INTERVAL_MS} ms with {peer:?}"), Duration::from_secs(10), || {
        Ok(agent.peer(PEER_V4)?.filter(|session| {
            session["status"] == "up" && session["remote-transmit-interval"] == INTERVAL_MS
        }))
    })?;
    // Past the bring-up's Poll Sequences and the handover to the kernel.
    std::thread::sleep(Duration::from_secs(1));
    let session = agent.session(PEER_V4)?;
    let (ours, theirs) = (
        session["id"].as_u64().context("our discriminator")? as u32,
        session["remote-id"].as_u64().context("the peer's discriminator")? as u32,
    );
    ensure!(
        ANSWERING_DISCRIMINATORS.contains(&ours),
        "our discriminator {ours:#x} is outside the answering range: {session:#}"
    );
    let answering = ours > theirs;
    eprintln!(
        "{peer:?}: discriminators ours {ours:#x}, theirs {theirs:#x}: {}",
        if answering { "the kernel answers" } else { "the agent originates (the peer's is the larger)" }
    );
    let (sent_before, peer_changes, our_changes) =
        (agent.control_packets_sent()?, running.state_changes()?, agent.state_changes().len());
    let steady_from = realtime_us();
    std::thread::sleep(STEADY);
    let steady_to = realtime_us();
    let sent = agent.control_packets_sent()? - sent_before;
    let peer_changes = running.state_changes()? - peer_changes;
    let our_changes = agent.state_changes().len() - our_changes;
    let packets = capture.bfd_packets()?;
    let steady: Vec<BfdPacket> =
        packets.iter().filter(|p| p.at_us >= steady_from && p.at_us <= steady_to).cloned().collect();
    let theirs = TxWindow::measure(&steady, PEER_V4, interval_us, DETECT_MULT, CAPTURE_SLACK_US);
    let ours = TxWindow::measure(&steady, AGENT_V4, interval_us, DETECT_MULT, CAPTURE_SLACK_US);
    let expected = STEADY.as_micros() as u64 / interval_us;
    eprintln!("{peer:?}: the agent sent {sent} packets itself in {STEADY:?} ({expected} intervals)");
    if answering {
        // The answers inherit the peer's timing (one per peer packet), so
        // its share inside §6.8.7's window is the peer's, printed for the
        // record: bfdd 10.7 runs late by up to 1-2 ms, BIRD 2.20 early at
        // times. What the kernel and the agent guarantee is checked: never
        // sooner than 75% of our interval after our previous packet (a
        // peer packet that early is answered by the agent when the floor
        // ends: `EVENT_ANSWER_OWED`), an answer for nearly every peer
        // packet, and no interval of ours longer than the peer's longest
        // (before the owed answers, BIRD's early packets made ours up to
        // 80 ms).
        theirs.report(&format!("{peer:?}, the peer's"));
        ours.report(&format!("{peer:?}, ours (the kernel's answers)"));
        ensure!(
            sent <= expected / 10,
            "the kernel should answer, yet the agent sent {sent} packets itself in {STEADY:?}"
        );
        let early: Vec<u64> = ours.intervals_us.iter().copied().filter(|i| *i < ours.low_us).collect();
        ensure!(
            early.is_empty(),
            "answers sooner than 75% of the interval after our previous packet: {early:?}"
        );
        ensure!(
            ours.intervals_us.len() as u64 >= expected * 9 / 10,
            "only {} intervals of ours in {STEADY:?}: peer packets went unanswered",
            ours.intervals_us.len()
        );
        let longest = ours.intervals_us.iter().copied().max().unwrap_or(0);
        let peers_longest = theirs.intervals_us.iter().copied().max().unwrap_or(0);
        eprintln!("{peer:?}: the longest interval, ours {longest} µs, the peer's {peers_longest} µs");
        ensure!(
            longest <= peers_longest.max(interval_us) + CAPTURE_SLACK_US,
            "a gap of {longest} µs in our packets, longer than the peer's longest ({peers_longest} µs)"
        );
    } else {
        ensure!(sent >= expected * 9 / 10, "the agent originates, yet sent only {sent} in {STEADY:?}");
        ours.check(&format!("{peer:?}, ours at the peer's end"), STEADY, INSIDE_AT_LEAST)?;
    }
    ensure!(
        (peer_changes, our_changes) == (0, 0),
        "state changes in the steady state (the peer's, ours): {:?}",
        (peer_changes, our_changes)
    );
    Ok(())
}

release_tests!(a_peer_that_originates_is_answered_by_the_kernel {
    a_peer_that_originates_is_answered_by_the_kernel_frr_10_7: Originator::Frr(FrrRelease::V10_7),
    a_peer_that_originates_is_answered_by_the_kernel_bird_2_20: Originator::Bird(BirdRelease::V2_20),
});
