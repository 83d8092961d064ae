//! The kernel's neighbour table (ARP and NDP), read over rtnetlink: where
//! our echo frames go (RFC 5881 §4: echo packets are sent so that the
//! peer forwards them back; FRR addresses them to the peer's MAC).

use std::net::IpAddr;

use anyhow::Context as _;
use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

/// The MAC address the neighbour table holds for `peer` on `ifindex`, if it
/// is resolved (not incomplete or failed).
pub fn mac_of(peer: IpAddr, ifindex: u32) -> anyhow::Result<Option<[u8; 6]>> {
    let mut socket = Socket::new(NETLINK_ROUTE).context("opening a netlink socket")?;
    socket.bind_auto().context("binding the netlink socket")?;
    socket.connect(&SocketAddr::new(0, 0)).context("connecting the netlink socket")?;

    let mut request_message = NeighbourMessage::default();
    request_message.header.family = if peer.is_ipv6() { AddressFamily::Inet6 } else { AddressFamily::Inet };
    request_message.header.ifindex = ifindex;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_DUMP | NLM_F_REQUEST;
    let mut request =
        NetlinkMessage::new(header, NetlinkPayload::from(RouteNetlinkMessage::GetNeighbour(request_message)));
    request.finalize();
    let mut bytes = vec![0; request.header.length as usize];
    request.serialize(&mut bytes[..]);
    socket.send(&bytes, 0).context("asking for the neighbour table")?;

    let mut found = None;
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let size = socket.recv(&mut &mut buffer[..], 0).context("reading the neighbour table")?;
        let mut offset = 0;
        while offset < size {
            let message: NetlinkMessage<RouteNetlinkMessage> =
                NetlinkMessage::deserialize(&buffer[offset..size]).context("parsing a netlink message")?;
            let length = message.header.length as usize;
            match message.payload {
                NetlinkPayload::Done(_) => return Ok(found),
                NetlinkPayload::Error(error) => anyhow::bail!("netlink error: {error:?}"),
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(entry))
                    if found.is_none() && entry.header.ifindex == ifindex && usable(entry.header.state) =>
                {
                    found = matching_mac(&entry, peer);
                }
                _ => {}
            }
            if length == 0 {
                break;
            }
            offset += length;
        }
    }
}

fn usable(state: NeighbourState) -> bool {
    !matches!(state, NeighbourState::Incomplete | NeighbourState::Failed | NeighbourState::None)
}

fn matching_mac(entry: &NeighbourMessage, peer: IpAddr) -> Option<[u8; 6]> {
    let destination = entry.attributes.iter().find_map(|attribute| match attribute {
        NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => Some(IpAddr::V4(*ip)),
        NeighbourAttribute::Destination(NeighbourAddress::Inet6(ip)) => Some(IpAddr::V6(*ip)),
        _ => None,
    })?;
    if destination != peer {
        return None;
    }
    entry.attributes.iter().find_map(|attribute| match attribute {
        NeighbourAttribute::LinkLayerAddress(bytes) => <[u8; 6]>::try_from(bytes.as_slice()).ok(),
        _ => None,
    })
}
