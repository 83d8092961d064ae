//! RFC 5880 §6.7 (authentication) and the A-bit rules of §6.8.6, one
//! scenario per rule, on the simulated link and clock: every type brings a
//! session Up and detects a cut; wrong passwords, keys, types and replays
//! are discarded and counted by reason; key rotation never flaps.

mod common;

use core::time::Duration;

use bfd_common::wire::{AuthRepr, AuthType, ControlPacket, ControlRepr, State};
use bfd_session::auth::{DigestKind, keyed_digest, sign};
use bfd_session::sim::{Side, Sim};
use bfd_session::{
    AuthConfig, AuthFailure, Discard, Key, Lifetime, ReceivedControl, Secret, Session, SessionConfig,
    Sha1Construction, Time, WallTime,
};
use common::*;

const ALL_TYPES: [AuthType; 5] = [
    AuthType::SimplePassword,
    AuthType::KeyedMd5,
    AuthType::MeticulousKeyedMd5,
    AuthType::KeyedSha1,
    AuthType::MeticulousKeyedSha1,
];

/// The wall clock when the simulation starts.
const WALL_START: u64 = 1_800_000_000;

fn wall(offset_secs: u64) -> WallTime {
    WallTime::from_unix_secs(WALL_START + offset_secs)
}

fn key(id: u8, secret: &[u8]) -> Key {
    Key { id, secret: Secret::new(secret.to_vec()), send: Lifetime::ALWAYS, accept: Lifetime::ALWAYS }
}

fn auth(auth_type: AuthType, keys: Vec<Key>) -> AuthConfig {
    AuthConfig { auth_type, keys, sha1: Sha1Construction::Rfc5880 }
}

fn authenticated(discr: u32, config: SessionConfig, auth: AuthConfig, seed: u64) -> Session {
    Session::with_auth(discr, config, Some((auth, wall(0))), seed, Time::ZERO).expect("valid session")
}

fn auth_pair(a: AuthConfig, b: AuthConfig, seed: u64) -> Sim {
    Sim::new(
        authenticated(A_DISCR, config(50, 50, 3), a, seed),
        authenticated(B_DISCR, config(50, 50, 3), b, seed + 1),
        seed + 2,
    )
}

fn failures(sim: &Sim, side: Side) -> bfd_session::AuthCounters {
    sim.session(side).status().counters.auth
}

// ----- Every type end to end ----------------------------------------------

#[test]
fn s6_7_every_type_comes_up_carries_its_section_and_detects_a_cut() {
    for (index, auth_type) in ALL_TYPES.into_iter().enumerate() {
        let chain = auth(auth_type, vec![key(7, b"sixteen byte key")]);
        let mut sim = auth_pair(chain.clone(), chain, 10 + index as u64);
        bring_up(&mut sim);
        sim.run_for(Duration::from_secs(5));
        for side in [Side::A, Side::B] {
            assert_eq!(sim.session(side).state(), State::Up, "{auth_type}");
            assert_eq!(failures(&sim, side).total(), 0, "{auth_type}: {:?}", failures(&sim, side));
            assert_eq!(sim.state_changes(side).len(), 2, "{auth_type}: Down -> Init -> Up only");
            for (_, packet) in sim.sent(side) {
                let section = packet.auth.expect("every packet is authenticated");
                assert_eq!(section.auth_type(), auth_type);
                assert_eq!(section.key_id(), 7);
            }
            // Timed by the core (no fast path): the kernel is asked for
            // nothing (with kernel detection see the test below).
            let view = sim.session(side).fast_path();
            assert_eq!((view.expect, view.detection_time), (None, None));
        }
        // A cut from B is detected by A's own timer (§6.8.4).
        let cut_at = sim.now();
        sim.link(Side::B).cut = true;
        sim.run_for(Duration::from_secs(1));
        let down = changes_after(&sim, Side::A, cut_at);
        assert_eq!(down.len(), 1, "{auth_type}");
        assert_eq!(down[0].to, State::Down);
    }
}

/// Issue 18: who times an authenticated session with kernel detection, by
/// type. Simple password and keyed MD5 / SHA1: the kernel, which absorbs
/// the packets byte-identical (header and section) to the last one the core
/// verified; the meticulous types: the core, nothing absorbed (every packet
/// differs). Either way a cut is detected within the Detection Time.
#[test]
fn s6_7_the_kernel_absorbs_simple_and_keyed_types_and_the_core_times_meticulous_ones() {
    for (index, auth_type) in ALL_TYPES.into_iter().enumerate() {
        let chain = auth(auth_type, vec![key(1, b"k")]);
        let meticulous = chain.meticulous();
        let seed = 100 + 10 * index as u64;
        let mut sim = Sim::new(
            authenticated(A_DISCR, kernel(config(50, 50, 3)), chain.clone(), seed),
            authenticated(B_DISCR, kernel(config(50, 50, 3)), chain, seed + 1),
            seed + 2,
        );
        bring_up(&mut sim);
        let (absorbed_before, passed_before) = sim.fast_path_counts(Side::A).unwrap();
        sim.run_for(Duration::from_secs(10));
        let (absorbed, passed) = sim.fast_path_counts(Side::A).unwrap();
        let (absorbed, passed) = (absorbed - absorbed_before, passed - passed_before);
        println!("{auth_type}: over 10 s Up, {absorbed} absorbed, {passed} passed");
        let view = sim.session(Side::A).fast_path();
        if meticulous {
            assert_eq!(absorbed, 0, "{auth_type}");
            assert_eq!(
                (view.expect, view.detection_time, view.verified_rx),
                (None, None, None),
                "{auth_type}"
            );
        } else {
            assert!(absorbed > 10 * passed, "{auth_type}: absorbed {absorbed}, passed {passed}");
            let expect = view.expect.expect("Up and steady: a template");
            // The template is the peer's packet as sent, section and all.
            assert_eq!(Some(expect), sim.delivered(Side::A).last().map(|(_, packet)| *packet), "{auth_type}");
            assert_eq!(expect.auth.map(|section| section.auth_type()), Some(auth_type));
            assert_eq!(view.detection_time, Some(ms(150)), "{auth_type}");
            assert!(view.verified_rx.is_some(), "{auth_type}");
            let (header, section) = view.expected_packet().unwrap();
            let mut bytes = header.to_vec();
            bytes.extend_from_slice(&section[..expect.buffer_len() - 24]);
            assert_eq!(ControlRepr::parse(&ControlPacket::new_unchecked(&bytes[..])).unwrap(), expect);
        }
        let cut_at = sim.now();
        sim.link(Side::B).cut = true;
        sim.run_for(Duration::from_secs(1));
        let down = changes_after(&sim, Side::A, cut_at);
        assert_eq!(down.len(), 1, "{auth_type}");
        let silence = down[0].at.saturating_since(cut_at);
        assert!(silence <= ms(150) + ms(51), "{auth_type}: detected after {silence:?}");
    }
}

/// Issue 18: the kernel's timer counts from the packets the core verified
/// ([`FastPathView::verified_rx`]) as well as from those it absorbed: a
/// verified packet moves it on, a refused one (a wrong digest) never does,
/// and the template stays the last verified packet.
#[test]
fn s6_7_only_a_verified_packet_moves_the_kernels_timing_on() {
    let chain = auth(AuthType::KeyedSha1, vec![key(1, b"k")]);
    let mut a = authenticated(A_DISCR, kernel(config(50, 50, 3)), chain.clone(), 1);
    let deliver = |session: &mut Session, at: Time, packet: &ControlRepr| {
        let mut bytes = vec![0; packet.buffer_len()];
        packet.emit(&mut ControlPacket::new_unchecked(&mut bytes[..]));
        session.on_packet(at, &ReceivedControl::parse(&bytes).unwrap())
    };
    deliver(&mut a, at_ms(1), &signed(&chain, 1, 10, from_peer(State::Init, A_DISCR))).unwrap();
    assert_eq!(a.state(), State::Up);
    // The peer moves its sequence number on with every packet (as a
    // meticulous sender would): each one is verified here.
    for (n, at) in (11..15).zip([50, 100, 150, 200]) {
        let packet = signed(&chain, 1, n, from_peer(State::Up, A_DISCR));
        deliver(&mut a, at_ms(at), &packet).unwrap();
        let view = a.fast_path();
        assert_eq!(view.verified_rx, Some(at_ms(at)));
        assert_eq!(view.expect, Some(packet));
        assert_eq!(view.detection_time, Some(ms(150)));
    }
    // A forged packet: the next sequence number, a wrong digest.
    let mut forged = signed(&chain, 1, 15, from_peer(State::Up, A_DISCR));
    if let Some(AuthRepr::KeyedSha1 { hash, .. }) = forged.auth.as_mut() {
        hash[0] ^= 1;
    }
    assert_eq!(
        deliver(&mut a, at_ms(210), &forged),
        Err(Discard::Authentication(AuthFailure::DigestMismatch))
    );
    let view = a.fast_path();
    assert_eq!(view.verified_rx, Some(at_ms(200)), "a refused packet is no proof of life");
    assert_eq!(view.expect.and_then(|p| p.auth), signed(&chain, 1, 14, from_peer(State::Up, A_DISCR)).auth);
}

// ----- §6.8.6: the A bit ---------------------------------------------------

#[test]
fn s6_8_6_a_bit_clear_while_authentication_is_in_use_is_discarded() {
    let mut session =
        authenticated(A_DISCR, config(50, 50, 3), auth(AuthType::KeyedMd5, vec![key(1, b"k")]), 1);
    let result = session.on_control(at_ms(1), &from_peer(State::Down, 0));
    assert_eq!(result, Err(Discard::Authentication(AuthFailure::Missing)));
    assert_eq!(session.state(), State::Down);
    assert_eq!(session.status().counters.auth.missing, 1);
    assert_eq!(session.status().counters.control_discarded, 1);
}

#[test]
fn s6_8_6_a_bit_set_without_authentication_in_use_is_discarded_and_counted() {
    let mut session = Session::new(A_DISCR, config(50, 50, 3), 1, Time::ZERO).unwrap();
    let chain = auth(AuthType::SimplePassword, vec![key(1, b"pw")]);
    let packet = signed(&chain, 1, 0, from_peer(State::Down, 0));
    assert_eq!(session.on_control(at_ms(1), &packet), Err(Discard::AuthenticationNotInUse));
    assert_eq!(session.status().counters.auth.unexpected, 1);
}

// ----- §6.7.2 – §6.7.4: receive checks -------------------------------------

/// `packet` with `chain`'s type, key `key_id` and sequence `sequence`,
/// signed as the RFC says (the test's own peer).
fn signed(chain: &AuthConfig, key_id: u8, sequence: u32, packet: ControlRepr) -> ControlRepr {
    let secret = chain.keys.iter().find(|key| key.id == key_id).expect("key").secret.expose().to_vec();
    let meticulous = chain.meticulous();
    let section = match chain.auth_type {
        AuthType::SimplePassword => {
            let password = bfd_common::wire::Password::new(&secret).unwrap();
            return ControlRepr { auth: Some(AuthRepr::SimplePassword { key_id, password }), ..packet };
        }
        AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => {
            AuthRepr::KeyedMd5 { meticulous, key_id, sequence, digest: [0; 16] }
        }
        AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => {
            AuthRepr::KeyedSha1 { meticulous, key_id, sequence, hash: [0; 20] }
        }
    };
    let kind = DigestKind::of(chain).unwrap();
    sign(kind, ControlRepr { auth: Some(section), ..packet }, &secret).unwrap()
}

#[test]
fn s6_7_2_wrong_password_never_comes_up_and_is_counted() {
    let mut sim = auth_pair(
        auth(AuthType::SimplePassword, vec![key(1, b"right")]),
        auth(AuthType::SimplePassword, vec![key(1, b"wrong")]),
        5,
    );
    sim.run_for(Duration::from_secs(10));
    assert_eq!(sim.session(Side::A).state(), State::Down);
    assert_eq!(sim.session(Side::B).state(), State::Down);
    let counted = failures(&sim, Side::A);
    assert_eq!(counted.password_mismatch, sim.delivered(Side::A).len() as u64);
    assert!(counted.password_mismatch >= 5, "{counted:?}");
    // A password of another length (Auth Len differs) is a mismatch too.
    let mut session =
        authenticated(A_DISCR, config(50, 50, 3), auth(AuthType::SimplePassword, vec![key(1, b"right")]), 1);
    let longer =
        signed(&auth(AuthType::SimplePassword, vec![key(1, b"right!")]), 1, 0, from_peer(State::Down, 0));
    assert_eq!(
        session.on_control(at_ms(1), &longer),
        Err(Discard::Authentication(AuthFailure::PasswordMismatch))
    );
}

#[test]
fn s6_7_3_s6_7_4_wrong_key_never_comes_up_and_is_counted() {
    for auth_type in
        [AuthType::KeyedMd5, AuthType::MeticulousKeyedMd5, AuthType::KeyedSha1, AuthType::MeticulousKeyedSha1]
    {
        let mut sim =
            auth_pair(auth(auth_type, vec![key(1, b"right")]), auth(auth_type, vec![key(1, b"wrong")]), 6);
        sim.run_for(Duration::from_secs(10));
        assert_eq!(sim.session(Side::A).state(), State::Down, "{auth_type}");
        let counted = failures(&sim, Side::A);
        assert_eq!(counted.digest_mismatch, sim.delivered(Side::A).len() as u64, "{auth_type}");
        assert_eq!(counted.total(), counted.digest_mismatch, "{auth_type}");
    }
}

#[test]
fn s6_7_type_mismatch_and_unknown_key_id_are_discarded_first() {
    let chain = auth(AuthType::KeyedSha1, vec![key(1, b"k")]);
    let mut session = authenticated(A_DISCR, config(50, 50, 3), chain.clone(), 1);
    // Another type, with the right key: "the Auth Type is not correct".
    let md5 = signed(&auth(AuthType::KeyedMd5, vec![key(1, b"k")]), 1, 1, from_peer(State::Down, 0));
    assert_eq!(session.on_control(at_ms(1), &md5), Err(Discard::Authentication(AuthFailure::TypeMismatch)));
    let meticulous =
        signed(&auth(AuthType::MeticulousKeyedSha1, vec![key(1, b"k")]), 1, 1, from_peer(State::Down, 0));
    assert_eq!(
        session.on_control(at_ms(2), &meticulous),
        Err(Discard::Authentication(AuthFailure::TypeMismatch))
    );
    // Key ID 2 is configured nowhere here.
    let other_key = signed(&auth(AuthType::KeyedSha1, vec![key(2, b"k")]), 2, 1, from_peer(State::Down, 0));
    assert_eq!(
        session.on_control(at_ms(3), &other_key),
        Err(Discard::Authentication(AuthFailure::UnknownKeyId))
    );
    let counted = session.status().counters.auth;
    assert_eq!((counted.type_mismatch, counted.unknown_key_id, counted.total()), (2, 1, 3));
    // And the right one is accepted.
    let good = signed(&chain, 1, 1, from_peer(State::Down, 0));
    assert_eq!(session.on_control(at_ms(4), &good), Ok(()));
    assert_eq!(session.state(), State::Init);
}

#[test]
fn s6_7_3_keyed_sequence_window_is_rcv_seq_to_rcv_seq_plus_3_detect_mult() {
    let chain = auth(AuthType::KeyedMd5, vec![key(1, b"k")]);
    let mut session = authenticated(A_DISCR, config(50, 50, 3), chain.clone(), 1);
    // The peer's Detect Mult is 3: a window of 9. Circular: start near
    // the top of the 32-bit space.
    let start = u32::MAX - 4;
    let at = |seq| signed(&chain, 1, seq, from_peer(State::Down, 0));
    assert_eq!(session.on_control(at_ms(1), &at(start)), Ok(()));
    // Equal is fine for the non-meticulous types.
    assert_eq!(session.on_control(at_ms(2), &at(start)), Ok(()));
    // Behind: a replay of something older.
    assert_eq!(
        session.on_control(at_ms(3), &at(start.wrapping_sub(1))),
        Err(Discard::Authentication(AuthFailure::Sequence))
    );
    // Beyond the window.
    assert_eq!(
        session.on_control(at_ms(4), &at(start.wrapping_add(10))),
        Err(Discard::Authentication(AuthFailure::Sequence))
    );
    // The window's far edge, across the wrap.
    assert_eq!(session.on_control(at_ms(5), &at(start.wrapping_add(9))), Ok(()));
    assert_eq!(session.status().auth.unwrap().rcv_seq, Some(start.wrapping_add(9)));
    assert_eq!(session.status().counters.auth.sequence, 2);
}

#[test]
fn s6_7_3_meticulous_sequence_must_increase() {
    let chain = auth(AuthType::MeticulousKeyedSha1, vec![key(1, b"k")]);
    let mut session = authenticated(A_DISCR, config(50, 50, 3), chain.clone(), 1);
    let at = |seq| signed(&chain, 1, seq, from_peer(State::Down, 0));
    assert_eq!(session.on_control(at_ms(1), &at(100)), Ok(()));
    // The same number again: a replay.
    assert_eq!(
        session.on_control(at_ms(2), &at(100)),
        Err(Discard::Authentication(AuthFailure::MeticulousSequence))
    );
    assert_eq!(session.on_control(at_ms(3), &at(101)), Ok(()));
    assert_eq!(session.on_control(at_ms(4), &at(110)), Ok(()));
    assert_eq!(
        session.on_control(at_ms(5), &at(120)),
        Err(Discard::Authentication(AuthFailure::MeticulousSequence))
    );
    assert_eq!(session.status().counters.auth.meticulous_sequence, 2);
}

#[test]
fn s6_7_3_replay_state_moves_only_after_the_digest_verifies() {
    let chain = auth(AuthType::KeyedSha1, vec![key(1, b"k")]);
    let mut session = authenticated(A_DISCR, config(50, 50, 3), chain.clone(), 1);
    let good = |seq| signed(&chain, 1, seq, from_peer(State::Down, 0));
    assert_eq!(session.on_control(at_ms(1), &good(1000)), Ok(()));
    // A forgery within the window but with a wrong key: discarded, and
    // the window stays where it was.
    let forged =
        signed(&auth(AuthType::KeyedSha1, vec![key(1, b"guess")]), 1, 1009, from_peer(State::Down, 0));
    assert_eq!(
        session.on_control(at_ms(2), &forged),
        Err(Discard::Authentication(AuthFailure::DigestMismatch))
    );
    assert_eq!(session.status().auth.unwrap().rcv_seq, Some(1000));
    // So the genuine peer's next packets are still in it.
    assert_eq!(session.on_control(at_ms(3), &good(1001)), Ok(()));
    // And the very first packet of a session (bfd.AuthSeqKnown 0) with a
    // bad digest does not make the sequence known either.
    let mut fresh = authenticated(A_DISCR, config(50, 50, 3), chain.clone(), 2);
    let forged_far =
        signed(&auth(AuthType::KeyedSha1, vec![key(1, b"guess")]), 1, 5_000_000, from_peer(State::Down, 0));
    assert!(fresh.on_control(at_ms(1), &forged_far).is_err());
    assert_eq!(fresh.status().auth.unwrap().rcv_seq, None);
    assert_eq!(fresh.on_control(at_ms(2), &good(7)), Ok(()));
}

#[test]
fn s6_8_1_auth_seq_known_expires_after_twice_the_detection_time() {
    let chain = auth(AuthType::KeyedMd5, vec![key(1, b"k")]);
    let mut session = authenticated(A_DISCR, config(50, 50, 3), chain.clone(), 1);
    let at = |seq| signed(&chain, 1, seq, from_peer(State::Down, 0));
    assert_eq!(session.on_control(at_ms(0), &at(10)), Ok(()));
    // The packet implies 3 x max(50 ms, 50 ms) = 150 ms: twice is 300 ms.
    assert_eq!(
        session.on_control(at_ms(299), &at(1_000_000)),
        Err(Discard::Authentication(AuthFailure::Sequence))
    );
    assert_eq!(session.on_control(at_ms(300), &at(1_000_000)), Ok(()));
}

#[test]
fn replayed_packets_are_counted_and_ignored() {
    // A captured Up packet of B, re-injected after B went AdminDown: the
    // non-meticulous session moved its sequence number on with the state
    // change, so the replay is behind A's window.
    let chain = auth(AuthType::KeyedSha1, vec![key(1, b"k")]);
    let mut sim = auth_pair(chain.clone(), chain, 20);
    bring_up(&mut sim);
    sim.run_for(ms(200));
    let (_, captured_up) = *sim.sent(Side::B).last().unwrap();
    assert_eq!(captured_up.state, State::Up);
    sim.input(Side::B, |session, now| {
        session.admin_down(now, bfd_common::wire::Diagnostic::AdministrativelyDown)
    });
    sim.run_for(ms(20));
    assert_eq!(sim.session(Side::A).state(), State::Down);
    let mut result = Ok(());
    sim.input(Side::A, |session, now| result = session.on_control(now, &captured_up));
    assert_eq!(result, Err(Discard::Authentication(AuthFailure::Sequence)));
    assert_eq!(sim.session(Side::A).state(), State::Down);
    assert_eq!(failures(&sim, Side::A).sequence, 1);

    // Meticulous: even the latest packet, replayed, is refused.
    let chain = auth(AuthType::MeticulousKeyedMd5, vec![key(1, b"k")]);
    let mut sim = auth_pair(chain.clone(), chain, 21);
    bring_up(&mut sim);
    sim.run_for(ms(200));
    let (_, latest) = *sim.sent(Side::B).last().unwrap();
    sim.run_for(ms(1)); // delivered
    let mut result = Ok(());
    sim.input(Side::A, |session, now| result = session.on_control(now, &latest));
    assert_eq!(result, Err(Discard::Authentication(AuthFailure::MeticulousSequence)));
}

/// Issue 18: while the kernel absorbs a keyed session's packets (the ones
/// byte-identical to the last one verified), the core verifies one only
/// when the peer moves its sequence number on, seconds apart. §6.8.1 lets
/// bfd.AuthSeqKnown go to 0 only "after no packets have been received on
/// this session for at least twice the Detection Time", and packets are
/// received all along (the kernel would have declared a detection
/// otherwise): so a replay of an older packet during the steady stretch is
/// still behind the window (§6.7.3: "outside of the range of
/// bfd.RcvAuthSeq to bfd.RcvAuthSeq+(3*Detect Mult)") and refused. After a
/// kernel detection, the sequence is forgotten a Detection Time after it
/// (twice the Detection Time after the kernel's last packet), as §6.8.1
/// says; a replayed Up packet then cannot bring a Down session up.
#[test]
fn s6_8_1_a_replay_is_behind_the_window_while_the_kernel_absorbs() {
    let sequence = |packet: &ControlRepr| match packet.auth {
        Some(AuthRepr::KeyedMd5 { sequence, .. } | AuthRepr::KeyedSha1 { sequence, .. }) => sequence,
        other => panic!("not keyed: {other:?}"),
    };
    for (index, auth_type) in [AuthType::KeyedMd5, AuthType::KeyedSha1].into_iter().enumerate() {
        let chain = auth(auth_type, vec![key(1, b"k")]);
        let seed = 300 + 10 * index as u64;
        let mut sim = Sim::new(
            authenticated(A_DISCR, kernel(config(50, 50, 3)), chain.clone(), seed),
            authenticated(B_DISCR, kernel(config(50, 50, 3)), chain, seed + 1),
            seed + 2,
        );
        bring_up(&mut sim);
        let (absorbed_before, _) = sim.fast_path_counts(Side::A).unwrap();
        sim.run_for(Duration::from_secs(5));
        let (absorbed, _) = sim.fast_path_counts(Side::A).unwrap();
        assert!(absorbed - absorbed_before > 50, "{auth_type}: the kernel absorbs the steady state");
        let sent = sim.sent(Side::B);
        let latest = sequence(&sent.last().unwrap().1);
        let (_, old) = *sent.iter().find(|(_, packet)| sequence(packet) != latest).expect("an older one");
        assert_eq!(sim.session(Side::A).status().auth.unwrap().rcv_seq, Some(latest), "{auth_type}");
        let mut result = Ok(());
        sim.input(Side::A, |session, now| result = session.on_control(now, &old));
        assert_eq!(result, Err(Discard::Authentication(AuthFailure::Sequence)), "{auth_type}");
        assert_eq!(sim.session(Side::A).state(), State::Up);
        assert_eq!(failures(&sim, Side::A).sequence, 1);

        // B cut: the kernel detects; a replay within a Detection Time of
        // the detection is still refused, and once the sequence is
        // forgotten (§6.8.1) accepted, but a Down session stays Down.
        let cut_at = sim.now();
        sim.link(Side::B).cut = true;
        sim.run_for(ms(200));
        let down = changes_after(&sim, Side::A, cut_at);
        assert_eq!(down.len(), 1, "{auth_type}: {down:?}");
        let (_, up) = *sent.iter().rev().find(|(_, packet)| packet.state == State::Up).unwrap();
        let mut result = Ok(());
        sim.input(Side::A, |session, now| result = session.on_control(now, &old));
        assert_eq!(result, Err(Discard::Authentication(AuthFailure::Sequence)), "{auth_type}");
        sim.run_for(ms(200));
        sim.input(Side::A, |session, now| result = session.on_control(now, &up));
        assert_eq!(result, Ok(()), "{auth_type}: forgotten after twice the Detection Time");
        assert_eq!(sim.session(Side::A).state(), State::Down, "{auth_type}");
    }
}

// ----- Transmission: sequence numbers --------------------------------------

fn sequences(sim: &Sim, side: Side) -> Vec<u32> {
    sim.sent(side)
        .into_iter()
        .map(|(_, packet)| match packet.auth.unwrap() {
            AuthRepr::KeyedMd5 { sequence, .. } | AuthRepr::KeyedSha1 { sequence, .. } => sequence,
            AuthRepr::SimplePassword { .. } => panic!("not keyed"),
        })
        .collect()
}

#[test]
fn s6_7_3_meticulous_sequence_goes_up_by_one_per_packet() {
    let chain = auth(AuthType::MeticulousKeyedSha1, vec![key(1, b"k")]);
    let mut sim = auth_pair(chain.clone(), chain, 30);
    bring_up(&mut sim);
    sim.run_for(Duration::from_secs(2));
    let sent = sequences(&sim, Side::A);
    assert!(sent.len() > 40);
    assert!(sent.windows(2).all(|pair| pair[1] == pair[0].wrapping_add(1)), "{sent:?}");
}

#[test]
fn s6_7_3_keyed_sequence_moves_when_the_packet_changes_and_repeats_otherwise() {
    let chain = auth(AuthType::KeyedMd5, vec![key(1, b"k")]);
    let mut sim = auth_pair(chain.clone(), chain, 31);
    bring_up(&mut sim);
    sim.run_for(Duration::from_secs(2));
    let sent = sim.sent(Side::A);
    let seqs = sequences(&sim, Side::A);
    for (index, pair) in sent.windows(2).enumerate() {
        let bare = |packet: &ControlRepr| ControlRepr { auth: None, ..*packet };
        let same = bare(&pair[0].1) == bare(&pair[1].1);
        let step = seqs[index + 1].wrapping_sub(seqs[index]);
        assert_eq!(step, if same { 0 } else { 1 }, "packet {index}: {:?} -> {:?}", pair[0].1, pair[1].1);
    }
    // The steady state repeats one number: identical packets, byte for byte.
    let steady = &sent[sent.len() - 20..];
    assert!(steady.windows(2).all(|pair| pair[0].1 == pair[1].1));
}

// ----- Key chains: lifetimes and rotation ----------------------------------

#[test]
fn key_rotation_never_flaps() {
    // Both sides: key 1 sent until T+10 s and accepted until T+20 s; key 2
    // accepted from the start and sent from T+10 s (A) and T+12 s (B), so
    // that for 2 s each side sends a different key: both are accepted.
    for auth_type in ALL_TYPES {
        let rotate = |send_from: u64| {
            let mut old = key(1, b"old key");
            old.send = Lifetime { from: None, until: Some(wall(send_from)) };
            old.accept = Lifetime { from: None, until: Some(wall(20)) };
            let mut new = key(2, b"new key");
            new.send = Lifetime { from: Some(wall(send_from)), until: None };
            auth(auth_type, vec![old, new])
        };
        let mut sim = auth_pair(rotate(10), rotate(12), 40);
        bring_up(&mut sim);
        let up_at = sim.now();
        sim.link(Side::A).loss_ppm = 10_000;
        sim.link(Side::B).loss_ppm = 10_000;
        sim.run_until(Time::ZERO + Duration::from_secs(30));
        for side in [Side::A, Side::B] {
            assert!(changes_after(&sim, side, up_at).is_empty(), "{auth_type} {side:?}: no state change");
            assert_eq!(failures(&sim, side).total(), 0, "{auth_type} {side:?}");
        }
        let key_ids = |side| -> Vec<(Time, u8)> {
            sim.sent(side).into_iter().map(|(at, packet)| (at, packet.auth.unwrap().key_id())).collect()
        };
        for (side, switch) in [(Side::A, 10), (Side::B, 12)] {
            let switch = Time::ZERO + Duration::from_secs(switch);
            assert!(
                key_ids(side).iter().all(|&(at, id)| id == if at < switch { 1 } else { 2 }),
                "{auth_type}"
            );
        }
    }
}

#[test]
fn a_key_past_its_accept_lifetime_is_refused() {
    let mut old = key(1, b"k");
    old.accept = Lifetime { from: None, until: Some(wall(5)) };
    let chain = auth(AuthType::KeyedSha1, vec![old]);
    let mut session = authenticated(A_DISCR, config(50, 50, 3), chain.clone(), 1);
    let packet = signed(&chain, 1, 1, from_peer(State::Down, 0));
    assert_eq!(session.on_control(Time::ZERO + Duration::from_millis(4_999), &packet), Ok(()));
    assert_eq!(
        session.on_control(Time::ZERO + Duration::from_secs(5), &packet),
        Err(Discard::Authentication(AuthFailure::UnknownKeyId))
    );
    // The wall clock told again (stepped back 10 s): valid again.
    session.set_wall_clock(Time::ZERO + Duration::from_secs(5), wall(0));
    assert_eq!(session.on_control(Time::ZERO + Duration::from_secs(6), &packet), Ok(()));
}

#[test]
fn with_no_key_to_send_nothing_is_sent() {
    let mut future = key(1, b"k");
    future.send = Lifetime { from: Some(wall(60)), until: None };
    let mut session = authenticated(A_DISCR, config(50, 50, 3), auth(AuthType::KeyedSha1, vec![future]), 1);
    session.on_timer(Time::ZERO + Duration::from_secs(5));
    assert!(transmitted(&mut session).is_empty(), "never an unauthenticated packet");
    assert!(session.status().counters.auth.tx_no_key >= 1);
    assert_eq!(session.status().counters.control_tx, 0);
}

#[test]
fn changing_the_keys_of_a_running_session_keeps_it_up() {
    let chain = auth(AuthType::MeticulousKeyedSha1, vec![key(1, b"one")]);
    let mut sim = auth_pair(chain.clone(), chain, 50);
    bring_up(&mut sim);
    let up_at = sim.now();
    // Step 1: both accept key 2 too. Step 2: A sends with key 2. Step 3:
    // key 1 retired on both.
    let both = auth(AuthType::MeticulousKeyedSha1, vec![key(1, b"one"), key(2, b"two")]);
    for side in [Side::A, Side::B] {
        sim.input(side, |session, now| session.set_authentication(now, wall(0), Some(both.clone())).unwrap());
    }
    sim.run_for(Duration::from_secs(1));
    let mut send_two = both.clone();
    send_two.keys[1].send = Lifetime { from: Some(wall(0)), until: None };
    sim.input(Side::A, |session, now| {
        session.set_authentication(now, wall(0), Some(send_two.clone())).unwrap()
    });
    sim.input(Side::B, |session, now| {
        session.set_authentication(now, wall(0), Some(send_two.clone())).unwrap()
    });
    sim.run_for(Duration::from_secs(1));
    let only_two = auth(AuthType::MeticulousKeyedSha1, vec![key(2, b"two")]);
    for side in [Side::A, Side::B] {
        sim.input(side, |session, now| {
            session.set_authentication(now, wall(0), Some(only_two.clone())).unwrap()
        });
    }
    sim.run_for(Duration::from_secs(1));
    for side in [Side::A, Side::B] {
        assert!(changes_after(&sim, side, up_at).is_empty(), "{side:?}");
        assert_eq!(failures(&sim, side).total(), 0, "{side:?}");
        assert_eq!(sim.session(side).status().auth.unwrap().send_key_id, Some(2));
    }
}

// ----- The bytes: what is verified is what was received ---------------------

#[test]
fn the_digest_covers_the_bytes_received_not_the_parsed_form() {
    // §4.3: the Reserved byte is "ignored on receipt", so the parsed form
    // drops it; the digest still covers it. A packet signed with Reserved
    // 0x5a verifies as received and fails once re-emitted with Reserved 0.
    let chain = auth(AuthType::KeyedMd5, vec![key(1, b"k")]);
    let mut bytes = [0u8; 48];
    let packet = ControlRepr {
        auth: Some(AuthRepr::KeyedMd5 { meticulous: false, key_id: 1, sequence: 3, digest: [0; 16] }),
        ..from_peer(State::Down, 0)
    };
    packet.emit(&mut ControlPacket::new_unchecked(&mut bytes[..]));
    bytes[27] = 0x5a;
    let digest = keyed_digest(DigestKind::KeyedMd5, &bytes, b"k").unwrap();
    bytes[32..].copy_from_slice(digest.as_bytes());
    let received = ReceivedControl::parse(&bytes).unwrap();
    let mut session = authenticated(A_DISCR, config(50, 50, 3), chain.clone(), 1);
    assert_eq!(session.on_packet(at_ms(1), &received), Ok(()));
    let mut other = authenticated(A_DISCR, config(50, 50, 3), chain, 1);
    assert_eq!(
        other.on_control(at_ms(1), received.repr()),
        Err(Discard::Authentication(AuthFailure::DigestMismatch))
    );
}

#[test]
fn frr_hmac_sha1_variant_interoperates_with_itself_and_not_with_rfc_sha1() {
    let frr = AuthConfig {
        sha1: Sha1Construction::FrrHmacSha1,
        ..auth(AuthType::KeyedSha1, vec![key(1, b"frr key")])
    };
    let rfc = auth(AuthType::KeyedSha1, vec![key(1, b"frr key")]);
    let mut sim = auth_pair(frr.clone(), frr.clone(), 60);
    bring_up(&mut sim);
    assert_eq!(failures(&sim, Side::A).total(), 0);
    let mut sim = auth_pair(frr, rfc, 61);
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.session(Side::A).state(), State::Down);
    assert!(failures(&sim, Side::A).digest_mismatch > 0);
    assert!(failures(&sim, Side::B).digest_mismatch > 0);
}
