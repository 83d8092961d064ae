//! `bfd-agent run` with RFC 5880 authentication against BIRD 2 (root): a
//! `BFDAuthentication` document attaches a key to the MetalLB profile, the
//! agent and BIRD come Up and stay Up with no authentication failure on
//! either side, and a cut of BIRD's packets is detected, for each of the
//! five types. Who times the session (issue 18): the kernel for simple
//! password and keyed MD5 / SHA1, absorbing BIRD's packets while they are
//! byte-identical to the last one the agent verified (the share absorbed is
//! printed); the agent for the meticulous types, whose packets all differ.
//! For meticulous keyed SHA1 and keyed MD5 also: with another key BIRD
//! never comes Up while the agent counts every packet it refused, and
//! replacing the secret file reloads it.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use bfd_lab::{
    agent::{Agent, AgentArgs},
    bird::Bird,
    e2e::{AGENT_V4, Cut, Link, PEER_V4, TempDir, bfd_profile, bgp_peer, documents},
    lab::{require_root, wait_for},
};

/// BIRD's words and ours for each type, and whether to run the rotation
/// and wrong-key checks too (for two types: they do not depend on it).
const TYPES: [(&str, &str, bool); 5] = [
    ("meticulous keyed sha1", "meticulous-keyed-sha1", true),
    ("keyed md5", "keyed-md5", true),
    ("simple", "simple-password", false),
    ("keyed sha1", "keyed-sha1", false),
    ("meticulous keyed md5", "meticulous-keyed-md5", false),
];

fn count(session: &serde_json::Value, key: &str) -> u64 {
    session[key].as_u64().unwrap_or(0)
}

fn bird_config(words: &str, secret: &str) -> String {
    format!(
        "router id {PEER_V4};\nprotocol device {{ }}\nprotocol bfd {{\n  debug {{ events }};\n  interface \"*\" {{\n    \
         min rx interval 50 ms;\n    min tx interval 50 ms;\n    multiplier 3;\n    authentication {words};\n    \
         password \"{secret}\" {{ id 7; }};\n  }};\n  neighbor {AGENT_V4} local {PEER_V4};\n}}\n"
    )
}

fn agent_config(ours: &str, secret_file: &std::path::Path) -> String {
    documents(&[
        bfd_profile("secure", "receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3"),
        bgp_peer("bird", PEER_V4, AGENT_V4, "secure", ""),
        format!(
            "apiVersion: bfd-xdp.io/v1alpha1\nkind: BFDAuthentication\nmetadata: {{name: keys, namespace: \
             metallb-system}}\nspec:\n  bfdProfiles: [secure]\n  type: {ours}\n  keys:\n    - id: 7\n      \
             secretFile: {}\n",
            secret_file.display()
        ),
    ])
}

fn auth_failures(session: &serde_json::Value) -> u64 {
    session.as_object().map_or(0, |object| {
        object
            .iter()
            .filter(|(key, _)| key.contains("authentication"))
            .filter_map(|(_, value)| value.as_u64())
            .sum()
    })
}

#[bfd_lab::test]
fn the_agent_authenticates_with_bird_detects_a_cut_and_refuses_another_key() -> anyhow::Result<()> {
    require_root()?;
    let mut shares = Vec::new();
    for (words, ours, full) in TYPES {
        let link = Link::new("au")?;
        let dir = TempDir::new("au")?;
        let secret = dir.join("key");
        std::fs::write(&secret, "correct-horse\n")?;
        let bird = Bird::start(&link.b, &bird_config(words, "correct-horse"))?;
        let args = AgentArgs::new(&link.a_if, agent_config(ours, &secret));
        let agent = Agent::start_with(&link.a, "A", args)?;
        let session = agent.wait_status(PEER_V4, "up", Duration::from_secs(5))?;
        // Meticulous: every packet differs, the agent times the session;
        // otherwise the kernel does.
        let meticulous = ours.starts_with("meticulous");
        ensure!(
            session["fast-path"] == !meticulous,
            "{ours}: the kernel times only the non-meticulous types: {session:#}"
        );
        bird.wait_state(AGENT_V4, "Up", Duration::from_secs(3))?;
        // Steady: no state change, no failure counted by the agent; the
        // share of BIRD's packets absorbed in the kernel.
        let changes = agent.state_changes().len();
        let before = agent.show_counters()?.first().cloned().context("no session in show counters")?;
        std::thread::sleep(Duration::from_secs(3));
        ensure!(agent.state_changes().len() == changes, "{ours}: a state change while steady");
        let counters = agent.show_counters()?;
        let ours_counters = counters.first().context("no session in show counters")?;
        let absorbed =
            count(ours_counters, "control-absorbed-in-kernel") - count(&before, "control-absorbed-in-kernel");
        let seen =
            count(ours_counters, "control-seen-in-userspace") - count(&before, "control-seen-in-userspace");
        let share = 100.0 * absorbed as f64 / (absorbed + seen).max(1) as f64;
        eprintln!(
            "{ours}: over 3 s Up, {absorbed} of BIRD's packets absorbed in the kernel, {seen} seen by the agent ({share:.1}%)"
        );
        shares.push(format!("{ours}: {share:.1}% ({absorbed} absorbed, {seen} seen)"));
        if meticulous {
            ensure!(absorbed == 0, "{ours}: a meticulous packet absorbed: {ours_counters:#}");
        }
        if ours == "simple-password" {
            // Every packet of BIRD's is the same bytes while steady.
            ensure!(absorbed > 10 * seen, "{ours}: {absorbed} absorbed, {seen} seen");
        }
        ensure!(auth_failures(ours_counters) == 0, "{ours}: authentication failures: {ours_counters:#}");
        ensure!(
            !bird.log().contains("authentication failed") && !bird.log().contains("Bad"),
            "{ours}: BIRD refused packets:\n{}",
            bird.log()
        );

        // BIRD's packets cut: the kernel's timer, or the agent's.
        let changes = agent.state_changes().len();
        let cut = Cut::outgoing_control(&link.b)?;
        wait_for(&format!("{ours}: the agent detects the cut"), Duration::from_secs(3), || {
            Ok(agent.state_changes().into_iter().skip(changes).find(|line| {
                line.field("to") == Some("Down")
                    && line.field("diagnostic") == Some("control detection time expired")
            }))
        })?;
        cut.lift()?;
        agent.wait_status(PEER_V4, "up", Duration::from_secs(6))?;
        if !full {
            let mut agent = agent;
            agent.stop()?;
            continue;
        }

        // The secret file replaced (as a Kubernetes Secret's update does):
        // the agent reloads and the session takes the new key (a changed
        // session, not a new one), which BIRD then refuses.
        let applied = agent.log_lines("configuration applied").len();
        let staged = dir.join("key.new");
        std::fs::write(&staged, "rotated-horse\n")?;
        std::fs::rename(&staged, &secret)?;
        let line = wait_for(
            &format!("{ours}: the agent reloads the rotated secret"),
            Duration::from_secs(3),
            || Ok(agent.log_lines("configuration applied").into_iter().nth(applied)),
        )?;
        ensure!(
            line.field("summary").is_some_and(|summary| summary.contains("1 changed")),
            "{ours}: the new key did not change the session: {line}"
        );
        // The new key is on the wire: BIRD refuses it and its session
        // expires (asked of BIRD itself).
        bird.wait_state(AGENT_V4, "Down", Duration::from_secs(3))?;
        ensure!(
            bird.log().contains("Authentication failed"),
            "{ours}: BIRD did not refuse the new key:\n{}",
            bird.log()
        );
        // And the agent, refusing BIRD's packets under the old key, keeps
        // sending and detects the silence (a discarded packet once made
        // the engine lose the session's timers: it went quiet instead).
        agent.wait_status(PEER_V4, "down", Duration::from_secs(3))?;
        let refused = auth_failures(agent.show_counters()?.first().context("no session in show counters")?);
        ensure!(refused >= 1, "{ours}: BIRD's packets under the old key were not refused");
        let mut agent = agent;
        agent.stop()?;
        drop(bird);

        // Another key: never Up, and the agent refuses BIRD's packets.
        let link = Link::new("av")?;
        let bird = Bird::start(&link.b, &bird_config(words, "wrong-horse"))?;
        let args = AgentArgs::new(&link.a_if, agent_config(ours, &secret));
        let mut agent = Agent::start_with(&link.a, "B", args)?;
        std::thread::sleep(Duration::from_secs(4));
        let session = agent.session(PEER_V4)?;
        ensure!(session["status"] != "up", "{ours}: Up with another key: {session:#}");
        let theirs = bird.session(AGENT_V4)?;
        ensure!(
            theirs.as_ref().is_none_or(|s| s.state != "Up"),
            "{ours}: BIRD Up with another key: {theirs:?}"
        );
        let counters = agent.show_counters()?;
        let refused = auth_failures(counters.first().context("no session in show counters")?);
        ensure!(refused >= 2, "{ours}: BIRD's packets with another key were not counted: {counters:#?}");
        eprintln!("{ours}: with another key, {refused} of BIRD's packets refused");
        agent.stop()?;
    }
    eprintln!("share of BIRD's control packets absorbed in the kernel, by type:\n  {}", shares.join("\n  "));
    Ok(())
}
