//! The consistency oracle for the wire parsers, shared by the property
//! tests (`tests/proptest.rs`) and the fuzz targets (`fuzz/fuzz_targets/`,
//! which include this file by path).
//!
//! Each function takes arbitrary bytes and must not panic. `parse` must
//! fail exactly when `check` does, with the same error (so drop counters
//! and the agent agree on the reason). A value that parses must come back
//! unchanged through emit → parse, and the emitted bytes must be the input's
//! but for what parsing deliberately drops.
#![allow(dead_code)] // each includer uses a subset

use bfd_common::wire::{
    AuthRepr, AuthSection, ControlPacket, ControlRepr, EchoPacket, EchoRepr, control, echo,
};

/// Control packets (RFC 5880 §4.1, §6.8.6), and their authentication
/// section. What parsing drops: bytes between 24 and Length with the A bit
/// clear, and the Reserved byte of keyed MD5/SHA1 sections.
pub fn control(bytes: &[u8]) {
    let unchecked = ControlPacket::new_unchecked(bytes);
    let checked = unchecked.check();
    let parsed = ControlRepr::parse(&unchecked);
    assert_eq!(checked.err(), parsed.err());

    match ControlPacket::new_checked(bytes) {
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
    // The same bytes as a standalone section, and the embedded section.
    auth(bytes);
    if let Some(section) = unchecked.auth_section() {
        auth(section);
    }

    let Ok(repr) = parsed else { return };
    let mut emitted = vec![0u8; repr.buffer_len()];
    repr.emit(&mut ControlPacket::new_unchecked(&mut emitted[..]));
    assert_eq!(ControlRepr::parse(&ControlPacket::new_unchecked(&emitted[..])), Ok(repr));
    let length = usize::from(unchecked.length());
    let mut expected = bytes[..length.min(emitted.len())].to_vec();
    expected[3] = emitted[3];
    if matches!(repr.auth, Some(AuthRepr::KeyedMd5 { .. } | AuthRepr::KeyedSha1 { .. })) {
        expected[control::HEADER_LEN + 3] = 0;
    }
    assert_eq!(emitted, expected);
}

/// Authentication sections (RFC 5880 §4.2–§4.4) on their own. The
/// type-dependent getters return `Option` and must not panic even on an
/// unchecked view.
pub fn auth(bytes: &[u8]) {
    let section = AuthSection::new_unchecked(bytes);
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
    if let Ok(section) = AuthSection::new_checked(bytes) {
        let _ = (section.auth_type_raw(), section.auth_len(), section.auth_type());
    }

    let Ok(repr) = parsed else { return };
    let mut emitted = vec![0u8; repr.buffer_len()];
    repr.emit(&mut AuthSection::new_unchecked(&mut emitted[..]));
    assert_eq!(AuthRepr::parse(&AuthSection::new_unchecked(&emitted[..])), Ok(repr));
    let mut expected = bytes.to_vec();
    if matches!(repr, AuthRepr::KeyedMd5 { .. } | AuthRepr::KeyedSha1 { .. }) {
        expected[3] = 0;
    }
    assert_eq!(emitted, expected);
}

/// Our echo payload. What parsing drops: the reserved bytes 5..8.
pub fn echo(bytes: &[u8]) {
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

    let Ok(repr) = parsed else { return };
    let mut emitted = [0u8; echo::PAYLOAD_LEN];
    repr.emit(&mut EchoPacket::new_unchecked(&mut emitted[..]));
    assert_eq!(EchoRepr::parse(&EchoPacket::new_unchecked(&emitted[..])), Ok(repr));
    let mut expected = [0u8; echo::PAYLOAD_LEN];
    expected.copy_from_slice(&bytes[..echo::PAYLOAD_LEN]);
    expected[5..8].fill(0);
    assert_eq!(emitted, expected);
}
