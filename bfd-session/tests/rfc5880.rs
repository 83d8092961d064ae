//! One scenario per RFC 5880 clause the session core implements, named
//! after the clause. Every scenario runs on the simulated link and clock
//! (`bfd_session::sim`): no root, no sockets, the same result every run.

mod common;

use core::time::Duration;

use bfd_common::wire::{AuthRepr, ControlRepr, Diagnostic, Password, State};
use bfd_session::sim::{Record, Side, Sim};
use bfd_session::{
    Cause, Discard, EchoConfig, Output, SLOW_TX_INTERVAL, Session, SessionConfig, TX_SLACK, Time,
    WAKE_SLACK_FRACTION, WAKE_SLACK_MAX,
};
use common::*;

// ----- §6.2 / §6.8.6: the three-way handshake ----------------------------

#[test]
fn s6_8_6_three_way_bring_up_from_both_sides() {
    let mut sim = pair(config(50, 50, 3), config(50, 50, 3), 1);
    let up = bring_up(&mut sim);
    // Both start Down and send at once: Down -> Init -> Up on both sides,
    // two round trips of 1 ms, not seconds of 1 s packets.
    for side in [Side::A, Side::B] {
        assert_eq!(
            transitions(&sim, side),
            [
                (State::Down, State::Init, Diagnostic::NoDiagnostic),
                (State::Init, State::Up, Diagnostic::NoDiagnostic),
            ],
            "{side:?}"
        );
        assert!(sim.state_changes(side).iter().all(|c| c.cause == Cause::Handshake));
        let status = sim.session(side).status();
        assert_eq!(status.tx_interval, Some(ms(50)), "{side:?} runs at the Up rate after its Poll");
        assert_eq!(status.detection_time, Some(ms(150)));
    }
    assert!(up <= at_ms(5), "Up after {up}");
    assert_eq!(sim.session(Side::A).remote_discr(), B_DISCR);
    assert_eq!(sim.session(Side::B).remote_discr(), A_DISCR);
}

#[test]
fn s6_8_6_bring_up_when_one_side_starts_late() {
    // B appears 3 s after A: A has been sending Down at 1 s; B answers and
    // the handshake runs Down -> Up on B (it hears Init from A).
    let mut sim = pair(config(300, 300, 3), config(300, 300, 3), 2);
    sim.link(Side::B).cut = true;
    sim.link(Side::A).cut = true;
    sim.run_for(Duration::from_secs(3));
    sim.link(Side::B).cut = false;
    sim.link(Side::A).cut = false;
    bring_up(&mut sim);
    assert_eq!(sim.session(Side::A).state(), State::Up);
    assert_eq!(sim.session(Side::B).state(), State::Up);
}

// ----- §6.1: passive role --------------------------------------------------

#[test]
fn s6_1_bring_up_with_one_passive_side() {
    let passive = SessionConfig { passive: true, ..config(50, 50, 3) };
    let mut sim = pair(config(50, 50, 3), passive, 3);
    // Keep A quiet for 2 s: B must not speak first.
    sim.link(Side::A).cut = true;
    sim.run_for(Duration::from_secs(2));
    assert!(sim.sent(Side::B).is_empty(), "a passive session waits for the peer (§6.1)");
    sim.link(Side::A).cut = false;
    bring_up(&mut sim);
    let first_heard = sim.delivered(Side::B)[0].0;
    assert!(sim.sent(Side::B).iter().all(|(at, _)| *at >= first_heard));
}

#[test]
fn s6_1_two_passive_sides_never_talk() {
    let passive = SessionConfig { passive: true, ..config(50, 50, 3) };
    let mut sim = pair(passive, passive, 4);
    sim.run_for(Duration::from_secs(10));
    assert!(sim.sent(Side::A).is_empty() && sim.sent(Side::B).is_empty());
    assert_eq!(sim.session(Side::A).state(), State::Down);
}

#[test]
fn s6_8_7_passive_side_falls_silent_after_losing_the_peer() {
    let passive = SessionConfig { passive: true, ..config(50, 50, 3) };
    let mut sim = pair(config(50, 50, 3), passive, 5);
    bring_up(&mut sim);
    sim.link(Side::A).cut = true;
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.session(Side::B).state(), State::Down);
    assert_eq!(sim.session(Side::B).remote_discr(), 0);
    // "MUST NOT transmit BFD Control packets if bfd.RemoteDiscr is zero and
    // the system is taking the Passive role."
    let down_at = sim.state_changes(Side::B).last().unwrap().at;
    sim.run_for(Duration::from_secs(5));
    assert!(sim.sent(Side::B).iter().all(|(at, _)| *at <= down_at));
}

// ----- §6.8.4: detection ---------------------------------------------------

#[test]
fn s6_8_4_detection_expiry_with_diagnostic_1_at_exactly_the_detection_time() {
    let mut sim = pair(config(50, 50, 3), config(50, 50, 3), 6);
    bring_up(&mut sim);
    sim.run_for(Duration::from_secs(1));
    sim.link(Side::B).cut = true;
    let down = sim.run_until_state(Side::A, State::Down, Duration::from_secs(1)).expect("A detects");
    let last_rx = sim.delivered(Side::A).last().unwrap().0;
    // Remote Detect Mult 3 x max(our RequiredMinRx 50 ms, its DesiredMinTx 50 ms).
    assert_eq!(down, last_rx + ms(150));
    let change = *sim.state_changes(Side::A).last().unwrap();
    assert_eq!((change.from, change.to), (State::Up, State::Down));
    assert_eq!(change.diagnostic, Diagnostic::ControlDetectionTimeExpired);
    assert_eq!(change.cause, Cause::DetectionTimeExpired);
    assert!(change.is_failure());
}

#[test]
fn s6_8_4_detection_uses_the_slower_of_our_rx_and_the_peers_tx() {
    let mut sim = pair(config(50, 200, 3), config(100, 50, 5), 7);
    bring_up(&mut sim);
    // A: B's mult 5 x max(A's RequiredMinRx 200, B's DesiredMinTx 100).
    assert_eq!(sim.session(Side::A).status().detection_time, Some(ms(1000)));
    // B: A's mult 3 x max(B's RequiredMinRx 50, A's DesiredMinTx 50).
    assert_eq!(sim.session(Side::B).status().detection_time, Some(ms(150)));
    // Each sends at max(own DesiredMinTx, peer's RequiredMinRx).
    assert_eq!(sim.session(Side::A).status().tx_interval, Some(ms(50)));
    assert_eq!(sim.session(Side::B).status().tx_interval, Some(ms(200)));
}

#[test]
fn s6_8_4_kernel_detection_at_exactly_the_detection_time() {
    let mut sim = pair(kernel(config(50, 50, 3)), kernel(config(50, 50, 3)), 8);
    bring_up(&mut sim);
    sim.run_for(Duration::from_secs(1));
    sim.link(Side::B).cut = true;
    let down = sim.run_until_state(Side::A, State::Down, Duration::from_secs(1)).expect("kernel timer");
    let last_rx = sim.delivered(Side::A).last().unwrap().0;
    assert_eq!(down, last_rx + ms(150));
    assert_eq!(
        sim.state_changes(Side::A).last().unwrap().diagnostic,
        Diagnostic::ControlDetectionTimeExpired
    );
}

#[test]
fn s6_8_4_stale_kernel_timeout_is_ignored() {
    let mut a = session(A_DISCR, kernel(config(50, 50, 3)), 9);
    a.on_control(at_ms(10), &from_peer(State::Down, 0)).unwrap();
    a.on_control(at_ms(20), &from_peer(State::Up, A_DISCR)).unwrap();
    assert_eq!(a.state(), State::Up);
    // The kernel's timer fired at 15 ms (its event queued), but a packet
    // received at 20 ms has been handled since: the event is stale.
    assert!(!a.on_kernel_timeout(at_ms(160), at_ms(15)));
    assert_eq!(a.state(), State::Up);
    assert!(a.on_kernel_timeout(at_ms(171), at_ms(170)));
    assert_eq!(a.state(), State::Down);
}

// ----- §6.8.1: bfd.RemoteDiscr reset ---------------------------------------

#[test]
fn s6_8_1_remote_discriminator_reset_after_a_detection_time_down() {
    let mut sim = pair(config(50, 50, 3), config(50, 50, 3), 10);
    bring_up(&mut sim);
    sim.link(Side::B).cut = true;
    let down = sim.run_until_state(Side::A, State::Down, Duration::from_secs(1)).unwrap();
    assert_eq!(sim.session(Side::A).remote_discr(), 0);
    let after: Vec<_> = sim.sent(Side::A).into_iter().filter(|(at, _)| *at >= down).collect();
    assert!(!after.is_empty());
    assert!(after.iter().all(|(_, p)| p.your_discriminator == 0 && p.state == State::Down));
}

#[test]
fn s6_8_1_remote_discriminator_reset_while_down_when_the_peer_falls_silent() {
    // A goes Down on B's AdminDown (it keeps B's discriminator), then B
    // stops sending: after a Detection Time A forgets the discriminator.
    let mut sim = pair(config(50, 50, 3), config(50, 50, 3), 11);
    bring_up(&mut sim);
    sim.input(Side::B, |s, now| s.admin_down(now, Diagnostic::AdministrativelyDown));
    sim.run_for(ms(50));
    assert_eq!(sim.session(Side::A).state(), State::Down);
    assert_eq!(sim.session(Side::A).remote_discr(), B_DISCR);
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.session(Side::A).remote_discr(), 0);
}

// ----- §6.8.6: neighbour signalled Down ------------------------------------

#[test]
fn s6_8_6_neighbor_signaled_down_with_diagnostic_3() {
    let mut sim = pair(config(50, 50, 3), config(50, 50, 3), 12);
    bring_up(&mut sim);
    sim.link(Side::A).cut = true;
    sim.run_until_state(Side::B, State::Down, Duration::from_secs(1)).unwrap();
    let b_down = sim.state_changes(Side::B).last().unwrap().at;
    let a_down = sim.run_until_state(Side::A, State::Down, Duration::from_secs(1)).unwrap();
    // B's Down goes out at once and takes the 1 ms link.
    assert_eq!(a_down, b_down + ms(1));
    let change = *sim.state_changes(Side::A).last().unwrap();
    assert_eq!(change.diagnostic, Diagnostic::NeighborSignaledSessionDown);
    assert_eq!(change.cause, Cause::NeighborDown);
    assert!(change.is_failure());
    // A's packets now say why.
    assert_eq!(sim.sent(Side::A).last().unwrap().1.diagnostic, Diagnostic::NeighborSignaledSessionDown);
}

// ----- §6.8.16: AdminDown ---------------------------------------------------

#[test]
fn s6_8_16_admin_down_sent_and_received() {
    let mut sim = pair(config(50, 50, 3), config(50, 50, 3), 13);
    bring_up(&mut sim);
    sim.input(Side::A, |s, now| s.admin_down(now, Diagnostic::AdministrativelyDown));
    let t0 = sim.now();
    sim.run_for(Duration::from_secs(5));
    let a = *sim.state_changes(Side::A).last().unwrap();
    assert_eq!(
        (a.to, a.diagnostic, a.cause),
        (State::AdminDown, Diagnostic::AdministrativelyDown, Cause::AdminDown)
    );
    assert!(!a.is_failure());
    let b = sim.state_changes(Side::B)[2];
    assert_eq!(
        (b.from, b.to, b.diagnostic),
        (State::Up, State::Down, Diagnostic::NeighborSignaledSessionDown)
    );
    // RFC 5882 §3.2: the peer's AdminDown is reported so that clients keep
    // their routes.
    assert_eq!(b.cause, Cause::RemoteAdminDown);
    assert!(!b.is_failure());
    // "BFD Control packets SHOULD be transmitted for at least a Detection
    // Time after transitioning to AdminDown state": at the Up rate, for
    // B's Detection Time (3 x 50 ms), then no more.
    let admin: Vec<Time> = sim
        .sent(Side::A)
        .into_iter()
        .filter(|(at, _)| *at >= t0)
        .map(|(at, p)| {
            assert_eq!(p.state, State::AdminDown);
            assert_eq!(p.diagnostic, Diagnostic::AdministrativelyDown);
            at
        })
        .collect();
    assert!(admin.len() >= 3, "{} AdminDown packets", admin.len());
    assert!(admin.iter().all(|&at| at < t0 + ms(150)));
    // B's packets are discarded while AdminDown.
    assert!(sim.session(Side::A).status().counters.control_discarded > 0);
    assert_eq!(sim.session(Side::B).state(), State::Down);

    // Enabling: Down, then Up again; the diagnostic stays until Up.
    sim.input(Side::A, |s, now| s.admin_up(now));
    assert_eq!(sim.session(Side::A).status().local_diag, Diagnostic::AdministrativelyDown);
    sim.run_until_state(Side::A, State::Up, Duration::from_secs(5)).expect("Up again");
    sim.run_until_state(Side::B, State::Up, Duration::from_secs(5)).expect("B Up again");
    assert_eq!(sim.session(Side::A).status().local_diag, Diagnostic::NoDiagnostic);
}

#[test]
fn s6_8_16_admin_down_the_other_way_with_path_down() {
    let mut sim = pair(config(300, 300, 3), config(300, 300, 3), 14);
    bring_up(&mut sim);
    sim.input(Side::B, |s, now| s.admin_down(now, Diagnostic::PathDown));
    sim.run_for(ms(100));
    let a = *sim.state_changes(Side::A).last().unwrap();
    assert_eq!((a.to, a.cause), (State::Down, Cause::RemoteAdminDown));
    assert_eq!(sim.session(Side::A).status().remote_diag, Diagnostic::PathDown);
    assert_eq!(sim.session(Side::B).status().local_diag, Diagnostic::PathDown);
}

// ----- §6.8.3 / §6.5: Poll Sequences -----------------------------------------

#[test]
fn s6_8_3_larger_tx_interval_waits_for_final() {
    let mut sim = pair(config(50, 50, 3), config(50, 50, 3), 15);
    bring_up(&mut sim);
    sim.run_for(Duration::from_secs(1));
    // Slow the way back so that the Final takes 200 ms to arrive.
    sim.link(Side::B).delay = ms(200);
    sim.run_for(Duration::from_secs(1));
    let t0 = sim.now();
    sim.input(Side::A, |s, now| s.configure(now, config(500, 50, 3)).unwrap());
    assert!(sim.session(Side::A).status().polling);
    sim.run_for(Duration::from_secs(5));
    let final_at = sim
        .delivered(Side::A)
        .into_iter()
        .find(|(at, p)| *at >= t0 && p.final_)
        .map(|(at, _)| at)
        .expect("a Final");
    assert!(final_at >= t0 + ms(200));
    let sent: Vec<(Time, ControlRepr)> = sim.sent(Side::A).into_iter().filter(|(at, _)| *at >= t0).collect();
    // Until the Final: the old 50 ms interval, every packet a Poll
    // announcing 500 ms.
    let before: Vec<_> = sent.iter().filter(|(at, _)| *at <= final_at).collect();
    assert!(before.len() >= 4, "{} packets before the Final", before.len());
    for pair in before.windows(2) {
        assert!(pair[1].0 - pair[0].0 <= ms(50), "{} -> {}", pair[0].0, pair[1].0);
    }
    assert!(before.iter().all(|(_, p)| p.poll && p.desired_min_tx == 500_000));
    // After it: 500 ms less jitter, no Poll.
    let after: Vec<_> = sent.iter().filter(|(at, _)| *at > final_at).collect();
    assert!(after.len() >= 5);
    for pair in after.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(gap >= ms(375) && gap <= ms(500), "gap {gap:?}");
    }
    assert!(after.iter().all(|(_, p)| !p.poll));
    assert_eq!(sim.session(Side::A).state(), State::Up);
    assert_eq!(sim.session(Side::B).state(), State::Up);
}

#[test]
fn s6_8_3_smaller_rx_interval_waits_for_final_larger_applies_at_once() {
    let mut sim = pair(config(50, 300, 3), config(50, 50, 3), 16);
    bring_up(&mut sim);
    assert_eq!(sim.session(Side::A).status().detection_time, Some(ms(900)));
    sim.link(Side::B).delay = ms(100);
    sim.run_for(Duration::from_secs(2));
    // Smaller RequiredMinRx: the old one still times B until the Final.
    sim.input(Side::A, |s, now| s.configure(now, config(50, 50, 3)).unwrap());
    assert!(sim.session(Side::A).status().polling);
    assert_eq!(sim.session(Side::A).status().detection_time, Some(ms(900)));
    sim.run_for(ms(50));
    assert_eq!(sim.session(Side::A).status().detection_time, Some(ms(900)), "before the Final");
    sim.run_for(ms(500));
    assert!(!sim.session(Side::A).status().polling);
    assert_eq!(sim.session(Side::A).status().detection_time, Some(ms(150)), "after the Final");
    // Larger: at once, while the Poll runs.
    sim.input(Side::A, |s, now| s.configure(now, config(50, 400, 3)).unwrap());
    assert!(sim.session(Side::A).status().polling);
    assert_eq!(sim.session(Side::A).status().detection_time, Some(ms(1200)));
    sim.run_for(Duration::from_secs(2));
    assert!(
        changes_after(&sim, Side::A, at_ms(100)).is_empty()
            && changes_after(&sim, Side::B, at_ms(100)).is_empty()
    );
}

#[test]
fn s6_5_change_during_a_poll_gets_its_own_poll() {
    let mut sim = pair(config(50, 50, 3), config(50, 50, 3), 17);
    bring_up(&mut sim);
    sim.link(Side::B).delay = ms(100);
    sim.run_for(Duration::from_secs(1));
    sim.input(Side::A, |s, now| s.configure(now, config(100, 50, 3)).unwrap());
    sim.run_for(ms(20));
    sim.input(Side::A, |s, now| s.configure(now, config(300, 50, 3)).unwrap());
    sim.run_for(Duration::from_secs(3));
    let status = sim.session(Side::A).status();
    assert!(!status.polling);
    assert_eq!(status.tx_interval, Some(ms(300)));
    // Two Finals were needed.
    let finals = sim.delivered(Side::A).iter().filter(|(at, p)| *at > at_ms(1000) && p.final_).count();
    assert!(finals >= 2, "{finals} Finals");
}

#[test]
fn s6_8_7_poll_is_answered_with_final_at_once() {
    let mut a = session(A_DISCR, config(300, 300, 3), 18);
    a.on_control(at_ms(10), &from_peer(State::Down, 0)).unwrap();
    transmitted(&mut a);
    let poll = ControlRepr { poll: true, ..from_peer(State::Init, A_DISCR) };
    a.on_control(at_ms(20), &poll).unwrap();
    let sent = transmitted(&mut a);
    assert!(sent.iter().any(|p| p.final_ && !p.poll), "{sent:?}");
}

// ----- §6.8.3: slow transmission while not Up --------------------------------

#[test]
fn s6_8_3_one_second_desired_min_tx_while_not_up() {
    let mut sim = pair(config(50, 50, 3), config(50, 50, 3), 19);
    sim.link(Side::A).cut = true;
    sim.link(Side::B).cut = true;
    sim.run_for(Duration::from_secs(20));
    let sent = sim.sent(Side::A);
    assert!(sent.len() >= 19);
    assert!(sent.iter().all(|(_, p)| p.desired_min_tx == 1_000_000 && p.state == State::Down));
    for pair in sent.windows(2) {
        assert!(pair[1].0 - pair[0].0 >= SLOW_TX_INTERVAL * 3 / 4);
    }
    // Up: the configured 50 ms, announced with a Poll (§6.8.3).
    sim.link(Side::A).cut = false;
    sim.link(Side::B).cut = false;
    bring_up(&mut sim);
    // (A Final answering the peer's Poll carries P clear; the next packet
    // is A's own Poll.)
    let announce = sim.sent(Side::A).into_iter().find(|(_, p)| p.state == State::Up && !p.final_).unwrap().1;
    assert!(announce.poll);
    assert_eq!(announce.desired_min_tx, 50_000);
    // Down again: back to 1 s at once, no Poll needed.
    sim.link(Side::B).cut = true;
    let down = sim.run_until_state(Side::A, State::Down, Duration::from_secs(1)).unwrap();
    let after = sim.sent(Side::A).into_iter().find(|(at, _)| *at >= down).unwrap().1;
    assert_eq!(after.desired_min_tx, 1_000_000);
    assert!(!after.poll);
}

// ----- §6.8.7: jitter -------------------------------------------------------

/// The gaps between 10,000 periodic transmissions of a lone session
/// (Down, so the interval is 1 s), as fractions of the interval.
fn jitter_fractions(mult: u8, seed: u64) -> Vec<f64> {
    let mut a = session(A_DISCR, config(1000, 1000, mult), seed);
    let mut times = vec![];
    while times.len() < 10_001 {
        let now = a.next_deadline().expect("an active session always has a next transmission");
        a.on_timer(now);
        if !transmitted(&mut a).is_empty() {
            times.push(now);
        }
    }
    times.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect()
}

#[test]
fn s6_8_7_jitter_reduces_the_interval_by_0_to_25_percent() {
    let fractions = jitter_fractions(3, 20);
    let (min, max) = fractions.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &f| (lo.min(f), hi.max(f)));
    assert!(min >= 0.75 && max <= 1.0, "min {min}, max {max}");
    // Uniform: the whole range is used, the mean is about 87.5%.
    assert!(min < 0.751 && max > 0.999, "min {min}, max {max}");
    let mean = fractions.iter().sum::<f64>() / fractions.len() as f64;
    assert!((mean - 0.875).abs() < 0.005, "mean {mean}");
}

#[test]
fn s6_8_7_jitter_with_multiplier_1_stays_between_75_and_90_percent() {
    let fractions = jitter_fractions(1, 21);
    let (min, max) = fractions.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &f| (lo.min(f), hi.max(f)));
    assert!(min >= 0.75 && max <= 0.90, "min {min}, max {max}");
    assert!(min < 0.751 && max > 0.899, "min {min}, max {max}");
}

#[test]
fn s6_8_7_jitter_while_up() {
    let mut sim = pair(config(50, 50, 3), config(50, 50, 3), 22);
    let up = bring_up(&mut sim);
    sim.run_for(Duration::from_secs(60));
    let sent: Vec<Time> =
        sim.sent(Side::A).into_iter().filter(|(at, _)| *at > up + ms(100)).map(|(at, _)| at).collect();
    assert!(sent.len() > 1000);
    for pair in sent.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_micros(37_500) && gap <= ms(50), "gap {gap:?}");
    }
}

/// `tx`/`rx` in microseconds.
fn config_us(tx: u64, rx: u64, mult: u8) -> SessionConfig {
    SessionConfig {
        desired_min_tx: Duration::from_micros(tx),
        required_min_rx: Duration::from_micros(rx),
        ..config(1, 1, mult)
    }
}

/// The gaps between 10,000 transmissions of a lone session driven at the
/// earliest moment it allows ([`Session::earliest_deadline`]), as a caller
/// serving it early with other sessions would, as fractions of `interval_ms`.
fn earliest_fractions(interval_ms: u64, mult: u8, seed: u64) -> Vec<f64> {
    earliest_fractions_with(interval_ms, mult, seed, Duration::ZERO, TX_SLACK)
}

/// [`earliest_fractions`] with the caller's wake slack set to `wake_slack`,
/// checking that no window is wider than `widest`.
fn earliest_fractions_with(
    interval_ms: u64,
    mult: u8,
    seed: u64,
    wake_slack: Duration,
    widest: Duration,
) -> Vec<f64> {
    let mut a = session(A_DISCR, config(interval_ms, interval_ms, mult), seed);
    a.set_wake_slack(wake_slack);
    // The first packet leaves at creation.
    let mut times = vec![Time::ZERO];
    assert_eq!(transmitted(&mut a).len(), 1);
    while times.len() < 10_001 {
        let due = a.next_deadline().expect("an active session always has a next transmission");
        let early = a.earliest_deadline().expect("and an earliest moment");
        assert!(early <= due && due - early <= widest, "window {:?}", due - early);
        // One nanosecond before the window: nothing is sent.
        {
            a.on_timer(Time::from_nanos(early.as_nanos() - 1));
            let sent = transmitted(&mut a);
            assert!(
                sent.is_empty(),
                "sent before its window at {early:?} (due {due:?}, {} sent so far): {sent:?}",
                times.len()
            );
        }
        a.on_timer(early);
        if !transmitted(&mut a).is_empty() {
            times.push(early);
        }
    }
    let interval = (interval_ms * 1000) as f64 / 1e6;
    times.windows(2).map(|w| (w[1] - w[0]).as_secs_f64() / interval).collect()
}

#[test]
fn s6_8_7_early_transmissions_to_share_a_wake_up_keep_the_jitter_range() {
    // Down: 1 s intervals, a window of at most 1 ms (0.1%).
    for (interval_ms, mult, seed, high) in [(1000, 3, 40, 1.0), (1000, 1, 41, 0.90)] {
        let fractions = earliest_fractions(interval_ms, mult, seed);
        let (min, max) = fractions.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &f| (lo.min(f), hi.max(f)));
        assert!(min >= 0.75 && max <= high, "mult {mult}: min {min}, max {max}");
        // The window is the 1 ms cap: the mean moves by at most 0.1%.
        let center = if mult == 1 { 0.825 } else { 0.875 };
        let mean = fractions.iter().sum::<f64>() / fractions.len() as f64;
        assert!((mean - center).abs() < 0.006, "mult {mult}: mean {mean}");
    }
}

#[test]
fn s6_8_7_a_wider_wake_slack_is_capped_and_keeps_the_jitter_range() {
    // Down: 1 s intervals. A caller asking for 20 ms gets WAKE_SLACK_MAX
    // (5 ms); served at the earliest moment every time, the intervals stay
    // inside 75-100% (75-90% at Detect Mult 1) and the mean moves by the
    // 0.5% the window is.
    assert_eq!(WAKE_SLACK_MAX, ms(5));
    for (mult, seed, high, center) in [(3, 43, 1.0, 0.875), (1, 44, 0.90, 0.825)] {
        let fractions = earliest_fractions_with(1000, mult, seed, ms(20), WAKE_SLACK_MAX);
        let (min, max) = fractions.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &f| (lo.min(f), hi.max(f)));
        assert!(min >= 0.75 && max <= high, "mult {mult}: min {min}, max {max}");
        let mean = fractions.iter().sum::<f64>() / fractions.len() as f64;
        assert!(mean < center - 0.003 && mean > center - 0.011, "mult {mult}: mean {mean}");
        // Some window was the whole 5 ms (the floor did not bind).
        assert!(fractions.iter().any(|f| *f < high - 0.0049), "mult {mult}: no early transmission");
    }
    // A smaller wake slack than TX_SLACK never narrows TX_SLACK's window.
    let mut a = session(A_DISCR, config(1000, 1000, 3), 45);
    a.set_wake_slack(Duration::from_micros(10));
    assert_eq!(transmitted(&mut a).len(), 1);
    let (due, early) = (a.next_deadline().unwrap(), a.earliest_deadline().unwrap());
    assert_eq!(due - early, TX_SLACK);
}

#[test]
fn s6_8_7_a_wake_slack_is_at_most_10_percent_of_a_short_interval() {
    // Up at 3.3 ms with a 5 ms wake slack: the window is 10% (330 µs).
    let mut sim = pair(config_us(3300, 3300, 3), config_us(3300, 3300, 3), 46);
    sim.input(Side::A, |s, _| s.set_wake_slack(WAKE_SLACK_MAX));
    bring_up(&mut sim);
    sim.run_for(Duration::from_secs(1));
    let a = sim.session(Side::A);
    let (due, early) = (a.next_deadline().unwrap(), a.earliest_deadline().unwrap());
    assert!(due - early <= Duration::from_micros(330), "window {:?}", due - early);
    assert_eq!(WAKE_SLACK_FRACTION, 10);
}

#[test]
fn s6_8_7_the_transmit_window_is_2_percent_of_a_short_interval_and_never_below_75_percent() {
    // Up at 3.3 ms: the window is 2% (66 µs), not 1 ms.
    let mut sim = pair(config_us(3300, 3300, 3), config_us(3300, 3300, 3), 42);
    bring_up(&mut sim);
    sim.run_for(Duration::from_secs(1));
    let a = sim.session(Side::A);
    let (due, early) = (a.next_deadline().unwrap(), a.earliest_deadline().unwrap());
    assert!(due - early <= Duration::from_micros(66), "window {:?}", due - early);
    // Every gap A sent while Up, with the simulator serving it on time.
    let sent: Vec<Time> = sim.sent(Side::A).into_iter().map(|(at, _)| at).collect();
    let tail = &sent[sent.len() - 100..];
    for pair in tail.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_nanos(2_475_000) && gap <= Duration::from_micros(3300), "gap {gap:?}");
    }
}

// ----- §6.8.7: RequiredMinRx 0 ----------------------------------------------

#[test]
fn s6_8_7_no_periodic_transmission_when_remote_required_min_rx_is_zero() {
    let mut sim = pair(config(50, 50, 3), config(50, 0, 3), 23);
    bring_up(&mut sim);
    let t0 = sim.now();
    sim.run_for(Duration::from_secs(10));
    assert!(sim.sent(Side::A).iter().all(|(at, _)| *at <= t0), "A sent periodic packets");
    // B asked for nothing, so it times nothing: still Up.
    assert_eq!(sim.session(Side::B).state(), State::Up);
    assert_eq!(sim.session(Side::B).status().detection_time, None);
    // A Poll is still answered (§6.8.7: "without respect to ... any other
    // transmission limitations").
    sim.input(Side::B, |s, now| s.poll(now));
    sim.run_for(Duration::from_secs(1));
    let answers: Vec<_> = sim.sent(Side::A).into_iter().filter(|(at, _)| *at > t0).collect();
    assert_eq!(answers.len(), 1);
    assert!(answers[0].1.final_);
    assert!(!sim.session(Side::B).status().polling);
}

// ----- §6.6: Demand mode ------------------------------------------------------

#[test]
fn s6_6_remote_demand_mode_honoured() {
    let demand = SessionConfig { demand: true, ..config(50, 50, 3) };
    let mut sim = pair(demand, config(50, 50, 3), 24);
    bring_up(&mut sim);
    sim.run_for(ms(200));
    let t0 = sim.now();
    assert!(sim.sent(Side::A).last().unwrap().1.demand, "A sets D once both are Up");
    sim.run_for(Duration::from_secs(10));
    // B honours A's Demand mode: no periodic packets.
    assert!(sim.sent(Side::B).iter().all(|(at, _)| *at <= t0));
    // A keeps sending (B is not in Demand mode) and does not time B.
    assert!(sim.sent(Side::A).iter().filter(|(at, _)| *at > t0).count() > 100);
    assert_eq!(sim.session(Side::A).state(), State::Up);
    assert_eq!(sim.session(Side::A).status().detection_time, None);
    // A verifies with a Poll: B answers with a Final, A stays Up.
    sim.input(Side::A, |s, now| s.poll(now));
    sim.run_for(Duration::from_secs(1));
    assert!(!sim.session(Side::A).status().polling);
    assert_eq!(sim.session(Side::A).state(), State::Up);
    // With B's path cut, the Poll goes unanswered: Down after A's Detection
    // Time in Demand mode (A's mult 3 x max(A's tx 50, B's rx 50)).
    sim.link(Side::B).cut = true;
    sim.input(Side::A, |s, now| s.poll(now));
    let polled = sim.now();
    let down = sim.run_until_state(Side::A, State::Down, Duration::from_secs(2)).unwrap();
    assert_eq!(down, polled + ms(150));
    assert_eq!(
        sim.state_changes(Side::A).last().unwrap().diagnostic,
        Diagnostic::ControlDetectionTimeExpired
    );
}

// ----- §4.1: C bit --------------------------------------------------------------

#[test]
fn s4_1_control_plane_independent_bit() {
    let independent = SessionConfig { control_plane_independent: true, ..config(50, 50, 3) };
    let mut sim = pair(independent, config(50, 50, 3), 25);
    bring_up(&mut sim);
    assert!(sim.sent(Side::A).iter().all(|(_, p)| p.control_plane_independent));
    assert!(sim.sent(Side::B).iter().all(|(_, p)| !p.control_plane_independent));
    assert!(sim.session(Side::B).status().remote_control_plane_independent);
    assert!(!sim.session(Side::A).status().remote_control_plane_independent);
}

// ----- §6.4, §6.8.8, §6.8.9: echo -------------------------------------------------

fn echo(transmit: bool, tx: u64, rx: u64) -> EchoConfig {
    EchoConfig { transmit, desired_min_tx: ms(tx), required_min_rx: ms(rx) }
}

#[test]
fn s6_8_8_echo_interval_negotiation_and_detection() {
    let a = SessionConfig { echo: echo(true, 50, 50), ..config(300, 300, 3) };
    let b = SessionConfig { echo: echo(false, 50, 100), ..config(300, 300, 3) };
    let mut sim = pair(a, b, 26);
    // "BFD Echo packets MUST NOT be transmitted when bfd.SessionState is not Up"
    let up = bring_up(&mut sim);
    let echo_sent: Vec<Time> = sim
        .log()
        .iter()
        .filter_map(|r| match r {
            Record::EchoSent { at, from: Side::A } => Some(*at),
            _ => None,
        })
        .collect();
    assert!(echo_sent.iter().all(|&at| at >= up));
    // Interval: max(our 50 ms, the peer's Required Min Echo RX 100 ms).
    let status = sim.session(Side::A).status();
    assert_eq!(status.echo_tx_interval, Some(ms(100)));
    assert_eq!(status.echo_detection_time, Some(ms(300)));
    assert_eq!(sim.session(Side::B).status().echo_tx_interval, None, "B does not send echo");
    sim.run_for(Duration::from_secs(2));
    let times = echo_times(&sim, Side::A);
    assert!(times.len() >= 19);
    for pair in times.windows(2) {
        assert_eq!(pair[1] - pair[0], ms(100));
    }
    assert!(sim.session(Side::A).status().echo_rtt == Some(ms(2)));
    // The echo path fails while control packets still pass: Down with
    // diagnostic 2 one echo detection time after the last return.
    sim.link(Side::A).drop_echo = true;
    let down = sim.run_until_state(Side::A, State::Down, Duration::from_secs(1)).unwrap();
    let last_return = last_echo_return(&sim, Side::A);
    assert_eq!(down, last_return + ms(300));
    let change = *sim.state_changes(Side::A).last().unwrap();
    assert_eq!((change.diagnostic, change.cause), (Diagnostic::EchoFunctionFailed, Cause::EchoFailed));
    assert!(change.is_failure());
}

fn echo_times(sim: &Sim, side: Side) -> Vec<Time> {
    sim.log()
        .iter()
        .filter_map(|r| match r {
            Record::EchoSent { at, from } if *from == side => Some(*at),
            _ => None,
        })
        .collect()
}

fn last_echo_return(sim: &Sim, side: Side) -> Time {
    sim.log()
        .iter()
        .rev()
        .filter_map(|r| match r {
            Record::EchoReturned { at, to } if *to == side => Some(*at),
            _ => None,
        })
        .next()
        .unwrap()
}

#[test]
fn s6_8_8_no_echo_when_the_peer_advertises_zero_and_echo_ceases_when_it_does() {
    let a = SessionConfig { echo: echo(true, 50, 50), ..config(300, 300, 3) };
    let b = SessionConfig { echo: echo(false, 50, 0), ..config(300, 300, 3) };
    let mut sim = pair(a, b, 27);
    bring_up(&mut sim);
    sim.run_for(Duration::from_secs(2));
    assert!(echo_times(&sim, Side::A).is_empty());
    // B becomes willing: echo starts; B withdraws: "the transmission of Echo
    // packets, if any, MUST cease".
    sim.input(Side::B, |s, now| {
        s.configure(now, SessionConfig { echo: echo(false, 50, 50), ..config(300, 300, 3) }).unwrap()
    });
    sim.run_for(Duration::from_secs(1));
    let started = echo_times(&sim, Side::A).len();
    assert!(started >= 10);
    sim.input(Side::B, |s, now| s.configure(now, b).unwrap());
    sim.run_for(ms(10));
    let ceased = echo_times(&sim, Side::A).len();
    sim.run_for(Duration::from_secs(2));
    assert_eq!(echo_times(&sim, Side::A).len(), ceased);
    assert_eq!(sim.session(Side::A).state(), State::Up);
}

#[test]
fn s6_8_8_echo_with_kernel_detection() {
    let a = kernel(SessionConfig { echo: echo(true, 50, 50), ..config(300, 300, 3) });
    let b = kernel(SessionConfig { echo: echo(false, 50, 50), ..config(300, 300, 3) });
    let mut sim = pair(a, b, 28);
    bring_up(&mut sim);
    assert_eq!(sim.session(Side::A).fast_path().echo_detection_time, Some(ms(150)));
    assert!(sim.session(Side::B).fast_path().reflect_echo);
    sim.run_for(Duration::from_secs(2));
    sim.link(Side::B).drop_echo = true;
    let down = sim.run_until_state(Side::A, State::Down, Duration::from_secs(1)).unwrap();
    assert_eq!(down, last_echo_return(&sim, Side::A) + ms(150));
    assert_eq!(sim.state_changes(Side::A).last().unwrap().diagnostic, Diagnostic::EchoFunctionFailed);
}

#[test]
fn s6_8_8_no_echo_on_multihop() {
    let a = SessionConfig { multihop: true, ..config(300, 300, 3) };
    let s = session(A_DISCR, a, 29);
    assert_eq!(s.status().required_min_echo_rx, Duration::ZERO, "RFC 5883: we loop nothing back");
    let with_echo = SessionConfig { echo: echo(true, 50, 50), ..a };
    assert!(Session::new(A_DISCR, with_echo, 1, Time::ZERO).is_err());
}

// ----- §6.3: discriminators ----------------------------------------------------

#[test]
fn s6_3_both_sides_choosing_the_same_discriminator() {
    let mut sim = Sim::new(session(7, config(50, 50, 3), 30), session(7, config(50, 50, 3), 31), 32);
    bring_up(&mut sim);
    sim.run_for(Duration::from_secs(10));
    assert_eq!(sim.session(Side::A).remote_discr(), 7);
    assert_eq!(sim.state_changes(Side::A).len(), 2);
    sim.link(Side::A).cut = true;
    sim.run_until_state(Side::B, State::Down, Duration::from_secs(1)).unwrap();
    sim.link(Side::A).cut = false;
    sim.run_until_state(Side::B, State::Up, Duration::from_secs(5)).unwrap();
}

// ----- §6.8.6: a packet for a session in each state ----------------------------

/// Brings a lone session (peer faked) into `state`.
fn session_in(state: State) -> Session {
    let mut s = session(A_DISCR, config(50, 50, 3), 33);
    match state {
        State::AdminDown => s.admin_down(at_ms(1), Diagnostic::AdministrativelyDown),
        State::Down => {}
        State::Init => s.on_control(at_ms(1), &from_peer(State::Down, 0)).unwrap(),
        State::Up => s.on_control(at_ms(1), &from_peer(State::Init, A_DISCR)).unwrap(),
    }
    assert_eq!(s.state(), state);
    s.drain_outputs().for_each(drop);
    s
}

#[test]
fn s6_8_6_a_packet_for_a_session_in_each_state() {
    use State::*;
    let none = Diagnostic::NoDiagnostic;
    let nbr = Diagnostic::NeighborSignaledSessionDown;
    // (local, received) -> Ok(new state, diagnostic, cause) or the discard.
    type Outcome = Result<(State, Diagnostic, Option<Cause>), Discard>;
    let table: [(State, State, Outcome); 16] = [
        (AdminDown, AdminDown, Err(Discard::AdminDown)),
        (AdminDown, Down, Err(Discard::AdminDown)),
        (AdminDown, Init, Err(Discard::AdminDown)),
        (AdminDown, Up, Err(Discard::AdminDown)),
        (Down, AdminDown, Ok((Down, none, None))),
        (Down, Down, Ok((Init, none, Some(Cause::Handshake)))),
        (Down, Init, Ok((Up, none, Some(Cause::Handshake)))),
        (Down, Up, Ok((Down, none, None))),
        (Init, AdminDown, Ok((Down, nbr, Some(Cause::RemoteAdminDown)))),
        (Init, Down, Ok((Init, none, None))),
        (Init, Init, Ok((Up, none, Some(Cause::Handshake)))),
        (Init, Up, Ok((Up, none, Some(Cause::Handshake)))),
        (Up, AdminDown, Ok((Down, nbr, Some(Cause::RemoteAdminDown)))),
        (Up, Down, Ok((Down, nbr, Some(Cause::NeighborDown)))),
        (Up, Init, Ok((Up, none, None))),
        (Up, Up, Ok((Up, none, None))),
    ];
    for (local, received, expected) in table {
        let mut s = session_in(local);
        let diag_before = s.status().local_diag;
        let result = s.on_control(at_ms(10), &from_peer(received, A_DISCR));
        let changes: Vec<_> = s
            .drain_outputs()
            .filter_map(|o| match o {
                Output::StateChange(c) => Some(c),
                _ => None,
            })
            .collect();
        match expected {
            Err(discard) => {
                assert_eq!(result, Err(discard), "{local} <- {received}");
                assert_eq!(s.state(), local);
                assert!(changes.is_empty());
            }
            Ok((state, diagnostic, cause)) => {
                assert_eq!(result, Ok(()), "{local} <- {received}");
                assert_eq!(s.state(), state, "{local} <- {received}");
                let expected_diag = if cause.is_some() { diagnostic } else { diag_before };
                assert_eq!(s.status().local_diag, expected_diag, "{local} <- {received}");
                assert_eq!(
                    changes.iter().map(|c| c.cause).collect::<Vec<_>>(),
                    cause.into_iter().collect::<Vec<_>>()
                );
            }
        }
    }
}

#[test]
fn s6_8_6_authenticated_packet_discarded_when_no_authentication_is_in_use() {
    let mut s = session(A_DISCR, config(50, 50, 3), 34);
    let password = Password::new(b"secret").unwrap();
    let packet = ControlRepr {
        auth: Some(AuthRepr::SimplePassword { key_id: 1, password }),
        ..from_peer(State::Down, 0)
    };
    assert_eq!(s.on_control(at_ms(1), &packet), Err(Discard::AuthenticationNotInUse));
    assert_eq!(s.state(), State::Down);
    assert_eq!(s.remote_discr(), 0);
    assert_eq!(s.status().counters.control_discarded, 1);
}

// ----- Diagnostics ---------------------------------------------------------------

#[test]
fn s6_8_1_diagnostics_kept_and_reported() {
    let mut sim = pair(config(50, 50, 3), config(50, 50, 3), 35);
    bring_up(&mut sim);
    sim.link(Side::B).cut = true;
    let down = sim.run_until_state(Side::A, State::Down, Duration::from_secs(1)).unwrap();
    sim.run_for(ms(500));
    // While Down (and later Init), A's packets carry the reason.
    sim.link(Side::B).cut = false;
    sim.link(Side::A).cut = true;
    sim.run_until_state(Side::A, State::Init, Duration::from_secs(5)).unwrap();
    assert_eq!(sim.session(Side::A).status().local_diag, Diagnostic::ControlDetectionTimeExpired);
    sim.link(Side::A).cut = false;
    sim.link(Side::B).cut = true;
    assert!(
        sim.sent(Side::A)
            .iter()
            .filter(|(at, _)| *at >= down)
            .all(|(_, p)| p.diagnostic == Diagnostic::ControlDetectionTimeExpired)
    );
    assert_eq!(sim.session(Side::B).status().remote_diag, Diagnostic::ControlDetectionTimeExpired);
    sim.link(Side::B).cut = false;
    sim.run_until_state(Side::A, State::Up, Duration::from_secs(5)).unwrap();
    let status = sim.session(Side::A).status();
    assert_eq!(status.local_diag, Diagnostic::NoDiagnostic);
    assert_eq!(status.last_down, Some((down, Diagnostic::ControlDetectionTimeExpired)));
    assert_eq!(status.counters.up, 2);
    assert_eq!(status.counters.down, 1);
}
