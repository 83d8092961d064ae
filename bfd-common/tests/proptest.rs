//! Property tests of the wire formats: every valid `Repr` survives
//! emit → parse, every emitted packet survives parse → emit byte for byte,
//! and no input, arbitrary or a mutation of a valid packet, makes any
//! parser panic.

use bfd_common::wire::{
    AuthRepr, AuthSection, ControlPacket, ControlRepr, Diagnostic, EchoPacket, EchoRepr, Error, Password,
    State, echo,
};
mod oracle;

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
        oracle::control(&bytes);
        oracle::auth(&bytes);
        oracle::echo(&bytes);
    }

    #[test]
    fn mutated_control_packets_never_panic(
        repr in control_repr(),
        edits in mutations(),
    ) {
        let mut bytes = emit_control(&repr);
        mutate(&mut bytes, &edits);
        oracle::control(&bytes);
    }

    #[test]
    fn mutated_auth_sections_never_panic(auth in auth(), edits in mutations()) {
        let mut bytes = vec![0; auth.buffer_len()];
        auth.emit(&mut AuthSection::new_unchecked(&mut bytes[..]));
        mutate(&mut bytes, &edits);
        oracle::auth(&bytes);
    }

    #[test]
    fn mutated_echo_packets_never_panic(repr in echo_repr(), edits in mutations()) {
        let mut bytes = emit_echo(&repr);
        mutate(&mut bytes, &edits);
        oracle::echo(&bytes);
    }
}
