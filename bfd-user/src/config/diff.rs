//! What a reload changes. Sessions are matched by identity; one whose
//! configuration is the same must not be touched at all (MetalLB #2454:
//! FRR reloads used to flap every BFD session).

use std::collections::HashMap;

use super::{AgentConfig, PeerSpec, SessionIdentity};

/// The sessions of a new configuration compared with the old one's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigDiff {
    /// In the new configuration only: start them.
    pub added: Vec<PeerSpec>,
    /// In the old configuration only: AdminDown, then remove.
    pub removed: Vec<PeerSpec>,
    /// In both, asking something else of the session (timers, options,
    /// minimum TTL or profile), as (old, new): renegotiate with Poll/Final.
    pub changed: Vec<(PeerSpec, PeerSpec)>,
    /// In both, the same: leave them alone. The new configuration's entry
    /// (its document may have moved).
    pub unchanged: Vec<PeerSpec>,
    /// The node settings that changed, by BFDAgentConfig field name
    /// (`interfaces`, `pinPath`, ...).
    pub node_changes: Vec<&'static str>,
}

impl ConfigDiff {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.node_changes.is_empty()
    }
}

/// Compares the sessions of `old` and `new` by [`PeerSpec::key`]. Added,
/// changed and unchanged sessions are in `new`'s order, removed ones in
/// `old`'s.
pub fn diff(old: &AgentConfig, new: &AgentConfig) -> ConfigDiff {
    let old_peers: Vec<&PeerSpec> = old.peers.iter().collect();
    ConfigDiff { node_changes: new.node.changed_fields(&old.node), ..diff_sessions(&old_peers, &new.peers) }
}

/// The partition of sessions a reload makes, for any list of running
/// sessions (the engine's, for one origin) and wanted ones: the one place
/// where sessions are matched across a change. `node_changes` is empty.
pub fn diff_sessions(old: &[&PeerSpec], new: &[PeerSpec]) -> ConfigDiff {
    let old_by_key: HashMap<SessionIdentity, &PeerSpec> =
        old.iter().map(|peer| (peer.key(), *peer)).collect();
    let new_by_key: HashMap<SessionIdentity, &PeerSpec> = new.iter().map(|peer| (peer.key(), peer)).collect();
    let mut result = ConfigDiff::default();
    for peer in new {
        match old_by_key.get(&peer.key()) {
            None => result.added.push(peer.clone()),
            Some(old_peer) if old_peer.same_session(peer) => result.unchanged.push(peer.clone()),
            Some(old_peer) => result.changed.push(((*old_peer).clone(), peer.clone())),
        }
    }
    result.removed =
        old.iter().filter(|peer| !new_by_key.contains_key(&peer.key())).map(|peer| (*peer).clone()).collect();
    result
}
