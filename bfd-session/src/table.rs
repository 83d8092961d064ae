//! The sessions of one agent, and which of them a received packet is for
//! (RFC 5880 §6.3, RFC 5881 §3 and §5, RFC 5883 §2 and §5).

use std::collections::HashMap;
use std::net::IpAddr;

use bfd_common::wire::ControlRepr;

use crate::auth::{AuthConfig, ReceivedControl, WallTime};
use crate::config::SessionConfig;
use crate::rng::Rng;
use crate::session::{Discard, Session, SessionError};
use crate::time::Time;

/// The tables' hasher: foldhash seeded from the table's seed, so the
/// table stays deterministic. Its keys are the table's own discriminators
/// and its configured peers (a received packet only looks up), so a fast
/// hash without per-process secrecy will do; SipHash was 6% of the
/// engine's samples at 500 sessions (issue 19).
type Hasher = foldhash::fast::FixedState;

/// What identifies a session before discriminators are known: the peer,
/// optionally our address and interface, and single-hop or multihop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionKey {
    /// The peer's address.
    pub peer: IpAddr,
    /// Our address, if the session is bound to one.
    pub local: Option<IpAddr>,
    /// The interface index, if the session is bound to one (single-hop;
    /// required for link-local peers, which are only unique per link).
    pub ifindex: Option<u32>,
    /// A multihop session (RFC 5883, UDP port 4784).
    pub multihop: bool,
}

/// How a control packet arrived, as the socket (or XDP) reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// IP source address.
    pub source: IpAddr,
    /// IP destination address.
    pub destination: IpAddr,
    /// Interface index it arrived on.
    pub ifindex: u32,
    /// IPv4 TTL or IPv6 Hop Limit.
    pub ttl: u8,
    /// Arrived on the multihop port 4784 rather than 3784.
    pub multihop: bool,
}

/// Why a control packet matches no session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DemuxError {
    /// §6.8.6: "If the Your Discriminator field is nonzero ... If no
    /// session is found, the packet MUST be discarded."
    #[error("no session has discriminator {0}")]
    UnknownDiscriminator(u32),
    /// Your Discriminator 0 and no session for this source, destination
    /// and interface.
    #[error("no session for this peer")]
    NoSession,
    /// The discriminator names a session with another peer, interface or
    /// hop type: a spoofed or misrouted packet.
    #[error("the packet's addresses do not match session {0}")]
    AddressMismatch(u32),
    /// RFC 5881 §5: single-hop packets "MUST be discarded" unless the TTL
    /// or Hop Limit is 255 (GTSM, RFC 5082); RFC 5883 §5: multihop packets
    /// below the session's configured minimum.
    #[error("TTL {ttl} below the required {required}")]
    TtlTooLow {
        /// The packet's TTL.
        ttl: u8,
        /// The minimum it needed.
        required: u8,
    },
}

/// Why a received control packet went nowhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReceiveError {
    /// No session.
    #[error(transparent)]
    Demux(#[from] DemuxError),
    /// Session `discr` discarded it. The session has still settled at the
    /// packet's time (a due transmission, a moved deadline): the caller
    /// must take its outputs and deadlines as after an accepted packet.
    #[error("discarded by session {discr}: {reason}")]
    Discard {
        /// The session that discarded it.
        discr: u32,
        /// Why.
        reason: Discard,
    },
}

/// Errors adding a session.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddError {
    /// A session with the same key exists.
    #[error("a session for {0:?} already exists")]
    Duplicate(SessionKey),
    /// A restored session's discriminator is taken by another session.
    #[error("discriminator {0} is in use by another session")]
    DiscriminatorInUse(u32),
    /// The session cannot be created.
    #[error(transparent)]
    Session(#[from] SessionError),
}

#[derive(Clone, Debug)]
struct Entry<T> {
    key: SessionKey,
    min_ttl: u8,
    session: Session,
    data: T,
}

/// The discriminators of sessions that may let the kernel answer the peer
/// (`kernel_answers`, single-hop): the top sixteenth of the space (see
/// `Sessions::fresh_discriminator`).
pub const ANSWERING_DISCRIMINATORS: std::ops::RangeInclusive<u32> = 0xF000_0000..=u32::MAX;

/// The sessions of one agent, by discriminator, by key and by peer, each
/// with the caller's data `T` beside it (the agent keeps its per-session
/// state there: one table, never two kept in step by hand). Lookups by
/// discriminator and by key are O(1); demultiplexing by source looks only
/// at that peer's sessions.
#[derive(Clone, Debug)]
pub struct Sessions<T = ()> {
    by_discr: HashMap<u32, Entry<T>, Hasher>,
    by_key: HashMap<SessionKey, u32, Hasher>,
    by_peer: HashMap<IpAddr, Vec<u32>, Hasher>,
    rng: Rng,
}

impl Sessions<()> {
    /// Adds a session with a fresh discriminator and returns it. Single-hop
    /// sessions accept only TTL 255 (RFC 5881 §5); multihop ones at least
    /// `min_ttl` (RFC 5883 §5).
    pub fn add(
        &mut self,
        key: SessionKey,
        config: SessionConfig,
        min_ttl: u8,
        now: Time,
    ) -> Result<u32, AddError> {
        self.add_preferring(key, config, min_ttl, now, None, ())
    }
}

impl<T> Sessions<T> {
    /// An empty table whose discriminators and per-session jitter are drawn
    /// from `seed` (the agent seeds it from the operating system).
    pub fn new(seed: u64) -> Sessions<T> {
        Sessions {
            by_discr: HashMap::with_hasher(Hasher::with_seed(seed)),
            by_key: HashMap::with_hasher(Hasher::with_seed(seed)),
            by_peer: HashMap::with_hasher(Hasher::with_seed(seed)),
            rng: Rng::new(seed),
        }
    }

    /// Adds a session with `data` beside it, with `preferred` as the
    /// discriminator if it is free and nonzero (another system chose it:
    /// FRR's bfdd gives its own discriminators to its data plane), a fresh
    /// one otherwise; returns the discriminator. Single-hop sessions accept
    /// only TTL 255 (RFC 5881 §5); multihop ones at least `min_ttl` (RFC
    /// 5883 §5).
    pub fn add_preferring(
        &mut self,
        key: SessionKey,
        config: SessionConfig,
        min_ttl: u8,
        now: Time,
        preferred: Option<u32>,
        data: T,
    ) -> Result<u32, AddError> {
        self.add_authenticated(key, config, None, min_ttl, now, preferred, data)
    }

    /// [`Sessions::add_preferring`] with authentication from the first
    /// packet: `auth` is the configuration and the wall-clock time at `now`
    /// (see [`Session::with_auth`]).
    #[allow(clippy::too_many_arguments)] // add_preferring's, and the authentication
    pub fn add_authenticated(
        &mut self,
        key: SessionKey,
        config: SessionConfig,
        auth: Option<(AuthConfig, WallTime)>,
        min_ttl: u8,
        now: Time,
        preferred: Option<u32>,
        data: T,
    ) -> Result<u32, AddError> {
        if self.by_key.contains_key(&key) {
            return Err(AddError::Duplicate(key));
        }
        let discr = match preferred {
            Some(discr) if discr != 0 && !self.by_discr.contains_key(&discr) => discr,
            _ => self.fresh_discriminator(config.kernel_answers && !key.multihop),
        };
        let seed = self.rng.next_u64();
        let session =
            Session::with_auth(discr, SessionConfig { multihop: key.multihop, ..config }, auth, seed, now)?;
        let min_ttl = if key.multihop { min_ttl } else { 255 };
        self.by_discr.insert(discr, Entry { key, min_ttl, session, data });
        self.by_key.insert(key, discr);
        self.by_peer.entry(key.peer).or_default().push(discr);
        Ok(discr)
    }

    /// Takes over a session an earlier process of this system ran
    /// ([`Session::restore`]), with its discriminator, which must be free:
    /// the peer knows the session by it (§6.3: Your Discriminator).
    pub fn restore(
        &mut self,
        key: SessionKey,
        config: SessionConfig,
        min_ttl: u8,
        now: Time,
        restored: &crate::session::Restored,
        data: T,
    ) -> Result<u32, AddError> {
        if self.by_key.contains_key(&key) {
            return Err(AddError::Duplicate(key));
        }
        let discr = restored.local_discr;
        if self.by_discr.contains_key(&discr) {
            return Err(AddError::DiscriminatorInUse(discr));
        }
        let seed = self.rng.next_u64();
        let session =
            Session::restore(SessionConfig { multihop: key.multihop, ..config }, restored, seed, now)?;
        let min_ttl = if key.multihop { min_ttl } else { 255 };
        self.by_discr.insert(discr, Entry { key, min_ttl, session, data });
        self.by_key.insert(key, discr);
        self.by_peer.entry(key.peer).or_default().push(discr);
        Ok(discr)
    }

    /// §6.3: "The discriminator ... MUST be unique across all BFD sessions
    /// on this system, and nonzero. It SHOULD be a random value" (a guessed
    /// discriminator would let an off-path sender inject packets).
    ///
    /// `may_answer`: the session may hand its steady state to the kernel's
    /// answers, which only the end with the larger discriminator does
    /// ([`Session::answering`]). Its discriminator is then drawn from the
    /// top sixteenth of the space, [`ANSWERING_DISCRIMINATORS`]: against a
    /// peer that draws uniformly (FRR's bfdd and BIRD both do) ours is the
    /// larger 31 times in 32 instead of 1 in 2. Between two agents one end
    /// is still the larger, so exactly one originates. 28 random bits
    /// remain, on single-hop sessions only, whose packets must also arrive
    /// with TTL 255 (RFC 5881 §5): an off-path sender is kept out by that.
    fn fresh_discriminator(&mut self, may_answer: bool) -> u32 {
        loop {
            let candidate = if may_answer {
                *ANSWERING_DISCRIMINATORS.start() | (self.rng.next_u32() >> 4)
            } else {
                self.rng.next_u32()
            };
            if candidate != 0 && !self.by_discr.contains_key(&candidate) {
                return candidate;
            }
        }
    }

    /// Removes a session (after sending it AdminDown, if it should say
    /// goodbye).
    pub fn remove(&mut self, discr: u32) -> Option<(Session, T)> {
        let entry = self.by_discr.remove(&discr)?;
        self.by_key.remove(&entry.key);
        if let Some(list) = self.by_peer.get_mut(&entry.key.peer) {
            list.retain(|&other| other != discr);
            if list.is_empty() {
                self.by_peer.remove(&entry.key.peer);
            }
        }
        Some((entry.session, entry.data))
    }

    /// The session with this discriminator.
    pub fn get(&self, discr: u32) -> Option<&Session> {
        self.by_discr.get(&discr).map(|entry| &entry.session)
    }

    /// The session with this discriminator, to feed it inputs.
    pub fn get_mut(&mut self, discr: u32) -> Option<&mut Session> {
        self.by_discr.get_mut(&discr).map(|entry| &mut entry.session)
    }

    /// The caller's data of the session with this discriminator.
    pub fn data(&self, discr: u32) -> Option<&T> {
        self.by_discr.get(&discr).map(|entry| &entry.data)
    }

    /// The caller's data of the session with this discriminator, to change.
    pub fn data_mut(&mut self, discr: u32) -> Option<&mut T> {
        self.by_discr.get_mut(&discr).map(|entry| &mut entry.data)
    }

    /// The session with this discriminator and the caller's data beside it.
    pub fn entry(&self, discr: u32) -> Option<(&Session, &T)> {
        self.by_discr.get(&discr).map(|entry| (&entry.session, &entry.data))
    }

    /// The same, to change both.
    pub fn entry_mut(&mut self, discr: u32) -> Option<(&mut Session, &mut T)> {
        self.by_discr.get_mut(&discr).map(|entry| (&mut entry.session, &mut entry.data))
    }

    /// The key of the session with this discriminator.
    pub fn key(&self, discr: u32) -> Option<SessionKey> {
        self.by_discr.get(&discr).map(|entry| entry.key)
    }

    /// The discriminator of the session with this key.
    pub fn find(&self, key: &SessionKey) -> Option<u32> {
        self.by_key.get(key).copied()
    }

    /// Every session, by discriminator.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Session)> {
        self.by_discr.iter().map(|(&discr, entry)| (discr, &entry.session))
    }

    /// Every session with the caller's data, by discriminator.
    pub fn entries(&self) -> impl Iterator<Item = (u32, &Session, &T)> {
        self.by_discr.iter().map(|(&discr, entry)| (discr, &entry.session, &entry.data))
    }

    /// The number of sessions.
    pub fn len(&self) -> usize {
        self.by_discr.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_discr.is_empty()
    }

    /// The session a packet belongs to (§6.3, §6.8.6).
    pub fn demux(&self, packet: &ControlRepr, arrival: &Arrival) -> Result<u32, DemuxError> {
        let discr = if packet.your_discriminator != 0 {
            // "If the Your Discriminator field is nonzero, it MUST be used to
            // select the session with which this BFD packet is associated."
            let discr = packet.your_discriminator;
            let entry = self.by_discr.get(&discr).ok_or(DemuxError::UnknownDiscriminator(discr))?;
            // Not required by §6.3, but a discriminator is only 32 bits: the
            // packet must also come from where the session lives.
            if !matches(&entry.key, arrival) {
                return Err(DemuxError::AddressMismatch(discr));
            }
            discr
        } else {
            // "If the Your Discriminator field is zero, the session MUST be
            // selected based on some combination of other fields, including
            // source addressing information, the My Discriminator field, and
            // the interface over which the packet was received." The most
            // specific session wins (bound to our address and interface).
            self.by_peer
                .get(&arrival.source)
                .into_iter()
                .flatten()
                .filter_map(|discr| self.by_discr.get(discr).map(|entry| (*discr, entry)))
                .filter(|(_, entry)| matches(&entry.key, arrival))
                .max_by_key(|(_, entry)| (entry.key.local.is_some(), entry.key.ifindex.is_some()))
                .map(|(discr, _)| discr)
                .ok_or(DemuxError::NoSession)?
        };
        let required = self.by_discr[&discr].min_ttl;
        if arrival.ttl < required {
            return Err(DemuxError::TtlTooLow { ttl: arrival.ttl, required });
        }
        Ok(discr)
    }

    /// Demultiplexes a packet and hands it to its session.
    /// Demultiplexes a packet as received (its bytes with it, for
    /// authentication, §6.7) and hands it to its session: what the agent
    /// calls for every control packet off the wire.
    pub fn receive_packet(
        &mut self,
        now: Time,
        packet: &ReceivedControl<'_>,
        arrival: &Arrival,
    ) -> Result<u32, ReceiveError> {
        let discr = self.demux(packet.repr(), arrival)?;
        let session = self.get_mut(discr).expect("demux returns existing sessions");
        session.on_packet(now, packet).map_err(|reason| ReceiveError::Discard { discr, reason })?;
        Ok(discr)
    }

    /// Tells every session the wall-clock time at monotonic `now` (for
    /// key lifetimes, see [`Session::set_wall_clock`]).
    pub fn set_wall_clock(&mut self, now: Time, wall: WallTime) {
        for entry in self.by_discr.values_mut() {
            entry.session.set_wall_clock(now, wall);
        }
    }

    /// Demultiplexes a packet and hands it to its session, verified as the
    /// bytes its `emit` writes (see [`Session::on_control`]); packets off
    /// the wire go through [`receive_packet`](Self::receive_packet).
    pub fn receive(
        &mut self,
        now: Time,
        packet: &ControlRepr,
        arrival: &Arrival,
    ) -> Result<u32, ReceiveError> {
        let discr = self.demux(packet, arrival)?;
        let session = self.get_mut(discr).expect("demux returns existing sessions");
        session.on_control(now, packet).map_err(|reason| ReceiveError::Discard { discr, reason })?;
        Ok(discr)
    }

    /// The earliest deadline of all sessions.
    pub fn next_deadline(&self) -> Option<Time> {
        self.by_discr.values().filter_map(|entry| entry.session.next_deadline()).min()
    }
}

/// Whether a packet that arrived so may belong to the session `key`.
fn matches(key: &SessionKey, arrival: &Arrival) -> bool {
    key.peer == arrival.source
        && key.multihop == arrival.multihop
        && key.local.is_none_or(|local| local == arrival.destination)
        && key.ifindex.is_none_or(|ifindex| ifindex == arrival.ifindex)
}
