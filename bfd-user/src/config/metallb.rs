//! MetalLB's `BFDProfile` (metallb.io/v1beta1) and `BGPPeer`
//! (metallb.io/v1beta1 and v1beta2), read as MetalLB's CRDs define them
//! (`api/v1beta1/bfdprofile_types.go`, `api/v1beta{1,2}/bgppeer_types.go`).

use std::net::IpAddr;
use std::time::Duration;

use bfd_session::{EchoConfig, SessionConfig};

use super::error::{DocumentRef, Reason, closest};
use super::read::{Fields, Reader, join};
use super::selector::{NodeSelector, read_selectors};

/// The namespace of a MetalLB object without `metadata.namespace`: where
/// MetalLB is installed by default, and where its webhook wants profiles.
pub const DEFAULT_NAMESPACE: &str = "metallb-system";

/// The apiVersion of BFDProfile.
pub const BFD_PROFILE_API_VERSION: &str = "metallb.io/v1beta1";
/// The apiVersions of BGPPeer.
pub const BGP_PEER_API_VERSIONS: [&str; 2] = ["metallb.io/v1beta1", "metallb.io/v1beta2"];

/// The fields of `BFDProfile.spec`.
const PROFILE_FIELDS: &[&str] = &[
    "receiveInterval",
    "transmitInterval",
    "detectMultiplier",
    "echoInterval",
    "echoMode",
    "passiveMode",
    "minimumTtl",
];

/// The fields of `BGPPeer.spec` (v1beta1) that matter to BFD.
const PEER_BFD_FIELDS: &[&str] =
    &["peerAddress", "sourceAddress", "bfdProfile", "ebgpMultiHop", "nodeSelectors"];
/// v1beta1's BGP-only fields: accepted and ignored.
const PEER_V1BETA1_BGP_FIELDS: &[&str] =
    &["myASN", "peerASN", "peerPort", "holdTime", "keepaliveTime", "routerID", "password"];
/// Fields v1beta2 added: `vrf` and `interface` matter to BFD, the others
/// are BGP-only.
const PEER_V1BETA2_FIELDS: &[&str] = &[
    "vrf",
    "interface",
    "localASN",
    "dynamicASN",
    "connectTime",
    "passwordSecret",
    "enableGracefulRestart",
    "disableMP",
    "dualStackAddressFamily",
];

/// A BFDProfile, MetalLB's defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BfdProfile {
    /// Where it was read.
    pub source: DocumentRef,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `receiveInterval` (default 300 ms).
    pub receive_interval: Duration,
    /// `transmitInterval` (default 300 ms).
    pub transmit_interval: Duration,
    /// `detectMultiplier` (default 3).
    pub detect_multiplier: u8,
    /// `echoInterval` (default 50 ms).
    pub echo_interval: Duration,
    /// `echoMode` (default false).
    pub echo_mode: bool,
    /// `passiveMode` (default false).
    pub passive_mode: bool,
    /// `minimumTtl` (default 254), for multihop sessions only.
    pub minimum_ttl: u8,
}

impl BfdProfile {
    /// MetalLB's defaults.
    fn defaults(source: DocumentRef, namespace: String, name: String) -> BfdProfile {
        BfdProfile {
            source,
            namespace,
            name,
            receive_interval: Duration::from_millis(300),
            transmit_interval: Duration::from_millis(300),
            detect_multiplier: 3,
            echo_interval: Duration::from_millis(50),
            echo_mode: false,
            passive_mode: false,
            minimum_ttl: 254,
        }
    }

    /// The session core's configuration for a peer using this profile.
    pub fn session_config(&self, multihop: bool) -> SessionConfig {
        let echo = if multihop {
            // RFC 5883: no Echo function over multiple hops, so we do not
            // invite the peer to send echo packets either (zero Required
            // Min Echo RX Interval).
            EchoConfig {
                transmit: false,
                desired_min_tx: self.echo_interval,
                required_min_rx: Duration::ZERO,
            }
        } else {
            EchoConfig {
                transmit: self.echo_mode,
                desired_min_tx: self.echo_interval,
                // Without echo mode we still reflect the peer's echoes (the
                // XDP program does), at the core's default rate.
                required_min_rx: if self.echo_mode {
                    self.echo_interval
                } else {
                    EchoConfig::default().required_min_rx
                },
            }
        };
        SessionConfig {
            desired_min_tx: self.transmit_interval,
            required_min_rx: self.receive_interval,
            detect_mult: self.detect_multiplier,
            passive: self.passive_mode,
            multihop,
            echo,
            ..SessionConfig::default()
        }
    }
}

/// A BGPPeer as read: what a BFD session needs of it.
#[derive(Clone, Debug)]
pub(crate) struct BgpPeerDocument {
    pub source: DocumentRef,
    pub namespace: String,
    /// `peerAddress` (absent for unnumbered peers).
    pub peer: Option<IpAddr>,
    /// The line of `peerAddress` (of `spec` without it).
    pub peer_line: usize,
    pub local: Option<IpAddr>,
    pub interface: Option<String>,
    pub vrf: Option<String>,
    pub multihop: bool,
    /// `bfdProfile` and its line.
    pub profile: Option<(String, usize)>,
    pub selectors: Vec<NodeSelector>,
    /// The document had no error: a session can be built from it.
    pub valid: bool,
}

/// Reads `metadata`: the name (required when `name_required`) and the
/// namespace (defaulted to `default_namespace`). Both are put in the
/// reader's document reference so that later errors carry them.
pub(crate) fn read_metadata(
    reader: &mut Reader<'_>,
    object: &Fields<'_>,
    name_required: bool,
    default_namespace: Option<&str>,
) {
    let metadata = object.get("metadata").and_then(|node| reader.mapping(node, "metadata"));
    // Only the name and namespace matter; labels, annotations, uid and the
    // rest of what `kubectl get -o yaml` writes are ignored.
    let namespace = metadata
        .as_ref()
        .and_then(|m| m.get("namespace"))
        .and_then(|n| reader.string(n, "metadata.namespace"));
    reader.document.namespace = namespace.or(default_namespace.map(str::to_owned));
    match metadata.as_ref().and_then(|m| m.get("name")) {
        Some(name) => reader.document.name = reader.string(name, "metadata.name"),
        None if name_required => {
            let line = metadata.as_ref().map_or(object.line, |m| m.line);
            reader.error(line, "metadata.name", Reason::Missing);
        }
        None => {}
    }
}

/// Checks `apiVersion` against the versions this agent reads; returns the
/// one written if it is known.
pub(crate) fn check_api_version(
    reader: &mut Reader<'_>,
    object: &Fields<'_>,
    kind: &'static str,
    known: &[&'static str],
) -> Option<&'static str> {
    let Some(node) = object.get("apiVersion") else {
        reader.error(object.line, "apiVersion", Reason::Missing);
        return None;
    };
    let written = reader.string(node, "apiVersion")?;
    let found = known.iter().copied().find(|&version| version == written);
    if found.is_none() {
        let expected = known.join(" or ");
        reader.error(node.line, "apiVersion", Reason::UnknownApiVersion { kind, found: written, expected });
    }
    found
}

/// The top-level fields of a Kubernetes object; `status` is what
/// `kubectl get -o yaml` adds.
pub(crate) const OBJECT_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];

/// Reads a BFDProfile document, every field even after an error; a
/// profile with a missing name or a bad value is still returned (so that
/// its peers do not report it as missing), and its errors are recorded.
pub(crate) fn read_profile(reader: &mut Reader<'_>, object: &Fields<'_>) -> BfdProfile {
    read_metadata(reader, object, true, Some(DEFAULT_NAMESPACE));
    reader.only_known(object, "", OBJECT_FIELDS);
    check_api_version(reader, object, "BFDProfile", &[BFD_PROFILE_API_VERSION]);
    let namespace = reader.document.namespace.clone().unwrap_or_else(|| DEFAULT_NAMESPACE.into());
    let name = reader.document.name.clone().unwrap_or_default();
    let mut profile = BfdProfile::defaults(reader.document.clone(), namespace, name);
    let Some(spec) = object.get("spec").and_then(|node| reader.mapping(node, "spec")) else {
        return profile;
    };
    reader.only_known(&spec, "spec", PROFILE_FIELDS);
    let path = |field: &str| join("spec", field);
    let interval = |reader: &mut Reader<'_>, field, value: &mut Duration| {
        if let Some(interval) = spec.get(field).and_then(|node| reader.interval(node, &path(field))) {
            *value = interval;
        }
    };
    interval(reader, "receiveInterval", &mut profile.receive_interval);
    interval(reader, "transmitInterval", &mut profile.transmit_interval);
    interval(reader, "echoInterval", &mut profile.echo_interval);
    let integer = |reader: &mut Reader<'_>, field, min, max, value: &mut u8| {
        if let Some(integer) = spec.get(field).and_then(|node| reader.integer(node, &path(field), min, max)) {
            *value = integer as u8;
        }
    };
    integer(reader, "detectMultiplier", 2, 255, &mut profile.detect_multiplier);
    integer(reader, "minimumTtl", 1, 254, &mut profile.minimum_ttl);
    let boolean = |reader: &mut Reader<'_>, field, value: &mut bool| {
        if let Some(boolean) = spec.get(field).and_then(|node| reader.boolean(node, &path(field))) {
            *value = boolean;
        }
    };
    boolean(reader, "echoMode", &mut profile.echo_mode);
    boolean(reader, "passiveMode", &mut profile.passive_mode);
    profile
}

/// Reads a BGPPeer document. Errors in it are recorded; the result is
/// `valid` only without any.
pub(crate) fn read_peer(
    reader: &mut Reader<'_>,
    object: &Fields<'_>,
    errors_before: usize,
) -> BgpPeerDocument {
    read_metadata(reader, object, true, Some(DEFAULT_NAMESPACE));
    reader.only_known(object, "", OBJECT_FIELDS);
    let version = check_api_version(reader, object, "BGPPeer", &BGP_PEER_API_VERSIONS);
    let namespace = reader.document.namespace.clone().unwrap_or_else(|| DEFAULT_NAMESPACE.into());
    let mut peer = BgpPeerDocument {
        source: reader.document.clone(),
        namespace,
        peer: None,
        peer_line: object.line,
        local: None,
        interface: None,
        vrf: None,
        multihop: false,
        profile: None,
        selectors: Vec::new(),
        valid: false,
    };
    let spec = match object.get("spec") {
        Some(node) => reader.mapping(node, "spec"),
        None => {
            reader.error(object.line, "spec", Reason::Missing);
            None
        }
    };
    if let Some(spec) = spec {
        read_peer_spec(reader, &spec, version.unwrap_or("metallb.io/v1beta2"), &mut peer);
    }
    peer.valid = reader.error_count() == errors_before;
    peer
}

fn read_peer_spec(reader: &mut Reader<'_>, spec: &Fields<'_>, version: &str, peer: &mut BgpPeerDocument) {
    let v1beta1 = version == "metallb.io/v1beta1";
    // Unknown fields are errors here too: a misspelt `bfdProfile` would
    // otherwise silently leave a peer without BFD. The BGP fields MetalLB
    // defines are accepted and ignored.
    let known: Vec<&str> = PEER_BFD_FIELDS
        .iter()
        .chain(PEER_V1BETA1_BGP_FIELDS)
        .chain(if v1beta1 { &[][..] } else { PEER_V1BETA2_FIELDS })
        .copied()
        .collect();
    for (key, line) in spec.keys() {
        if known.contains(&key) {
            continue;
        }
        let reason = if v1beta1 && PEER_V1BETA2_FIELDS.contains(&key) {
            Reason::FieldOfOtherVersion {
                kind: "BGPPeer",
                api_version: version.to_owned(),
                other_version: "metallb.io/v1beta2",
            }
        } else {
            Reason::UnknownField { suggestion: closest(key, known.iter().copied()) }
        };
        reader.error(line, &join("spec", key), reason);
    }

    let path = |field: &str| join("spec", field);
    peer.interface =
        spec.get("interface").and_then(|n| reader.string(n, &path("interface"))).filter(|s| !s.is_empty());
    peer.vrf = spec.get("vrf").and_then(|n| reader.string(n, &path("vrf"))).filter(|s| !s.is_empty());
    peer.multihop =
        spec.get("ebgpMultiHop").and_then(|n| reader.boolean(n, &path("ebgpMultiHop"))).unwrap_or(false);
    peer.profile = spec
        .get("bfdProfile")
        .and_then(|node| Some((reader.string(node, &path("bfdProfile"))?, node.line)))
        .filter(|(name, _)| !name.is_empty());
    if let Some(node) = spec.get("nodeSelectors") {
        peer.selectors = read_selectors(reader, node, &path("nodeSelectors"));
    }

    peer.peer_line = spec.get("peerAddress").map_or(spec.line, |node| node.line);
    match spec.get("peerAddress") {
        Some(node) => peer.peer = reader.address(node, &path("peerAddress")),
        // v1beta2: an unnumbered peer, over `interface`.
        None if peer.interface.is_some() => {
            if let Some((_, line)) = &peer.profile {
                let reason = "BFD needs the peer's address: give peerAddress (the peer's link-local address \
                              on spec.interface) as well; unnumbered BFD sessions are not supported";
                reader.error(*line, &path("bfdProfile"), Reason::Invalid(reason.into()));
            }
        }
        None => reader.error(spec.line, &path("peerAddress"), Reason::Missing),
    }
    if let Some(node) = spec.get("sourceAddress") {
        peer.local = reader.address(node, &path("sourceAddress"));
        if let (Some(local), Some(remote)) = (peer.local, peer.peer)
            && local.is_ipv4() != remote.is_ipv4()
        {
            let reason = format!("{local} and peerAddress {remote} are not of the same address family");
            reader.error(node.line, &path("sourceAddress"), Reason::Invalid(reason));
        }
    }
    if let (Some(IpAddr::V6(remote)), Some(_), None, false) =
        (peer.peer, &peer.profile, &peer.interface, peer.multihop)
        && remote.is_unicast_link_local()
    {
        let line = peer.peer_line;
        let reason = format!(
            "{remote} is link-local: a single-hop BFD session with it needs spec.interface, since \
             link-local addresses are unique only on their link"
        );
        reader.error(line, &path("peerAddress"), Reason::Invalid(reason));
    }
}
