//! Issue 19: the kernel answers the peer's packets for us in the steady
//! state (`SessionConfig::kernel_answers`), on the simulator's model of the
//! XDP program: when a session hands its transmission over, what the peer
//! then hears, and when the core takes it back.

mod common;

use core::time::Duration;

use bfd_common::wire::{Diagnostic, State};
use bfd_session::sim::{Side, Sim};
use bfd_session::{SessionConfig, Time};
use common::*;

fn answering(config: SessionConfig) -> SessionConfig {
    SessionConfig { kernel_answers: true, ..kernel(config) }
}

/// B's discriminator is the larger (`B_DISCR` > `A_DISCR`): B answers.
fn answering_pair(seed: u64) -> Sim {
    let mut sim = pair(answering(config(50, 50, 3)), answering(config(50, 50, 3)), seed);
    bring_up(&mut sim);
    sim
}

/// The times `side` sent control packets at or after `from`.
fn sent_after(sim: &Sim, side: Side, from: Time) -> Vec<Time> {
    sim.sent(side).into_iter().map(|(at, _)| at).filter(|at| *at >= from).collect()
}

/// Every gap between consecutive times, in µs.
fn gaps_us(times: &[Time]) -> Vec<u64> {
    times.windows(2).map(|pair| pair[1].saturating_since(pair[0]).as_micros() as u64).collect()
}

#[test]
fn s6_8_7_the_larger_discriminator_answers_and_the_peer_hears_one_packet_per_interval() {
    let mut sim = answering_pair(60);
    let up = sim.now();
    let (answers_before, sent_before) = (sim.kernel_answers(Side::B).unwrap(), sim.sent(Side::B).len());
    sim.run_for(Duration::from_secs(30));
    let answers = sim.kernel_answers(Side::B).unwrap() - answers_before;
    let sent = sim.sent(Side::B).len() - sent_before;
    // Everything B sent in the steady state was the kernel's answer.
    assert!(sim.session(Side::B).fast_path().answer);
    assert!(answers > 500, "{answers} answers in 30 s at 50 ms");
    assert_eq!(sent as u64, answers, "B's core sent {} packets itself", sent as u64 - answers);
    // A (the smaller discriminator) keeps originating.
    assert_eq!(sim.kernel_answers(Side::A), Some(0));
    assert!(!sim.session(Side::A).fast_path().answer);
    // §6.8.7 as the peer hears it, the handover included: never sooner than
    // 75% of the interval, never later than the interval (A's packets come
    // at 75-100% and each is answered).
    let gaps = gaps_us(&sent_after(&sim, Side::B, up));
    assert!(gaps.iter().all(|gap| (37_500..=50_000).contains(gap)), "B's gaps: {gaps:?}");
    assert!(changes_after(&sim, Side::A, up).is_empty());
    assert!(changes_after(&sim, Side::B, up).is_empty());
}

#[test]
fn s6_8_7_the_originator_leaves_the_answering_kernel_a_margin_for_queueing_delay() {
    // Up to 2 ms of queueing delay on A's packets: one may arrive 2 ms
    // closer to the one before it than A sent them. A draws its intervals
    // from 80-100% (not 75%): B's kernel, which never answers sooner than
    // 75% after its last answer, then answers every one of them.
    let mut sim = answering_pair(64);
    sim.link(Side::A).delay_jitter = Duration::from_millis(2);
    sim.run_for(Duration::from_secs(1));
    let from = sim.now();
    let answers_before = sim.kernel_answers(Side::B).unwrap();
    sim.run_for(Duration::from_secs(60));
    let a_sent = sent_after(&sim, Side::A, from);
    let gaps = gaps_us(&a_sent);
    assert!(gaps.iter().all(|gap| (40_000..=50_000).contains(gap)), "A's gaps: {gaps:?}");
    // The whole 80-100% is used.
    assert!(gaps.iter().any(|gap| *gap < 40_500) && gaps.iter().any(|gap| *gap > 49_500));
    let answers = sim.kernel_answers(Side::B).unwrap() - answers_before;
    // Every packet of A's is answered (the last may still be on its way).
    assert!(answers + 1 >= a_sent.len() as u64, "{answers} answers to {} packets", a_sent.len());
    // B answers at A's pace, so B's intervals stay inside 75-100% too,
    // delay included (40 ms less 2 ms is still above 37.5).
    let b_gaps = gaps_us(&sent_after(&sim, Side::B, from));
    assert!(b_gaps.iter().all(|gap| (37_500..=52_000).contains(gap)), "B's gaps: {b_gaps:?}");
    assert!(changes_after(&sim, Side::A, from).is_empty() && changes_after(&sim, Side::B, from).is_empty());
}

#[test]
fn s6_8_7_without_kernel_answers_the_whole_75_to_100_percent_is_drawn() {
    // The same pair, neither end configured to answer: A's jitter is the
    // RFC's whole range again.
    let mut sim = pair(kernel(config(50, 50, 3)), kernel(config(50, 50, 3)), 65);
    bring_up(&mut sim);
    let from = sim.now();
    sim.run_for(Duration::from_secs(60));
    let gaps = gaps_us(&sent_after(&sim, Side::A, from));
    assert!(gaps.iter().all(|gap| (37_500..=50_000).contains(gap)), "A's gaps: {gaps:?}");
    assert!(gaps.iter().any(|gap| *gap < 38_500), "shortest {:?}", gaps.iter().min());
}

#[test]
fn a_lost_packet_in_either_direction_is_not_a_detection() {
    for (lossy, seed) in [(Side::A, 61), (Side::B, 62)] {
        let mut sim = answering_pair(seed);
        let up = sim.now();
        let link = sim.link(lossy);
        link.loss_ppm = 50_000;
        link.max_consecutive_losses = Some(1);
        sim.run_for(Duration::from_secs(60));
        assert!(sim.kernel_answers(Side::B).unwrap() > 1000);
        assert!(changes_after(&sim, Side::A, up).is_empty(), "A flapped with {lossy:?}'s packets lost");
        assert!(changes_after(&sim, Side::B, up).is_empty(), "B flapped with {lossy:?}'s packets lost");
    }
}

#[test]
fn s6_8_3_a_poll_sequence_takes_transmission_back_until_the_intervals_match_again() {
    let mut sim = answering_pair(63);
    sim.run_for(Duration::from_secs(2));
    // B slows down: it polls (P set: the core's packets, not the template)
    // and then sends at 100 ms while A still sends at 50: not answering.
    sim.input(Side::B, |session, now| {
        session.configure(now, answering(config(100, 50, 3))).unwrap();
    });
    sim.run_for(Duration::from_secs(1));
    assert!(!sim.session(Side::B).fast_path().answer);
    let answers = sim.kernel_answers(Side::B).unwrap();
    let from = sim.now();
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.kernel_answers(Side::B).unwrap(), answers, "the kernel answered at unequal intervals");
    let gaps = gaps_us(&sent_after(&sim, Side::B, from));
    assert!(gaps.iter().all(|gap| (75_000..=100_000).contains(gap)), "B's own packets: {gaps:?}");
    // Back to 50 ms: equal intervals again, the kernel answers again.
    sim.input(Side::B, |session, now| {
        session.configure(now, answering(config(50, 50, 3))).unwrap();
    });
    sim.run_for(Duration::from_secs(2));
    assert!(sim.session(Side::B).fast_path().answer);
    let answers = sim.kernel_answers(Side::B).unwrap();
    sim.run_for(Duration::from_secs(1));
    assert!(sim.kernel_answers(Side::B).unwrap() > answers + 15);
    assert!(changes_after(&sim, Side::A, Time::ZERO + Duration::from_secs(3)).is_empty());
}

#[test]
fn s6_8_16_the_peer_going_down_takes_transmission_back_at_once() {
    let mut sim = answering_pair(64);
    sim.run_for(Duration::from_secs(1));
    let from = sim.now();
    sim.input(Side::A, |session, now| session.admin_down(now, Diagnostic::AdministrativelyDown));
    sim.run_until_state(Side::B, State::Down, Duration::from_millis(100)).expect("B hears AdminDown");
    assert!(!sim.session(Side::B).fast_path().answer);
    // B's core tells A it is Down at once (§6.8.7: a state change is sent
    // right away), not the kernel.
    let answers = sim.kernel_answers(Side::B).unwrap();
    sim.run_for(Duration::from_millis(10));
    let down = sim.sent(Side::B).into_iter().find(|(at, packet)| *at >= from && packet.state == State::Down);
    assert!(down.is_some(), "B sent its Down");
    assert_eq!(sim.kernel_answers(Side::B).unwrap(), answers);
    // And it all comes back.
    sim.input(Side::A, |session, now| session.admin_up(now));
    sim.run_until_state(Side::B, State::Up, Duration::from_secs(5)).expect("B Up again");
    sim.run_for(Duration::from_secs(3));
    assert!(sim.session(Side::B).fast_path().answer);
}

#[test]
fn a_detection_while_answering_is_the_kernels_and_the_core_sends_the_down() {
    let mut sim = answering_pair(65);
    sim.run_for(Duration::from_secs(1));
    sim.link(Side::A).cut = true;
    let cut = sim.now();
    let down = sim.run_until_state(Side::B, State::Down, Duration::from_secs(1)).expect("B detects");
    // The kernel timed it: one Detection Time (150 ms) after A's last packet.
    assert!(down.saturating_since(cut) <= Duration::from_millis(150));
    assert!(!sim.session(Side::B).fast_path().answer);
    let own = sim.sent(Side::B).into_iter().filter(|(at, _)| *at >= down).count();
    sim.run_for(Duration::from_secs(3));
    assert!(sim.sent(Side::B).into_iter().filter(|(at, _)| *at >= down).count() > own, "B's core sends Down");
    assert_eq!(transitions(&sim, Side::B).last().map(|t| t.2), Some(Diagnostic::ControlDetectionTimeExpired));
}

#[test]
fn no_answers_where_they_would_not_be_the_periodic_transmission() {
    // Detect Mult 2: a lost packet either way would leave the peer a
    // single packet from a detection.
    let mut sim = pair(answering(config(50, 50, 2)), answering(config(50, 50, 2)), 66);
    bring_up(&mut sim);
    sim.run_for(Duration::from_secs(2));
    // Unequal intervals: B must send every 50 ms, A every 100 ms.
    let mut unequal = pair(answering(config(100, 50, 3)), answering(config(50, 100, 3)), 67);
    bring_up(&mut unequal);
    unequal.run_for(Duration::from_secs(2));
    // The core's detection (multihop, meticulous authentication, no XDP):
    // the kernel absorbs nothing, so it can answer nothing.
    let mut local = pair(
        SessionConfig { kernel_answers: true, ..config(50, 50, 3) },
        SessionConfig { kernel_answers: true, ..config(50, 50, 3) },
        68,
    );
    bring_up(&mut local);
    local.run_for(Duration::from_secs(2));
    // Not asked for.
    let mut off = pair(kernel(config(50, 50, 3)), kernel(config(50, 50, 3)), 69);
    bring_up(&mut off);
    off.run_for(Duration::from_secs(2));
    for sim in [&sim, &unequal, &local, &off] {
        for side in [Side::A, Side::B] {
            assert!(!sim.session(side).fast_path().answer);
            assert!(sim.kernel_answers(side).unwrap_or(0) == 0);
        }
    }
}

#[test]
fn s6_8_7_the_first_answer_is_paced_from_our_last_packet() {
    // The handover happens at whatever phase the peer's packets have
    // against ours: over many pairs, B's packets never come closer than
    // 75% of the interval across it (the kernel's pacing starts from the
    // core's last packet, not from nothing).
    for seed in 100..160 {
        let mut sim = pair(answering(config(50, 50, 3)), answering(config(50, 50, 3)), seed);
        let up = sim.run_until_state(Side::B, State::Up, Duration::from_secs(5)).expect("B comes Up");
        sim.run_for(Duration::from_secs(2));
        assert!(sim.kernel_answers(Side::B).unwrap() > 0, "seed {seed}: B never handed over");
        // Finals go "without respect to the transmission timer" (§6.8.7).
        let periodic: Vec<Time> = sim
            .sent(Side::B)
            .into_iter()
            .filter(|(at, packet)| *at >= up && !packet.final_)
            .map(|(at, _)| at)
            .collect();
        let shortest = gaps_us(&periodic).into_iter().min().unwrap_or(u64::MAX);
        assert!(shortest >= 37_500, "seed {seed}: B's packets {shortest} us apart");
    }
}

#[test]
fn s6_8_7_a_peer_packet_too_soon_for_the_kernel_is_answered_by_the_core_when_the_floor_ends() {
    // Up to 12 ms of delay jitter on A's packets (A sends every 40-50 ms):
    // some arrive sooner than 75% of the interval (37.5 ms) after B's
    // kernel's last answer, as a peer that jitters below 75% sends them
    // (BIRD 2.20 at times). The kernel must not answer those (§6.8.7's
    // floor); without more, B's next packet would then be its answer to
    // A's next one, up to about twice the interval after its last. The
    // kernel tells B's core instead, which sends the answer itself when
    // the floor ends and has the kernel pace its next answer from it.
    let mut sim = answering_pair(70);
    sim.link(Side::A).delay_jitter = Duration::from_millis(12);
    sim.run_for(Duration::from_secs(1));
    let from = sim.now();
    let (answers_before, owed_before, sent_before) = (
        sim.kernel_answers(Side::B).unwrap(),
        sim.kernel_answers_owed(Side::B).unwrap(),
        sent_after(&sim, Side::B, Time::ZERO).len() as u64,
    );
    sim.run_for(Duration::from_secs(60));
    let answers = sim.kernel_answers(Side::B).unwrap() - answers_before;
    let owed = sim.kernel_answers_owed(Side::B).unwrap() - owed_before;
    let by_core = sent_after(&sim, Side::B, Time::ZERO).len() as u64 - sent_before - answers;
    assert!(owed >= 10, "only {owed} of A's packets came too soon: the test does not test");
    // Each owed answer is sent once by the core (none was dropped as
    // stale: nothing here runs late).
    assert_eq!(by_core, owed, "{by_core} packets from B's core for {owed} owed answers");
    assert!(sim.session(Side::B).fast_path().answer, "B still hands its transmission to the kernel");
    // B's intervals: never below the floor; never longer than A's packets'
    // arrival gaps can make them (50 ms + 12 ms of jitter), where an
    // unanswered packet would make one of 70 ms or more.
    let b_gaps = gaps_us(&sent_after(&sim, Side::B, from));
    let (shortest, longest) = (b_gaps.iter().min().unwrap(), b_gaps.iter().max().unwrap());
    assert!(*shortest >= 37_500, "B's packets {shortest} us apart");
    assert!(*longest <= 62_000, "B's packets {longest} us apart");
    assert!(changes_after(&sim, Side::A, from).is_empty() && changes_after(&sim, Side::B, from).is_empty());
}

/// B's packets (its core's and its kernel's answers) from `from` on.
fn b_gaps_from(sim: &Sim, from: Time) -> Vec<u64> {
    gaps_us(&sent_after(sim, Side::B, from))
}

#[test]
fn s6_8_7_while_the_originators_agent_is_away_the_answering_end_originates() {
    // A originates (the smaller discriminator), B's kernel answers. A's
    // agent goes away for 8 s (killed, restarting): its kernel answers
    // whatever it receives, but sends nothing of its own. Without more,
    // neither end sends and both detect the silence. B's kernel reports
    // A silent two-thirds of a Detection Time after A's last packet; B's
    // core originates for the hold (5 s), hands back to its kernel, finds
    // A still silent and originates again; A's kernel answers throughout.
    let mut sim = answering_pair(71);
    sim.run_for(Duration::from_secs(2));
    assert!(sim.session(Side::B).fast_path().answer);
    let away = sim.now();
    sim.set_agent_away(Side::A, true);
    sim.run_for(Duration::from_secs(8));
    assert!(changes_after(&sim, Side::A, away).is_empty(), "A: {:?}", changes_after(&sim, Side::A, away));
    assert!(changes_after(&sim, Side::B, away).is_empty(), "B: {:?}", changes_after(&sim, Side::B, away));
    // Two takeovers: the first, and the one after the hold ran out.
    assert_eq!(sim.kernel_silences(Side::B), Some(2));
    assert_eq!(sim.session(Side::B).status().counters.takeovers, 2);
    // What A's kernel timed: B's packets never further apart than the
    // silence report (100 ms) plus the link's round trip (2 ms), and
    // B's takeover packets inside §6.8.7's window (80-100%: A's kernel
    // answers them too).
    let gaps = b_gaps_from(&sim, away);
    assert!(gaps.iter().all(|gap| (37_500..=102_500).contains(gap)), "B's gaps: {gaps:?}");
    assert!(gaps.iter().filter(|gap| **gap > 50_000).count() <= 2, "B's gaps: {gaps:?}");
    // A is back: it originates again, and after the hold B answers again.
    sim.set_agent_away(Side::A, false);
    sim.run_for(Duration::from_secs(6));
    assert!(sim.session(Side::B).fast_path().answer);
    let answers = sim.kernel_answers(Side::B).unwrap();
    sim.run_for(Duration::from_secs(1));
    assert!(sim.kernel_answers(Side::B).unwrap() > answers + 15);
    assert_eq!(sim.kernel_silences(Side::B), Some(2));
    assert!(changes_after(&sim, Side::A, away).is_empty() && changes_after(&sim, Side::B, away).is_empty());
}

#[test]
fn a_silence_report_is_acted_on_only_by_the_answering_end() {
    let mut sim = answering_pair(72);
    sim.run_for(Duration::from_secs(1));
    // A originates: nothing to take over.
    let mut acted = true;
    sim.input(Side::A, |session, now| acted = session.on_originator_silent(now));
    assert!(!acted);
    assert_eq!(sim.session(Side::A).status().counters.takeovers, 0);
    // B answers: it originates at once.
    let before = sim.sent(Side::B).len();
    sim.input(Side::B, |session, now| acted = session.on_originator_silent(now));
    assert!(acted);
    assert!(!sim.session(Side::B).fast_path().answer);
    assert_eq!(sim.sent(Side::B).len(), before + 1, "B sends at once");
}

#[test]
fn without_the_takeover_an_agent_away_takes_the_sessions_down() {
    // The counterpart of the test above with A sending no packet at all
    // (its kernel cannot answer what nobody sends): a cut of A's output.
    // B's takeover cannot save it: B detects one Detection Time after A's
    // last packet, so the takeover never hides a real failure.
    let mut sim = answering_pair(73);
    sim.run_for(Duration::from_secs(1));
    sim.link(Side::A).cut = true;
    let cut = sim.now();
    let down = sim.run_until_state(Side::B, State::Down, Duration::from_secs(1)).expect("B detects");
    assert!(down.saturating_since(cut) <= Duration::from_millis(150));
    assert_eq!(sim.kernel_silences(Side::B), Some(1));
}
