//! Golden packets: hand-assembled byte strings following the field layouts
//! of RFC 5880 §4.1–§4.4 (and our echo payload), each field commented.
//! Each must parse to the expected `Repr`, and emitting that `Repr` must
//! give back exactly the same bytes.

use bfd_common::wire::{
    AuthRepr, AuthSection, ControlPacket, ControlRepr, Diagnostic, EchoPacket, EchoRepr, Error, Password,
    State,
};

/// Decodes hex digits, ignoring whitespace and `#` comments (to the end of
/// the line).
fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text
        .lines()
        .flat_map(|line| line.split('#').next().unwrap_or("").bytes())
        .filter(|byte| !byte.is_ascii_whitespace())
        .collect();
    assert_eq!(digits.len() % 2, 0, "odd number of hex digits");
    digits.chunks(2).map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap()).collect()
}

/// Parses `text` (hex), compares with `expected`, emits `expected` and
/// compares with the bytes.
fn assert_control_golden(text: &str, expected: ControlRepr) {
    let bytes = hex(text);
    let packet = ControlPacket::new_checked(&bytes[..]).expect("new_checked");
    assert_eq!(packet.check(), Ok(()));
    assert_eq!(usize::from(packet.length()), bytes.len());
    assert_eq!(ControlRepr::parse(&packet), Ok(expected));

    assert_eq!(expected.buffer_len(), bytes.len());
    let mut emitted = vec![0xa5; expected.buffer_len()];
    expected.emit(&mut ControlPacket::new_unchecked(&mut emitted[..]));
    assert_eq!(emitted, bytes, "emitted bytes differ");
}

/// The fields the goldens share unless they say otherwise: Up, no
/// diagnostic, no flags, Detect Mult 3, discriminators 1 and 2, 300 ms
/// intervals, 50 ms echo.
fn up() -> ControlRepr {
    ControlRepr {
        diagnostic: Diagnostic::NoDiagnostic,
        state: State::Up,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: 1,
        your_discriminator: 2,
        desired_min_tx: 300_000,
        required_min_rx: 300_000,
        required_min_echo_rx: 50_000,
        auth: None,
    }
}

#[test]
fn down_at_session_start() {
    // §6.8.3: "When bfd.SessionState is not Up, the system MUST set
    // bfd.DesiredMinTxInterval to a value of not less than one second
    // (1,000,000 microseconds)." §4.1: Your Discriminator "is zero if that
    // value is unknown", as it is before the first packet from the peer.
    assert_control_golden(
        "
        20          # Vers 1 (001) | Diag 0 (00000): No Diagnostic
        40          # Sta 1 (01): Down | P F C A D M all 0
        03          # Detect Mult 3
        18          # Length 24
        00 00 00 01 # My Discriminator 1
        00 00 00 00 # Your Discriminator 0 (unknown)
        00 0f 42 40 # Desired Min TX Interval 1,000,000 us
        00 04 93 e0 # Required Min RX Interval 300,000 us
        00 00 c3 50 # Required Min Echo RX Interval 50,000 us
        ",
        ControlRepr { state: State::Down, your_discriminator: 0, desired_min_tx: 1_000_000, ..up() },
    );
}

#[test]
fn up_with_poll() {
    // §6.8.3: once Up, lowering Desired Min TX starts a Poll Sequence.
    assert_control_golden(
        "
        20          # Vers 1 | Diag 0
        e0          # Sta 3 (11): Up | P (0x20)
        03          # Detect Mult 3
        18          # Length 24
        00 00 00 01 # My Discriminator 1
        00 00 00 02 # Your Discriminator 2
        00 04 93 e0 # Desired Min TX Interval 300,000 us
        00 04 93 e0 # Required Min RX Interval 300,000 us
        00 00 c3 50 # Required Min Echo RX Interval 50,000 us
        ",
        ControlRepr { poll: true, ..up() },
    );
}

#[test]
fn up_with_final() {
    // The peer's answer to the Poll above (§6.5): F set, discriminators
    // swapped.
    assert_control_golden(
        "
        20          # Vers 1 | Diag 0
        d0          # Sta 3: Up | F (0x10)
        03          # Detect Mult 3
        18          # Length 24
        00 00 00 02 # My Discriminator 2
        00 00 00 01 # Your Discriminator 1
        00 04 93 e0 # Desired Min TX Interval 300,000 us
        00 04 93 e0 # Required Min RX Interval 300,000 us
        00 00 c3 50 # Required Min Echo RX Interval 50,000 us
        ",
        ControlRepr { final_: true, my_discriminator: 2, your_discriminator: 1, ..up() },
    );
}

#[test]
fn down_after_detection_timeout() {
    // §6.8.4: the detection time passed, so Down with diag 1; §6.8.1:
    // bfd.RemoteDiscr is "reset to zero if Detection Time passes".
    assert_control_golden(
        "
        21          # Vers 1 | Diag 1: Control Detection Time Expired
        40          # Sta 1: Down
        03          # Detect Mult 3
        18          # Length 24
        00 00 00 01 # My Discriminator 1
        00 00 00 00 # Your Discriminator 0
        00 0f 42 40 # Desired Min TX Interval 1,000,000 us
        00 04 93 e0 # Required Min RX Interval 300,000 us
        00 00 c3 50 # Required Min Echo RX Interval 50,000 us
        ",
        ControlRepr {
            diagnostic: Diagnostic::ControlDetectionTimeExpired,
            state: State::Down,
            your_discriminator: 0,
            desired_min_tx: 1_000_000,
            ..up()
        },
    );
}

#[test]
fn admin_down() {
    assert_control_golden(
        "
        27          # Vers 1 | Diag 7: Administratively Down
        00          # Sta 0: AdminDown
        05          # Detect Mult 5
        18          # Length 24
        00 00 00 01 # My Discriminator 1
        00 00 00 02 # Your Discriminator 2
        00 0f 42 40 # Desired Min TX Interval 1,000,000 us
        00 00 00 00 # Required Min RX Interval 0: send no periodic packets
        00 00 00 00 # Required Min Echo RX Interval 0: no echo
        ",
        ControlRepr {
            diagnostic: Diagnostic::AdministrativelyDown,
            state: State::AdminDown,
            detect_mult: 5,
            desired_min_tx: 1_000_000,
            required_min_rx: 0,
            required_min_echo_rx: 0,
            ..up()
        },
    );
}

#[test]
fn reserved_diagnostic_with_c_and_d() {
    // §4.1: "9-31 -- Reserved for future use": kept, not rejected.
    assert_control_golden(
        "
        3f          # Vers 1 | Diag 31 (11111): reserved
        ca          # Sta 3: Up | C (0x08) | D (0x02)
        ff          # Detect Mult 255
        18          # Length 24
        ff ff ff ff # My Discriminator 4294967295
        80 00 00 00 # Your Discriminator 2147483648
        ff ff ff ff # Desired Min TX Interval 4294967295 us
        00 00 00 01 # Required Min RX Interval 1 us
        00 00 00 00 # Required Min Echo RX Interval 0
        ",
        ControlRepr {
            diagnostic: Diagnostic::Reserved(31),
            control_plane_independent: true,
            demand: true,
            detect_mult: 255,
            my_discriminator: u32::MAX,
            your_discriminator: 0x8000_0000,
            desired_min_tx: u32::MAX,
            required_min_rx: 1,
            required_min_echo_rx: 0,
            ..up()
        },
    );
}

#[test]
fn simple_password() {
    assert_control_golden(
        "
        20          # Vers 1 | Diag 0
        c4          # Sta 3: Up | A (0x04)
        03          # Detect Mult 3
        22          # Length 34 = 24 + 10
        00 00 00 01 # My Discriminator 1
        00 00 00 02 # Your Discriminator 2
        00 04 93 e0 # Desired Min TX Interval 300,000 us
        00 04 93 e0 # Required Min RX Interval 300,000 us
        00 00 c3 50 # Required Min Echo RX Interval 50,000 us
        01          # Auth Type 1: Simple Password (§4.2)
        0a          # Auth Len 10 = password length 7 + 3
        01          # Auth Key ID 1
        62 66 64 2d 78 64 70 # Password 'bfd-xdp'
        ",
        ControlRepr {
            auth: Some(AuthRepr::SimplePassword { key_id: 1, password: Password::new(b"bfd-xdp").unwrap() }),
            ..up()
        },
    );
}

#[test]
fn simple_password_of_16_bytes() {
    // §4.2: the password "MUST be from 1 to 16 bytes in length".
    assert_control_golden(
        "
        20 c4 03    # Vers 1 | Diag 0 ; Up | A ; Detect Mult 3
        2b          # Length 43 = 24 + 19
        00 00 00 01 # My Discriminator 1
        00 00 00 02 # Your Discriminator 2
        00 04 93 e0 # Desired Min TX Interval 300,000 us
        00 04 93 e0 # Required Min RX Interval 300,000 us
        00 00 c3 50 # Required Min Echo RX Interval 50,000 us
        01          # Auth Type 1: Simple Password
        13          # Auth Len 19 = 16 + 3
        ff          # Auth Key ID 255
        30 31 32 33 34 35 36 37 38 39 61 62 63 64 65 66 # Password '0123456789abcdef'
        ",
        ControlRepr {
            auth: Some(AuthRepr::SimplePassword {
                key_id: 255,
                password: Password::new(b"0123456789abcdef").unwrap(),
            }),
            ..up()
        },
    );
}

const MD5_DIGEST: [u8; 16] =
    [0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff];

#[test]
fn keyed_md5() {
    assert_control_golden(
        "
        20 c4 03    # Vers 1 | Diag 0 ; Up | A ; Detect Mult 3
        30          # Length 48 = 24 + 24
        00 00 00 01 # My Discriminator 1
        00 00 00 02 # Your Discriminator 2
        00 04 93 e0 # Desired Min TX Interval 300,000 us
        00 04 93 e0 # Required Min RX Interval 300,000 us
        00 00 c3 50 # Required Min Echo RX Interval 50,000 us
        02          # Auth Type 2: Keyed MD5 (§4.3)
        18          # Auth Len 24
        05          # Auth Key ID 5
        00          # Reserved
        00 00 00 64 # Sequence Number 100
        00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff # Auth Key/Digest
        ",
        ControlRepr {
            auth: Some(AuthRepr::KeyedMd5 {
                meticulous: false,
                key_id: 5,
                sequence: 100,
                digest: MD5_DIGEST,
            }),
            ..up()
        },
    );
}

#[test]
fn meticulous_keyed_md5() {
    assert_control_golden(
        "
        20 c4 03 30 # Vers 1 | Diag 0 ; Up | A ; Detect Mult 3 ; Length 48
        00 00 00 01 # My Discriminator 1
        00 00 00 02 # Your Discriminator 2
        00 04 93 e0 # Desired Min TX Interval 300,000 us
        00 04 93 e0 # Required Min RX Interval 300,000 us
        00 00 c3 50 # Required Min Echo RX Interval 50,000 us
        03          # Auth Type 3: Meticulous Keyed MD5 (§4.3)
        18          # Auth Len 24
        00          # Auth Key ID 0
        00          # Reserved
        01 02 03 04 # Sequence Number 16909060
        00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff # Auth Key/Digest
        ",
        ControlRepr {
            auth: Some(AuthRepr::KeyedMd5 {
                meticulous: true,
                key_id: 0,
                sequence: 0x0102_0304,
                digest: MD5_DIGEST,
            }),
            ..up()
        },
    );
}

const SHA1_HASH: [u8; 20] = [
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0xb0,
    0xb1, 0xb2, 0xb3,
];

#[test]
fn keyed_sha1() {
    assert_control_golden(
        "
        20 c4 03    # Vers 1 | Diag 0 ; Up | A ; Detect Mult 3
        34          # Length 52 = 24 + 28
        00 00 00 01 # My Discriminator 1
        00 00 00 02 # Your Discriminator 2
        00 04 93 e0 # Desired Min TX Interval 300,000 us
        00 04 93 e0 # Required Min RX Interval 300,000 us
        00 00 c3 50 # Required Min Echo RX Interval 50,000 us
        04          # Auth Type 4: Keyed SHA1 (§4.4)
        1c          # Auth Len 28
        07          # Auth Key ID 7
        00          # Reserved
        ff ff ff ff # Sequence Number 4294967295
        a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 aa ab ac ad ae af b0 b1 b2 b3 # Auth Key/Hash
        ",
        ControlRepr {
            auth: Some(AuthRepr::KeyedSha1 {
                meticulous: false,
                key_id: 7,
                sequence: u32::MAX,
                hash: SHA1_HASH,
            }),
            ..up()
        },
    );
}

#[test]
fn meticulous_keyed_sha1() {
    assert_control_golden(
        "
        20 c4 03 34 # Vers 1 | Diag 0 ; Up | A ; Detect Mult 3 ; Length 52
        00 00 00 01 # My Discriminator 1
        00 00 00 02 # Your Discriminator 2
        00 04 93 e0 # Desired Min TX Interval 300,000 us
        00 04 93 e0 # Required Min RX Interval 300,000 us
        00 00 c3 50 # Required Min Echo RX Interval 50,000 us
        05          # Auth Type 5: Meticulous Keyed SHA1 (§4.4)
        1c          # Auth Len 28
        08          # Auth Key ID 8
        00          # Reserved
        00 00 00 00 # Sequence Number 0
        a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 aa ab ac ad ae af b0 b1 b2 b3 # Auth Key/Hash
        ",
        ControlRepr {
            auth: Some(AuthRepr::KeyedSha1 { meticulous: true, key_id: 8, sequence: 0, hash: SHA1_HASH }),
            ..up()
        },
    );
}

#[test]
fn auth_section_view_of_md5_golden() {
    let bytes = hex("
        02 18 05 00 # Auth Type 2 ; Auth Len 24 ; Auth Key ID 5 ; Reserved
        00 00 00 64 # Sequence Number 100
        00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff # Auth Key/Digest
        ");
    let section = AuthSection::new_checked(&bytes[..]).unwrap();
    assert_eq!(section.check(), Ok(()));
    assert_eq!(section.auth_type_raw(), 2);
    assert_eq!(section.auth_len(), 24);
    assert_eq!(section.key_id(), Some(5));
    assert_eq!(section.sequence(), Some(100));
    assert_eq!(section.digest(), Some(&MD5_DIGEST));
}

#[test]
fn padded_udp_payload() {
    // The same Up packet in a UDP payload 8 bytes longer than Length: the
    // padding is ignored.
    let bytes = hex("
        20 c0 03 18 # Vers 1 | Diag 0 ; Up ; Detect Mult 3 ; Length 24
        00 00 00 01 # My Discriminator 1
        00 00 00 02 # Your Discriminator 2
        00 04 93 e0 # Desired Min TX Interval 300,000 us
        00 04 93 e0 # Required Min RX Interval 300,000 us
        00 00 c3 50 # Required Min Echo RX Interval 50,000 us
        de ad be ef de ad be ef # padding past Length
        ");
    let packet = ControlPacket::new_checked(&bytes[..]).unwrap();
    assert_eq!(ControlRepr::parse(&packet), Ok(up()));
}

#[test]
fn length_too_short_with_auth_bit() {
    let bytes = hex("
        20 c4 03 19 # Vers 1 | Diag 0 ; Up | A ; Detect Mult 3 ; Length 25 (< 26)
        00 00 00 01 00 00 00 02 00 04 93 e0 00 04 93 e0 00 00 c3 50
        01 00       # Auth Type 1 ; Auth Len 0
        ");
    let packet = ControlPacket::new_unchecked(&bytes[..]);
    assert_eq!(packet.check(), Err(Error::LengthTooShort));
}

#[test]
fn echo() {
    let bytes = hex("
        42 46 44 58             # magic 'BFDX'
        01                      # version 1
        00 00 00                # reserved
        00 00 00 01             # discriminator 1
        00 00 00 2a             # sequence 42
        00 00 00 e8 d4 a5 10 00 # tx_time_ns 1,000,000,000,000 (1000 s after boot)
        ");
    let expected = EchoRepr { discriminator: 1, sequence: 42, tx_time_ns: 1_000_000_000_000 };
    let packet = EchoPacket::new_checked(&bytes[..]).unwrap();
    assert_eq!(EchoRepr::parse(&packet), Ok(expected));
    let mut emitted = vec![0xa5; expected.buffer_len()];
    expected.emit(&mut EchoPacket::new_unchecked(&mut emitted[..]));
    assert_eq!(emitted, bytes);
}

#[test]
fn frr_style_echo_is_not_ours() {
    // FRR's echo payload starts with a version byte of 1.
    let bytes = hex("
        01 00 00 18 00 00 00 01 00 00 00 00 00 00 00 00
        00 00 00 00 00 00 00 00
        ");
    assert_eq!(EchoPacket::new_unchecked(&bytes[..]).check(), Err(Error::EchoBadMagic));
}
