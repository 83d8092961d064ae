//! One test per rule, on in-memory files.

use std::net::IpAddr;
use std::time::Duration;

use bfd_session::{Detection, EchoConfig};

use super::*;
use crate::fastpath::AttachMode;

fn sources(files: &[(&str, &str)]) -> Vec<Source> {
    files.iter().map(|&(name, text)| (PathBuf::from(name), Ok(text.to_owned()))).collect()
}

fn load_texts(files: &[(&str, &str)]) -> Result<AgentConfig, ConfigErrors> {
    load_sources(sources(files), &NodeOverrides::default())
}

fn load_one(text: &str) -> Result<AgentConfig, ConfigErrors> {
    load_texts(&[("c.yaml", text)])
}

/// The errors of `text` (file `c.yaml`) as lines.
fn errors(text: &str) -> Vec<String> {
    errors_of(&[("c.yaml", text)])
}

fn errors_of(files: &[(&str, &str)]) -> Vec<String> {
    match load_texts(files) {
        Ok(config) => panic!("expected errors, loaded {config:#?}"),
        Err(errors) => errors.errors().iter().map(ToString::to_string).collect(),
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

const PROFILE_FAST: &str = "\
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata:
  name: fast
  namespace: metallb-system
spec:
  receiveInterval: 50
  transmitInterval: 60
  detectMultiplier: 4
  echoMode: true
  echoInterval: 20
";

fn peer(name: &str, address: &str, profile: &str) -> String {
    format!(
        "apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: {name}
  namespace: metallb-system
spec:
  myASN: 64500
  peerASN: 64501
  peerAddress: {address}
  bfdProfile: {profile}
"
    )
}

#[test]
fn a_profile_becomes_the_session_configuration() {
    let text = format!("{PROFILE_FAST}---\n{}", peer("a", "10.0.0.1", "fast"));
    let config = load_one(&text).unwrap();
    assert_eq!(config.peers.len(), 1);
    let spec = &config.peers[0];
    assert_eq!(spec.peer, ip("10.0.0.1"));
    assert_eq!((spec.local, spec.multihop, spec.min_ttl), (None, false, 255));
    assert_eq!(spec.profile, "fast");
    assert_eq!(spec.source.to_string(), "BGPPeer metallb-system/a");
    assert_eq!((spec.source.position, spec.source.line), (2, 13));
    let session = &spec.session;
    assert_eq!(session.desired_min_tx, Duration::from_millis(60));
    assert_eq!(session.required_min_rx, Duration::from_millis(50));
    assert_eq!(session.detect_mult, 4);
    assert!(!session.passive && !session.multihop && !session.demand);
    assert_eq!(
        session.echo,
        EchoConfig {
            transmit: true,
            desired_min_tx: Duration::from_millis(20),
            required_min_rx: Duration::from_millis(20)
        }
    );
    assert_eq!(session.detection, Detection::default());
}

#[test]
fn metallb_defaults_apply() {
    let text = format!(
        "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata:\n  name: plain\n---\n{}",
        peer("a", "10.0.0.1", "plain")
    );
    let config = load_one(&text).unwrap();
    let profile = &config.profiles[0];
    assert_eq!(profile.namespace, "metallb-system", "a missing namespace is metallb-system");
    assert_eq!(
        (profile.receive_interval, profile.transmit_interval, profile.echo_interval),
        (Duration::from_millis(300), Duration::from_millis(300), Duration::from_millis(50))
    );
    assert_eq!((profile.detect_multiplier, profile.minimum_ttl), (3, 254));
    assert!(!profile.echo_mode && !profile.passive_mode);
    let session = &config.peers[0].session;
    assert_eq!(session.echo, EchoConfig { transmit: false, ..EchoConfig::default() });
    assert_eq!(session.desired_min_tx, Duration::from_millis(300));
}

#[test]
fn multihop_takes_minimum_ttl_and_advertises_no_echo() {
    let text = format!(
        "apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {{name: mh}}
spec: {{minimumTtl: 250, passiveMode: true}}
---
{}  ebgpMultiHop: true
  sourceAddress: 10.1.0.2
",
        peer("a", "10.0.0.1", "mh")
    );
    let config = load_one(&text).unwrap();
    let spec = &config.peers[0];
    assert!(spec.multihop && spec.session.multihop && spec.session.passive);
    assert_eq!(spec.min_ttl, 250);
    assert_eq!(spec.local, Some(ip("10.1.0.2")));
    assert_eq!(spec.session.echo.required_min_rx, Duration::ZERO);
    assert!(!spec.session.echo.transmit);
}

#[test]
fn strings_give_microsecond_intervals() {
    let text = format!(
        "apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {{name: bench}}
spec:
  transmitInterval: 3300us
  receiveInterval: \"3.3ms\"
  echoInterval: 1ms
---
{}",
        peer("a", "10.0.0.1", "bench")
    );
    let session = load_one(&text).unwrap().peers[0].session;
    assert_eq!(session.desired_min_tx, Duration::from_micros(3300));
    assert_eq!(session.required_min_rx, Duration::from_micros(3300));
    assert_eq!(session.echo.desired_min_tx, Duration::from_millis(1));
}

#[test]
fn other_kinds_are_skipped_and_empty_documents_ignored() {
    let text = format!(
        "---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: pool}}
spec: {{addresses: [192.168.10.0/24]}}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: adv}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: whatever}}
data: {{anything: goes}}
---
{PROFILE_FAST}---
"
    );
    let config = load_one(&text).unwrap();
    let skipped: Vec<String> = config.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(
        skipped,
        ["IPAddressPool metallb-system/pool", "BGPAdvertisement metallb-system/adv", "ConfigMap whatever"]
    );
    assert_eq!(config.profiles.len(), 1);
    assert!(config.peers.is_empty());
}

#[test]
fn kubectl_lists_are_read_item_by_item() {
    let text = "apiVersion: v1
kind: List
items:
- apiVersion: metallb.io/v1beta1
  kind: BFDProfile
  metadata: {name: fast, namespace: metallb-system, uid: 1234, resourceVersion: \"5\"}
  spec: {receiveInterval: 50}
  status: {}
- apiVersion: metallb.io/v1beta2
  kind: BGPPeer
  metadata: {name: a, namespace: metallb-system}
  spec: {myASN: 1, peerASN: 2, peerAddress: 10.0.0.1, bfdProfile: fast, holdTime: 90s}
- apiVersion: metallb.io/v1beta2
  kind: BGPPeer
  metadata: {namespace: metallb-system}
  spec: {peerAddress: 10.0.0.2, bfdProfile: fast}
";
    assert_eq!(
        errors(text),
        ["c.yaml:15: BGPPeer (document 1, items[2]): metadata.name: missing (required)"]
    );
    let config = load_one(&text.replace("metadata: {namespace", "metadata: {name: b, namespace")).unwrap();
    assert_eq!(config.peers.len(), 2);
    assert_eq!(config.peers[1].source.item, Some(2));
}

#[test]
fn unknown_api_versions_of_known_kinds() {
    let text = format!(
        "{}---\n{}---\napiVersion: bfd-xdp.io/v1\nkind: BFDAgentConfig\n",
        PROFILE_FAST.replace("v1beta1", "v1beta2"),
        peer("a", "10.0.0.1", "fast").replace("metallb.io/v1beta2", "metalb.io/v1beta2"),
    );
    assert_eq!(
        errors(&text),
        [
            "c.yaml:1: BFDProfile metallb-system/fast: apiVersion: unknown apiVersion \"metallb.io/v1beta2\" for \
             BFDProfile (expected metallb.io/v1beta1)",
            "c.yaml:13: BGPPeer metallb-system/a: apiVersion: unknown apiVersion \"metalb.io/v1beta2\" for BGPPeer \
             (expected metallb.io/v1beta1 or metallb.io/v1beta2)",
            "c.yaml:24: BFDAgentConfig (document 3): apiVersion: unknown apiVersion \"bfd-xdp.io/v1\" for \
             BFDAgentConfig (expected bfd-xdp.io/v1alpha1)",
        ]
    );
}

#[test]
fn peer_addresses() {
    let text = format!(
        "{PROFILE_FAST}---\n{}---\n{}---\n{}  sourceAddress: 10.0.0.2\n---\n{}  sourceAddress: 10.0.0.300\n",
        peer("missing", "10.0.0.1", "fast").replace("  peerAddress: 10.0.0.1\n", ""),
        peer("invalid", "10.0.0.256", "fast"),
        peer("family", "2001:db8::1", "fast"),
        peer("source", "10.0.0.1", "fast"),
    );
    assert_eq!(
        errors(&text),
        [
            "c.yaml:19: BGPPeer metallb-system/missing: spec.peerAddress: missing (required)",
            "c.yaml:31: BGPPeer metallb-system/invalid: spec.peerAddress: \"10.0.0.256\" is not an IP address",
            "c.yaml:44: BGPPeer metallb-system/family: spec.sourceAddress: 10.0.0.2 and peerAddress 2001:db8::1 \
             are not of the same address family",
            "c.yaml:56: BGPPeer metallb-system/source: spec.sourceAddress: \"10.0.0.300\" is not an IP address",
        ]
    );
}

#[test]
fn profile_references() {
    let other_namespace = PROFILE_FAST.replace("namespace: metallb-system", "namespace: other");
    let text = format!(
        "{other_namespace}---\n{}---\n{}",
        peer("a", "10.0.0.1", "fast"),
        peer("b", "10.0.0.2", "slow")
    );
    assert_eq!(
        errors(&text),
        [
            "c.yaml:22: BGPPeer metallb-system/a: spec.bfdProfile: no BFDProfile named \"fast\" in namespace \
             metallb-system, only in other: a profile must be in the namespace of its peers",
            "c.yaml:33: BGPPeer metallb-system/b: spec.bfdProfile: no BFDProfile named \"slow\" in namespace \
             metallb-system",
        ]
    );
    // A missing namespace is metallb-system, on either side.
    let both_default = format!(
        "{}---\n{}",
        PROFILE_FAST.replace("  namespace: metallb-system\n", ""),
        peer("a", "10.0.0.1", "fast").replace("  namespace: metallb-system\n", "")
    );
    assert_eq!(load_one(&both_default).unwrap().peers.len(), 1);
}

#[test]
fn profiles_across_files() {
    let config =
        load_texts(&[("peers.yaml", &peer("a", "10.0.0.1", "fast")), ("profiles.yaml", PROFILE_FAST)]);
    assert_eq!(config.unwrap().peers.len(), 1);
}

#[test]
fn values_out_of_range_or_of_the_wrong_type_all_reported() {
    let text = "apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: bad}
spec:
  receiveInterval: 5
  transmitInterval: 60001
  detectMultiplier: 1
  echoInterval: \"500us\"
  minimumTtl: 255
  echoMode: \"yes\"
  passiveMode: 1
";
    assert_eq!(
        errors(text),
        [
            "c.yaml:5: BFDProfile metallb-system/bad: spec.receiveInterval: 5 is out of range (allowed: 10 to \
             60000 milliseconds; for less, write a string with a unit, e.g. \"3300us\" or \"3.3ms\")",
            "c.yaml:6: BFDProfile metallb-system/bad: spec.transmitInterval: 60001 is out of range (allowed: 10 \
             to 60000 milliseconds; for less, write a string with a unit, e.g. \"3300us\" or \"3.3ms\")",
            "c.yaml:7: BFDProfile metallb-system/bad: spec.detectMultiplier: 1 is out of range (allowed: 2 to 255)",
            "c.yaml:8: BFDProfile metallb-system/bad: spec.echoInterval: \"500us\" is out of range (allowed: 1ms \
             to 60s)",
            "c.yaml:9: BFDProfile metallb-system/bad: spec.minimumTtl: 255 is out of range (allowed: 1 to 254)",
            "c.yaml:10: BFDProfile metallb-system/bad: spec.echoMode: expected a boolean (true or false), found a \
             string",
            "c.yaml:11: BFDProfile metallb-system/bad: spec.passiveMode: expected a boolean (true or false), found \
             an integer",
        ]
    );
}

#[test]
fn a_peer_of_an_invalid_profile_reports_nothing_more() {
    let text = format!(
        "{}---\n{}",
        PROFILE_FAST.replace("detectMultiplier: 4", "detectMultiplier: 0"),
        peer("a", "10.0.0.1", "fast")
    );
    assert_eq!(errors(&text).len(), 1);
}

#[test]
fn echo_mode_on_a_multihop_peer() {
    let text = format!("{PROFILE_FAST}---\n{}  ebgpMultiHop: true\n", peer("a", "10.0.0.1", "fast"));
    assert_eq!(
        errors(&text),
        [
            "c.yaml:22: BGPPeer metallb-system/a: spec.bfdProfile: BFDProfile \"fast\" has echoMode: true, which a \
          multihop peer (ebgpMultiHop: true) cannot use: the Echo function is single-hop only (RFC 5883)"
        ]
    );
}

#[test]
fn duplicate_objects() {
    let text = format!("{PROFILE_FAST}---\n{PROFILE_FAST}");
    assert_eq!(
        errors(&text),
        [
            "c.yaml:13: BFDProfile metallb-system/fast: metadata.name: a second BFDProfile metallb-system/fast (the \
          first is c.yaml:1)"
        ]
    );
    let same_name_elsewhere =
        format!("{PROFILE_FAST}---\n{}", PROFILE_FAST.replace("metallb-system", "other"));
    assert_eq!(load_one(&same_name_elsewhere).unwrap().profiles.len(), 2);

    let text =
        format!("{PROFILE_FAST}---\n{}---\n{}", peer("a", "10.0.0.1", "fast"), peer("a", "10.0.0.2", "fast"));
    assert_eq!(
        errors(&text),
        [
            "c.yaml:24: BGPPeer metallb-system/a: metadata.name: a second BGPPeer metallb-system/a (the first is \
          c.yaml:13)"
        ]
    );

    let agent = "apiVersion: bfd-xdp.io/v1alpha1\nkind: BFDAgentConfig\nmetadata: {name: node}\n";
    assert_eq!(
        errors_of(&[("a.yaml", agent), ("b.yaml", &format!("---\n{agent}"))]),
        [
            "b.yaml:2: BFDAgentConfig node: a second BFDAgentConfig (the first is a.yaml:1): at most one is allowed"
        ]
    );
}

/// The kernel's maps hold MAX_SESSIONS sessions: one more selected is an
/// error at the first peer past them (the agent would refuse it running).
#[test]
fn more_sessions_than_the_kernel_maps_hold() {
    let peers = |count: usize| -> String {
        (0..count)
            .map(|i| peer(&format!("p{i}"), &format!("10.{}.{}.1", i / 256, i % 256), "fast"))
            .collect::<Vec<_>>()
            .join("---\n")
    };
    let full = format!("{PROFILE_FAST}---\n{}", peers(MAX_SESSIONS));
    assert_eq!(load_one(&full).expect("at capacity").peers.len(), MAX_SESSIONS);
    let past = format!("{PROFILE_FAST}---\n{}", peers(MAX_SESSIONS + 1));
    let errors = errors(&past);
    assert_eq!(errors.len(), 1, "{errors:?}");
    // The profile takes 12 lines with its separator, each peer 11, and
    // `bfdProfile` is a peer's 10th line.
    let line = 12 + MAX_SESSIONS * 11 + 10;
    assert_eq!(
        errors[0],
        format!(
            "c.yaml:{line}: BGPPeer metallb-system/p{MAX_SESSIONS}: spec.bfdProfile: session {} of the {} selected \
             for this node: the kernel's maps hold at most {MAX_SESSIONS} (bfd_common::maps::MAX_SESSIONS); select \
             fewer peers for this node",
            MAX_SESSIONS + 1,
            MAX_SESSIONS + 1
        )
    );
}

#[test]
fn two_peers_with_one_session_identity() {
    let text =
        format!("{PROFILE_FAST}---\n{}---\n{}", peer("a", "10.0.0.1", "fast"), peer("b", "10.0.0.1", "fast"));
    assert_eq!(
        errors(&text),
        ["c.yaml:32: BGPPeer metallb-system/b: spec.peerAddress: the same BFD session (peer 10.0.0.1) as \
          c.yaml:13: BGPPeer metallb-system/a"]
    );
    // A different source address, VRF or interface is another session.
    let text = format!(
        "{PROFILE_FAST}---\n{}---\n{}  vrf: red\n---\n{}  sourceAddress: 10.0.0.9\n",
        peer("a", "10.0.0.1", "fast"),
        peer("b", "10.0.0.1", "fast"),
        peer("c", "10.0.0.1", "fast"),
    );
    let config = load_one(&text).unwrap();
    let keys: Vec<String> = config.peers.iter().map(|peer| peer.key().to_string()).collect();
    assert_eq!(keys, ["peer 10.0.0.1", "peer 10.0.0.1 vrf red", "peer 10.0.0.1 local-address 10.0.0.9"]);
}

#[test]
fn unknown_fields() {
    let text = format!(
        "{}  recieveInterval: 50\n---\n{}  bfdprofile: fast\n  someFutureField: 1\n---\n{}  vrf: red\n---
apiVersion: bfd-xdp.io/v1alpha1
kind: BFDAgentConfig
sepc: {{}}
spec:
  interface: [eth0]
",
        PROFILE_FAST,
        peer("a", "10.0.0.1", "fast"),
        peer("b", "10.0.0.2", "fast").replace("v1beta2", "v1beta1"),
    );
    assert_eq!(
        errors(&text),
        [
            "c.yaml:12: BFDProfile metallb-system/fast: spec.recieveInterval: unknown field (did you mean \
             receiveInterval?)",
            "c.yaml:24: BGPPeer metallb-system/a: spec.bfdprofile: unknown field (did you mean bfdProfile?)",
            "c.yaml:25: BGPPeer metallb-system/a: spec.someFutureField: unknown field",
            "c.yaml:37: BGPPeer metallb-system/b: spec.vrf: not a field of metallb.io/v1beta1 BGPPeer (it is one \
             of metallb.io/v1beta2)",
            "c.yaml:41: BFDAgentConfig (document 4): sepc: unknown field (did you mean spec?)",
            "c.yaml:43: BFDAgentConfig (document 4): spec.interface: unknown field (did you mean interfaces?)",
        ]
    );
}

#[test]
fn bgp_fields_are_accepted_and_ignored() {
    let text = format!(
        "{PROFILE_FAST}---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: full}}
spec:
  myASN: 64500
  peerASN: 64501
  localASN: 64502
  peerAddress: 10.0.0.1
  peerPort: 180
  holdTime: 90s
  keepaliveTime: 30s
  connectTime: 5s
  routerID: 10.10.10.10
  password: secret
  passwordSecret: {{name: s, namespace: metallb-system}}
  enableGracefulRestart: true
  disableMP: false
  dualStackAddressFamily: false
  bfdProfile: fast
  dynamicASN: external
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: no-bfd}}
spec: {{myASN: 1, peerASN: 2, peerAddress: 10.0.0.9}}
"
    );
    let config = load_one(&text).unwrap();
    assert_eq!(config.peers.len(), 1);
    assert_eq!(config.unused_peers.len(), 1);
    assert_eq!(config.unused_peers[0].reason, UnusedReason::NoBfdProfile);
}

#[test]
fn yaml_syntax_errors_have_a_line_and_the_rest_is_still_checked() {
    let broken = format!("{}---\nkind: BGPPeer\nspec: [unclosed\n", PROFILE_FAST.replace("fast", "other"));
    let peers = peer("a", "10.0.0.1", "missing-but-maybe-in-the-broken-file")
        + "---\n"
        + &PROFILE_FAST.replace("detectMultiplier: 4", "detectMultiplier: 1");
    let errors = errors_of(&[("broken.yaml", &broken), ("peers.yaml", &peers)]);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert_eq!(
        errors[0],
        "broken.yaml:15: YAML syntax error at column 1: while parsing a flow sequence, expected ',' or ']'"
    );
    assert!(errors[1].starts_with("peers.yaml:20: BFDProfile metallb-system/fast: spec.detectMultiplier: "));
}

#[test]
fn unreadable_files_and_non_objects() {
    let errors = load_sources(
        vec![(PathBuf::from("gone.yaml"), Err("No such file or directory (os error 2)".into()))],
        &NodeOverrides::default(),
    )
    .unwrap_err();
    assert_eq!(errors.to_string(), "gone.yaml: cannot read: No such file or directory (os error 2)");
    assert_eq!(
        self::errors("- a\n- b\n---\nname: x\n"),
        [
            "c.yaml:1: document 1: not a Kubernetes object: expected a mapping with apiVersion and kind, found a list",
            "c.yaml:4: document 2: kind: missing (required)",
        ]
    );
}

#[test]
fn load_reads_files_and_directories() {
    let directory = tempfile::tempdir().unwrap();
    std::fs::write(directory.path().join("b-peers.yaml"), peer("a", "10.0.0.1", "fast")).unwrap();
    std::fs::write(directory.path().join("a-profiles.yml"), PROFILE_FAST).unwrap();
    std::fs::write(directory.path().join(".hidden.yaml"), "not: [valid").unwrap();
    std::fs::write(directory.path().join("notes.txt"), "not: [valid").unwrap();
    let config = load(&[directory.path().to_owned()]).unwrap();
    assert_eq!(config.peers.len(), 1);
    let names: Vec<_> = config.files.iter().map(|f| f.file_name().unwrap().to_str().unwrap()).collect();
    assert_eq!(names, ["a-profiles.yml", "b-peers.yaml"]);

    let missing = directory.path().join("missing.yaml");
    let error = load(std::slice::from_ref(&missing)).unwrap_err().to_string();
    assert!(error.starts_with(&format!("{}: cannot read: ", missing.display())), "{error}");
}

const AGENT: &str = "apiVersion: bfd-xdp.io/v1alpha1
kind: BFDAgentConfig
metadata: {name: node-a}
spec:
  nodeName: node-a
  nodeLabels: {rack: r1, zone: a}
  interfaces: [eth0, eth1]
  pinPath: /sys/fs/bpf/bfd-a
  controlSocket: /run/bfd-agent/a.sock
  rtPriority: 50
  noXdp: false
  xdpMode: generic
";

#[test]
fn agent_config_and_overrides() {
    let config = load_one(AGENT).unwrap();
    let node = &config.node;
    assert_eq!(node.node_name.as_deref(), Some("node-a"));
    assert_eq!(node.node_labels.len(), 2);
    assert_eq!(node.interfaces, ["eth0", "eth1"]);
    assert_eq!(node.pin_path, PathBuf::from("/sys/fs/bpf/bfd-a"));
    assert_eq!(node.control_socket, Some(PathBuf::from("/run/bfd-agent/a.sock")));
    assert_eq!((node.rt_priority, node.no_xdp, node.xdp_mode), (Some(50), false, AttachMode::Generic));
    assert_eq!(node.source.as_ref().unwrap().to_string(), "BFDAgentConfig node-a");

    let overrides = NodeOverrides { rt_priority: Some(10), no_xdp: Some(true), ..NodeOverrides::default() };
    let config = load_sources(sources(&[("c.yaml", AGENT)]), &overrides).unwrap();
    assert_eq!((config.node.rt_priority, config.node.no_xdp), (Some(10), true));

    let defaults = load_one("").unwrap().node;
    assert_eq!(defaults, NodeSettings::default());
    assert_eq!(defaults.pin_path, PathBuf::from("/sys/fs/bpf/bfd"));

    let bad = "apiVersion: bfd-xdp.io/v1alpha1
kind: BFDAgentConfig
spec:
  interfaces: [eth0, eth0, \"a/b\"]
  pinPath: relative/dir
  rtPriority: 100
  xdpMode: fast
";
    assert_eq!(
        errors(bad),
        [
            "c.yaml:4: BFDAgentConfig (document 1): spec.interfaces[1]: eth0 is listed twice",
            "c.yaml:4: BFDAgentConfig (document 1): spec.interfaces[2]: \"a/b\" is not an interface name (1 to 15 \
             bytes, no '/', ':' or spaces)",
            "c.yaml:5: BFDAgentConfig (document 1): spec.pinPath: \"relative/dir\" is not an absolute path",
            "c.yaml:6: BFDAgentConfig (document 1): spec.rtPriority: 100 is out of range (allowed: 1 to 99)",
            "c.yaml:7: BFDAgentConfig (document 1): spec.xdpMode: \"fast\" is not an XDP mode: use auto, native or \
             generic",
        ]
    );
}

#[test]
fn metrics_address_and_compat() {
    let agent = |spec: &str| {
        format!("apiVersion: bfd-xdp.io/v1alpha1\nkind: BFDAgentConfig\nmetadata: {{name: n}}\nspec:\n{spec}")
    };
    let node = load_one(&agent(
        "  metrics:\n    address: \"[::1]:9100\"\n    compat: metallb\n    histograms: aggregate\n",
    ))
    .unwrap()
    .node;
    assert_eq!(node.metrics.address, Some("[::1]:9100".parse().unwrap()));
    assert_eq!(node.metrics.compat, crate::metrics::Compat::MetalLb);
    assert_eq!(node.metrics.histograms, crate::metrics::Histograms::Aggregate);
    for (text, histograms) in [
        ("per-session", crate::metrics::Histograms::PerSession),
        ("aggregate", crate::metrics::Histograms::Aggregate),
        ("off", crate::metrics::Histograms::Off),
    ] {
        let node = load_one(&agent(&format!("  metrics: {{histograms: {text}}}\n"))).unwrap().node;
        assert_eq!(node.metrics.histograms, histograms, "{text}");
    }
    let off = load_one(&agent("  metrics: {address: none}\n")).unwrap().node;
    assert_eq!((off.metrics.address, off.metrics.compat), (None, crate::metrics::Compat::None));
    // Without the field: the default, on loopback.
    let default = load_one(&agent("  noXdp: true\n")).unwrap().node;
    assert_eq!(default.metrics, MetricsSettings::default());
    // Bad input names the file, the field and the reason, every one.
    let bad = agent(
        "  metrics:\n    address: 127.0.0.1\n    compat: prometheus\n    port: 9100\n    histograms: summed\n",
    );
    assert_eq!(
        errors(&bad),
        [
            "c.yaml:6: BFDAgentConfig n: spec.metrics.address: \"127.0.0.1\" is not IP:PORT (for \
             example 127.0.0.1:9784 or [::1]:9784) or \"none\"",
            "c.yaml:7: BFDAgentConfig n: spec.metrics.compat: unknown metrics compatibility \
             \"prometheus\": expected \"metallb\" or \"none\"",
            "c.yaml:8: BFDAgentConfig n: spec.metrics.port: unknown field",
            "c.yaml:9: BFDAgentConfig n: spec.metrics.histograms: unknown histogram mode \"summed\": \
             expected \"per-session\", \"aggregate\" or \"off\"",
        ]
    );
    assert_eq!(
        errors(&agent("  metrics: {histograms: [off]}\n")),
        ["c.yaml:5: BFDAgentConfig n: spec.metrics.histograms: expected a string, found a list"]
    );
    assert_eq!(
        errors(&agent("  metrics: 9100\n")),
        ["c.yaml:5: BFDAgentConfig n: spec.metrics: expected a mapping, found an integer"]
    );
}

#[test]
fn rt_deadline_is_a_budget_and_excludes_rt_priority() {
    let agent = |spec: &str| {
        format!("apiVersion: bfd-xdp.io/v1alpha1\nkind: BFDAgentConfig\nmetadata: {{name: n}}\nspec:\n{spec}")
    };
    let node = load_one(&agent("  rtDeadline: 250us/1ms\n")).unwrap().node;
    assert_eq!(node.engine_scheduling().to_string(), "SCHED_DEADLINE 250us/1ms");
    assert_eq!(node.rt_priority, None);
    // Quoted or not, the same string.
    assert_eq!(load_one(&agent("  rtDeadline: '250us/1ms'\n")).unwrap().node, node);
    assert_eq!(
        errors(&agent("  rtPriority: 50\n  rtDeadline: 250us/1ms\n")),
        ["c.yaml:6: BFDAgentConfig n: spec.rtDeadline: rtPriority is set too: the engine thread takes \
          one policy, SCHED_FIFO (rtPriority) or SCHED_DEADLINE (rtDeadline)"]
    );
    assert_eq!(
        errors(&agent("  rtDeadline: 2ms/1ms\n")),
        ["c.yaml:5: BFDAgentConfig n: spec.rtDeadline: \"2ms/1ms\": the runtime must be 10us to the \
          period"]
    );
    assert_eq!(
        errors(&agent("  rtDeadline: 300us\n")),
        ["c.yaml:5: BFDAgentConfig n: spec.rtDeadline: \"300us\" is not RUNTIME/PERIOD (for example \
          300us/1ms)"]
    );
    // The command line's policy replaces the file's, whichever it is.
    let file = agent("  rtPriority: 50\n");
    let budget = parse_rt_deadline("100us/500us").unwrap();
    let overrides = NodeOverrides { rt_deadline: Some(budget), ..NodeOverrides::default() };
    let config = load_sources(sources(&[("c.yaml", &file)]), &overrides).unwrap();
    assert_eq!(config.node.engine_scheduling(), EngineScheduling::Deadline(budget));
}

#[test]
fn node_selectors_choose_the_peers_of_this_node() {
    let selected = |selectors: &str, overrides: &NodeOverrides| -> bool {
        let text =
            format!("{PROFILE_FAST}---\n{}  nodeSelectors:\n{selectors}", peer("a", "10.0.0.1", "fast"));
        let config = load_sources(sources(&[("c.yaml", &text), ("agent.yaml", AGENT)]), overrides).unwrap();
        assert_eq!(config.peers.len() + config.unused_peers.len(), 1);
        config.peers.len() == 1
    };
    let none = NodeOverrides::default();
    assert!(selected("  - matchLabels: {rack: r1}\n", &none));
    assert!(!selected("  - matchLabels: {rack: r2}\n", &none));
    assert!(selected("  - matchLabels: {rack: r2}\n  - matchLabels: {zone: a}\n", &none), "any selector");
    assert!(selected("  - matchLabels: {kubernetes.io/hostname: node-a}\n", &none), "from nodeName");
    assert!(selected("  - matchExpressions: [{key: zone, operator: In, values: [a, b]}]\n", &none));
    assert!(!selected("  - matchExpressions: [{key: rack, operator: DoesNotExist}]\n", &none));
    assert!(selected("  - {}\n", &none), "an empty selector selects every node");
    let relabelled = NodeOverrides {
        node_labels: Some([("rack".into(), "r2".into())].into()),
        ..NodeOverrides::default()
    };
    assert!(selected("  - matchLabels: {rack: r2}\n", &relabelled), "--node-label selects");

    let bad = format!(
        "{PROFILE_FAST}---\n{}  nodeSelectors:
  - matchExpressions:
    - {{key: zone, operator: in, values: [a]}}
    - {{key: zone, operator: In}}
    - {{key: zone, operator: Exists, values: [a]}}
    matchLabel: {{rack: r1}}
",
        peer("a", "10.0.0.1", "fast")
    );
    assert_eq!(
        errors(&bad),
        [
            "c.yaml:25: BGPPeer metallb-system/a: spec.nodeSelectors[0].matchExpressions[0].operator: \"in\" is \
             not an operator: use In, NotIn, Exists or DoesNotExist",
            "c.yaml:26: BGPPeer metallb-system/a: spec.nodeSelectors[0].matchExpressions[1].values: In and NotIn \
             need at least one value",
            "c.yaml:27: BGPPeer metallb-system/a: spec.nodeSelectors[0].matchExpressions[2].values: Exists and \
             DoesNotExist take no values",
            "c.yaml:28: BGPPeer metallb-system/a: spec.nodeSelectors[0].matchLabel: unknown field (did you mean \
             matchLabels?)",
        ]
    );
}

#[test]
fn interfaces_and_link_local_peers() {
    let text = format!(
        "{PROFILE_FAST}---\n{}---\n{}  interface: eth0\n---\n{}",
        peer("ll", "fe80::1", "fast"),
        peer("ll-eth0", "fe80::1", "fast"),
        peer("unnumbered", "x", "fast").replace("  peerAddress: x\n", "  interface: eth1\n"),
    );
    assert_eq!(
        errors(&text),
        [
            "c.yaml:21: BGPPeer metallb-system/ll: spec.peerAddress: fe80::1 is link-local: a single-hop BFD \
             session with it needs spec.interface, since link-local addresses are unique only on their link",
            "c.yaml:45: BGPPeer metallb-system/unnumbered: spec.bfdProfile: BFD needs the peer's address: give \
             peerAddress (the peer's link-local address on spec.interface) as well; unnumbered BFD sessions are \
             not supported",
        ]
    );
    let text = format!("{PROFILE_FAST}---\n{}  interface: eth0\n  vrf: red\n", peer("ll", "fe80::1", "fast"));
    let spec = &load_one(&text).unwrap().peers[0];
    assert_eq!(spec.key().to_string(), "peer fe80::1 vrf red interface eth0");
    // Unnumbered BGP without BFD is none of our business.
    let text = peer("unnumbered", "x", "").replace("  peerAddress: x\n", "  interface: eth1\n");
    assert_eq!(load_one(&text).unwrap().unused_peers.len(), 1);
}

#[test]
fn errors_are_in_file_then_line_order() {
    let a = format!("{}---\n{}", peer("x", "10.0.0.1", "nope"), PROFILE_FAST.replace("50", "5"));
    let b = PROFILE_FAST.replace("detectMultiplier: 4", "detectMultiplier: x");
    let errors = errors_of(&[("a.yaml", &a), ("b.yaml", &b)]);
    let places: Vec<&str> = errors.iter().map(|e| e.split(": ").next().unwrap()).collect();
    assert_eq!(places, ["a.yaml:10", "a.yaml:18", "b.yaml:1", "b.yaml:9"], "{errors:#?}");
}

fn three_peers(fast_tx: u32) -> AgentConfig {
    let text = format!(
        "{}---\napiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {{name: slow}}\n---\n{}---\n{}---\n{}",
        PROFILE_FAST.replace("transmitInterval: 60", &format!("transmitInterval: {fast_tx}")),
        peer("a", "10.0.0.1", "fast"),
        peer("b", "10.0.0.2", "slow"),
        peer("c", "10.0.0.3", "fast"),
    );
    load_one(&text).unwrap()
}

#[test]
fn reload_changes_only_the_peers_of_a_changed_profile() {
    let old = three_peers(60);
    let new = three_peers(70);
    let changes = diff(&old, &new);
    let addresses = |peers: &[PeerSpec]| peers.iter().map(|peer| peer.peer.to_string()).collect::<Vec<_>>();
    assert_eq!(addresses(&changes.unchanged), ["10.0.0.2"]);
    let changed: Vec<_> =
        changes.changed.iter().map(|(old, new)| (old.peer.to_string(), new.peer.to_string())).collect();
    assert_eq!(changed, [("10.0.0.1".into(), "10.0.0.1".into()), ("10.0.0.3".into(), "10.0.0.3".into())]);
    assert_eq!(changes.changed[0].0.session.desired_min_tx, Duration::from_millis(60));
    assert_eq!(changes.changed[0].1.session.desired_min_tx, Duration::from_millis(70));
    assert!(changes.added.is_empty() && changes.removed.is_empty() && changes.node_changes.is_empty());

    let same = diff(&old, &three_peers(60));
    assert_eq!(same.unchanged.len(), 3);
    assert!(same.is_empty());
}

#[test]
fn reload_adds_and_removes_by_identity() {
    let old = three_peers(60);
    let mut new = old.clone();
    new.peers.remove(0);
    let mut moved = new.peers[0].clone();
    moved.local = Some(ip("10.0.0.100"));
    new.peers.push(moved);
    // The agent may have set detection on its copy: not a change.
    new.peers[0].session.detection = Detection::Kernel;
    // A document moved to another file: not a change either.
    new.peers[1].source.file = "elsewhere.yaml".into();
    new.node.interfaces = vec!["eth9".into()];
    let changes = diff(&old, &new);
    let keys = |peers: &[PeerSpec]| peers.iter().map(|peer| peer.key().to_string()).collect::<Vec<_>>();
    assert_eq!(keys(&changes.removed), ["peer 10.0.0.1"]);
    assert_eq!(keys(&changes.added), ["peer 10.0.0.2 local-address 10.0.0.100"]);
    assert_eq!(keys(&changes.unchanged), ["peer 10.0.0.2", "peer 10.0.0.3"]);
    assert!(changes.changed.is_empty());
    assert_eq!(changes.node_changes, ["interfaces"]);

    // Switching a peer to another profile with the same values is a change
    // (what `show` reports as its profile changes).
    let mut renamed = old.clone();
    renamed.peers[0].profile = "other".into();
    assert_eq!(diff(&old, &renamed).changed.len(), 1);
}

#[test]
fn check_summarises_or_lists_errors() {
    let directory = tempfile::tempdir().unwrap();
    let good = directory.path().join("good.yaml");
    let text = format!(
        "{PROFILE_FAST}---\n{}---\n{}  nodeSelectors: [{{matchLabels: {{rack: r9}}}}]\n---\n{}---\n\
         apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: pool}}\n",
        peer("a", "10.0.0.1", "fast"),
        peer("b", "10.0.0.2", "fast"),
        peer("c", "10.0.0.3", ""),
    );
    std::fs::write(&good, text).unwrap();
    let report = check(std::slice::from_ref(&good));
    assert!(report.ok, "{report}");
    let text = report.text.replace(&directory.path().display().to_string(), "DIR");
    assert!(text.starts_with("configuration OK: DIR/good.yaml\n"), "{text}");
    assert!(
        text.contains("read 1 BFDProfile, 3 BGPPeer, 0 BFDAgentConfig, 1 skipped (1 IPAddressPool)"),
        "{text}"
    );
    assert!(text.contains("1 BFD session on this node:"), "{text}");
    assert!(text.contains("10.0.0.1  -      single-hop  fast     60ms  50ms  4     20ms  255"), "{text}");
    assert!(
        text.contains("not here: BGPPeer metallb-system/b (DIR/good.yaml:24): nodeSelectors [rack=r9]"),
        "{text}"
    );
    assert!(text.contains("not here: BGPPeer metallb-system/c (DIR/good.yaml:36): no bfdProfile"), "{text}");

    let bad = directory.path().join("bad.yaml");
    std::fs::write(&bad, peer("a", "10.0.0.1", "fast")).unwrap();
    let report = check(std::slice::from_ref(&bad));
    assert!(!report.ok);
    assert_eq!(
        report.text,
        format!(
            "{}:10: BGPPeer metallb-system/a: spec.bfdProfile: no BFDProfile named \"fast\" in namespace \
             metallb-system\n1 error: the configuration is not valid\n",
            bad.display()
        )
    );
}

#[test]
fn agent_config_hook() {
    let config = load_one(
        "apiVersion: bfd-xdp.io/v1alpha1\nkind: BFDAgentConfig\nmetadata: {name: n}\nspec:\n  hook:\n    \
         command: [/usr/local/bin/bfd-changed, --verbose]\n    timeoutSeconds: 5\n",
    )
    .unwrap();
    let hook = config.node.hook.expect("a hook");
    assert_eq!(hook.command, ["/usr/local/bin/bfd-changed", "--verbose"]);
    assert_eq!(hook.timeout, std::time::Duration::from_secs(5));
    // The default time limit, and the command line replacing the command.
    let config = load_one(
        "apiVersion: bfd-xdp.io/v1alpha1\nkind: BFDAgentConfig\nmetadata: {name: n}\nspec:\n  hook: {command: [/bin/true]}\n",
    )
    .unwrap();
    assert_eq!(config.node.hook.as_ref().unwrap().timeout, DEFAULT_HOOK_TIMEOUT);
    let overrides = NodeOverrides { hook: Some("/bin/echo".into()), ..NodeOverrides::default() };
    let merged = config.node.with_overrides(&overrides);
    assert_eq!(merged.hook.unwrap().command, ["/bin/echo"]);

    let relative = errors(
        "apiVersion: bfd-xdp.io/v1alpha1\nkind: BFDAgentConfig\nmetadata: {name: n}\nspec:\n  hook: {command: [notify.sh]}\n",
    );
    assert!(
        relative[0].contains("spec.hook.command[0]: ") && relative[0].contains("not an absolute path"),
        "{relative:?}"
    );
    let slow = errors(
        "apiVersion: bfd-xdp.io/v1alpha1\nkind: BFDAgentConfig\nmetadata: {name: n}\nspec:\n  hook: {command: [/bin/true], timeoutSeconds: 900}\n",
    );
    assert!(slow[0].contains("spec.hook.timeoutSeconds: "), "{slow:?}");
    let empty = errors(
        "apiVersion: bfd-xdp.io/v1alpha1\nkind: BFDAgentConfig\nmetadata: {name: n}\nspec:\n  hook: {timeoutSeconds: 3}\n",
    );
    assert!(empty[0].contains("spec.hook.command: "), "{empty:?}");
}

#[test]
fn agent_config_routes() {
    let config = load_one(
        "apiVersion: bfd-xdp.io/v1alpha1\nkind: BFDAgentConfig\nmetadata: {name: n}\nspec:\n  routes:\n    \
         tables: [main, 100]\n    protocols: [bgp, static, 17]\n    stateFile: /var/lib/x/routes.json\n",
    )
    .unwrap();
    let routes = config.node.routes.expect("route withdrawal on");
    assert_eq!(routes.tables, [crate::routes::MAIN_TABLE, 100]);
    assert_eq!(routes.protocols, [186, 4, 17]);
    assert_eq!(routes.state_file, std::path::PathBuf::from("/var/lib/x/routes.json"));
    // Off unless configured; `--route-table` turns it on with the default file.
    let plain =
        load_one("apiVersion: bfd-xdp.io/v1alpha1\nkind: BFDAgentConfig\nmetadata: {name: n}\nspec: {}\n")
            .unwrap();
    assert_eq!(plain.node.routes, None);
    let overrides = NodeOverrides { route_tables: Some(vec![200]), ..NodeOverrides::default() };
    let merged = plain.node.with_overrides(&overrides).routes.unwrap();
    assert_eq!(
        (merged.tables, merged.state_file),
        (vec![200], std::path::PathBuf::from(DEFAULT_ROUTE_STATE_FILE))
    );
    let bad = errors(
        "apiVersion: bfd-xdp.io/v1alpha1\nkind: BFDAgentConfig\nmetadata: {name: n}\nspec:\n  routes: {tables: [mian]}\n",
    );
    assert!(bad[0].contains("spec.routes.tables[0]: ") && bad[0].contains("not a routing table"), "{bad:?}");
    let bad = errors(
        "apiVersion: bfd-xdp.io/v1alpha1\nkind: BFDAgentConfig\nmetadata: {name: n}\nspec:\n  routes: {protocols: [bpg]}\n",
    );
    assert!(
        bad[0].contains("spec.routes.protocols[0]: ") && bad[0].contains("not a route protocol"),
        "{bad:?}"
    );
    // Every protocol unless restricted; `--route-protocol` restricts.
    assert!(merged_protocols_default().is_empty());
}

fn merged_protocols_default() -> Vec<u8> {
    let plain = load_one(
        "apiVersion: bfd-xdp.io/v1alpha1\nkind: BFDAgentConfig\nmetadata: {name: n}\nspec: {routes: {}}\n",
    )
    .unwrap();
    let restricted = plain
        .node
        .clone()
        .with_overrides(&NodeOverrides { route_protocols: Some(vec![186]), ..NodeOverrides::default() });
    assert_eq!(restricted.routes.unwrap().protocols, [186]);
    plain.node.routes.unwrap().protocols
}

#[test]
fn on_stop_is_admin_down_unless_handover_is_asked_for() {
    let agent = |spec: &str| {
        format!("apiVersion: bfd-xdp.io/v1alpha1\nkind: BFDAgentConfig\nmetadata: {{name: n}}\nspec:\n{spec}")
    };
    use crate::config::OnStop;
    assert_eq!(load_one(&agent("  noXdp: false\n")).unwrap().node.on_stop, OnStop::AdminDown);
    assert_eq!(load_one(&agent("  onStop: handover\n")).unwrap().node.on_stop, OnStop::Handover);
    assert_eq!(load_one(&agent("  onStop: admin-down\n")).unwrap().node.on_stop, OnStop::AdminDown);
    assert_eq!(
        errors(&agent("  onStop: sometimes\n")),
        ["c.yaml:5: BFDAgentConfig n: spec.onStop: \"sometimes\" is not a stop mode: use admin-down, \
          handover or auto"]
    );
    assert_eq!(load_one(&agent("  onStop: auto\n")).unwrap().node.on_stop, OnStop::Auto);
    // The flag replaces the file's.
    let node = load_one(&agent("  onStop: handover\n")).unwrap().node;
    let overrides = crate::config::NodeOverrides { on_stop: Some(OnStop::AdminDown), ..Default::default() };
    assert_eq!(node.clone().with_overrides(&overrides).on_stop, OnStop::AdminDown);
    assert_eq!(
        node.with_overrides(&overrides)
            .changed_fields(&load_one(&agent("  onStop: handover\n")).unwrap().node),
        ["onStop"]
    );
}

#[test]
fn transmit_is_udp_unless_the_file_or_the_flag_says_otherwise() {
    let agent = |spec: &str| {
        format!("apiVersion: bfd-xdp.io/v1alpha1\nkind: BFDAgentConfig\nmetadata: {{name: n}}\nspec:\n{spec}")
    };
    use crate::config::TransmitPath;
    assert_eq!(load_one(&agent("  noXdp: false\n")).unwrap().node.transmit, TransmitPath::Udp);
    assert_eq!(crate::config::NodeSettings::default().transmit, TransmitPath::Udp);
    for (text, path) in
        [("udp", TransmitPath::Udp), ("packet", TransmitPath::Packet), ("auto", TransmitPath::Auto)]
    {
        let node = load_one(&agent(&format!("  transmit: {text}\n"))).unwrap().node;
        assert_eq!(node.transmit, path, "{text}");
        assert_eq!(node.transmit.to_string(), text);
        assert_eq!(text.parse::<TransmitPath>(), Ok(path));
    }
    assert_eq!(
        errors(&agent("  transmit: af_xdp\n")),
        [
            "c.yaml:5: BFDAgentConfig n: spec.transmit: \"af_xdp\" is not a transmit path: use udp, packet or auto"
        ]
    );
    // Case matters, as for every other enumerated field.
    assert_eq!(errors(&agent("  transmit: Packet\n")).len(), 1);
    let wrong_type = errors(&agent("  transmit: [packet]\n"));
    assert!(
        wrong_type.len() == 1 && wrong_type[0].starts_with("c.yaml:5: BFDAgentConfig n: spec.transmit: "),
        "{wrong_type:?}"
    );
    // The flag replaces the file's, either way; without it the file's holds.
    let file = load_one(&agent("  transmit: packet\n")).unwrap().node;
    let flag = |path| crate::config::NodeOverrides { transmit: Some(path), ..Default::default() };
    assert_eq!(file.clone().with_overrides(&flag(TransmitPath::Udp)).transmit, TransmitPath::Udp);
    assert_eq!(file.clone().with_overrides(&Default::default()).transmit, TransmitPath::Packet);
    let default = load_one(&agent("  noXdp: false\n")).unwrap().node;
    assert_eq!(default.clone().with_overrides(&flag(TransmitPath::Auto)).transmit, TransmitPath::Auto);
    // A changed transmit path is a node setting that changed: the reload
    // says it waits for a restart.
    assert_eq!(file.changed_fields(&default), ["transmit"]);
    assert_eq!(
        file.clone().with_overrides(&flag(TransmitPath::Udp)).changed_fields(&default),
        Vec::<&str>::new()
    );
}

#[test]
fn keepalive_seconds_bounds_the_kernels_answers() {
    let agent = |spec: &str| {
        format!("apiVersion: bfd-xdp.io/v1alpha1\nkind: BFDAgentConfig\nmetadata: {{name: n}}\nspec:\n{spec}")
    };
    use std::time::Duration;
    assert_eq!(
        load_one(&agent("  noXdp: false\n")).unwrap().node.keepalive,
        crate::config::DEFAULT_KEEPALIVE
    );
    assert_eq!(load_one(&agent("  keepaliveSeconds: 0\n")).unwrap().node.keepalive, Duration::ZERO);
    assert_eq!(
        load_one(&agent("  keepaliveSeconds: 120\n")).unwrap().node.keepalive,
        Duration::from_secs(120)
    );
    let errors = errors(&agent("  keepaliveSeconds: 4000\n"));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("c.yaml:5: BFDAgentConfig n: spec.keepaliveSeconds: "), "{errors:?}");
}
