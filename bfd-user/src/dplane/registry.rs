//! The sessions bfdd has handed us, reconciled across reconnects and bfdd
//! restarts, without I/O (the agent's `dplane` driver does the I/O).
//!
//! bfdd keys a session by its local discriminator (lid); we key it by what
//! it is on the wire ([`SessionIdentity`]: peer, local address, interface,
//! multihop), because that is what survives a bfdd restart: a restarted
//! bfdd draws new lids for the very same sessions, and a session that did
//! not change must not flap (its peer would see a failure that never
//! happened). So a registration of a known identity under a new lid only
//! rebinds the lid; the session, and its discriminator on the wire, go on.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use bfd_session::{EchoConfig, SessionConfig, SessionStatus};

use super::wire::{self, SessionRepr, StateChangeRepr, remote_flags, session_flags};
use crate::config::{DocumentRef, PeerSpec, SessionIdentity};

/// One connection to bfdd.
pub type ChannelId = u64;

/// The profile name data-plane sessions show: their settings are bfdd's.
pub const PROFILE: &str = "bfdd";

/// What a DP_ADD_SESSION did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registration {
    /// A session we do not run yet: start it.
    New,
    /// A session we run, registered again (a reconnect, a restarted bfdd)
    /// with the same settings: keep it as it is. bfdd believes every
    /// session it registers is Down, so tell it the state.
    Again {
        /// The lid it had, if bfdd gave it a new one.
        previous_lid: Option<u32>,
    },
    /// A session we run whose settings changed (timers, shutdown, ...):
    /// renegotiate it (a Poll Sequence, RFC 5880 §6.8.3), and tell bfdd
    /// the state.
    Changed {
        /// The lid it had, if bfdd gave it a new one.
        previous_lid: Option<u32>,
    },
}

/// Why a DP_ADD_SESSION was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// No peer address.
    #[error("lid {lid}: no peer address")]
    NoPeer {
        /// The session.
        lid: u32,
    },
    /// Discriminator zero is reserved (RFC 5880 §6.8.1).
    #[error("lid 0 is not a discriminator (RFC 5880 §6.8.1)")]
    ZeroLid,
    /// Timers the session core refuses.
    #[error("lid {lid}: {reason}")]
    Invalid {
        /// The session.
        lid: u32,
        /// The core's reason.
        reason: String,
    },
}

#[derive(Clone, Debug)]
struct Registered {
    lid: u32,
    channel: ChannelId,
    spec: PeerSpec,
    /// Its channel was lost and it has not been registered again since.
    stale: bool,
}

/// The data-plane sessions, by identity and by lid.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    sessions: HashMap<SessionIdentity, Registered>,
    lids: HashMap<u32, SessionIdentity>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// DP_ADD_SESSION received on `channel`.
    pub fn add(&mut self, channel: ChannelId, session: &SessionRepr) -> Result<Registration, Refused> {
        let spec = peer_spec(session)?;
        let identity = spec.key();
        // bfdd reused a lid for another identity: the old session is gone
        // from bfdd.
        if let Some(old) = self.lids.get(&session.lid).cloned()
            && old != identity
        {
            self.sessions.remove(&old);
            self.lids.remove(&session.lid);
        }
        let registration = match self.sessions.get_mut(&identity) {
            None => {
                self.sessions
                    .insert(identity.clone(), Registered { lid: session.lid, channel, spec, stale: false });
                Registration::New
            }
            Some(known) => {
                let previous_lid = (known.lid != session.lid).then_some(known.lid);
                if let Some(previous) = previous_lid {
                    self.lids.remove(&previous);
                }
                let changed = !known.spec.same_session(&spec);
                // The session keeps the discriminator it runs with.
                let running_discriminator = known.spec.discriminator;
                *known = Registered {
                    lid: session.lid,
                    channel,
                    spec: PeerSpec { discriminator: running_discriminator, ..spec },
                    stale: false,
                };
                if changed {
                    Registration::Changed { previous_lid }
                } else {
                    Registration::Again { previous_lid }
                }
            }
        };
        self.lids.insert(session.lid, identity);
        Ok(registration)
    }

    /// DP_DELETE_SESSION: the session's identity if we ran it.
    pub fn delete(&mut self, lid: u32) -> Option<SessionIdentity> {
        let identity = self.lids.remove(&lid)?;
        self.sessions.remove(&identity);
        Some(identity)
    }

    /// A channel closed: its sessions go on running (the peer must see no
    /// change while bfdd is away) but are stale until registered again.
    /// Returns how many.
    pub fn channel_lost(&mut self, channel: ChannelId) -> usize {
        let mut count = 0;
        for registered in self.sessions.values_mut().filter(|r| r.channel == channel) {
            registered.stale = true;
            count += 1;
        }
        count
    }

    /// Once bfdd has registered everything it has again: drops the sessions
    /// it did not register (deleted while the channel was down, or gone
    /// with a bfdd restarted without them).
    pub fn sweep_stale(&mut self) -> Vec<SessionIdentity> {
        let stale: Vec<SessionIdentity> =
            self.sessions.iter().filter(|(_, r)| r.stale).map(|(identity, _)| identity.clone()).collect();
        for identity in &stale {
            if let Some(registered) = self.sessions.remove(identity) {
                self.lids.remove(&registered.lid);
            }
        }
        stale
    }

    /// How many sessions are stale.
    pub fn stale(&self) -> usize {
        self.sessions.values().filter(|r| r.stale).count()
    }

    /// What the engine must run.
    pub fn specs(&self) -> Vec<PeerSpec> {
        let mut specs: Vec<PeerSpec> = self.sessions.values().map(|r| r.spec.clone()).collect();
        specs.sort_by_key(|spec| spec.key());
        specs
    }

    /// The lid and channel of a session, by identity.
    pub fn lid(&self, identity: &SessionIdentity) -> Option<(u32, ChannelId)> {
        self.sessions.get(identity).map(|r| (r.lid, r.channel))
    }

    /// The identity of a lid.
    pub fn identity(&self, lid: u32) -> Option<&SessionIdentity> {
        self.lids.get(&lid)
    }

    /// How many sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// No sessions.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

/// The session bfdd describes, as the engine runs it: bfdd's timers and
/// flags, our discriminator = its lid when free.
pub fn peer_spec(session: &SessionRepr) -> Result<PeerSpec, Refused> {
    if session.lid == 0 {
        return Err(Refused::ZeroLid);
    }
    if session.dst.is_unspecified() {
        return Err(Refused::NoPeer { lid: session.lid });
    }
    let multihop = session.has(session_flags::MULTIHOP);
    let micros = |value: u32| Duration::from_micros(u64::from(value));
    let echo_transmit = session.has(session_flags::ECHO) && !multihop;
    let config = SessionConfig {
        desired_min_tx: micros(session.min_tx),
        required_min_rx: micros(session.min_rx),
        detect_mult: session.detect_mult,
        passive: session.has(session_flags::PASSIVE),
        demand: session.has(session_flags::DEMAND),
        control_plane_independent: session.has(session_flags::CBIT),
        multihop,
        echo: EchoConfig {
            transmit: echo_transmit,
            desired_min_tx: if session.min_echo_tx == 0 && echo_transmit {
                EchoConfig::default().desired_min_tx
            } else {
                micros(session.min_echo_tx)
            },
            // RFC 5883 §3: no echo over multiple hops, so none looped back.
            required_min_rx: if multihop { Duration::ZERO } else { micros(session.min_echo_rx) },
        },
        detection: Default::default(),
        // bfdd's sessions keep no keepalive template in the kernel (they are
        // bfdd's to create again), so the kernel cannot answer for them.
        kernel_answers: false,
    };
    config.validate().map_err(|error| Refused::Invalid { lid: session.lid, reason: error.to_string() })?;
    let unless_unspecified = |address: IpAddr| (!address.is_unspecified()).then_some(address);
    Ok(PeerSpec {
        source: document(session.lid),
        peer: session.dst,
        local: unless_unspecified(session.src),
        interface: (!session.ifname.is_empty()).then(|| session.ifname.clone()),
        vrf: None,
        multihop,
        // RFC 5881 §5: single-hop accepts TTL 255 only; bfdd gives the
        // minimum TTL of a multihop session (RFC 5883 §5).
        min_ttl: if multihop { session.ttl.max(1) } else { 255 },
        profile: PROFILE.to_owned(),
        session: config,
        admin_down: session.has(session_flags::SHUTDOWN),
        discriminator: Some(session.lid),
        // FRR's DP_ADD_SESSION carries no keys (bfdd/bfddp_packet.h, 10.7
        // and master: "TODO: missing authentication").
        auth: None,
    })
}

/// Where a data-plane session comes from, for logs and `show`:
/// `bfdd lid 123`.
fn document(lid: u32) -> DocumentRef {
    DocumentRef {
        file: PathBuf::from("bfdd"),
        position: 0,
        item: None,
        line: 0,
        kind: Some("bfdd".to_owned()),
        namespace: None,
        name: Some(format!("lid {lid}")),
    }
}

/// BFD_STATE_CHANGE for a session's status: our state, and the peer's
/// diagnostic, discriminator, flags and timers.
pub fn state_change(lid: u32, status: &SessionStatus) -> StateChangeRepr {
    let micros = |value: Duration| u32::try_from(value.as_micros()).unwrap_or(u32::MAX);
    let mut flags = 0;
    if status.remote_control_plane_independent {
        flags |= remote_flags::CBIT;
    }
    if status.remote_demand {
        flags |= remote_flags::DEMAND;
    }
    StateChangeRepr {
        lid,
        rid: status.remote_discr,
        remote_flags: flags,
        desired_tx: micros(status.remote_desired_min_tx),
        required_rx: micros(status.remote_min_rx),
        required_echo_rx: micros(status.remote_min_echo_rx),
        state: u8::from(status.state),
        // bfdd's header says "Remote diagnostics" and bfdd stores it as the
        // remote diagnostic; our own has no field.
        diagnostics: u8::from(status.remote_diag),
        detection_multiplier: status.remote_detect_mult,
    }
}

/// Whether a registration burst of `adds` sessions filled bfdd's 8 KiB
/// output buffer. bfdd (8.4 through 10.x) queues every registration at
/// connect time before writing any, and drops those that do not fit (58
/// of 140 bytes): the rest wait, unregistered, for another connection,
/// which gets the next ones.
pub fn burst_was_cut(adds: usize) -> bool {
    let message = wire::HEADER_LEN + wire::SESSION_LEN;
    (adds + 1) * message > wire::MAX_MESSAGE_LEN
}
