//! Our echo packets (RFC 5880 §6.4, RFC 5881 §4), sent as FRR sends them
//! over IPv4: a packet addressed from our address to our address, in an
//! Ethernet frame to the peer's MAC, so that the peer's forwarding plane
//! (or its XDP reflector) sends it straight back to us. IPv6 the same way
//! (FRR's own IPv6 echo is a plain datagram only FRR returns). The XDP
//! program times the returns (bfd_common::wire::echo is our payload).

use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};

use anyhow::Context as _;
use bfd_common::ECHO_PORT;
use bfd_common::wire::ip::{IPV6_HEADER_LEN, UDP_HEADER_LEN};
use bfd_common::wire::{EchoPacket, EchoRepr, UdpIpRepr, echo, ethernet};
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType};

/// The largest echo datagram: IPv6 and UDP headers and our payload.
const MAX_ECHO: usize = IPV6_HEADER_LEN + UDP_HEADER_LEN + echo::PAYLOAD_LEN;

/// Sends one session's echo packets out of one interface.
pub struct EchoSender {
    socket: OwnedFd,
    ifindex: u32,
    local: IpAddr,
}

impl EchoSender {
    /// A sender from `local` on interface `ifindex`. The peer's MAC is
    /// given with each packet: the engine looks it up in its neighbour
    /// table each time, so echo follows a peer whose MAC changes.
    pub fn open(ifindex: u32, local: IpAddr) -> anyhow::Result<EchoSender> {
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
        Ok(EchoSender { socket, ifindex, local })
    }

    /// Sends `repr` as our echo payload in a frame to `peer_mac`.
    pub fn send(&self, repr: &EchoRepr, peer_mac: [u8; 6]) -> anyhow::Result<()> {
        let mut packet = [0u8; MAX_ECHO];
        let len = echo_datagram(self.local, repr, &mut packet)?;
        let packet = &packet[..len];
        let ethertype =
            if self.local.is_ipv6() { ethernet::ETHERTYPE_IPV6 } else { ethernet::ETHERTYPE_IPV4 };
        let address = bfd_user::transmit::link_address(self.ifindex, peer_mac, ethertype);
        nix::sys::socket::sendto(self.socket.as_raw_fd(), packet, &address, MsgFlags::empty())
            .context("sending an echo packet")?;
        Ok(())
    }
}

/// An echo datagram into `buffer`, as FRR sends them: source =
/// destination = `local` (the peer's forwarding plane sends it straight
/// back), TTL / Hop Limit 255 (the peer decrements it once; GTSM-style
/// checks see 254), DSCP CS6, UDP 3785 to 3785, our payload, both checksums
/// (FRR checks them). Returns its length.
fn echo_datagram(local: IpAddr, repr: &EchoRepr, buffer: &mut [u8; MAX_ECHO]) -> anyhow::Result<usize> {
    let mut payload = [0u8; echo::PAYLOAD_LEN];
    repr.emit(&mut EchoPacket::new_unchecked(&mut payload[..]));
    UdpIpRepr::bfd(local, local, ECHO_PORT, ECHO_PORT)
        .emit(buffer, &payload)
        .map_err(|error| anyhow::anyhow!("writing an echo datagram: {error:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_datagrams_are_addressed_to_their_sender_with_checksums_that_verify() {
        let repr = EchoRepr { discriminator: 7, sequence: 1, tx_time_ns: 123 };
        for local in ["10.77.0.2", "2001:db8::2"] {
            let local: IpAddr = local.parse().unwrap();
            let mut buffer = [0u8; MAX_ECHO];
            let len = echo_datagram(local, &repr, &mut buffer).unwrap();
            // parse verifies the IPv4 header checksum and the UDP checksum.
            let (datagram, payload) = UdpIpRepr::parse(&buffer[..len]).unwrap();
            assert_eq!((datagram.source, datagram.destination), (local, local));
            assert_eq!((datagram.source_port, datagram.destination_port, datagram.ttl), (3785, 3785, 255));
            assert_eq!(EchoRepr::parse(&EchoPacket::new_checked(payload).unwrap()).unwrap(), repr);
        }
    }
}
