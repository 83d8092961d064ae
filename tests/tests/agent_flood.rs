//! Security at the door (root): a flood of valid-looking bring-up packets
//! (Your Discriminator 0, TTL 255) from one on-link source, and a flood of
//! the same at TTL 254 (from off the link), while the agent runs a session
//! with FRR's bfdd at 50 ms x 3. The session must see no state change on
//! either side, the TTL 254 packets must all be dropped in the kernel (RFC
//! 5881 §5, GTSM) and the on-link source's held to its rate (the XDP
//! program's per-source limit): so the engine is not woken for them. The
//! agent's CPU time during each flood is printed (a figure, not asserted).

use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use bfd_common::wire::{ControlPacket, ControlRepr, Diagnostic, State};
use bfd_lab::{
    agent::Agent,
    e2e::{AGENT_V4, Frr, Link, PEER_V4, fast_config, frr_config, frr_peer},
    frame::{RawSender, UdpFrame, mac_address},
    lab::wait_for,
};

/// How long each flood lasts.
const FLOOD: Duration = Duration::from_secs(3);

fn bring_up_payload() -> Vec<u8> {
    let repr = ControlRepr {
        diagnostic: Diagnostic::NoDiagnostic,
        state: State::Down,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: 0x0f10_0d00,
        your_discriminator: 0,
        desired_min_tx: 1_000_000,
        required_min_rx: 1_000_000,
        required_min_echo_rx: 0,
        auth: None,
    };
    let mut bytes = vec![0u8; repr.buffer_len()];
    repr.emit(&mut ControlPacket::new_unchecked(&mut bytes[..]));
    bytes
}

/// The agent process's CPU time (user + system), in clock ticks.
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat.rsplit_once(')').context("/proc/PID/stat")?.1.split_whitespace().collect();
    Ok(fields[11].parse::<u64>()? + fields[12].parse::<u64>()?)
}

fn counter(stats: &serde_json::Value, key: &str) -> u64 {
    stats[key].as_u64().unwrap_or(0)
}

#[bfd_lab::test]
fn a_flood_of_bring_up_packets_is_held_in_the_kernel_and_the_session_stays_up() -> anyhow::Result<()> {
    bfd_lab::lab::require_root()?;
    let link = Link::new("fl")?;
    let frr = Frr::start(&link.b, &frr_config(&[frr_peer(AGENT_V4, PEER_V4, false, &[])]))?;
    let agent = Agent::start(&link.a, "A", &link.a_if, &fast_config(PEER_V4, AGENT_V4))?;
    agent.wait_status(PEER_V4, "up", Duration::from_secs(5))?;
    frr.wait_status(AGENT_V4, "up", Duration::from_secs(3))?;
    wait_for("agent A: FRR at 50 ms", Duration::from_secs(3), || {
        Ok(agent.peer(PEER_V4)?.filter(|s| s["remote-transmit-interval"] == 50).map(drop))
    })?;
    let pid = agent.pid().context("the agent's pid")?;
    let dst_mac = mac_address(&link.a, &link.a_if)?;
    let src_mac = mac_address(&link.b, &link.b_if)?;
    let payload = bring_up_payload();
    let changes = agent.state_changes().len();
    let frr_before = frr.peer(AGENT_V4)?;

    for (what, ttl, counter_key) in
        [("off-link (TTL 254)", 254u8, "ctl-drop-ttl"), ("on-link (TTL 255)", 255, "ctl-drop-rate")]
    {
        // One source that is no session's peer, on the agent's subnet.
        let frame = UdpFrame {
            dst_mac,
            src_mac,
            vlans: &[],
            src: "10.77.0.66".parse()?,
            dst: AGENT_V4.parse()?,
            ttl,
            src_port: 49999,
            dst_port: 3784,
            payload: &payload,
        }
        .to_bytes();
        let before = agent.xdp_stats()?;
        let ticks_before = cpu_ticks(pid)?;
        let interface = link.b_if.clone();
        let sent = link.b.run_in(move || {
            let socket = RawSender::open(&interface)?;
            let started = Instant::now();
            let mut sent = 0u64;
            while started.elapsed() < FLOOD {
                for _ in 0..256 {
                    if socket.send(&frame).is_ok() {
                        sent += 1;
                    }
                }
            }
            Ok(sent)
        })?;
        let ticks = cpu_ticks(pid)? - ticks_before;
        let after = agent.xdp_stats()?;
        let dropped = counter(&after, counter_key) - counter(&before, counter_key);
        let passed = counter(&after, "ctl-pass-discr0") - counter(&before, "ctl-pass-discr0");
        let ticks_per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)?.unwrap_or(100) as f64;
        eprintln!(
            "{what}: {sent} bring-up packets in {FLOOD:?} ({:.0}/s); dropped in the kernel {dropped}, passed to \
             the agent {passed}; agent CPU {:.1}% of a core",
            sent as f64 / FLOOD.as_secs_f64(),
            ticks as f64 / ticks_per_second / FLOOD.as_secs_f64() * 100.0
        );
        ensure!(sent > 10_000, "{what}: only {sent} packets sent");
        if ttl == 254 {
            ensure!(
                passed == 0 && dropped >= sent * 9 / 10,
                "{what}: {passed} passed, {dropped} dropped of {sent}"
            );
        } else {
            // The burst and the rate (1000/s) pass; the rest is dropped.
            let allowed =
                bfd_common::maps::SLOW_PATH_BURST + bfd_common::maps::SLOW_PATH_RATE * (FLOOD.as_secs() + 1);
            ensure!(passed <= allowed, "{what}: {passed} passed, at most {allowed} allowed");
            ensure!(
                dropped + passed >= sent * 9 / 10,
                "{what}: {passed} passed and {dropped} dropped of {sent}"
            );
        }
    }
    // No state change on either side.
    ensure!(
        agent.state_changes().len() == changes,
        "the agent's session changed state: {:#?}",
        agent.state_changes()
    );
    let frr_after = frr.peer(AGENT_V4)?;
    ensure!(frr_after["status"] == "up", "FRR's session: {frr_after:#}");
    ensure!(
        frr_after["uptime"].as_u64() >= frr_before["uptime"].as_u64(),
        "FRR's session restarted: before {frr_before:#}, after {frr_after:#}"
    );
    let mut agent = agent;
    agent.stop()?;
    Ok(())
}
