//! Reload that adds and removes sessions (root): an added session starts,
//! a removed one says AdminDown (RFC 5880 §6.8.16) and goes away, and the
//! session the change does not touch sees no state change. Against FRR
//! 8.4 and 10.7.

use std::time::Duration;

use anyhow::ensure;
use bfd_lab::{
    agent::Agent,
    e2e::{AGENT_V4, Frr, FrrRelease, Link, PEER_V4, bfd_profile, bgp_peer, documents, frr_config, frr_peer},
    lab::{require_root, wait_for},
    release_tests,
};

const LOCAL_2: &str = "10.77.0.12";

release_tests!(a_reload_starts_added_sessions_and_takes_removed_ones_admin_down {
    a_reload_starts_added_sessions_and_takes_removed_ones_admin_down_frr_8_4: FrrRelease::V8_4,
    a_reload_starts_added_sessions_and_takes_removed_ones_admin_down_frr_10_7: FrrRelease::V10_7,
});

fn a_reload_starts_added_sessions_and_takes_removed_ones_admin_down(
    release: FrrRelease,
) -> anyhow::Result<()> {
    require_root()?;
    let link = Link::new("ra")?;
    link.a.ip(["addr", "add", &format!("{LOCAL_2}/24"), "dev", &link.a_if])?;
    // FRR knows both sessions from the start (bfdd keys single-hop peers by
    // the peer's address, so the two addresses are on the agent's side).
    let frr = Frr::start_release(
        &link.b,
        release,
        &frr_config(&[frr_peer(AGENT_V4, PEER_V4, false, &[]), frr_peer(LOCAL_2, PEER_V4, false, &[])]),
    )?;
    let profile = bfd_profile("fast", "receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3");
    let peer_1 = bgp_peer("peer-1", PEER_V4, AGENT_V4, "fast", "");
    let peer_2 = bgp_peer("peer-2", PEER_V4, LOCAL_2, "fast", "");
    let agent = Agent::start(&link.a, "A", &link.a_if, &documents(&[profile.clone(), peer_1.clone()]))?;
    agent.wait_status(PEER_V4, "up", Duration::from_secs(3))?;
    frr.wait_status(AGENT_V4, "up", Duration::from_secs(3))?;
    let summary = |n: usize| {
        wait_for("the reload", Duration::from_secs(3), || {
            Ok(agent
                .log_lines("configuration applied")
                .get(n)
                .and_then(|line| line.field("summary").map(str::to_owned)))
        })
    };

    // Added.
    let changes = agent.state_changes().len();
    agent.rewrite_config(0, &documents(&[profile.clone(), peer_1.clone(), peer_2.clone()]))?;
    ensure!(summary(1)? == "1 added, 0 removed, 0 changed, 1 unchanged");
    frr.wait_status(LOCAL_2, "up", Duration::from_secs(3))?;
    let untouched =
        |since: usize| agent.state_changes()[since..].iter().all(|line| line.text.contains(LOCAL_2));
    ensure!(untouched(changes), "the existing session changed state: {:#?}", agent.state_changes());

    // Removed: AdminDown to FRR, then gone from the agent.
    let changes = agent.state_changes().len();
    agent.rewrite_config(0, &documents(&[profile, peer_2]))?;
    ensure!(summary(2)? == "0 added, 1 removed, 0 changed, 1 unchanged");
    let frr_side = frr.wait_status(AGENT_V4, "down", Duration::from_secs(3))?;
    ensure!(frr_side["remote-diagnostic"] == "administratively down", "{frr_side:#}");
    wait_for("the removed session gone", Duration::from_secs(5), || {
        Ok(agent.show_peers()?.iter().all(|s| s["local"] != AGENT_V4).then_some(()))
    })?;
    ensure!(
        agent.state_changes()[changes..]
            .iter()
            .all(|line| !line.text.contains(&format!("local=Some({LOCAL_2})"))
                || !line.text.contains("to=Down")),
        "the kept session changed state: {:#?}",
        agent.state_changes()
    );
    let kept = frr.peer(LOCAL_2)?;
    ensure!(kept["status"] == "up", "{kept:#}");
    Ok(())
}
