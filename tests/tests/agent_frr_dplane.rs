//! The agent as FRR bfdd's data plane (`bfdd --dplaneaddr`), against
//! Debian 12's FRR 8.4 and sid's 10.7 (root), each test named for its
//! release:
//! - bgpd + zebra + bfdd in namespace A with the agent as bfdd's data plane,
//!   a plain FRR (bgpd + zebra + bfdd) in B advertising a prefix, the BGP
//!   session with `neighbor X bfd`: BFD Up with our counters in A's
//!   `show bfd peers`; B's BFD packets cut: bgpd in A drops the neighbor
//!   because of BFD and the prefix leaves A's kernel table within the
//!   detection time + 50 ms of B's last packet; the cut lifted: it returns.
//! - 200 sessions registered through the channel (bfdd cuts its
//!   registration burst at 58: the agent opens more channels) all come Up;
//!   bfdd in A killed and restarted: no session in B sees a flap.
//! - the agent listening for bfdd (`ipv4c:`), driven by a scripted bfdd
//!   (FRR before 10.3 drops its own connection in that mode): a session
//!   from DP_ADD_SESSION comes Up with My Discriminator = lid, counters are
//!   answered with the request's id, state changes are reported, and
//!   DP_DELETE_SESSION takes the session AdminDown and away.
//! - FRR 10.7 (10.3+ fixed its `ipv4c:` client) connecting to the listening
//!   agent: its sessions run there, Up, counters, a cut and its recovery.

use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use bfd_lab::{
    agent::{Agent, AgentArgs},
    e2e::{AGENT_V4, Capture, Cut, Frr, FrrRelease, FrrStack, Link, PEER_V4, count},
    lab::{NetNs, run_stdout, wait_for},
    release_tests,
};
use bfd_user::dplane::wire::{CountersRepr, Message, Reassembler, SessionRepr, StateChangeRepr};
use serde_json::Value;

/// A is the agent's side of the link, B the peer's.
const A_V4: &str = AGENT_V4;
const B_V4: &str = PEER_V4;
const PREFIX: &str = "10.99.84.0/24";
/// 50 ms x 3.
const DETECTION_MS: f64 = 150.0;
/// FRR bgpd's fixed work-queue holds between a peer going down and its
/// routes leaving zebra: `peer->clear_node_queue->spec.hold = 10` and
/// `bgp->process_queue->spec.hold = 50` (bgpd/bgp_route.c), not
/// configurable; the same in 8.4 and 10.7.
const BGPD_QUEUE_HOLDS_MS: f64 = 60.0;

const FAST_PROFILE: &str =
    "bfd\n profile fast\n  receive-interval 50\n  transmit-interval 50\n  detect-multiplier 3\n exit\nexit\n";

/// The agent in `netns`, bfdd's data plane at `address`, XDP on `iface`,
/// no configuration file of its own.
fn data_plane_agent(netns: &NetNs, name: &str, iface: &str, address: &str) -> anyhow::Result<Agent> {
    let args = AgentArgs {
        configs: Vec::new(),
        extra: vec!["--frr-dplane".into(), address.into()],
        log: "info,bfd_agent::agent::dplane=debug".into(),
        ..AgentArgs::new(iface, "")
    };
    Agent::start_with(netns, name, args)
}

fn bgpd_config(
    asn: u32,
    router_id: &str,
    neighbor: &str,
    neighbor_as: u32,
    advertise: Option<&str>,
) -> String {
    let network = advertise
        .map(|prefix| format!(" address-family ipv4 unicast\n  network {prefix}\n exit-address-family\n"))
        .unwrap_or_default();
    format!(
        "debug bgp bfd\ndebug bgp neighbor-events\ndebug bgp zebra\nrouter bgp {asn}\n bgp router-id {router_id}\n no bgp ebgp-requires-policy\n no bgp network \
         import-check\n neighbor {neighbor} remote-as {neighbor_as}\n neighbor {neighbor} timers connect 1\n \
         neighbor {neighbor} bfd\n neighbor {neighbor} bfd profile fast\n{network}exit\n"
    )
}

fn prefix_route(netns: &NetNs) -> anyhow::Result<String> {
    run_stdout(netns.command("ip").args(["route", "show", PREFIX]))
}

/// The UTC time a line starts with, as Unix µs: `[2026-11-21T12:00:36.567121]`
/// (`ip -ts monitor`) or `2026/11/21 12:07:17.260887` (FRR's log with
/// `log timestamp precision 6`).
fn line_time_us(line: &str) -> Option<u64> {
    let stamp = line.strip_prefix('[').map_or_else(
        || line.get(..26).map(|s| s.replacen(' ', "T", 1).replace('/', "-")),
        |rest| rest.split(']').next().map(str::to_owned),
    )?;
    let (date, time) = stamp.split_once('T')?;
    let mut date = date.split('-').map(|part| part.parse::<i64>());
    let (year, month, day) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let mut time = time.split(':');
    let (hours, minutes) = (time.next()?.parse::<u64>().ok()?, time.next()?.parse::<u64>().ok()?);
    let seconds: f64 = time.next()?.parse().ok()?;
    // Days from 1970-01-01 to the date (the proleptic Gregorian calendar).
    let (y, m) = if month <= 2 { (year - 1, month + 9) } else { (year, month - 3) };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * m + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = u64::try_from(era * 146_097 + day_of_era - 719_468).ok()?;
    Some((days * 86_400 + hours * 3600 + minutes * 60) * 1_000_000 + (seconds * 1e6).round() as u64)
}

/// `ip -ts monitor route` in a namespace, into a file, as UTC.
struct RouteMonitor {
    child: std::process::Child,
    path: std::path::PathBuf,
}

impl RouteMonitor {
    fn start(netns: &NetNs) -> anyhow::Result<RouteMonitor> {
        let path = std::env::temp_dir().join(format!("{}-routes.txt", netns.name()));
        let file = std::fs::File::create(&path)?;
        let child = netns
            .command("ip")
            .args(["-ts", "monitor", "route"])
            .env("TZ", "UTC")
            .stdout(file)
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("starting ip monitor")?;
        // It subscribes before it prints anything.
        std::thread::sleep(Duration::from_millis(200));
        Ok(RouteMonitor { child, path })
    }

    fn lines(&self) -> anyhow::Result<Vec<String>> {
        Ok(std::fs::read_to_string(&self.path)?.lines().map(str::to_owned).collect())
    }
}

impl Drop for RouteMonitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.path);
    }
}

fn bfd_peer<'a>(peers: &'a [Value], peer: &str) -> Option<&'a Value> {
    peers.iter().find(|session| session["peer"] == peer)
}

fn bgpd_drops_the_neighbor_and_its_prefix_when_the_agent_detects_a_failure_as_bfdd_data_plane(
    release: FrrRelease,
) -> anyhow::Result<()> {
    bfd_lab::lab::require_root()?;
    let link = Link::new("dpg")?;
    // A: bfdd hands its sessions to the agent over a UNIX socket in its
    // directory (bfdd listens, the agent connects).
    let a_stack = FrrStack {
        bfdd: FAST_PROFILE.to_owned(),
        bfdd_dplane: Some("unix:dplane.sock".to_owned()),
        bgpd: Some(bgpd_config(65001, A_V4, B_V4, 65002, None)),
        ..FrrStack::default()
    };
    let frr_a = Frr::start_stack_release(&link.a, release, &a_stack)?;
    let address = frr_a.dplane_address().context("bfdd's data-plane address")?;
    let frr_b = Frr::start_stack_release(
        &link.b,
        release,
        &FrrStack {
            bfdd: FAST_PROFILE.to_owned(),
            bfdd_dplane: None,
            bgpd: Some(bgpd_config(65002, B_V4, A_V4, 65001, Some(PREFIX))),
            ..FrrStack::default()
        },
    )?;
    let agent = data_plane_agent(&link.a, "A", &link.a_if, &address)?;

    // bgpd registers the session with bfdd, bfdd with the agent: Up on both
    // sides, and the prefix in A's kernel table.
    agent.wait_status(B_V4, "up", Duration::from_secs(20))?;
    frr_a.wait_status(B_V4, "up", Duration::from_secs(5))?;
    frr_b.wait_status(A_V4, "up", Duration::from_secs(5))?;
    wait_for("the prefix in A's kernel table", Duration::from_secs(20), || {
        Ok(prefix_route(&link.a)?.contains(B_V4).then_some(()))
    })?;
    // bfdd's discriminator is the session's, and bfdd shows our counters.
    let ours = agent.session(B_V4)?;
    let theirs = frr_a.peer(B_V4)?;
    ensure!(ours["id"] == theirs["id"], "bfdd's lid is our discriminator: {ours:#}\n{theirs:#}");
    std::thread::sleep(Duration::from_secs(1));
    let counters = frr_a.peer_counters(B_V4)?;
    ensure!(
        count(&counters, "control-packet-input") > 10 && count(&counters, "control-packet-output") > 10,
        "bfdd shows the agent's counters: {counters:#}"
    );

    // B falls silent (its BFD packets dropped before they leave): the agent
    // detects, bfdd tells bgpd, bgpd drops B and its prefix.
    let monitor = RouteMonitor::start(&link.a)?;
    let mut capture = Capture::start(&link.b, &link.b_if, &format!("udp dst port 3784 and src host {B_V4}"))?;
    // A few of B's packets first: the last one before the cut is the mark.
    std::thread::sleep(Duration::from_millis(300));
    let cut = Cut::outgoing_control(&link.b)?;
    wait_for("the prefix to leave A's kernel table", Duration::from_secs(3), || {
        Ok((!prefix_route(&link.a)?.contains(B_V4)).then_some(()))
    })?;
    let packets = capture.bfd_packets()?;
    let last_packet_us = packets.last().context("no packet from B captured")?.at_us;
    let lines = monitor.lines()?;
    let deleted = lines
        .iter()
        .find(|line| line.contains("Deleted") && line.contains(PREFIX))
        .with_context(|| format!("no deletion of {PREFIX} seen: {lines:#?}"))?;
    let deleted_us = line_time_us(deleted).with_context(|| format!("no time in {deleted:?}"))?;
    let after_ms = deleted_us.saturating_sub(last_packet_us) as f64 / 1000.0;
    // bgpd's own log: when bfdd (told by the agent) told it.
    let bgpd_log = std::fs::read_to_string(frr_a.dir().join("bgpd.log"))?;
    let told = bgpd_log
        .lines()
        .find(|line| line.contains("bfd state Up -> Down"))
        .context("bgpd did not log the BFD Down")?;
    let told_ms =
        line_time_us(told).context("bgpd's log time")?.saturating_sub(last_packet_us) as f64 / 1000.0;
    eprintln!(
        "after B's last BFD packet: bgpd told {told_ms:.3} ms, prefix out of the kernel {after_ms:.3} ms \
         (detection time {DETECTION_MS} ms)"
    );
    // Ours: detection, bfdd, zebra, bgpd.
    ensure!(told_ms <= DETECTION_MS + 5.0, "bgpd heard too late: {told_ms:.3} ms\n{told}");
    ensure!(after_ms >= DETECTION_MS * 0.99, "before the detection time: {after_ms:.3} ms");
    // bgpd's: FRR 8.4 holds a dropped peer's routes in work queues with
    // hard-coded holds (clearing 10 ms, route processing 50 ms) before
    // zebra removes them.
    ensure!(after_ms <= DETECTION_MS + 50.0 + BGPD_QUEUE_HOLDS_MS, "too late: {after_ms:.3} ms\n{deleted}");
    let neighbor: Value = serde_json::from_str(&frr_a.vtysh(&format!("show bgp neighbors {B_V4} json"))?)?;
    // 8.4: "lastNotificationReason": "Cease/BFD Down" (RFC 9384's subcode
    // 10); 10.7 shows no notification there but "lastResetDueTo": "BFD
    // down initiated" (its log shows the Cease/BFD Down it sent).
    let field = |name: &str| neighbor[B_V4][name].as_str().unwrap_or_default().to_owned();
    ensure!(
        field("lastNotificationReason").contains("BFD Down")
            || field("lastResetDueTo") == "BFD down initiated",
        "bgpd dropped B because of BFD: {:#}",
        neighbor[B_V4]
    );
    let down = frr_a.peer(B_V4)?;
    ensure!(down["status"] == "down", "bfdd shows the session down: {down:#}");
    let ours = agent.session(B_V4)?;
    ensure!(ours["diagnostic"] == "control detection time expired", "{ours:#}");

    // Lifted: BFD, then BGP, then the prefix come back.
    cut.lift()?;
    agent.wait_status(B_V4, "up", Duration::from_secs(10))?;
    wait_for("the prefix back in A's kernel table", Duration::from_secs(20), || {
        Ok(prefix_route(&link.a)?.contains(B_V4).then_some(()))
    })?;
    drop(agent);
    Ok(())
}

release_tests!(bgpd_drops_the_neighbor_and_its_prefix_when_the_agent_detects_a_failure_as_bfdd_data_plane {
    bgpd_drops_the_neighbor_and_its_prefix_when_the_agent_detects_a_failure_as_bfdd_data_plane_frr_8_4:
        FrrRelease::V8_4,
    bgpd_drops_the_neighbor_and_its_prefix_when_the_agent_detects_a_failure_as_bfdd_data_plane_frr_10_7:
        FrrRelease::V10_7,
});

/// `n` sessions between the namespaces, each its own pair of addresses
/// (FRR keeps one single-hop session per peer address).
/// bfdd.conf for A and for B, with `n` single-hop peers each.
struct ManySessions {
    a_config: String,
    b_config: String,
}

fn many_sessions(link: &Link, n: usize) -> anyhow::Result<ManySessions> {
    let pairs: Vec<(String, String)> = (0..n)
        .map(|i| {
            (
                format!("10.85.{}.{}", 1 + i / 200, 1 + i % 200),
                format!("10.86.{}.{}", 1 + i / 200, 1 + i % 200),
            )
        })
        .collect();
    // Batched: one `ip -batch` per side.
    for (netns, iface, side) in [(&link.a, &link.a_if, 0), (&link.b, &link.b_if, 1)] {
        let batch: String = pairs
            .iter()
            .map(|(a, b)| format!("addr add {}/8 dev {iface}\n", if side == 0 { a } else { b }))
            .collect();
        let file = std::env::temp_dir().join(format!("{}-addrs.batch", netns.name()));
        std::fs::write(&file, batch)?;
        let result = bfd_lab::lab::run(netns.command("ip").arg("-batch").arg(&file));
        let _ = std::fs::remove_file(&file);
        result?;
    }
    let peers = |mine: fn(&(String, String)) -> (&str, &str)| -> String {
        let mut config = String::from("bfd\n");
        for pair in &pairs {
            let (peer, local) = mine(pair);
            config.push_str(&format!(
                " peer {peer} local-address {local}\n  receive-interval 300\n  transmit-interval 300\n exit\n"
            ));
        }
        config.push_str("exit\n");
        config
    };
    let a_config = peers(|(a, b)| (b.as_str(), a.as_str()));
    let b_config = peers(|(a, b)| (a.as_str(), b.as_str()));
    Ok(ManySessions { a_config, b_config })
}

fn up_count(peers: &[Value]) -> usize {
    peers.iter().filter(|session| session["status"] == "up").count()
}

release_tests!(two_hundred_sessions_through_the_channel_come_up_and_survive_a_bfdd_restart_without_a_flap {
    two_hundred_sessions_through_the_channel_come_up_and_survive_a_bfdd_restart_without_a_flap_frr_8_4:
        FrrRelease::V8_4,
    two_hundred_sessions_through_the_channel_come_up_and_survive_a_bfdd_restart_without_a_flap_frr_10_7:
        FrrRelease::V10_7,
});

fn two_hundred_sessions_through_the_channel_come_up_and_survive_a_bfdd_restart_without_a_flap(
    release: FrrRelease,
) -> anyhow::Result<()> {
    bfd_lab::lab::require_root()?;
    const SESSIONS: usize = 200;
    let link = Link::new("dp2")?;
    let ManySessions { a_config, b_config } = many_sessions(&link, SESSIONS)?;
    // A: bfdd listens on TCP in its namespace, the agent connects.
    let address = "ipv4:127.0.0.1:50711".to_owned();
    let a_stack = FrrStack { bfdd: a_config, bfdd_dplane: Some(address.clone()), ..FrrStack::default() };
    let frr_a = Frr::start_stack_release(&link.a, release, &a_stack)?;
    let frr_b = Frr::start_release(&link.b, release, &b_config)?;
    let agent = data_plane_agent(&link.a, "A", &link.a_if, &address)?;

    let all_up = |frr: &Frr, side: &str| {
        wait_for(&format!("{SESSIONS} sessions Up in {side}"), Duration::from_secs(30), || {
            let peers = frr.peers()?;
            Ok((peers.len() == SESSIONS && up_count(&peers) == SESSIONS).then_some(()))
        })
    };
    all_up(&frr_a, "A's bfdd")?;
    all_up(&frr_b, "B")?;
    let ours = agent.show_peers()?;
    ensure!(ours.len() == SESSIONS && up_count(&ours) == SESSIONS, "the agent runs them all: {}", ours.len());
    // At most 58 per run of registrations: the agent needed several
    // channels.
    let channels = agent.log_lines("connected to bfdd").len();
    let full_runs = agent
        .log_lines("a run of registrations is over")
        .iter()
        .filter(|l| l.field("cut") == Some("true"))
        .count();
    ensure!(
        channels >= 2 && full_runs >= 1,
        "{channels} channels, {full_runs} full runs for {SESSIONS} sessions"
    );
    // `show bfd peers counters` asks the agent for every session's counters:
    // more than bfdd's input buffer holds on one channel.
    for _ in 0..3 {
        let counters = frr_a.counters()?;
        ensure!(counters.len() == SESSIONS, "{} counters", counters.len());
    }
    ensure!(agent.log_lines("data-plane channel lost").is_empty(), "a channel was lost:\n{}", agent.log());

    let downs_before: u64 = frr_b.counters()?.iter().map(|c| count(c, "session-down")).sum();
    let lids_before: Vec<Value> = frr_a.peers()?.iter().map(|p| p["id"].clone()).collect();
    // bfdd in A dies and comes back: the agent keeps every session running
    // meanwhile, and reconciles bfdd's new lids without touching them.
    frr_a.kill_bfdd()?;
    std::thread::sleep(Duration::from_secs(2));
    let during = agent.show_peers()?;
    ensure!(up_count(&during) == SESSIONS, "sessions kept running without bfdd: {}", up_count(&during));
    frr_a.restart_bfdd(&a_stack, &link.a)?;
    all_up(&frr_a, "A's restarted bfdd")?;
    std::thread::sleep(Duration::from_secs(2));
    let b_after = frr_b.counters()?;
    let downs_after: u64 = b_after.iter().map(|c| count(c, "session-down")).sum();
    ensure!(downs_after == downs_before, "B saw {} flaps", downs_after - downs_before);
    ensure!(up_count(&frr_b.peers()?) == SESSIONS, "B: all Up");
    let changes = agent.state_changes();
    let ups = changes.iter().filter(|change| change.field("to") == Some("Up")).count();
    let left_up = changes.iter().filter(|change| change.field("from") == Some("Up")).count();
    ensure!(
        ups == SESSIONS && left_up == 0,
        "each session came Up once and stayed: {ups} Up, {left_up} out of Up"
    );
    let lids_after: Vec<Value> = frr_a.peers()?.iter().map(|p| p["id"].clone()).collect();
    if lids_after == lids_before {
        bail!("bfdd restarted with the same lids: the restart was not exercised");
    }
    eprintln!("{} sessions over {channels} channels, restart: 0 flaps in B", SESSIONS);
    Ok(())
}

/// bfdd's side of the channel, scripted: Debian's FRR 8.4 (through 10.2)
/// closes its own connection right after connecting in `ipv4c:` mode
/// (`bfd_dplane_client_connect` falls through to its error path; fixed in
/// FRR 10.3), so the agent's listening side is driven by this client.
struct ScriptedBfdd {
    stream: std::net::TcpStream,
    reassembler: Reassembler,
}

impl ScriptedBfdd {
    fn connect(netns: &NetNs, port: u16) -> anyhow::Result<ScriptedBfdd> {
        // The socket belongs to the namespace it is created in.
        let stream = netns.run_in(move || {
            std::net::TcpStream::connect(("127.0.0.1", port)).context("connecting to the agent")
        })?;
        stream.set_read_timeout(Some(Duration::from_millis(100)))?;
        Ok(ScriptedBfdd { stream, reassembler: Reassembler::default() })
    }

    fn send(&mut self, message: &Message) -> anyhow::Result<()> {
        use std::io::Write as _;
        Ok(self.stream.write_all(&message.to_bytes())?)
    }

    /// The next message `accept` takes, skipping the others, within `timeout`.
    fn expect<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut accept: impl FnMut(&Message) -> Option<T>,
    ) -> anyhow::Result<T> {
        use std::io::Read as _;
        let deadline = std::time::Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            while let Some(message) = self.reassembler.next_message()? {
                if let Some(found) = accept(&message) {
                    return Ok(found);
                }
                seen.push(message);
            }
            if std::time::Instant::now() > deadline {
                bail!("no {what} within {timeout:?}; got {seen:#?}");
            }
            let mut buffer = [0u8; 4096];
            match self.stream.read(&mut buffer) {
                Ok(0) => bail!("the agent closed the channel waiting for {what}"),
                Ok(read) => self.reassembler.push(&buffer[..read]),
                Err(error)
                    if matches!(
                        error.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(error) => return Err(error.into()),
            }
        }
    }

    fn state_change(&mut self, lid: u32, state: u8, timeout: Duration) -> anyhow::Result<StateChangeRepr> {
        self.expect(&format!("BFD_STATE_CHANGE lid {lid} state {state}"), timeout, |message| match message {
            Message::StateChange(change) if change.lid == lid && change.state == state => Some(*change),
            _ => None,
        })
    }
}

#[bfd_lab::test]
fn the_agent_listening_for_bfdd_runs_its_sessions_answers_counters_and_reports_changes() -> anyhow::Result<()>
{
    bfd_lab::lab::require_root()?;
    const PORT: u16 = 50712;
    const LID: u32 = 0x1122_3344;
    let link = Link::new("dpc")?;
    let agent = data_plane_agent(&link.a, "A", &link.a_if, &format!("ipv4c:127.0.0.1:{PORT}"))?;
    let frr_b = Frr::start(
        &link.b,
        &format!(
            "bfd\n peer {A_V4} local-address {B_V4}\n  receive-interval 50\n  transmit-interval 50\n exit\nexit\n"
        ),
    )?;
    let mut bfdd = ScriptedBfdd::connect(&link.a, PORT)?;
    let session = SessionRepr {
        flags: 0,
        src: A_V4.parse()?,
        dst: B_V4.parse()?,
        lid: LID,
        min_tx: 50_000,
        min_rx: 50_000,
        min_echo_tx: 50_000,
        min_echo_rx: 50_000,
        hold_time: 0,
        ttl: 255,
        detect_mult: 3,
        ifindex: 0,
        ifname: String::new(),
    };
    bfdd.send(&Message::AddSession(session.clone()))?;
    let up = bfdd.state_change(LID, 3, Duration::from_secs(10))?;
    let theirs = frr_b.wait_status(A_V4, "up", Duration::from_secs(5))?;
    ensure!(
        theirs["id"] == up.rid && theirs["remote-id"] == LID,
        "lid {LID} is our discriminator and rid is B's: {up:?}\n{theirs:#}"
    );
    ensure!(up.detection_multiplier == 3, "B's multiplier: {up:?}");
    // B announces its fast timers once Up (a Poll): bfdd hears of them too.
    bfdd.expect("B's 50 ms timers", Duration::from_secs(3), |message| match message {
        Message::StateChange(change)
            if change.lid == LID && change.state == 3 && change.required_rx == 50_000 =>
        {
            Some(())
        }
        _ => None,
    })?;

    // Counters, answered with the request's id.
    std::thread::sleep(Duration::from_millis(500));
    bfdd.send(&Message::CountersRequest { id: 77, lid: LID })?;
    let counters =
        bfdd.expect("BFD_SESSION_COUNTERS id 77", Duration::from_secs(2), |message| match message {
            Message::Counters { id: 77, counters } => Some(*counters),
            _ => None,
        })?;
    ensure!(
        counters.lid == LID && counters.control_input_packets > 5 && counters.control_output_packets > 5,
        "{counters:?}"
    );
    // An unknown lid still gets its answer (bfdd waits for it), zeros.
    bfdd.send(&Message::CountersRequest { id: 78, lid: 9 })?;
    let unknown =
        bfdd.expect("BFD_SESSION_COUNTERS id 78", Duration::from_secs(2), |message| match message {
            Message::Counters { id: 78, counters } => Some(*counters),
            _ => None,
        })?;
    ensure!(unknown == CountersRepr { lid: 9, ..CountersRepr::default() }, "{unknown:?}");

    // A detection reaches bfdd, and the recovery.
    let cut = Cut::outgoing_control(&link.b)?;
    bfdd.state_change(LID, 1, Duration::from_secs(3))?;
    cut.lift()?;
    bfdd.state_change(LID, 3, Duration::from_secs(10))?;

    // bfdd deletes the session: AdminDown to B, then gone.
    bfdd.send(&Message::DeleteSession(session))?;
    let gone = wait_for("B to hear AdminDown", Duration::from_secs(3), || {
        Ok(bfd_peer(&frr_b.peers()?, A_V4).filter(|p| p["status"] == "down").cloned())
    })?;
    ensure!(gone["remote-diagnostic"] == "administratively down", "{gone:#}");
    wait_for("the session to leave the agent", Duration::from_secs(5), || {
        Ok(agent.peer(B_V4)?.is_none().then_some(()))
    })?;

    // Garbage on the channel: the agent closes it, counted in its log, and
    // goes on.
    use std::io::Write as _;
    bfdd.stream.write_all(&[2, 0, 0, 0, 0, 0, 0, 8])?;
    wait_for("the agent to drop the channel", Duration::from_secs(3), || {
        Ok((!agent.log_lines("data-plane channel lost").is_empty()).then_some(()))
    })?;
    agent.ensure_running()?;
    Ok(())
}

/// FRR 10.3+ as the client of the listening agent (`ipv4c:`, the mode
/// 8.4's bug rules out): bfdd connects, its sessions run in the agent and
/// come Up with the peer, bfdd shows them Up with the agent's counters, a
/// cut reaches bfdd as Down, and the lifted cut as Up again.
fn bfdd_connecting_to_the_listening_agent_runs_its_sessions_there(release: FrrRelease) -> anyhow::Result<()> {
    bfd_lab::lab::require_root()?;
    const PORT: u16 = 50713;
    let link = Link::new("dpr")?;
    let address = format!("ipv4c:127.0.0.1:{PORT}");
    let agent = data_plane_agent(&link.a, "A", &link.a_if, &address)?;
    let peer = |peer: &str, local: &str| {
        format!(
            "debug bfd peer\nbfd\n peer {peer} local-address {local}\n  receive-interval 50\n  transmit-interval \
             50\n exit\nexit\n"
        )
    };
    let frr_a = Frr::start_stack_release(
        &link.a,
        release,
        &FrrStack { bfdd: peer(B_V4, A_V4), bfdd_dplane: Some(address), ..FrrStack::default() },
    )?;
    let frr_b = Frr::start_release(&link.b, release, &peer(A_V4, B_V4))?;
    agent.wait_status(B_V4, "up", Duration::from_secs(20))?;
    frr_a.wait_status(B_V4, "up", Duration::from_secs(5))?;
    frr_b.wait_status(A_V4, "up", Duration::from_secs(5))?;
    let ours = agent.session(B_V4)?;
    let theirs = frr_a.peer(B_V4)?;
    ensure!(ours["id"] == theirs["id"], "bfdd's lid is our discriminator: {ours:#}\n{theirs:#}");
    std::thread::sleep(Duration::from_secs(1));
    let counters = frr_a.peer_counters(B_V4)?;
    ensure!(
        count(&counters, "control-packet-input") > 10 && count(&counters, "control-packet-output") > 10,
        "bfdd shows the agent's counters: {counters:#}"
    );
    ensure!(agent.log_lines("data-plane channel lost").is_empty(), "a channel was lost:\n{}", agent.log());

    // BFD_STATE_CHANGE carries no local diagnostic (its `diagnostics` is
    // the remote's, bfddp_packet.h): bfdd shows the state, the agent why.
    let cut = Cut::outgoing_control(&link.b)?;
    let ours = agent.wait_status(B_V4, "down", Duration::from_secs(3))?;
    ensure!(ours["diagnostic"] == "control detection time expired", "{ours:#}");
    frr_a.wait_status(B_V4, "down", Duration::from_secs(3))?;
    cut.lift()?;
    agent.wait_status(B_V4, "up", Duration::from_secs(10))?;
    frr_a.wait_status(B_V4, "up", Duration::from_secs(5))?;
    Ok(())
}

release_tests!(bfdd_connecting_to_the_listening_agent_runs_its_sessions_there {
    bfdd_connecting_to_the_listening_agent_runs_its_sessions_there_frr_10_7: FrrRelease::V10_7,
});

/// A static route monitored by BFD (`ip route PREFIX B bfd profile fast`,
/// FRR 10.x: 8.4's staticd has no `bfd` on static routes),
/// its session run by the agent as bfdd's data plane: Up, the route in A's
/// kernel table; B's packets cut: the route leaves after the detection time
/// (how long after B's last packet is printed: the part after detection is
/// FRR's, staticd and zebra), and returns when the cut is lifted.
fn a_bfd_monitored_static_route_leaves_when_the_agent_detects_a_failure(
    release: FrrRelease,
) -> anyhow::Result<()> {
    bfd_lab::lab::require_root()?;
    let link = Link::new("dps")?;
    let a_stack = FrrStack {
        bfdd: format!("debug bfd peer\n{FAST_PROFILE}"),
        bfdd_dplane: Some("unix:dplane.sock".to_owned()),
        staticd: Some(format!("ip route {PREFIX} {B_V4} bfd profile fast\n")),
        ..FrrStack::default()
    };
    let frr_a = Frr::start_stack_release(&link.a, release, &a_stack)?;
    let address = frr_a.dplane_address().context("bfdd's data-plane address")?;
    let frr_b = Frr::start_release(
        &link.b,
        release,
        &bfd_lab::e2e::frr_config(&[bfd_lab::e2e::frr_peer(A_V4, B_V4, false, &[])]),
    )?;
    let agent = data_plane_agent(&link.a, "A", &link.a_if, &address)?;
    agent.wait_status(B_V4, "up", Duration::from_secs(20))?;
    frr_b.wait_status(A_V4, "up", Duration::from_secs(5))?;
    wait_for("the static route in A's kernel table", Duration::from_secs(10), || {
        Ok(prefix_route(&link.a)?.contains(B_V4).then_some(()))
    })?;
    std::thread::sleep(Duration::from_secs(1));

    let monitor = RouteMonitor::start(&link.a)?;
    let mut capture = Capture::start(&link.b, &link.b_if, &format!("udp dst port 3784 and src host {B_V4}"))?;
    std::thread::sleep(Duration::from_millis(300));
    let cut = Cut::outgoing_control(&link.b)?;
    wait_for("the static route to leave A's kernel table", Duration::from_secs(3), || {
        Ok((!prefix_route(&link.a)?.contains(B_V4)).then_some(()))
    })?;
    let packets = capture.bfd_packets()?;
    let last_packet_us = packets.last().context("no packet from B captured")?.at_us;
    let lines = monitor.lines()?;
    let deleted = lines
        .iter()
        .find(|line| line.contains("Deleted") && line.contains(PREFIX))
        .with_context(|| format!("no deletion of {PREFIX} seen: {lines:#?}"))?;
    let after_ms = line_time_us(deleted)
        .with_context(|| format!("no time in {deleted:?}"))?
        .saturating_sub(last_packet_us) as f64
        / 1000.0;
    let detected = agent.kernel_events().pop().context("no kernel detection event")?;
    eprintln!(
        "{release}: static route out of the kernel {after_ms:.3} ms after B's last BFD packet (detection time \
         {DETECTION_MS} ms; the agent: {detected})"
    );
    ensure!(after_ms >= DETECTION_MS * 0.99, "before the detection time: {after_ms:.3} ms");
    let ours = agent.session(B_V4)?;
    ensure!(ours["diagnostic"] == "control detection time expired", "{ours:#}");

    cut.lift()?;
    agent.wait_status(B_V4, "up", Duration::from_secs(10))?;
    wait_for("the static route back in A's kernel table", Duration::from_secs(10), || {
        Ok(prefix_route(&link.a)?.contains(B_V4).then_some(()))
    })?;
    drop(agent);
    Ok(())
}

release_tests!(a_bfd_monitored_static_route_leaves_when_the_agent_detects_a_failure {
    a_bfd_monitored_static_route_leaves_when_the_agent_detects_a_failure_frr_10_7: FrrRelease::V10_7,
});
