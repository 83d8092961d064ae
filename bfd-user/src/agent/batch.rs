//! Control packets due together leave in one `sendmmsg(2)` per address
//! family.
//!
//! Each session keeps its own UDP socket (RFC 5881 §4: its own source port,
//! reserved by the bind, and where ICMP errors come back), but a system
//! call can only send on one socket. So the batch goes through a raw socket
//! (`IPPROTO_RAW`, headers included) with the very headers the session's
//! socket would have written: its source address and port, TTL / hop limit
//! 255, DSCP CS6, and the UDP checksum. Without `CAP_NET_RAW` the sessions'
//! own sockets send, one call each.

use std::io::IoSlice;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{
    self, AddressFamily, MsgFlags, MultiHeaders, SockFlag, SockProtocol, SockType, SockaddrIn, SockaddrIn6,
};

const TOS_CS6: u8 = 0xc0;
const UDP: u8 = 17;

/// One socket per family and the packets waiting for the next flush.
pub struct Batcher {
    v4: Option<OwnedFd>,
    v6: Option<OwnedFd>,
    queued_v4: Vec<(SockaddrIn, Vec<u8>)>,
    queued_v6: Vec<(SockaddrIn6, Vec<u8>)>,
    /// System calls made and packets sent through them, for the log.
    pub calls: u64,
    /// Packets sent in batches.
    pub packets: u64,
    /// Packets the kernel refused.
    pub errors: u64,
}

impl Batcher {
    /// Opens the raw sockets; a family whose socket cannot be opened (no
    /// `CAP_NET_RAW`) is sent through the sessions' own sockets.
    pub fn open() -> Batcher {
        let raw = |family| {
            socket::socket(
                family,
                SockType::Raw,
                SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
                SockProtocol::Raw,
            )
            .ok()
        };
        Batcher {
            v4: raw(AddressFamily::Inet),
            v6: raw(AddressFamily::Inet6),
            queued_v4: Vec::new(),
            queued_v6: Vec::new(),
            calls: 0,
            packets: 0,
            errors: 0,
        }
    }

    /// Whether batches can be sent for this family.
    pub fn available(&self, v6: bool) -> bool {
        if v6 { self.v6.is_some() } else { self.v4.is_some() }
    }

    /// Queues a UDP datagram from `source` to `destination` (same family;
    /// `scope` is the interface of a link-local IPv6 destination). Returns
    /// false, queuing nothing, if the family has no raw socket.
    pub fn queue(&mut self, source: SocketAddr, destination: SocketAddr, scope: u32, payload: &[u8]) -> bool {
        match (source, destination) {
            (SocketAddr::V4(source), SocketAddr::V4(destination)) if self.v4.is_some() => {
                let packet = ipv4_udp(source, destination, payload);
                // Raw IPv4 sockets take the destination without a port.
                let address = SockaddrIn::from(SocketAddrV4::new(*destination.ip(), 0));
                self.queued_v4.push((address, packet));
                true
            }
            (SocketAddr::V6(source), SocketAddr::V6(destination)) if self.v6.is_some() => {
                let packet = ipv6_udp(source, destination, payload);
                let address = SockaddrIn6::from(SocketAddrV6::new(*destination.ip(), 0, 0, scope));
                self.queued_v6.push((address, packet));
                true
            }
            _ => false,
        }
    }

    /// Sends everything queued: one `sendmmsg` per family (more if the
    /// kernel refuses a packet midway: the rest still go).
    pub fn flush(&mut self) {
        if let Some(socket) = &self.v4 {
            let queued = std::mem::take(&mut self.queued_v4);
            let (calls, packets, errors) = send_all(socket, &queued);
            (self.calls, self.packets, self.errors) =
                (self.calls + calls, self.packets + packets, self.errors + errors);
        }
        if let Some(socket) = &self.v6 {
            let queued = std::mem::take(&mut self.queued_v6);
            let (calls, packets, errors) = send_all(socket, &queued);
            (self.calls, self.packets, self.errors) =
                (self.calls + calls, self.packets + packets, self.errors + errors);
        }
    }
}

/// Sends `queued` with as few `sendmmsg` calls as the kernel allows:
/// (calls, packets sent, packets refused).
fn send_all<S: socket::SockaddrLike + Copy>(socket: &OwnedFd, queued: &[(S, Vec<u8>)]) -> (u64, u64, u64) {
    let (mut calls, mut sent, mut errors) = (0, 0, 0);
    let mut start = 0;
    while start < queued.len() {
        let rest = &queued[start..];
        let slices: Vec<[IoSlice<'_>; 1]> = rest.iter().map(|(_, packet)| [IoSlice::new(packet)]).collect();
        let addresses: Vec<Option<S>> = rest.iter().map(|(address, _)| Some(*address)).collect();
        let mut headers = MultiHeaders::<S>::preallocate(rest.len(), None);
        calls += 1;
        let result = socket::sendmmsg(
            socket.as_raw_fd(),
            &mut headers,
            &slices,
            &addresses,
            [],
            MsgFlags::MSG_DONTWAIT,
        );
        match result {
            Ok(results) => {
                let count = results.count() as u64;
                sent += count;
                start += count.max(1) as usize;
                if count == 0 {
                    errors += 1;
                }
            }
            // The first packet was refused (an unreachable peer, a full
            // buffer): BFD's timers deal with a lost packet; send the rest.
            Err(_) => {
                errors += 1;
                start += 1;
            }
        }
    }
    (calls, sent, errors)
}

/// An IPv4 header and UDP datagram as the session's socket would send it.
fn ipv4_udp(source: SocketAddrV4, destination: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let total = 20 + udp_len;
    let mut packet = vec![0u8; total];
    packet[0] = 0x45;
    packet[1] = TOS_CS6;
    packet[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    packet[6] = 0x40; // Don't Fragment, as the kernel sets for UDP (PMTU discovery)
    packet[8] = bfd_common::TTL;
    packet[9] = UDP;
    packet[12..16].copy_from_slice(&source.ip().octets());
    packet[16..20].copy_from_slice(&destination.ip().octets());
    // The IP header checksum and an ID of 0 are filled by the kernel for
    // IP_HDRINCL sockets (raw(7)).
    let pseudo = [
        &source.ip().octets()[..],
        &destination.ip().octets()[..],
        &[0, UDP],
        &(udp_len as u16).to_be_bytes(),
    ]
    .concat();
    write_udp(&mut packet[20..], source.port(), destination.port(), payload, &pseudo);
    packet
}

/// An IPv6 header and UDP datagram as the session's socket would send it.
fn ipv6_udp(source: SocketAddrV6, destination: SocketAddrV6, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let mut packet = vec![0u8; 40 + udp_len];
    // Version 6, Traffic Class CS6, no flow label.
    packet[0] = 0x60 | (TOS_CS6 >> 4);
    packet[1] = (TOS_CS6 & 0x0f) << 4;
    packet[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
    packet[6] = UDP;
    packet[7] = bfd_common::TTL;
    packet[8..24].copy_from_slice(&source.ip().octets());
    packet[24..40].copy_from_slice(&destination.ip().octets());
    let pseudo = [
        &source.ip().octets()[..],
        &destination.ip().octets()[..],
        &(udp_len as u32).to_be_bytes(),
        &[0, 0, 0, UDP],
    ]
    .concat();
    write_udp(&mut packet[40..], source.port(), destination.port(), payload, &pseudo);
    packet
}

fn write_udp(udp: &mut [u8], source_port: u16, destination_port: u16, payload: &[u8], pseudo: &[u8]) {
    let len = udp.len() as u16;
    udp[0..2].copy_from_slice(&source_port.to_be_bytes());
    udp[2..4].copy_from_slice(&destination_port.to_be_bytes());
    udp[4..6].copy_from_slice(&len.to_be_bytes());
    udp[8..].copy_from_slice(payload);
    let sum = match bfd_common::checksum::compute(&[pseudo, udp]) {
        0 => 0xffff, // RFC 768: a computed zero is sent as all ones
        sum => sum,
    };
    udp[6..8].copy_from_slice(&sum.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_checksums_verify_for_both_families() {
        let payload = [0x20u8; 24];
        let v4 = ipv4_udp("10.0.0.2:49152".parse().unwrap(), "10.0.0.1:3784".parse().unwrap(), &payload);
        let pseudo = [&[10, 0, 0, 2][..], &[10, 0, 0, 1], &[0, UDP], &32u16.to_be_bytes()].concat();
        assert_eq!(bfd_common::checksum::compute(&[&pseudo, &v4[20..]]), 0);
        assert_eq!((v4[1], v4[8], &v4[20..24]), (0xc0, 255, &[0xc0, 0x00, 0x0e, 0xc8][..]));
        let source: SocketAddrV6 = "[2001:db8::2]:49153".parse().unwrap();
        let destination: SocketAddrV6 = "[2001:db8::1]:3784".parse().unwrap();
        let v6 = ipv6_udp(source, destination, &payload);
        let pseudo =
            [&source.ip().octets()[..], &destination.ip().octets(), &32u32.to_be_bytes(), &[0, 0, 0, UDP]]
                .concat();
        assert_eq!(bfd_common::checksum::compute(&[&pseudo, &v6[40..]]), 0);
        assert_eq!((v6[0] >> 4, v6[7]), (6, 255));
        assert_eq!(((v6[0] & 0x0f) << 4) | (v6[1] >> 4), 0xc0, "traffic class CS6");
    }
}
