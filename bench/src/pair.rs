//! Two nodes running one implementation on both ends of a veth (agent <->
//! agent, bfdd <-> bfdd or BIRD <-> BIRD), with any number of sessions between them, on
//! the same topology and timers for both: node A's addresses are
//! 10.78.0-127.x, node B's 10.78.128-255.x (one /16 on the link), and
//! session i runs between A's i-th and B's i-th address: bfdd keys a
//! single-hop session by its peer's address alone, so every session needs
//! a peer address of its own on both nodes. A sample of the sessions
//! ([`with_sample`]) runs on a second link through a bridge instead
//! (10.79.x), where a capture sees both nodes' packets ([`SampleLink`]).

use std::{
    collections::HashMap,
    fmt::Write as _,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use bfd_lab::{
    agent::{Agent, AgentArgs},
    bird::{Bird, BirdRelease},
    e2e::{Cut, Frr, FrrRelease, Link, address_ends, bfd_profile, bgp_peer},
    lab::{NetNs, XdpPass, napi_threads, run, threaded_napi, unique_name, veth},
};
use bfd_user::config::EngineScheduling;
use serde_json::Value;

use crate::measure::{ProcessSample, find_pid, pinned_map_bytes, rss_kib};

/// Which BFD implementation runs on both nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Implementation {
    /// bfd-agent with the XDP fast path, its engine thread scheduled so
    /// (`rtPriority`, `rtDeadline`).
    Agent(EngineScheduling),
    /// bfd-agent with `--no-xdp`: every session timed in userspace, as
    /// multihop sessions and sessions on links without the program are.
    AgentNoXdp(EngineScheduling),
    /// FRR's bfdd of a release (8.4 from the host, 10.7 chrooted from
    /// Debian sid, see `bfd_lab::peers`).
    Bfdd(FrrRelease),
    /// BIRD's BFD protocol of a release (2.0 from the host, 2.20 and 3
    /// chrooted from Debian sid).
    Bird(BirdRelease),
}

/// FRR 8.4's bfdd (the host's).
pub const BFDD_8_4: Implementation = Implementation::Bfdd(FrrRelease::V8_4);
/// FRR 10.7's bfdd (Debian sid's, chrooted).
pub const BFDD_10_7: Implementation = Implementation::Bfdd(FrrRelease::V10_7);
/// BIRD 2.20 (Debian sid's, chrooted).
pub const BIRD_2_20: Implementation = Implementation::Bird(BirdRelease::V2_20);

impl Implementation {
    /// Its label in tables.
    pub fn label(self) -> String {
        match self {
            Implementation::Agent(EngineScheduling::Normal) => "bfd-agent".into(),
            Implementation::Agent(EngineScheduling::Fifo(priority)) => {
                format!("bfd-agent --rt-priority {priority}")
            }
            Implementation::Agent(EngineScheduling::Deadline(budget)) => {
                format!("bfd-agent --rt-deadline {budget}")
            }
            Implementation::AgentNoXdp(scheduling) => {
                let agent = Implementation::Agent(scheduling).label();
                format!("bfd-agent --no-xdp{}", agent.strip_prefix("bfd-agent").unwrap_or_default())
            }
            Implementation::Bfdd(release) => format!("FRR bfdd {}", release.version()),
            Implementation::Bird(release) => release.to_string(),
        }
    }

    /// A peer the agent is compared with (FRR's bfdd or BIRD).
    pub fn is_peer(self) -> bool {
        matches!(self, Implementation::Bfdd(_) | Implementation::Bird(_))
    }

    /// The shortest interval it accepts, µs (FRR 8.4 and 10.7: 10 ms).
    pub fn minimum_interval_us(self) -> u64 {
        match self {
            Implementation::Agent(_) | Implementation::AgentNoXdp(_) => 1_000,
            Implementation::Bfdd(_) => 10_000,
            // BIRD takes any interval in µs; 1 ms is the bench's floor.
            Implementation::Bird(_) => 1_000,
        }
    }
}

/// One session: A's and B's addresses and its timers (both ends the same).
#[derive(Clone, Debug)]
pub struct SessionSpec {
    /// Node A's address.
    pub a: String,
    /// Node B's address.
    pub b: String,
    /// Transmit and receive interval, µs.
    pub interval_us: u64,
    /// Detect multiplier.
    pub multiplier: u8,
    /// On the sampled link ([`SampleLink`], addresses 10.79.x) instead of
    /// the veth, so that a capture sees its packets ([`with_sample`]).
    pub sampled: bool,
}

impl SessionSpec {
    /// The detection time, µs.
    pub fn detection_time_us(&self) -> u64 {
        self.interval_us * u64::from(self.multiplier)
    }
}

/// N sessions with the given intervals (session i gets `intervals[i %
/// len]`), multiplier 3.
pub fn sessions(count: usize, intervals_us: &[u64]) -> Vec<SessionSpec> {
    (0..count)
        .map(|index| SessionSpec {
            a: address(0, index),
            b: address(128, index),
            interval_us: intervals_us[index % intervals_us.len()],
            multiplier: 3,
            sampled: false,
        })
        .collect()
}

/// `sessions` with `sample` of them, spread evenly over the indexes, moved
/// to the pair's sampled link: their addresses become 10.79.x (the same
/// host parts), a /16 of that link's own, so the kernel routes each
/// session's packets out of the link its addresses are on.
pub fn with_sample(mut sessions: Vec<SessionSpec>, sample: usize) -> Vec<SessionSpec> {
    if sample == 0 {
        return sessions;
    }
    let step = (sessions.len() / sample).max(1);
    for (index, session) in sessions.iter_mut().enumerate() {
        if index % step == 0 && index / step < sample {
            session.a = session.a.replacen("10.78.", "10.79.", 1);
            session.b = session.b.replacen("10.78.", "10.79.", 1);
            session.sampled = true;
        }
    }
    sessions
}

/// The `index`-th address of the node whose block starts at third octet
/// `base` (250 addresses per octet, 128 octets: 32,000 sessions).
fn address(base: usize, index: usize) -> String {
    assert!(index < 32_000, "at most 32,000 sessions");
    format!("10.78.{}.{}", base + index / 250, index % 250 + 1)
}

/// One side of the pair.
pub enum Node {
    /// A bfd-agent.
    Agent(Agent),
    /// A bfdd.
    Frr(Frr),
    /// A BIRD.
    Bird(Bird),
}

impl Node {
    /// Its pid.
    pub fn pid(&self) -> anyhow::Result<i32> {
        match self {
            Node::Agent(agent) => {
                find_pid(&agent.socket().display().to_string()).context("cannot find the agent's process")
            }
            Node::Frr(frr) => {
                let text = std::fs::read_to_string(frr.dir().join("bfdd.pid"))?;
                text.trim().parse().context("bfdd.pid")
            }
            Node::Bird(bird) => {
                let text = std::fs::read_to_string(bird.dir().join("bird.pid"))?;
                text.trim().parse().context("bird.pid")
            }
        }
    }

    /// Every session's `show ... peers --json` object (FRR's keys).
    pub fn peers(&self) -> anyhow::Result<Vec<Value>> {
        match self {
            Node::Agent(agent) => agent.show_peers(),
            Node::Frr(frr) => frr.peers(),
            // `birdc show bfd sessions`, in FRR's keys where they exist.
            Node::Bird(bird) => Ok(bird
                .sessions()?
                .into_iter()
                .map(|session| {
                    serde_json::json!({"peer": session.peer, "status": session.state.to_lowercase()})
                })
                .collect()),
        }
    }

    /// How many sessions are Up. The agent answers from its status (a
    /// count, cheap at any N; every session's report at 10,000 sessions
    /// took a second or more of the agent's and the bench's time, which
    /// the bring-up figure then included); the others from every session's.
    pub fn up_count(&self) -> anyhow::Result<usize> {
        if let Node::Agent(agent) = self
            && let Some(up) = agent.status()?["sessions_up"].as_u64()
        {
            return Ok(up as usize);
        }
        Ok(self.peers()?.iter().filter(|session| session["status"] == "up").count())
    }

    /// Every session's `show ... peers counters --json` object.
    pub fn counters(&self) -> anyhow::Result<Vec<Value>> {
        match self {
            Node::Agent(agent) => agent.show_counters(),
            Node::Frr(frr) => frr.counters(),
            Node::Bird(_) => bail!("BIRD keeps no per-session counters"),
        }
    }

    /// Up and Down events of every session so far (FRR's `session-up` and
    /// `session-down` counters, which the agent keeps too).
    pub fn state_changes(&self) -> anyhow::Result<u64> {
        Ok(self.state_changes_by_session()?.values().sum())
    }

    /// Up and Down events so far, by (local address, peer address).
    pub fn state_changes_by_session(&self) -> anyhow::Result<HashMap<(String, String), u64>> {
        if let Node::Bird(bird) = self {
            // BIRD keeps no counters: its log's state changes (`debug {
            // events }`), counted as FRR counts (into Up, and from Up to
            // Down). The log names the peer only.
            let mut changes: HashMap<(String, String), u64> = HashMap::new();
            for line in bird.state_changes() {
                let counted = line.ends_with("to Up") || line.contains("from Up to Down");
                let peer = line.split("Session to ").nth(1).and_then(|rest| rest.split_whitespace().next());
                if let (true, Some(peer)) = (counted, peer) {
                    *changes.entry((String::new(), peer.to_owned())).or_default() += 1;
                }
            }
            return Ok(changes);
        }
        Ok(self
            .counters()?
            .iter()
            .map(|session| {
                let key = (
                    session["local"].as_str().unwrap_or_default().to_owned(),
                    session["peer"].as_str().unwrap_or_default().to_owned(),
                );
                let changes = session["session-up"].as_u64().unwrap_or(0)
                    + session["session-down"].as_u64().unwrap_or(0);
                (key, changes)
            })
            .collect())
    }

    /// Its CPU time and wake-ups so far.
    pub fn sample(&self) -> anyhow::Result<ProcessSample> {
        ProcessSample::read(self.pid()?)
    }

    /// Resident memory, KiB.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        rss_kib(self.pid()?)
    }

    /// The memory of its pinned BPF maps, bytes (the agent only).
    pub fn map_bytes(&self) -> anyhow::Result<Option<u64>> {
        match self {
            Node::Agent(agent) => pinned_map_bytes(agent.pin_path()).map(Some),
            Node::Frr(_) | Node::Bird(_) => Ok(None),
        }
    }

    /// The agent, if this node runs one.
    pub fn agent(&self) -> Option<&Agent> {
        match self {
            Node::Agent(agent) => Some(agent),
            Node::Frr(_) | Node::Bird(_) => None,
        }
    }
}

/// Two nodes joined by a veth, both running `implementation` with the same
/// sessions. Everything goes away on drop (daemons first, then the
/// namespaces).
pub struct Pair {
    /// Node A (declared first: dropped before the link).
    pub a: Node,
    /// Node B.
    pub b: Node,
    /// The sessions.
    pub sessions: Vec<SessionSpec>,
    /// What runs on both nodes.
    pub implementation: Implementation,
    /// When the second daemon was being started.
    pub started: Instant,
    /// The namespaces and the veth.
    pub link: Link,
    /// The link of the sampled sessions, if any (dropped after the nodes).
    pub sample: Option<SampleLink>,
    /// Node A's agent's arguments, to start it again ([`Pair::kill_and_restart_a`]).
    a_args: Option<AgentArgs>,
    /// Pass programs on the nodes' ends for threaded NAPI without the
    /// agent's program ([`threaded_receive`]).
    _napi_pass: Vec<XdpPass>,
}

/// Whether the link's receive runs in NAPI threads of its own
/// (`BFD_BENCH_THREADED_NAPI=1`): see [`threaded_napi`]. Off by default.
pub fn threaded_receive() -> anyhow::Result<bool> {
    match std::env::var("BFD_BENCH_THREADED_NAPI") {
        Ok(value) => match value.trim() {
            "1" => Ok(true),
            "0" | "" => Ok(false),
            other => bail!("BFD_BENCH_THREADED_NAPI: 0 or 1, not {other:?}"),
        },
        Err(_) => Ok(false),
    }
}

/// A second link between the two nodes, for a sample of the sessions,
/// through a bridge in a third namespace: on the bridge's port that faces
/// node A a capture sees every frame either node sends on this link,
/// including those no capture on the nodes' own ends can see (the kernel's
/// XDP_TX answers and the packet path's frames skip the sender's taps; the
/// receiver's XDP program absorbs before its taps). The sample's sessions
/// run on the same agents, engines and programs as all the others.
pub struct SampleLink {
    /// The bridge's namespace.
    pub switch: NetNs,
    /// Node A's end (in `link.a`).
    pub a_if: String,
    /// Node B's end (in `link.b`).
    pub b_if: String,
    /// The bridge's port facing node A: where to capture.
    pub a_port: String,
    /// The bridge's port facing node B.
    pub b_port: String,
    /// The ports' pass programs.
    _pass: XdpPass,
}

impl SampleLink {
    fn new(prefix: &str, a: &NetNs, b: &NetNs) -> anyhow::Result<SampleLink> {
        let switch = NetNs::new(&format!("{prefix}S"))?;
        let (a_if, b_if) = (unique_name(&format!("{prefix}c")), unique_name(&format!("{prefix}d")));
        let (a_port, b_port) = (unique_name(&format!("{prefix}p")), unique_name(&format!("{prefix}q")));
        veth(a, &a_if, &switch, &a_port)?;
        veth(b, &b_if, &switch, &b_port)?;
        switch.ip(["link", "add", "br0", "type", "bridge"])?;
        for port in [&a_port, &b_port] {
            switch.ip(["link", "set", port, "master", "br0"])?;
        }
        // A native XDP_TX on the node's end reaches the port only while the
        // port's NAPI runs: with an XDP program of its own (GRO on the port
        // runs it too, but the port then drops part of those frames).
        let pass = XdpPass::attach(&switch, &[&a_port, &b_port])?;
        switch.ip(["link", "set", "br0", "up"])?;
        Ok(SampleLink { switch, a_if, b_if, a_port, b_port, _pass: pass })
    }
}

impl Pair {
    /// Creates the link, addresses it and starts both daemons.
    pub fn start(
        prefix: &str,
        implementation: Implementation,
        sessions: Vec<SessionSpec>,
    ) -> anyhow::Result<Pair> {
        Pair::start_with(prefix, implementation, sessions, &[])
    }

    /// [`Pair::start`], with `agent_args` for both agents (none for bfdd).
    pub fn start_with(
        prefix: &str,
        implementation: Implementation,
        sessions: Vec<SessionSpec>,
        agent_args: &[&str],
    ) -> anyhow::Result<Pair> {
        // One queue on each end unless `BFD_BENCH_LINK_QUEUES=N`
        // (`veth_with_queues`): at 10,000 sessions at 50 ms one queue's
        // ring overflows and two do not, while at 2000 at 10 ms two do far
        // worse than one (README, Performance); neither is a NIC with RSS.
        let queues = match std::env::var("BFD_BENCH_LINK_QUEUES") {
            Ok(queues) => queues.trim().parse().context("BFD_BENCH_LINK_QUEUES: a number of queues")?,
            Err(_) => 1,
        };
        let link = Link::with_queues(prefix, queues)?;
        let sample = if sessions.iter().any(|session| session.sampled) {
            Some(SampleLink::new(prefix, &link.a, &link.b)?)
        } else {
            None
        };
        let ends = |sampled: bool| {
            sessions
                .iter()
                .filter(move |session| session.sampled == sampled)
                .map(|session| (session.a.as_str(), session.b.as_str()))
        };
        address_ends(&link.a, &link.a_if, &link.b, &link.b_if, ends(false))?;
        if let Some(sample) = &sample {
            address_ends(&link.a, &sample.a_if, &link.b, &sample.b_if, ends(true))?;
        }
        // Bring-up is timed from the start of the second daemon.
        let started;
        let mut a_args = None;
        let (a, b) = match implementation {
            Implementation::Agent(scheduling) | Implementation::AgentNoXdp(scheduling) => {
                let no_xdp = matches!(implementation, Implementation::AgentNoXdp(_));
                let start = |netns: &NetNs,
                             name: &str,
                             iface: &str,
                             a_side: bool|
                 -> anyhow::Result<(Node, AgentArgs)> {
                    let sample_iface =
                        sample.as_ref().map(|sample| if a_side { &sample.a_if } else { &sample.b_if });
                    let args = AgentArgs {
                        log: "info".into(),
                        no_xdp,
                        extra: agent_args
                            .iter()
                            .map(|arg| (*arg).to_owned())
                            .chain(
                                sample_iface
                                    .into_iter()
                                    .flat_map(|iface| ["--iface".to_owned(), iface.clone()]),
                            )
                            .collect(),
                        ..AgentArgs::new(iface, agent_config(&sessions, a_side, scheduling))
                    };
                    Ok((Node::Agent(Agent::start_with(netns, name, args.clone())?), args))
                };
                let (a, args) = start(&link.a, "A", &link.a_if, true)?;
                a_args = Some(args);
                started = Instant::now();
                let (b, _) = start(&link.b, "B", &link.b_if, false)?;
                eprintln!(
                    "pair: B's control socket answered {:.1} s after its start",
                    started.elapsed().as_secs_f64()
                );
                (a, b)
            }
            Implementation::Bfdd(release) => {
                let a = Node::Frr(Frr::start_release(&link.a, release, &bfdd_config(&sessions, true)?)?);
                started = Instant::now();
                (a, Node::Frr(Frr::start_release(&link.b, release, &bfdd_config(&sessions, false)?)?))
            }
            Implementation::Bird(release) => {
                let a = Node::Bird(Bird::start_release(&link.a, release, &bird_config(&sessions, true)?)?);
                started = Instant::now();
                (a, Node::Bird(Bird::start_release(&link.b, release, &bird_config(&sessions, false)?)?))
            }
        };
        let napi_pass = if threaded_receive()? {
            thread_the_receive(&link, sample.as_ref(), implementation)?
        } else {
            Vec::new()
        };
        Ok(Pair { a, b, sessions, implementation, started, link, sample, a_args, _napi_pass: napi_pass })
    }

    /// Waits until every session is Up on both nodes; returns the time
    /// since both were started, or `None` after `timeout`.
    pub fn wait_all_up(&self, timeout: Duration) -> anyhow::Result<Option<Duration>> {
        let deadline = Instant::now() + timeout;
        let wanted = self.sessions.len();
        let mut last = None;
        loop {
            // Timed when B is asked: A's sessions were Up when A answered,
            // just before, and B's by the time B's answer was taken; the
            // time the answers take to come back (seconds for every
            // session's report at 10,000) is the bench's, not the
            // bring-up's.
            let a_up = self.a.up_count()?;
            let asked_b = self.started.elapsed();
            let b_up = self.b.up_count()?;
            if wanted > 1000 && last.replace((a_up, b_up)) != Some((a_up, b_up)) {
                eprintln!(
                    "pair: {a_up} (A) and {b_up} (B) of {wanted} Up at {:.1} s (answered at {:.1} s)",
                    asked_b.as_secs_f64(),
                    self.started.elapsed().as_secs_f64()
                );
            }
            if a_up == wanted && b_up == wanted {
                return Ok(Some(asked_b));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            // Every session's report is heavy at large N; the agent's count
            // is not.
            let heavy = wanted > 1000 && !matches!(self.a, Node::Agent(_));
            std::thread::sleep(Duration::from_millis(if heavy { 1000 } else { 100 }));
        }
    }

    /// SIGKILL to node A's agent, then the same agent started again on its
    /// pins (it adopts what the first left); returns when its control
    /// socket answers. Agents only.
    pub fn kill_and_restart_a(&mut self) -> anyhow::Result<()> {
        let (Node::Agent(agent), Some(args)) = (&mut self.a, &self.a_args) else {
            bail!("only an agent is restarted on its pins");
        };
        agent.kill()?;
        agent.restart(&self.link.a, args)
    }

    /// Up on both nodes.
    pub fn up_counts(&self) -> anyhow::Result<(usize, usize)> {
        Ok((self.a.up_count()?, self.b.up_count()?))
    }

    /// State changes on both nodes.
    pub fn state_changes(&self) -> anyhow::Result<u64> {
        Ok(self.a.state_changes()? + self.b.state_changes()?)
    }

    /// Cuts node B's control packets to A (nftables in B's output hook,
    /// the same for both implementations): A must detect.
    pub fn cut_b_to_a(&self) -> anyhow::Result<Cut> {
        Cut::outgoing_control(&self.link.b)
    }
}

/// Moves the receive of every end of the pair's links (the bridge's ports
/// too) to NAPI threads ([`threaded_receive`]); returns the pass programs
/// a peer's ends need for NAPI contexts (the agent's program gives its
/// own), so that both kinds of daemon are measured on the same link.
/// `BFD_BENCH_NAPI_RT_PRIORITY=P` runs the threads at SCHED_FIFO P (above a
/// SCHED_FIFO engine, or they wait behind it).
fn thread_the_receive(
    link: &Link,
    sample: Option<&SampleLink>,
    implementation: Implementation,
) -> anyhow::Result<Vec<XdpPass>> {
    let priority = match std::env::var("BFD_BENCH_NAPI_RT_PRIORITY") {
        Ok(priority) => {
            Some(priority.trim().parse::<u8>().context("BFD_BENCH_NAPI_RT_PRIORITY: a priority, 1-99")?)
        }
        Err(_) => None,
    };
    let mut ends = vec![(&link.a, link.a_if.as_str()), (&link.b, link.b_if.as_str())];
    if let Some(sample) = sample {
        ends.extend([(&link.a, sample.a_if.as_str()), (&link.b, sample.b_if.as_str())]);
    }
    let mut pass = Vec::new();
    if !matches!(implementation, Implementation::Agent(_)) {
        for (netns, interface) in &ends {
            pass.push(XdpPass::attach(netns, &[interface])?);
        }
    }
    if let Some(sample) = sample {
        ends.extend([(&sample.switch, sample.a_port.as_str()), (&sample.switch, sample.b_port.as_str())]);
    }
    for (netns, interface) in ends {
        threaded_napi(netns, interface)?;
        if let Some(priority) = priority {
            for pid in napi_threads(interface) {
                run(std::process::Command::new("chrt").args([
                    "-f",
                    "-p",
                    &priority.to_string(),
                    &pid.to_string(),
                ]))?;
            }
        }
    }
    Ok(pass)
}

/// Profile names by interval.
fn profile_name(interval_us: u64) -> String {
    format!("i{interval_us}us")
}

/// The agent's configuration for one side: a profile per interval (in µs,
/// as strings), a BGPPeer per session, and a BFDAgentConfig with
/// `rtPriority` when asked.
fn agent_config(sessions: &[SessionSpec], a_side: bool, scheduling: EngineScheduling) -> String {
    let mut intervals: Vec<(u64, u8)> = sessions.iter().map(|s| (s.interval_us, s.multiplier)).collect();
    intervals.sort_unstable();
    intervals.dedup();
    let mut documents: Vec<String> = intervals
        .iter()
        .map(|(interval, multiplier)| {
            bfd_profile(
                &profile_name(*interval),
                &format!(
                    "receiveInterval: '{interval}us', transmitInterval: '{interval}us', detectMultiplier: {multiplier}"
                ),
            )
        })
        .collect();
    for (index, session) in sessions.iter().enumerate() {
        let (peer, local) = if a_side { (&session.b, &session.a) } else { (&session.a, &session.b) };
        documents.push(bgp_peer(&format!("s{index}"), peer, local, &profile_name(session.interval_us), ""));
    }
    let spec = match scheduling {
        EngineScheduling::Normal => None,
        EngineScheduling::Fifo(priority) => Some(format!("rtPriority: {priority}")),
        EngineScheduling::Deadline(budget) => Some(format!("rtDeadline: {budget}")),
    };
    if let Some(spec) = spec {
        documents.push(format!(
            "apiVersion: bfd-xdp.io/v1alpha1\nkind: BFDAgentConfig\nmetadata: {{name: bench}}\nspec: {{{spec}}}\n"
        ));
    }
    documents.join("---\n")
}

/// bfdd's configuration for one side: a `peer` block per session, without
/// debug logging (it would cost bfdd CPU the agent does not spend).
fn bfdd_config(sessions: &[SessionSpec], a_side: bool) -> anyhow::Result<String> {
    let mut text = String::from("bfd\n");
    for session in sessions {
        if session.interval_us % 1000 != 0 || session.interval_us < 10_000 {
            bail!("bfdd cannot run {} µs (whole milliseconds from 10 ms)", session.interval_us);
        }
        let (peer, local) = if a_side { (&session.b, &session.a) } else { (&session.a, &session.b) };
        let ms = session.interval_us / 1000;
        let _ = write!(
            text,
            " peer {peer} local-address {local}\n  receive-interval {ms}\n  transmit-interval {ms}\n  \
             detect-multiplier {}\n exit\n",
            session.multiplier
        );
    }
    text.push_str("exit\n");
    Ok(text)
}

/// BIRD's configuration for one side: one `protocol bfd` whose interface
/// options give every session its timers, a `neighbor` per session, and
/// `debug { events }` for the state changes in its log (one line per
/// change: nothing in the steady state).
///
/// One interval per pair: BIRD 2 has no per-neighbor timers (a `neighbor`
/// takes the options of the `interface` pattern its interface matches, and
/// every session here is on the one veth), and a second `protocol bfd`
/// does not help: a `neighbor` line is a request that goes to the first
/// BFD protocol accepting its address family and hop count (proto/bfd/bfd.c,
/// `bfd_add_request`), whichever protocol it is written in. Tried with
/// BIRD 2.20 (two protocols, `strict bind`): both sessions ran at the first
/// protocol's 10 ms. Only BGP's `bfd { ... }` sets timers per session.
fn bird_config(sessions: &[SessionSpec], a_side: bool) -> anyhow::Result<String> {
    let first = sessions.first().context("no sessions")?;
    if sessions.iter().any(|s| (s.interval_us, s.multiplier) != (first.interval_us, first.multiplier)) {
        bail!("BIRD runs all its neighbors' sessions at its interface's timers: one interval per pair");
    }
    let router_id = if a_side { &first.a } else { &first.b };
    let mut text = format!(
        "router id {router_id};\nprotocol device {{ }}\nprotocol bfd {{\n  debug {{ events }};\n  interface \"*\" {{\n    \
         min rx interval {us} us;\n    min tx interval {us} us;\n    multiplier {};\n  }};\n",
        first.multiplier,
        us = first.interval_us
    );
    for session in sessions {
        let (peer, local) = if a_side { (&session.b, &session.a) } else { (&session.a, &session.b) };
        let _ = writeln!(text, "  neighbor {peer} local {local};");
    }
    text.push_str("}\n");
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_spread_over_the_sessions_on_addresses_of_its_own() {
        let sampled = with_sample(sessions(10_000, &[50_000]), 16);
        let indexes: Vec<usize> = (0..sampled.len()).filter(|&index| sampled[index].sampled).collect();
        assert_eq!(indexes.len(), 16);
        assert_eq!(indexes[0], 0);
        assert!(indexes[15] >= 9000, "not spread: {indexes:?}");
        for (index, session) in sampled.iter().enumerate() {
            let prefix = if session.sampled { "10.79." } else { "10.78." };
            assert!(session.a.starts_with(prefix) && session.b.starts_with(prefix), "{index}: {session:?}");
        }
        // Every address is still unique (bfdd keys a session by its peer's).
        let mut addresses: Vec<&str> = sampled.iter().flat_map(|s| [s.a.as_str(), s.b.as_str()]).collect();
        addresses.sort_unstable();
        addresses.dedup();
        assert_eq!(addresses.len(), 20_000);
        // More sessions sampled than exist: all of them; none: none.
        assert!(with_sample(sessions(5, &[50_000]), 16).iter().all(|s| s.sampled));
        assert!(with_sample(sessions(5, &[50_000]), 0).iter().all(|s| !s.sampled));
    }

    #[test]
    fn bird_runs_every_session_at_its_one_protocols_timers() {
        let config = bird_config(&sessions(2, &[50_000]), false).unwrap();
        assert!(config.starts_with("router id 10.78.128.1;"));
        assert_eq!(config.matches("protocol bfd").count(), 1);
        assert!(config.contains("min rx interval 50000 us;") && config.contains("min tx interval 50000 us;"));
        assert!(config.contains("multiplier 3;"));
        assert!(config.contains("neighbor 10.78.0.1 local 10.78.128.1;"));
        assert!(config.contains("neighbor 10.78.0.2 local 10.78.128.2;"));
    }

    #[test]
    fn bird_refuses_two_intervals_in_one_pair() {
        let error = bird_config(&sessions(2, &[10_000, 50_000]), true).unwrap_err();
        assert!(error.to_string().contains("one interval per pair"), "{error}");
    }
}
