//! The agent's sockets: receive sockets on the BFD control ports, and one
//! transmit socket per session (RFC 5881 §4, RFC 5883 §5).

use std::collections::HashSet;
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use anyhow::Context as _;
use bfd_common::{CONTROL_PORT, MULTIHOP_CONTROL_PORT, SOURCE_PORT_MAX, SOURCE_PORT_MIN, TTL};
use bfd_session::Arrival;
use nix::sys::socket::{self, ControlMessageOwned, MsgFlags, SockaddrStorage, sockopt};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// DSCP CS6 (network control, RFC 4594) in the TOS / Traffic Class byte,
/// as FRR sends BFD: routers queue it ahead of data.
const TOS_CS6: u32 = bfd_common::wire::ip::TOS_CS6 as u32;

/// The receive buffer each control port's socket asks for. What reaches
/// these sockets with the fast path on is what the XDP program passes up
/// (bring-up, changes), and everything without it; both come in bursts: a
/// peer that starts with 10,000 sessions sends 10,000 packets in its first
/// second (RFC 5880 §6.8.3: one a second until Up), and each answer another.
/// With the kernel's default (`net.core.rmem_default`, 208 KiB: about 100
/// such packets at the 2 KiB an XDP-passed frame's buffer accounts for) a
/// node bringing up 10,000 sessions dropped 12,000 of them at the socket
/// and took seconds longer to bring every session Up. 32 MiB holds a second
/// of bring-up at `MAX_SESSIONS` (16,384 packets), a limit, not an
/// allocation: only packets waiting use it.
pub const RECEIVE_BUFFER_BYTES: usize = 32 << 20;

/// A socket receiving control packets on one port and address family,
/// with the TTL / Hop Limit, destination and interface of each packet
/// (RFC 5881 §5 needs the TTL; §6.3 demultiplexing the rest).
pub struct RxSocket {
    socket: Socket,
    multihop: bool,
    /// The kernel's count of datagrams this socket dropped because its
    /// receive buffer was full (`SO_RXQ_OVFL`), as of the last datagram.
    dropped: u32,
}

impl RxSocket {
    /// Binds the wildcard address of the family on `port` (3784 single-hop,
    /// 4784 multihop).
    pub fn open(v6: bool, port: u16) -> anyhow::Result<RxSocket> {
        let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
        let socket =
            Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).context("creating a UDP socket")?;
        let address: SocketAddr = if v6 {
            socket.set_only_v6(true).context("IPV6_V6ONLY")?;
            socket::setsockopt(&socket, sockopt::Ipv6RecvHopLimit, &true).context("IPV6_RECVHOPLIMIT")?;
            socket::setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true).context("IPV6_RECVPKTINFO")?;
            (Ipv6Addr::UNSPECIFIED, port).into()
        } else {
            socket::setsockopt(&socket, sockopt::Ipv4RecvTtl, &true).context("IP_RECVTTL")?;
            socket::setsockopt(&socket, sockopt::Ipv4PacketInfo, &true).context("IP_PKTINFO")?;
            (Ipv4Addr::UNSPECIFIED, port).into()
        };
        socket::setsockopt(&socket, sockopt::RxqOvfl, &1).context("SO_RXQ_OVFL")?;
        set_receive_buffer(&socket, RECEIVE_BUFFER_BYTES)?;
        socket.set_nonblocking(true)?;
        socket.bind(&address.into()).with_context(|| {
            format!(
                "binding UDP port {port} ({address}): is another BFD daemon (FRR's bfdd, BIRD) running here?"
            )
        })?;
        Ok(RxSocket { socket, multihop: port == MULTIHOP_CONTROL_PORT, dropped: 0 })
    }

    /// The receive buffer the kernel granted (bytes of packet memory it
    /// accounts, `SO_RCVBUF`).
    pub fn receive_buffer(&self) -> io::Result<usize> {
        self.socket.recv_buffer_size()
    }

    /// Datagrams the kernel dropped at this socket since it opened because
    /// its receive buffer was full, as of the last datagram received.
    pub fn dropped(&self) -> u32 {
        self.dropped
    }

    /// The next datagram, if one is waiting: its length in `buffer` and how
    /// it arrived. Datagrams without the ancillary data are skipped.
    pub fn receive(&mut self, buffer: &mut [u8]) -> io::Result<Option<(usize, Arrival)>> {
        loop {
            let mut iov = [IoSliceMut::new(buffer)];
            let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo, libc::c_int, libc::in_pktinfo, u32);
            let message = match socket::recvmsg::<SockaddrStorage>(
                self.socket.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(message) => message,
                Err(nix::Error::EAGAIN) => return Ok(None),
                Err(nix::Error::EINTR) => continue,
                Err(error) => return Err(error.into()),
            };
            let len = message.bytes;
            let source = message.address.as_ref().and_then(source_address);
            let (mut ttl, mut destination, mut ifindex) = (None, None, 0u32);
            for cmsg in message.cmsgs()? {
                match cmsg {
                    ControlMessageOwned::Ipv4Ttl(value) => ttl = u8::try_from(value).ok(),
                    ControlMessageOwned::Ipv6HopLimit(value) => ttl = u8::try_from(value).ok(),
                    ControlMessageOwned::Ipv4PacketInfo(info) => {
                        destination = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr))));
                        ifindex = u32::try_from(info.ipi_ifindex).unwrap_or(0);
                    }
                    ControlMessageOwned::Ipv6PacketInfo(info) => {
                        destination = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
                        ifindex = info.ipi6_ifindex;
                    }
                    // The kernel's running total, on every datagram once
                    // one was dropped (and absent before).
                    ControlMessageOwned::RxqOvfl(total) => self.dropped = total,
                    _ => {}
                }
            }
            let (Some(source), Some(destination), Some(ttl)) = (source, destination, ttl) else {
                continue;
            };
            // IPv4-mapped sources cannot occur: the IPv6 sockets are v6-only.
            let arrival = Arrival { source, destination, ifindex, ttl, multihop: self.multihop };
            return Ok(Some((len, arrival)));
        }
    }
}

impl AsFd for RxSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

/// Sets `socket`'s receive buffer to `bytes`: `SO_RCVBUFFORCE` (past
/// `net.core.rmem_max`; needs `CAP_NET_ADMIN`, which the agent has for XDP),
/// else `SO_RCVBUF` (the kernel caps it at `rmem_max`).
fn set_receive_buffer(socket: &Socket, bytes: usize) -> anyhow::Result<()> {
    if socket::setsockopt(socket, sockopt::RcvBufForce, &bytes).is_ok() {
        return Ok(());
    }
    socket.set_recv_buffer_size(bytes).context("SO_RCVBUF")
}

fn source_address(address: &SockaddrStorage) -> Option<IpAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(IpAddr::V4(v4.ip()));
    }
    address.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
}

/// The UDP source ports in use by this agent's sessions: RFC 5881 §4, "The
/// source port MUST be in the range 49152 through 65535 ... SHOULD be
/// unique among all BFD sessions on the system".
#[derive(Default)]
pub struct SourcePorts {
    used: HashSet<u16>,
    next: u16,
    /// Try this port first (an adopted session keeps its port).
    pub prefer: Option<u16>,
}

impl SourcePorts {
    /// Candidate ports, starting after the last one given so that a port is
    /// not reused at once after a session goes away.
    fn candidates(&mut self) -> impl Iterator<Item = u16> + use<> {
        let start = self.next.clamp(SOURCE_PORT_MIN, SOURCE_PORT_MAX);
        self.prefer.into_iter().chain((start..=SOURCE_PORT_MAX).chain(SOURCE_PORT_MIN..start))
    }

    /// Gives `port` back.
    pub fn release(&mut self, port: u16) {
        self.used.remove(&port);
    }
}

/// A session's transmit socket: bound to its source port (and local
/// address, and for single-hop its interface), connected to the peer,
/// sending with TTL 255 (RFC 5881 §5, RFC 5883 §5) and DSCP CS6.
pub struct TxSocket {
    socket: Socket,
    /// The UDP source port.
    pub source_port: u16,
}

impl TxSocket {
    /// Opens the socket for a session with `peer`.
    pub fn open(
        peer: IpAddr,
        local: Option<IpAddr>,
        interface: Option<&str>,
        multihop: bool,
        ports: &mut SourcePorts,
    ) -> anyhow::Result<TxSocket> {
        let v6 = peer.is_ipv6();
        let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
        let socket =
            Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).context("creating a UDP socket")?;
        if v6 {
            socket.set_unicast_hops_v6(u32::from(TTL)).context("IPV6_UNICAST_HOPS")?;
            socket.set_tclass_v6(TOS_CS6).context("IPV6_TCLASS")?;
        } else {
            socket.set_ttl_v4(u32::from(TTL)).context("IP_TTL")?;
            socket.set_tos_v4(TOS_CS6).context("IP_TOS")?;
        }
        if !multihop && let Some(interface) = interface {
            socket
                .bind_device(Some(interface.as_bytes()))
                .with_context(|| format!("binding to interface {interface}"))?;
        }
        let local = local.unwrap_or(if v6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        });
        let scope = match (peer, interface) {
            (IpAddr::V6(v6), Some(interface)) if v6.is_unicast_link_local() => {
                nix::net::if_::if_nametoindex(interface).with_context(|| format!("interface {interface}"))?
            }
            _ => 0,
        };
        let mut bound = None;
        for port in ports.candidates() {
            if ports.used.contains(&port) {
                continue;
            }
            let address = match local {
                IpAddr::V6(ip) => SockAddr::from(SocketAddrV6::new(ip, port, 0, scope)),
                IpAddr::V4(ip) => SockAddr::from(SocketAddr::from((ip, port))),
            };
            match socket.bind(&address) {
                Ok(()) => {
                    bound = Some(port);
                    break;
                }
                Err(error) if error.raw_os_error() == Some(libc::EADDRINUSE) => continue,
                Err(error) => return Err(error).with_context(|| format!("binding {local} port {port}")),
            }
        }
        let source_port = bound.context("no free UDP source port in 49152-65535")?;
        ports.used.insert(source_port);
        ports.next = source_port.wrapping_add(1);
        let port = if multihop { MULTIHOP_CONTROL_PORT } else { CONTROL_PORT };
        let destination = match peer {
            IpAddr::V6(ip) => SockAddr::from(SocketAddrV6::new(ip, port, 0, scope)),
            IpAddr::V4(ip) => SockAddr::from(SocketAddr::from((ip, port))),
        };
        socket.connect(&destination).with_context(|| format!("connecting to {peer} port {port}"))?;
        socket.set_nonblocking(true)?;
        Ok(TxSocket { socket, source_port })
    }

    /// The addresses the kernel gave the connected socket: (ours, the
    /// peer's), as a batch must write them.
    pub fn addresses(&self) -> Option<(SocketAddr, SocketAddr)> {
        let local = self.socket.local_addr().ok()?.as_socket()?;
        let peer = self.socket.peer_addr().ok()?.as_socket()?;
        Some((local, peer))
    }

    /// Sends one packet. A full socket buffer or an unreachable peer is an
    /// error the caller counts; BFD's own timers deal with lost packets.
    pub fn send(&self, packet: &[u8]) -> io::Result<()> {
        self.socket.send(packet).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rmem_max() -> usize {
        std::fs::read_to_string("/proc/sys/net/core/rmem_max").unwrap().trim().parse().unwrap()
    }

    #[test]
    fn a_receive_socket_asks_for_a_buffer_that_holds_a_bring_up_burst() {
        let rx = RxSocket::open(false, 0).unwrap();
        // SO_RCVBUFFORCE with CAP_NET_ADMIN, else capped at rmem_max; the
        // kernel reports twice what it was asked (its bookkeeping).
        let granted = rx.receive_buffer().unwrap();
        assert!(granted >= RECEIVE_BUFFER_BYTES.min(rmem_max()), "granted {granted}");
        assert!(granted > 212_992 * 2, "more than the kernel's default: granted {granted}");
    }

    #[test]
    fn what_a_full_receive_socket_drops_is_counted() {
        let mut rx = RxSocket::open(false, 0).unwrap();
        // The smallest buffer the kernel allows: a few datagrams fill it.
        rx.socket.set_recv_buffer_size(0).unwrap();
        let port = rx.socket.local_addr().unwrap().as_socket().unwrap().port();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let send = |count: usize| {
            for _ in 0..count {
                sender.send_to(&[0u8; 24], ("127.0.0.1", port)).unwrap();
            }
        };
        send(200);
        let mut buffer = [0u8; 512];
        let mut received = 0;
        while rx.receive(&mut buffer).unwrap().is_some() {
            received += 1;
        }
        assert!((1..200).contains(&received), "received {received} of 200");
        // The kernel stamps its drop count on the next datagram it queues.
        assert_eq!(rx.dropped(), 0);
        send(1);
        assert!(rx.receive(&mut buffer).unwrap().is_some());
        assert_eq!(rx.dropped() as usize, 200 - received);
    }
}
