//! What the agent's end-to-end tests share: a two-namespace link, a routed
//! three-namespace lab for multihop, path cuts with nftables, FRR's JSON
//! views, MetalLB documents and the agent's log events. (Printing daemons' logs when a test fails: [`crate::harness`].)

use std::{fmt::Write as _, path::PathBuf, process::Command, time::Duration};

use anyhow::{Context as _, bail};
use serde_json::Value;

pub use crate::frr::{Frr, FrrRelease, FrrStack};
use crate::lab::{NetNs, run, run_stdout, unique_name, veth, veth_with_queues, wait_for};

/// The agent's side of a link.
pub const AGENT_V4: &str = "10.77.0.2";
/// The peer's side of a link.
pub const PEER_V4: &str = "10.77.0.1";
/// The agent's side of a link, IPv6.
pub const AGENT_V6: &str = "fd00:77::2";
/// The peer's side of a link, IPv6.
pub const PEER_V6: &str = "fd00:77::1";

/// Two namespaces joined by a veth, both ends addressed in IPv4 (/24) and
/// IPv6 (/64, no DAD). `a` is the agent's side ([`AGENT_V4`]), `b` the
/// peer's ([`PEER_V4`]). The namespaces (and the link) go away on drop.
pub struct Link {
    /// The agent's namespace.
    pub a: NetNs,
    /// The peer's namespace.
    pub b: NetNs,
    /// The agent's end of the veth.
    pub a_if: String,
    /// The peer's end of the veth.
    pub b_if: String,
}

impl Link {
    /// Creates the link; `prefix` (at most 3 characters) names everything.
    pub fn new(prefix: &str) -> anyhow::Result<Link> {
        Link::with_queues(prefix, 1)
    }

    /// [`Link::new`] with `queues` queues on each end of the veth
    /// ([`veth_with_queues`]; the bench's `BFD_BENCH_LINK_QUEUES`).
    pub fn with_queues(prefix: &str, queues: u32) -> anyhow::Result<Link> {
        let a = NetNs::new(&format!("{prefix}A"))?;
        let b = NetNs::new(&format!("{prefix}B"))?;
        let (a_if, b_if) = (unique_name(&format!("{prefix}a")), unique_name(&format!("{prefix}b")));
        veth_with_queues(&a, &a_if, &b, &b_if, queues)?;
        Link::addressed(a, b, a_if, b_if)
    }

    /// The link whose ends `a_if` (in `a`) and `b_if` (in `b`) are already
    /// connected, with the agent's and the peer's addresses on them.
    fn addressed(a: NetNs, b: NetNs, a_if: String, b_if: String) -> anyhow::Result<Link> {
        for (netns, interface, v4, v6) in [(&a, &a_if, AGENT_V4, AGENT_V6), (&b, &b_if, PEER_V4, PEER_V6)] {
            netns.ip(["addr", "add", &format!("{v4}/24"), "dev", interface])?;
            netns.ip(["addr", "add", &format!("{v6}/64"), "dev", interface, "nodad"])?;
        }
        Ok(Link { a, b, a_if, b_if })
    }
}

/// agent 10.N.1.2 --- 10.N.1.1 router 10.N.2.1 --- 10.N.2.2 peer: three
/// namespaces, two veths, IPv4 forwarding in the router, a route to the far
/// subnet on either end, for multihop sessions. N (the second octet) is the
/// caller's, so that tests keep their addresses apart. All of it goes away
/// on drop.
pub struct Routed {
    /// The agent's namespace.
    pub agent: NetNs,
    /// The router's namespace.
    pub router: NetNs,
    /// The peer's namespace.
    pub peer: NetNs,
    /// The agent's interface (towards the router).
    pub agent_if: String,
    /// The peer's interface (towards the router).
    pub peer_if: String,
    /// The agent's address, 10.N.1.2.
    pub agent_ip: String,
    /// The peer's address, 10.N.2.2.
    pub peer_ip: String,
}

impl Routed {
    /// Builds it; `prefix` (at most 3 characters) names everything, `net`
    /// is the second octet of every address.
    pub fn new(prefix: &str, net: u8) -> anyhow::Result<Routed> {
        let agent = NetNs::new(&format!("{prefix}A"))?;
        let router = NetNs::new(&format!("{prefix}R"))?;
        let peer = NetNs::new(&format!("{prefix}F"))?;
        let (agent_if, ra_if, rp_if, peer_if) = (
            unique_name(&format!("{prefix}a")),
            unique_name(&format!("{prefix}r")),
            unique_name(&format!("{prefix}s")),
            unique_name(&format!("{prefix}f")),
        );
        veth(&agent, &agent_if, &router, &ra_if)?;
        veth(&router, &rp_if, &peer, &peer_if)?;
        let (agent_ip, peer_ip) = (format!("10.{net}.1.2"), format!("10.{net}.2.2"));
        agent.ip(["addr", "add", &format!("{agent_ip}/24"), "dev", &agent_if])?;
        router.ip(["addr", "add", &format!("10.{net}.1.1/24"), "dev", &ra_if])?;
        router.ip(["addr", "add", &format!("10.{net}.2.1/24"), "dev", &rp_if])?;
        peer.ip(["addr", "add", &format!("{peer_ip}/24"), "dev", &peer_if])?;
        agent.ip(["route", "add", &format!("10.{net}.2.0/24"), "via", &format!("10.{net}.1.1")])?;
        peer.ip(["route", "add", &format!("10.{net}.1.0/24"), "via", &format!("10.{net}.2.1")])?;
        set_sysctl(&router, "net.ipv4.ip_forward", "1")?;
        Ok(Routed { agent, router, peer, agent_if, peer_if, agent_ip, peer_ip })
    }
}

/// [`Link`]'s two namespaces joined through a bridge in a third, the
/// switch: one link layer as before, and a point where a capture sees every
/// frame each end sends, XDP_TX answers included (a capture at either end
/// misses them: the sending end's generic XDP_TX skips its taps, and the
/// receiving end's XDP program absorbs them before its taps).
pub struct SwitchedLink {
    /// The two ends, addressed as [`Link`]'s.
    pub link: Link,
    /// The switch's namespace.
    pub switch: NetNs,
    /// The switch's port that faces `link.a`.
    pub a_port: String,
}

impl SwitchedLink {
    /// Creates the switched link; `prefix` (at most 3 characters) names
    /// everything.
    pub fn new(prefix: &str) -> anyhow::Result<SwitchedLink> {
        let a = NetNs::new(&format!("{prefix}A"))?;
        let b = NetNs::new(&format!("{prefix}B"))?;
        let switch = NetNs::new(&format!("{prefix}S"))?;
        let (a_if, b_if) = (unique_name(&format!("{prefix}a")), unique_name(&format!("{prefix}b")));
        let (a_port, b_port) = (unique_name(&format!("{prefix}p")), unique_name(&format!("{prefix}q")));
        veth(&a, &a_if, &switch, &a_port)?;
        veth(&b, &b_if, &switch, &b_port)?;
        switch.ip(["link", "add", "br0", "type", "bridge"])?;
        for port in [&a_port, &b_port] {
            switch.ip(["link", "set", port, "master", "br0"])?;
        }
        switch.ip(["link", "set", "br0", "up"])?;
        Ok(SwitchedLink { link: Link::addressed(a, b, a_if, b_if)?, switch, a_port })
    }
}

/// Puts many sessions' addresses on the two ends of a link (`a_if` in `a`,
/// `b_if` in `b`; each pair is one session's A and B address, /16 on-link)
/// and makes each end's addresses the other's neighbours, in one `ip
/// -batch` per step: the lab's many-session pairs (the bench's `scale`,
/// the many-session wire test).
pub fn address_ends<'s>(
    a: &NetNs,
    a_if: &str,
    b: &NetNs,
    b_if: &str,
    ends: impl IntoIterator<Item = (&'s str, &'s str)>,
) -> anyhow::Result<()> {
    let (mut a_addresses, mut b_addresses): (Vec<&str>, Vec<&str>) = ends.into_iter().unzip();
    a_addresses.sort_unstable();
    a_addresses.dedup();
    b_addresses.sort_unstable();
    b_addresses.dedup();
    add_addresses(a, a_if, &a_addresses)?;
    add_addresses(b, b_if, &b_addresses)?;
    // Each node reaches the other's addresses through permanent neighbour
    // entries: the kernel's ARP table is shared by every namespace and its
    // garbage collector holds dynamic entries to gc_thresh3 (1024) in all,
    // which stopped both implementations at 512 sessions; permanent
    // entries are not counted.
    add_neighbours(a, a_if, &b_addresses, crate::frame::mac_address(b, b_if)?)?;
    add_neighbours(b, b_if, &a_addresses, crate::frame::mac_address(a, a_if)?)
}

/// Adds addresses (/16) to `interface` in one `ip -batch`.
fn add_addresses(netns: &NetNs, interface: &str, addresses: &[&str]) -> anyhow::Result<()> {
    let mut batch = String::new();
    for address in addresses {
        let _ = writeln!(batch, "addr add {address}/16 dev {interface}");
    }
    ip_batch(netns, interface, &batch)
}

/// Adds permanent neighbour entries for `addresses` at `mac` on
/// `interface`, in one `ip -batch`.
fn add_neighbours(netns: &NetNs, interface: &str, addresses: &[&str], mac: [u8; 6]) -> anyhow::Result<()> {
    let mac: Vec<String> = mac.iter().map(|byte| format!("{byte:02x}")).collect();
    let mut batch = String::new();
    for address in addresses {
        let _ =
            writeln!(batch, "neigh replace {address} lladdr {} dev {interface} nud permanent", mac.join(":"));
    }
    ip_batch(netns, interface, &batch)
}

fn ip_batch(netns: &NetNs, interface: &str, batch: &str) -> anyhow::Result<()> {
    let file = std::env::temp_dir().join(format!("{}-{interface}.batch", netns.name()));
    std::fs::write(&file, batch)?;
    let result = run(Command::new("ip").args(["-n", netns.name(), "-batch"]).arg(&file));
    let _ = std::fs::remove_file(&file);
    result.map(drop)
}

/// Reads a sysctl in `netns` (e.g. `net.ipv4.ip_forward`).
pub fn sysctl(netns: &NetNs, key: &str) -> anyhow::Result<String> {
    Ok(run_stdout(netns.command("sysctl").args(["-n", key]))?.trim().to_owned())
}

/// Sets a sysctl in `netns`.
pub fn set_sysctl(netns: &NetNs, key: &str, value: &str) -> anyhow::Result<()> {
    run(netns.command("sysctl").args(["-q", "-w", &format!("{key}={value}")])).map(drop)
}

/// An nftables drop rule in one namespace, removed (its table deleted) on
/// drop or by [`Cut::lift`]. A rule in the sender's output hook cuts one
/// direction before any XDP program on the receiver could see the packets.
pub struct Cut {
    netns_path: std::path::PathBuf,
    family: &'static str,
    table: String,
    lifted: bool,
}

impl Cut {
    /// Drops what `rule` matches (e.g. `udp dport 3784`) in `netns`'s
    /// `hook` (`output` or `input`).
    pub fn new(netns: &NetNs, hook: &str, rule: &str) -> anyhow::Result<Cut> {
        Cut::with_family(netns, "inet", hook, rule)
    }

    /// Drops what `rule` matches in the frames a bridge in `netns` forwards
    /// (the `bridge` family's forward hook): what neither end's netfilter
    /// sees, such as frames an agent sends at layer 2 (its echo) or a
    /// kernel's `XDP_TX`.
    pub fn bridged(netns: &NetNs, rule: &str) -> anyhow::Result<Cut> {
        Cut::with_family(netns, "bridge", "forward", rule)
    }

    fn with_family(netns: &NetNs, family: &'static str, hook: &str, rule: &str) -> anyhow::Result<Cut> {
        let table = unique_name("cut").replace('-', "_");
        let script = format!(
            "table {family} {table} {{\n chain c {{\n  type filter hook {hook} priority 0; policy accept;\n  \
             {rule} drop\n }}\n}}\n"
        );
        let file = std::env::temp_dir().join(format!("{table}.nft"));
        std::fs::write(&file, script)?;
        let result = run(netns.command("nft").arg("-f").arg(&file));
        let _ = std::fs::remove_file(&file);
        result?;
        Ok(Cut { netns_path: netns.path(), family, table, lifted: false })
    }

    /// Drops every BFD control packet (UDP to 3784) `netns` sends.
    pub fn outgoing_control(netns: &NetNs) -> anyhow::Result<Cut> {
        Cut::new(netns, "output", "udp dport 3784")
    }

    /// Removes the rule.
    pub fn lift(mut self) -> anyhow::Result<()> {
        self.lifted = true;
        self.delete()
    }

    fn delete(&self) -> anyhow::Result<()> {
        run(Command::new("nsenter").arg(format!("--net={}", self.netns_path.display())).args([
            "--",
            "nft",
            "delete",
            "table",
            self.family,
            &self.table,
        ]))
        .map(drop)
    }
}

impl Drop for Cut {
    fn drop(&mut self) {
        if !self.lifted
            && self.netns_path.exists()
            && let Err(error) = self.delete()
        {
            crate::harness::cleanup_note(format_args!("cleanup: {error:#}"));
        }
    }
}

/// One event of the agent's log. The lab's agents log JSON
/// (`--log-format json`, tracing-subscriber's formatter: the event's
/// fields with its `message` under `fields`, the session's span under
/// `span`); a text line (tracing's `key=value` form, e.g. a container's
/// log) is read field by field from its text.
#[derive(Clone, Debug)]
pub struct LogLine {
    /// The event in tracing's text form (`LEVEL span{k=v}: target: message
    /// k=v`), for people: what failures print.
    pub text: String,
    /// The event's message (empty for a text line).
    pub message: String,
    /// The event's fields, then its spans' (innermost first), each value
    /// as text (a number's digits, a string without quotes). `None` for a
    /// text line.
    fields: Option<Vec<(String, String)>>,
}

impl LogLine {
    /// Reads a line of text (tracing's text formatter).
    pub fn new(text: &str) -> LogLine {
        LogLine { text: text.to_owned(), message: String::new(), fields: None }
    }

    /// Parses a line of `--log-format json`; `None` if it is not a JSON
    /// object (a panic message, say).
    pub fn from_json(line: &str) -> Option<LogLine> {
        let event: Value = serde_json::from_str(line).ok()?;
        let as_text = |value: &Value| match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let mut fields = Vec::new();
        let mut message = String::new();
        let mut rest = String::new();
        for (key, value) in event["fields"].as_object()? {
            if key == "message" {
                message = as_text(value);
            } else {
                rest.push_str(&format!(" {key}={}", as_text(value)));
                fields.push((key.clone(), as_text(value)));
            }
        }
        // The current span is also the last of `spans`; innermost first.
        let spans: Vec<&Value> =
            event["spans"].as_array().map(|spans| spans.iter().rev().collect()).unwrap_or_default();
        let mut span_text = String::new();
        for span in spans.iter().rev() {
            let Some(span) = span.as_object() else { continue };
            let name = span.get("name").map(as_text).unwrap_or_default();
            let values: Vec<String> = span
                .iter()
                .filter(|(key, _)| *key != "name")
                .map(|(key, value)| format!("{key}={}", as_text(value)))
                .collect();
            span_text.push_str(&format!("{name}{{{}}}: ", values.join(" ")));
        }
        for span in spans {
            let Some(span) = span.as_object() else { continue };
            fields.extend(
                span.iter()
                    .filter(|(key, _)| *key != "name")
                    .map(|(key, value)| (key.clone(), as_text(value))),
            );
        }
        let text = format!(
            "{} {:>5} {span_text}{}: {message}{rest}",
            as_text(&event["timestamp"]),
            as_text(&event["level"]),
            as_text(&event["target"]),
        );
        Some(LogLine { text, message, fields: Some(fields) })
    }

    /// The value of the field `key`: the event's own, else its innermost
    /// span's. For a text line: from after `key=` to the next ` name=`
    /// (values such as diagnostics contain spaces), unquoted.
    pub fn field(&self, key: &str) -> Option<&str> {
        let Some(fields) = &self.fields else { return self.text_field(key) };
        fields.iter().find(|(name, _)| name == key).map(|(_, value)| value.as_str())
    }

    fn text_field(&self, key: &str) -> Option<&str> {
        let needle = format!(" {key}=");
        let start = self.text.find(&needle)? + needle.len();
        let rest = &self.text[start..];
        let mut end = rest.len();
        let bytes = rest.as_bytes();
        for (index, _) in rest.match_indices(' ') {
            let after = &bytes[index + 1..];
            let name_len = after.iter().take_while(|b| b.is_ascii_lowercase() || **b == b'_').count();
            if name_len > 0 && after.get(name_len) == Some(&b'=') {
                end = index;
                break;
            }
        }
        Some(rest[..end].trim_matches('"'))
    }

    /// A numeric field.
    pub fn number(&self, key: &str) -> Option<u64> {
        self.field(key)?.parse().ok()
    }

    /// Whether its message contains `text` (a text line: its text).
    pub fn says(&self, text: &str) -> bool {
        match &self.fields {
            Some(_) => self.message.contains(text),
            None => self.text.contains(text),
        }
    }

    /// Whether the event's message or one of its fields' values contains
    /// `text` (the whole line, for a text line).
    pub fn mentions(&self, text: &str) -> bool {
        match &self.fields {
            Some(fields) => {
                self.message.contains(text) || fields.iter().any(|(_, value)| value.contains(text))
            }
            None => self.text.contains(text),
        }
    }
}

impl std::fmt::Display for LogLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// A MetalLB BFDProfile document; `spec` is a YAML flow mapping's body,
/// e.g. `receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3`.
pub fn bfd_profile(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {{name: {name}, namespace: \
         metallb-system}}\nspec: {{{spec}}}\n"
    )
}

/// A MetalLB BGPPeer (v1beta2) with BFD profile `profile`; `extra` adds
/// fields to its spec (e.g. `ebgpMultiHop: true`).
pub fn bgp_peer(name: &str, peer: &str, source: &str, profile: &str, extra: &str) -> String {
    let extra = if extra.is_empty() { String::new() } else { format!(", {extra}") };
    format!(
        "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: {name}, namespace: \
         metallb-system}}\nspec: {{myASN: 64500, peerASN: 64501, peerAddress: '{peer}', sourceAddress: \
         '{source}', bfdProfile: {profile}{extra}}}\n"
    )
}

/// Documents joined into one YAML stream.
pub fn documents(documents: &[String]) -> String {
    documents.join("---\n")
}

/// The 50 ms x 3 profile named `fast` and one BGPPeer using it, the agent
/// at `local`, the peer at `peer`.
pub fn fast_config(peer: &str, local: &str) -> String {
    documents(&[
        bfd_profile("fast", "receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3"),
        bgp_peer("peer", peer, local, "fast", ""),
    ])
}

/// A bfdd `peer` block at 50 ms x 3 (`multihop` adds the keyword), with
/// `extra` lines (e.g. `passive-mode`).
pub fn frr_peer(peer: &str, local: &str, multihop: bool, extra: &[&str]) -> String {
    let multihop = if multihop { " multihop" } else { "" };
    let mut text = format!(
        " peer {peer}{multihop} local-address {local}\n  receive-interval 50\n  transmit-interval 50\n  \
         detect-multiplier 3\n"
    );
    for line in extra {
        text.push_str(&format!("  {line}\n"));
    }
    text.push_str(" exit\n");
    text
}

/// A whole bfdd configuration: debug logging and a `bfd` node with the
/// given `peer` blocks.
pub fn frr_config(peers: &[String]) -> String {
    format!("debug bfd peer\ndebug bfd network\nbfd\n{}exit\n", peers.concat())
}

/// A packet capture (tcpdump) in a namespace, into a pcap file; stopped and
/// removed on drop. Its timestamps are the kernel's receive times
/// (CLOCK_REALTIME), to the microsecond.
pub struct Capture {
    child: Option<std::process::Child>,
    dir: PathBuf,
}

impl Capture {
    /// Captures what `filter` (pcap syntax) matches on `interface` in
    /// `netns`; returns once tcpdump listens.
    pub fn start(netns: &NetNs, interface: &str, filter: &str) -> anyhow::Result<Capture> {
        let dir = std::env::temp_dir().join(unique_name("cap"));
        std::fs::create_dir_all(&dir)?;
        let stderr = std::fs::File::create(dir.join("tcpdump.err"))?;
        let child = netns
            .command("tcpdump")
            .args([
                "-i",
                interface,
                "-n",
                "-U",
                "--immediate-mode",
                "-s",
                "128",
                "--time-stamp-precision=micro",
                "-w",
            ])
            .arg(dir.join("capture.pcap"))
            .arg(filter)
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .context("starting tcpdump")?;
        let mut capture = Capture { child: Some(child), dir };
        wait_for("tcpdump to listen", Duration::from_secs(10), || {
            if let Some(status) = capture.child.as_mut().and_then(|child| child.try_wait().ok().flatten()) {
                bail!("tcpdump exited ({status}): {}", capture.stderr());
            }
            Ok(capture.stderr().contains("listening on").then_some(()))
        })?;
        Ok(capture)
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("tcpdump.err")).unwrap_or_default()
    }

    /// The pcap file (complete once [`Capture::stop`] returned).
    pub fn pcap(&self) -> PathBuf {
        self.dir.join("capture.pcap")
    }

    /// Stops the capture (flushing it).
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT)?;
        let exited = wait_for("tcpdump to exit", Duration::from_secs(5), || Ok(child.try_wait()?));
        if exited.is_err() {
            let _ = child.kill();
            let _ = child.wait();
        }
        exited.map(drop)
    }

    /// The BFD control packets captured, decoded by tshark (tcpdump takes
    /// UDP port 49152, a BFD source port, for Broadcom's LI shim). Stops
    /// the capture.
    pub fn bfd_packets(&mut self) -> anyhow::Result<Vec<BfdPacket>> {
        self.stop()?;
        let text = run_stdout(
            Command::new("tshark")
                .arg("-r")
                .arg(self.dir.join("capture.pcap"))
                .args(["-d", "udp.port==3784,bfd", "-d", "udp.port==4784,bfd", "-Y", "bfd", "-T", "fields"])
                .args(["-E", "separator=;", "-e", "frame.time_epoch", "-e", "ip.src", "-e", "ipv6.src"])
                .args(["-e", "ip.dst", "-e", "ipv6.dst", "-e", "bfd.flags.p", "-e", "bfd.flags.f"])
                .args(["-e", "bfd.sta", "-e", "bfd.desired_min_tx_interval", "-e", "bfd.diag"])
                .stderr(std::process::Stdio::null()),
        )?;
        let flag = |text: &str| matches!(text, "1" | "True" | "true");
        let mut packets = Vec::new();
        for line in text.lines() {
            let fields: Vec<&str> = line.split(';').collect();
            if fields.len() < 9 {
                continue;
            }
            let Some((secs, fraction)) = fields[0].split_once('.') else { continue };
            let micros: String = fraction.chars().chain(std::iter::repeat('0')).take(6).collect();
            let (Ok(secs), Ok(micros)) = (secs.parse::<u64>(), micros.parse::<u64>()) else { continue };
            let pick = |v4: &str, v6: &str| if v4.is_empty() { v6.to_owned() } else { v4.to_owned() };
            packets.push(BfdPacket {
                at_us: secs * 1_000_000 + micros,
                source: pick(fields[1], fields[2]),
                destination: pick(fields[3], fields[4]),
                poll: flag(fields[5]),
                final_: flag(fields[6]),
                state: fields[7].to_owned(),
                desired_min_tx_us: fields[8].parse().unwrap_or(0),
                diag: fields.get(9).map_or(0, |field| number(field)),
            });
        }
        Ok(packets)
    }
}

/// One captured BFD control packet.
#[derive(Clone, Debug)]
pub struct BfdPacket {
    /// When the capturing link saw it, CLOCK_REALTIME microseconds.
    pub at_us: u64,
    /// IP source.
    pub source: String,
    /// IP destination.
    pub destination: String,
    /// The P bit.
    pub poll: bool,
    /// The F bit.
    pub final_: bool,
    /// tshark's state value (`0`..`3`, or its name).
    pub state: String,
    /// Desired Min TX Interval, µs.
    pub desired_min_tx_us: u64,
    /// The diagnostic code (RFC 5880 §4.1).
    pub diag: u8,
}

/// A field tshark printed as a number, decimal or `0x` hex (0 if neither).
fn number(field: &str) -> u8 {
    match field.strip_prefix("0x") {
        Some(hex) => u8::from_str_radix(hex, 16).unwrap_or(0),
        None => field.parse().unwrap_or(0),
    }
}

impl BfdPacket {
    /// tshark's state field says Up (its value, or its name).
    pub fn is_up(&self) -> bool {
        matches!(self.state.as_str(), "3" | "0x03" | "0x3") || self.state.eq_ignore_ascii_case("up")
    }

    /// tshark's state field says Down (its value, or its name).
    pub fn is_down(&self) -> bool {
        matches!(self.state.as_str(), "1" | "0x01" | "0x1") || self.state.eq_ignore_ascii_case("down")
    }

    /// tshark's state field says Init (its value, or its name).
    pub fn is_init(&self) -> bool {
        matches!(self.state.as_str(), "2" | "0x02" | "0x2") || self.state.eq_ignore_ascii_case("init")
    }
}

/// How a sender's periodic control packets kept RFC 5880 §6.8.7's window:
/// "reduced by a random value of 0 to 25%" (75-100% of the interval), and
/// with a Detect Mult of 1 "no more than 90%".
#[derive(Clone, Debug)]
pub struct TxWindow {
    /// The negotiated transmit interval the window is for, µs.
    pub interval_us: u64,
    /// The intervals measured, µs.
    pub intervals_us: Vec<u64>,
    /// The window, µs, widened by the capture's own slack.
    pub low_us: u64,
    /// See `low_us`.
    pub high_us: u64,
}

impl TxWindow {
    /// The intervals between the consecutive periodic packets `source` sent
    /// in `packets` (one direction of a capture, in order) while both it and
    /// its previous packet said Up, against the window for `interval_us` and
    /// `detect_mult`, widened by `slack_us` each side (capture stamps).
    /// Finals are left out: §6.8.7 sends them "without respect to the
    /// transmission timer", and they do not move it. So are packets with
    /// the Poll bit that follow a packet without: a Poll Sequence starts
    /// with an immediate packet, by design.
    pub fn measure(
        packets: &[BfdPacket],
        source: &str,
        interval_us: u64,
        detect_mult: u8,
        slack_us: u64,
    ) -> TxWindow {
        let ours: Vec<&BfdPacket> = packets.iter().filter(|p| p.source == source && !p.final_).collect();
        let intervals_us = ours
            .windows(2)
            .filter(|pair| {
                // A Poll right after a packet without one starts a sequence.
                let starts_a_poll = pair[1].poll && !pair[0].poll;
                pair[0].is_up() && pair[1].is_up() && !starts_a_poll
            })
            .map(|pair| pair[1].at_us.saturating_sub(pair[0].at_us))
            .collect();
        let high = if detect_mult == 1 { interval_us * 9 / 10 } else { interval_us };
        TxWindow {
            interval_us,
            intervals_us,
            low_us: (interval_us * 3 / 4).saturating_sub(slack_us),
            high_us: high + slack_us,
        }
    }

    /// The intervals outside the window.
    pub fn outside(&self) -> Vec<u64> {
        self.intervals_us.iter().copied().filter(|i| *i < self.low_us || *i > self.high_us).collect()
    }

    /// The share of intervals inside the window, 0 to 1 (1 with none).
    pub fn share_inside(&self) -> f64 {
        if self.intervals_us.is_empty() {
            return 1.0;
        }
        1.0 - self.outside().len() as f64 / self.intervals_us.len() as f64
    }

    /// Prints the measurement under `who`: the intervals, the share inside
    /// the window and those outside.
    pub fn report(&self, who: &str) {
        eprintln!(
            "{who}: {} intervals, {:.2}% inside [{}, {}] µs, outside: {:?}",
            self.intervals_us.len(),
            self.share_inside() * 100.0,
            self.low_us,
            self.high_us,
            self.outside()
        );
    }

    /// Prints the measurement under `who` and fails unless the capture,
    /// `span` long, holds at least 90% of the periodic intervals it can
    /// hold (packets that did not go out on time are missing intervals, not
    /// long ones) and at least `inside_at_least` (0 to 1) of them are
    /// inside the window.
    pub fn check(&self, who: &str, span: Duration, inside_at_least: f64) -> anyhow::Result<()> {
        self.report(who);
        let outside = self.outside();
        let expected = span.as_micros() as u64 / self.interval_us.max(1);
        anyhow::ensure!(
            self.intervals_us.len() as u64 >= expected * 9 / 10,
            "{who}: only {} periodic intervals in {span:?} at {} µs: packets did not go out on time",
            self.intervals_us.len(),
            self.interval_us
        );
        anyhow::ensure!(
            self.share_inside() >= inside_at_least,
            "{who}: {:.2}% of the intervals inside §6.8.7's window (at least {}%): outside {outside:?}",
            self.share_inside() * 100.0,
            inside_at_least * 100.0
        );
        Ok(())
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// CLOCK_REALTIME minus CLOCK_MONOTONIC, in microseconds: turns the agent's
/// `at_us` (monotonic) into a packet capture's time base.
pub fn realtime_minus_monotonic_us() -> u64 {
    let monotonic = crate::lab::monotonic_ns();
    let realtime = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (realtime.as_nanos() as u64).saturating_sub(monotonic) / 1000
}

/// A scratch directory, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// `/tmp/<prefix><pid>-<n>`, created.
    pub fn new(prefix: &str) -> anyhow::Result<TempDir> {
        let path = std::env::temp_dir().join(unique_name(prefix));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir { path })
    }

    /// A file in it.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A JSON number as u64 (0 when absent), for counters.
pub fn count(value: &Value, key: &str) -> u64 {
    value[key].as_u64().unwrap_or(0)
}

/// Fails with both views when `condition` is false.
pub fn ensure_json(condition: bool, what: &str, json: &Value) -> anyhow::Result<()> {
    if !condition {
        bail!("{what}: {json:#}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line of `bfd-agent run --log-format json`, as written by the agent.
    const STATE_CHANGE: &str = r#"{"timestamp":"2026-12-05T23:02:20.755717Z","level":"INFO","fields":{"message":"session state change","peer":"10.77.0.1","local":"Some(10.77.0.2)","interface":"None","discr":931401713,"from":"Down","to":"AdminDown","diagnostic":"administratively down","cause":"AdminDown","failure":false,"at_us":13488276061,"latency_us":0},"target":"bfd_user::engine","span":{"discr":931401713,"local":"Some(10.77.0.2)","peer":"10.77.0.1","name":"session"},"spans":[{"discr":931401713,"local":"Some(10.77.0.2)","peer":"10.77.0.1","name":"session"}]}"#;

    #[test]
    fn a_json_event_gives_its_message_fields_and_text_form() {
        let event = LogLine::from_json(STATE_CHANGE).unwrap();
        assert_eq!(event.message, "session state change");
        assert_eq!(event.field("to"), Some("AdminDown"));
        assert_eq!(event.field("diagnostic"), Some("administratively down"));
        assert_eq!(event.field("failure"), Some("false"));
        assert_eq!(event.number("at_us"), Some(13_488_276_061));
        assert_eq!(event.field("name"), None, "a span's name is not a field");
        assert!(event.mentions("AdminDown") && !event.mentions("Up"));
        assert_eq!(
            event.text,
            "2026-12-05T23:02:20.755717Z  INFO session{discr=931401713 local=Some(10.77.0.2) peer=10.77.0.1}: \
             bfd_user::engine: session state change peer=10.77.0.1 local=Some(10.77.0.2) interface=None \
             discr=931401713 from=Down to=AdminDown diagnostic=administratively down cause=AdminDown \
             failure=false at_us=13488276061 latency_us=0"
        );
    }

    #[test]
    fn a_span_field_is_found_when_the_event_lacks_it() {
        let line = r#"{"timestamp":"t","level":"INFO","fields":{"message":"m"},"target":"x","spans":[{"name":"session","peer":"10.0.0.1","discr":7}]}"#;
        let event = LogLine::from_json(line).unwrap();
        assert_eq!(event.field("peer"), Some("10.0.0.1"));
        assert_eq!(event.number("discr"), Some(7));
    }

    #[test]
    fn lines_that_are_not_json_events_are_none() {
        assert!(LogLine::from_json("thread 'main' panicked at src/main.rs:1:1").is_none());
        assert!(LogLine::from_json("[1, 2]").is_none());
    }

    #[test]
    fn a_text_line_is_read_field_by_field() {
        let line = LogLine::new(
            "2026-12-05T22:55:40Z  INFO bfd_user::engine: session state change peer=10.77.0.1 from=Down \
             to=AdminDown diagnostic=administratively down cause=AdminDown",
        );
        assert_eq!(line.field("diagnostic"), Some("administratively down"));
        assert_eq!(line.field("to"), Some("AdminDown"));
    }
}
