//! Arbitrary bytes into the control packet and authentication section
//! parsers (RFC 5880 §4.1–§4.4, §6.8.6). Nothing may panic; `parse` must
//! fail exactly when `check` does, with the same error; and a packet that
//! parses must come back unchanged through emit → parse, the emitted bytes
//! being the input's but for what parsing drops (bytes between 24 and
//! Length with the A bit clear, the Reserved byte of keyed sections).
#![no_main]

use bfd_common::wire::{AuthRepr, AuthSection, ControlPacket, ControlRepr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fuzz_control(data);
    // The same bytes as a standalone authentication section.
    fuzz_auth(data);
});

fn fuzz_control(data: &[u8]) {
    let unchecked = ControlPacket::new_unchecked(data);
    let checked = unchecked.check();
    let parsed = ControlRepr::parse(&unchecked);
    assert_eq!(checked.err(), parsed.err());

    match ControlPacket::new_checked(data) {
        Ok(packet) => {
            // check_len made every getter safe.
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
        }
        // check() must not accept what check_len() rejects.
        Err(_) => assert!(checked.is_err()),
    }
    if let Some(section) = unchecked.auth_section() {
        fuzz_auth(section);
    }

    let Ok(repr) = parsed else { return };
    let mut emitted = vec![0u8; repr.buffer_len()];
    repr.emit(&mut ControlPacket::new_unchecked(&mut emitted[..]));
    let reparsed = ControlRepr::parse(&ControlPacket::new_unchecked(&emitted[..]));
    assert_eq!(reparsed, Ok(repr));

    let length = usize::from(unchecked.length());
    let mut expected = data[..length.min(emitted.len())].to_vec();
    expected[3] = emitted[3];
    if matches!(repr.auth, Some(AuthRepr::KeyedMd5 { .. } | AuthRepr::KeyedSha1 { .. })) {
        expected[24 + 3] = 0;
    }
    assert_eq!(emitted, expected);
}

fn fuzz_auth(data: &[u8]) {
    let section = AuthSection::new_unchecked(data);
    let checked = section.check();
    let parsed = AuthRepr::parse(&section);
    assert_eq!(checked.err(), parsed.err());
    let _ = (
        section.key_id(),
        section.reserved(),
        section.password(),
        section.sequence(),
        section.digest(),
        section.hash(),
    );
    if let Ok(section) = AuthSection::new_checked(data) {
        let _ = (section.auth_type_raw(), section.auth_len(), section.auth_type());
    }

    let Ok(repr) = parsed else { return };
    let mut emitted = vec![0u8; repr.buffer_len()];
    repr.emit(&mut AuthSection::new_unchecked(&mut emitted[..]));
    assert_eq!(AuthRepr::parse(&AuthSection::new_unchecked(&emitted[..])), Ok(repr));
    let mut expected = data.to_vec();
    if matches!(repr, AuthRepr::KeyedMd5 { .. } | AuthRepr::KeyedSha1 { .. }) {
        expected[3] = 0;
    }
    assert_eq!(emitted, expected);
}
