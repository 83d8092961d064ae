//! `bfd-agent check --config FILE...`: validates without running and says
//! what the agent would do.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::PathBuf;

use super::interval::format_interval;
use super::{AgentConfig, ConfigErrors, NodeOverrides, UnusedReason, load_with};

/// The outcome of a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// The configuration is valid (the command exits 0).
    pub ok: bool,
    /// What to print: a summary, or one error per line.
    pub text: String,
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Checks `paths` with no command-line overrides.
pub fn check(paths: &[PathBuf]) -> CheckReport {
    check_with(paths, &NodeOverrides::default())
}

/// Checks `paths` as `load_with` would read them.
pub fn check_with(paths: &[PathBuf], overrides: &NodeOverrides) -> CheckReport {
    match load_with(paths, overrides) {
        Ok(config) => CheckReport { ok: true, text: summary(&config) },
        Err(errors) => CheckReport { ok: false, text: error_report(&errors) },
    }
}

fn error_report(errors: &ConfigErrors) -> String {
    let count = errors.len();
    format!("{errors}\n{count} error{}: the configuration is not valid\n", if count == 1 { "" } else { "s" })
}

/// What the agent would run, in a few lines.
pub(crate) fn summary(config: &AgentConfig) -> String {
    let mut text = String::new();
    let files: Vec<String> = config.files.iter().map(|file| file.display().to_string()).collect();
    let _ = writeln!(text, "configuration OK: {}", files.join(", "));

    let bgp_peers = config.peers.len() + config.unused_peers.len();
    let mut skipped_kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for document in &config.skipped {
        *skipped_kinds.entry(document.kind.as_deref().unwrap_or("?")).or_default() += 1;
    }
    let skipped = if config.skipped.is_empty() {
        String::new()
    } else {
        let kinds: Vec<String> =
            skipped_kinds.iter().map(|(kind, count)| format!("{count} {kind}")).collect();
        format!(", {} skipped ({})", config.skipped.len(), kinds.join(", "))
    };
    let _ = writeln!(
        text,
        "  read {} BFDProfile, {bgp_peers} BGPPeer, {} BFDAgentConfig{skipped}",
        config.profiles.len(),
        usize::from(config.node.source.is_some()),
    );

    let node = &config.node;
    let labels = node.selection_labels();
    let labels = if labels.is_empty() {
        "none".to_owned()
    } else {
        labels.iter().map(|(key, value)| format!("{key}={value}")).collect::<Vec<_>>().join(",")
    };
    let _ =
        writeln!(text, "  node {}, labels {labels}", node.node_name.as_deref().unwrap_or("(no nodeName)"));
    let xdp = if node.no_xdp {
        "off (noXdp): every session in userspace".to_owned()
    } else {
        let mode = format!("{:?}", node.xdp_mode).to_lowercase();
        let interfaces = if node.interfaces.is_empty() {
            ", no interfaces".to_owned()
        } else {
            format!(" on {}", node.interfaces.join(","))
        };
        format!("{mode} mode{interfaces}, pinned at {}", node.pin_path.display())
    };
    let scheduling = node.engine_scheduling();
    let socket = node.control_socket.as_ref().map_or("default".to_owned(), |path| path.display().to_string());
    let _ = writeln!(text, "  XDP {xdp}; transmit thread {scheduling}; control socket {socket}");
    let transmit = match node.transmit {
        super::TransmitPath::Udp => "udp: control packets through IP output",
        super::TransmitPath::Packet => {
            "packet: single-hop sessions' control packets as Ethernet frames past IP output once their \
             neighbour is resolved (needs CAP_NET_RAW)"
        }
        super::TransmitPath::Auto => "auto: packet if the packet socket opens (CAP_NET_RAW), else udp",
    };
    let _ = writeln!(text, "  transmit path {transmit}");

    if !config.profiles.is_empty() {
        let _ = writeln!(text, "  BFD profiles:");
        let rows: Vec<Vec<String>> = config
            .profiles
            .iter()
            .map(|profile| {
                let mut options = Vec::new();
                if profile.echo_mode {
                    options.push(format!("echo {}", format_interval(profile.echo_interval)));
                }
                if profile.passive_mode {
                    options.push("passive".to_owned());
                }
                vec![
                    format!("{}/{}", profile.namespace, profile.name),
                    format!("tx {}", format_interval(profile.transmit_interval)),
                    format!("rx {}", format_interval(profile.receive_interval)),
                    format!("x{}", profile.detect_multiplier),
                    format!("minimumTtl {}", profile.minimum_ttl),
                    options.join(", "),
                ]
            })
            .collect();
        table(&mut text, None, &rows);
    }

    let _ =
        writeln!(text, "  {} BFD session{} on this node:", config.peers.len(), plural(config.peers.len()));
    if !config.peers.is_empty() {
        let header = ["PEER", "LOCAL", "TYPE", "PROFILE", "TX", "RX", "MULT", "ECHO", "MIN TTL", "BGPPEER"];
        let rows: Vec<Vec<String>> = config
            .peers
            .iter()
            .map(|peer| {
                let mut kind = if peer.multihop { "multihop" } else { "single-hop" }.to_owned();
                if peer.session.passive {
                    kind.push_str(" passive");
                }
                let mut local = peer.local.map_or("-".to_owned(), |local| local.to_string());
                if let Some(interface) = &peer.interface {
                    local = format!("{local} %{interface}");
                }
                if let Some(vrf) = &peer.vrf {
                    local = format!("{local} vrf {vrf}");
                }
                vec![
                    peer.peer.to_string(),
                    local,
                    kind,
                    peer.profile.clone(),
                    format_interval(peer.session.desired_min_tx),
                    format_interval(peer.session.required_min_rx),
                    peer.session.detect_mult.to_string(),
                    if peer.session.echo.transmit {
                        format_interval(peer.session.echo.desired_min_tx)
                    } else {
                        "off".to_owned()
                    },
                    peer.min_ttl.to_string(),
                    format!("{} ({})", peer.source.qualified_name().unwrap_or_default(), peer.source.place()),
                ]
            })
            .collect();
        table(&mut text, Some(&header), &rows);
    }
    // Authentication: the type and the keys' files, lengths and lifetimes,
    // never a secret.
    for peer in &config.peers {
        if let Some(auth) = &peer.auth {
            let _ = writeln!(text, "  authentication of {}: {}", peer.peer, auth.describe());
        }
    }
    for unused in &config.unused_peers {
        let why = match &unused.reason {
            UnusedReason::NoBfdProfile => "no bfdProfile: no BFD session".to_owned(),
            UnusedReason::NotSelected(selectors) => {
                let selectors: Vec<String> = selectors.iter().map(ToString::to_string).collect();
                format!("nodeSelectors [{}] do not select this node", selectors.join("; "))
            }
        };
        let _ = writeln!(text, "  not here: {} ({}): {why}", unused.source, unused.source.place());
    }
    text
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// Left-aligned columns, indented by four spaces.
fn table(text: &mut String, header: Option<&[&str]>, rows: &[Vec<String>]) {
    let header: Option<Vec<String>> = header.map(|header| header.iter().map(|h| h.to_string()).collect());
    let all: Vec<&Vec<String>> = header.iter().chain(rows).collect();
    let columns = all.iter().map(|row| row.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| all.iter().map(|row| row.get(c).map_or(0, |cell| cell.chars().count())).max().unwrap_or(0))
        .collect();
    for row in all {
        let mut line = String::from("    ");
        for (column, cell) in row.iter().enumerate() {
            let _ = write!(line, "{cell:<width$}  ", width = widths[column]);
        }
        let _ = writeln!(text, "{}", line.trim_end());
    }
}
