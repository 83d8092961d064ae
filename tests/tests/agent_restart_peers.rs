//! Issue 17, the points `agent_restart.rs` (FRR 8.4, IPv4 single-hop)
//! leaves: BIRD as the peer, IPv6 and multihop sessions adopted, the
//! kernel keepalive over a 20 s absence and a peer's Poll during it, its
//! bound ending the sessions of an agent that never comes back, and FRR's
//! echo across a restart. Each checks the peer's own account (BIRD's state
//! changes, FRR's counters) and prints the gaps in our packets that a
//! capture at the peer's end saw.
//!
//! The agent runs generic XDP throughout: native `XDP_TX` on a veth is lost
//! unless the far end runs an XDP program, and the keepalive answers with
//! `XDP_TX`.

use std::time::{Duration, Instant};

use anyhow::ensure;
use bfd_lab::{
    agent::{Agent, AgentArgs},
    bird::{Bird, BirdRelease},
    e2e::{
        AGENT_V4, AGENT_V6, BfdPacket, Capture, Frr, Link, PEER_V4, PEER_V6, Routed, bfd_profile, bgp_peer,
        count, documents, fast_config, frr_config,
    },
    lab::{require_root, wait_for},
};
use bfd_user::adopt::CAPACITY;

/// The gaps between our packets from `source` in a capture, µs: the largest,
/// and the smallest between two packets neither of which is a Final (a
/// Final answers a Poll at once, RFC 5880 §6.8.7), with the time it ended.
fn gaps(packets: &[BfdPacket], source: &str) -> (u64, u64, u64, usize) {
    let ours: Vec<&BfdPacket> = packets.iter().filter(|p| p.source == source).collect();
    let mut largest = 0;
    let (mut smallest, mut smallest_at) = (u64::MAX, 0);
    for pair in ours.windows(2) {
        let gap = pair[1].at_us.saturating_sub(pair[0].at_us);
        largest = largest.max(gap);
        if !pair[0].final_ && !pair[1].final_ && gap < smallest {
            (smallest, smallest_at) = (gap, pair[1].at_us);
        }
    }
    (largest, smallest, smallest_at, ours.len())
}

/// Prints the gaps of each source's packets, and checks that across the
/// restart (the gaps that ended between the agent's stop and 1 s after
/// the new one answered, `window_us`) no two were closer than RFC 5880
/// §6.8.7's 75% of `interval_ms` (less 1 ms for the capture's timestamps;
/// a Final is exempt): the two agents and the kernel never sent for one
/// session at once. Outside the window the agent's own pacing is printed,
/// not checked here (`agent_wire_timing` checks it). With `largest_ms`,
/// no gap across the restart was longer either.
fn check_gaps(
    what: &str,
    packets: &[BfdPacket],
    sources: &[&str],
    interval_ms: u64,
    window_us: (u64, u64),
    largest_ms: Option<u64>,
) -> anyhow::Result<()> {
    for source in sources {
        let (largest, smallest, _, n) = gaps(packets, source);
        let ours: Vec<&BfdPacket> = packets.iter().filter(|p| p.source == *source).collect();
        let across: Vec<u64> = ours
            .windows(2)
            .filter(|pair| !pair[0].final_ && !pair[1].final_)
            .filter(|pair| (window_us.0..window_us.1).contains(&pair[1].at_us))
            .map(|pair| pair[1].at_us - pair[0].at_us)
            .collect();
        let (largest_across, smallest_across) =
            (across.iter().max().copied().unwrap_or(0), across.iter().min().copied().unwrap_or(0));
        eprintln!(
            "{what}: our packets from {source} at the peer ({n}, interval {interval_ms} ms): across the restart \
             largest gap {:.1} ms, smallest {:.1} ms; over the whole capture largest {:.1} ms, smallest {:.1} ms",
            largest_across as f64 / 1000.0,
            smallest_across as f64 / 1000.0,
            largest as f64 / 1000.0,
            smallest as f64 / 1000.0,
        );
        ensure!(n > 10 && !across.is_empty(), "{what}: only {n} packets from {source} captured");
        let floor_us = interval_ms * 750 - 1000;
        ensure!(
            smallest_across >= floor_us,
            "{what}: across the restart two packets from {source} {smallest_across} µs apart, under 75% of \
             {interval_ms} ms: {across:?}"
        );
        if let Some(largest_ms) = largest_ms {
            ensure!(
                largest_across <= largest_ms * 1000,
                "{what}: across the restart a gap of {largest_across} µs in our packets from {source}, over \
                 {largest_ms} ms: {across:?}"
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// BIRD as the peer, IPv4 and IPv6
// ---------------------------------------------------------------------------

fn bird_config() -> String {
    format!(
        "router id {PEER_V4};\nprotocol device {{ }}\nprotocol bfd {{\n  debug {{ events }};\n  interface \"*\" {{\n    \
         min rx interval 50 ms;\n    min tx interval 50 ms;\n    multiplier 3;\n  }};\n  neighbor {AGENT_V4} local \
         {PEER_V4};\n  neighbor {AGENT_V6} local {PEER_V6};\n}}\n"
    )
}

fn two_sessions_config() -> String {
    documents(&[
        bfd_profile("fast", "receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3"),
        bgp_peer("v4", PEER_V4, AGENT_V4, "fast", ""),
        bgp_peer("v6", PEER_V6, AGENT_V6, "fast", ""),
    ])
}

/// SIGKILL and an immediate restart, SIGTERM with `--on-stop handover` and
/// a restart, then SIGKILL and a restart 3 s later (held by the kernel's
/// answers), against `release` with an IPv4 and an IPv6 session at 50 ms
/// x 3: both adopted each time, and BIRD logs no state change
/// (`debug { events }` logs every one) and lists both Up.
fn bird_sees_no_state_change_across_restarts(prefix: &str, release: BirdRelease) -> anyhow::Result<()> {
    require_root()?;
    let link = Link::new(prefix)?;
    let bird = Bird::start_release(&link.b, release, &bird_config())?;
    let args = AgentArgs {
        mode: Some("generic".into()),
        extra: ["--on-stop", "handover"].map(String::from).to_vec(),
        ..AgentArgs::new(&link.a_if, two_sessions_config())
    };
    let mut agent = Agent::start_with(&link.a, "A", args.clone())?;
    for address in [AGENT_V4, AGENT_V6] {
        bird.wait_state(address, "Up", Duration::from_secs(10))?;
    }
    std::thread::sleep(Duration::from_secs(2));
    let changes = bird.state_changes();
    eprintln!("{release}: state changes before the restarts: {changes:#?}");
    for (how, absence) in [
        ("SIGKILL", Duration::ZERO),
        ("SIGTERM (handover)", Duration::ZERO),
        ("SIGKILL", Duration::from_secs(3)),
    ] {
        let mut capture = Capture::start(&link.b, &link.b_if, "udp dst port 3784")?;
        std::thread::sleep(Duration::from_millis(500));
        let adopted = agent.log_lines("sessions adopted from the previous agent").len();
        let gone = Instant::now();
        let stopped_at_us = bfd_lab::lab::realtime_us();
        if how == "SIGKILL" {
            agent.kill()?;
        } else {
            agent.terminate()?;
        }
        // Away for a while: BIRD hears only the kernel's answers.
        std::thread::sleep(absence);
        agent.restart(&link.a, &args)?;
        let away = gone.elapsed();
        let window_us = (stopped_at_us, bfd_lab::lab::realtime_us() + 1_000_000);
        let lines = agent.log_lines("sessions adopted from the previous agent");
        ensure!(lines.len() == adopted + 1, "{how}: no adoption:\n{}", agent.log());
        ensure!(
            lines.last().and_then(|line| line.number("adopted")) == Some(2),
            "{}",
            lines.last().unwrap().text
        );
        std::thread::sleep(Duration::from_secs(3));
        // A handover tells the kernel at once that it answers, each session
        // paced from its own last packet: the kernel answers the first of
        // BIRD's packets (at most 50 ms apart) at least 37.5 ms after our
        // last, which came at most an interval before the stop. So about
        // two intervals (20 ms for the signal's path to the engine and the
        // capture; measured 49-50 ms, 64-109 ms while the adopting engine
        // started the sweep itself). A killed agent says nothing: the
        // kernel waits for its lease (its next deadline and 50 ms of
        // slack), up to BIRD's 150 ms (measured: 67-121 ms). Before the
        // handover expired the lease, a handover could wait as long: CI
        // saw 153 ms, and BIRD 2.0 went Down.
        let largest_ms = (how != "SIGKILL").then_some(2 * 50 + 20);
        check_gaps(
            &format!("{release}, {how}, away {away:?}"),
            &capture.bfd_packets()?,
            &[AGENT_V4, AGENT_V6],
            50,
            window_us,
            largest_ms,
        )?;
        ensure!(
            bird.state_changes() == changes,
            "{release} saw a state change across the {how} restart: {:#?}",
            bird.state_changes()
        );
        for address in [AGENT_V4, AGENT_V6] {
            let session = bird.session(address)?;
            ensure!(session.as_ref().is_some_and(|s| s.state == "Up"), "{release}: {address}: {session:?}");
        }
        eprintln!(
            "{release}: {how}, away {away:?} (to the new agent's control socket): no state change at BIRD"
        );
    }
    for session in bird.sessions()? {
        eprintln!("{release}: {}", session.line);
    }
    // `--on-stop handover`: the pins stay (removed with the lab).
    agent.terminate()?;
    Ok(())
}

#[bfd_lab::test]
fn bird_2_0_sees_no_state_change_across_sigkill_and_handover() -> anyhow::Result<()> {
    bird_sees_no_state_change_across_restarts("qb", BirdRelease::V2_0)
}

#[bfd_lab::test]
fn bird_2_20_sees_no_state_change_across_sigkill_and_handover() -> anyhow::Result<()> {
    bird_sees_no_state_change_across_restarts("qc", BirdRelease::V2_20)
}

// ---------------------------------------------------------------------------
// A 20 s absence, a Poll during it, and the keepalive's bound
// ---------------------------------------------------------------------------

/// Issue 17: the agent SIGKILLed and started again 20 s later, held by the
/// kernel keepalive (default bound 30 s); FRR changes its Required Min RX
/// Interval 5 s into the absence, so it polls (RFC 5880 §6.5) while no
/// agent runs: the kernel answers its Polls with the steady-state packet (no
/// Final: only the agent can answer one), FRR keeps polling with its old
/// parameters and its session stays Up; the adopting agent answers with a
/// Final. Then the bound: with `--keepalive-seconds 2` the agent is killed
/// and never restarted, and FRR must detect the silence shortly after the
/// bound (printed: kill to FRR's Down).
#[bfd_lab::test]
fn a_20_s_absence_and_a_poll_in_it_are_held_and_the_bound_ends_an_absent_agent() -> anyhow::Result<()> {
    require_root()?;
    let link = Link::new("qa")?;
    let frr = Frr::start(
        &link.b,
        &frr_config(&[format!(
            " peer {AGENT_V4} local-address {PEER_V4}\n  receive-interval 300\n  transmit-interval 300\n  \
             detect-multiplier 3\n exit\n"
        )]),
    )?;
    let config = documents(&[
        bfd_profile("slow", "receiveInterval: 300, transmitInterval: 300, detectMultiplier: 3"),
        bgp_peer("v4", PEER_V4, AGENT_V4, "slow", ""),
    ]);
    let mut args = AgentArgs { mode: Some("generic".into()), ..AgentArgs::new(&link.a_if, config) };
    let mut agent = Agent::start_with(&link.a, "A", args.clone())?;
    frr.wait_status(AGENT_V4, "up", Duration::from_secs(10))?;
    std::thread::sleep(Duration::from_secs(3));
    let counters = frr.peer_counters(AGENT_V4)?;
    let (up0, down0) = (count(&counters, "session-up"), count(&counters, "session-down"));
    let mut capture = Capture::start(&link.b, &link.b_if, "udp port 3784")?;
    std::thread::sleep(Duration::from_millis(500));
    let killed_at_us = bfd_lab::lab::realtime_us();
    agent.kill()?;
    std::thread::sleep(Duration::from_secs(5));
    frr.vtysh(&format!(
        "configure terminal\nbfd\npeer {AGENT_V4} local-address {PEER_V4}\nreceive-interval 600\nend"
    ))?;
    std::thread::sleep(Duration::from_secs(15));
    let status = frr.peer(AGENT_V4)?;
    eprintln!("FRR after 20 s without an agent: {status:#}");
    ensure!(status["status"] == "up", "FRR's session is not Up after 20 s without an agent: {status:#}");
    agent.restart(&link.a, &args)?;
    std::thread::sleep(Duration::from_secs(3));
    let packets = capture.bfd_packets()?;
    let theirs: Vec<&BfdPacket> = packets.iter().filter(|p| p.source == PEER_V4).collect();
    let polls = theirs.iter().filter(|p| p.poll).count();
    let finals = packets.iter().filter(|p| p.source == AGENT_V4 && p.final_).count();
    eprintln!(
        "20 s absence: FRR sent {} packets, {polls} of them Polls; we sent {finals} Finals",
        theirs.len()
    );
    ensure!(polls >= 3, "FRR did not poll during the absence ({polls} Polls)");
    ensure!(finals >= 1, "the adopting agent did not answer FRR's Poll with a Final");
    // The kill and the first 5 s of the absence, before FRR's Poll.
    check_gaps(
        "20 s absence, the kill",
        &packets,
        &[AGENT_V4],
        300,
        (killed_at_us, killed_at_us + 5_000_000),
        None,
    )?;
    let (largest, _, _, n) = gaps(&packets, AGENT_V4);
    eprintln!("20 s absence: our packets at FRR: {n}, largest gap {:.1} ms", largest as f64 / 1000.0);
    let counters = frr.peer_counters(AGENT_V4)?;
    let (up1, down1) = (count(&counters, "session-up"), count(&counters, "session-down"));
    eprintln!("20 s absence: FRR's session: up {up0}->{up1}, down {down0}->{down1}");
    ensure!((up0, down0) == (up1, down1), "FRR's session changed state across the 20 s absence");
    ensure!(frr.peer(AGENT_V4)?["status"] == "up", "FRR's session is not Up");

    // The bound: 2 s of keepalive, then silence.
    args.extra = ["--keepalive-seconds", "2"].map(String::from).to_vec();
    agent.kill()?;
    agent.restart(&link.a, &args)?;
    frr.wait_status(AGENT_V4, "up", Duration::from_secs(3))?;
    std::thread::sleep(Duration::from_secs(2));
    agent.kill()?;
    let killed = Instant::now();
    let down = wait_for("FRR to detect the absent agent", Duration::from_secs(15), || {
        Ok(Some(frr.peer(AGENT_V4)?).filter(|s| s["status"] == "down"))
    })?;
    let to_down = killed.elapsed();
    eprintln!(
        "keepalive bound 2 s: FRR's session Down {to_down:?} after the kill (diagnostic {})",
        down["diagnostic"]
    );
    ensure!(to_down >= Duration::from_secs(2), "FRR's session went down inside the bound: {to_down:?}");
    ensure!(down["diagnostic"] == "control detection time expired", "{down:#}");
    Ok(())
}

// ---------------------------------------------------------------------------
// Multihop, through a router
// ---------------------------------------------------------------------------

/// The second octet of [`Routed`]'s addresses here (`agent.rs` has 77).
const ROUTED_NET: u8 = 78;

/// A multihop session (FRR 8.4 through a router, 300 ms x 3) survives the
/// agent's SIGKILL and a restart 3 s later, over three times FRR's
/// Detection Time: it is adopted, and while no agent runs the kernel
/// answers FRR's packets (multihop packets are never absorbed; the answer
/// goes back to the router they came through, to port 4784, at TTL 255,
/// which the router takes to 254, FRR's minimum). FRR's counters show no
/// state change; the capture at FRR shows the gaps.
#[bfd_lab::test]
fn a_multihop_session_is_adopted_and_held_by_the_kernel_across_3_s() -> anyhow::Result<()> {
    require_root()?;
    let routed = Routed::new("qm", ROUTED_NET)?;
    let (agent_ns, frr_ns, agent_if) = (&routed.agent, &routed.peer, &routed.agent_if);
    let (agent_ip, peer_ip) = (routed.agent_ip.as_str(), routed.peer_ip.as_str());
    let frr = Frr::start(
        frr_ns,
        &frr_config(&[format!(
            " peer {agent_ip} multihop local-address {peer_ip}\n  receive-interval 300\n  \
             transmit-interval 300\n  detect-multiplier 3\n exit\n"
        )]),
    )?;
    let config = documents(&[
        bfd_profile(
            "mh",
            "receiveInterval: 300, transmitInterval: 300, detectMultiplier: 3, minimumTtl: 254",
        ),
        bgp_peer("peer", peer_ip, agent_ip, "mh", "ebgpMultiHop: true"),
    ]);
    let args = AgentArgs { mode: Some("generic".into()), ..AgentArgs::new(agent_if, config) };
    let mut agent = Agent::start_with(agent_ns, "A", args.clone())?;
    agent.wait_status(peer_ip, "up", Duration::from_secs(10))?;
    frr.wait_status(agent_ip, "up", Duration::from_secs(10))?;
    std::thread::sleep(Duration::from_secs(3));
    let discr = agent.session(peer_ip)?["id"].clone();
    let counters = frr.peer_counters(agent_ip)?;
    let (up0, down0) = (count(&counters, "session-up"), count(&counters, "session-down"));
    let mut capture = Capture::start(frr_ns, &routed.peer_if, "udp dst port 4784")?;
    std::thread::sleep(Duration::from_millis(500));
    // The kernel's answer is paced by the session's negotiated interval as
    // its adoption record last said: 75% of 300 ms, not of the 1 s it
    // advertised before its bring-up Poll Sequence ended (a record that
    // missed the Poll's end, whose parameters change neither the state nor
    // the kernel's view of a multihop session, paced it at 750 ms).
    let pacing = keepalive_pacing_ns(&agent)?;
    eprintln!("multihop: the kernel answers at most every {} ms", pacing as f64 / 1e6);
    ensure!(pacing == 225_000_000, "the kernel's keepalive is paced at {pacing} ns");
    let killed_at_us = bfd_lab::lab::realtime_us();
    agent.kill()?;
    std::thread::sleep(Duration::from_secs(3));
    agent.restart(agent_ns, &args)?;
    let window_us = (killed_at_us, bfd_lab::lab::realtime_us() + 1_000_000);
    let line = agent.log_lines("sessions adopted from the previous agent");
    ensure!(line.last().and_then(|l| l.number("adopted")) == Some(1), "no adoption:\n{}", agent.log());
    std::thread::sleep(Duration::from_secs(3));
    let session = agent.session(peer_ip)?;
    ensure!(session["id"] == discr && session["status"] == "up", "{session:#}");
    ensure!(session["multihop"] == true, "{session:#}");
    let packets = capture.bfd_packets()?;
    let (largest, smallest, _, n) = gaps(&packets, agent_ip);
    eprintln!(
        "multihop, SIGKILL, 3 s: our packets at FRR: {n}, largest gap {:.1} ms, smallest {:.1} ms",
        largest as f64 / 1000.0,
        smallest as f64 / 1000.0
    );
    // FRR's Detection Time for us is 900 ms: only the kernel's answers
    // bridged the 3 s (FRR's counters below say whether they did).
    check_gaps("multihop, SIGKILL, 3 s", &packets, &[agent_ip], 300, window_us, None)?;
    let counters = frr.peer_counters(agent_ip)?;
    let (up1, down1) = (count(&counters, "session-up"), count(&counters, "session-down"));
    eprintln!("multihop, SIGKILL, 3 s: FRR's session: up {up0}->{up1}, down {down0}->{down1}");
    ensure!((up0, down0) == (up1, down1), "FRR's multihop session changed state");
    agent.stop()?;
    Ok(())
}

/// The one session's keepalive pacing (`bfd_keepalive`'s
/// `min_interval_ns`, through bpftool).
fn keepalive_pacing_ns(agent: &Agent) -> anyhow::Result<u64> {
    let path = agent.pin_path().join("bfd_keepalive");
    let output = bfd_lab::lab::run(
        std::process::Command::new("bpftool").args(["-j", "map", "dump", "pinned"]).arg(&path),
    )?;
    let dump: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    dump[0]["formatted"]["value"]["min_interval_ns"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("no keepalive in {dump}"))
}

// ---------------------------------------------------------------------------
// Echo
// ---------------------------------------------------------------------------

/// FRR 8.4 runs echo at 50 ms on a session with the agent (50 ms x 3), which
/// the XDP program reflects. The agent is SIGKILLed and restarted 3 s
/// later: the kernel keeps reflecting FRR's echoes (reflection never
/// needed the agent) and answers FRR's control packets, so FRR's echo
/// function and session see no failure (its counters), and the session is
/// adopted with echo still invited.
#[bfd_lab::test]
fn frrs_echo_session_is_adopted_across_a_3_s_absence() -> anyhow::Result<()> {
    require_root()?;
    let link = Link::new("qe")?;
    let frr = bfd_lab::frr::Frr::start_with_zebra(
        &link.b,
        &format!(
            "debug bfd peer\nbfd\n peer {AGENT_V4} interface {} local-address {PEER_V4}\n  receive-interval 50\n  \
             transmit-interval 50\n  detect-multiplier 3\n  echo-mode\n  echo transmit-interval 50\n  echo \
             receive-interval 50\n exit\nexit\n",
            link.b_if
        ),
    )?;
    let args = AgentArgs {
        mode: Some("generic".into()),
        ..AgentArgs::new(&link.a_if, fast_config(PEER_V4, AGENT_V4))
    };
    let mut agent = Agent::start_with(&link.a, "A", args.clone())?;
    frr.wait_status(AGENT_V4, "up", Duration::from_secs(10))?;
    let echo_in =
        |frr: &Frr| -> anyhow::Result<u64> { Ok(count(&frr.peer_counters(AGENT_V4)?, "echo-packet-input")) };
    wait_for(
        "FRR's echoes to come back",
        Duration::from_secs(5),
        || Ok((echo_in(&frr)? > 10).then_some(())),
    )?;
    std::thread::sleep(Duration::from_secs(2));
    let counters = frr.peer_counters(AGENT_V4)?;
    let (up0, down0) = (count(&counters, "session-up"), count(&counters, "session-down"));
    agent.kill()?;
    let echoes_at_kill = echo_in(&frr)?;
    std::thread::sleep(Duration::from_secs(3));
    let echoes_absent = echo_in(&frr)? - echoes_at_kill;
    eprintln!("echo: FRR's echoes that came back in the 3 s without an agent: {echoes_absent}");
    // At 50 ms (FRR jitters echo), 3 s is about 60 echoes.
    ensure!(echoes_absent >= 30, "only {echoes_absent} of FRR's echoes came back while no agent ran");
    agent.restart(&link.a, &args)?;
    std::thread::sleep(Duration::from_secs(3));
    let session = agent.session(PEER_V4)?;
    ensure!(session["status"] == "up" && session["echo-receive-interval"] == 50, "{session:#}");
    let frr_session = frr.peer(AGENT_V4)?;
    ensure!(frr_session["echo-transmit-interval"] == 50, "FRR stopped echo: {frr_session:#}");
    let counters = frr.peer_counters(AGENT_V4)?;
    let (up1, down1) = (count(&counters, "session-up"), count(&counters, "session-down"));
    eprintln!(
        "echo, SIGKILL, 3 s: FRR's session: up {up0}->{up1}, down {down0}->{down1}; echo in {}",
        echo_in(&frr)?
    );
    ensure!((up0, down0) == (up1, down1), "FRR's echo session changed state");
    agent.stop()?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Another build: a changed XDP program
// ---------------------------------------------------------------------------

/// How many records the adoption map pinned under the agent's pin path
/// can hold (the kernel's `max_entries`).
fn adoption_map_capacity(agent: &Agent) -> anyhow::Result<u32> {
    let pin = agent.pin_path().join(bfd_common::maps::ADOPT_MAP);
    Ok(aya::maps::MapData::from_pin(&pin)?.info()?.max_entries())
}

/// The tag (a hash of its instructions) of the program behind the agent's
/// pinned link on `iface` (bpftool).
fn linked_program_tag(agent: &Agent, iface: &str) -> anyhow::Result<(u64, String)> {
    let path = agent.pin_path().join(format!("link_{iface}"));
    let output = bfd_lab::lab::run(
        std::process::Command::new("bpftool").args(["-j", "link", "show", "pinned"]).arg(&path),
    )?;
    let link: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let id = link["prog_id"].as_u64().ok_or_else(|| anyhow::anyhow!("no prog_id in {link}"))?;
    let output = bfd_lab::lab::run(
        std::process::Command::new("bpftool").args(["-j", "prog", "show", "id"]).arg(id.to_string()),
    )?;
    let program: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let tag = program["tag"].as_str().ok_or_else(|| anyhow::anyhow!("no tag in {program}"))?;
    Ok((id, tag.to_owned()))
}

/// Issue 17: a binary whose XDP program differs. `BFD_AGENT_OTHER` names
/// another build of the agent with the same map layout (for example one
/// built from an earlier commit: `cargo xtask test` builds the previous
/// version's and sets it; run by hand, this test says it was skipped
/// without it). The other build runs first and pins its maps; it is
/// killed and this build adopts its sessions (an upgrade after a crash:
/// an adoption map smaller than this build's is grown, said in the log),
/// then the other build takes them back through a surge (a downgrade, the
/// DaemonSet's rollback). Each time the link's program has another tag
/// (other instructions, not only a new load of the same), the sessions are
/// adopted, and FRR (IPv4 at 300 ms x 3, IPv6 at 50 ms x 3) sees no state
/// change; across this build's takeover no two of our packets are closer
/// than §6.8.7 allows.
#[bfd_lab::test]
fn a_changed_program_takes_the_sessions_over_both_ways() -> anyhow::Result<()> {
    require_root()?;
    let Some(other) = std::env::var_os("BFD_AGENT_OTHER").map(std::path::PathBuf::from) else {
        eprintln!("skipped: BFD_AGENT_OTHER (another build of the agent) is not set");
        return Ok(());
    };
    let this = bfd_lab::lab::agent_binary()?;
    let link = Link::new("qu")?;
    let frr = Frr::start(
        &link.b,
        &frr_config(&[
            format!(
                " peer {AGENT_V4} local-address {PEER_V4}\n  receive-interval 300\n  transmit-interval 300\n  \
                 detect-multiplier 3\n exit\n"
            ),
            format!(
                " peer {AGENT_V6} local-address {PEER_V6}\n  receive-interval 50\n  transmit-interval 50\n  \
                 detect-multiplier 3\n exit\n"
            ),
        ]),
    )?;
    let config = documents(&[
        bfd_profile("slow", "receiveInterval: 300, transmitInterval: 300, detectMultiplier: 3"),
        bfd_profile("fast", "receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3"),
        bgp_peer("v4", PEER_V4, AGENT_V4, "slow", ""),
        bgp_peer("v6", PEER_V6, AGENT_V6, "fast", ""),
    ]);
    let args = AgentArgs { mode: Some("generic".into()), ..AgentArgs::new(&link.a_if, config) };
    // The other build starts: what it pins (an older build's adoption map
    // of 4096 entries) is what this build adopts.
    let mut agent = Agent::start_binary(&link.a, "A", args.clone(), other.clone())?;
    for address in [AGENT_V4, AGENT_V6] {
        frr.wait_status(address, "up", Duration::from_secs(10))?;
    }
    std::thread::sleep(Duration::from_secs(3));
    let counts = |frr: &Frr| -> anyhow::Result<Vec<(u64, u64)>> {
        [AGENT_V4, AGENT_V6]
            .iter()
            .map(|address| {
                let counters = frr.peer_counters(address)?;
                Ok((count(&counters, "session-up"), count(&counters, "session-down")))
            })
            .collect()
    };
    let before = counts(&frr)?;
    let mut program = linked_program_tag(&agent, &link.a_if)?;
    eprintln!("the other build ({}): program {program:?}", other.display());
    for (step, binary) in [("SIGKILL, this build", this.clone()), ("surge, the other build", other.clone())] {
        let mut capture = Capture::start(&link.b, &link.b_if, "udp dst port 3784")?;
        std::thread::sleep(Duration::from_millis(500));
        let adopted = agent.log_lines("sessions adopted from the previous agent").len();
        let capacity_before = adoption_map_capacity(&agent)?;
        let stopped_at_us = bfd_lab::lab::realtime_us();
        agent.set_binary(binary.clone());
        if step.starts_with("SIGKILL") {
            agent.kill()?;
            agent.restart(&link.a, &args)?;
        } else {
            agent.surge(&link.a, &args)?;
        }
        let window_us = (stopped_at_us, bfd_lab::lab::realtime_us() + 1_000_000);
        let lines = agent.log_lines("sessions adopted from the previous agent");
        ensure!(lines.len() == adopted + 1, "{step}: no adoption:\n{}", agent.log());
        ensure!(
            lines.last().and_then(|line| line.number("adopted")) == Some(2),
            "{}",
            lines.last().unwrap().text
        );
        if binary == this {
            // This build adopts with room for every session the program's
            // maps hold, growing a smaller map an older build left.
            let capacity = adoption_map_capacity(&agent)?;
            ensure!(capacity == CAPACITY, "{step}: the adoption map holds {capacity}, not {CAPACITY}");
            let grew = agent.log_lines("grew the adoption map an earlier agent made");
            ensure!(
                (capacity_before < CAPACITY) == (grew.len() == 1),
                "{step}: the map held {capacity_before} before, grown {} times",
                grew.len()
            );
            eprintln!("{step}: the adoption map held {capacity_before}, now {capacity}");
        }
        std::thread::sleep(Duration::from_secs(3));
        let replaced = linked_program_tag(&agent, &link.a_if)?;
        eprintln!("{step} ({}): program {replaced:?}", binary.display());
        ensure!(replaced.1 != program.1, "{step}: the program's tag did not change: {replaced:?}");
        program = replaced;
        let packets = capture.bfd_packets()?;
        if binary == this {
            check_gaps(step, &packets, &[AGENT_V4], 300, window_us, None)?;
            check_gaps(step, &packets, &[AGENT_V6], 50, window_us, None)?;
        } else {
            // The other build's pacing is its own (an older one sends an
            // adopted session's first packet at once): printed only.
            for source in [AGENT_V4, AGENT_V6] {
                let (largest, smallest, _, n) = gaps(&packets, source);
                eprintln!(
                    "{step}: our packets from {source} at FRR: {n}, largest gap {:.1} ms, smallest {:.1} ms",
                    largest as f64 / 1000.0,
                    smallest as f64 / 1000.0
                );
            }
        }
        let after = counts(&frr)?;
        eprintln!("{step}: FRR's sessions (up, down): {before:?} -> {after:?}");
        ensure!(after == before, "{step}: FRR saw a state change");
    }
    agent.stop()?;
    Ok(())
}
