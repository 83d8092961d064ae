//! The packet transmit path (`--transmit packet`, root): whole Ethernet
//! frames through an `AF_PACKET` socket past IP output.
//!
//! - A frame carries, byte for byte, the datagram the kernel's own UDP
//!   socket sends for the same payload (TTL / hop limit 255, CS6, the UDP
//!   checksum), but for the IPv4 identification (the kernel's counter, ours
//!   0) and the IPv6 flow label (the kernel's hash, ours 0): both captured
//!   on the far end of a veth.
//! - Against FRR's bfdd, IPv4 and IPv6: a session whose neighbour is not
//!   resolved yet starts on the UDP path (which makes the kernel resolve
//!   it: an nftables counter in the agent's output hook sees its packets),
//!   moves to frames once the neighbour table has the peer's MAC (the
//!   counter stops while FRR keeps receiving: the frames skip IP output),
//!   stays Up, and its frames on the wire have TTL 255, CS6 and checksums
//!   tshark verifies; a deleted neighbour entry sends it through the kernel
//!   again, which resolves it anew, without a flap.
//! - With a short reachable time, the entry the frames never confirm goes
//!   STALE and comes back REACHABLE: the packet the agent then sends
//!   through IP output starts the kernel's revalidation.
//! - The agent's own transmit counters (`/metrics` and `show status`)
//!   agree: frames counted while IP output's nftables counter stands
//!   still, its IP output count equal to that nftables counter, fallbacks
//!   counted by reason (unresolved at start and after the deleted entry,
//!   stale for the revalidation), nothing refused.

use std::{
    net::{SocketAddr, UdpSocket},
    time::{Duration, Instant},
};

use anyhow::{Context as _, ensure};
use bfd_common::{
    CONTROL_PORT, SOURCE_PORT_MIN, TTL,
    wire::{EthernetFrame, EthernetRepr, UdpIpRepr, ip::TOS_CS6},
};
use bfd_lab::{
    agent::{Agent, AgentArgs},
    e2e::{
        AGENT_V4, AGENT_V6, Capture, Frr, Link, PEER_V4, PEER_V6, bfd_profile, bgp_peer, count, documents,
        frr_config, frr_peer,
    },
    frame::{PacketSocket, ifindex, mac_address},
    lab::{NetNs, require_root, run, run_stdout, unique_name, wait_for},
    prometheus::http_get,
    scenario::{control_bytes, steady_repr},
};
use bfd_user::transmit::Batcher;

const UP_WITHIN: Duration = Duration::from_secs(5);

/// The frame the far end received for `payload` from `source` to
/// `destination`, sent by `send` in the near end's namespace.
fn received(
    link: &Link,
    destination: SocketAddr,
    payload: &[u8],
    send: impl FnOnce() -> anyhow::Result<()> + Send + 'static,
) -> anyhow::Result<Vec<u8>> {
    let b_if = link.b_if.clone();
    let socket = link.b.run_in(move || PacketSocket::open(&b_if))?;
    link.a.run_in(send)?;
    let payload = payload.to_vec();
    let mut frame = socket
        .receive(Duration::from_secs(5), |frame| {
            let mut frame = frame.to_vec();
            complete_offloaded_checksum(&mut frame);
            let Ok(view) = EthernetFrame::new_checked(&frame[..]) else { return false };
            UdpIpRepr::parse(view.payload()).is_ok_and(|(repr, sent)| {
                repr.destination == destination.ip()
                    && repr.destination_port == CONTROL_PORT
                    && sent == payload
            })
        })?
        .context("the far end received nothing")?;
    complete_offloaded_checksum(&mut frame);
    Ok(frame)
}

/// The kernel's UDP socket leaves the checksum to the veth's "hardware"
/// (`CHECKSUM_PARTIAL`: the field holds the pseudo-header's sum, not
/// complemented): completes it as a NIC would (the complement of the sum
/// over the UDP header, that field included, and the payload), so that the
/// comparison covers the checksum too. A frame whose checksum verifies is
/// left alone.
fn complete_offloaded_checksum(frame: &mut [u8]) {
    let ip = bfd_common::wire::ethernet::HEADER_LEN;
    let Some(datagram) = frame.get(ip..) else { return };
    if UdpIpRepr::parse(datagram) != Err(bfd_common::wire::ip::Error::BadChecksum) {
        return;
    }
    let header = if datagram[0] >> 4 == 6 { 40 } else { usize::from(datagram[0] & 0x0f) * 4 };
    let udp = &mut frame[ip + header..];
    let checksum = bfd_common::checksum::compute(&[udp]);
    let checksum = if checksum == 0 { 0xffff } else { checksum };
    udp[6..8].copy_from_slice(&checksum.to_be_bytes());
}

#[bfd_lab::test]
fn frames_carry_the_kernels_udp_datagram() -> anyhow::Result<()> {
    require_root()?;
    let link = Link::new("tb")?;
    let peer_mac = mac_address(&link.b, &link.b_if)?;
    let our_mac = mac_address(&link.a, &link.a_if)?;
    let a_ifindex = ifindex(&link.a, &link.a_if)?;
    let payload = control_bytes(&steady_repr());
    for (local, peer) in [(AGENT_V4, PEER_V4), (AGENT_V6, PEER_V6)] {
        let source = SocketAddr::new(local.parse()?, SOURCE_PORT_MIN);
        let destination = SocketAddr::new(peer.parse()?, CONTROL_PORT);
        // The session's socket as the agent opens it (agent/net.rs):
        // bound, connected, TTL 255, CS6.
        let kernel = {
            let payload = payload.clone();
            received(&link, destination, &payload.clone(), move || {
                let socket = UdpSocket::bind(source)?;
                if source.is_ipv6() {
                    nix::sys::socket::setsockopt(
                        &socket,
                        nix::sys::socket::sockopt::Ipv6Ttl,
                        &i32::from(TTL),
                    )?;
                    nix::sys::socket::setsockopt(
                        &socket,
                        nix::sys::socket::sockopt::Ipv6TClass,
                        &i32::from(TOS_CS6),
                    )?;
                } else {
                    socket.set_ttl(u32::from(TTL))?;
                    nix::sys::socket::setsockopt(
                        &socket,
                        nix::sys::socket::sockopt::Ipv4Tos,
                        &i32::from(TOS_CS6),
                    )?;
                }
                socket.connect(destination)?;
                socket.send(&payload)?;
                Ok(())
            })?
        };
        let frame = {
            let payload = payload.clone();
            received(&link, destination, &payload.clone(), move || {
                let mut batch = Batcher::open();
                batch.open_packet_path()?;
                let ethernet = EthernetRepr::ip(peer_mac, our_mac, source.is_ipv6());
                ensure!(batch.queue_frame(a_ifindex, ethernet, source, destination, &payload));
                batch.flush();
                ensure!(batch.errors == 0, "the frame was refused");
                Ok(())
            })?
        };
        ensure!(kernel.len() == frame.len(), "{local}: lengths {} and {}", kernel.len(), frame.len());
        // What only the kernel varies: the IPv4 identification (and so the
        // header checksum), the IPv6 flow label (the low nibble of the
        // second byte and the next two; the traffic class keeps its bits).
        let ip = bfd_common::wire::ethernet::HEADER_LEN;
        let masked = |bytes: &[u8]| -> Vec<u8> {
            let mut bytes = bytes.to_vec();
            if source.is_ipv6() {
                bytes[ip + 1] &= 0xf0;
                bytes[ip + 2..ip + 4].fill(0);
            } else {
                bytes[ip + 4..ip + 6].fill(0);
                bytes[ip + 10..ip + 12].fill(0);
            }
            bytes
        };
        ensure!(
            masked(&kernel) == masked(&frame),
            "{local}: the frame differs from the kernel's datagram\nkernel {kernel:02x?}\nframe  {frame:02x?}"
        );
        let (kernel_repr, _) =
            UdpIpRepr::parse(&kernel[ip..]).map_err(|e| anyhow::anyhow!("kernel: {e:?}"))?;
        let (frame_repr, _) = UdpIpRepr::parse(&frame[ip..]).map_err(|e| anyhow::anyhow!("frame: {e:?}"))?;
        ensure!(kernel_repr == frame_repr, "{kernel_repr:?} vs {frame_repr:?}");
        ensure!((frame_repr.ttl, frame_repr.tos) == (255, TOS_CS6), "{frame_repr:?}");
        eprintln!("{local}: the frame is the kernel's datagram ({} bytes)", frame.len());
    }
    Ok(())
}

/// An nftables counter of the agent's control packets through IP output
/// (UDP to 3784, accepted); removed on drop.
struct OutputCounter {
    netns_path: std::path::PathBuf,
    table: String,
}

impl OutputCounter {
    fn new(netns: &NetNs) -> anyhow::Result<OutputCounter> {
        let table = unique_name("txc").replace('-', "_");
        let file = std::env::temp_dir().join(format!("{table}.nft"));
        std::fs::write(
            &file,
            format!(
                "table inet {table} {{\n chain c {{\n  type filter hook output priority 0; policy accept;\n  \
                 udp dport 3784 counter\n }}\n}}\n"
            ),
        )?;
        run(netns.command("nft").arg("-f").arg(&file))?;
        let _ = std::fs::remove_file(&file);
        Ok(OutputCounter { netns_path: netns.path(), table })
    }

    /// Packets counted so far.
    fn packets(&self) -> anyhow::Result<u64> {
        let text =
            run_stdout(
                std::process::Command::new("nsenter")
                    .arg(format!("--net={}", self.netns_path.display()))
                    .args(["nft", "-j", "list", "table", "inet", &self.table]),
            )?;
        let json: serde_json::Value = serde_json::from_str(&text)?;
        json["nftables"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|item| {
                item["rule"]["expr"].as_array()?.iter().find_map(|expr| expr["counter"]["packets"].as_u64())
            })
            .context("no counter in the table")
    }
}

impl Drop for OutputCounter {
    fn drop(&mut self) {
        let _ = std::process::Command::new("nsenter")
            .arg(format!("--net={}", self.netns_path.display()))
            .args(["nft", "delete", "table", "inet", &self.table])
            .status();
    }
}

/// FRR's received control packets from `peer` (its counters).
fn frr_received(frr: &Frr, peer: &str) -> anyhow::Result<u64> {
    Ok(count(&frr.peer_counters(peer)?, "control-packet-input"))
}

/// The agent's transmit counters, from its metrics endpoint (the default,
/// 127.0.0.1:9784, in its namespace).
#[derive(Clone, Copy, Debug)]
struct Transmit {
    packet_path: bool,
    frames: u64,
    ip_output: u64,
    refused: u64,
    unresolved: u64,
    stale: u64,
    not_ethernet: u64,
    link_unknown: u64,
}

impl Transmit {
    /// The packets through IP output the agent gave a reason for.
    fn fallbacks(&self) -> u64 {
        self.unresolved + self.stale + self.not_ethernet + self.link_unknown
    }
}

fn transmit_metrics(link: &Link) -> anyhow::Result<Transmit> {
    let text = link.a.run_in(|| http_get(("127.0.0.1", 9784), "/metrics"))?;
    let sample = |series: &str| -> anyhow::Result<u64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|value| value.trim().parse::<f64>().ok())
            .map(|value| value as u64)
            .with_context(|| format!("no {series} in /metrics"))
    };
    Ok(Transmit {
        packet_path: sample("bfd_transmit_packet_path_enabled")? == 1,
        frames: sample("bfd_transmit_control_packets_total{path=\"frame\"}")?,
        ip_output: sample("bfd_transmit_control_packets_total{path=\"ip_output\"}")?,
        refused: sample("bfd_transmit_control_packets_refused_total{path=\"frame\"}")?
            + sample("bfd_transmit_control_packets_refused_total{path=\"ip_output\"}")?,
        unresolved: sample("bfd_transmit_ip_output_fallbacks_total{reason=\"unresolved\"}")?,
        stale: sample("bfd_transmit_ip_output_fallbacks_total{reason=\"stale\"}")?,
        not_ethernet: sample("bfd_transmit_ip_output_fallbacks_total{reason=\"not_ethernet\"}")?,
        link_unknown: sample("bfd_transmit_ip_output_fallbacks_total{reason=\"link_unknown\"}")?,
    })
}

/// The agent's transmit counters, once its IP output count can be compared
/// with the nftables counter (which counts in the send, a few µs before the
/// agent stores its count): read between two equal readings of the
/// nftables counter, the agent's count must equal it.
fn transmit_matching(link: &Link, counter: &OutputCounter) -> anyhow::Result<(Transmit, u64)> {
    for _ in 0..20 {
        let before = counter.packets()?;
        let transmit = transmit_metrics(link)?;
        if counter.packets()? == before {
            ensure!(
                transmit.ip_output == before,
                "the agent counts {} packets through IP output, nftables' output hook {before}: {transmit:?}",
                transmit.ip_output
            );
            return Ok((transmit, before));
        }
    }
    anyhow::bail!("IP output never stood still for two readings of its counter")
}

#[bfd_lab::test]
fn a_session_with_frr_moves_to_frames_once_its_neighbour_resolves_and_stays_up() -> anyhow::Result<()> {
    require_root()?;
    let link = Link::new("tf")?;
    let counter = OutputCounter::new(&link.a)?;
    let frr = Frr::start(
        &link.b,
        &frr_config(&[frr_peer(AGENT_V4, PEER_V4, false, &[]), frr_peer(AGENT_V6, PEER_V6, false, &[])]),
    )?;
    let config = documents(&[
        bfd_profile("fast", "receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3"),
        bgp_peer("v4", PEER_V4, AGENT_V4, "fast", ""),
        bgp_peer("v6", PEER_V6, AGENT_V6, "fast", ""),
    ]);
    let args = AgentArgs {
        extra: vec!["--transmit".into(), "packet".into()],
        log: "info,bfd_agent=debug".into(),
        ..AgentArgs::new(&link.a_if, config)
    };
    let agent = Agent::start_with(&link.a, "T", args)?;
    for (peer, ours) in [(PEER_V4, AGENT_V4), (PEER_V6, AGENT_V6)] {
        agent.wait_status(peer, "up", UP_WITHIN)?;
        frr.wait_status(ours, "up", UP_WITHIN)?;
    }
    ensure!(agent.log().contains("transmit path: Ethernet frames"), "{}", agent.log());
    // Before the neighbours were resolved the packets went through IP
    // output (which resolved them).
    let through_kernel_at_start = counter.packets()?;
    ensure!(through_kernel_at_start > 0, "no packet went through IP output before the neighbours resolved");
    // The agent counted them, and why: the sessions' links not known yet
    // (until the peer's first packet) or the neighbours not resolved. Every
    // session is single-hop: each packet through IP output is a fallback.
    let (at_start, _) = transmit_matching(&link, &counter)?;
    eprintln!("the agent's transmit counters once Up: {at_start:?}");
    ensure!(at_start.packet_path, "bfd_transmit_packet_path_enabled is not 1: {at_start:?}");
    ensure!(
        at_start.fallbacks() == at_start.ip_output && at_start.link_unknown + at_start.unresolved >= 1,
        "the packets through IP output and their reasons: {at_start:?}"
    );

    // Steady state: FRR keeps receiving, IP output sees (next to) nothing.
    let mut capture = Capture::start(&link.b, &link.b_if, "udp dst port 3784")?;
    let (transmit_before, kernel_before) = transmit_matching(&link, &counter)?;
    let (v4_before, v6_before) = (frr_received(&frr, AGENT_V4)?, frr_received(&frr, AGENT_V6)?);
    let frr_ups = (
        count(&frr.peer_counters(AGENT_V4)?, "session-up"),
        count(&frr.peer_counters(AGENT_V6)?, "session-up"),
    );
    std::thread::sleep(Duration::from_secs(3));
    let (v4, v6) = (frr_received(&frr, AGENT_V4)? - v4_before, frr_received(&frr, AGENT_V6)? - v6_before);
    let (transmit_after, kernel_after) = transmit_matching(&link, &counter)?;
    let through_kernel = kernel_after - kernel_before;
    let frames = transmit_after.frames - transmit_before.frames;
    eprintln!(
        "in 3 s: FRR received {v4} (IPv4) and {v6} (IPv6); through IP output: {through_kernel}; the agent counted {frames} frames"
    );
    // 50 ms (75-100% jitter): at least 60 a session in 3 s.
    ensure!(v4 >= 50 && v6 >= 50, "FRR received {v4} and {v6} packets in 3 s");
    ensure!(through_kernel <= 2, "{through_kernel} packets went through IP output in 3 s");
    // What FRR received is what the agent counted sent, frames and IP
    // output (FRR's counters are read a vtysh call apart from the agent's:
    // a few packets either way).
    let sent = frames + through_kernel;
    ensure!(
        sent.abs_diff(v4 + v6) <= (v4 + v6) / 10 + 4,
        "the agent counted {sent} packets sent ({frames} frames), FRR received {}",
        v4 + v6
    );
    ensure!(transmit_after.refused == 0, "the kernel refused packets: {transmit_after:?}");
    capture.stop()?;
    verify_on_the_wire(&capture, &[AGENT_V4, AGENT_V6])?;

    // A neighbour entry that goes away: through the kernel again, which
    // resolves it; no flap.
    let (transmit_before, kernel_before) = transmit_matching(&link, &counter)?;
    link.a.ip(["neigh", "del", PEER_V4, "dev", &link.a_if])?;
    wait_for("a packet through IP output after the entry went", Duration::from_secs(3), || {
        Ok((counter.packets()? > kernel_before).then_some(()))
    })?;
    let resolved_again = Instant::now();
    wait_for("the neighbour resolved again", Duration::from_secs(3), || {
        let text = run_stdout(link.a.command("ip").args(["neigh", "show", PEER_V4, "dev", &link.a_if]))?;
        Ok(text.contains("lladdr").then_some(()))
    })?;
    let resolve_time = resolved_again.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let settled = counter.packets()?;
    std::thread::sleep(Duration::from_secs(2));
    let after = counter.packets()? - settled;
    ensure!(after <= 2, "{after} packets through IP output in 2 s after the neighbour resolved again");
    let (transmit_after, kernel_after) = transmit_matching(&link, &counter)?;
    let unresolved = transmit_after.unresolved - transmit_before.unresolved;
    eprintln!(
        "after the deleted entry: the agent counted {unresolved} fallbacks for the unresolved neighbour, {} packets through IP output ({} by nftables)",
        transmit_after.ip_output - transmit_before.ip_output,
        kernel_after - kernel_before
    );
    ensure!(unresolved >= 1, "no fallback counted for the deleted entry: {transmit_after:?}");
    ensure!(transmit_after.fallbacks() == transmit_after.ip_output, "{transmit_after:?}");
    ensure!(transmit_after.frames > transmit_before.frames, "no frames after it: {transmit_after:?}");
    // `show status` says the same (read later: at least as much).
    let status: serde_json::Value =
        serde_json::from_str(&run_stdout(&mut agent.cli(["show", "status", "--json"]))?)?;
    let shown = &status["transmit"];
    ensure!(
        shown["packet-path"] == true
            && shown["frames"].as_u64() >= Some(transmit_after.frames)
            && shown["ip-output"].as_u64() >= Some(transmit_after.ip_output)
            && shown["fallback-unresolved"].as_u64() >= Some(transmit_after.unresolved),
        "show status --json: {status:#}"
    );
    let text = run_stdout(&mut agent.cli(["show", "status"]))?;
    ensure!(text.contains("  transmit:  packet path: "), "{text}");
    eprintln!("{}", text.trim_end());
    let metrics = link.a.run_in(|| http_get(("127.0.0.1", 9784), "/metrics"))?;
    let lines: Vec<&str> = metrics.lines().filter(|line| line.contains("bfd_transmit_")).collect();
    eprintln!("{}", lines.join("\n"));
    eprintln!(
        "after the deleted entry: {} packets through IP output until frames resumed (resolved again {resolve_time:?} after the first)",
        settled - kernel_before
    );
    agent.ensure_running()?;
    for (peer, ours, up) in [(PEER_V4, AGENT_V4, frr_ups.0), (PEER_V6, AGENT_V6, frr_ups.1)] {
        let counters = frr.peer_counters(ours)?;
        ensure!(
            count(&counters, "session-down") == 0 && count(&counters, "session-up") == up,
            "FRR's session with {ours} flapped: {counters:#}"
        );
        ensure!(agent.session(peer)?["status"] == "up", "{peer}");
    }
    Ok(())
}

/// Every captured control packet from `sources`: TTL / hop limit 255, DSCP
/// CS6, and IP and UDP checksums that tshark verifies.
fn verify_on_the_wire(capture: &Capture, sources: &[&str]) -> anyhow::Result<()> {
    let text = run_stdout(
        std::process::Command::new("tshark")
            .arg("-r")
            .arg(capture.pcap())
            .args(["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"])
            .args(["-d", "udp.port==3784,bfd", "-Y", "bfd", "-T", "fields", "-E", "separator=;"])
            .args([
                "-e",
                "ip.src",
                "-e",
                "ipv6.src",
                "-e",
                "ip.ttl",
                "-e",
                "ipv6.hlim",
                "-e",
                "ip.dsfield.dscp",
            ])
            .args(["-e", "ipv6.tclass.dscp", "-e", "ip.checksum.status", "-e", "udp.checksum.status"])
            .stderr(std::process::Stdio::null()),
    )?;
    let mut seen = std::collections::HashMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(';').collect();
        ensure!(fields.len() >= 8, "tshark: {line}");
        let source = if fields[0].is_empty() { fields[1] } else { fields[0] };
        if !sources.contains(&source) {
            continue;
        }
        let v6 = fields[0].is_empty();
        let ttl = if v6 { fields[3] } else { fields[2] };
        let dscp = if v6 { fields[5] } else { fields[4] };
        let good = |status: &str| matches!(status, "1" | "Good" | "good");
        ensure!(ttl == "255", "TTL {ttl}: {line}");
        ensure!(dscp == "48", "DSCP {dscp} (CS6 is 48): {line}");
        ensure!(v6 || good(fields[6]), "IP checksum not good: {line}");
        ensure!(good(fields[7]), "UDP checksum not good: {line}");
        *seen.entry(source.to_owned()).or_insert(0u64) += 1;
    }
    for source in sources {
        ensure!(seen.get(*source).copied().unwrap_or(0) >= 20, "captured from {source}: {seen:?}");
    }
    eprintln!("on the wire, TTL 255, CS6, checksums good: {seen:?}");
    Ok(())
}

#[bfd_lab::test]
fn frames_keep_the_neighbour_entry_revalidated_by_the_kernel() -> anyhow::Result<()> {
    require_root()?;
    let link = Link::new("tr")?;
    // Reachable for 0.5-1.5 s, then STALE; DELAY for 1 s before the probe:
    // the cycle that takes 15-45 s by default, in a few seconds.
    for (key, value) in [("base_reachable_time_ms", "1000"), ("delay_first_probe_time", "1")] {
        bfd_lab::e2e::set_sysctl(&link.a, &format!("net.ipv4.neigh.{}.{key}", link.a_if), value)?;
    }
    let counter = OutputCounter::new(&link.a)?;
    let frr = Frr::start(&link.b, &frr_config(&[frr_peer(AGENT_V4, PEER_V4, false, &[])]))?;
    let config = documents(&[
        bfd_profile("fast", "receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3"),
        bgp_peer("v4", PEER_V4, AGENT_V4, "fast", ""),
    ]);
    let args =
        AgentArgs { extra: vec!["--transmit".into(), "packet".into()], ..AgentArgs::new(&link.a_if, config) };
    let agent = Agent::start_with(&link.a, "R", args)?;
    agent.wait_status(PEER_V4, "up", UP_WITHIN)?;
    frr.wait_status(AGENT_V4, "up", UP_WITHIN)?;
    let frr_ups = count(&frr.peer_counters(AGENT_V4)?, "session-up");
    let (transmit_before, kernel_before) = transmit_matching(&link, &counter)?;
    let received_before = frr_received(&frr, AGENT_V4)?;
    // The entry's states, sampled: it must go stale (frames confirm
    // nothing) and come back REACHABLE (the kernel's probe, started by a
    // packet through IP output).
    // Longer than the agent's revalidation spacing (10 s): its last
    // revalidation may fall just before the window, and something else
    // (the peer's own ARP traffic) may confirm the entry meanwhile, so a
    // shorter window sometimes held none of the agent's.
    let mut states: Vec<String> = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(12) {
        let text = run_stdout(link.a.command("ip").args(["neigh", "show", PEER_V4, "dev", &link.a_if]))?;
        let state = text.split_whitespace().last().unwrap_or("none").to_owned();
        if states.last() != Some(&state) {
            states.push(state);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let received = frr_received(&frr, AGENT_V4)? - received_before;
    let (transmit_after, kernel_after) = transmit_matching(&link, &counter)?;
    let through_kernel = kernel_after - kernel_before;
    let stale = transmit_after.stale - transmit_before.stale;
    eprintln!(
        "in 12 s: neighbour states {states:?}; {through_kernel} of {received} packets through IP output; the agent counted {stale} stale fallbacks and {} frames",
        transmit_after.frames - transmit_before.frames
    );
    let revalidated = states
        .iter()
        .position(|state| matches!(state.as_str(), "STALE" | "DELAY" | "PROBE"))
        .is_some_and(|stale| states[stale..].iter().any(|state| state == "REACHABLE"));
    ensure!(revalidated, "the entry was not revalidated: {states:?}");
    ensure!(through_kernel * 10 <= received, "{through_kernel} of {received} packets through IP output");
    ensure!(stale <= through_kernel, "{stale} stale fallbacks, {through_kernel} through IP output");
    // An entry used within the last second when its reachable time ends
    // goes REACHABLE -> DELAY directly (the kernel's neigh_timer_handler),
    // and something on this host sometimes uses it (about half the runs
    // here, with no packet of ours through IP output): then it was never
    // STALE and the agent had nothing to start. Whenever it was STALE, the
    // agent's packet through IP output started the probe, and it says why.
    if states.iter().any(|state| state == "STALE") {
        ensure!(through_kernel >= 1, "no packet through IP output: nothing started the revalidation");
        ensure!(stale >= 1, "no stale fallback counted: {transmit_after:?}");
    }
    ensure!(transmit_after.fallbacks() == transmit_after.ip_output, "{transmit_after:?}");
    ensure!(transmit_after.refused == 0, "the kernel refused packets: {transmit_after:?}");
    let counters = frr.peer_counters(AGENT_V4)?;
    ensure!(
        count(&counters, "session-down") == 0 && count(&counters, "session-up") == frr_ups,
        "FRR's session flapped: {counters:#}"
    );
    agent.ensure_running()?;
    Ok(())
}
