//! `bfd-agent run` with RFC 5880 authentication against BIRD 2 (root): a
//! `BFDAuthentication` document attaches a key to the MetalLB profile, the
//! agent and BIRD come Up and stay Up with no authentication failure on
//! either side, a cut of BIRD's packets is detected (by the agent's own
//! timer: the XDP program cannot verify a digest, so it absorbs nothing of
//! an authenticated session and never lets an unverified packet re-arm a
//! timer), and with another key BIRD never comes Up while the agent counts
//! every packet it refused. Replacing the secret file reloads it.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use bfd_tests::{
    agent::{Agent, AgentArgs},
    bird::Bird,
    e2e::{AGENT_V4, Cut, Link, PEER_V4, TempDir, bfd_profile, bgp_peer, documents, test_passed},
    lab::{require_root, wait_for},
};

/// BIRD's words and ours for meticulous keyed SHA1 and keyed MD5.
const TYPES: [(&str, &str); 2] =
    [("meticulous keyed sha1", "meticulous-keyed-sha1"), ("keyed md5", "keyed-md5")];

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

#[test]
fn the_agent_authenticates_with_bird_detects_a_cut_and_refuses_another_key() -> anyhow::Result<()> {
    require_root()?;
    for (words, ours) in TYPES {
        let link = Link::new("au")?;
        let dir = TempDir::new("au")?;
        let secret = dir.join("key");
        std::fs::write(&secret, "correct-horse\n")?;
        let bird = Bird::start(&link.b, &bird_config(words, "correct-horse"))?;
        let args = AgentArgs::new(&link.a_if, agent_config(ours, &secret));
        let agent = Agent::start_with(&link.a, "A", args)?;
        let session = agent.wait_status(PEER_V4, "up", Duration::from_secs(5))?;
        ensure!(
            session["fast-path"] == false,
            "{ours}: an authenticated session is timed by the agent: {session:#}"
        );
        bird.wait_state(AGENT_V4, "Up", Duration::from_secs(3))?;
        // Steady: no state change, no failure counted by the agent.
        let changes = agent.state_changes().len();
        std::thread::sleep(Duration::from_secs(3));
        ensure!(agent.state_changes().len() == changes, "{ours}: a state change while steady");
        let counters = agent.show_counters()?;
        let ours_counters = counters.first().context("no session in show counters")?;
        ensure!(auth_failures(ours_counters) == 0, "{ours}: authentication failures: {ours_counters:#}");
        ensure!(
            !bird.log().contains("authentication failed") && !bird.log().contains("Bad"),
            "{ours}: BIRD refused packets:\n{}",
            bird.log()
        );

        // BIRD's packets cut: the agent's own timer.
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
        agent.wait_status(PEER_V4, "down", Duration::from_secs(3))?;
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
    test_passed();
    Ok(())
}
