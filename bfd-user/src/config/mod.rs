//! The agent's configuration: MetalLB's `BFDProfile` and `BGPPeer`
//! documents as MetalLB users write them, and our `BFDAgentConfig` for
//! node-local settings, read from any number of YAML files with any number
//! of documents each.
//!
//! - [`load`] / [`load_with`]: the BFD sessions this node must run
//!   ([`AgentConfig`]), or every error found ([`ConfigErrors`]), each
//!   naming its file, line, document, field and reason.
//! - [`check`]: `bfd-agent check --config FILE...`'s report.
//! - [`diff`]: what a reload changes, by session identity, so that
//!   unchanged sessions are left alone.
//!
//! The README's "Configuration" section is the user's reference; the rules
//! are in the readers: [`metallb`] (BFDProfile, BGPPeer), [`node`]
//! (BFDAgentConfig), [`selector`] (nodeSelectors), [`interval`] (units).

pub mod auth;
mod check;
mod diff;
mod error;
pub mod interval;
pub mod metallb;
pub mod node;
mod read;
pub mod selector;
mod yaml;

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use bfd_common::maps::MAX_SESSIONS;
use bfd_session::SessionConfig;

pub use auth::PeerAuth;
pub use check::{CheckReport, check, check_with};
pub use diff::{ConfigDiff, diff, diff_sessions};
pub use error::{ConfigError, ConfigErrors, DocumentRef, Location, Reason};
pub use interval::{format_interval, parse_interval};
pub use metallb::{BfdProfile, DEFAULT_NAMESPACE};
pub use node::{
    DEFAULT_HOOK_TIMEOUT, DEFAULT_KEEPALIVE, DEFAULT_ROUTE_STATE_FILE, DeadlineBudget, EngineScheduling,
    HookSettings, MetricsSettings, NodeOverrides, NodeSettings, OnStop, TransmitPath, parse_interface_name,
    parse_metrics_address, parse_node_label, parse_route_protocol, parse_route_table, parse_rt_deadline,
    parse_rt_priority,
};
pub use selector::NodeSelector;

use metallb::BgpPeerDocument;
use read::Reader;
use yaml::{Node, Value};

/// What this node runs: its settings and its BFD sessions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentConfig {
    /// Node-local settings (BFDAgentConfig and command-line overrides).
    pub node: NodeSettings,
    /// One entry per BFD session this node must run, in file order.
    pub peers: Vec<PeerSpec>,
    /// Every BFDProfile read, used or not.
    pub profiles: Vec<BfdProfile>,
    /// BGPPeers that run no BFD session on this node, and why.
    pub unused_peers: Vec<UnusedPeer>,
    /// Documents of other kinds (IPAddressPool, BGPAdvertisement, ...),
    /// skipped.
    pub skipped: Vec<DocumentRef>,
    /// The files read, directories expanded: what a reload watches.
    pub files: Vec<PathBuf>,
}

/// A BGPPeer without a BFD session on this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnusedPeer {
    /// The BGPPeer.
    pub source: DocumentRef,
    /// Why it has no session.
    pub reason: UnusedReason,
}

/// Why a BGPPeer has no BFD session here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnusedReason {
    /// No `bfdProfile`: MetalLB runs no BFD for it either.
    NoBfdProfile,
    /// Its `nodeSelectors` do not select this node.
    NotSelected(Vec<NodeSelector>),
}

/// One BFD session this node must run, from one BGPPeer and its profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSpec {
    /// The BGPPeer document.
    pub source: DocumentRef,
    /// `peerAddress`.
    pub peer: IpAddr,
    /// `sourceAddress`: our address, if given.
    pub local: Option<IpAddr>,
    /// `interface` (v1beta2): the link a single-hop session is bound to.
    pub interface: Option<String>,
    /// `vrf` (v1beta2).
    pub vrf: Option<String>,
    /// `ebgpMultiHop`: a multihop session (RFC 5883).
    pub multihop: bool,
    /// The lowest TTL accepted: the profile's `minimumTtl` for multihop,
    /// 255 for single-hop (RFC 5881 §5).
    pub min_ttl: u8,
    /// `bfdProfile`: the profile's name (in the peer's namespace).
    pub profile: String,
    /// The session core's configuration. `detection` is left at its
    /// default: the agent chooses it.
    pub session: SessionConfig,
    /// Held administratively down (RFC 5880 §6.8.16): FRR's `shutdown`,
    /// given by bfdd over the data-plane channel.
    pub admin_down: bool,
    /// The discriminator to use if it is free when the session starts
    /// (bfdd's lid over the data-plane channel); otherwise a random one is
    /// drawn. A running session keeps its discriminator.
    pub discriminator: Option<u32>,
    /// Authentication (RFC 5880 §6.7), from the BFDAuthentication that
    /// names the BGPPeer or its profile; `None`: none.
    pub auth: Option<PeerAuth>,
}

/// What identifies a session across reloads: a session whose identity is
/// in the old and the new configuration is the same session.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionIdentity {
    /// The peer's address.
    pub peer: IpAddr,
    /// Our address, if bound to one.
    pub local: Option<IpAddr>,
    /// The interface, if bound to one.
    pub interface: Option<String>,
    /// The VRF.
    pub vrf: Option<String>,
    /// Multihop.
    pub multihop: bool,
}

/// FRR's words: `peer 10.0.0.1 multihop local-address 10.0.0.2 vrf red
/// interface eth0`.
impl fmt::Display for SessionIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer {}", self.peer)?;
        if self.multihop {
            f.write_str(" multihop")?;
        }
        if let Some(local) = self.local {
            write!(f, " local-address {local}")?;
        }
        if let Some(vrf) = &self.vrf {
            write!(f, " vrf {vrf}")?;
        }
        if let Some(interface) = &self.interface {
            write!(f, " interface {interface}")?;
        }
        Ok(())
    }
}

impl PeerSpec {
    /// The session's identity.
    pub fn key(&self) -> SessionIdentity {
        SessionIdentity {
            peer: self.peer,
            local: self.local,
            interface: self.interface.clone(),
            vrf: self.vrf.clone(),
            multihop: self.multihop,
        }
    }

    /// Whether `other` asks the same of the session: same timers, options,
    /// minimum TTL, profile and administrative state. `detection` and
    /// `kernel_answers` are not compared, since the agent sets them; neither is where the peer is
    /// written, since moving a document changes nothing on the wire, nor the
    /// preferred discriminator, which only a new session uses.
    pub fn same_session(&self, other: &PeerSpec) -> bool {
        let without_detection = |session: &SessionConfig| SessionConfig {
            detection: Default::default(),
            kernel_answers: false,
            ..*session
        };
        without_detection(&self.session) == without_detection(&other.session)
            && self.min_ttl == other.min_ttl
            && self.profile == other.profile
            && self.admin_down == other.admin_down
            && self.auth.as_ref().map(|auth| &auth.config) == other.auth.as_ref().map(|auth| &auth.config)
    }
}

/// Loads `paths` (files, or directories whose `*.yaml` and `*.yml` files
/// are read in name order) with no command-line overrides.
pub fn load(paths: &[PathBuf]) -> Result<AgentConfig, ConfigErrors> {
    load_with(paths, &NodeOverrides::default())
}

/// Loads `paths` with the command-line `overrides` applied before peers are
/// selected (a `--node-label` can select a peer).
pub fn load_with(paths: &[PathBuf], overrides: &NodeOverrides) -> Result<AgentConfig, ConfigErrors> {
    load_sources(read_paths(paths), overrides)
}

/// A file's contents, or why it could not be read.
pub(crate) type Source = (PathBuf, Result<String, String>);

/// Reads the files, expanding directories.
fn read_paths(paths: &[PathBuf]) -> Vec<Source> {
    let mut sources = Vec::new();
    for path in paths {
        if path.is_dir() {
            match yaml_files_in(path) {
                Ok(files) => sources.extend(files.into_iter().map(|file| {
                    let text = read_text(&file);
                    (file, text)
                })),
                Err(error) => sources.push((path.clone(), Err(error.to_string()))),
            }
        } else {
            sources.push((path.clone(), read_text(path)));
        }
    }
    sources
}

/// A directory's YAML files in name order, hidden ones left out (a
/// Kubernetes ConfigMap volume holds `..data` links beside the files).
fn yaml_files_in(directory: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(directory)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|name| name.to_str()).unwrap_or("");
        if !name.starts_with('.') && (name.ends_with(".yaml") || name.ends_with(".yml")) && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn read_text(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|error| error.to_string())?;
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())
}

/// Everything read from the documents, before profiles are resolved.
#[derive(Default)]
struct Documents {
    errors: Vec<ConfigError>,
    profiles: Vec<(BfdProfile, bool)>,
    peers: Vec<BgpPeerDocument>,
    agent_configs: Vec<NodeSettings>,
    auths: Vec<auth::AuthDocument>,
    skipped: Vec<DocumentRef>,
    /// A file could not be read or parsed whole: a profile it holds may be
    /// what a peer refers to.
    incomplete: bool,
}

pub(crate) fn load_sources(
    sources: Vec<Source>,
    overrides: &NodeOverrides,
) -> Result<AgentConfig, ConfigErrors> {
    let mut documents = Documents::default();
    let files: Vec<PathBuf> = sources.iter().map(|(path, _)| path.clone()).collect();
    for (path, text) in &sources {
        read_file(&mut documents, path, text);
    }
    let Documents { mut errors, profiles, peers, agent_configs, auths, skipped, incomplete } = documents;

    // Profiles by namespace and name; a second definition is an error.
    let mut profiles_by_name: HashMap<(&str, &str), &(BfdProfile, bool)> = HashMap::new();
    for entry in &profiles {
        let profile = &entry.0;
        if profile.source.name.is_none() {
            continue;
        }
        let key = (profile.namespace.as_str(), profile.name.as_str());
        if let Some((first, _)) = profiles_by_name.get(&key) {
            let reason = Reason::DuplicateObject {
                kind: "BFDProfile",
                name: format!("{}/{}", profile.namespace, profile.name),
                first: first.source.place(),
            };
            errors.push(document_error(&profile.source, profile.source.line, "metadata.name", reason));
        } else {
            profiles_by_name.insert(key, entry);
        }
    }

    let node = match agent_configs.as_slice() {
        [] => NodeSettings::default(),
        [first, rest @ ..] => {
            for duplicate in rest {
                let source = duplicate.source.as_ref().expect("read from a document");
                let first = first.source.as_ref().expect("read from a document").place();
                errors.push(document_error(source, source.line, "", Reason::DuplicateAgentConfig { first }));
            }
            first.clone()
        }
    }
    .with_overrides(overrides);
    let labels = node.selection_labels();

    let mut first_peer_named: HashMap<(String, String), DocumentRef> = HashMap::new();
    let mut sessions: HashMap<SessionIdentity, DocumentRef> = HashMap::new();
    let mut peer_specs = Vec::new();
    // The first peer past the kernel maps' capacity, and its profile's line.
    let mut first_past_capacity = None;
    let mut unused_peers = Vec::new();
    for peer in &peers {
        if let Some(name) = &peer.source.name {
            let key = (peer.namespace.clone(), name.clone());
            if let Some(first) = first_peer_named.get(&key) {
                let reason = Reason::DuplicateObject {
                    kind: "BGPPeer",
                    name: format!("{}/{name}", peer.namespace),
                    first: first.place(),
                };
                errors.push(document_error(&peer.source, peer.source.line, "metadata.name", reason));
            } else {
                first_peer_named.insert(key, peer.source.clone());
            }
        }
        let Some((profile_name, profile_line)) = &peer.profile else {
            unused_peers.push(UnusedPeer { source: peer.source.clone(), reason: UnusedReason::NoBfdProfile });
            continue;
        };
        let Some((profile, profile_valid)) =
            profiles_by_name.get(&(peer.namespace.as_str(), profile_name.as_str()))
        else {
            let elsewhere: Vec<&str> = profiles
                .iter()
                .filter(|(profile, _)| profile.source.name.as_ref() == Some(profile_name))
                .map(|(profile, _)| profile.namespace.as_str())
                .collect();
            let reason = if !elsewhere.is_empty() {
                Reason::ProfileInOtherNamespace {
                    name: profile_name.clone(),
                    namespace: peer.namespace.clone(),
                    elsewhere: elsewhere.join(", "),
                }
            } else if incomplete {
                // The profile may be in the part that could not be read;
                // the read or syntax error is reported already.
                continue;
            } else {
                Reason::UnknownProfile { name: profile_name.clone(), namespace: peer.namespace.clone() }
            };
            errors.push(document_error(&peer.source, *profile_line, "spec.bfdProfile", reason));
            continue;
        };
        if profile.echo_mode && peer.multihop {
            let reason = Reason::EchoOnMultihop { profile: profile_name.clone() };
            errors.push(document_error(&peer.source, *profile_line, "spec.bfdProfile", reason));
            continue;
        }
        if !profile_valid || !peer.valid {
            continue;
        }
        let Some(address) = peer.peer else { continue };
        if !selector::selects(&peer.selectors, &labels) {
            let reason = UnusedReason::NotSelected(peer.selectors.clone());
            unused_peers.push(UnusedPeer { source: peer.source.clone(), reason });
            continue;
        }
        let spec = PeerSpec {
            source: peer.source.clone(),
            peer: address,
            local: peer.local,
            interface: peer.interface.clone(),
            vrf: peer.vrf.clone(),
            multihop: peer.multihop,
            min_ttl: if peer.multihop { profile.minimum_ttl } else { 255 },
            profile: profile_name.clone(),
            session: profile.session_config(peer.multihop),
            admin_down: false,
            discriminator: None,
            auth: None,
        };
        // The readers' ranges keep every value valid for the core; this
        // is the core's own word on it.
        if let Err(error) = spec.session.validate() {
            errors.push(document_error(
                &peer.source,
                *profile_line,
                "spec.bfdProfile",
                Reason::Invalid(error.to_string()),
            ));
            continue;
        }
        if let Some(other) = sessions.get(&spec.key()) {
            let reason = Reason::DuplicateSession {
                identity: spec.key().to_string(),
                other: format!("{}: {other}", other.place()),
            };
            errors.push(document_error(&peer.source, peer.peer_line, "spec.peerAddress", reason));
            continue;
        }
        sessions.insert(spec.key(), peer.source.clone());
        if peer_specs.len() == MAX_SESSIONS {
            first_past_capacity = Some((peer.source.clone(), *profile_line));
        }
        peer_specs.push(spec);
    }
    // The kernel's maps hold MAX_SESSIONS sessions; the agent refuses one
    // past them (nothing would time it). Said here, at the first peer past
    // the capacity, rather than as a warning per session once running.
    if let Some((source, line)) = first_past_capacity {
        let reason = Reason::TooManySessions {
            position: MAX_SESSIONS + 1,
            selected: peer_specs.len(),
            max: MAX_SESSIONS,
        };
        errors.push(document_error(&source, line, "spec.bfdProfile", reason));
    }

    attach_authentication(&auths, &profiles, &peers, &mut peer_specs, &mut errors, incomplete);

    if !errors.is_empty() {
        // File order, then line order: how a person reads the files.
        let file_order = |file: &Path| files.iter().position(|f| f == file).unwrap_or(usize::MAX);
        errors.sort_by_key(|error| (file_order(&error.location.file), error.location.line.unwrap_or(0)));
        return Err(ConfigErrors(errors));
    }
    Ok(AgentConfig {
        node,
        peers: peer_specs,
        profiles: profiles.into_iter().map(|(profile, _)| profile).collect(),
        unused_peers,
        skipped,
        files,
    })
}

/// Gives each session the authentication of the BFDAuthentication that
/// names its BGPPeer, or else its BFDProfile (in the peer's namespace).
/// A profile or peer named by two documents, or a name that matches
/// nothing, is an error.
fn attach_authentication(
    auths: &[auth::AuthDocument],
    profiles: &[(BfdProfile, bool)],
    peers: &[BgpPeerDocument],
    specs: &mut [PeerSpec],
    errors: &mut Vec<ConfigError>,
    incomplete: bool,
) {
    type Claims<'a> = HashMap<(&'a str, &'a str), &'a auth::AuthDocument>;
    let mut by_profile: Claims<'_> = HashMap::new();
    let mut by_peer: Claims<'_> = HashMap::new();
    for document in auths {
        for (kind, names, claims, field) in [
            ("BFDProfile", &document.profiles, &mut by_profile, "spec.bfdProfiles"),
            ("BGPPeer", &document.peers, &mut by_peer, "spec.bgpPeers"),
        ] {
            for (index, (name, line)) in names.iter().enumerate() {
                let field = format!("{field}[{index}]");
                let exists = match kind {
                    "BFDProfile" => profiles.iter().any(|(profile, _)| {
                        profile.namespace == document.namespace && profile.source.name.as_ref() == Some(name)
                    }),
                    _ => peers.iter().any(|peer| {
                        peer.namespace == document.namespace && peer.source.name.as_ref() == Some(name)
                    }),
                };
                if !exists && !incomplete {
                    let reason = Reason::Invalid(format!(
                        "no {kind} named {name:?} in namespace {}",
                        document.namespace
                    ));
                    errors.push(document_error(&document.source, *line, &field, reason));
                    continue;
                }
                let key = (document.namespace.as_str(), name.as_str());
                if let Some(first) = claims.get(&key) {
                    let reason = Reason::Invalid(format!(
                        "{kind} {}/{name} already has its authentication from BFDAuthentication {} ({})",
                        document.namespace,
                        first.source.name.as_deref().unwrap_or("?"),
                        first.source.place()
                    ));
                    errors.push(document_error(&document.source, *line, &field, reason));
                    continue;
                }
                claims.insert(key, document);
            }
        }
    }
    for spec in specs {
        let namespace = spec.source.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
        let peer_name = spec.source.name.as_deref().unwrap_or("");
        let document = by_peer
            .get(&(namespace, peer_name))
            .or_else(|| by_profile.get(&(namespace, spec.profile.as_str())));
        // A document with an error has no configuration; its error is
        // reported already, and the configuration will not load.
        spec.auth = document.and_then(|document| document.auth.clone());
    }
}

fn document_error(document: &DocumentRef, line: usize, field: &str, reason: Reason) -> ConfigError {
    ConfigError {
        location: Location {
            file: document.file.clone(),
            line: Some(line),
            document: Some(document.clone()),
            field: (!field.is_empty()).then(|| field.to_owned()),
        },
        reason,
    }
}

fn file_error(file: &Path, line: Option<usize>, reason: Reason) -> ConfigError {
    ConfigError { location: Location { file: file.to_owned(), line, document: None, field: None }, reason }
}

fn read_file(documents: &mut Documents, path: &Path, text: &Result<String, String>) {
    let text = match text {
        Ok(text) => text,
        Err(why) => {
            documents.incomplete = true;
            documents.errors.push(file_error(path, None, Reason::Unreadable(why.clone())));
            return;
        }
    };
    let (parsed, syntax_error) = yaml::parse_documents(text);
    if let Some(error) = syntax_error {
        documents.incomplete = true;
        let reason = Reason::Syntax { column: error.column, message: error.message };
        documents.errors.push(file_error(path, Some(error.line), reason));
    }
    for document in &parsed {
        let source = DocumentRef::new(path, document.position, None, document.line);
        read_object(documents, source, &document.root);
    }
}

/// Reads one object: a document, or an item of a `kind: List`.
fn read_object(documents: &mut Documents, source: DocumentRef, root: &Node) {
    if root.is_null() {
        // An empty document, as a trailing `---` makes.
        return;
    }
    let errors_before = documents.errors.len();
    let mut reader = Reader::new(source, &mut documents.errors);
    if !matches!(root.value, Value::Mapping(_)) {
        reader.error(root.line, "", Reason::NotAnObject { found: root.describe() });
        return;
    }
    let Some(object) = reader.mapping(root, "") else { return };
    let kind = match object.get("kind") {
        Some(node) => reader.string(node, "kind"),
        None => {
            reader.error(object.line, "kind", Reason::Missing);
            None
        }
    };
    let Some(kind) = kind else { return };
    reader.document.kind = Some(kind.clone());
    match kind.as_str() {
        "BFDProfile" => {
            let profile = metallb::read_profile(&mut reader, &object);
            let valid = reader.error_count() == errors_before;
            documents.profiles.push((profile, valid));
        }
        "BGPPeer" => {
            let peer = metallb::read_peer(&mut reader, &object, errors_before);
            documents.peers.push(peer);
        }
        "BFDAgentConfig" => {
            let settings = node::read_agent_config(&mut reader, &object);
            documents.agent_configs.push(settings);
        }
        "BFDAuthentication" => {
            let document = auth::read_authentication(&mut reader, &object);
            documents.auths.push(document);
        }
        // `kubectl get ... -o yaml` writes a v1 List of the objects.
        "List" if object.get("items").is_some() => {
            let Some(items) = object.get("items").and_then(|node| reader.sequence(node, "items")) else {
                return;
            };
            let DocumentRef { file, position, .. } = reader.document.clone();
            for (index, item) in items.iter().enumerate() {
                read_object(documents, DocumentRef::new(&file, position, Some(index), item.line), item);
            }
        }
        _ => {
            // Named in the check's summary and the log when it has a name;
            // its contents are none of our business.
            let metadata = object.get("metadata").and_then(|node| match &node.value {
                Value::Mapping(entries) => Some(entries),
                _ => None,
            });
            let metadata_field = |field: &str| {
                metadata?
                    .iter()
                    .find(|(key, _)| key.scalar() == Some(field))
                    .and_then(|(_, value)| value.scalar())
            };
            reader.document.name = metadata_field("name").map(str::to_owned);
            reader.document.namespace = metadata_field("namespace").map(str::to_owned);
            if reader.document.namespace.is_none() && kind_group(&object).as_deref() == Some("metallb.io") {
                reader.document.namespace = Some(DEFAULT_NAMESPACE.to_owned());
            }
            tracing::debug!(
                file = %reader.document.file.display(),
                document = reader.document.position,
                "skipping {}: not a kind the BFD agent reads",
                reader.document
            );
            documents.skipped.push(reader.document.clone());
        }
    }
}

/// The API group of an object's apiVersion (`metallb.io` of
/// `metallb.io/v1beta1`).
fn kind_group(object: &read::Fields<'_>) -> Option<String> {
    let version = object.get("apiVersion")?.scalar()?;
    Some(version.split_once('/').map_or(version, |(group, _)| group).to_owned())
}

#[cfg(test)]
mod auth_tests;
#[cfg(test)]
mod tests;
