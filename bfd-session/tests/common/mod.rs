//! Helpers shared by the scenario tests.
#![allow(dead_code)] // each test file uses a different subset

use core::time::Duration;

use bfd_common::wire::{ControlRepr, Diagnostic, State};
use bfd_session::sim::{Side, Sim};
use bfd_session::{Detection, Output, Session, SessionConfig, StateChange, Time};

pub const A_DISCR: u32 = 0x0a0a_0a0a;
pub const B_DISCR: u32 = 0x0b0b_0b0b;

pub fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

pub fn at_ms(millis: u64) -> Time {
    Time::ZERO + ms(millis)
}

/// `tx`/`rx` in milliseconds, multiplier `mult`, everything else default.
pub fn config(tx: u64, rx: u64, mult: u8) -> SessionConfig {
    SessionConfig {
        desired_min_tx: ms(tx),
        required_min_rx: ms(rx),
        detect_mult: mult,
        ..SessionConfig::default()
    }
}

pub fn kernel(config: SessionConfig) -> SessionConfig {
    SessionConfig { detection: Detection::Kernel, ..config }
}

pub fn session(discr: u32, config: SessionConfig, seed: u64) -> Session {
    Session::new(discr, config, seed, Time::ZERO).expect("valid session")
}

pub fn pair(a: SessionConfig, b: SessionConfig, seed: u64) -> Sim {
    Sim::new(session(A_DISCR, a, seed), session(B_DISCR, b, seed + 1), seed + 2)
}

/// Runs until both sides are Up (within 5 simulated seconds) and their
/// bring-up Poll Sequences are over; returns when both were Up.
pub fn bring_up(sim: &mut Sim) -> Time {
    let a = sim.run_until_state(Side::A, State::Up, Duration::from_secs(5)).expect("A comes Up");
    let b = sim.run_until_state(Side::B, State::Up, Duration::from_secs(5)).expect("B comes Up");
    for _ in 0..100 {
        if !sim.session(Side::A).status().polling && !sim.session(Side::B).status().polling {
            break;
        }
        sim.run_for(ms(10));
    }
    assert!(!sim.session(Side::A).status().polling, "A's bring-up Poll ended");
    assert!(!sim.session(Side::B).status().polling, "B's bring-up Poll ended");
    a.max(b)
}

/// The state changes of a side as (from, to, diagnostic).
pub fn transitions(sim: &Sim, side: Side) -> Vec<(State, State, Diagnostic)> {
    sim.state_changes(side).iter().map(|c| (c.from, c.to, c.diagnostic)).collect()
}

pub fn changes_after(sim: &Sim, side: Side, after: Time) -> Vec<StateChange> {
    sim.state_changes(side).into_iter().filter(|c| c.at > after).collect()
}

/// The packets a lone session transmitted in its outputs.
pub fn transmitted(session: &mut Session) -> Vec<ControlRepr> {
    session
        .drain_outputs()
        .filter_map(|output| match output {
            Output::Transmit(packet) => Some(packet),
            _ => None,
        })
        .collect()
}

/// A packet from a fake peer with discriminator `B_DISCR` to `your`.
pub fn from_peer(state: State, your: u32) -> ControlRepr {
    ControlRepr {
        diagnostic: Diagnostic::NoDiagnostic,
        state,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: B_DISCR,
        your_discriminator: your,
        desired_min_tx: 50_000,
        required_min_rx: 50_000,
        required_min_echo_rx: 0,
        auth: None,
    }
}
