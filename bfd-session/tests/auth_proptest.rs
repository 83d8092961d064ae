//! Property tests of the authentication verifier (RFC 5880 §6.7): a packet
//! signed with a key the session holds is accepted, whatever its fields;
//! any change to a keyed packet's bytes, or another key, is refused; and no
//! input makes the verifier panic.

use bfd_common::wire::{AuthRepr, AuthType, ControlPacket, ControlRepr, Diagnostic, State};
use bfd_session::auth::{DigestKind, sign};
use bfd_session::{
    AuthConfig, Key, Lifetime, ReceivedControl, Secret, Session, SessionConfig, Sha1Construction, Time,
    WallTime,
};
use proptest::collection::vec;
use proptest::prelude::*;

const OUR_DISCR: u32 = 0x1234_5678;

fn keyed_type() -> impl Strategy<Value = (AuthType, Sha1Construction)> {
    prop_oneof![
        Just((AuthType::KeyedMd5, Sha1Construction::Rfc5880)),
        Just((AuthType::MeticulousKeyedMd5, Sha1Construction::Rfc5880)),
        Just((AuthType::KeyedSha1, Sha1Construction::Rfc5880)),
        Just((AuthType::MeticulousKeyedSha1, Sha1Construction::Rfc5880)),
        Just((AuthType::KeyedSha1, Sha1Construction::FrrHmacSha1)),
        Just((AuthType::MeticulousKeyedSha1, Sha1Construction::FrrHmacSha1)),
    ]
}

/// A packet a peer could send us (Your Discriminator ours or 0 while Down).
fn packet() -> impl Strategy<Value = ControlRepr> {
    (
        (0u8..=31).prop_map(Diagnostic::from),
        (0u8..=3).prop_map(State::from_bits),
        any::<[bool; 5]>(),
        1u8..=255,
        1u32..,
        (10_000u32..2_000_000, 10_000u32..2_000_000, any::<u32>()),
    )
        .prop_map(|(diagnostic, state, flags, detect_mult, my, (tx, rx, echo))| {
            let your = if flags[4] || matches!(state, State::Init | State::Up) { OUR_DISCR } else { 0 };
            ControlRepr {
                diagnostic,
                state,
                poll: flags[0],
                final_: flags[1] && !flags[0],
                control_plane_independent: flags[2],
                demand: flags[3],
                detect_mult,
                my_discriminator: my,
                your_discriminator: your,
                desired_min_tx: tx,
                required_min_rx: rx,
                required_min_echo_rx: echo,
                auth: None,
            }
        })
}

fn chain(auth_type: AuthType, sha1: Sha1Construction, id: u8, secret: &[u8]) -> AuthConfig {
    let key =
        Key { id, secret: Secret::new(secret.to_vec()), send: Lifetime::ALWAYS, accept: Lifetime::ALWAYS };
    AuthConfig { auth_type, keys: vec![key], sha1 }
}

fn signed_bytes(config: &AuthConfig, sequence: u32, packet: ControlRepr) -> Vec<u8> {
    let key = &config.keys[0];
    let meticulous = config.meticulous();
    let section = match config.auth_type {
        AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => {
            AuthRepr::KeyedMd5 { meticulous, key_id: key.id, sequence, digest: [0; 16] }
        }
        _ => AuthRepr::KeyedSha1 { meticulous, key_id: key.id, sequence, hash: [0; 20] },
    };
    let kind = DigestKind::of(config).unwrap();
    let signed = sign(kind, ControlRepr { auth: Some(section), ..packet }, key.secret.expose()).unwrap();
    let mut bytes = vec![0u8; signed.buffer_len()];
    signed.emit(&mut ControlPacket::new_unchecked(&mut bytes[..]));
    bytes
}

fn session(config: AuthConfig) -> Session {
    Session::with_auth(
        OUR_DISCR,
        SessionConfig::default(),
        Some((config, WallTime::from_unix_secs(0))),
        7,
        Time::ZERO,
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn a_packet_signed_with_our_key_is_accepted(
        (auth_type, sha1) in keyed_type(),
        key_id in any::<u8>(),
        secret in vec(any::<u8>(), 1..=16),
        sequence in any::<u32>(),
        packet in packet(),
    ) {
        let config = chain(auth_type, sha1, key_id, &secret);
        let bytes = signed_bytes(&config, sequence, packet);
        let received = ReceivedControl::parse(&bytes).unwrap();
        let mut session = session(config);
        let result = session.on_packet(Time::from_nanos(1), &received);
        prop_assert!(!matches!(result, Err(bfd_session::Discard::Authentication(_))), "{result:?}");
        if result.is_ok() {
            prop_assert_eq!(session.status().auth.unwrap().rcv_seq, Some(sequence));
        }
    }

    #[test]
    fn any_changed_bit_or_another_key_is_refused(
        (auth_type, sha1) in keyed_type(),
        secret in vec(any::<u8>(), 1..=16),
        other in vec(any::<u8>(), 1..=16),
        sequence in any::<u32>(),
        packet in packet(),
        bit in 0usize..(52 * 8),
    ) {
        let config = chain(auth_type, sha1, 1, &secret);
        let mut bytes = signed_bytes(&config, sequence, packet);
        let bit = bit % (bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        if let Ok(received) = ReceivedControl::parse(&bytes) {
            let mut session = session(config.clone());
            // Your Discriminator itself may have changed: not ours, refused
            // before authentication; anything else fails authentication.
            prop_assert!(session.on_packet(Time::from_nanos(1), &received).is_err());
            prop_assert_eq!(session.status().counters.control_rx, 0);
        }
        if other != secret {
            let bytes = signed_bytes(&chain(auth_type, sha1, 1, &other), sequence, packet);
            let received = ReceivedControl::parse(&bytes).unwrap();
            let mut session = session(config);
            prop_assert_eq!(
                session.on_packet(Time::from_nanos(1), &received),
                Err(bfd_session::Discard::Authentication(bfd_session::AuthFailure::DigestMismatch))
            );
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_verifier(
        bytes in vec(any::<u8>(), 0..64),
        (auth_type, sha1) in keyed_type(),
    ) {
        for config in [chain(auth_type, sha1, bytes.get(26).copied().unwrap_or(0), b"k"),
                       chain(AuthType::SimplePassword, Sha1Construction::Rfc5880, 1, b"pw")] {
            if let Ok(received) = ReceivedControl::parse(&bytes) {
                let mut session = session(config);
                let _ = session.on_packet(Time::from_nanos(1), &received);
            }
        }
    }
}
