//! Our echo packets (RFC 5880 §6.4, RFC 5881 §4), sent as FRR sends them
//! over IPv4: a packet addressed from our address to our address, in an
//! Ethernet frame to the peer's MAC, so that the peer's forwarding plane
//! (or its XDP reflector) sends it straight back to us. IPv6 the same way
//! (FRR's own IPv6 echo is a plain datagram only FRR returns). The XDP
//! program times the returns (bfd_common::wire::echo is our payload).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, OwnedFd};

use anyhow::Context as _;
use bfd_common::ECHO_PORT;
use bfd_common::wire::{EchoPacket, EchoRepr, echo};
use nix::sys::socket::{AddressFamily, LinkAddr, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrLike};

/// `ETH_P_IP`.
const ETHERTYPE_IPV4: u16 = 0x0800;
/// `ETH_P_IPV6`.
const ETHERTYPE_IPV6: u16 = 0x86dd;
/// DSCP CS6, as control packets.
const TOS_CS6: u8 = 0xc0;
const IPV4_HEADER_LEN: usize = 20;
const UDP_HEADER_LEN: usize = 8;

/// Sends one session's echo packets out of one interface.
pub struct EchoSender {
    socket: OwnedFd,
    ifindex: u32,
    local: IpAddr,
    peer_mac: [u8; 6],
}

impl EchoSender {
    /// A sender from `local` on interface `ifindex` to the MAC address the
    /// neighbour table has for `peer` (same family); `Ok(None)` while the
    /// table has none (as FRR, no echo until the peer's address is
    /// resolved).
    pub fn open(ifindex: u32, local: IpAddr, peer: IpAddr) -> anyhow::Result<Option<EchoSender>> {
        let Some(peer_mac) = super::neighbour::mac_of(peer, ifindex)? else {
            return Ok(None);
        };
        // SOCK_DGRAM: the kernel writes the Ethernet header from the
        // destination address given with each packet. Protocol 0: this
        // socket only sends.
        let socket = nix::sys::socket::socket(
            AddressFamily::Packet,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None::<SockProtocol>,
        )
        .context("creating an AF_PACKET socket for echo packets")?;
        Ok(Some(EchoSender { socket, ifindex, local, peer_mac }))
    }

    /// Sends `repr` as our echo payload.
    pub fn send(&self, repr: &EchoRepr) -> anyhow::Result<()> {
        let (packet, ethertype) = match self.local {
            IpAddr::V4(local) => (ipv4_echo(local, repr), ETHERTYPE_IPV4),
            IpAddr::V6(local) => (ipv6_echo(local, repr), ETHERTYPE_IPV6),
        };
        let address = link_address(self.ifindex, self.peer_mac, ethertype);
        nix::sys::socket::sendto(self.socket.as_raw_fd(), &packet, &address, MsgFlags::empty())
            .context("sending an echo packet")?;
        Ok(())
    }
}

/// The IPv4 packet of an echo: source = destination = `local`, TTL 255
/// (the peer decrements it once; GTSM-style checks see 254), UDP 3785 to
/// 3785, our payload. Both checksums are filled (FRR checks them).
fn ipv4_echo(local: Ipv4Addr, repr: &EchoRepr) -> Vec<u8> {
    let mut payload = [0u8; echo::PAYLOAD_LEN];
    repr.emit(&mut EchoPacket::new_unchecked(&mut payload[..]));
    let total = IPV4_HEADER_LEN + UDP_HEADER_LEN + payload.len();
    let mut packet = vec![0u8; total];
    let address = local.octets();
    packet[0] = 0x45;
    packet[1] = TOS_CS6;
    packet[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    packet[6] = 0x40; // Don't Fragment
    packet[8] = bfd_common::TTL;
    packet[9] = 17; // UDP
    packet[12..16].copy_from_slice(&address);
    packet[16..20].copy_from_slice(&address);
    let header_checksum = bfd_common::checksum::compute(&[&packet[..IPV4_HEADER_LEN]]);
    packet[10..12].copy_from_slice(&header_checksum.to_be_bytes());
    let udp_len = (UDP_HEADER_LEN + payload.len()) as u16;
    let udp = &mut packet[IPV4_HEADER_LEN..];
    udp[0..2].copy_from_slice(&ECHO_PORT.to_be_bytes());
    udp[2..4].copy_from_slice(&ECHO_PORT.to_be_bytes());
    udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
    udp[UDP_HEADER_LEN..].copy_from_slice(&payload);
    let pseudo = [&address[..], &address[..], &[0, 17], &udp_len.to_be_bytes()[..]].concat();
    let udp_checksum = match bfd_common::checksum::compute(&[&pseudo, &packet[IPV4_HEADER_LEN..]]) {
        0 => 0xffff, // RFC 768: a computed zero is sent as all ones
        sum => sum,
    };
    packet[IPV4_HEADER_LEN + 6..IPV4_HEADER_LEN + 8].copy_from_slice(&udp_checksum.to_be_bytes());
    packet
}

/// The IPv6 packet of an echo: source = destination = `local`, hop limit
/// 255, traffic class CS6, UDP 3785 to 3785 with its (mandatory) checksum.
fn ipv6_echo(local: Ipv6Addr, repr: &EchoRepr) -> Vec<u8> {
    let mut payload = [0u8; echo::PAYLOAD_LEN];
    repr.emit(&mut EchoPacket::new_unchecked(&mut payload[..]));
    let udp_len = UDP_HEADER_LEN + payload.len();
    let mut packet = vec![0u8; 40 + udp_len];
    packet[0] = 0x60 | (TOS_CS6 >> 4);
    packet[1] = (TOS_CS6 & 0x0f) << 4;
    packet[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
    packet[6] = 17; // UDP
    packet[7] = bfd_common::TTL;
    let address = local.octets();
    packet[8..24].copy_from_slice(&address);
    packet[24..40].copy_from_slice(&address);
    let udp = &mut packet[40..];
    udp[0..2].copy_from_slice(&ECHO_PORT.to_be_bytes());
    udp[2..4].copy_from_slice(&ECHO_PORT.to_be_bytes());
    udp[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
    udp[UDP_HEADER_LEN..].copy_from_slice(&payload);
    let pseudo = [&address[..], &address[..], &(udp_len as u32).to_be_bytes(), &[0, 0, 0, 17]].concat();
    let sum = match bfd_common::checksum::compute(&[&pseudo, &packet[40..]]) {
        0 => 0xffff,
        sum => sum,
    };
    packet[46..48].copy_from_slice(&sum.to_be_bytes());
    packet
}

/// A `sockaddr_ll` for sending a packet of `ethertype` to `mac` on
/// `ifindex`.
fn link_address(ifindex: u32, mac: [u8; 6], ethertype: u16) -> LinkAddr {
    // SAFETY: sockaddr_ll is plain old data; every field is set below.
    let mut raw: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    raw.sll_family = libc::AF_PACKET as u16;
    raw.sll_protocol = ethertype.to_be();
    raw.sll_ifindex = ifindex as i32;
    raw.sll_halen = 6;
    raw.sll_addr[..6].copy_from_slice(&mac);
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `raw` is a complete, initialised sockaddr_ll of `len` bytes.
    unsafe { LinkAddr::from_raw((&raw as *const libc::sockaddr_ll).cast(), Some(len)) }
        .expect("a sockaddr_ll of its own size is a valid link address")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_packet_checksums_verify() {
        let repr = EchoRepr { discriminator: 7, sequence: 1, tx_time_ns: 123 };
        let local = Ipv4Addr::new(10, 77, 0, 2);
        let packet = ipv4_echo(local, &repr);
        assert_eq!(bfd_common::checksum::compute(&[&packet[..20]]), 0, "IPv4 header checksum");
        let udp_len = (packet.len() - 20) as u16;
        let pseudo =
            [&local.octets()[..], &local.octets()[..], &[0, 17], &udp_len.to_be_bytes()[..]].concat();
        assert_eq!(bfd_common::checksum::compute(&[&pseudo, &packet[20..]]), 0, "UDP checksum");
        assert_eq!(packet[8], 255);
        let payload = EchoPacket::new_checked(&packet[28..]).unwrap();
        assert_eq!(EchoRepr::parse(&payload).unwrap(), repr);

        let local: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let packet = ipv6_echo(local, &repr);
        let udp_len = (packet.len() - 40) as u32;
        let pseudo =
            [&local.octets()[..], &local.octets()[..], &udp_len.to_be_bytes()[..], &[0, 0, 0, 17]].concat();
        assert_eq!(bfd_common::checksum::compute(&[&pseudo, &packet[40..]]), 0, "UDP checksum");
        assert_eq!((packet[6], packet[7]), (17, 255));
        assert_eq!(EchoRepr::parse(&EchoPacket::new_checked(&packet[48..]).unwrap()).unwrap(), repr);
    }
}
