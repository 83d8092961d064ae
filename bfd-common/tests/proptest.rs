//! Property tests of the wire formats: every valid `Repr` survives
//! emit → parse, every emitted packet survives parse → emit byte for byte,
//! and no input, arbitrary or a mutation of a valid packet, makes any
//! parser panic.

use bfd_common::wire::{
    AuthRepr, AuthSection, ControlPacket, ControlRepr, Diagnostic, EchoPacket, EchoRepr, Error, Password,
    State, echo,
};
use proptest::collection::vec;
use proptest::prelude::*;

/// Cases for the never-panic properties.
const FUZZ_CASES: u32 = 2048;

fn diagnostic() -> impl Strategy<Value = Diagnostic> {
    // 0..=8 named, 9..=31 reserved.
    (0u8..=31).prop_map(Diagnostic::from)
}

fn state() -> impl Strategy<Value = State> {
    (0u8..=3).prop_map(State::from_bits)
}

fn password() -> impl Strategy<Value = Password> {
    vec(any::<u8>(), 1..=16).prop_map(|bytes| Password::new(&bytes).unwrap())
}

fn auth() -> impl Strategy<Value = AuthRepr> {
    prop_oneof![
        (any::<u8>(), password())
            .prop_map(|(key_id, password)| AuthRepr::SimplePassword { key_id, password }),
        (any::<bool>(), any::<u8>(), any::<u32>(), any::<[u8; 16]>()).prop_map(
            |(meticulous, key_id, sequence, digest)| AuthRepr::KeyedMd5 {
                meticulous,
                key_id,
                sequence,
                digest,
            }
        ),
        (any::<bool>(), any::<u8>(), any::<u32>(), any::<[u8; 20]>()).prop_map(
            |(meticulous, key_id, sequence, hash)| AuthRepr::KeyedSha1 { meticulous, key_id, sequence, hash }
        ),
    ]
}

/// A state and a Your Discriminator valid together: zero only with Down
/// or AdminDown (§6.8.6), and then often.
fn state_and_your_discriminator() -> impl Strategy<Value = (State, u32)> {
    state().prop_flat_map(|state| {
        let your = match state {
            State::Down | State::AdminDown => prop_oneof![Just(0u32), any::<u32>()].boxed(),
            State::Init | State::Up => (1..=u32::MAX).boxed(),
        };
        (Just(state), your)
    })
}

/// An interval: any `u32`, with the values that matter (0, FRR's and the
/// RFC's usual ones) often.
fn interval() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0u32), Just(50_000), Just(300_000), Just(1_000_000), any::<u32>()]
}

/// Every valid `ControlRepr`.
fn control_repr() -> impl Strategy<Value = ControlRepr> {
    (
        diagnostic(),
        state_and_your_discriminator(),
        any::<[bool; 4]>(),
        1u8..=255,
        1..=u32::MAX,
        (interval(), interval(), interval()),
        proptest::option::of(auth()),
    )
        .prop_map(
            |(
                diagnostic,
                (state, your_discriminator),
                [poll, final_, control_plane_independent, demand],
                detect_mult,
                my_discriminator,
                (desired_min_tx, required_min_rx, required_min_echo_rx),
                auth,
            )| ControlRepr {
                diagnostic,
                state,
                poll,
                final_,
                control_plane_independent,
                demand,
                detect_mult,
                my_discriminator,
                your_discriminator,
                desired_min_tx,
                required_min_rx,
                required_min_echo_rx,
                auth,
            },
        )
}

fn echo_repr() -> impl Strategy<Value = EchoRepr> {
    (any::<u32>(), any::<u32>(), any::<u64>()).prop_map(|(discriminator, sequence, tx_time_ns)| EchoRepr {
        discriminator,
        sequence,
        tx_time_ns,
    })
}

fn emit_control(repr: &ControlRepr) -> Vec<u8> {
    let mut bytes = vec![0; repr.buffer_len()];
    repr.emit(&mut ControlPacket::new_unchecked(&mut bytes[..]));
    bytes
}

fn emit_echo(repr: &EchoRepr) -> Vec<u8> {
    let mut bytes = vec![0; repr.buffer_len()];
    repr.emit(&mut EchoPacket::new_unchecked(&mut bytes[..]));
    bytes
}

/// Byte edits applied to a valid packet: overwrite, flip bits, then
/// truncate or extend.
#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Xor(usize, u8),
    Truncate(usize),
    Extend(Vec<u8>),
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    vec(
        prop_oneof![
            4 => (0usize..64, any::<u8>()).prop_map(|(at, value)| Mutation::Set(at, value)),
            4 => (0usize..64, any::<u8>()).prop_map(|(at, mask)| Mutation::Xor(at, mask)),
            1 => (0usize..64).prop_map(Mutation::Truncate),
            1 => vec(any::<u8>(), 1..8).prop_map(Mutation::Extend),
        ],
        1..4,
    )
}

fn mutate(bytes: &mut Vec<u8>, mutations: &[Mutation]) {
    for mutation in mutations {
        match mutation {
            Mutation::Set(at, value) => {
                if let Some(byte) = bytes.get_mut(*at) {
                    *byte = *value;
                }
            }
            Mutation::Xor(at, mask) => {
                if let Some(byte) = bytes.get_mut(*at) {
                    *byte ^= *mask;
                }
            }
            Mutation::Truncate(len) => bytes.truncate(*len),
            Mutation::Extend(tail) => bytes.extend_from_slice(tail),
        }
    }
}

/// Runs every control and auth parsing entry point on `bytes`, calling
/// the getters that the checks made safe; must not panic. When the packet
/// parses, checks that emitting it gives a packet that parses the same,
/// and whose bytes are the input's up to what parsing drops.
fn exercise_control(bytes: &[u8]) {
    let unchecked = ControlPacket::new_unchecked(bytes);
    let checked = unchecked.check();
    let parsed = ControlRepr::parse(&unchecked);
    // parse fails exactly when check does, with the same reason.
    assert_eq!(checked.err(), parsed.err());

    if let Ok(packet) = ControlPacket::new_checked(bytes) {
        let _ = (
            packet.version(),
            packet.diagnostic(),
            packet.state(),
            packet.poll(),
            packet.final_(),
            packet.control_plane_independent(),
            packet.demand(),
            packet.multipoint(),
            packet.detect_mult(),
            packet.my_discriminator(),
            packet.your_discriminator(),
            packet.desired_min_tx(),
            packet.required_min_rx(),
            packet.required_min_echo_rx(),
        );
        assert_eq!(packet.auth_section().is_some(), packet.auth_present());
    } else {
        assert!(checked.is_err());
    }
    // check() never accepts a packet new_checked rejects.
    if checked.is_ok() {
        assert!(ControlPacket::new_checked(bytes).is_ok());
    }

    exercise_auth(bytes);
    if let Some(section) = unchecked.auth_section() {
        exercise_auth(section);
    }

    if let Ok(repr) = parsed {
        let emitted = emit_control(&repr);
        let reparsed = ControlRepr::parse(&ControlPacket::new_unchecked(&emitted[..]));
        assert_eq!(reparsed, Ok(repr));
        // The bytes match but for what parse drops: bytes between 24 and
        // Length with the A bit clear, and the ignored Reserved byte of
        // keyed MD5/SHA1 sections.
        let length = usize::from(unchecked.length());
        let mut expected = bytes[..length.min(emitted.len())].to_vec();
        expected[3] = emitted[3];
        if matches!(repr.auth, Some(AuthRepr::KeyedMd5 { .. } | AuthRepr::KeyedSha1 { .. })) {
            expected[24 + 3] = 0;
        }
        assert_eq!(emitted, expected);
    }
}

fn exercise_auth(bytes: &[u8]) {
    let section = AuthSection::new_unchecked(bytes);
    let checked = section.check();
    let parsed = AuthRepr::parse(&section);
    assert_eq!(checked.err(), parsed.err());
    // The Option getters never panic, even unchecked.
    let _ = (
        section.key_id(),
        section.reserved(),
        section.password(),
        section.sequence(),
        section.digest(),
        section.hash(),
    );
    if let Ok(section) = AuthSection::new_checked(bytes) {
        let _ = (section.auth_type_raw(), section.auth_len(), section.auth_type());
    }
    if let Ok(repr) = parsed {
        let mut emitted = vec![0; repr.buffer_len()];
        repr.emit(&mut AuthSection::new_unchecked(&mut emitted[..]));
        assert_eq!(AuthRepr::parse(&AuthSection::new_unchecked(&emitted[..])), Ok(repr));
    }
}

fn exercise_echo(bytes: &[u8]) {
    let unchecked = EchoPacket::new_unchecked(bytes);
    let checked = unchecked.check();
    let parsed = EchoRepr::parse(&unchecked);
    assert_eq!(checked.err(), parsed.err());
    if let Ok(packet) = EchoPacket::new_checked(bytes) {
        let _ = (
            packet.magic(),
            packet.version(),
            packet.discriminator(),
            packet.sequence(),
            packet.tx_time_ns(),
        );
    }
    if let Ok(repr) = parsed {
        let emitted = emit_echo(&repr);
        let mut expected = bytes[..echo::PAYLOAD_LEN].to_vec();
        expected[5..8].fill(0);
        assert_eq!(emitted, expected);
    }
}

proptest! {
    #[test]
    fn control_emit_then_parse_is_identity(repr in control_repr()) {
        let bytes = emit_control(&repr);
        prop_assert_eq!(bytes.len(), repr.buffer_len());
        let packet = ControlPacket::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(packet.check(), Ok(()));
        prop_assert_eq!(usize::from(packet.length()), bytes.len());
        prop_assert_eq!(packet.auth_present(), repr.auth.is_some());
        prop_assert!(!packet.multipoint());
        prop_assert_eq!(ControlRepr::parse(&packet), Ok(repr));
    }

    #[test]
    fn control_parse_then_emit_reproduces_the_bytes(repr in control_repr()) {
        let bytes = emit_control(&repr);
        let parsed = ControlRepr::parse(&ControlPacket::new_unchecked(&bytes[..])).unwrap();
        prop_assert_eq!(emit_control(&parsed), bytes);
    }

    #[test]
    fn control_padding_is_ignored(repr in control_repr(), padding in vec(any::<u8>(), 0..16)) {
        let mut bytes = emit_control(&repr);
        bytes.extend_from_slice(&padding);
        prop_assert_eq!(ControlRepr::parse(&ControlPacket::new_unchecked(&bytes[..])), Ok(repr));
    }

    #[test]
    fn control_every_truncation_is_rejected(repr in control_repr()) {
        let bytes = emit_control(&repr);
        for len in 0..bytes.len() {
            let expected = if len < 24 { Error::Truncated } else { Error::LengthExceedsPayload };
            prop_assert_eq!(
                ControlPacket::new_unchecked(&bytes[..len]).check(),
                Err(expected)
            );
        }
    }

    #[test]
    fn echo_emit_then_parse_is_identity(repr in echo_repr()) {
        let bytes = emit_echo(&repr);
        prop_assert_eq!(bytes.len(), echo::PAYLOAD_LEN);
        let packet = EchoPacket::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(packet.magic(), echo::MAGIC);
        prop_assert_eq!(packet.version(), echo::VERSION);
        prop_assert_eq!(EchoRepr::parse(&packet), Ok(repr));
        let parsed = EchoRepr::parse(&packet).unwrap();
        prop_assert_eq!(emit_echo(&parsed), bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(FUZZ_CASES))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..64)) {
        exercise_control(&bytes);
        exercise_auth(&bytes);
        exercise_echo(&bytes);
    }

    #[test]
    fn mutated_control_packets_never_panic(
        repr in control_repr(),
        edits in mutations(),
    ) {
        let mut bytes = emit_control(&repr);
        mutate(&mut bytes, &edits);
        exercise_control(&bytes);
    }

    #[test]
    fn mutated_auth_sections_never_panic(auth in auth(), edits in mutations()) {
        let mut bytes = vec![0; auth.buffer_len()];
        auth.emit(&mut AuthSection::new_unchecked(&mut bytes[..]));
        mutate(&mut bytes, &edits);
        exercise_auth(&bytes);
    }

    #[test]
    fn mutated_echo_packets_never_panic(repr in echo_repr(), edits in mutations()) {
        let mut bytes = emit_echo(&repr);
        mutate(&mut bytes, &edits);
        exercise_echo(&bytes);
    }
}
