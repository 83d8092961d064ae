//! The state-change hook (root): a command run on every session state
//! change with the change in its environment, under a time limit, never
//! holding up BFD.

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use anyhow::ensure;
use bfd_lab::{
    agent::Agent,
    e2e::{AGENT_V4, Cut, Frr, Link, PEER_V4, TempDir, documents, fast_config, frr_config, frr_peer},
    lab::{require_root, wait_for},
};

/// A BFDAgentConfig whose hook is `command`, limited to `timeout_s`.
fn hook_config(command: &str, timeout_s: u64) -> String {
    format!(
        "apiVersion: bfd-xdp.io/v1alpha1\nkind: BFDAgentConfig\nmetadata: {{name: node}}\nspec:\n  hook:\n    \
         command: [{command}]\n    timeoutSeconds: {timeout_s}\n"
    )
}

#[bfd_lab::test]
fn the_hook_sees_every_state_change_with_its_details() -> anyhow::Result<()> {
    require_root()?;
    let dir = TempDir::new("hook")?;
    let script = dir.join("hook.sh");
    let record = dir.join("changes.txt");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$BFD_PEER|$BFD_LOCAL|$BFD_INTERFACE|$BFD_OLD_STATE|$BFD_NEW_STATE|$BFD_DIAGNOSTIC|\
             $BFD_FAILURE|$BFD_PROFILE\" >> {}\n",
            record.display()
        ),
    )?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    let link = Link::new("hk")?;
    let frr = Frr::start(&link.b, &frr_config(&[frr_peer(AGENT_V4, PEER_V4, false, &[])]))?;
    let config = documents(&[fast_config(PEER_V4, AGENT_V4), hook_config(&script.display().to_string(), 5)]);
    let agent = Agent::start(&link.a, "A", &link.a_if, &config)?;
    agent.wait_status(PEER_V4, "up", Duration::from_secs(3))?;
    frr.wait_status(AGENT_V4, "up", Duration::from_secs(3))?;
    let lines = |min: usize| {
        wait_for(&format!("{min} hook runs"), Duration::from_secs(5), || {
            let text = std::fs::read_to_string(&record).unwrap_or_default();
            let lines: Vec<String> = text.lines().map(str::to_owned).collect();
            Ok((lines.len() >= min).then_some(lines))
        })
    };
    let up = lines(1)?;
    let last = up.last().unwrap();
    ensure!(last.starts_with(&format!("{PEER_V4}|{AGENT_V4}|{}|", link.a_if)), "{up:?}");
    ensure!(last.ends_with("|Up|ok|0|fast"), "{up:?}");

    // A detection: Up -> Down, diagnostic 1, a failure for clients.
    let before = up.len();
    let cut = Cut::outgoing_control(&link.b)?;
    let down = lines(before + 1)?;
    ensure!(down[before].ends_with("|Up|Down|control detection time expired|1|fast"), "{down:?}");
    cut.lift()?;
    agent.wait_status(PEER_V4, "up", Duration::from_secs(6))?;
    Ok(())
}

#[bfd_lab::test]
fn a_hook_that_hangs_is_killed_and_never_holds_up_bfd() -> anyhow::Result<()> {
    require_root()?;
    let dir = TempDir::new("hks")?;
    let script = dir.join("slow.sh");
    std::fs::write(&script, "#!/bin/sh\nsleep 100\n")?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    let link = Link::new("hs")?;
    let frr = Frr::start(&link.b, &frr_config(&[frr_peer(AGENT_V4, PEER_V4, false, &[])]))?;
    let config = documents(&[fast_config(PEER_V4, AGENT_V4), hook_config(&script.display().to_string(), 1)]);
    let agent = Agent::start(&link.a, "A", &link.a_if, &config)?;
    // The hook hangs on the first change; BFD goes on regardless.
    agent.wait_status(PEER_V4, "up", Duration::from_secs(3))?;
    frr.wait_status(AGENT_V4, "up", Duration::from_secs(3))?;
    // Right after Up, FRR's last packets may still say 1 s (RFC 5880
    // §6.8.3: slow until its Poll ends), and a cut then is rightly detected
    // after 3 s: cut once the agent sees FRR at 50 ms.
    wait_for("agent A: FRR at 50 ms", Duration::from_secs(3), || {
        Ok(agent.peer(PEER_V4)?.filter(|s| s["remote-transmit-interval"] == 50).map(drop))
    })?;
    let cut = Cut::outgoing_control(&link.b)?;
    agent.wait_status(PEER_V4, "down", Duration::from_secs(1))?;
    cut.lift()?;
    wait_for("the hook killed after its time limit", Duration::from_secs(5), || {
        Ok(agent.logged("the hook took too long and was killed").then_some(()))
    })?;
    Ok(())
}
