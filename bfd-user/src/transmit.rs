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
//!
//! The packet path (`--transmit packet|auto`) skips IP output altogether:
//! a single-hop session whose neighbour's MAC is known has its packet
//! written as a whole Ethernet frame and sent through an `AF_PACKET`
//! socket with `PACKET_QDISC_BYPASS` (straight to the driver: no route
//! lookup, netfilter, neighbour lookup or qdisc), the frames of a wake in
//! one `sendmmsg` too.

use std::io::IoSlice;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::engine::MAX_CONTROL_PACKET;
use bfd_common::wire::ip::{IPV6_HEADER_LEN, UDP_HEADER_LEN};
use bfd_common::wire::{EthernetRepr, UdpIpRepr, ethernet};
use nix::sys::socket::{
    self, AddressFamily, LinkAddr, MsgFlags, MultiHeaders, SockFlag, SockProtocol, SockType, SockaddrIn,
    SockaddrIn6, SockaddrLike,
};

/// The largest frame queued: Ethernet, IPv6 and UDP headers and a control
/// packet (the socket paths' datagrams use all but the Ethernet header).
const MAX_DATAGRAM: usize = ethernet::HEADER_LEN + IPV6_HEADER_LEN + UDP_HEADER_LEN + MAX_CONTROL_PACKET;

/// A datagram waiting for the flush, in a buffer of its own size class:
/// queuing allocates nothing once the queue has grown.
struct Queued<S> {
    address: S,
    bytes: [u8; MAX_DATAGRAM],
    len: usize,
}

/// One socket per family and the packets waiting for the next flush.
pub struct Batcher {
    v4: Option<OwnedFd>,
    v6: Option<OwnedFd>,
    queued_v4: Vec<Queued<SockaddrIn>>,
    queued_v6: Vec<Queued<SockaddrIn6>>,
    /// The packet socket (`--transmit packet|auto`) and its frames.
    link: Option<OwnedFd>,
    queued_link: Vec<Queued<LinkAddr>>,
    /// System calls made and packets sent through them, for the log.
    pub calls: u64,
    /// Packets sent in batches.
    pub packets: u64,
    /// Packets the kernel refused.
    pub errors: u64,
    /// Of `packets` and `errors`: the frames of the packet socket.
    pub frames: u64,
    /// Frames the kernel refused.
    pub frame_errors: u64,
}

/// How the agent's control packets left, for operators (`bfd-agent show
/// status`, the metrics): frames on the packet path against datagrams
/// through IP output, why packets of the packet path's sessions went
/// through IP output, and what the kernel refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TransmitCounters {
    /// The packet path is open (`--transmit packet`, or `auto` with
    /// `CAP_NET_RAW`).
    pub packet_path: bool,
    /// Control packets the kernel accepted as Ethernet frames on the packet
    /// socket.
    pub frames: u64,
    /// Frames the kernel refused (a full ring, a link down).
    pub frames_refused: u64,
    /// Control packets the kernel accepted through IP output: the raw
    /// sockets' batches and the sessions' own sockets; every packet on the
    /// `udp` path, and on the packet path those of multihop sessions and
    /// the fallbacks below.
    pub ip_output: u64,
    /// Datagrams IP output refused (a full send buffer, no route).
    pub ip_output_refused: u64,
    /// On the packet path, packets of single-hop sessions that went
    /// through IP output because the neighbour had no usable entry
    /// (unresolved, incomplete, failed): the kernel resolves it.
    pub fallback_unresolved: u64,
    /// ... because the entry was STALE and due for the kernel's
    /// revalidation (one packet every 10 s at most while STALE).
    pub fallback_stale: u64,
    /// ... because the link has no Ethernet address.
    pub fallback_not_ethernet: u64,
    /// ... because the session's link is not known yet (it is learned
    /// from the peer's first packet).
    pub fallback_link_unknown: u64,
}

/// [`TransmitCounters`] the engine thread stores after every flush and
/// other threads read (relaxed atomics: each counter on its own is exact,
/// a reader may see one flush's counters before another's).
#[derive(Debug, Default)]
pub struct SharedTransmitCounters {
    packet_path: AtomicBool,
    frames: AtomicU64,
    frames_refused: AtomicU64,
    ip_output: AtomicU64,
    ip_output_refused: AtomicU64,
    fallback_unresolved: AtomicU64,
    fallback_stale: AtomicU64,
    fallback_not_ethernet: AtomicU64,
    fallback_link_unknown: AtomicU64,
}

impl SharedTransmitCounters {
    /// Publishes `counters`.
    pub fn store(&self, counters: &TransmitCounters) {
        let relaxed = Ordering::Relaxed;
        self.packet_path.store(counters.packet_path, relaxed);
        self.frames.store(counters.frames, relaxed);
        self.frames_refused.store(counters.frames_refused, relaxed);
        self.ip_output.store(counters.ip_output, relaxed);
        self.ip_output_refused.store(counters.ip_output_refused, relaxed);
        self.fallback_unresolved.store(counters.fallback_unresolved, relaxed);
        self.fallback_stale.store(counters.fallback_stale, relaxed);
        self.fallback_not_ethernet.store(counters.fallback_not_ethernet, relaxed);
        self.fallback_link_unknown.store(counters.fallback_link_unknown, relaxed);
    }

    /// The counters last published.
    pub fn load(&self) -> TransmitCounters {
        let relaxed = Ordering::Relaxed;
        TransmitCounters {
            packet_path: self.packet_path.load(relaxed),
            frames: self.frames.load(relaxed),
            frames_refused: self.frames_refused.load(relaxed),
            ip_output: self.ip_output.load(relaxed),
            ip_output_refused: self.ip_output_refused.load(relaxed),
            fallback_unresolved: self.fallback_unresolved.load(relaxed),
            fallback_stale: self.fallback_stale.load(relaxed),
            fallback_not_ethernet: self.fallback_not_ethernet.load(relaxed),
            fallback_link_unknown: self.fallback_link_unknown.load(relaxed),
        }
    }
}

impl TransmitCounters {
    /// One line for `bfd-agent show status`.
    pub fn summary(&self) -> String {
        if self.packet_path {
            format!(
                "packet path: {} frames, {} through IP output ({} neighbour unresolved, {} stale revalidation, \
                 {} link not known yet, {} not Ethernet); refused: {} frames, {} through IP output",
                self.frames,
                self.ip_output,
                self.fallback_unresolved,
                self.fallback_stale,
                self.fallback_link_unknown,
                self.fallback_not_ethernet,
                self.frames_refused,
                self.ip_output_refused
            )
        } else {
            format!("udp path: {} through IP output; refused: {}", self.ip_output, self.ip_output_refused)
        }
    }
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
            link: None,
            queued_link: Vec::new(),
            calls: 0,
            packets: 0,
            errors: 0,
            frames: 0,
            frame_errors: 0,
        }
    }

    /// Opens the packet socket for [`Self::queue_frame`] (needs
    /// `CAP_NET_RAW`).
    pub fn open_packet_path(&mut self) -> std::io::Result<()> {
        self.link = Some(packet_socket()?);
        Ok(())
    }

    /// Queues a whole frame, `ethernet` then the UDP datagram from `source`
    /// to `destination` (the very IP and UDP headers [`Self::queue`]
    /// writes), out of interface `ifindex`. Returns false, queuing nothing,
    /// without the packet socket.
    pub fn queue_frame(
        &mut self,
        ifindex: u32,
        ethernet: EthernetRepr,
        source: SocketAddr,
        destination: SocketAddr,
        payload: &[u8],
    ) -> bool {
        if self.link.is_none() {
            return false;
        }
        let datagram = UdpIpRepr::bfd(source.ip(), destination.ip(), source.port(), destination.port());
        let mut bytes = [0u8; MAX_DATAGRAM];
        let Ok(len) = ethernet.emit_udp(&datagram, &mut bytes, payload) else { return false };
        let address = link_address(ifindex, ethernet.destination, ethernet.ethertype);
        self.queued_link.push(Queued { address, bytes, len });
        true
    }

    /// Whether batches can be sent for this family.
    pub fn available(&self, v6: bool) -> bool {
        if v6 { self.v6.is_some() } else { self.v4.is_some() }
    }

    /// Queues a UDP datagram from `source` to `destination` (same family;
    /// `scope` is the interface of a link-local IPv6 destination). Returns
    /// false, queuing nothing, if the family has no raw socket.
    pub fn queue(&mut self, source: SocketAddr, destination: SocketAddr, scope: u32, payload: &[u8]) -> bool {
        // The very headers the session's socket would write.
        let repr = UdpIpRepr::bfd(source.ip(), destination.ip(), source.port(), destination.port());
        let mut bytes = [0u8; MAX_DATAGRAM];
        let Ok(len) = repr.emit(&mut bytes, payload) else { return false };
        match destination {
            SocketAddr::V4(destination) if self.v4.is_some() => {
                // Raw IPv4 sockets take the destination without a port.
                let address = SockaddrIn::from(SocketAddrV4::new(*destination.ip(), 0));
                self.queued_v4.push(Queued { address, bytes, len });
                true
            }
            SocketAddr::V6(destination) if self.v6.is_some() => {
                let address = SockaddrIn6::from(SocketAddrV6::new(*destination.ip(), 0, 0, scope));
                self.queued_v6.push(Queued { address, bytes, len });
                true
            }
            _ => false,
        }
    }

    /// Sends everything queued: one `sendmmsg` per family (more if the
    /// kernel refuses a packet midway: the rest still go).
    pub fn flush(&mut self) {
        if let Some(socket) = &self.link {
            let (calls, packets, errors) = send_all(socket, &self.queued_link);
            self.queued_link.clear();
            (self.calls, self.packets, self.errors) =
                (self.calls + calls, self.packets + packets, self.errors + errors);
            (self.frames, self.frame_errors) = (self.frames + packets, self.frame_errors + errors);
        }
        if let Some(socket) = &self.v4 {
            let (calls, packets, errors) = send_all(socket, &self.queued_v4);
            self.queued_v4.clear();
            (self.calls, self.packets, self.errors) =
                (self.calls + calls, self.packets + packets, self.errors + errors);
        }
        if let Some(socket) = &self.v6 {
            let (calls, packets, errors) = send_all(socket, &self.queued_v6);
            self.queued_v6.clear();
            (self.calls, self.packets, self.errors) =
                (self.calls + calls, self.packets + packets, self.errors + errors);
        }
    }
}

/// An `AF_PACKET` socket that only sends (protocol 0: it receives
/// nothing), whole frames (`SOCK_RAW`), past the qdisc
/// (`PACKET_QDISC_BYPASS`: the driver's transmit, as a NIC's own queue
/// would; no traffic control, no netfilter egress hook).
pub fn packet_socket() -> std::io::Result<OwnedFd> {
    let socket = socket::socket(
        AddressFamily::Packet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None::<SockProtocol>,
    )?;
    let on: libc::c_int = 1;
    // SAFETY: `socket` is an open descriptor; the option value is a live
    // c_int whose size is passed with it.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_QDISC_BYPASS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(socket)
}

/// A `sockaddr_ll` for sending a frame of `ethertype` to `mac` on
/// `ifindex`.
pub fn link_address(ifindex: u32, mac: [u8; 6], ethertype: u16) -> LinkAddr {
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

/// Sends `queued` with as few `sendmmsg` calls as the kernel allows:
/// (calls, packets sent, packets refused).
fn send_all<S: socket::SockaddrLike + Copy>(socket: &OwnedFd, queued: &[Queued<S>]) -> (u64, u64, u64) {
    let (mut calls, mut sent, mut errors) = (0, 0, 0);
    let mut start = 0;
    while start < queued.len() {
        let rest = &queued[start..];
        let slices: Vec<[IoSlice<'_>; 1]> = rest.iter().map(|q| [IoSlice::new(&q.bytes[..q.len])]).collect();
        let addresses: Vec<Option<S>> = rest.iter().map(|q| Some(q.address)).collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transmit_counters_are_shared_whole_and_summarised_by_path() {
        let counters = TransmitCounters {
            packet_path: true,
            frames: 1,
            frames_refused: 2,
            ip_output: 3,
            ip_output_refused: 4,
            fallback_unresolved: 5,
            fallback_stale: 6,
            fallback_not_ethernet: 7,
            fallback_link_unknown: 8,
        };
        let shared = SharedTransmitCounters::default();
        assert_eq!(shared.load(), TransmitCounters::default());
        shared.store(&counters);
        assert_eq!(shared.load(), counters, "every field through its own atomic");
        assert_eq!(
            counters.summary(),
            "packet path: 1 frames, 3 through IP output (5 neighbour unresolved, 6 stale revalidation, 8 link \
             not known yet, 7 not Ethernet); refused: 2 frames, 4 through IP output"
        );
        let udp = TransmitCounters { ip_output: 9, ip_output_refused: 1, ..TransmitCounters::default() };
        assert_eq!(udp.summary(), "udp path: 9 through IP output; refused: 1");
        // The control socket's JSON (`show status --json`).
        let json = serde_json::to_value(counters).unwrap();
        assert_eq!((json["frames-refused"].as_u64(), json["fallback-stale"].as_u64()), (Some(2), Some(6)));
        assert_eq!(serde_json::from_value::<TransmitCounters>(json).unwrap(), counters);
    }

    #[test]
    fn queued_datagrams_carry_the_sessions_headers() {
        let mut batch = Batcher {
            v4: None,
            v6: None,
            queued_v4: Vec::new(),
            queued_v6: Vec::new(),
            link: None,
            queued_link: Vec::new(),
            calls: 0,
            packets: 0,
            errors: 0,
            frames: 0,
            frame_errors: 0,
        };
        let payload = [0x20u8; 24];
        // Without raw sockets nothing is queued: the sessions' own sockets send.
        assert!(!batch.queue(
            "10.0.0.2:49152".parse().unwrap(),
            "10.0.0.1:3784".parse().unwrap(),
            0,
            &payload
        ));
        batch.v4 = socket::socket(AddressFamily::Inet, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None).ok();
        assert!(batch.queue(
            "10.0.0.2:49152".parse().unwrap(),
            "10.0.0.1:3784".parse().unwrap(),
            0,
            &payload
        ));
        let queued = &batch.queued_v4[0];
        let (repr, sent) = UdpIpRepr::parse(&queued.bytes[..queued.len]).unwrap();
        assert_eq!((repr.ttl, repr.tos, repr.source_port, repr.destination_port), (255, 0xc0, 49152, 3784));
        assert_eq!(sent, &payload[..]);
    }

    #[test]
    fn a_queued_frame_carries_the_same_datagram_after_its_ethernet_header() {
        let mut batch = Batcher::open();
        batch.v4 = socket::socket(AddressFamily::Inet, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None).ok();
        batch.v6 =
            socket::socket(AddressFamily::Inet6, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None).ok();
        let ethernet = |v6| EthernetRepr::ip([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2], v6);
        let payload = [0x20u8; 24];
        // Without the packet socket nothing is queued.
        let (source, destination) = ("10.0.0.2:49152".parse().unwrap(), "10.0.0.1:3784".parse().unwrap());
        assert!(!batch.queue_frame(5, ethernet(false), source, destination, &payload));
        // Any socket stands in for it: the test only reads the queue.
        batch.link =
            socket::socket(AddressFamily::Inet, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None).ok();
        for (source, destination) in
            [("10.0.0.2:49152", "10.0.0.1:3784"), ("[fe80::2]:49153", "[fe80::1]:3784")]
        {
            let (source, destination): (SocketAddr, SocketAddr) =
                (source.parse().unwrap(), destination.parse().unwrap());
            assert!(batch.queue_frame(5, ethernet(source.is_ipv6()), source, destination, &payload));
            assert!(batch.queue(source, destination, 0, &payload));
            let frame = batch.queued_link.last().unwrap();
            let datagram = if source.is_ipv6() {
                batch.queued_v6.last().unwrap().bytes.as_slice()
            } else {
                let queued = batch.queued_v4.last().unwrap();
                &queued.bytes[..queued.len]
            };
            let datagram = &datagram[..frame.len - ethernet::HEADER_LEN];
            let view = bfd_common::wire::EthernetFrame::new_checked(&frame.bytes[..frame.len]).unwrap();
            assert_eq!(bfd_common::wire::EthernetRepr::parse(&view), ethernet(source.is_ipv6()));
            assert_eq!(view.payload(), datagram, "the IP packet after the Ethernet header");
            let address = frame.address.as_ref();
            assert_eq!(
                (address.sll_ifindex, address.sll_halen, address.sll_addr[..6].to_vec()),
                (5, 6, vec![2, 0, 0, 0, 0, 1])
            );
        }
    }
}
