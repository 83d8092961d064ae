//! The fast path on a real link (root): a veth pair between two network
//! namespaces, the XDP program attached on the node's end through
//! `bfd-agent`, configured through the pins with the agent's library.
//!
//! - A peer's echo, sent the way FRR sends it, comes back to the peer
//!   reflected at XDP (with `ip_forward` off, the namespaces' default), in
//!   native mode and in generic mode.
//! - A kernel timer detects the end of a session's packets one detection
//!   time after the last one, and says so through the ring buffer.
//! - Two fast paths run an echo session between them: one's echoes are
//!   reflected by the other and come back as its own, timed, until they
//!   stop and the echo timer fires.
//!
//! Native `XDP_TX` on a veth delivers a frame only if the peer end runs an
//! XDP program too (veth hands the frame to the peer's XDP receive path,
//! which exists only with a program there); the native variants therefore
//! attach our program on the peer's end as well, where it passes
//! everything not meant for it. Generic mode needs nothing on the peer.

use std::{net::UdpSocket, time::Duration};

use anyhow::{Context as _, ensure};
use bfd_common::{
    CONTROL_PORT, ECHO_PORT, SOURCE_PORT_MIN, TTL,
    maps::{CFG_ECHO, EVENT_CONTROL_TIMEOUT, EVENT_ECHO_TIMEOUT, SessionConfig},
};
use bfd_lab::{
    frame::{PacketSocket, UdpFrame, ifindex, internet_checksum, mac_address, send_raw},
    lab::{NetNs, PinDir, agent_binary, monotonic_ns, require_root, run_stdout, unique_name, veth},
    scenario::{
        LOCAL_DISCR, REMOTE_DISCR, control_bytes, frr_echo_payload, own_echo_payload, session_config,
        steady_repr,
    },
};
use bfd_user::fastpath::{Events, FastPath};

const NODE_V4: &str = "192.0.2.1";
const PEER_V4: &str = "192.0.2.2";
const NODE_V6: &str = "2001:db8::1";
const PEER_V6: &str = "2001:db8::2";

/// Two namespaces joined by a veth, addressed, the program attached on the
/// node's end in `mode` (and on the peer's end with its own pins when
/// `peer_mode` is given). Dropped in field order: pins first (detaching),
/// then the namespaces.
struct Link {
    node_pins: PinDir,
    peer_pins: Option<PinDir>,
    node: NetNs,
    peer: NetNs,
    node_if: String,
    peer_if: String,
}

impl Link {
    fn new(mode: &str, peer_mode: Option<&str>) -> anyhow::Result<Link> {
        require_root()?;
        let agent = agent_binary()?;
        let node = NetNs::new("fvN")?;
        let peer = NetNs::new("fvP")?;
        let (node_if, peer_if) = (unique_name("fN"), unique_name("fP"));
        veth(&node, &node_if, &peer, &peer_if)?;
        for (netns, interface, v4, v6) in
            [(&node, &node_if, NODE_V4, NODE_V6), (&peer, &peer_if, PEER_V4, PEER_V6)]
        {
            netns.ip(["addr", "add", &format!("{v4}/24"), "dev", interface])?;
            netns.ip(["addr", "add", &format!("{v6}/64"), "dev", interface, "nodad"])?;
        }
        let attach = |netns: &NetNs, interface: &str, mode: &str, pins: &PinDir| -> anyhow::Result<()> {
            let output = run_stdout(
                netns
                    .command(&agent)
                    .args(["xdp", "attach", "--iface", interface, "--mode", mode, "--pin-path"])
                    .arg(pins.path()),
            )?;
            ensure!(output.contains(&format!("{mode} mode")), "attach output: {output}");
            Ok(())
        };
        let node_pins = PinDir::new("bfdv");
        attach(&node, &node_if, mode, &node_pins)?;
        let peer_pins = match peer_mode {
            Some(peer_mode) => {
                let pins = PinDir::new("bfdw");
                attach(&peer, &peer_if, peer_mode, &pins)?;
                Some(pins)
            }
            None => None,
        };
        Ok(Link { node_pins, peer_pins, node, peer, node_if, peer_if })
    }
}

/// An echo as FRR builds it on its AF_PACKET socket: to the node's MAC,
/// from and to the sender's own address, TTL 255, UDP 3785 → 3785.
fn echo_frame(dst_mac: [u8; 6], src_mac: [u8; 6], address: &str, payload: &[u8]) -> Vec<u8> {
    UdpFrame {
        dst_mac,
        src_mac,
        vlans: &[],
        src: address.parse().unwrap(),
        dst: address.parse().unwrap(),
        ttl: TTL,
        src_port: ECHO_PORT,
        dst_port: ECHO_PORT,
        payload,
    }
    .to_bytes()
}

/// Whether `frame` is a UDP echo (port 3785) over untagged IPv4 or IPv6.
fn is_echo(frame: &[u8]) -> bool {
    match frame.get(12..14) {
        Some([0x08, 0x00]) => {
            frame.len() >= 38 && frame[23] == 17 && frame[36..38] == ECHO_PORT.to_be_bytes()
        }
        Some([0x86, 0xdd]) => {
            frame.len() >= 58 && frame[20] == 17 && frame[56..58] == ECHO_PORT.to_be_bytes()
        }
        _ => false,
    }
}

#[bfd_lab::test]
fn a_peers_echo_comes_back_reflected_in_native_and_generic_mode() -> anyhow::Result<()> {
    for (mode, peer_mode) in [("native", Some("native")), ("generic", None)] {
        let link = Link::new(mode, peer_mode)?;
        let node_mac = mac_address(&link.node, &link.node_if)?;
        let peer_mac = mac_address(&link.peer, &link.peer_if)?;
        let mut fast = FastPath::open(link.node_pins.path())?;
        let node_ifindex = ifindex(&link.node, &link.node_if)?;
        for peer in [PEER_V4, PEER_V6] {
            fast.add_echo_peer(node_ifindex, peer.parse()?, 0)?;
        }

        for peer_address in [PEER_V4, PEER_V6] {
            let sent = echo_frame(node_mac, peer_mac, peer_address, &frr_echo_payload(REMOTE_DISCR));
            let interface = link.peer_if.clone();
            let frame = sent.clone();
            let received = link.peer.run_in(move || {
                let socket = PacketSocket::open(&interface)?;
                send_raw(&interface, &frame)?;
                socket.receive(Duration::from_secs(2), is_echo)
            })?;
            let what = format!("{mode} mode, {peer_address}");
            let received = received.with_context(|| format!("{what}: the echo did not come back"))?;
            assert_eq!(received.len(), sent.len(), "{what}");
            assert_eq!(received[..6], peer_mac, "{what}: to the peer's MAC");
            assert_eq!(received[6..12], node_mac, "{what}: from ours");
            let ipv6 = peer_address.contains(':');
            let ttl_at = if ipv6 { 14 + 7 } else { 14 + 8 };
            assert_eq!(received[ttl_at], 254, "{what}: FRR accepts its echo back only with TTL 254");
            if !ipv6 {
                assert_eq!(internet_checksum(&[&received[14..34]]), 0, "{what}: IPv4 checksum");
            }
            for index in 12..sent.len() {
                if index != ttl_at && (ipv6 || !(24..26).contains(&index)) {
                    assert_eq!(received[index], sent[index], "{what}: byte {index}");
                }
            }
        }
        let stats = fast.stats()?;
        assert_eq!(stats.echo_reflected, 2, "{mode}: {stats:#?}");
        if let Some(peer_pins) = &link.peer_pins {
            // The peer's own program saw the echoes come back, addressed to
            // its own host, and passed them on to its stack.
            let peer_stats = FastPath::open(peer_pins.path())?.stats()?;
            assert_eq!(peer_stats.echo_pass_ttl, 2, "{peer_stats:#?}");
        }
    }
    Ok(())
}

#[bfd_lab::test]
fn the_kernel_detects_the_end_of_a_sessions_packets_within_a_millisecond() -> anyhow::Result<()> {
    let link = Link::new("native", None)?;
    let detect_ns = 50_000_000;
    let mut fast = FastPath::open(link.node_pins.path())?;
    let config = SessionConfig {
        generation: 7,
        detect_ns,
        ifindex: ifindex(&link.node, &link.node_if)?,
        ..session_config(PEER_V4.parse()?, NODE_V4.parse()?)
    };
    fast.set_session(LOCAL_DISCR, &config)?;
    let mut events = Events::open(link.node_pins.path())?;

    // The peer sends five packets 10 ms apart, then stops.
    let packet = control_bytes(&steady_repr());
    link.peer.run_in(move || {
        let socket = UdpSocket::bind((PEER_V4, SOURCE_PORT_MIN)).context("bind")?;
        // GTSM (RFC 5881 §5): single-hop BFD is sent with TTL 255.
        socket.set_ttl(u32::from(TTL))?;
        for _ in 0..5 {
            socket.send_to(&packet, (NODE_V4, CONTROL_PORT))?;
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    })?;
    let event = events.wait(Some(Duration::from_secs(2)))?.context("no detection event within 2 s")?;
    let state = fast.session_state(LOCAL_DISCR)?.context("session state")?;
    assert_eq!(
        (event.discriminator, event.kind, event.generation, event.last_rx_ns),
        (LOCAL_DISCR, EVENT_CONTROL_TIMEOUT, 7, state.last_rx_ns),
        "{event:#?} {state:#?}"
    );
    assert_eq!(
        (state.rx_packets, state.absorbed, state.passed),
        (5, 5, 0),
        "every packet absorbed: {state:#?}"
    );
    let waited = event.fired_at_ns - event.last_rx_ns;
    ensure!(
        waited >= detect_ns && waited - detect_ns < 1_000_000,
        "the timer fired {waited} ns after the last packet; the detection time is {detect_ns} ns"
    );
    Ok(())
}

#[bfd_lab::test]
fn two_fast_paths_run_an_echo_session_between_them() -> anyhow::Result<()> {
    // Both ends native, each with the other as an allowed echo peer.
    let link = Link::new("native", Some("native"))?;
    let peer_pins = link.peer_pins.as_ref().context("peer pins")?;
    let node_mac = mac_address(&link.node, &link.node_if)?;
    let peer_mac = mac_address(&link.peer, &link.peer_if)?;
    let echo_detect_ns = 40_000_000;
    let mut node = FastPath::open(link.node_pins.path())?;
    node.set_session(
        LOCAL_DISCR,
        &SessionConfig {
            detect_ns: 0,
            echo_detect_ns,
            ifindex: ifindex(&link.node, &link.node_if)?,
            flags: CFG_ECHO,
            expect: [0; 24],
            ..session_config(PEER_V4.parse()?, NODE_V4.parse()?)
        },
    )?;
    let mut peer = FastPath::open(peer_pins.path())?;
    peer.add_echo_peer(ifindex(&link.peer, &link.peer_if)?, NODE_V4.parse()?, 0)?;
    let mut events = Events::open(link.node_pins.path())?;

    // The node sends three of its echoes, 10 ms apart, as the agent will:
    // to the peer's MAC, from and to its own address.
    let interface = link.node_if.clone();
    let sent_at = link.node.run_in(move || {
        let mut sent_at = 0;
        for sequence in 0..3 {
            sent_at = monotonic_ns();
            let payload = own_echo_payload(LOCAL_DISCR, sequence, sent_at);
            send_raw(&interface, &echo_frame(peer_mac, node_mac, NODE_V4, &payload))?;
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(sent_at)
    })?;
    let event = events.wait(Some(Duration::from_secs(2)))?.context("no echo detection event")?;
    let state = node.session_state(LOCAL_DISCR)?.context("session state")?;
    assert_eq!(state.echo_rx, 3, "every echo came back as ours: {state:#?}");
    assert!(state.last_echo_rx_ns > sent_at, "{state:#?}");
    assert_eq!(state.echo_rtt_ns, state.last_echo_rx_ns - sent_at);
    assert!(state.echo_rtt_ns < 10_000_000, "a veth round trip takes microseconds: {state:#?}");
    assert_eq!(node.stats()?.echo_own, 3);
    assert_eq!(peer.stats()?.echo_reflected, 3);
    assert_eq!((event.kind, event.last_rx_ns), (EVENT_ECHO_TIMEOUT, state.last_echo_rx_ns), "{event:#?}");
    let waited = event.fired_at_ns - event.last_rx_ns;
    ensure!(
        waited >= echo_detect_ns && waited - echo_detect_ns < 1_000_000,
        "the echo timer fired {waited} ns after the last echo; the detection time is {echo_detect_ns} ns"
    );
    Ok(())
}
