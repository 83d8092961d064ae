//! Many sessions on the wire (issue 19, root): two agents with 300
//! sessions between them at 50 ms x 3, each session on addresses of its
//! own, joined by a bridge whose port is where the capture runs
//! ([`SwitchedLink`]). One session alone (`agent_wire_timing`) never shows
//! what the engine does with many: it lets a periodic packet go early by up
//! to the time its last 32 packets took (the wake slack, at most 5 ms and
//! 10% of the interval) so that one wake sends many sessions' packets.
//! Checked on the wire, for every session and both ends:
//!
//! - RFC 5880 §6.8.7: the intervals between periodic packets inside 75-100%
//!   of the interval (widened by the capture's slack), the 75% floor
//!   broken by next to none, and the jitter still spread over the range
//!   ("reduced by a random value of 0 to 25%"), not piled at one end;
//! - the grouping itself: the packets of one end leave in bursts of many
//!   sessions (with the window of one session's 1 ms they would be about 6
//!   a burst here);
//! - every session Up at both ends and no state change.
//!
//! Run on the default `udp` transmit path, on `--transmit packet`, and
//! with `--kernel-answers` (generic XDP: a native XDP_TX on a veth reaches
//! the bridge only through an XDP program on its port), where one end of
//! each session originates and the other's kernel answers: there the
//! agents themselves send about half the packets on the wire; and with
//! 200 sessions at 10 ms x 3 (20,000 packets a second from each end, where
//! the slack is capped at 10% of the interval, 1 ms).
//!
//! And bring-up at scale: 2000 sessions started against 2000 waiting ones,
//! every session end on its way Up without going back or losing a packet
//! (a lost one costs its session a second at the slow rate), all Up within
//! the 10 s, captured at the same bridge.
//!
//! And a restart past 4096 sessions: every session adopted, none seen to
//! flap by the other agent (an adoption map of 4096 entries once left the
//! rest to start anew). And a restart with `--kernel-answers`, where the
//! restarting agent originated half the sessions: the other end takes
//! them over while it is away, and nobody flaps.
//!
//! And detection at scale, where the kernel cannot allocate most sessions'
//! timers and its sweep times them: a cut of 1000 sessions' control
//! packets, and of 1000 sessions' echoes, each detected on time.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use anyhow::{Context as _, ensure};
use bfd_lab::{
    agent::{Agent, AgentArgs},
    e2e::{
        BfdPacket, Capture, SwitchedLink, TxWindow, address_ends, bfd_profile, bgp_peer, count, documents,
    },
    lab::{realtime_us, require_root, wait_for},
};

/// How many sessions at which interval.
#[derive(Clone, Copy)]
struct Shape {
    sessions: usize,
    interval_us: u64,
}

/// 6000 packets a second from each end: the wake slack's 5 ms cap.
const AT_50MS: Shape = Shape { sessions: 300, interval_us: 50_000 };
/// 20,000 packets a second from each end: the slack's 10%-of-the-interval
/// cap (1 ms, no wider than the window a session has alone).
const AT_10MS: Shape = Shape { sessions: 200, interval_us: 10_000 };
const DETECT_MULT: u8 = 3;
/// How long the steady state is captured.
const STEADY: Duration = Duration::from_secs(6);
/// The capture's own slack each side of §6.8.7's window.
const CAPTURE_SLACK_US: u64 = 500;
/// The share of all intervals that must be inside the window (the VM's
/// stalls show up as single long intervals).
const INSIDE_AT_LEAST: f64 = 0.99;
/// The share of intervals that may be below the 75% floor: a packet held
/// up in a stall and the next one on time make one short interval; the
/// floor is not the engine's to break.
const BELOW_FLOOR_AT_MOST: f64 = 0.002;
/// The same at 10 ms, where a stall of 2.5 ms (not 12.5) already makes a
/// short interval: measured 316-692 of about 293,000 (0.11-0.24%) with
/// the build before the sweep and 325-1375 (0.11-0.47%) with it, on this
/// VM on one day, so 0.2% failed either build at times.
const BELOW_FLOOR_AT_MOST_AT_10MS: f64 = 0.006;
/// A new burst on the wire: this long without a packet from that end. The
/// engine's wakes are about 5 ms apart here, a burst's packets some 10-20
/// µs.
const BURST_GAP_US: u64 = 250;
/// Packets per burst at least: at 50 ms 6000 packets a second per end are
/// 6 a millisecond, about 30 in the 5 ms wake slack and about 6 in the 1
/// ms window a session has alone (measured: 23.6-26.1, and 7.7 with the
/// slack taken out); at 10 ms 20 a millisecond, about 20 in its 1 ms.
const PACKETS_PER_BURST_AT_LEAST: f64 = 12.0;
/// The same with kernel answers: each end originates half of its packets
/// (about 15 a wake) and its kernel answers the other end's bursts
/// (measured: 15.5-15.6).
const PACKETS_PER_BURST_ANSWERED_AT_LEAST: f64 = 10.0;

/// Session `index`'s address at one end: A in 10.78.0-1.x, B in
/// 10.78.128-129.x (`address_ends` puts them on-link, /16).
fn address(a_side: bool, index: usize) -> String {
    let base = if a_side { 0 } else { 128 };
    format!("10.78.{}.{}", base + index / 250, index % 250 + 1)
}

fn config(a_side: bool, shape: Shape) -> String {
    profile_config(a_side, shape, "")
}

/// Every session of `shape` under one profile at the shape's interval,
/// with `extra` profile fields (`, echoMode: true`).
fn profile_config(a_side: bool, shape: Shape, extra: &str) -> String {
    let ms = shape.interval_us / 1000;
    let mut docs = vec![bfd_profile(
        "fast",
        &format!("receiveInterval: {ms}, transmitInterval: {ms}, detectMultiplier: {DETECT_MULT}{extra}"),
    )];
    for index in 0..shape.sessions {
        let (local, peer) = (address(a_side, index), address(!a_side, index));
        docs.push(bgp_peer(&format!("s{index}"), &peer, &local, "fast", ""));
    }
    documents(&docs)
}

/// Up and Down events of every session so far (the `session-up` and
/// `session-down` counters).
fn state_changes(agent: &Agent) -> anyhow::Result<u64> {
    let counters = agent.show_counters()?;
    Ok(counters.iter().map(|session| count(session, "session-up") + count(session, "session-down")).sum())
}

fn up_count(agent: &Agent) -> anyhow::Result<usize> {
    Ok(agent.show_peers()?.iter().filter(|session| session["status"] == "up").count())
}

/// The mean number of packets per burst in one end's packets (in time
/// order; stamps from two CPUs may be a little out of it): a burst ends
/// where the wire is quiet for [`BURST_GAP_US`].
fn packets_per_burst(packets: &[&BfdPacket]) -> f64 {
    let quiet = |pair: &[&BfdPacket]| pair[1].at_us.saturating_sub(pair[0].at_us) > BURST_GAP_US;
    let bursts = 1 + packets.windows(2).filter(|pair| quiet(pair)).count();
    packets.len() as f64 / bursts as f64
}

/// Two nodes joined by a bridge, addressed for `sessions` sessions: each
/// session's ends (A's address, B's).
fn switched_link(prefix: &str, sessions: usize) -> anyhow::Result<(SwitchedLink, Vec<(String, String)>)> {
    let switched = SwitchedLink::new(prefix)?;
    let link = &switched.link;
    let ends: Vec<(String, String)> =
        (0..sessions).map(|index| (address(true, index), address(false, index))).collect();
    address_ends(
        &link.a,
        &link.a_if,
        &link.b,
        &link.b_if,
        ends.iter().map(|(a, b)| (a.as_str(), b.as_str())),
    )?;
    Ok((switched, ends))
}

/// How many of the agent's sessions are Up (counted by its engine when
/// asked).
fn sessions_up(agent: &Agent) -> anyhow::Result<u64> {
    agent.status()?["sessions_up"].as_u64().context("show status has no sessions_up")
}

/// Waits (a minute at most) for all `sessions` Up at both agents.
fn wait_all_up(a: &Agent, b: &Agent, sessions: usize) -> anyhow::Result<()> {
    wait_for("every session Up at both ends", Duration::from_secs(60), || {
        Ok((sessions_up(a)? == sessions as u64 && sessions_up(b)? == sessions as u64).then_some(()))
    })
}

/// What the agents run with.
#[derive(Clone, Copy)]
enum Variant {
    /// The given `run` arguments.
    Args(&'static [&'static str]),
    /// `--kernel-answers`, generic XDP.
    KernelAnswers,
}

fn run(prefix: &str, shape: Shape, variant: Variant) -> anyhow::Result<()> {
    let Shape { sessions, interval_us } = shape;
    require_root()?;
    let (switched, ends) = switched_link(prefix, sessions)?;
    let link = &switched.link;
    let args = |iface: &str, a_side: bool| match variant {
        Variant::Args(args) => AgentArgs {
            extra: args.iter().map(|arg| (*arg).to_owned()).collect(),
            ..AgentArgs::new(iface, config(a_side, shape))
        },
        Variant::KernelAnswers => generic_args(iface, a_side, shape, &["--kernel-answers"]),
    };
    let a = Agent::start_with(&link.a, "A", args(&link.a_if, true))?;
    let b = Agent::start_with(&link.b, "B", args(&link.b_if, false))?;
    wait_for("every session Up at both ends", Duration::from_secs(30), || {
        Ok((up_count(&a)? == sessions && up_count(&b)? == sessions).then_some(()))
    })?;
    // Past the bring-up's Poll Sequences, and the engine has measured its
    // packet rate (once a second) and widened its window.
    std::thread::sleep(Duration::from_secs(3));
    let changes = (state_changes(&a)?, state_changes(&b)?);
    let own = a.control_packets_sent()? + b.control_packets_sent()?;
    let mut capture = Capture::start(&switched.switch, &switched.a_port, "udp port 3784")?;
    std::thread::sleep(STEADY);
    let own = a.control_packets_sent()? + b.control_packets_sent()? - own;
    let packets = capture.bfd_packets()?;
    let changes = (state_changes(&a)? - changes.0, state_changes(&b)? - changes.1);
    let up = (up_count(&a)?, up_count(&b)?);

    let mut by_source: HashMap<&str, Vec<BfdPacket>> = HashMap::new();
    for packet in &packets {
        by_source.entry(packet.source.as_str()).or_default().push(packet.clone());
    }
    let (mut intervals, mut outside, mut below_floor, mut lower_half) = (0usize, 0usize, 0usize, 0usize);
    let mut worst: Option<(f64, String)> = None;
    for (a_address, b_address) in &ends {
        for source in [a_address, b_address] {
            let theirs = by_source.get(source.as_str()).map(Vec::as_slice).unwrap_or_default();
            let window = TxWindow::measure(theirs, source, interval_us, DETECT_MULT, CAPTURE_SLACK_US);
            // Every session end sent on time: a capture of STEADY holds
            // at least 90% of the intervals it can hold.
            let expected = STEADY.as_micros() as u64 / interval_us;
            ensure!(
                window.intervals_us.len() as u64 >= expected * 9 / 10,
                "{source}: only {} periodic intervals in {STEADY:?}",
                window.intervals_us.len()
            );
            intervals += window.intervals_us.len();
            outside += window.outside().len();
            below_floor += window.intervals_us.iter().filter(|i| **i < window.low_us).count();
            lower_half += window.intervals_us.iter().filter(|i| **i < interval_us * 7 / 8).count();
            let share = window.share_inside();
            if worst.as_ref().is_none_or(|(least, _)| share < *least) {
                worst = Some((share, source.clone()));
            }
        }
    }
    let intervals_f = intervals.max(1) as f64;
    let inside = 1.0 - outside as f64 / intervals_f;
    let (below, lower) = (below_floor as f64 / intervals_f, lower_half as f64 / intervals_f);
    let a_addresses: HashSet<&str> = ends.iter().map(|(a, _)| a.as_str()).collect();
    let (a_packets, b_packets): (Vec<&BfdPacket>, Vec<&BfdPacket>) =
        packets.iter().partition(|packet| a_addresses.contains(packet.source.as_str()));
    let bursts = (packets_per_burst(&a_packets), packets_per_burst(&b_packets));
    eprintln!(
        "{sessions} sessions at {interval_us} µs x 2 ends in {STEADY:?}: {intervals} intervals, {:.3}% inside §6.8.7's window, \
         {below_floor} below 75% (-{CAPTURE_SLACK_US} µs), {:.1}% in 75-87.5% of the interval; the least \
         inside: {worst:?}; packets per burst A {:.1}, B {:.1}; state changes {changes:?}; Up {up:?}; \
         {own} of the {} packets sent by the agents themselves",
        inside * 100.0,
        lower * 100.0,
        bursts.0,
        bursts.1,
        packets.len(),
    );
    ensure!(up == (sessions, sessions), "sessions Up at the end (A, B): {up:?}");
    ensure!(changes == (0, 0), "state changes in the steady state (A, B): {changes:?}");
    ensure!(
        inside >= INSIDE_AT_LEAST,
        "{:.3}% of the intervals inside §6.8.7's window (at least {}%)",
        inside * 100.0,
        INSIDE_AT_LEAST * 100.0
    );
    ensure!(
        below <= if interval_us <= 10_000 { BELOW_FLOOR_AT_MOST_AT_10MS } else { BELOW_FLOOR_AT_MOST },
        "{below_floor} of {intervals} intervals below 75% of the interval: §6.8.7's floor broken"
    );
    // Uniform over 75-100% puts half below 87.5%; going early (by up to
    // 10% of the interval, the floor kept) moves more there: measured 71%
    // at 50 ms, 76% at 10 ms, 54% without the wake slack. Piled at either
    // end of the range, the jitter is no longer random over it.
    ensure!(
        (0.3..=0.9).contains(&lower),
        "{:.1}% of the intervals in the lower half of 75-100%: the jitter is not spread over the range",
        lower * 100.0
    );
    let per_burst_at_least = match variant {
        Variant::Args(_) => PACKETS_PER_BURST_AT_LEAST,
        Variant::KernelAnswers => PACKETS_PER_BURST_ANSWERED_AT_LEAST,
    };
    for (end, per_burst) in [("A", bursts.0), ("B", bursts.1)] {
        ensure!(
            per_burst >= per_burst_at_least,
            "{end}: {per_burst:.1} packets per burst on the wire: the engine's wakes do not carry many sessions"
        );
    }
    // With answers one end of each session originates and the other's
    // kernel answers (a few packets around the captures' edges aside).
    let own_share = own as f64 / packets.len().max(1) as f64;
    match variant {
        Variant::KernelAnswers => ensure!(
            (0.4..=0.6).contains(&own_share),
            "the agents sent {own} of the {} packets themselves: the kernels did not answer for one end each",
            packets.len()
        ),
        Variant::Args(_) => {
            ensure!(own_share >= 0.9, "the agents sent only {own} of {} packets", packets.len())
        }
    }
    let worst = worst.context("no session measured")?;
    ensure!(worst.0 >= 0.9, "{}: {:.1}% of its intervals inside the window", worst.1, worst.0 * 100.0);
    Ok(())
}

#[bfd_lab::test]
fn many_sessions_share_wakes_and_keep_the_jitter_on_the_wire() -> anyhow::Result<()> {
    run("mw", AT_50MS, Variant::Args(&[]))
}

#[bfd_lab::test]
fn many_sessions_share_wakes_and_keep_the_jitter_on_the_packet_path() -> anyhow::Result<()> {
    run("mp", AT_50MS, Variant::Args(&["--transmit", "packet"]))
}

#[bfd_lab::test]
fn many_sessions_answered_by_the_kernel_keep_the_jitter_on_the_wire() -> anyhow::Result<()> {
    run("ma", AT_50MS, Variant::KernelAnswers)
}

#[bfd_lab::test]
fn many_sessions_at_10ms_keep_the_jitter_on_the_wire() -> anyhow::Result<()> {
    run("mt", AT_10MS, Variant::Args(&[]))
}

/// Bring-up at scale: two thousand sessions each side, the second node
/// started while the first already sends Down for all of them.
/// Up, they run at 300 ms x 3: about 6700 packets a second from each end,
/// what the debug build sustains here. At 50 ms (40,000 a second) the
/// debug agent falls behind by more than a Detection Time as the sessions
/// come Up, and the kernel rightly detects it; this test passed at 50 ms
/// only while most sessions' kernel timers silently failed to start (see
/// the cut of 1000 sessions below).
const BRING_UP: Shape = Shape { sessions: 2000, interval_us: 300_000 };
/// The target for bringing every session Up, from the second
/// node's first packet on the wire (no lost packet: about a second here).
const BRING_UP_WITHIN: Duration = Duration::from_secs(10);
/// Two packets of the same state from one end at least this far apart
/// while it is not Up are a retransmission: §6.8.3 holds an end that is
/// not Up to one packet a second (75-100% of it, §6.8.7), and a state
/// change is sent at once, so an end repeats its state only when the
/// packet that would have moved its peer on was lost (or sat that long in
/// a queue).
const RETRANSMISSION_GAP_US: u64 = 500_000;

/// Where a state stands on the way Up (RFC 5880 §6.2: Down, then Init or
/// straight to Up); AdminDown (`None`) has no place on it.
fn rank(packet: &BfdPacket) -> Option<u8> {
    if packet.is_down() {
        Some(0)
    } else if packet.is_init() {
        Some(1)
    } else if packet.is_up() {
        Some(2)
    } else {
        None
    }
}

/// One session end's bring-up, from its packets on the wire (in order).
#[derive(Debug, Default)]
struct EndBringUp {
    /// When it first said Up, µs.
    up_at_us: Option<u64>,
    /// It went back (Up to Init or Down, Init to Down) or said AdminDown.
    went_back: bool,
    /// It repeated a state short of Up after `since_us` (the second
    /// node's start) a slow-rate interval later: a packet was lost.
    retransmitted: bool,
    /// Its last packet said Up.
    ends_up: bool,
}

impl EndBringUp {
    fn of(packets: &[BfdPacket], since_us: u64) -> EndBringUp {
        let mut end = EndBringUp::default();
        let mut last: Option<(u8, u64)> = None;
        let mut last_seen_of_rank: [Option<u64>; 3] = [None; 3];
        for packet in packets {
            let Some(rank) = rank(packet) else {
                end.went_back = true;
                continue;
            };
            if last.is_some_and(|(previous, _)| rank < previous) {
                end.went_back = true;
            }
            if rank == 2 {
                end.up_at_us.get_or_insert(packet.at_us);
            } else if packet.at_us >= since_us {
                let before = last_seen_of_rank[usize::from(rank)].filter(|at| *at >= since_us);
                if before.is_some_and(|at| packet.at_us - at >= RETRANSMISSION_GAP_US) {
                    end.retransmitted = true;
                }
                last_seen_of_rank[usize::from(rank)] = Some(packet.at_us);
            }
            last = Some((rank, packet.at_us));
        }
        end.ends_up = last.is_some_and(|(rank, _)| rank == 2);
        end
    }
}

/// RFC 5880 §6.2 and §6.8.3 at scale, on the wire: node A runs 2000
/// sessions (Down, one packet a second each) when node B starts with the
/// same 2000; B's first packets for all of them arrive at A within
/// milliseconds, and so do A's answers at B. Captured at the bridge: every
/// session end goes Down, Init, Up (or Down, Up) and never back; none had
/// to repeat a state a slow-rate interval later (each repeat is a packet
/// lost, typically at a full receive socket, costing its session a
/// second: the kernel's default buffer dropped most of such a burst);
/// every session Up at both ends within the 10 s of B's first
/// packet; and each session counted Up once and never Down by both agents.
#[bfd_lab::test]
fn many_sessions_come_up_at_once_on_the_wire() -> anyhow::Result<()> {
    bring_up("mu", &[])
}

/// The same on the configuration the scale targets are met with: the
/// packet transmit path (B's 2000 first packets leave as frames), the
/// kernel answering (generic XDP, as above), the engine on a real-time
/// priority.
#[bfd_lab::test]
fn many_sessions_come_up_at_once_on_the_packet_path_with_kernel_answers() -> anyhow::Result<()> {
    bring_up("mk", &["--transmit", "packet", "--kernel-answers", "--rt-priority", "60"])
}

fn bring_up(prefix: &str, extra: &[&str]) -> anyhow::Result<()> {
    let generic = extra.contains(&"--kernel-answers");
    require_root()?;
    let Shape { sessions, .. } = BRING_UP;
    let (switched, ends) = switched_link(prefix, sessions)?;
    let link = &switched.link;
    let args = |iface: &str, a_side: bool| AgentArgs {
        extra: extra.iter().map(|arg| (*arg).to_owned()).collect(),
        mode: generic.then(|| "generic".to_owned()),
        ..AgentArgs::new(iface, config(a_side, BRING_UP))
    };
    let a = Agent::start_with(&link.a, "A", args(&link.a_if, true))?;
    wait_for("A's sessions to send Down", Duration::from_secs(30), || {
        Ok((a.status()?["sessions"].as_u64() == Some(sessions as u64)).then_some(()))
    })?;
    let mut capture = Capture::start(&switched.switch, &switched.a_port, "udp port 3784")?;
    let b = Agent::start_with(&link.b, "B", args(&link.b_if, false))?;
    wait_all_up(&a, &b, sessions)?;
    // Long enough for a late retransmission or a fall back to show.
    std::thread::sleep(Duration::from_millis(1500));
    let packets = capture.bfd_packets()?;

    let mut by_source: HashMap<&str, Vec<BfdPacket>> = HashMap::new();
    for packet in &packets {
        by_source.entry(packet.source.as_str()).or_default().push(packet.clone());
    }
    let b_started_us = ends
        .iter()
        .filter_map(|(_, b_address)| by_source.get(b_address.as_str())?.first().map(|packet| packet.at_us))
        .min()
        .context("no packet from B on the wire")?;
    let (mut latest_up_us, mut went_back, mut retransmitted, mut not_up) =
        (b_started_us, vec![], vec![], vec![]);
    for (a_address, b_address) in &ends {
        for source in [a_address, b_address] {
            let theirs = by_source.get(source.as_str()).map(Vec::as_slice).unwrap_or_default();
            let end = EndBringUp::of(theirs, b_started_us);
            match end.up_at_us {
                Some(at) if end.ends_up => latest_up_us = latest_up_us.max(at),
                _ => not_up.push(source.clone()),
            }
            if end.went_back {
                went_back.push(source.clone());
            }
            if end.retransmitted {
                retransmitted.push(source.clone());
            }
        }
    }
    let bring_up = Duration::from_micros(latest_up_us - b_started_us);
    let counted: Vec<(String, u64, u64)> = [&a, &b]
        .into_iter()
        .map(|agent| agent.show_counters())
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .map(|session| {
            let peer = session["peer"].as_str().unwrap_or_default().to_owned();
            (peer, count(&session, "session-up"), count(&session, "session-down"))
        })
        .filter(|(_, up, down)| (*up, *down) != (1, 0))
        .collect();
    let dropped = |agent: &Agent| -> anyhow::Result<u64> {
        Ok(agent.status()?["receive_dropped"].as_u64().unwrap_or(0))
    };
    eprintln!(
        "{sessions} sessions x 2 ends, {extra:?}: all Up on the wire {bring_up:?} after B's first packet; {} packets \
         captured; ends that retransmitted {}, went back {}, not Up {}; sessions not counted Up once \
         {}; receive drops A {}, B {}",
        packets.len(),
        retransmitted.len(),
        went_back.len(),
        not_up.len(),
        counted.len(),
        dropped(&a)?,
        dropped(&b)?,
    );
    ensure!(
        not_up.is_empty(),
        "{} session ends not Up on the wire, first {:?}",
        not_up.len(),
        not_up.first()
    );
    ensure!(
        went_back.is_empty(),
        "{} session ends went back on the way Up (§6.2), first {:?}",
        went_back.len(),
        went_back.first()
    );
    ensure!(
        retransmitted.is_empty(),
        "{} session ends repeated a state a slow-rate interval later (a lost packet), first {:?}",
        retransmitted.len(),
        retransmitted.first()
    );
    ensure!(bring_up <= BRING_UP_WITHIN, "all {sessions} sessions Up on the wire only after {bring_up:?}");
    ensure!(
        counted.is_empty(),
        "{} sessions not counted Up exactly once and never Down, first {:?}",
        counted.len(),
        counted.first()
    );
    Ok(())
}

/// More sessions than the 4096-entry adoption map agents once made held
/// (4095 records and the layout's), at 1 s: what is checked is the
/// adoption, not how fast a debug build restarts (at 300 ms x 3 it lost
/// one session of 4200 once in four runs, Detection Time expired at B).
const PAST_OLD_ADOPTION_CAPACITY: Shape = Shape { sessions: 4200, interval_us: 1_000_000 };

/// A restart at 4200 sessions (1 s x 3): node A's agent is killed and
/// started again on its pins; it adopts every session (the log's count)
/// and node B's agent counts no session Down and no new Up, every session
/// Up at both ends after it. With the old 4096-entry adoption map 105
/// sessions had no record: A would have started them anew, each a Down at
/// B.
#[bfd_lab::test]
fn a_restart_past_4096_sessions_adopts_every_one_and_b_sees_no_change() -> anyhow::Result<()> {
    require_root()?;
    let shape = PAST_OLD_ADOPTION_CAPACITY;
    let sessions = shape.sessions;
    let (switched, _) = switched_link("mr", sessions)?;
    let link = &switched.link;
    // Generic XDP: while no agent runs, A's kernel answers B (`XDP_TX`),
    // which a native program on a veth would lose at the bridge.
    let args = |iface: &str, a_side: bool| AgentArgs {
        mode: Some("generic".to_owned()),
        ..AgentArgs::new(iface, config(a_side, shape))
    };
    let a_args = args(&link.a_if, true);
    let mut a = Agent::start_with(&link.a, "A", a_args.clone())?;
    let b = Agent::start_with(&link.b, "B", args(&link.b_if, false))?;
    wait_all_up(&a, &b, sessions)?;
    // Every record written (they are written as sessions change).
    std::thread::sleep(Duration::from_secs(2));
    let b_before = state_changes(&b)?;

    a.kill()?;
    a.restart(&link.a, &a_args)?;
    let adopted = a.log_lines("sessions adopted from the previous agent");
    let adopted = adopted.last().and_then(|line| line.number("adopted"));
    wait_for("every session Up at A after the restart", Duration::from_secs(30), || {
        Ok((sessions_up(&a)? == sessions as u64).then_some(()))
    })?;
    // Two detection times: a session A started anew would be Down at B by
    // now (at once, from A's first packet).
    std::thread::sleep(Duration::from_micros(2 * shape.interval_us * u64::from(DETECT_MULT)));
    let b_after = state_changes(&b)?;
    eprintln!(
        "{sessions} sessions: A adopted {adopted:?}; B's Up and Down events {b_before} before the restart, {b_after} \
         after; Up at the end: A {}, B {}",
        sessions_up(&a)?,
        sessions_up(&b)?
    );
    ensure!(adopted == Some(sessions as u64), "A adopted {adopted:?} of {sessions} sessions");
    let b_downs: Vec<String> = b
        .log_lines("session state change")
        .into_iter()
        .filter(|line| line.text.contains("to=Down") || line.text.contains("to=\"Down\""))
        .map(|line| line.text)
        .collect();
    ensure!(
        b_after == b_before,
        "B counted {} Up and Down events across A's restart; B's Downs ({}), the first: {:?}",
        b_after - b_before,
        b_downs.len(),
        b_downs.iter().take(3).collect::<Vec<_>>()
    );
    ensure!(sessions_up(&b)? == sessions as u64, "B has {} of {sessions} Up", sessions_up(&b)?);
    Ok(())
}

/// One end's arguments for `shape`, generic XDP (so that a kernel's
/// `XDP_TX` reaches the bridge), with `extra` ones.
fn generic_args(iface: &str, a_side: bool, shape: Shape, extra: &[&str]) -> AgentArgs {
    AgentArgs {
        mode: Some("generic".to_owned()),
        extra: extra.iter().map(|arg| (*arg).to_owned()).collect(),
        ..AgentArgs::new(iface, config(a_side, shape))
    }
}

/// 200 sessions at 50 ms x 3 with `--kernel-answers`: about half of them
/// originated by A (its discriminator the smaller), answered by B's kernel.
const ANSWERED_RESTART: Shape = Shape { sessions: 200, interval_us: 50_000 };
/// How long A's agent stays away: far past a Detection Time (150 ms), and
/// inside the takeover's 5 s hold (`TAKEOVER_HOLD`).
const AWAY: Duration = Duration::from_secs(2);

/// How often each of the agent's sessions took over for a silent
/// originating peer (`takeovers`), summed.
fn takeovers(agent: &Agent) -> anyhow::Result<u64> {
    Ok(agent.show_counters()?.iter().map(|session| count(session, "takeovers")).sum())
}

/// Issue 19: with `--kernel-answers` on both agents, A originates the
/// sessions where its discriminator is the smaller and B's kernel only
/// answers A's packets. A's agent is killed and started again 2 s later:
/// while it is away its kernel answers whatever arrives but sends nothing
/// of its own, so for those sessions nobody would send. B's kernel reports
/// A silent two-thirds of a Detection Time after A's last packet, and B's
/// agent originates for them, which A's kernel answers. Checked at B (its
/// Up and Down counters: no change), at A (every session adopted and Up),
/// and on the wire at the bridge: for every session A originated, B's
/// packets while A was away never further apart than a Detection Time.
/// Without the takeover about 100 sessions went Down at B and the test
/// fails.
#[bfd_lab::test]
fn with_kernel_answers_a_restart_of_the_originating_agent_flaps_nothing() -> anyhow::Result<()> {
    require_root()?;
    let shape = ANSWERED_RESTART;
    let Shape { sessions, interval_us } = shape;
    let (switched, ends) = switched_link("mk", sessions)?;
    let link = &switched.link;
    let a_args = generic_args(&link.a_if, true, shape, &["--kernel-answers"]);
    let mut a = Agent::start_with(&link.a, "A", a_args.clone())?;
    let b = Agent::start_with(&link.b, "B", generic_args(&link.b_if, false, shape, &["--kernel-answers"]))?;
    wait_all_up(&a, &b, sessions)?;
    // Past the handovers, and every adoption record written.
    std::thread::sleep(Duration::from_secs(2));
    // The sessions A originates: its discriminator the smaller.
    let mut originated_by_a = HashSet::new();
    for session in a.show_peers()? {
        let (ours, theirs) = (session["id"].as_u64(), session["remote-id"].as_u64());
        if let (Some(ours), Some(theirs), Some(peer)) = (ours, theirs, session["peer"].as_str())
            && ours < theirs
        {
            originated_by_a.insert(peer.to_owned());
        }
    }
    ensure!(
        originated_by_a.len() >= sessions / 4,
        "A originates only {} of {sessions} sessions: the test does not test",
        originated_by_a.len()
    );
    let (b_before, takeovers_before) = (state_changes(&b)?, takeovers(&b)?);
    let mut capture = Capture::start(&switched.switch, &switched.a_port, "udp port 3784")?;

    a.kill()?;
    let killed = realtime_us();
    std::thread::sleep(AWAY);
    let restarting = realtime_us();
    a.restart(&link.a, &a_args)?;
    let adopted = a.log_lines("sessions adopted from the previous agent");
    let adopted = adopted.last().and_then(|line| line.number("adopted"));
    wait_for("every session Up at A after the restart", Duration::from_secs(30), || {
        Ok((sessions_up(&a)? == sessions as u64).then_some(()))
    })?;
    std::thread::sleep(Duration::from_micros(2 * interval_us * u64::from(DETECT_MULT)));
    let (b_after, takeovers_after) = (state_changes(&b)?, takeovers(&b)?);
    let packets = capture.bfd_packets()?;

    // B's packets, per session A originated, while A's agent was away
    // (from one interval after the kill: A's last packets may still come).
    let detection_time_us = interval_us * u64::from(DETECT_MULT);
    let mut widest: Option<(u64, String)> = None;
    let mut b_sent_while_away = 0usize;
    for (a_address, b_address) in &ends {
        if !originated_by_a.contains(b_address) {
            continue;
        }
        let times: Vec<u64> = packets
            .iter()
            .filter(|p| p.source == *b_address && p.destination == *a_address)
            .filter(|p| p.at_us >= killed + interval_us && p.at_us <= restarting)
            .map(|p| p.at_us)
            .collect();
        b_sent_while_away += times.len();
        // Fewer than two packets: no gap to measure, the whole absence.
        let gap = times.windows(2).map(|pair| pair[1] - pair[0]).max().unwrap_or(restarting - killed);
        if widest.as_ref().is_none_or(|(widest, _)| gap > *widest) {
            widest = Some((gap, b_address.clone()));
        }
    }
    eprintln!(
        "{sessions} sessions, {} originated by A: A adopted {adopted:?}; B's Up and Down events {b_before} before, \
         {b_after} after; B's takeovers {}; B sent {b_sent_while_away} packets for them while A was away, the widest \
         gap {widest:?} µs; Up at the end: A {}, B {}",
        originated_by_a.len(),
        takeovers_after - takeovers_before,
        sessions_up(&a)?,
        sessions_up(&b)?
    );
    ensure!(adopted == Some(sessions as u64), "A adopted {adopted:?} of {sessions} sessions");
    ensure!(b_after == b_before, "B counted {} Up and Down events across A's restart", b_after - b_before);
    ensure!(sessions_up(&b)? == sessions as u64, "B has {} of {sessions} Up", sessions_up(&b)?);
    ensure!(
        takeovers_after - takeovers_before >= originated_by_a.len() as u64,
        "B took over {} times for the {} sessions A originated",
        takeovers_after - takeovers_before,
        originated_by_a.len()
    );
    let (gap, session) = widest.context("no session measured")?;
    ensure!(gap < detection_time_us, "{session}: B's packets {gap} µs apart while A was away");
    Ok(())
}

/// 1000 sessions at 50 ms x 3: most of their kernel timers cannot be
/// allocated here (measured with a sweep that ran every 10 ms: 533-744 of
/// the 1000 detections were its), which a session or two never shows.
const DETECTED_AT_SCALE: Shape = Shape { sessions: 1000, interval_us: 50_000 };
/// How late after its Detection Time the kernel may detect a session: the
/// sweep wakes on the earliest deadline of a session without a timer, but
/// sleeps at least ten times as long as its last walk took (at most a
/// tenth of a CPU: `SWEEP_DUTY`). Here a walk during the thousand
/// detections takes up to some 0.7 ms, so measured up to 4.4-7.2 ms late
/// (0.39-0.44 ms before that bound; it took a third of the engines' CPU
/// at 7500 sessions). Without the sweep most sessions are never detected.
const DETECTED_AT_SCALE_SLACK_US: u64 = 15_000;
/// How late after its Detection Time a session's Down may reach the wire:
/// the detection's slack and the agent's, which sends a thousand Downs at
/// once (a debug build in CI: measured up to 82 ms).
const DOWN_AT_SCALE_SLACK_US: u64 = DETECTED_AT_SCALE_SLACK_US + 150_000;

/// Kernel detection at scale: node A's output of control packets is cut
/// (nftables) with 1000 sessions Up, and node B must detect every one of
/// them, each on its Detection Time (150 ms), the kernel at most 15 ms late:
/// captured at the bridge, B's first Down of each session against A's last
/// packet of it. The kernel fails to allocate most sessions' timers in the
/// packet path at this scale (`bpf_timer_init` returns `ENOMEM` once the
/// caches it may use without locks are empty); before the sweep
/// (`SWEEP_PROGRAM`) 27-73% of the sessions were never detected at all and
/// the test fails.
#[bfd_lab::test]
fn a_cut_of_1000_sessions_is_detected_on_every_one_within_its_detection_time() -> anyhow::Result<()> {
    require_root()?;
    let shape = DETECTED_AT_SCALE;
    let Shape { sessions, interval_us } = shape;
    let (switched, ends) = switched_link("mc", sessions)?;
    let link = &switched.link;
    let a = Agent::start_with(&link.a, "A", generic_args(&link.a_if, true, shape, &[]))?;
    let b = Agent::start_with(&link.b, "B", generic_args(&link.b_if, false, shape, &[]))?;
    wait_all_up(&a, &b, sessions)?;
    // Past the bring-up's Poll Sequences.
    std::thread::sleep(Duration::from_secs(2));
    let mut capture = Capture::start(&switched.switch, &switched.a_port, "udp port 3784")?;
    std::thread::sleep(Duration::from_millis(200));
    let cut = bfd_lab::e2e::Cut::outgoing_control(&link.a)?;
    let cut_at = realtime_us();
    wait_for(
        "every session Down at B",
        Duration::from_secs(5),
        || Ok((sessions_up(&b)? == 0).then_some(())),
    )?;
    std::thread::sleep(Duration::from_millis(200));
    let packets = capture.bfd_packets()?;
    drop(cut);

    let detection_time_us = interval_us * u64::from(DETECT_MULT);
    let mut by_pair: HashMap<(&str, &str), Vec<&BfdPacket>> = HashMap::new();
    for packet in &packets {
        by_pair.entry((packet.source.as_str(), packet.destination.as_str())).or_default().push(packet);
    }
    let (mut silences, mut early, mut missing) = (Vec::new(), Vec::new(), Vec::new());
    for (a_address, b_address) in &ends {
        let from_a =
            by_pair.get(&(a_address.as_str(), b_address.as_str())).map(Vec::as_slice).unwrap_or_default();
        let from_b =
            by_pair.get(&(b_address.as_str(), a_address.as_str())).map(Vec::as_slice).unwrap_or_default();
        let last_a = from_a.iter().filter(|p| p.at_us < cut_at + 5_000).map(|p| p.at_us).max();
        let down_b = from_b.iter().filter(|p| p.at_us > cut_at && p.is_down()).map(|p| p.at_us).min();
        let (Some(last_a), Some(down_b)) = (last_a, down_b) else {
            missing.push(b_address.clone());
            continue;
        };
        let silence = down_b.saturating_sub(last_a);
        if silence + CAPTURE_SLACK_US < detection_time_us {
            early.push((b_address.clone(), silence));
        }
        silences.push((silence, b_address.clone()));
    }
    silences.sort();
    let mut overshoots: Vec<u64> =
        b.log_lines("kernel detection event").iter().filter_map(|line| line.number("overshoot_us")).collect();
    overshoots.sort_unstable();
    let at = |share: f64| {
        silences.get(((silences.len() as f64 * share) as usize).min(silences.len().saturating_sub(1)))
    };
    eprintln!(
        "{sessions} sessions cut: B's Down on the wire for {} of them, after A's last packet (µs) median {:?}, \
         99% {:?}, the latest {:?}; B's kernel detections {}, past the Detection Time by at most {:?} µs",
        silences.len(),
        at(0.5),
        at(0.99),
        silences.last(),
        overshoots.len(),
        overshoots.last(),
    );
    ensure!(
        missing.is_empty(),
        "{} sessions without B's Down on the wire, first {:?}",
        missing.len(),
        missing.first()
    );
    ensure!(early.is_empty(), "Downs before the Detection Time: {:?}", early.first());
    ensure!(overshoots.len() == sessions, "B's kernel detected {} of {sessions} sessions", overshoots.len());
    let overshoot = overshoots.last().copied().unwrap_or(0);
    ensure!(
        overshoot <= DETECTED_AT_SCALE_SLACK_US,
        "B's kernel detected a session {overshoot} µs past its Detection Time"
    );
    let (late, session) = silences.last().cloned().context("no session measured")?;
    ensure!(
        late <= detection_time_us + DOWN_AT_SCALE_SLACK_US,
        "{session}: B's Down {late} µs after A's last packet (Detection Time {detection_time_us} µs)"
    );
    Ok(())
}

/// 1000 sessions with echo (RFC 5880 §6.4) at both ends: control at
/// 300 ms x 3, echo every 200 ms, so an echo detection time of 600 ms.
/// Like the control timers (above), most echo timers cannot be allocated
/// at this scale.
const ECHO_AT_SCALE: Shape = Shape { sessions: 1000, interval_us: 300_000 };
const ECHO_INTERVAL_MS: u64 = 200;

/// [`config`] with echo on every session.
fn echo_config(a_side: bool, shape: Shape) -> String {
    profile_config(a_side, shape, &format!(", echoMode: true, echoInterval: {ECHO_INTERVAL_MS}"))
}

/// Echo detection at scale: with 1000 echo sessions Up, node A's echoes
/// are cut (nftables on the bridge, UDP port 3785; control packets still
/// flow), and A's kernel must detect every session's echo failure on its
/// echo detection time: each session's first echo detection at most 15 ms
/// past it, and A's Down with diagnostic 2 ("echo function failed",
/// §6.8.5) on the wire for every session, captured at the bridge. Most
/// echo timers cannot be allocated here; before the sweep timed the
/// echoes of sessions without one (`DETECTED_NO_ECHO_TIMER`) those were
/// never detected and the test fails.
#[bfd_lab::test]
fn an_echo_cut_of_1000_sessions_is_detected_on_every_one() -> anyhow::Result<()> {
    require_root()?;
    let shape = ECHO_AT_SCALE;
    let sessions = shape.sessions;
    let (switched, ends) = switched_link("me", sessions)?;
    let link = &switched.link;
    let args = |iface: &str, a_side: bool| AgentArgs {
        mode: Some("generic".to_owned()),
        ..AgentArgs::new(iface, echo_config(a_side, shape))
    };
    let a = Agent::start_with(&link.a, "A", args(&link.a_if, true))?;
    let b = Agent::start_with(&link.b, "B", args(&link.b_if, false))?;
    wait_all_up(&a, &b, sessions)?;
    let echoing = |agent: &Agent| -> anyhow::Result<Vec<u64>> {
        Ok(agent
            .show_peers()?
            .iter()
            .filter_map(|peer| peer["echo-transmit-interval-us"].as_u64())
            .filter(|us| *us != 0)
            .collect())
    };
    wait_for("echo on every session at A", Duration::from_secs(30), || {
        Ok((echoing(&a)?.len() == sessions).then_some(()))
    })?;
    // Every session's echoes coming back for a while (A's kernel counts
    // its own coming back, B's those it reflected).
    let echoes = |agent: &Agent, what: &str| -> anyhow::Result<u64> { Ok(count(&agent.xdp_stats()?, what)) };
    let (own, reflected) = (echoes(&a, "echo-own")?, echoes(&b, "echo-reflected")?);
    std::thread::sleep(Duration::from_secs(3));
    let (own, reflected) = (echoes(&a, "echo-own")? - own, echoes(&b, "echo-reflected")? - reflected);
    eprintln!("in 3 s: B reflected {reflected} of A's echoes, {own} came back to A");
    // 3 s at 200 ms is 15 echoes a session (16-20 with the jitter).
    ensure!(own >= 12 * sessions as u64, "{own} of A's echoes came back in 3 s");
    let echo_detection_us = echoing(&a)?.into_iter().max().unwrap_or(0) * u64::from(DETECT_MULT);
    ensure!(echo_detection_us == ECHO_INTERVAL_MS * 1000 * u64::from(DETECT_MULT), "{echo_detection_us} µs");
    let before = a.log_lines("kernel detection event").len();
    ensure!(before == 0, "A detected something before the cut: {:?}", a.log_lines("kernel detection event"));
    let mut capture = Capture::start(&switched.switch, &switched.a_port, "udp port 3784")?;
    std::thread::sleep(Duration::from_millis(200));
    // At the bridge: the agent sends its echo at layer 2 (to the peer's
    // MAC), past its own netfilter, and B's kernel reflects it with XDP_TX.
    // A's echoes only (their source is A's own address, 10.78.0-127.x):
    // B's failing too would make either end go Down first.
    let cut = bfd_lab::e2e::Cut::bridged(&switched.switch, "ip saddr 10.78.0.0/17 udp dport 3785")?;
    let cut_at = realtime_us();
    // Each session's echo fails at A within its echo detection time.
    std::thread::sleep(Duration::from_micros(echo_detection_us) + Duration::from_secs(1));
    let packets = capture.bfd_packets()?;
    drop(cut);

    // The first echo detection of each session at A, by its kernel.
    let mut first: HashMap<u64, u64> = HashMap::new();
    for line in a.log_lines("kernel detection event") {
        if line.field("kind") != Some("echo") {
            continue;
        }
        if let (Some(discr), Some(silence)) = (line.number("discr"), line.number("silence_us")) {
            first.entry(discr).or_insert(silence);
        }
    }
    let mut silences: Vec<u64> = first.values().copied().collect();
    silences.sort_unstable();
    let late = silences.iter().filter(|s| **s > echo_detection_us + 1000).count();
    // A's first Down with "echo function failed" after the cut, per session.
    let mut downs = Vec::new();
    let mut missing = Vec::new();
    for (a_address, b_address) in &ends {
        let down = packets
            .iter()
            .filter(|p| p.source == *a_address && p.destination == *b_address && p.at_us > cut_at)
            .find(|p| p.is_down() && p.diag == 2)
            .map(|p| p.at_us - cut_at);
        match down {
            Some(after_cut) => downs.push(after_cut),
            None => missing.push(a_address.clone()),
        }
    }
    downs.sort_unstable();
    if let Some(address) = missing.first() {
        let seen: Vec<(u64, &str, u8)> = packets
            .iter()
            .filter(|p| p.source == *address)
            .map(|p| (p.at_us.saturating_sub(cut_at), p.state.as_str(), p.diag))
            .collect();
        eprintln!("{address}'s packets (µs after the cut, state, diagnostic): {seen:?}");
    }
    eprintln!(
        "{sessions} echo sessions cut: A's kernel detected {} (silence µs: least {:?}, most {:?}, {late} over 1 ms \
         late; echo detection time {echo_detection_us}); A's Down with diagnostic 2 on the wire for {}, after the cut (µs) least {:?}, \
         most {:?}",
        first.len(),
        silences.first(),
        silences.last(),
        downs.len(),
        downs.first(),
        downs.last(),
    );
    ensure!(
        first.len() == sessions,
        "A's kernel detected the echo of {} of {sessions} sessions",
        first.len()
    );
    ensure!(
        missing.is_empty(),
        "{} sessions without A's Down (diagnostic 2) on the wire, first {:?}",
        missing.len(),
        missing.first()
    );
    let least = silences.first().copied().unwrap_or(0);
    ensure!(least >= echo_detection_us, "an echo detected after {least} µs of silence");
    let most = silences.last().copied().unwrap_or(0);
    ensure!(
        most <= echo_detection_us + DETECTED_AT_SCALE_SLACK_US,
        "an echo detected {most} µs after the last came back (echo detection time {echo_detection_us} µs)"
    );
    // The last echo before the cut came back at most an echo interval
    // before it; a Down leaves one echo detection time after that, and
    // the debug agent sends a thousand at once.
    let earliest = echo_detection_us - ECHO_INTERVAL_MS * 1000 - CAPTURE_SLACK_US;
    let latest = echo_detection_us + DOWN_AT_SCALE_SLACK_US;
    let (first_down, last_down) = (downs[0], downs[downs.len() - 1]);
    ensure!(first_down >= earliest, "A's first Down {first_down} µs after the cut");
    ensure!(last_down <= latest, "A's last Down {last_down} µs after the cut");
    Ok(())
}
