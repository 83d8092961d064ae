//! BFDAuthentication: one test per rule, on in-memory YAML and real secret
//! files (a mounted Kubernetes Secret is a file).

use std::path::Path;

use bfd_common::wire::AuthType;
use bfd_session::{Lifetime, Sha1Construction, WallTime};

use super::*;

const PROFILE: &str = "\
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: fast}
spec: {receiveInterval: 50, transmitInterval: 50}
";

fn peer(name: &str, address: &str) -> String {
    format!(
        "apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: {name}}}
spec: {{myASN: 64500, peerASN: 64501, peerAddress: {address}, bfdProfile: fast}}
"
    )
}

/// A directory with secret files `name` -> contents.
fn secrets(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, contents) in files {
        std::fs::write(dir.path().join(name), contents).unwrap();
    }
    dir
}

fn load(documents: &[&str]) -> Result<AgentConfig, ConfigErrors> {
    let text = documents.join("---\n");
    load_sources(vec![(PathBuf::from("c.yaml"), Ok(text))], &NodeOverrides::default())
}

fn errors(documents: &[&str]) -> Vec<String> {
    match load(documents) {
        Ok(config) => panic!("expected errors, loaded {config:#?}"),
        Err(errors) => errors.errors().iter().map(ToString::to_string).collect(),
    }
}

fn authentication(dir: &Path, spec: &str) -> String {
    let spec = spec.replace("DIR", &dir.display().to_string());
    format!(
        "apiVersion: bfd-xdp.io/v1alpha1
kind: BFDAuthentication
metadata: {{name: keys}}
spec:
{spec}"
    )
}

#[test]
fn a_profile_s_authentication_reaches_its_peers_sessions() {
    let dir = secrets(&[("one", b"first key\n"), ("two", b"second key")]);
    let auth = authentication(
        dir.path(),
        "  bfdProfiles: [fast]
  type: meticulous-keyed-sha1
  keys:
    - {id: 1, secretFile: DIR/one, sendUntil: \"2027-03-01T00:00:00Z\", acceptUntil: \"2027-03-02T00:00:00Z\"}
    - {id: 2, secretFile: DIR/two, sendFrom: \"2027-03-01T00:00:00Z\"}
",
    );
    let config = load(&[PROFILE, &peer("a", "10.0.0.1"), &peer("b", "10.0.0.2"), &auth]).unwrap();
    assert_eq!(config.peers.len(), 2);
    for spec in &config.peers {
        let auth = spec.auth.as_ref().expect("authenticated");
        assert_eq!(auth.name, "metallb-system/keys");
        assert_eq!(auth.config.auth_type, AuthType::MeticulousKeyedSha1);
        assert_eq!(auth.config.sha1, Sha1Construction::Rfc5880);
        let keys = &auth.config.keys;
        // One trailing newline is not part of the key.
        assert_eq!(keys[0].secret.expose(), b"first key");
        assert_eq!(keys[1].secret.expose(), b"second key");
        let march = WallTime::from_unix_secs(1_803_859_200);
        assert_eq!(keys[0].send, Lifetime { from: None, until: Some(march) });
        assert_eq!(keys[0].accept.until, Some(WallTime::from_unix_secs(1_803_859_200 + 86_400)));
        assert_eq!(keys[1].send, Lifetime { from: Some(march), until: None });
        assert_eq!(keys[1].accept, Lifetime::ALWAYS);
    }
}

#[test]
fn a_peer_s_own_entry_wins_over_its_profile_s() {
    let dir = secrets(&[("p", b"profile pw"), ("q", b"peer pw")]);
    let by_profile = authentication(
        dir.path(),
        "  bfdProfiles: [fast]\n  type: simple-password\n  keys: [{id: 1, secretFile: DIR/p}]\n",
    );
    let by_peer = authentication(
        dir.path(),
        "  bgpPeers: [b]\n  type: keyed-sha1\n  frrCompatibility: hmac-sha1\n  keys: [{id: 9, secretFile: DIR/q}]\n",
    )
    .replace("name: keys", "name: peer-b");
    let config =
        load(&[PROFILE, &peer("a", "10.0.0.1"), &peer("b", "10.0.0.2"), &by_profile, &by_peer]).unwrap();
    let auth_of = |address: &str| {
        let spec = config.peers.iter().find(|spec| spec.peer.to_string() == address).unwrap();
        spec.auth.as_ref().unwrap().config.clone()
    };
    assert_eq!(auth_of("10.0.0.1").auth_type, AuthType::SimplePassword);
    let b = auth_of("10.0.0.2");
    assert_eq!((b.auth_type, b.sha1, b.keys[0].id), (AuthType::KeyedSha1, Sha1Construction::FrrHmacSha1, 9));
}

#[test]
fn without_a_bfd_authentication_sessions_have_none() {
    let config = load(&[PROFILE, &peer("a", "10.0.0.1")]).unwrap();
    assert_eq!(config.peers[0].auth, None);
}

#[test]
fn errors_name_file_field_and_reason() {
    let dir = secrets(&[("long", &[b'k'; 17]), ("ok", b"ok")]);
    let bad = authentication(
        dir.path(),
        "  bfdProfiles: [fast, slow]
  type: keyed-md5
  frrCompatibility: hmac-sha1
  keys:
    - {id: 1, secretFile: DIR/long}
    - {id: 1, secretFile: DIR/ok}
    - {id: 2, secretFile: DIR/missing}
    - {id: 3, secretFile: relative/ok}
    - {id: 4, secretFile: DIR/ok, sendFrom: \"2027-03-01T00:00:00Z\", sendUntil: \"2027-02-01T00:00:00Z\"}
    - {id: 5, secretFile: DIR/ok, acceptFrom: tomorrow, secret: hunter2}
",
    );
    let dir_text = dir.path().display().to_string();
    let got = errors(&[PROFILE, &peer("a", "10.0.0.1"), &bad]);
    let expected = [
        "c.yaml:17: BFDAuthentication metallb-system/keys: spec.frrCompatibility: hmac-sha1 is FRR 10.x's construction of keyed SHA1; type keyed-md5 has none".to_owned(),
        format!("c.yaml:19: BFDAuthentication metallb-system/keys: spec.keys[0].secretFile: {dir_text}/long holds a 17-byte secret; keyed-md5 takes 1 to 16 bytes (RFC 5880 §6.7.3)"),
        "c.yaml:20: BFDAuthentication metallb-system/keys: spec.keys[1].id: key id 1 is given twice: a packet's Key ID must name one key".to_owned(),
        format!("c.yaml:21: BFDAuthentication metallb-system/keys: spec.keys[2].secretFile: {dir_text}/missing: cannot be read: entity not found"),
        "c.yaml:22: BFDAuthentication metallb-system/keys: spec.keys[3].secretFile: \"relative/ok\" is not an absolute path".to_owned(),
        "c.yaml:23: BFDAuthentication metallb-system/keys: spec.keys[4].sendUntil: sendUntil must be later than sendFrom".to_owned(),
    ];
    for line in &expected {
        assert!(got.contains(line), "missing {line:?} in {got:#?}");
    }
    assert!(
        got.iter().any(|line| line.starts_with(
            "c.yaml:24: BFDAuthentication metallb-system/keys: spec.keys[5].secret: unknown field"
        )),
        "{got:#?}"
    );
    assert!(got.iter().any(|line| line.starts_with("c.yaml:24: BFDAuthentication metallb-system/keys: spec.keys[5].acceptFrom: \"tomorrow\" is not a UTC time")), "{got:#?}");
    assert!(got.contains(&"c.yaml:15: BFDAuthentication metallb-system/keys: spec.bfdProfiles[1]: no BFDProfile named \"slow\" in namespace metallb-system".to_owned()), "{got:#?}");
    // The secret's bytes appear nowhere, not even the 17 'k's.
    assert!(got.iter().all(|line| !line.contains("kkkk") && !line.contains("hunter2")), "{got:#?}");
}

#[test]
fn a_profile_claimed_twice_or_no_target_is_an_error() {
    let dir = secrets(&[("k", b"k")]);
    let one = authentication(
        dir.path(),
        "  bfdProfiles: [fast]\n  type: keyed-md5\n  keys: [{id: 1, secretFile: DIR/k}]\n",
    );
    let two = one.replace("name: keys", "name: again");
    let got = errors(&[PROFILE, &peer("a", "10.0.0.1"), &one, &two]);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(got[0].contains("spec.bfdProfiles[0]: BFDProfile metallb-system/fast already has its authentication from BFDAuthentication keys (c.yaml:"), "{got:#?}");
    let none = authentication(dir.path(), "  type: keyed-md5\n  keys: [{id: 1, secretFile: DIR/k}]\n");
    let got = errors(&[PROFILE, &none]);
    assert!(
        got[0].ends_with(
            "spec.bfdProfiles: name the BFDProfiles (bfdProfiles) or BGPPeers (bgpPeers) it applies to"
        ),
        "{got:#?}"
    );
    let no_keys = authentication(dir.path(), "  bgpPeers: [a]\n  type: sha1\n");
    let got = errors(&[PROFILE, &peer("a", "10.0.0.1"), &no_keys]);
    assert!(
        got.iter().any(|line| line.contains("spec.type: \"sha1\" is not an authentication type")),
        "{got:#?}"
    );
    assert!(got.iter().any(|line| line.contains("spec.keys: missing")), "{got:#?}");
}

#[test]
fn check_describes_the_keys_and_never_the_secret() {
    let dir = secrets(&[("one", b"first key"), ("two", b"second key")]);
    let auth = authentication(
        dir.path(),
        "  bfdProfiles: [fast]
  type: keyed-sha1
  frrCompatibility: hmac-sha1
  keys:
    - {id: 1, secretFile: DIR/one, sendUntil: \"2027-03-01T00:00:00Z\"}
    - {id: 2, secretFile: DIR/two, sendFrom: \"2027-03-01T00:00:00Z\", acceptFrom: \"2027-02-28T00:00:00Z\"}
",
    );
    let config = load(&[PROFILE, &peer("a", "10.0.0.1"), &auth]).unwrap();
    let summary = check::summary(&config);
    let dir = dir.path().display();
    let expected = format!(
        "  authentication of 10.0.0.1: keyed-sha1 (FRR hmac-sha1 compatibility) from BFDAuthentication \
         metallb-system/keys: key 1 ({dir}/one, 9 bytes, send until 2027-03-01T00:00:00Z) key 2 ({dir}/two, \
         10 bytes, send from 2027-03-01T00:00:00Z, accept from 2027-02-28T00:00:00Z)"
    );
    assert!(summary.lines().any(|line| line == expected), "{summary}");
    assert!(!summary.contains("first key") && !summary.contains("second key"));
}

#[test]
fn debug_output_never_shows_a_secret() {
    let dir = secrets(&[("k", b"correct horse")]);
    let auth = authentication(
        dir.path(),
        "  bfdProfiles: [fast]\n  type: simple-password\n  keys: [{id: 1, secretFile: DIR/k}]\n",
    );
    let config = load(&[PROFILE, &peer("a", "10.0.0.1"), &auth]).unwrap();
    let debug = format!("{config:?} {:#?}", config.peers[0]);
    assert!(!debug.contains("correct horse"), "{debug}");
    assert!(debug.contains("Secret(<13 bytes>)"));
}

#[test]
fn a_key_change_is_a_changed_session_not_a_new_one() {
    let dir = secrets(&[("k", b"one"), ("l", b"two")]);
    let spec = |file: &str| {
        let auth = authentication(
            dir.path(),
            &format!(
                "  bfdProfiles: [fast]\n  type: keyed-sha1\n  keys: [{{id: 1, secretFile: DIR/{file}}}]\n"
            ),
        );
        load(&[PROFILE, &peer("a", "10.0.0.1"), &auth]).unwrap().peers.remove(0)
    };
    let (before, after) = (spec("k"), spec("l"));
    assert_eq!(before.key(), after.key());
    assert!(!before.same_session(&after));
    assert!(before.same_session(&spec("k")));
}
