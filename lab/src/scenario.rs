//! Crafted frames and sessions for running the XDP program on with
//! `BPF_PROG_TEST_RUN`: one session between "node" (us, where the program
//! runs) and "peer", and builders for the frames the peer sends. Shared by
//! the fast-path tests and the `fastpath` benchmark.

use std::net::IpAddr;

use bfd_common::{
    CONTROL_PORT, ECHO_PORT, SOURCE_PORT_MIN, TTL,
    maps::{CFG_ABSORB, SessionConfig, address},
    wire::{ControlPacket, ControlRepr, Diagnostic, EchoPacket, EchoRepr, State},
};

use crate::frame::UdpFrame;

/// The session's local discriminator (ours, the peer's Your Discriminator).
pub const LOCAL_DISCR: u32 = 0x0000_1001;
/// The peer's discriminator (its My Discriminator).
pub const REMOTE_DISCR: u32 = 0x0000_2002;
/// Our MAC (the frames' destination).
pub const NODE_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// The peer's MAC.
pub const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
/// Our IPv4 address.
pub const NODE_V4: &str = "192.0.2.1";
/// The peer's IPv4 address.
pub const PEER_V4: &str = "192.0.2.2";
/// Our IPv6 address.
pub const NODE_V6: &str = "2001:db8::1";
/// The peer's IPv6 address.
pub const PEER_V6: &str = "2001:db8::2";
/// The interface crafted frames "arrive" on: the loopback device, index 1
/// in every network namespace (`BPF_PROG_TEST_RUN` wants a real device for
/// an ingress interface).
pub const LOOPBACK_IFINDEX: u32 = 1;
/// A detection time long enough that no timer fires during a test that is
/// not about timers.
pub const LONG_DETECT_NS: u64 = 60_000_000_000;

/// Parses one of the address constants.
pub fn ip(text: &str) -> IpAddr {
    text.parse().expect("a valid address constant")
}

/// What the peer sends in the steady state: Up, our discriminators, 300 ms
/// intervals, 50 ms echo.
pub fn steady_repr() -> ControlRepr {
    ControlRepr {
        diagnostic: Diagnostic::NoDiagnostic,
        state: State::Up,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: REMOTE_DISCR,
        your_discriminator: LOCAL_DISCR,
        desired_min_tx: 300_000,
        required_min_rx: 300_000,
        required_min_echo_rx: 50_000,
        auth: None,
    }
}

/// The bytes of `repr`.
pub fn control_bytes(repr: &ControlRepr) -> Vec<u8> {
    let mut bytes = vec![0; repr.buffer_len()];
    repr.emit(&mut ControlPacket::new_unchecked(&mut bytes[..]));
    bytes
}

/// A single-hop session with the peer at `peer` and us at `local`,
/// absorbing [`steady_repr`], bound to the loopback interface, with a
/// detection time no test waits for.
pub fn session_config(peer: IpAddr, local: IpAddr) -> SessionConfig {
    SessionConfig {
        generation: 1,
        detect_ns: LONG_DETECT_NS,
        echo_detect_ns: 0,
        peer: address(peer),
        local: address(local),
        ifindex: LOOPBACK_IFINDEX,
        flags: CFG_ABSORB,
        expect: SessionConfig::expect_header(&steady_repr()),
        min_ttl: 0,
        reserved: [0; 7],
        gap_epoch: 0,
        expect_auth: [0; 28],
        reserved_auth: [0; 4],
        verified_rx_ns: 0,
    }
}

/// Our echo payload.
pub fn own_echo_payload(discriminator: u32, sequence: u32, tx_time_ns: u64) -> Vec<u8> {
    let mut bytes = vec![0; bfd_common::wire::echo::PAYLOAD_LEN];
    EchoRepr { discriminator, sequence, tx_time_ns }.emit(&mut EchoPacket::new_unchecked(&mut bytes[..]));
    bytes
}

/// FRR's echo payload (shared/reference/frr-bfdd.md): version 1, length
/// 24, reserved, My Discriminator, seconds and microseconds sent.
pub fn frr_echo_payload(discriminator: u32) -> Vec<u8> {
    let mut bytes = vec![1, 24, 0, 0];
    bytes.extend_from_slice(&discriminator.to_be_bytes());
    bytes.extend_from_slice(&1_234u64.to_be_bytes());
    bytes.extend_from_slice(&567_890u64.to_be_bytes());
    bytes
}

/// A UDP frame from the peer to us, to be adjusted field by field.
#[derive(Clone, Debug)]
pub struct Crafted {
    /// VLAN tags, outermost first.
    pub vlans: Vec<(u16, u16)>,
    /// Destination MAC.
    pub dst_mac: [u8; 6],
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// IP source.
    pub src: IpAddr,
    /// IP destination.
    pub dst: IpAddr,
    /// TTL / hop limit.
    pub ttl: u8,
    /// UDP source port.
    pub src_port: u16,
    /// UDP destination port.
    pub dst_port: u16,
    /// UDP payload.
    pub payload: Vec<u8>,
}

impl Crafted {
    /// A single-hop control packet from the peer (`PEER_V4` → `NODE_V4`,
    /// TTL 255, UDP 3784).
    pub fn control(payload: Vec<u8>) -> Crafted {
        Crafted {
            vlans: Vec::new(),
            dst_mac: NODE_MAC,
            src_mac: PEER_MAC,
            src: ip(PEER_V4),
            dst: ip(NODE_V4),
            ttl: TTL,
            src_port: SOURCE_PORT_MIN,
            dst_port: CONTROL_PORT,
            payload,
        }
    }

    /// An echo packet as FRR sends it (frr-bfdd.md): addressed to its
    /// sender (`address` as source and destination), TTL 255, UDP 3785 to
    /// 3785, to our MAC.
    pub fn echo(address: IpAddr, payload: Vec<u8>) -> Crafted {
        Crafted {
            vlans: Vec::new(),
            dst_mac: NODE_MAC,
            src_mac: PEER_MAC,
            src: address,
            dst: address,
            ttl: TTL,
            src_port: ECHO_PORT,
            dst_port: ECHO_PORT,
            payload,
        }
    }

    /// The frame's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        UdpFrame {
            dst_mac: self.dst_mac,
            src_mac: self.src_mac,
            vlans: &self.vlans,
            src: self.src,
            dst: self.dst,
            ttl: self.ttl,
            src_port: self.src_port,
            dst_port: self.dst_port,
            payload: &self.payload,
        }
        .to_bytes()
    }
}
