//! Route withdrawal on detection: when a session fails, every route in the
//! configured tables that has the failed peer as a nexthop loses that
//! nexthop (an ECMP route keeps its others; a route with no other nexthop is
//! removed), and when the session is Up again exactly what was removed comes
//! back. What was withdrawn is written to a state file first, so that an
//! agent restarted while a peer is down still restores it when the peer
//! comes back.
//!
//! Through rtnetlink with `netlink-packet-route` (the maintained crate
//! `rtnetlink` is built on), synchronously: the agent calls this from a
//! thread of its own, never from the BFD engine.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteNextHop, RouteNextHopFlags, RouteProtocol,
    RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use serde::{Deserialize, Serialize};

/// The main routing table (`RT_TABLE_MAIN`).
pub const MAIN_TABLE: u32 = 254;

/// What route withdrawal touches and where it keeps its records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSettings {
    /// Routing tables to withdraw from (default: main).
    pub tables: Vec<u32>,
    /// Only routes of these protocols (`proto` in `ip route`, e.g. static
    /// 4, bird 12, bgp 186); empty: every protocol.
    pub protocols: Vec<u8>,
    /// The file recording what was withdrawn.
    pub state_file: PathBuf,
}

/// Errors of route withdrawal.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// Netlink I/O.
    #[error("netlink: {0}")]
    Io(#[from] std::io::Error),
    /// The kernel refused a request.
    #[error("the kernel refused to {action}: {error}")]
    Refused {
        /// What was asked.
        action: String,
        /// The kernel's error.
        error: std::io::Error,
    },
    /// A netlink message could not be parsed.
    #[error("netlink message: {0}")]
    Decode(String),
    /// The state file.
    #[error("state file {}: {reason}", path.display())]
    StateFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// One nexthop of a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    /// The gateway.
    pub gateway: IpAddr,
    /// The interface.
    pub ifindex: u32,
    /// Weight - 1, as netlink carries it (`rtnh_hops`).
    pub hops: u8,
}

/// A nexthop removed from a route, with what identifies the route.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawn {
    /// The failed peer.
    pub peer: IpAddr,
    /// The routing table.
    pub table: u32,
    /// The destination prefix (`None`: the default route).
    pub destination: Option<IpAddr>,
    /// Its length.
    pub prefix_len: u8,
    /// IPv6 (else IPv4).
    pub ipv6: bool,
    /// The route's metric, if it has one.
    pub priority: Option<u32>,
    /// The route's protocol, scope, type and TOS, to recreate it as it was.
    pub protocol: u8,
    /// Scope.
    pub scope: u8,
    /// Type.
    pub kind: u8,
    /// TOS.
    pub tos: u8,
    /// The nexthop taken away.
    pub hop: Hop,
}

/// Route withdrawal for one agent.
pub struct Routes {
    settings: RouteSettings,
    socket: Socket,
    sequence: u32,
    withdrawn: Vec<Withdrawn>,
}

impl Routes {
    /// Opens a netlink socket and reads what an earlier run withdrew.
    pub fn open(settings: RouteSettings) -> Result<Routes, RouteError> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        let withdrawn = read_state(&settings.state_file)?;
        Ok(Routes { settings, socket, sequence: 0, withdrawn })
    }

    /// What is withdrawn now.
    pub fn withdrawn(&self) -> &[Withdrawn] {
        &self.withdrawn
    }

    /// Takes `peer` out of every route of the configured tables: the
    /// nexthop is removed from ECMP routes, single-nexthop routes are
    /// deleted. Returns what was withdrawn.
    pub fn withdraw(&mut self, peer: IpAddr) -> Result<Vec<Withdrawn>, RouteError> {
        let mut done = Vec::new();
        for route in self.dump(peer.is_ipv6())? {
            let table = table_of(&route);
            let protocol: u8 = route.header.protocol.into();
            if !self.settings.tables.contains(&table)
                || route.header.kind != RouteType::Unicast
                || !(self.settings.protocols.is_empty() || self.settings.protocols.contains(&protocol))
            {
                continue;
            }
            let hops = hops_of(&route);
            let Some(hop) = hops.iter().find(|hop| hop.gateway == peer).copied() else { continue };
            let record = Withdrawn {
                peer,
                table,
                destination: destination_of(&route),
                prefix_len: route.header.destination_prefix_length,
                ipv6: peer.is_ipv6(),
                priority: priority_of(&route),
                protocol,
                scope: route.header.scope.into(),
                kind: route.header.kind.into(),
                tos: route.header.tos,
                hop,
            };
            // Recorded before the kernel changes anything: a crash in
            // between leaves a record whose restore finds the hop present.
            self.withdrawn.push(record.clone());
            self.save()?;
            let others: Vec<Hop> = hops.into_iter().filter(|other| other.gateway != peer).collect();
            if others.is_empty() {
                let message = route_message(&record, &[hop]);
                self.request(
                    RouteNetlinkMessage::DelRoute(message),
                    0,
                    &format!("delete {}", describe(&record)),
                )?;
            } else {
                let message = route_message(&record, &others);
                self.request(
                    RouteNetlinkMessage::NewRoute(message),
                    NLM_F_CREATE | NLM_F_REPLACE,
                    &format!("remove {peer} from {}", describe(&record)),
                )?;
            }
            done.push(record);
        }
        Ok(done)
    }

    /// Puts back everything withdrawn for `peer`; returns how many nexthops.
    pub fn restore(&mut self, peer: IpAddr) -> Result<usize, RouteError> {
        let records: Vec<Withdrawn> =
            self.withdrawn.iter().filter(|record| record.peer == peer).cloned().collect();
        if records.is_empty() {
            return Ok(0);
        }
        let routes = self.dump(peer.is_ipv6())?;
        for record in &records {
            let current = routes.iter().find(|route| {
                table_of(route) == record.table
                    && destination_of(route) == record.destination
                    && route.header.destination_prefix_length == record.prefix_len
                    && priority_of(route) == record.priority
            });
            let mut hops = current.map(hops_of).unwrap_or_default();
            if !hops.iter().any(|hop| hop.gateway == record.hop.gateway) {
                hops.push(record.hop);
                let message = route_message(record, &hops);
                self.request(
                    RouteNetlinkMessage::NewRoute(message),
                    NLM_F_CREATE | NLM_F_REPLACE,
                    &format!("restore {} in {}", record.hop.gateway, describe(record)),
                )?;
            }
        }
        self.withdrawn.retain(|record| record.peer != peer);
        self.save()?;
        Ok(records.len())
    }

    fn save(&self) -> Result<(), RouteError> {
        let error = |reason: String| RouteError::StateFile { path: self.settings.state_file.clone(), reason };
        if let Some(parent) = self.settings.state_file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| error(e.to_string()))?;
        }
        let text = serde_json::to_string_pretty(&self.withdrawn).map_err(|e| error(e.to_string()))?;
        // Write then rename: a crash never leaves half a file.
        let temporary = self.settings.state_file.with_extension("tmp");
        std::fs::write(&temporary, text).map_err(|e| error(e.to_string()))?;
        std::fs::rename(&temporary, &self.settings.state_file).map_err(|e| error(e.to_string()))
    }

    fn next_sequence(&mut self) -> u32 {
        self.sequence = self.sequence.wrapping_add(1);
        self.sequence
    }

    /// Every route of the family.
    fn dump(&mut self, ipv6: bool) -> Result<Vec<RouteMessage>, RouteError> {
        let mut request = RouteMessage::default();
        request.header.address_family = if ipv6 { AddressFamily::Inet6 } else { AddressFamily::Inet };
        let sequence = self.next_sequence();
        self.send(RouteNetlinkMessage::GetRoute(request), NLM_F_REQUEST | NLM_F_DUMP, sequence)?;
        let mut routes = Vec::new();
        self.receive(sequence, |payload| {
            if let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(route)) = payload {
                routes.push(route);
            }
        })?;
        Ok(routes)
    }

    /// Sends a change and waits for the kernel's acknowledgement.
    fn request(&mut self, message: RouteNetlinkMessage, flags: u16, action: &str) -> Result<(), RouteError> {
        let sequence = self.next_sequence();
        self.send(message, NLM_F_REQUEST | NLM_F_ACK | flags, sequence)?;
        let mut refused = None;
        self.receive(sequence, |payload| {
            if let NetlinkPayload::Error(error) = payload
                && let Some(code) = error.code
            {
                refused = Some(std::io::Error::from_raw_os_error(-code.get()));
            }
        })?;
        match refused {
            Some(error) => Err(RouteError::Refused { action: action.to_owned(), error }),
            None => Ok(()),
        }
    }

    fn send(&mut self, message: RouteNetlinkMessage, flags: u16, sequence: u32) -> Result<(), RouteError> {
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = sequence;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(message));
        packet.finalize();
        let mut bytes = vec![0; packet.header.length as usize];
        packet.serialize(&mut bytes);
        self.socket.send(&bytes, 0)?;
        Ok(())
    }

    /// Reads the answers to `sequence` until Done (dumps) or the ACK/error.
    fn receive(
        &mut self,
        sequence: u32,
        mut each: impl FnMut(NetlinkPayload<RouteNetlinkMessage>),
    ) -> Result<(), RouteError> {
        let mut buffer = vec![0; 256 * 1024];
        loop {
            let size = self.socket.recv(&mut &mut buffer[..], 0)?;
            let mut offset = 0;
            while offset < size {
                let message: NetlinkMessage<RouteNetlinkMessage> =
                    NetlinkMessage::deserialize(&buffer[offset..size])
                        .map_err(|error| RouteError::Decode(error.to_string()))?;
                let length = message.header.length as usize;
                if message.header.sequence_number == sequence {
                    match message.payload {
                        NetlinkPayload::Done(_) => return Ok(()),
                        payload @ NetlinkPayload::Error(_) => {
                            each(payload);
                            return Ok(());
                        }
                        payload => each(payload),
                    }
                }
                if length == 0 {
                    break;
                }
                offset += length;
            }
        }
    }
}

fn read_state(path: &Path) -> Result<Vec<Withdrawn>, RouteError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|error| RouteError::StateFile { path: path.to_owned(), reason: error.to_string() }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(RouteError::StateFile { path: path.to_owned(), reason: error.to_string() }),
    }
}

fn describe(record: &Withdrawn) -> String {
    match record.destination {
        Some(destination) => format!("route {destination}/{} (table {})", record.prefix_len, record.table),
        None => format!("the default route (table {})", record.table),
    }
}

fn table_of(route: &RouteMessage) -> u32 {
    route
        .attributes
        .iter()
        .find_map(|attribute| match attribute {
            RouteAttribute::Table(table) => Some(*table),
            _ => None,
        })
        .unwrap_or(u32::from(route.header.table))
}

fn destination_of(route: &RouteMessage) -> Option<IpAddr> {
    route.attributes.iter().find_map(|attribute| match attribute {
        RouteAttribute::Destination(address) => ip_of(address),
        _ => None,
    })
}

fn priority_of(route: &RouteMessage) -> Option<u32> {
    route.attributes.iter().find_map(|attribute| match attribute {
        RouteAttribute::Priority(priority) => Some(*priority),
        _ => None,
    })
}

fn ip_of(address: &RouteAddress) -> Option<IpAddr> {
    match address {
        RouteAddress::Inet(ip) => Some(IpAddr::V4(*ip)),
        RouteAddress::Inet6(ip) => Some(IpAddr::V6(*ip)),
        _ => None,
    }
}

fn route_address(ip: IpAddr) -> RouteAddress {
    match ip {
        IpAddr::V4(ip) => RouteAddress::Inet(ip),
        IpAddr::V6(ip) => RouteAddress::Inet6(ip),
    }
}

/// The route's nexthops: the multipath list, or its one gateway.
fn hops_of(route: &RouteMessage) -> Vec<Hop> {
    let gateway = |attributes: &[RouteAttribute]| {
        attributes.iter().find_map(|attribute| match attribute {
            RouteAttribute::Gateway(address) => ip_of(address),
            _ => None,
        })
    };
    if let Some(hops) = route.attributes.iter().find_map(|attribute| match attribute {
        RouteAttribute::MultiPath(hops) => Some(hops),
        _ => None,
    }) {
        return hops
            .iter()
            .filter_map(|hop| {
                Some(Hop { gateway: gateway(&hop.attributes)?, ifindex: hop.interface_index, hops: hop.hops })
            })
            .collect();
    }
    let ifindex = route
        .attributes
        .iter()
        .find_map(|attribute| match attribute {
            RouteAttribute::Oif(index) => Some(*index),
            _ => None,
        })
        .unwrap_or(0);
    gateway(&route.attributes).map(|gateway| vec![Hop { gateway, ifindex, hops: 0 }]).unwrap_or_default()
}

/// The route of `record` with `hops` as its nexthops.
// netlink-packet-route's types are `#[non_exhaustive]`: they can only be
// built from their defaults.
#[allow(clippy::field_reassign_with_default)]
fn route_message(record: &Withdrawn, hops: &[Hop]) -> RouteMessage {
    let mut header = RouteHeader::default();
    header.address_family = if record.ipv6 { AddressFamily::Inet6 } else { AddressFamily::Inet };
    header.destination_prefix_length = record.prefix_len;
    header.tos = record.tos;
    // RT_TABLE_COMPAT in the header for tables above 255; RTA_TABLE rules.
    header.table = u8::try_from(record.table).unwrap_or(252);
    header.protocol = RouteProtocol::from(record.protocol);
    header.scope = RouteScope::from(record.scope);
    header.kind = RouteType::from(record.kind);
    let mut attributes = vec![RouteAttribute::Table(record.table)];
    if let Some(destination) = record.destination {
        attributes.push(RouteAttribute::Destination(route_address(destination)));
    }
    if let Some(priority) = record.priority {
        attributes.push(RouteAttribute::Priority(priority));
    }
    match hops {
        [hop] => {
            attributes.push(RouteAttribute::Gateway(route_address(hop.gateway)));
            if hop.ifindex != 0 {
                attributes.push(RouteAttribute::Oif(hop.ifindex));
            }
        }
        hops => attributes.push(RouteAttribute::MultiPath(
            hops.iter()
                .map(|hop| {
                    let mut next = RouteNextHop::default();
                    next.flags = RouteNextHopFlags::empty();
                    next.hops = hop.hops;
                    next.interface_index = hop.ifindex;
                    next.attributes = vec![RouteAttribute::Gateway(route_address(hop.gateway))];
                    next
                })
                .collect(),
        )),
    }
    let mut message = RouteMessage::default();
    message.header = header;
    message.attributes = attributes;
    message
}
