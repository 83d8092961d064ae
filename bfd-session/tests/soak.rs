//! Long runs on the simulated link: loss, delay jitter and reordering that
//! stay within what the multiplier tolerates must never take a session
//! down.

mod common;

use core::time::Duration;

use bfd_common::wire::State;
use bfd_session::sim::{LinkConfig, Side, Sim};
use common::*;

/// 1% loss each way, never `mult` packets in a row (so the loss "never
/// reaches the multiplier"), 1 ms delay with up to 0.5 ms of jitter.
fn lossy(sim: &mut Sim, mult: u8) {
    for side in [Side::A, Side::B] {
        *sim.link(side) = LinkConfig {
            delay: ms(1),
            delay_jitter: Duration::from_micros(500),
            loss_ppm: 10_000,
            max_consecutive_losses: Some(u32::from(mult) - 1),
            ..LinkConfig::default()
        };
    }
}

fn soak(sim: &mut Sim, seconds: u64) {
    let up = bring_up(sim);
    sim.run_for(Duration::from_secs(seconds));
    for side in [Side::A, Side::B] {
        assert_eq!(changes_after(sim, side, up), [], "{side:?} changed state during the soak");
        assert_eq!(sim.session(side).state(), State::Up);
    }
}

#[test]
fn soak_10000_seconds_with_1_percent_loss_and_jitter_no_false_down() {
    let mut sim = pair(config(50, 50, 3), config(50, 50, 3), 100);
    lossy(&mut sim, 3);
    soak(&mut sim, 10_000);
    // The run did lose packets: the test is not vacuous.
    let sent = sim.sent(Side::A).len();
    let delivered = sim.delivered(Side::B).len();
    let lost = sent - delivered;
    assert!(sent > 150_000, "{sent} packets sent");
    assert!(lost * 1000 > sent * 8 && lost * 1000 < sent * 12, "lost {lost} of {sent}");
}

#[test]
fn soak_10000_seconds_with_kernel_detection_absorbs_nearly_everything() {
    let mut sim = pair(kernel(config(50, 50, 3)), kernel(config(50, 50, 3)), 101);
    lossy(&mut sim, 3);
    soak(&mut sim, 10_000);
    for side in [Side::A, Side::B] {
        let (absorbed, passed) = sim.fast_path_counts(side).unwrap();
        let fraction = absorbed as f64 / (absorbed + passed) as f64;
        assert!(fraction > 0.999, "{side:?} absorbed {absorbed}, passed {passed}");
    }
}

#[test]
fn soak_multiplier_1_with_jitter_and_no_loss() {
    // Multiplier 1 is the tight case §6.8.7's 75-90% rule exists for.
    let mut sim = pair(config(50, 50, 1), config(50, 50, 1), 102);
    for side in [Side::A, Side::B] {
        sim.link(side).delay_jitter = Duration::from_micros(500);
    }
    soak(&mut sim, 1_000);
}

#[test]
fn soak_reordering_does_not_flap_or_break_polls() {
    // 60 ms of delay jitter against ~44 ms spacing: packets overtake each
    // other, and a Poll Sequence still completes.
    let mut sim = pair(config(50, 50, 3), config(50, 50, 3), 103);
    for side in [Side::A, Side::B] {
        sim.link(side).delay_jitter = ms(60);
    }
    let up = bring_up(&mut sim);
    sim.run_for(Duration::from_secs(100));
    sim.input(Side::A, |s, now| s.configure(now, config(100, 100, 3)).unwrap());
    sim.run_for(Duration::from_secs(900));
    assert_eq!(changes_after(&sim, Side::A, up), []);
    assert_eq!(changes_after(&sim, Side::B, up), []);
    let status = sim.session(Side::A).status();
    assert!(!status.polling);
    assert_eq!(status.tx_interval, Some(ms(100)));
    // Reordering happened.
    assert!(sim.reordered(Side::B) > 20, "{} reordered", sim.reordered(Side::B));
}
