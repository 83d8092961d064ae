//! The session core's [`FastPathView`] as the XDP program's map entry
//! ([`maps::SessionConfig`]): the one place where what the state machine
//! decides becomes what the kernel enforces.

use core::time::Duration;

use bfd_common::maps::{self, CFG_ABSORB, CFG_ANSWER, CFG_AUTH, CFG_ECHO, CFG_MULTIHOP};
use bfd_session::{FastPathView, SessionKey, Time};

/// The `bfd_sess_cfg` entry for a session with `key` whose core currently
/// shows `view`. `min_ttl` is the multihop minimum (ignored by the kernel
/// for single-hop sessions); `generation` must grow with every write so
/// that the agent can tell stale detection events from current ones.
pub fn map_config(
    view: &FastPathView,
    key: &SessionKey,
    min_ttl: u8,
    generation: u64,
) -> maps::SessionConfig {
    let mut flags = 0;
    if key.multihop {
        flags |= CFG_MULTIHOP;
    }
    // Our echoes are timed only while the core runs echo with kernel
    // detection (it then gives an echo detection time).
    if view.echo_detection_time.is_some() {
        flags |= CFG_ECHO;
    }
    if view.authenticated {
        flags |= CFG_AUTH;
    }
    if view.answer {
        flags |= CFG_ANSWER;
    }
    // With an authentication section (issue 18), the kernel absorbs only a
    // packet byte-identical to the template, header and section.
    let (expect, expect_auth) = match view.expected_packet() {
        Some(template) => {
            flags |= CFG_ABSORB;
            template
        }
        None => ([0; bfd_common::wire::control::HEADER_LEN], [0; maps::AUTH_INSPECT_LEN]),
    };
    maps::SessionConfig {
        generation,
        detect_ns: nanos(view.detection_time),
        echo_detect_ns: nanos(view.echo_detection_time),
        peer: maps::address(key.peer),
        local: key.local.map_or([0; 16], maps::address),
        ifindex: if key.multihop { 0 } else { key.ifindex.unwrap_or(0) },
        flags,
        expect,
        min_ttl: if key.multihop { min_ttl } else { bfd_common::TTL },
        reserved: [0; 7],
        gap_epoch: 0,
        expect_auth,
        reserved_auth: [0; 4],
        verified_rx_ns: view.verified_rx.map_or(0, Time::as_nanos),
    }
}

/// A detection time in the map's nanoseconds, 0 for none.
fn nanos(time: Option<Duration>) -> u64 {
    time.map_or(0, |time| u64::try_from(time.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use bfd_common::wire::{ControlRepr, Diagnostic, State};
    use bfd_session::{Detection, EchoConfig, Session, SessionConfig, Time};

    use super::*;

    fn from_peer(state: State, your: u32) -> ControlRepr {
        ControlRepr {
            diagnostic: Diagnostic::NoDiagnostic,
            state,
            poll: false,
            final_: false,
            control_plane_independent: false,
            demand: false,
            detect_mult: 3,
            my_discriminator: 0x2002,
            your_discriminator: your,
            desired_min_tx: 50_000,
            required_min_rx: 50_000,
            required_min_echo_rx: 50_000,
            auth: None,
        }
    }

    #[test]
    fn an_up_session_becomes_an_absorbing_timed_entry() {
        let config = SessionConfig {
            desired_min_tx: Duration::from_millis(50),
            required_min_rx: Duration::from_millis(50),
            echo: EchoConfig { transmit: true, ..EchoConfig::default() },
            detection: Detection::Kernel,
            ..SessionConfig::default()
        };
        let mut session = Session::new(0x1001, config, 1, Time::ZERO).unwrap();
        let key = SessionKey {
            peer: "192.0.2.2".parse::<IpAddr>().unwrap(),
            local: Some("192.0.2.1".parse().unwrap()),
            ifindex: Some(7),
            multihop: false,
        };
        // Down: nothing to absorb or time yet.
        let entry = map_config(&session.fast_path(), &key, 0, 1);
        assert_eq!((entry.flags, entry.detect_ns, entry.echo_detect_ns), (0, 0, 0));
        assert_eq!(entry.min_ttl, 255, "single-hop: GTSM");
        assert_eq!(entry.ifindex, 7);
        assert_eq!(maps::ip_address(entry.peer), key.peer);

        session.on_control(Time::from_nanos(1_000), &from_peer(State::Init, 0x1001)).unwrap();
        session.on_control(Time::from_nanos(2_000), &from_peer(State::Up, 0x1001)).unwrap();
        assert_eq!(session.state(), State::Up);
        let entry = map_config(&session.fast_path(), &key, 0, 2);
        assert_eq!(entry.flags, CFG_ABSORB | CFG_ECHO);
        assert_eq!(entry.expect, maps::SessionConfig::expect_header(&from_peer(State::Up, 0x1001)));
        assert_eq!(entry.detect_ns, 150_000_000);
        assert_eq!(entry.echo_detect_ns, 150_000_000);
        assert_eq!(entry.generation, 2);
    }

    /// Issue 18: an authenticated session's entry carries the section of
    /// the packet the core verified (the kernel compares it byte for byte)
    /// and the time it was verified; a meticulous one asks for nothing.
    #[test]
    fn an_authenticated_session_absorbs_its_verified_packet_and_reports_when() {
        use bfd_common::wire::{AuthRepr, AuthType, Password};
        use bfd_session::{AuthConfig, Key, Lifetime, ReceivedControl, Secret, Sha1Construction, WallTime};

        let key = SessionKey {
            peer: "192.0.2.2".parse::<IpAddr>().unwrap(),
            local: None,
            ifindex: Some(7),
            multihop: false,
        };
        for (auth_type, absorbs) in [(AuthType::SimplePassword, true), (AuthType::MeticulousKeyedMd5, false)]
        {
            let config = SessionConfig {
                desired_min_tx: Duration::from_millis(50),
                required_min_rx: Duration::from_millis(50),
                detection: Detection::Kernel,
                ..SessionConfig::default()
            };
            let chain = AuthConfig {
                auth_type,
                keys: vec![Key {
                    id: 1,
                    secret: Secret::new(b"pw".to_vec()),
                    send: Lifetime::ALWAYS,
                    accept: Lifetime::ALWAYS,
                }],
                sha1: Sha1Construction::Rfc5880,
            };
            let wall = WallTime::from_unix_secs(1_800_000_000);
            let mut session = Session::with_auth(0x1001, config, Some((chain, wall)), 1, Time::ZERO).unwrap();
            let section = match auth_type {
                AuthType::SimplePassword => {
                    AuthRepr::SimplePassword { key_id: 1, password: Password::new(b"pw").unwrap() }
                }
                _ => AuthRepr::KeyedMd5 { meticulous: true, key_id: 1, sequence: 1, digest: [0; 16] },
            };
            let packet = ControlRepr { auth: Some(section), ..from_peer(State::Init, 0x1001) };
            let packet = match auth_type {
                AuthType::SimplePassword => packet,
                _ => bfd_session::auth::sign(bfd_session::auth::DigestKind::KeyedMd5, packet, b"pw").unwrap(),
            };
            let mut bytes = vec![0; packet.buffer_len()];
            packet.emit(&mut bfd_common::wire::ControlPacket::new_unchecked(&mut bytes[..]));
            session.on_packet(Time::from_nanos(5_000), &ReceivedControl::parse(&bytes).unwrap()).unwrap();
            assert_eq!(session.state(), State::Up, "{auth_type}");
            let entry = map_config(&session.fast_path(), &key, 0, 2);
            if absorbs {
                assert_eq!(entry.flags & (CFG_ABSORB | CFG_AUTH), CFG_ABSORB | CFG_AUTH);
                assert_eq!(entry.expect[..], bytes[..24]);
                assert_eq!(entry.expect_auth[..bytes.len() - 24], bytes[24..]);
                assert!(entry.expect_auth[bytes.len() - 24..].iter().all(|&byte| byte == 0));
                assert_eq!((entry.detect_ns, entry.verified_rx_ns), (150_000_000, 5_000));
            } else {
                assert_eq!((entry.flags, entry.detect_ns, entry.verified_rx_ns), (CFG_AUTH, 0, 0));
            }
        }
    }

    #[test]
    fn multihop_keeps_its_minimum_ttl_and_no_interface() {
        let config =
            SessionConfig { multihop: true, detection: Detection::Kernel, ..SessionConfig::default() };
        let session = Session::new(0x1001, config, 1, Time::ZERO).unwrap();
        let key = SessionKey {
            peer: "2001:db8::2".parse().unwrap(),
            local: None,
            ifindex: Some(3),
            multihop: true,
        };
        let entry = map_config(&session.fast_path(), &key, 254, 1);
        assert_eq!(entry.flags, CFG_MULTIHOP);
        assert_eq!((entry.min_ttl, entry.ifindex, entry.local), (254, 0, [0; 16]));
    }
}
