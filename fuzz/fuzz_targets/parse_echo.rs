//! Arbitrary bytes into the echo payload parser. Nothing may panic;
//! `parse` must fail exactly when `check` does; and a payload that parses
//! must come back through emit as the same 24 bytes, reserved bytes zeroed.
#![no_main]

use bfd_common::wire::echo::PAYLOAD_LEN;
use bfd_common::wire::{EchoPacket, EchoRepr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let unchecked = EchoPacket::new_unchecked(data);
    let checked = unchecked.check();
    let parsed = EchoRepr::parse(&unchecked);
    assert_eq!(checked.err(), parsed.err());
    if let Ok(packet) = EchoPacket::new_checked(data) {
        let _ = (
            packet.magic(),
            packet.version(),
            packet.discriminator(),
            packet.sequence(),
            packet.tx_time_ns(),
        );
    }

    let Ok(repr) = parsed else { return };
    let mut emitted = [0u8; PAYLOAD_LEN];
    repr.emit(&mut EchoPacket::new_unchecked(&mut emitted[..]));
    assert_eq!(EchoRepr::parse(&EchoPacket::new_unchecked(&emitted[..])), Ok(repr));
    let mut expected = [0u8; PAYLOAD_LEN];
    expected.copy_from_slice(&data[..PAYLOAD_LEN]);
    expected[5..8].fill(0);
    assert_eq!(emitted, expected);
});
