//! The engine thread's scheduling (root): `--rt-deadline` runs it
//! SCHED_DEADLINE with the given budget, `rtPriority` SCHED_FIFO, and in
//! both cases only the engine thread; sessions come Up and a cut is
//! detected in the kernel as with normal scheduling. Why SCHED_DEADLINE
//! exists at all (the kernel's fair server preempts SCHED_FIFO under
//! real-time hogs) is measured by `cargo xtask bench detection floor`, not
//! asserted here: it is a matter of timing.
//!
//! Tools: chrt (util-linux), nft.

use std::{process::Command, time::Duration};

use anyhow::{Context as _, ensure};
use bfd_lab::{
    agent::{Agent, AgentArgs},
    e2e::{AGENT_V4, Cut, Link, PEER_V4, bfd_profile, bgp_peer, documents},
    lab::{require_root, wait_for},
};

/// What `chrt -p TID` says of a thread: its policy line and, for
/// SCHED_DEADLINE, its runtime/deadline/period line.
fn chrt(tid: u32) -> anyhow::Result<String> {
    let output = Command::new("chrt").args(["-p", &tid.to_string()]).output().context("running chrt")?;
    ensure!(output.status.success(), "chrt -p {tid}: {}", String::from_utf8_lossy(&output.stderr));
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Every thread of `agent` but the engine runs SCHED_OTHER.
fn only_the_engine_is_real_time(agent: &Agent) -> anyhow::Result<()> {
    for (tid, name) in agent.threads()? {
        if name != "bfd-engine" {
            let policy = chrt(tid)?;
            ensure!(policy.contains("SCHED_OTHER"), "agent {} thread {tid} ({name}): {policy}", agent.name());
        }
    }
    Ok(())
}

#[bfd_lab::test]
fn rt_deadline_and_rt_priority_schedule_the_engine_thread_and_sessions_still_detect_cuts()
-> anyhow::Result<()> {
    require_root()?;
    let link = Link::new("sd")?;
    let profile = bfd_profile("fast", "receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3");
    let config_a = documents(&[profile.clone(), bgp_peer("b", PEER_V4, AGENT_V4, "fast", "")]);
    let config_b = documents(&[
        profile,
        bgp_peer("a", AGENT_V4, PEER_V4, "fast", ""),
        "apiVersion: bfd-xdp.io/v1alpha1\nkind: BFDAgentConfig\nmetadata: {name: node}\nspec: {rtPriority: 10}\n"
            .to_owned(),
    ]);
    let a = Agent::start_with(
        &link.a,
        "A",
        AgentArgs {
            extra: vec!["--rt-deadline".into(), "300us/1ms".into()],
            ..AgentArgs::new(&link.a_if, config_a)
        },
    )?;
    let b = Agent::start(&link.b, "B", &link.b_if, &config_b)?;

    let a_engine = chrt(a.thread_id("bfd-engine")?)?;
    ensure!(a_engine.contains("SCHED_DEADLINE"), "A's engine thread: {a_engine}");
    ensure!(a_engine.contains("300000/1000000/1000000"), "A's engine budget (ns): {a_engine}");
    let b_engine = chrt(b.thread_id("bfd-engine")?)?;
    ensure!(b_engine.contains("SCHED_FIFO") && b_engine.contains("priority: 10"), "B's engine: {b_engine}");
    only_the_engine_is_real_time(&a)?;
    only_the_engine_is_real_time(&b)?;
    ensure!(
        a.logged("SCHED_DEADLINE 300us/1ms") && b.logged("SCHED_FIFO 10"),
        "the logs name the engine's scheduling:\nA:\n{}\nB:\n{}",
        a.log(),
        b.log()
    );

    a.wait_status(PEER_V4, "up", Duration::from_secs(3))?;
    b.wait_status(AGENT_V4, "up", Duration::from_secs(3))?;
    // Steady state: both Polls done, 50 ms timers in force.
    std::thread::sleep(Duration::from_secs(1));
    let events = a.kernel_events().len();
    let cut = Cut::outgoing_control(&link.b)?;
    let event = wait_for("A's kernel detection event", Duration::from_secs(3), || {
        Ok(a.kernel_events().into_iter().nth(events))
    })?;
    ensure!(event.field("acted") == Some("true"), "A did not act on it: {event}");
    a.wait_status(PEER_V4, "down", Duration::from_secs(1))?;
    cut.lift()?;
    a.wait_status(PEER_V4, "up", Duration::from_secs(6))?;
    // Through a detection and a recovery the engine keeps its policy.
    let a_engine = chrt(a.thread_id("bfd-engine")?)?;
    ensure!(a_engine.contains("SCHED_DEADLINE"), "A's engine thread after the cut: {a_engine}");
    let (mut a, mut b) = (a, b);
    a.stop()?;
    b.stop()?;
    Ok(())
}
