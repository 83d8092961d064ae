//! The kernel's neighbour table (ARP and NDP), kept over rtnetlink: where
//! the packet path's control frames go, and our echo frames (RFC 5881 §4:
//! echo packets are sent so that the peer forwards them back; FRR
//! addresses them to the peer's MAC).

use std::net::IpAddr;

use anyhow::Context as _;
use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

/// How long after sending a packet through the kernel to revalidate a
/// STALE entry the table waits before doing it again: the kernel's own
/// revalidation takes `delay_first_probe_time` (5 s) and a unicast probe.
const REVALIDATE_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Where a session's next packet should go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextHop {
    /// In an Ethernet frame from `source` (our interface's MAC) to
    /// `destination` (the neighbour's).
    Frame {
        /// The interface's MAC.
        source: [u8; 6],
        /// The neighbour's MAC.
        destination: [u8; 6],
    },
    /// Through the kernel's IP output (the UDP socket path), for this
    /// reason.
    Kernel(Fallback),
}

/// Why a packet of the packet path goes through IP output instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// The link has no Ethernet address (or is not known yet).
    NotEthernet,
    /// No usable entry for the neighbour (none, incomplete, failed): IP
    /// output makes the kernel resolve it.
    Unresolved,
    /// The entry is STALE and due for the kernel to revalidate.
    Stale,
}

/// What one read of the netlink socket found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Received {
    /// Messages, applied.
    Messages,
    /// Nothing waiting.
    Nothing,
    /// The socket's buffer overran: notifications were lost.
    Overrun,
}

/// A resolved neighbour entry.
#[derive(Clone, Copy, Debug)]
struct Entry {
    mac: [u8; 6],
    stale: bool,
    /// When a packet last went through the kernel to revalidate it.
    revalidated: Option<std::time::Instant>,
}

/// The kernel's neighbour table and its Ethernet links' MAC addresses,
/// kept current from rtnetlink's notifications (`RTNLGRP_NEIGH`,
/// `RTNLGRP_LINK`): the agent's one source of peers' MACs, for the packet
/// transmit path's next hops and for our echo frames.
///
/// Why the kernel's table rather than MACs learned from the peer's frames:
/// the kernel keeps resolving (ARP, NDP) for the sessions on the UDP path,
/// answers the peer's own solicitations, and notices a peer whose MAC
/// changed (a probe to the old MAC goes unanswered, the broadcast one is
/// answered by the new); the agent's sockets never see the frames' MACs,
/// and the XDP program absorbs most of them. The cost: frames sent past IP
/// output never confirm the entry, so REACHABLE decays to STALE after the
/// kernel's reachable time; a STALE entry still holds the MAC, and the
/// session's next packet then goes through the kernel once (every
/// [`REVALIDATE_EVERY`] at most), which makes the kernel probe the
/// neighbour (STALE -> DELAY -> PROBE -> REACHABLE, or FAILED, which moves
/// the session back to the UDP path).
pub struct NeighbourTable {
    socket: Socket,
    entries: foldhash::HashMap<(u32, IpAddr), Entry>,
    /// Ethernet links' MACs by index (other links: absent).
    links: foldhash::HashMap<u32, [u8; 6]>,
    buffer: Vec<u8>,
    /// A dump is under way (the kernel answers one at a time).
    dumping: bool,
    /// Dumps still to ask for: links, neighbours.
    pending: Vec<RouteNetlinkMessage>,
    /// Times the notifications overran the socket and the table was read
    /// again.
    pub resyncs: u64,
}

impl NeighbourTable {
    /// Subscribes to the notifications and reads both tables (blocking,
    /// once), then leaves the socket non-blocking for [`Self::poll`].
    pub fn open() -> anyhow::Result<NeighbourTable> {
        let mut socket = Socket::new(NETLINK_ROUTE).context("opening a netlink socket")?;
        socket.bind_auto().context("binding the netlink socket")?;
        socket.add_membership(libc::RTNLGRP_NEIGH).context("subscribing to neighbour changes")?;
        socket.add_membership(libc::RTNLGRP_LINK).context("subscribing to link changes")?;
        // Thousands of neighbours change at once when a link flaps; a
        // larger buffer makes an overrun (and a full re-read) rarer.
        let _ = socket.set_rx_buf_sz(4 << 20);
        let mut table = NeighbourTable {
            socket,
            entries: Default::default(),
            links: Default::default(),
            buffer: vec![0; 256 * 1024],
            dumping: false,
            pending: Vec::new(),
            resyncs: 0,
        };
        table.start_dumps()?;
        while table.dumping {
            if table.receive(0)? == Received::Overrun {
                anyhow::bail!("the neighbour table changed faster than it could be read");
            }
        }
        table.socket.set_non_blocking(true).context("making the netlink socket non-blocking")?;
        Ok(table)
    }

    /// The descriptor to poll for notifications.
    pub fn as_raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.socket)
    }

    /// Applies every notification waiting (non-blocking).
    pub fn poll(&mut self) {
        loop {
            match self.receive(libc::MSG_DONTWAIT) {
                Ok(Received::Messages) => {}
                Ok(Received::Nothing) => break,
                Ok(Received::Overrun) => {
                    // Notifications were lost: what the table holds may be
                    // wrong. Read it anew on a new socket (a dump cannot
                    // start while one runs on the old); until then, and if
                    // that fails, every session goes through IP output.
                    self.entries.clear();
                    let resyncs = self.resyncs + 1;
                    match NeighbourTable::open() {
                        Ok(fresh) => *self = NeighbourTable { resyncs, ..fresh },
                        Err(error) => {
                            self.resyncs = resyncs;
                            tracing::warn!(error = format!("{error:#}"), "reading the neighbour table again");
                        }
                    }
                    tracing::info!(resyncs, "neighbour notifications overran: the table was read again");
                    break;
                }
                Err(error) => {
                    tracing::warn!(error = format!("{error:#}"), "reading neighbour changes");
                    break;
                }
            }
        }
    }

    /// Where `peer`'s packets on `ifindex` go now (see [`NextHop`]).
    pub fn next_hop(&mut self, ifindex: u32, peer: IpAddr, now: std::time::Instant) -> NextHop {
        let Some(&source) = self.links.get(&ifindex) else { return NextHop::Kernel(Fallback::NotEthernet) };
        let Some(entry) = self.entries.get_mut(&(ifindex, peer)) else {
            return NextHop::Kernel(Fallback::Unresolved);
        };
        if entry.stale && entry.revalidated.is_none_or(|at| now.duration_since(at) >= REVALIDATE_EVERY) {
            entry.revalidated = Some(now);
            return NextHop::Kernel(Fallback::Stale);
        }
        NextHop::Frame { source, destination: entry.mac }
    }

    /// The MAC the table holds for `peer` on `ifindex`, STALE or not (for
    /// echo frames, which the kernel writes the Ethernet header of: the
    /// link's own MAC and revalidation are not needed).
    pub fn mac(&self, ifindex: u32, peer: IpAddr) -> Option<[u8; 6]> {
        self.entries.get(&(ifindex, peer)).map(|entry| entry.mac)
    }

    /// Asks for both tables (links first).
    fn start_dumps(&mut self) -> anyhow::Result<()> {
        let mut neighbours = NeighbourMessage::default();
        neighbours.header.family = AddressFamily::Unspec;
        self.pending = vec![
            RouteNetlinkMessage::GetNeighbour(neighbours),
            RouteNetlinkMessage::GetLink(Default::default()),
        ];
        self.next_dump()
    }

    fn next_dump(&mut self) -> anyhow::Result<()> {
        let Some(message) = self.pending.pop() else { return Ok(()) };
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_DUMP | NLM_F_REQUEST;
        let mut request = NetlinkMessage::new(header, NetlinkPayload::from(message));
        request.finalize();
        let mut bytes = vec![0; request.header.length as usize];
        request.serialize(&mut bytes[..]);
        self.socket.send_to(&bytes, &SocketAddr::new(0, 0), 0).context("asking for a kernel table")?;
        self.dumping = true;
        Ok(())
    }

    /// Reads one datagram and applies its messages.
    fn receive(&mut self, flags: libc::c_int) -> anyhow::Result<Received> {
        let size = match self.socket.recv(&mut &mut self.buffer[..], flags) {
            Ok(size) => size,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => return Ok(Received::Nothing),
            Err(error) if error.raw_os_error() == Some(libc::ENOBUFS) => return Ok(Received::Overrun),
            Err(error) => return Err(error).context("reading the netlink socket"),
        };
        let mut offset = 0;
        while offset < size {
            let message: NetlinkMessage<RouteNetlinkMessage> =
                NetlinkMessage::deserialize(&self.buffer[offset..size])
                    .context("parsing a netlink message")?;
            let length = message.header.length as usize;
            match message.payload {
                NetlinkPayload::Done(_) => {
                    self.dumping = false;
                    self.next_dump()?;
                }
                NetlinkPayload::Error(error) => anyhow::bail!("netlink error: {error:?}"),
                NetlinkPayload::InnerMessage(message) => self.apply(message),
                _ => {}
            }
            if length == 0 {
                break;
            }
            offset += length;
        }
        Ok(Received::Messages)
    }

    fn apply(&mut self, message: RouteNetlinkMessage) {
        match message {
            RouteNetlinkMessage::NewNeighbour(entry) => {
                let Some(peer) = destination_of(&entry) else { return };
                let key = (entry.header.ifindex, peer);
                match (resolved(entry.header.state), link_layer_address(&entry)) {
                    (Some(stale), Some(mac)) => {
                        let revalidated = self.entries.get(&key).and_then(|old| old.revalidated);
                        // A fresh confirmation ends the revalidation.
                        let revalidated = if stale { revalidated } else { None };
                        self.entries.insert(key, Entry { mac, stale, revalidated });
                    }
                    _ => {
                        self.entries.remove(&key);
                    }
                }
            }
            RouteNetlinkMessage::DelNeighbour(entry) => {
                if let Some(peer) = destination_of(&entry) {
                    self.entries.remove(&(entry.header.ifindex, peer));
                }
            }
            RouteNetlinkMessage::NewLink(link) => {
                let index = link.header.index;
                let mac = link.attributes.iter().find_map(|attribute| match attribute {
                    netlink_packet_route::link::LinkAttribute::Address(bytes) => {
                        <[u8; 6]>::try_from(bytes.as_slice()).ok()
                    }
                    _ => None,
                });
                match (link.header.link_layer_type, mac) {
                    (netlink_packet_route::link::LinkLayerType::Ether, Some(mac)) => {
                        self.links.insert(index, mac);
                    }
                    _ => {
                        self.links.remove(&index);
                    }
                }
            }
            RouteNetlinkMessage::DelLink(link) => {
                self.links.remove(&link.header.index);
            }
            _ => {}
        }
    }

    #[cfg(test)]
    fn empty() -> NeighbourTable {
        let mut socket = Socket::new(NETLINK_ROUTE).unwrap();
        socket.bind_auto().unwrap();
        NeighbourTable {
            socket,
            entries: Default::default(),
            links: Default::default(),
            buffer: Vec::new(),
            dumping: false,
            pending: Vec::new(),
            resyncs: 0,
        }
    }
}

/// For an entry whose MAC can be sent to: whether it is STALE (the kernel
/// has not confirmed it for its reachable time). Incomplete and failed
/// entries have no usable MAC; NOARP ones no real one.
fn resolved(state: NeighbourState) -> Option<bool> {
    match state {
        NeighbourState::Reachable | NeighbourState::Permanent => Some(false),
        // DELAY and PROBE: the kernel is revalidating it already.
        NeighbourState::Stale | NeighbourState::Delay | NeighbourState::Probe => Some(true),
        _ => None,
    }
}

fn destination_of(entry: &NeighbourMessage) -> Option<IpAddr> {
    entry.attributes.iter().find_map(|attribute| match attribute {
        NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => Some(IpAddr::V4(*ip)),
        NeighbourAttribute::Destination(NeighbourAddress::Inet6(ip)) => Some(IpAddr::V6(*ip)),
        _ => None,
    })
}

fn link_layer_address(entry: &NeighbourMessage) -> Option<[u8; 6]> {
    entry.attributes.iter().find_map(|attribute| match attribute {
        NeighbourAttribute::LinkLayerAddress(bytes) => <[u8; 6]>::try_from(bytes.as_slice()).ok(),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn neighbour(
        ifindex: u32,
        peer: IpAddr,
        state: NeighbourState,
        mac: Option<[u8; 6]>,
    ) -> RouteNetlinkMessage {
        let mut entry = NeighbourMessage::default();
        entry.header.ifindex = ifindex;
        entry.header.state = state;
        entry.attributes.push(NeighbourAttribute::Destination(match peer {
            IpAddr::V4(ip) => NeighbourAddress::Inet(ip),
            IpAddr::V6(ip) => NeighbourAddress::Inet6(ip),
        }));
        if let Some(mac) = mac {
            entry.attributes.push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
        }
        RouteNetlinkMessage::NewNeighbour(entry)
    }

    fn ethernet_link(index: u32, mac: [u8; 6]) -> RouteNetlinkMessage {
        let mut link = netlink_packet_route::link::LinkMessage::default();
        link.header.index = index;
        link.header.link_layer_type = netlink_packet_route::link::LinkLayerType::Ether;
        link.attributes.push(netlink_packet_route::link::LinkAttribute::Address(mac.to_vec()));
        RouteNetlinkMessage::NewLink(link)
    }

    #[test]
    fn a_session_sends_frames_only_to_a_resolved_neighbour_on_an_ethernet_link() {
        let mut table = NeighbourTable::empty();
        let now = std::time::Instant::now();
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let (ours, theirs) = ([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1]);
        // No link, no entry: through the kernel, which resolves it.
        assert_eq!(table.next_hop(7, peer, now), NextHop::Kernel(Fallback::NotEthernet));
        table.apply(ethernet_link(7, ours));
        assert_eq!(table.next_hop(7, peer, now), NextHop::Kernel(Fallback::Unresolved));
        table.apply(neighbour(7, peer, NeighbourState::Incomplete, None));
        assert_eq!(table.next_hop(7, peer, now), NextHop::Kernel(Fallback::Unresolved));
        table.apply(neighbour(7, peer, NeighbourState::Reachable, Some(theirs)));
        let frame = NextHop::Frame { source: ours, destination: theirs };
        assert_eq!(table.next_hop(7, peer, now), frame);
        // Another interface is another entry.
        assert_eq!(table.next_hop(8, peer, now), NextHop::Kernel(Fallback::NotEthernet));
        // Failed, or deleted: back to the kernel.
        table.apply(neighbour(7, peer, NeighbourState::Failed, Some(theirs)));
        assert_eq!(table.next_hop(7, peer, now), NextHop::Kernel(Fallback::Unresolved));
        table.apply(neighbour(7, peer, NeighbourState::Permanent, Some(theirs)));
        assert_eq!(table.next_hop(7, peer, now), frame);
        let RouteNetlinkMessage::NewNeighbour(entry) = neighbour(7, peer, NeighbourState::None, None) else {
            unreachable!()
        };
        table.apply(RouteNetlinkMessage::DelNeighbour(entry));
        assert_eq!(table.next_hop(7, peer, now), NextHop::Kernel(Fallback::Unresolved));
        // A link that is not Ethernet (no 6-byte address) sends no frames.
        table.apply(neighbour(7, peer, NeighbourState::Reachable, Some(theirs)));
        let mut tunnel = netlink_packet_route::link::LinkMessage::default();
        tunnel.header.index = 7;
        tunnel.header.link_layer_type = netlink_packet_route::link::LinkLayerType::None;
        table.apply(RouteNetlinkMessage::NewLink(tunnel));
        assert_eq!(table.next_hop(7, peer, now), NextHop::Kernel(Fallback::NotEthernet));
    }

    #[test]
    fn echo_sees_the_neighbours_mac_as_it_changes_stale_or_not() {
        let mut table = NeighbourTable::empty();
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let (old, new) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 9]);
        assert_eq!(table.mac(4, peer), None);
        table.apply(neighbour(4, peer, NeighbourState::Reachable, Some(old)));
        assert_eq!(table.mac(4, peer), Some(old));
        // A gratuitous ARP with the new MAC leaves the entry STALE: echo
        // goes to the new MAC at once (the kernel writes the frame's
        // source, so no link MAC is needed either).
        table.apply(neighbour(4, peer, NeighbourState::Stale, Some(new)));
        assert_eq!(table.mac(4, peer), Some(new));
        assert_eq!(table.mac(5, peer), None);
        table.apply(neighbour(4, peer, NeighbourState::Failed, Some(new)));
        assert_eq!(table.mac(4, peer), None);
    }

    #[test]
    fn a_stale_neighbour_is_revalidated_through_the_kernel_now_and_then() {
        let mut table = NeighbourTable::empty();
        let start = std::time::Instant::now();
        let peer: IpAddr = "fe80::1".parse().unwrap();
        let (ours, theirs) = ([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1]);
        let frame = NextHop::Frame { source: ours, destination: theirs };
        table.apply(ethernet_link(3, ours));
        table.apply(neighbour(3, peer, NeighbourState::Stale, Some(theirs)));
        // One packet through the kernel (which starts its probe), then
        // frames again until REVALIDATE_EVERY has passed.
        assert_eq!(table.next_hop(3, peer, start), NextHop::Kernel(Fallback::Stale));
        assert_eq!(table.next_hop(3, peer, start), frame);
        let later = start + REVALIDATE_EVERY / 2;
        table.apply(neighbour(3, peer, NeighbourState::Probe, Some(theirs)));
        assert_eq!(table.next_hop(3, peer, later), frame);
        assert_eq!(table.next_hop(3, peer, start + REVALIDATE_EVERY), NextHop::Kernel(Fallback::Stale));
        // Confirmed: no revalidation while REACHABLE; the next STALE starts
        // one at once.
        table.apply(neighbour(3, peer, NeighbourState::Reachable, Some(theirs)));
        assert_eq!(table.next_hop(3, peer, start + REVALIDATE_EVERY), frame);
        table.apply(neighbour(3, peer, NeighbourState::Stale, Some(theirs)));
        assert_eq!(table.next_hop(3, peer, start + REVALIDATE_EVERY), NextHop::Kernel(Fallback::Stale));
    }
}
