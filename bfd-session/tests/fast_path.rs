//! The fast-path view: what the XDP program may absorb and must time.

mod common;

use core::time::Duration;

use bfd_common::wire::{ControlPacket, ControlRepr, Diagnostic, State};
use bfd_session::sim::Side;
use common::*;

#[test]
fn absorb_template_is_the_peers_steady_packet() {
    let mut sim = pair(kernel(config(50, 50, 3)), kernel(config(50, 50, 3)), 40);
    bring_up(&mut sim);
    sim.run_for(Duration::from_secs(10));
    let view = sim.session(Side::A).fast_path();
    let expect = view.expect.expect("Up and steady: absorb");
    let last = sim.delivered(Side::A).last().unwrap().1;
    assert_eq!(expect, last);
    assert!(!expect.poll && !expect.final_);
    assert_eq!((expect.my_discriminator, expect.your_discriminator), (B_DISCR, A_DISCR));
    assert_eq!(view.detection_time, Some(ms(150)));
    assert!(view.reflect_echo);
    // The 24 bytes the kernel compares are the packet as emitted.
    let header = view.expected_header().unwrap();
    assert_eq!(ControlRepr::parse(&ControlPacket::new_unchecked(&header[..])).unwrap(), expect);
    let (absorbed, passed) = sim.fast_path_counts(Side::A).unwrap();
    assert!(absorbed > 10 * passed, "absorbed {absorbed}, passed {passed}");
}

#[test]
fn nothing_is_absorbed_with_local_detection() {
    let mut sim = pair(config(50, 50, 3), config(50, 50, 3), 41);
    bring_up(&mut sim);
    let view = sim.session(Side::A).fast_path();
    assert_eq!((view.expect, view.detection_time), (None, None));
}

#[test]
fn a_packet_that_would_change_the_state_is_never_absorbed() {
    // Down with the peer Down: receiving Down again moves Down -> Init, so
    // no template; in Init the same Down changes nothing: template.
    let mut a = session(A_DISCR, kernel(config(50, 50, 3)), 42);
    assert_eq!(a.fast_path().expect, None, "nothing received yet");
    a.on_control(at_ms(1), &from_peer(State::Down, A_DISCR)).unwrap();
    assert_eq!(a.state(), State::Init);
    assert_eq!(a.fast_path().expect.map(|p| p.state), Some(State::Down));
    // Up, then the peer says Down: we go Down, and the next Down must move
    // us to Init, so it cannot be absorbed.
    a.on_control(at_ms(2), &from_peer(State::Up, A_DISCR)).unwrap();
    a.on_control(at_ms(3), &from_peer(State::Down, A_DISCR)).unwrap();
    assert_eq!(a.state(), State::Down);
    assert_eq!(a.fast_path().expect, None);
    // AdminDown: everything comes up (to be discarded and counted).
    a.admin_down(at_ms(4), Diagnostic::AdministrativelyDown);
    assert_eq!(a.fast_path().expect, None);
    assert_eq!(a.fast_path().detection_time, None);
}

#[test]
fn detection_is_disarmed_once_the_peer_is_forgotten() {
    let mut sim = pair(kernel(config(50, 50, 3)), kernel(config(50, 50, 3)), 43);
    bring_up(&mut sim);
    sim.link(Side::B).cut = true;
    sim.run_until_state(Side::A, State::Down, Duration::from_secs(1)).unwrap();
    let view = sim.session(Side::A).fast_path();
    assert_eq!((view.expect, view.detection_time, view.reflect_echo), (None, None, false));
    sim.link(Side::B).cut = false;
    sim.run_until_state(Side::A, State::Up, Duration::from_secs(5)).unwrap();
    assert_eq!(sim.session(Side::A).fast_path().detection_time, Some(ms(150)));
}
