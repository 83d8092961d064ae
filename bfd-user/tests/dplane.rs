//! FRR bfdd's data-plane protocol without a network: the wire format
//! against bytes Debian's FRR 8.4 bfdd wrote, the registry's reconciliation
//! across reconnects and restarts, and bfdd's address syntax.

mod dplane {
    use std::net::IpAddr;
    use std::time::Duration;

    use bfd_common::wire::{Diagnostic, State};
    use bfd_user::config::PeerSpec;
    use bfd_user::dplane::registry::{self, Refused, Registration, Registry};
    use bfd_user::dplane::wire::{
        self, CountersRepr, Error, Message, Reassembler, SessionRepr, StateChangeRepr, session_flags,
    };
    use bfd_user::dplane::{Address, Endpoint};

    /// What bfdd 8.4.4 sent on a data plane's connection, configured with
    ///
    /// ```text
    /// bfd
    ///  peer 10.9.0.2 local-address 10.9.0.1
    ///   receive-interval 50
    ///   transmit-interval 40
    ///   detect-multiplier 4
    ///  peer fd00::2 multihop local-address fd00::1
    ///   minimum-ttl 250
    ///   passive-mode
    ///   shutdown
    /// ```
    ///
    /// (`bfdd --dplaneaddr unix:PATH` in a namespace, a client reading the
    /// socket; then its answer to an ECHO_REQUEST with id 7 and dp_time
    /// 1234.)
    const FRR_84_REGISTRATION: &str = concat!(
        "010000020000008c000000000a0900010000000000000000000000000a090002000000000000000000000000389d50cd",
        "00009c400000c3500000c3500000c35000000000ff040000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001000002",
        "0000008c00000071fd000000000000000000000000000001fd000000000000000000000000000002a4151eb0000493e0",
        "000493e00000c3500000c35000000000fa03000000000000000000000000000000000000000000000000000000000000",
        "00000000000000000000000000000000000000000000000000000000000000000000000000000000",
    );
    const FRR_84_ECHO_REPLY: &str = "010000010000001800000000000004d2000660c80c772c07";

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn registration() -> Vec<SessionRepr> {
        let mut reassembler = Reassembler::default();
        reassembler.push(&hex(FRR_84_REGISTRATION));
        let mut sessions = Vec::new();
        while let Some(message) = reassembler.next_message().unwrap() {
            match message {
                Message::AddSession(session) => sessions.push(session),
                other => panic!("not a registration: {other:?}"),
            }
        }
        sessions
    }

    #[test]
    fn frr_8_4_registrations_parse_field_by_field() {
        let sessions = registration();
        assert_eq!(sessions.len(), 2);
        let v4 = &sessions[0];
        assert_eq!(v4.flags, 0);
        assert_eq!((v4.src, v4.dst), (ip("10.9.0.1"), ip("10.9.0.2")));
        assert_eq!(v4.lid, 0x389d_50cd);
        assert_eq!((v4.min_tx, v4.min_rx, v4.min_echo_tx, v4.min_echo_rx), (40_000, 50_000, 50_000, 50_000));
        assert_eq!((v4.ttl, v4.detect_mult, v4.ifindex, v4.ifname.as_str()), (255, 4, 0, ""));
        let v6 = &sessions[1];
        assert_eq!(
            v6.flags,
            session_flags::MULTIHOP | session_flags::IPV6 | session_flags::PASSIVE | session_flags::SHUTDOWN
        );
        assert_eq!((v6.src, v6.dst), (ip("fd00::1"), ip("fd00::2")));
        assert_eq!((v6.min_tx, v6.min_rx), (300_000, 300_000));
        assert_eq!((v6.ttl, v6.detect_mult), (250, 3));
    }

    #[test]
    fn every_message_emits_the_bytes_it_parses_from() {
        let bytes = hex(FRR_84_REGISTRATION);
        let (first, used) = Message::parse(&bytes).unwrap().unwrap();
        assert_eq!(used, 140);
        assert_eq!(first.to_bytes(), bytes[..140]);
        let reply = hex(FRR_84_ECHO_REPLY);
        let (echo, _) = Message::parse(&reply).unwrap().unwrap();
        assert_eq!(echo, Message::EchoReply { id: 0, dp_time: 1234, bfdd_time: 0x0006_60c8_0c77_2c07 });
        assert_eq!(echo.to_bytes(), reply);
        let state = StateChangeRepr {
            lid: 1,
            rid: 2,
            remote_flags: 3,
            desired_tx: 4,
            required_rx: 5,
            required_echo_rx: 6,
            state: 3,
            diagnostics: 1,
            detection_multiplier: 7,
        };
        let counters = CountersRepr {
            lid: 9,
            control_input_bytes: 1,
            control_input_packets: 2,
            control_output_bytes: 3,
            control_output_packets: 4,
            echo_input_bytes: 5,
            echo_input_packets: 6,
            echo_output_bytes: 7,
            echo_output_packets: 8,
        };
        for (message, length) in [
            (Message::StateChange(state), 36),
            (Message::CountersRequest { id: 5, lid: 9 }, 12),
            (Message::Counters { id: 5, counters }, 80),
            (Message::EchoRequest { id: 1, dp_time: 2, bfdd_time: 3 }, 24),
            (Message::DeleteSession(registration()[1].clone()), 140),
        ] {
            let bytes = message.to_bytes();
            assert_eq!(bytes.len(), length, "{message:?}");
            assert_eq!(u16::from_be_bytes([bytes[6], bytes[7]]) as usize, length);
            assert_eq!(Message::parse(&bytes).unwrap(), Some((message, length)));
        }
        // The state change's layout, byte by byte (reference: lid @0, rid
        // @4, flags @8, timers @12..24, state @24, diagnostics @25, mult @26).
        let bytes = Message::StateChange(state).to_bytes();
        assert_eq!(&bytes[..8], &[1, 0, 0, 4, 0, 0, 0, 36]);
        assert_eq!(&bytes[8 + 24..], &[3, 1, 7, 0]);
        // The counters reply: lid, 4 bytes of padding, then the u64s.
        let bytes = Message::Counters { id: 5, counters }.to_bytes();
        assert_eq!(&bytes[4..6], &[0, 5]);
        assert_eq!(&bytes[8..16], &[0, 0, 0, 9, 0, 0, 0, 0]);
        assert_eq!(&bytes[16..24], &1u64.to_be_bytes());
        assert_eq!(&bytes[72..80], &8u64.to_be_bytes());
    }

    #[test]
    fn a_stream_is_reassembled_whatever_its_reads() {
        let bytes = hex(FRR_84_REGISTRATION);
        for chunk in [1, 7, 139, 141, 280] {
            let mut reassembler = Reassembler::default();
            let mut messages = Vec::new();
            for piece in bytes.chunks(chunk) {
                reassembler.push(piece);
                while let Some(message) = reassembler.next_message().unwrap() {
                    messages.push(message);
                }
            }
            assert_eq!(messages.len(), 2, "reads of {chunk} bytes");
        }
    }

    #[test]
    fn bad_framing_is_an_error_and_unknown_types_are_skipped() {
        assert_eq!(Message::parse(&[2, 0, 0, 0, 0, 0, 0, 8]), Err(Error::Version(2)));
        assert_eq!(Message::parse(&[1, 0, 0, 0, 0, 0, 0, 4]), Err(Error::Length(4)));
        assert_eq!(Message::parse(&[1, 0, 0, 0, 0, 0, 0x20, 1]), Err(Error::Length(8193)));
        assert!(matches!(Message::parse(&[1, 0, 0, 4, 0, 0, 0, 8]), Err(Error::Size { expected: 36, .. })));
        assert_eq!(Message::parse(&[1, 0, 0, 4]), Ok(None));
        let unknown = [1, 0, 0, 99, 0, 0, 0, 10, 0xaa, 0xbb];
        assert_eq!(Message::parse(&unknown), Ok(Some((Message::Unknown { kind: 99, length: 10 }, 10))));
    }

    #[test]
    fn parsing_never_panics_on_mutated_registrations() {
        let bytes = hex(FRR_84_REGISTRATION);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut mutated = bytes.clone();
            let at = (state as usize) % mutated.len();
            mutated[at] = (state >> 32) as u8;
            mutated.truncate(((state >> 40) as usize) % (bytes.len() + 1));
            let mut reassembler = Reassembler::default();
            reassembler.push(&mutated);
            while let Ok(Some(_)) = reassembler.next_message() {}
        }
    }

    fn spec(session: &SessionRepr) -> PeerSpec {
        registry::peer_spec(session).unwrap()
    }

    #[test]
    fn a_registration_becomes_the_session_bfdd_describes() {
        let sessions = registration();
        let v4 = spec(&sessions[0]);
        assert_eq!(
            (v4.peer, v4.local, v4.multihop, v4.min_ttl),
            (ip("10.9.0.2"), Some(ip("10.9.0.1")), false, 255)
        );
        assert_eq!(v4.discriminator, Some(0x389d_50cd));
        assert_eq!(v4.session.desired_min_tx, Duration::from_millis(40));
        assert_eq!(v4.session.required_min_rx, Duration::from_millis(50));
        assert_eq!(v4.session.detect_mult, 4);
        assert!(!v4.session.echo.transmit && !v4.admin_down && !v4.session.passive);
        assert_eq!(v4.session.echo.required_min_rx, Duration::from_millis(50));
        let v6 = spec(&sessions[1]);
        assert!(v6.multihop && v6.session.passive && v6.admin_down);
        assert_eq!(v6.min_ttl, 250);
        // RFC 5883: no echo looped back over multiple hops.
        assert_eq!(v6.session.echo.required_min_rx, Duration::ZERO);

        let mut zero = sessions[0].clone();
        zero.lid = 0;
        assert_eq!(registry::peer_spec(&zero), Err(Refused::ZeroLid));
        let mut no_peer = sessions[0].clone();
        no_peer.dst = ip("0.0.0.0");
        assert!(matches!(registry::peer_spec(&no_peer), Err(Refused::NoPeer { .. })));
        let mut no_mult = sessions[0].clone();
        no_mult.detect_mult = 0;
        assert!(matches!(registry::peer_spec(&no_mult), Err(Refused::Invalid { .. })));
    }

    #[test]
    fn registrations_are_reconciled_across_reconnects_and_bfdd_restarts() {
        let sessions = registration();
        let mut registry = Registry::new();
        assert_eq!(registry.add(1, &sessions[0]), Ok(Registration::New));
        assert_eq!(registry.add(1, &sessions[1]), Ok(Registration::New));
        // The same session again (a reconnect): nothing to change.
        assert_eq!(registry.add(1, &sessions[0]), Ok(Registration::Again { previous_lid: None }));
        // The channel is lost: the sessions run on, stale.
        assert_eq!(registry.channel_lost(1), 2);
        assert_eq!(registry.specs().len(), 2);
        // A restarted bfdd: the same session under a new lid keeps running
        // with its discriminator; the lid now maps to it.
        let mut restarted = sessions[0].clone();
        restarted.lid = 4242;
        assert_eq!(registry.add(2, &restarted), Ok(Registration::Again { previous_lid: Some(0x389d_50cd) }));
        let identity = spec(&sessions[0]).key();
        assert_eq!(registry.lid(&identity), Some((4242, 2)));
        assert_eq!(registry.identity(4242), Some(&identity));
        assert_eq!(registry.identity(0x389d_50cd), None);
        let running = registry.specs().into_iter().find(|s| s.key() == identity).unwrap();
        assert_eq!(running.discriminator, Some(0x389d_50cd), "the wire keeps the running discriminator");
        // New timers: a change.
        let mut slower = restarted.clone();
        slower.min_tx = 300_000;
        assert_eq!(registry.add(2, &slower), Ok(Registration::Changed { previous_lid: None }));
        // The other session was not registered again: swept.
        assert_eq!(registry.stale(), 1);
        let gone = registry.sweep_stale();
        assert_eq!(gone, vec![spec(&sessions[1]).key()]);
        assert_eq!(registry.len(), 1);
        // Deleted by lid.
        assert_eq!(registry.delete(4242), Some(identity));
        assert!(registry.is_empty());
        assert_eq!(registry.delete(4242), None);
    }

    #[test]
    fn state_changes_carry_our_state_and_the_peers_values() {
        use bfd_session::{Session, SessionConfig, Time};
        let session = Session::new(7, SessionConfig::default(), 1, Time::ZERO).unwrap();
        let mut status = session.status();
        status.state = State::Up;
        status.remote_discr = 99;
        status.remote_diag = Diagnostic::NeighborSignaledSessionDown;
        status.local_diag = Diagnostic::ControlDetectionTimeExpired;
        status.remote_desired_min_tx = Duration::from_millis(50);
        status.remote_min_rx = Duration::from_millis(40);
        status.remote_min_echo_rx = Duration::ZERO;
        status.remote_detect_mult = 5;
        status.remote_control_plane_independent = true;
        let change = registry::state_change(1234, &status);
        assert_eq!(
            change,
            StateChangeRepr {
                lid: 1234,
                rid: 99,
                remote_flags: wire::remote_flags::CBIT,
                desired_tx: 50_000,
                required_rx: 40_000,
                required_echo_rx: 0,
                state: 3,
                diagnostics: 3,
                detection_multiplier: 5,
            }
        );
    }

    #[test]
    fn a_registration_run_of_58_filled_bfdds_buffer() {
        // 58 messages of 140 bytes fit in 8192; a 59th would not.
        assert!(!registry::burst_was_cut(57));
        assert!(registry::burst_was_cut(58));
        assert!(!registry::burst_was_cut(0));
    }

    #[test]
    fn addresses_use_bfdds_syntax() {
        let parse = |text: &str| text.parse::<Address>();
        assert_eq!(
            parse("unix:/run/frr/dplane.sock"),
            Ok(Address { connect: true, endpoint: Endpoint::Unix("/run/frr/dplane.sock".into()) })
        );
        assert_eq!(
            parse("ipv4:127.0.0.1"),
            Ok(Address { connect: true, endpoint: Endpoint::Tcp("127.0.0.1:50700".parse().unwrap()) })
        );
        assert_eq!(
            parse("ipv4c:10.0.0.1:6000"),
            Ok(Address { connect: false, endpoint: Endpoint::Tcp("10.0.0.1:6000".parse().unwrap()) })
        );
        assert_eq!(
            parse("ipv6:[::1]:6001"),
            Ok(Address { connect: true, endpoint: Endpoint::Tcp("[::1]:6001".parse().unwrap()) })
        );
        assert_eq!(
            parse("ipv6c:[fd00::1]"),
            Ok(Address { connect: false, endpoint: Endpoint::Tcp("[fd00::1]:50700".parse().unwrap()) })
        );
        for (text, address) in [("unixc:/x", "unixc:/x"), ("ipv4:1.2.3.4:5", "ipv4:1.2.3.4:5")] {
            assert_eq!(parse(text).unwrap().to_string(), address);
        }
        for bad in ["tcp:1.2.3.4", "ipv4:1.2.3", "ipv4:1.2.3.4:0", "ipv6:::1", "unix:", "nothing"] {
            let error = parse(bad).unwrap_err();
            assert!(error.contains(bad), "{bad}: {error}");
        }
    }

    #[test]
    fn the_agent_config_takes_frr_data_plane() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let good = write(
            "good.yaml",
            "apiVersion: bfd-xdp.io/v1alpha1\nkind: BFDAgentConfig\nmetadata: {name: n}\nspec:\n  frrDataPlane: unix:/run/frr/bfdd-dplane.sock\n",
        );
        let config = bfd_user::config::load(&[good]).unwrap();
        assert_eq!(config.node.frr_data_plane, "unix:/run/frr/bfdd-dplane.sock".parse().ok());
        let bad = write(
            "bad.yaml",
            "apiVersion: bfd-xdp.io/v1alpha1\nkind: BFDAgentConfig\nmetadata: {name: n}\nspec:\n  frrDataPlane: tcp:1.2.3.4\n",
        );
        let errors = bfd_user::config::load(std::slice::from_ref(&bad)).unwrap_err().to_string();
        assert!(errors.contains("bad.yaml:5") && errors.contains("spec.frrDataPlane"), "{errors}");
        let _ = wire::DEFAULT_PORT;
    }
}
