//! Taking a session over from an earlier process (`Session::restore`): the
//! peer sees one session throughout, RFC 5880 §6.8.1's variables carried
//! over rather than initialised, §6.8.3's Poll Sequence for a changed
//! configuration, §6.8.4's detection still running.

mod common;

use bfd_common::wire::{Diagnostic, State};
use bfd_session::sim::Side;
use bfd_session::{Output, Session};
use common::*;

/// A's session replaced, at the current time, by one restored from what it
/// left behind, with configuration `config`.
fn restart_a(sim: &mut bfd_session::sim::Sim, config: bfd_session::SessionConfig) {
    sim.input(Side::A, |session, now| {
        let restored = session.restorable();
        *session = Session::restore(config, &restored, 99, now).expect("restorable");
    });
}

#[test]
fn s6_8_1_restored_session_keeps_discriminators_and_state_and_sends_at_once() {
    let mut sim = pair(config(300, 300, 3), config(300, 300, 3), 1);
    let up = bring_up(&mut sim);
    sim.run_for(ms(2_000));
    let before = sim.session(Side::A).status();
    let at = sim.now();
    restart_a(&mut sim, config(300, 300, 3));
    let after = sim.session(Side::A).status();
    assert_eq!(after.state, State::Up);
    assert_eq!(after.local_discr, before.local_discr);
    assert_eq!(after.remote_discr, before.remote_discr);
    assert_eq!(after.remote_min_rx, before.remote_min_rx);
    assert!(!after.polling, "same configuration: no Poll Sequence");
    // §6.8.7: the first packet leaves at once, as Up, to the same session.
    let first = sim.sent(Side::A).into_iter().find(|(t, _)| *t >= at).expect("A sends");
    assert_eq!(first.0, at);
    assert_eq!(first.1.state, State::Up);
    assert_eq!(first.1.your_discriminator, before.remote_discr);
    sim.run_for(ms(10_000));
    assert!(changes_after(&sim, Side::A, up).is_empty(), "{:?}", changes_after(&sim, Side::A, up));
    assert!(changes_after(&sim, Side::B, up).is_empty(), "{:?}", changes_after(&sim, Side::B, up));
}

#[test]
fn s6_8_4_an_absence_shorter_than_the_peers_detection_time_is_not_seen() {
    let mut sim = pair(config(300, 300, 3), config(300, 300, 3), 2);
    let up = bring_up(&mut sim);
    // No process sends for A: its packets stop for 600 ms (< 900 ms).
    sim.link(Side::A).cut = true;
    sim.run_for(ms(600));
    sim.link(Side::A).cut = false;
    restart_a(&mut sim, config(300, 300, 3));
    sim.run_for(ms(10_000));
    assert!(changes_after(&sim, Side::B, up).is_empty(), "{:?}", changes_after(&sim, Side::B, up));
    assert!(changes_after(&sim, Side::A, up).is_empty());
}

#[test]
fn s6_8_3_a_changed_configuration_is_announced_with_a_poll_sequence() {
    let mut sim = pair(config(300, 300, 3), config(300, 300, 3), 3);
    let up = bring_up(&mut sim);
    let at = sim.now();
    restart_a(&mut sim, config(100, 100, 3));
    assert!(sim.session(Side::A).status().polling);
    let first = sim.sent(Side::A).into_iter().find(|(t, _)| *t >= at).expect("A sends");
    assert!(first.1.poll, "the first packet is a Poll");
    sim.run_for(ms(3_000));
    let a = sim.session(Side::A).status();
    assert!(!a.polling, "the peer's Final ended the Poll Sequence");
    assert_eq!(a.desired_min_tx, ms(100));
    assert_eq!(sim.session(Side::B).status().remote_min_rx, ms(100));
    assert!(changes_after(&sim, Side::B, up).is_empty());
}

#[test]
fn s6_8_4_a_peer_gone_during_the_absence_is_detected_after_restore() {
    let mut sim = pair(config(300, 300, 3), config(300, 300, 3), 4);
    bring_up(&mut sim);
    sim.link(Side::B).cut = true;
    let at = sim.now();
    restart_a(&mut sim, config(300, 300, 3));
    sim.run_for(ms(2_000));
    let changes = changes_after(&sim, Side::A, at);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(
        (changes[0].to, changes[0].diagnostic),
        (State::Down, Diagnostic::ControlDetectionTimeExpired)
    );
    // A full Detection Time from the restore, not less: the last receive
    // time was the earlier process's.
    assert!(changes[0].at >= at + ms(900));
}

#[test]
fn restoring_emits_no_state_change() {
    let mut sim = pair(config(300, 300, 3), config(300, 300, 3), 5);
    bring_up(&mut sim);
    let mut session =
        Session::restore(config(300, 300, 3), &sim.session(Side::A).restorable(), 7, sim.now()).unwrap();
    let outputs: Vec<Output> = session.drain_outputs().collect();
    assert!(outputs.iter().all(|o| !matches!(o, Output::StateChange(_))), "{outputs:?}");
    assert!(outputs.iter().any(|o| matches!(o, Output::FastPath(_))));
}

/// RFC 5880 §6.8.7 across a handover: a session restored with the time the
/// earlier process sent its last packet sends its first one interval
/// (jittered) after that one, not at once, so that the peer never hears two
/// packets closer than §6.8.7 allows.
#[test]
fn s6_8_7_a_restore_told_the_last_transmission_keeps_the_spacing() {
    let mut sim = pair(config(300, 300, 3), config(300, 300, 3), 5);
    let up = bring_up(&mut sim);
    sim.run_for(ms(2_000));
    // 10 ms after one of A's packets: without the time, the restored
    // session would send at once, 10 ms after it.
    let sent = sim.sent(Side::A).len();
    while sim.sent(Side::A).len() == sent {
        sim.run_for(ms(1));
    }
    let last = sim.sent(Side::A).last().expect("A sent").0;
    sim.run_for(ms(10));
    sim.input(Side::A, |session, now| {
        let restored = bfd_session::Restored { last_tx: session.last_tx(), ..session.restorable() };
        *session = Session::restore(config(300, 300, 3), &restored, 99, now).expect("restorable");
    });
    sim.run_for(ms(400));
    let first = sim.sent(Side::A).into_iter().find(|(t, _)| *t > last).expect("A sends");
    let gap = first.0.saturating_since(last);
    assert!(gap >= ms(225) && gap <= ms(300), "first packet {gap:?} after the last one");
    sim.run_for(ms(5_000));
    assert!(changes_after(&sim, Side::B, up).is_empty(), "{:?}", changes_after(&sim, Side::B, up));
}

/// A's session restored at the current time with that time as its last
/// transmission, as an agent restores many sessions while the kernel still
/// answers for them, then told when the last packet for it really left
/// (`Session::resume_from`), `answered_ago` before: returns that time.
fn restore_then_resume(
    sim: &mut bfd_session::sim::Sim,
    config: bfd_session::SessionConfig,
    answered_ago: Option<std::time::Duration>,
) -> Option<bfd_session::Time> {
    let mut answered = None;
    sim.input(Side::A, |session, now| {
        let restored = bfd_session::Restored { last_tx: Some(now), ..session.restorable() };
        *session = Session::restore(config, &restored, 99, now).expect("restorable");
        answered =
            answered_ago.map(|ago| bfd_session::Time::from_nanos(now.as_nanos() - ago.as_nanos() as u64));
        session.resume_from(answered, now);
    });
    answered
}

/// RFC 5880 §6.8.7 when the last transmission is learnt after the restore
/// (the kernel answered until the agent stopped it): the first packet
/// leaves one jittered interval after that one, not one interval after the
/// restore (which the peer would hear as a longer gap), and not at once.
#[test]
fn s6_8_7_a_resumed_session_paces_its_first_packet_from_the_transmission_it_learnt_of() {
    let mut sim = pair(config(300, 300, 3), config(300, 300, 3), 6);
    let up = bring_up(&mut sim);
    sim.run_for(ms(2_000));
    let at = sim.now();
    let answered = restore_then_resume(&mut sim, config(300, 300, 3), Some(ms(100))).expect("a time");
    assert!(sim.sent(Side::A).iter().all(|(t, _)| *t < at), "nothing at the restore");
    sim.run_for(ms(400));
    let first = sim.sent(Side::A).into_iter().find(|(t, _)| *t >= at).expect("A sends");
    let gap = first.0.saturating_since(answered);
    assert!(gap >= ms(225) && gap <= ms(300), "first packet {gap:?} after the last one");
    sim.run_for(ms(5_000));
    assert!(changes_after(&sim, Side::B, up).is_empty(), "{:?}", changes_after(&sim, Side::B, up));
}

/// §6.8.7: a last transmission more than an interval back, or none known,
/// and the first packet leaves at once (the peer's Detection Time for us
/// has been running since).
#[test]
fn s6_8_7_a_resumed_session_whose_last_transmission_is_past_an_interval_sends_at_once() {
    for (seed, ago) in [(7, Some(ms(1_000))), (8, None)] {
        let mut sim = pair(config(300, 300, 3), config(300, 300, 3), seed);
        bring_up(&mut sim);
        sim.run_for(ms(2_000));
        let at = sim.now();
        restore_then_resume(&mut sim, config(300, 300, 3), ago);
        let first = sim.sent(Side::A).into_iter().find(|(t, _)| *t >= at).expect("A sends");
        assert_eq!(first.0, at, "{ago:?} ago");
        assert_eq!(first.1.state, State::Up);
    }
}

/// §6.8.3: a changed configuration's Poll leaves at the restore; learning
/// of an earlier transmission after it does not send a second packet at
/// once.
#[test]
fn s6_8_3_a_resumed_session_that_sent_its_poll_keeps_its_schedule() {
    let mut sim = pair(config(300, 300, 3), config(300, 300, 3), 9);
    bring_up(&mut sim);
    sim.run_for(ms(2_000));
    let at = sim.now();
    restore_then_resume(&mut sim, config(100, 100, 3), Some(ms(1_000)));
    let at_restore: Vec<_> = sim.sent(Side::A).into_iter().filter(|(t, _)| *t == at).collect();
    assert_eq!(at_restore.len(), 1, "{at_restore:?}");
    assert!(at_restore[0].1.poll, "the Poll");
}
