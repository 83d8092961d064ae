//! What an agent leaves in the kernel for the next one, so that a restart or
//! an upgrade takes the sessions over without the peers noticing.
//!
//! The pinned map [`ADOPT_MAP`](bfd_common::maps::ADOPT_MAP) holds one
//! [`AdoptRecord`] per session: the session core's [`Restored`] state, what
//! identifies the session (peer, local address, interface, multihop), its
//! UDP source port and our steady-state packet. The agent writes a record
//! when the session's state or parameters change (never per packet) and
//! deletes it with the session. The map is created by the agent (the XDP
//! program does not use it) and pinned beside the program's maps, so it
//! lives exactly as long as they do.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aya::maps::{HashMap, MapData};
use bfd_common::maps::{
    ADOPT_HAS_LOCAL, ADOPT_HAS_RECEIVED, ADOPT_MAP, ADOPT_MULTIHOP, AdoptRecord, Keepalive, MAP_LAYOUT,
    address,
};
use bfd_common::wire::control::HEADER_LEN;
use bfd_common::wire::{ControlPacket, ControlRepr, Diagnostic, State};
use bfd_session::{Restored, SessionKey};

/// The adoption map's capacity: a record for every session the program's
/// maps hold ([`bfd_common::maps::MAX_SESSIONS`]) and the layout's. Agents
/// before this constant made it 4096 entries: at 10,000 sessions (issue 19)
/// 5905 sessions had no record (each change of theirs logged a failed
/// write) and a restart would have started them anew; an agent adopting
/// such a map grows it ([`AdoptMap::open`]).
pub const CAPACITY: u32 = bfd_common::maps::MAX_SESSIONS as u32 + 1;

/// Where a grown map is pinned before it replaces the smaller one (no dot:
/// bpffs refuses names with one, reserved for its own files).
const GROWN_SUFFIX: &str = "_grown";

/// The key of the record that holds only the layout.
const LAYOUT_KEY: u32 = 0;

/// Errors of the adoption map.
#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    /// The map could not be created, pinned, opened or written.
    #[error("{action} {path}: {source}")]
    Map {
        /// What was being done.
        action: &'static str,
        /// The pin.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: aya::maps::MapError,
    },
    /// Pinning it failed.
    #[error("pinning {path}: {source}")]
    Pin {
        /// The pin.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: aya::pin::PinError,
    },
    /// A grown map could not replace the smaller one (or its leftover pin
    /// could not be removed).
    #[error("{action} {path}: {source}")]
    Replace {
        /// What was being done.
        action: &'static str,
        /// The pin.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}

/// The agent's handle on the pinned adoption map.
pub struct AdoptMap {
    path: PathBuf,
    map: HashMap<MapData, u32, AdoptRecord>,
}

impl AdoptMap {
    /// Creates the map and pins it under `pin_dir` (beside a newly attached
    /// program's maps).
    pub fn create(pin_dir: &Path) -> Result<AdoptMap, AdoptError> {
        let path = pin_dir.join(ADOPT_MAP);
        let map = HashMap::<MapData, u32, AdoptRecord>::create(CAPACITY, 0)
            .map_err(|source| AdoptError::Map { action: "creating", path: path.clone(), source })?;
        // Pinning consumes the handle: the map is opened again by its pin.
        map.pin(&path).map_err(|source| AdoptError::Pin { path: path.clone(), source })?;
        let mut map = AdoptMap::open_pinned(&path)?;
        // Key 0 (never a discriminator, RFC 5880 §6.8.1) holds the layout of
        // every map under the pin path, sessions or not.
        map.set(LAYOUT_KEY, &AdoptRecord { layout: MAP_LAYOUT, ..AdoptRecord::default() })?;
        Ok(map)
    }

    /// The layout of the maps under the pin path, as the agent that created
    /// them wrote it.
    pub fn layout(&self) -> Option<u32> {
        self.map.get(&LAYOUT_KEY, 0).ok().map(|record| record.layout)
    }

    /// Opens the map pinned under `pin_dir` to adopt its sessions, grown to
    /// [`CAPACITY`] if an earlier agent made it smaller. Fails if it is
    /// absent or its key or value size is not this build's (another
    /// layout). Only an agent that owns the pin path calls it (the agent it
    /// took over from has exited: bfd-agent's handover waits for that), so
    /// nothing writes the map while it is copied.
    pub fn open(pin_dir: &Path) -> Result<AdoptMap, AdoptError> {
        let path = pin_dir.join(ADOPT_MAP);
        let map = AdoptMap::open_pinned(&path)?;
        let grown = grown_path(&path);
        // Left by an agent stopped while it grew the map: the map under
        // `path` is still the whole one.
        match std::fs::remove_file(&grown) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(AdoptError::Replace { action: "removing", path: grown, source: error });
            }
            _ => {}
        }
        if map.capacity()? >= CAPACITY { Ok(map) } else { map.grow() }
    }

    /// How many records the map can hold (the layout's included).
    pub fn capacity(&self) -> Result<u32, AdoptError> {
        let info = self.map_data().info().map_err(|source| AdoptError::Map {
            action: "reading the capacity of",
            path: self.path.clone(),
            source,
        })?;
        Ok(info.max_entries())
    }

    fn map_data(&self) -> &MapData {
        aya::maps::IterableMap::map(&self.map)
    }

    fn open_pinned(path: &Path) -> Result<AdoptMap, AdoptError> {
        let error = |source| AdoptError::Map { action: "opening", path: path.to_owned(), source };
        let data = MapData::from_pin(path).map_err(error)?;
        let map = aya::maps::Map::from_map_data(data).map_err(error)?;
        let map = HashMap::try_from(map).map_err(error)?;
        Ok(AdoptMap { path: path.to_owned(), map })
    }

    /// A map of [`CAPACITY`] with every record of this one, pinned in its
    /// place. The new map is filled and pinned beside the old one first,
    /// then renamed over it (one `rename(2)` in bpffs): an agent stopped at
    /// any point leaves under [`ADOPT_MAP`] either map, whole.
    fn grow(self) -> Result<AdoptMap, AdoptError> {
        let grown = grown_path(&self.path);
        let map_error = |action, source| AdoptError::Map { action, path: self.path.clone(), source };
        let capacity = self.capacity()?;
        let mut bigger = HashMap::<MapData, u32, AdoptRecord>::create(CAPACITY, 0)
            .map_err(|source| map_error("creating a larger", source))?;
        let mut copied = 0_usize;
        for entry in self.map.iter() {
            let (key, record) = entry.map_err(|source| map_error("reading", source))?;
            bigger.insert(key, record, 0).map_err(|source| map_error("copying", source))?;
            copied += 1;
        }
        bigger.pin(&grown).map_err(|source| AdoptError::Pin { path: grown.clone(), source })?;
        std::fs::rename(&grown, &self.path).map_err(|source| AdoptError::Replace {
            action: "replacing it by the larger map",
            path: self.path.clone(),
            source,
        })?;
        tracing::info!(
            path = %self.path.display(),
            from = capacity,
            to = CAPACITY,
            records = copied,
            "grew the adoption map an earlier agent made"
        );
        AdoptMap::open_pinned(&self.path)
    }

    /// Writes session `discr`'s record.
    pub fn set(&mut self, discr: u32, record: &AdoptRecord) -> Result<(), AdoptError> {
        self.map.insert(discr, record, 0).map_err(|source| AdoptError::Map {
            action: "writing",
            path: self.path.clone(),
            source,
        })
    }

    /// Deletes session `discr`'s record (absent is fine).
    pub fn remove(&mut self, discr: u32) {
        let _ = self.map.remove(&discr);
    }

    /// Every session's record, in no order.
    pub fn records(&self) -> Vec<AdoptRecord> {
        self.map
            .iter()
            .filter_map(Result::ok)
            .filter(|(key, _)| *key != LAYOUT_KEY)
            .map(|(_, record)| record)
            .collect()
    }
}

fn grown_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(GROWN_SUFFIX);
    PathBuf::from(name)
}

/// The record of a session with `key`, running on `source_port`, whose
/// core left `restored` and sends `sent` in its steady state.
pub fn record(restored: &Restored, key: &SessionKey, source_port: u16, sent: &ControlRepr) -> AdoptRecord {
    let mut flags = 0;
    if key.multihop {
        flags |= ADOPT_MULTIHOP;
    }
    if key.local.is_some() {
        flags |= ADOPT_HAS_LOCAL;
    }
    let mut received = [0; HEADER_LEN];
    if let Some(packet) = &restored.last_received {
        flags |= ADOPT_HAS_RECEIVED;
        emit(packet, &mut received);
    }
    let mut sent_bytes = [0; HEADER_LEN];
    emit(sent, &mut sent_bytes);
    AdoptRecord {
        layout: MAP_LAYOUT,
        local_discr: restored.local_discr,
        desired_min_tx_us: micros(restored.desired_min_tx),
        required_min_rx_us: micros(restored.required_min_rx),
        required_min_echo_rx_us: micros(restored.required_min_echo_rx),
        ifindex: key.ifindex.unwrap_or(0),
        source_port,
        state: restored.state.into(),
        local_diag: restored.local_diag.into(),
        detect_mult: restored.detect_mult,
        flags,
        reserved: [0; 2],
        peer: address(key.peer),
        local: key.local.map_or([0; 16], address),
        received,
        sent: sent_bytes,
    }
}

/// A session as a record describes it, for [`bfd_session::Session::restore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Adoptable {
    /// The session core's state.
    pub restored: Restored,
    /// Peer, local address, interface, multihop.
    pub key: SessionKey,
    /// The UDP source port it sent from.
    pub source_port: u16,
}

/// Why a record cannot be adopted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Written by an agent with another map layout.
    #[error("written with map layout {found}, this agent reads layout {MAP_LAYOUT}")]
    Layout {
        /// The record's layout.
        found: u32,
    },
    /// The peer's packet in it does not parse.
    #[error("the stored packet of the peer does not parse: {0}")]
    Packet(String),
}

/// Reads a record back.
pub fn adoptable(record: &AdoptRecord) -> Result<Adoptable, RecordError> {
    if record.layout != MAP_LAYOUT {
        return Err(RecordError::Layout { found: record.layout });
    }
    let last_received = if record.flags & ADOPT_HAS_RECEIVED != 0 {
        let packet = ControlRepr::parse(&ControlPacket::new_unchecked(&record.received[..]))
            .map_err(|error| RecordError::Packet(error.to_string()))?;
        Some(packet)
    } else {
        None
    };
    let ip = |bytes: [u8; 16]| {
        let v6 = std::net::Ipv6Addr::from(bytes);
        v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
    };
    let multihop = record.flags & ADOPT_MULTIHOP != 0;
    Ok(Adoptable {
        restored: Restored {
            local_discr: record.local_discr,
            state: State::from_bits(record.state),
            local_diag: Diagnostic::from(record.local_diag),
            desired_min_tx: Duration::from_micros(record.desired_min_tx_us.into()),
            required_min_rx: Duration::from_micros(record.required_min_rx_us.into()),
            required_min_echo_rx: Duration::from_micros(record.required_min_echo_rx_us.into()),
            detect_mult: record.detect_mult,
            last_received,
            // Not in the record (it changes with every packet): a
            // successor learns it in the handover itself.
            last_tx: None,
        },
        key: SessionKey {
            peer: ip(record.peer),
            local: (record.flags & ADOPT_HAS_LOCAL != 0).then(|| ip(record.local)),
            ifindex: (record.ifindex != 0).then_some(record.ifindex),
            multihop,
        },
        source_port: record.source_port,
    })
}

/// What the kernel answers for the session of `record` while the agent is
/// away (issue 17), if it is Up: its steady-state packet from its source
/// port, at most once per 75% of the negotiated transmit interval
/// (RFC 5880 §6.8.7: the larger of our DesiredMinTx and the peer's
/// RequiredMinRx, jittered down by at most 25%). Multihop sessions too: the
/// kernel sends the answer back to the router the peer's packet came
/// through, at TTL 255, to port 4784 (RFC 5883 §5).
pub fn keepalive(record: &AdoptRecord) -> Option<Keepalive> {
    let adoptable = adoptable(record).ok()?;
    if adoptable.restored.state != State::Up {
        return None;
    }
    let remote_min_rx = Duration::from_micros(adoptable.restored.last_received?.required_min_rx.into());
    let interval = adoptable.restored.desired_min_tx.max(remote_min_rx);
    Some(Keepalive {
        min_interval_ns: u64::try_from(bfd_session::jitter_floor(interval).as_nanos()).unwrap_or(u64::MAX),
        source_port: record.source_port,
        reserved: [0; 6],
        packet: record.sent,
    })
}

fn emit(packet: &ControlRepr, bytes: &mut [u8; HEADER_LEN]) {
    let packet = ControlRepr { auth: None, ..*packet };
    packet.emit(&mut ControlPacket::new_unchecked(&mut bytes[..]));
}

fn micros(interval: Duration) -> u32 {
    u32::try_from(interval.as_micros()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn restored() -> Restored {
        Restored {
            local_discr: 0x1234_5678,
            state: State::Up,
            local_diag: Diagnostic::NoDiagnostic,
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            required_min_echo_rx: Duration::from_millis(50),
            detect_mult: 3,
            last_tx: None,
            last_received: Some(ControlRepr {
                diagnostic: Diagnostic::NoDiagnostic,
                state: State::Up,
                poll: false,
                final_: false,
                control_plane_independent: false,
                demand: false,
                detect_mult: 5,
                my_discriminator: 77,
                your_discriminator: 0x1234_5678,
                desired_min_tx: 200_000,
                required_min_rx: 250_000,
                required_min_echo_rx: 0,
                auth: None,
            }),
        }
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let key = SessionKey {
            peer: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
            local: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
            ifindex: Some(4),
            multihop: false,
        };
        let sent = restored().last_received.unwrap();
        let record = record(&restored(), &key, 49200, &sent);
        let back = adoptable(&record).unwrap();
        assert_eq!(back, Adoptable { restored: restored(), key, source_port: 49200 });
    }

    #[test]
    fn an_up_session_is_answered_for_at_75_percent_of_the_negotiated_interval() {
        let key = SessionKey {
            peer: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
            local: None,
            ifindex: Some(4),
            multihop: false,
        };
        let sent = restored().last_received.unwrap();
        let record = record(&restored(), &key, 49200, &sent);
        let keepalive = keepalive(&record).unwrap();
        // max(our 300 ms, the peer's 250 ms) x 75%.
        assert_eq!(keepalive.min_interval_ns, 225_000_000);
        assert_eq!((keepalive.source_port, keepalive.packet), (49200, record.sent));
        let down = Restored { state: State::Down, ..restored() };
        assert_eq!(super::keepalive(&super::record(&down, &key, 49200, &sent)), None);
        let multihop = SessionKey { multihop: true, ifindex: None, ..key };
        let answer = super::keepalive(&super::record(&restored(), &multihop, 49200, &sent)).unwrap();
        assert_eq!((answer.min_interval_ns, answer.source_port), (225_000_000, 49200));
    }

    #[test]
    fn a_record_of_another_layout_is_refused() {
        let key =
            SessionKey { peer: "2001:db8::1".parse().unwrap(), local: None, ifindex: None, multihop: true };
        let sent = restored().last_received.unwrap();
        let mut record = record(&restored(), &key, 49200, &sent);
        assert_eq!(adoptable(&record).unwrap().key, key);
        record.layout = MAP_LAYOUT + 1;
        assert_eq!(adoptable(&record), Err(RecordError::Layout { found: MAP_LAYOUT + 1 }));
    }
}
