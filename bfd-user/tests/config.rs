//! The configuration as `bfd-agent check` and the agent read it from files:
//! the examples, one broken file per error, and reloads.

// In a module so that `cargo test -p bfd-user config` selects them too.
mod config_files {
    use std::net::IpAddr;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use bfd_user::config::{self, AgentConfig, NodeOverrides, PeerSpec, UnusedReason};

    /// A file of the repository's `examples/`, as a path relative to this
    /// package (cargo runs tests from the package's directory).
    fn example(name: &str) -> PathBuf {
        Path::new("../examples").join(name)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn ms(milliseconds: u64) -> Duration {
        Duration::from_millis(milliseconds)
    }

    fn peer<'a>(config: &'a AgentConfig, address: &str) -> &'a PeerSpec {
        config
            .peers
            .iter()
            .find(|peer| peer.peer == ip(address))
            .unwrap_or_else(|| panic!("no peer {address}"))
    }

    #[test]
    fn metallb_example_with_the_recommended_profiles() {
        let config = config::load(&[example("metallb-bfd.yaml"), example("agent.yaml")]).unwrap();

        let profile = |name: &str| config.profiles.iter().find(|profile| profile.name == name).unwrap();
        let aggressive = profile("aggressive");
        assert_eq!(
            (aggressive.transmit_interval, aggressive.receive_interval, aggressive.detect_multiplier),
            (ms(50), ms(50), 3)
        );
        assert!(aggressive.echo_mode);
        assert_eq!((aggressive.echo_interval, aggressive.minimum_ttl), (ms(50), 254));
        let conservative = profile("conservative");
        assert_eq!(
            (conservative.transmit_interval, conservative.receive_interval, conservative.detect_multiplier),
            (ms(1000), ms(1000), 5)
        );
        let balanced = profile("balanced");
        assert_eq!(
            (balanced.transmit_interval, balanced.receive_interval, balanced.detect_multiplier),
            (ms(200), ms(200), 3)
        );
        assert_eq!(balanced.minimum_ttl, 254);

        let kinds: Vec<&str> =
            config.skipped.iter().map(|document| document.kind.as_deref().unwrap()).collect();
        assert_eq!(kinds, ["IPAddressPool", "BGPAdvertisement"]);

        // rack2-router selects rack r2 only; backup has no bfdProfile.
        assert_eq!(config.peers.len(), 3);
        let tor_a = peer(&config, "10.0.0.1");
        assert_eq!((tor_a.local, tor_a.multihop, tor_a.min_ttl), (Some(ip("10.0.0.2")), false, 255));
        assert_eq!(tor_a.profile, "aggressive");
        assert!(tor_a.session.echo.transmit);
        assert_eq!(tor_a.session.echo.desired_min_tx, ms(50));
        assert_eq!(tor_a.source.to_string(), "BGPPeer metallb-system/tor-a");
        let tor_b = peer(&config, "2001:db8::1");
        assert_eq!((tor_b.profile.as_str(), tor_b.session.desired_min_tx), ("balanced", ms(200)));
        let reflector = peer(&config, "172.16.0.10");
        assert!(reflector.multihop && reflector.session.multihop && !reflector.session.echo.transmit);
        assert_eq!(reflector.min_ttl, 254);
        let unused: Vec<(String, bool)> = config
            .unused_peers
            .iter()
            .map(|unused| (unused.source.to_string(), unused.reason == UnusedReason::NoBfdProfile))
            .collect();
        assert_eq!(
            unused,
            [
                ("BGPPeer metallb-system/rack2-router".into(), false),
                ("BGPPeer metallb-system/backup".into(), true)
            ]
        );

        let node = &config.node;
        assert_eq!(node.node_name.as_deref(), Some("node-a"));
        assert_eq!(node.interfaces, ["eth0"]);
        assert_eq!(node.engine_scheduling().to_string(), "SCHED_DEADLINE 300us/1ms");

        // On a node of rack r2 the rack's router is a peer too.
        let rack2 = NodeOverrides {
            node_labels: Some([("rack".to_owned(), "r2".to_owned())].into()),
            ..NodeOverrides::default()
        };
        let config =
            config::load_with(&[example("metallb-bfd.yaml"), example("agent.yaml")], &rack2).unwrap();
        assert_eq!(config.peers.len(), 4);
        assert_eq!(peer(&config, "10.2.0.1").session.detect_mult, 5);
    }

    #[test]
    fn every_example_is_valid_on_its_own() {
        let mut checked = 0;
        for entry in std::fs::read_dir("../examples").unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|extension| extension == "yaml") {
                let report = config::check(std::slice::from_ref(&path));
                assert!(report.ok, "{}: {report}", path.display());
                checked += 1;
            }
        }
        assert!(checked >= 3, "metallb-bfd.yaml, agent.yaml, demo.yaml");
    }

    #[test]
    fn demo_example() {
        let config = config::load(&[example("demo.yaml")]).unwrap();
        assert_eq!(config.peers.len(), 1);
        let demo = &config.peers[0];
        assert_eq!((demo.peer, demo.local), (ip("10.77.0.1"), Some(ip("10.77.0.2"))));
        assert_eq!(
            (demo.session.desired_min_tx, demo.session.required_min_rx, demo.session.detect_mult),
            (ms(50), ms(50), 3)
        );
    }

    #[test]
    fn check_summarises_the_examples() {
        let report = config::check(&[example("metallb-bfd.yaml"), example("agent.yaml")]);
        assert!(report.ok, "{report}");
        let expected = [
            "configuration OK: ../examples/metallb-bfd.yaml, ../examples/agent.yaml",
            "  read 3 BFDProfile, 5 BGPPeer, 1 BFDAgentConfig, 2 skipped (1 BGPAdvertisement, 1 IPAddressPool)",
            "  node node-a, labels kubernetes.io/hostname=node-a,rack=r1,topology.kubernetes.io/zone=zone-a",
            "  XDP auto mode on eth0, pinned at /sys/fs/bpf/bfd; transmit thread SCHED_DEADLINE 300us/1ms; control socket /run/bfd-agent/control.sock",
            "  transmit path udp: control packets through IP output",
            "  BFD profiles:",
            "    metallb-system/aggressive    tx 50ms   rx 50ms   x3  minimumTtl 254  echo 50ms",
            "    metallb-system/conservative  tx 1s     rx 1s     x5  minimumTtl 254",
            "    metallb-system/balanced      tx 200ms  rx 200ms  x3  minimumTtl 254",
            "  3 BFD sessions on this node:",
            "    PEER         LOCAL     TYPE        PROFILE     TX     RX     MULT  ECHO  MIN TTL  BGPPEER",
            "    10.0.0.1     10.0.0.2  single-hop  aggressive  50ms   50ms   3     50ms  255      metallb-system/tor-a (../examples/metallb-bfd.yaml:63)",
            "    2001:db8::1  -         single-hop  balanced    200ms  200ms  3     off   255      metallb-system/tor-b (../examples/metallb-bfd.yaml:78)",
            "    172.16.0.10  10.0.0.2  multihop    balanced    200ms  200ms  3     off   254      metallb-system/reflector (../examples/metallb-bfd.yaml:90)",
            "  not here: BGPPeer metallb-system/rack2-router (../examples/metallb-bfd.yaml:105): nodeSelectors [rack=r2] do not select this node",
            "  not here: BGPPeer metallb-system/backup (../examples/metallb-bfd.yaml:120): no bfdProfile: no BFD session",
        ];
        assert_eq!(report.text.lines().collect::<Vec<_>>(), expected, "\n{}", report.text);
    }

    /// Every file of `tests/data/config/broken/` and the exact errors it must
    /// give, `{}` standing for its path.
    const BROKEN: &[(&str, &[&str])] = &[
        (
            "bad-transmit.yaml",
            &[
                "{}:5: BFDAgentConfig (document 1): spec.transmit: \"af-xdp\" is not a transmit path: use udp, packet \
                 or auto",
            ],
        ),
        (
            "duplicate-agent-config.yaml",
            &[
                "{}:9: BFDAgentConfig (document 2): a second BFDAgentConfig (the first is {}:2): at most one is allowed",
            ],
        ),
        (
            "duplicate-profile.yaml",
            &[
                "{}:9: BFDProfile metallb-system/fast: metadata.name: a second BFDProfile metallb-system/fast (the first \
               is {}:2)",
            ],
        ),
        (
            "duplicate-session.yaml",
            &[
                "{}:24: BGPPeer metallb-system/peer-a-again: spec.peerAddress: the same BFD session (peer 10.0.0.1) as \
               {}:7: BGPPeer metallb-system/peer-a",
            ],
        ),
        (
            "echo-multihop.yaml",
            &[
                "{}:18: BGPPeer metallb-system/reflector: spec.bfdProfile: BFDProfile \"aggressive\" has echoMode: true, \
               which a multihop peer (ebgpMultiHop: true) cannot use: the Echo function is single-hop only (RFC 5883)",
            ],
        ),
        (
            "interval-string-too-small.yaml",
            &[
                "{}:7: BFDProfile metallb-system/bench: spec.transmitInterval: \"500us\" is out of range (allowed: 1ms \
                 to 60s)",
                "{}:8: BFDProfile metallb-system/bench: spec.receiveInterval: 3.3 is not a whole number of \
                 milliseconds: write a string with a unit, e.g. \"3300us\" or \"3.3ms\"",
            ],
        ),
        (
            "invalid-peer-address.yaml",
            &["{}:14: BGPPeer metallb-system/peer-a: spec.peerAddress: \"10.0.0.256\" is not an IP address"],
        ),
        (
            "invalid-source-address.yaml",
            &[
                "{}:15: BGPPeer metallb-system/peer-a: spec.sourceAddress: 10.0.0.2 and peerAddress 2001:db8::1 are not \
               of the same address family",
            ],
        ),
        (
            "link-local-without-interface.yaml",
            &[
                "{}:14: BGPPeer metallb-system/peer-a: spec.peerAddress: fe80::1 is link-local: a single-hop BFD session \
               with it needs spec.interface, since link-local addresses are unique only on their link",
            ],
        ),
        (
            "missing-peer-address.yaml",
            &["{}:13: BGPPeer metallb-system/peer-a: spec.peerAddress: missing (required)"],
        ),
        (
            "not-an-object.yaml",
            &[
                "{}:2: document 1: not a Kubernetes object: expected a mapping with apiVersion and kind, found a list",
                "{}:5: document 2: kind: missing (required)",
            ],
        ),
        (
            "out-of-range.yaml",
            &[
                "{}:9: BFDProfile metallb-system/fast: spec.receiveInterval: 5 is out of range (allowed: 10 to 60000 \
                 milliseconds; for less, write a string with a unit, e.g. \"3300us\" or \"3.3ms\")",
                "{}:11: BFDProfile metallb-system/fast: spec.detectMultiplier: 300 is out of range (allowed: 2 to 255)",
                "{}:12: BFDProfile metallb-system/fast: spec.minimumTtl: 0 is out of range (allowed: 1 to 254)",
            ],
        ),
        (
            "profile-other-namespace.yaml",
            &[
                "{}:17: BGPPeer metallb-system/peer-a: spec.bfdProfile: no BFDProfile named \"fast\" in namespace \
               metallb-system, only in other: a profile must be in the namespace of its peers",
            ],
        ),
        (
            "selector.yaml",
            &[
                "{}:19: BGPPeer metallb-system/peer-a: spec.nodeSelectors[0].matchExpressions[0].operator: \"in\" is not \
               an operator: use In, NotIn, Exists or DoesNotExist",
            ],
        ),
        ("syntax.yaml", &["{}:8: YAML syntax error at column 19: illegal placement of ':' indicator"]),
        (
            "unknown-api-version.yaml",
            &[
                "{}:2: BFDProfile metallb-system/fast: apiVersion: unknown apiVersion \"metallb.io/v1beta2\" for \
               BFDProfile (expected metallb.io/v1beta1)",
            ],
        ),
        (
            "unknown-field-agent.yaml",
            &["{}:5: BFDAgentConfig (document 1): spec.interface: unknown field (did you mean interfaces?)"],
        ),
        (
            "unknown-field-peer.yaml",
            &[
                "{}:15: BGPPeer metallb-system/peer-a: spec.bfdprofile: unknown field (did you mean bfdProfile?)",
            ],
        ),
        (
            "unknown-field-profile.yaml",
            &[
                "{}:7: BFDProfile metallb-system/fast: spec.recieveInterval: unknown field (did you mean receiveInterval?)",
            ],
        ),
        (
            "unknown-profile.yaml",
            &[
                "{}:17: BGPPeer metallb-system/peer-a: spec.bfdProfile: no BFDProfile named \"fast\" in namespace \
               metallb-system",
            ],
        ),
        (
            "v1beta1-vrf.yaml",
            &[
                "{}:15: BGPPeer metallb-system/peer-a: spec.vrf: not a field of metallb.io/v1beta1 BGPPeer (it is one of \
               metallb.io/v1beta2)",
            ],
        ),
        (
            "wrong-type.yaml",
            &[
                "{}:7: BFDProfile metallb-system/fast: spec.detectMultiplier: expected an integer, found a string",
                "{}:8: BFDProfile metallb-system/fast: spec.echoMode: expected a boolean (true or false), found a string",
                "{}:9: BFDProfile metallb-system/fast: spec.transmitInterval: expected milliseconds or a string with a \
                 unit (\"3300us\"), found a mapping",
            ],
        ),
    ];

    const BROKEN_DIR: &str = "tests/data/config/broken";

    #[test]
    fn each_broken_file_gives_its_exact_errors() {
        let mut files: Vec<String> = std::fs::read_dir(BROKEN_DIR)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        let listed: Vec<&str> = BROKEN.iter().map(|(name, _)| *name).collect();
        assert_eq!(files, listed, "every broken file has its expected errors here");

        for (name, expected) in BROKEN {
            let path = Path::new(BROKEN_DIR).join(name);
            let shown = path.display().to_string();
            let errors = config::load(std::slice::from_ref(&path)).expect_err(name);
            let actual: Vec<String> = errors.errors().iter().map(ToString::to_string).collect();
            let expected: Vec<String> = expected.iter().map(|line| line.replace("{}", &shown)).collect();
            assert_eq!(actual, expected, "{name}");
            let report = config::check(std::slice::from_ref(&path));
            assert!(!report.ok, "{name}");
            assert!(report.text.starts_with(&expected.join("\n")), "{name}: {}", report.text);
        }
    }

    #[test]
    fn errors_of_several_files_come_together() {
        let paths: Vec<PathBuf> = ["unknown-field-agent.yaml", "unknown-profile.yaml"]
            .iter()
            .map(|name| Path::new(BROKEN_DIR).join(name))
            .collect();
        let errors = config::load(&paths).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert!(
            errors
                .to_string()
                .lines()
                .next()
                .unwrap()
                .starts_with("tests/data/config/broken/unknown-field-agent.yaml:5: ")
        );

        let missing = Path::new(BROKEN_DIR).join("no-such-file.yaml");
        let errors = config::load(&[missing, example("demo.yaml")]).unwrap_err();
        assert_eq!(errors.len(), 1);
        let error = errors.to_string();
        assert!(
            error.starts_with("tests/data/config/broken/no-such-file.yaml: cannot read: No such file"),
            "{error}"
        );
    }

    #[test]
    fn reloading_a_changed_profile_changes_only_its_peers() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("metallb.yaml");
        let original = std::fs::read_to_string(example("metallb-bfd.yaml")).unwrap();
        std::fs::write(&path, &original).unwrap();
        let old = config::load(std::slice::from_ref(&path)).unwrap();

        // balanced: 200 ms -> 300 ms transmit; a comment added above everything.
        let edited = original.replace(
            "  name: balanced\n  namespace: metallb-system\nspec:\n  receiveInterval: 200\n  transmitInterval: 200\n",
            "  name: balanced\n  namespace: metallb-system\nspec:\n  receiveInterval: 200\n  transmitInterval: 300\n",
        );
        assert_ne!(edited, original);
        std::fs::write(&path, format!("# edited\n{edited}")).unwrap();
        let new = config::load(std::slice::from_ref(&path)).unwrap();

        let changes = config::diff(&old, &new);
        let addresses =
            |peers: Vec<&PeerSpec>| peers.iter().map(|peer| peer.peer.to_string()).collect::<Vec<_>>();
        assert_eq!(addresses(changes.unchanged.iter().collect()), ["10.0.0.1"]);
        assert_eq!(
            addresses(changes.changed.iter().map(|(_, new)| new).collect()),
            ["2001:db8::1", "172.16.0.10"]
        );
        for (old, new) in &changes.changed {
            assert_eq!((old.session.desired_min_tx, new.session.desired_min_tx), (ms(200), ms(300)));
        }
        assert!(changes.added.is_empty() && changes.removed.is_empty() && changes.node_changes.is_empty());

        // Reloading the same file again touches nothing.
        let again = config::load(std::slice::from_ref(&path)).unwrap();
        let changes = config::diff(&new, &again);
        assert!(changes.is_empty());
        assert_eq!(changes.unchanged.len(), 3);
    }
}
