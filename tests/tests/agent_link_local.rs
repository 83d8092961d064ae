//! Link-local IPv6 peers (root): the same address is unique only per link,
//! so such a session is keyed by its interface (BGPPeer `interface`, v1beta2)
//! as well as its addresses, from the configuration through the session
//! table's demultiplexing to the XDP program's interface check. Between
//! two agents, and between the agent and every release of FRR (bfdd with
//! zebra, which it needs for interface-bound peers) and BIRD.

use std::time::Duration;

use anyhow::ensure;
use bfd_lab::{
    agent::Agent,
    bird::{Bird, BirdRelease},
    e2e::{Cut, Frr, FrrRelease, Link, bfd_profile, documents},
    lab::require_root,
    release_tests,
};

const AGENT_LL: &str = "fe80::77:2";
const PEER_LL: &str = "fe80::77:1";

/// The agent's config: one peer at `peer` from `local`, bound to `iface`.
fn config(peer: &str, local: &str, iface: &str) -> String {
    documents(&[
        bfd_profile("fast", "receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3"),
        format!(
            "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: ll, namespace: metallb-system}}\n\
             spec: {{myASN: 64500, peerASN: 64501, peerAddress: '{peer}', sourceAddress: '{local}', \
             interface: {iface}, bfdProfile: fast}}\n"
        ),
    ])
}

#[bfd_lab::test]
fn two_agents_run_a_link_local_ipv6_session_keyed_by_interface() -> anyhow::Result<()> {
    require_root()?;
    let link = Link::new("ll")?;
    // Fixed link-local addresses (no DAD) so the configuration can name them.
    link.a.ip(["addr", "add", &format!("{AGENT_LL}/64"), "dev", &link.a_if, "nodad"])?;
    link.b.ip(["addr", "add", &format!("{PEER_LL}/64"), "dev", &link.b_if, "nodad"])?;
    let a = Agent::start(&link.a, "A", &link.a_if, &config(PEER_LL, AGENT_LL, &link.a_if))?;
    let b = Agent::start(&link.b, "B", &link.b_if, &config(AGENT_LL, PEER_LL, &link.b_if))?;
    let session = a.wait_status(PEER_LL, "up", Duration::from_secs(3))?;
    b.wait_status(AGENT_LL, "up", Duration::from_secs(3))?;
    ensure!(session["interface"] == link.a_if.as_str(), "{session:#}");
    ensure!(session["fast-path"] == true, "{session:#}");

    // Steady state first: right after Up each side's Poll announcing 50 ms
    // may still be in flight, and until it completes RFC 5880 §6.8.3 keeps
    // the previous (1 s) receive interval in the Detection Time (3 s).
    std::thread::sleep(Duration::from_secs(1));

    // B's packets stop: A detects in the kernel, with diagnostic 1.
    let changes = a.state_changes().len();
    let cut = Cut::outgoing_control(&link.b)?;
    let down = a.wait_status(PEER_LL, "down", Duration::from_secs(3))?;
    ensure!(down["diagnostic"] == "control detection time expired", "{down:#}");
    let events = a.kernel_events();
    let event = events.last().ok_or_else(|| anyhow::anyhow!("no kernel detection event"))?;
    let overshoot: u64 = event.field("overshoot_us").unwrap_or("999999").parse()?;
    ensure!(overshoot <= 2_000, "detected {overshoot} µs late: {event:?}");
    ensure!(a.state_changes().len() > changes);
    cut.lift()?;
    a.wait_status(PEER_LL, "up", Duration::from_secs(6))?;
    Ok(())
}

/// `link` with the fixed link-local addresses (no DAD) the configurations
/// name.
fn link_local_link(prefix: &str) -> anyhow::Result<Link> {
    let link = Link::new(prefix)?;
    link.a.ip(["addr", "add", &format!("{AGENT_LL}/64"), "dev", &link.a_if, "nodad"])?;
    link.b.ip(["addr", "add", &format!("{PEER_LL}/64"), "dev", &link.b_if, "nodad"])?;
    Ok(link)
}

/// The agent against a peer on a link-local session: Up on both sides, the
/// session bound to the interface and timed by the XDP program; the peer's
/// packets cut: the agent's kernel timer, diagnostic 1; the agent's cut:
/// the peer's timer (`peer_state` says the peer's view: `up`, `down`); Up
/// again after each cut.
fn agent_and_link_local_peer(
    link: &Link,
    peer_state: &dyn Fn(&str, Duration) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let agent = Agent::start(&link.a, "A", &link.a_if, &config(PEER_LL, AGENT_LL, &link.a_if))?;
    let session = agent.wait_status(PEER_LL, "up", Duration::from_secs(3))?;
    peer_state("up", Duration::from_secs(3))?;
    ensure!(session["interface"] == link.a_if.as_str(), "{session:#}");
    ensure!(session["fast-path"] == true, "{session:#}");
    // Steady state first (see the two agents' test).
    std::thread::sleep(Duration::from_secs(1));

    let cut = Cut::outgoing_control(&link.b)?;
    let down = agent.wait_status(PEER_LL, "down", Duration::from_secs(3))?;
    ensure!(down["diagnostic"] == "control detection time expired", "{down:#}");
    let events = agent.kernel_events();
    let event = events.last().ok_or_else(|| anyhow::anyhow!("no kernel detection event"))?;
    let overshoot: u64 = event.field("overshoot_us").unwrap_or("999999").parse()?;
    ensure!(overshoot <= 2_000, "detected {overshoot} µs late: {event:?}");
    peer_state("down", Duration::from_secs(3))?;
    cut.lift()?;
    agent.wait_status(PEER_LL, "up", Duration::from_secs(6))?;
    peer_state("up", Duration::from_secs(3))?;

    std::thread::sleep(Duration::from_secs(1));
    let cut = Cut::outgoing_control(&link.a)?;
    peer_state("down", Duration::from_secs(3))?;
    cut.lift()?;
    agent.wait_status(PEER_LL, "up", Duration::from_secs(6))?;
    peer_state("up", Duration::from_secs(3))?;
    let mut agent = agent;
    agent.stop()?;
    Ok(())
}

fn agent_and_frr_run_a_link_local_ipv6_session(release: FrrRelease) -> anyhow::Result<()> {
    require_root()?;
    let link = link_local_link("lf")?;
    let frr = Frr::start_with_zebra_release(
        &link.b,
        release,
        &format!(
            "debug bfd peer\nbfd\n peer {AGENT_LL} local-address {PEER_LL} interface {}\n  receive-interval \
             50\n  transmit-interval 50\n  detect-multiplier 3\n exit\nexit\n",
            link.b_if
        ),
    )?;
    agent_and_link_local_peer(&link, &|state, timeout| frr.wait_status(AGENT_LL, state, timeout).map(drop))?;
    Ok(())
}

release_tests!(agent_and_frr_run_a_link_local_ipv6_session {
    agent_and_frr_run_a_link_local_ipv6_session_frr_8_4: FrrRelease::V8_4,
    agent_and_frr_run_a_link_local_ipv6_session_frr_10_7: FrrRelease::V10_7,
});

fn agent_and_bird_run_a_link_local_ipv6_session(release: BirdRelease) -> anyhow::Result<()> {
    require_root()?;
    let link = link_local_link("lb")?;
    let bird = Bird::start_release(
        &link.b,
        release,
        &format!(
            "router id 10.77.0.1;\nprotocol device {{ }}\nprotocol bfd {{\n  debug {{ events }};\n  interface \"*\" \
             {{\n    min rx interval 50 ms;\n    min tx interval 50 ms;\n    multiplier 3;\n  }};\n  neighbor \
             {AGENT_LL} dev \"{}\" local {PEER_LL};\n}}\n",
            link.b_if
        ),
    )?;
    agent_and_link_local_peer(&link, &|state, timeout| {
        let state = if state == "up" { "Up" } else { "Down" };
        bird.wait_state(AGENT_LL, state, timeout).map(drop)
    })?;
    Ok(())
}

release_tests!(agent_and_bird_run_a_link_local_ipv6_session {
    agent_and_bird_run_a_link_local_ipv6_session_bird_2_0: BirdRelease::V2_0,
    agent_and_bird_run_a_link_local_ipv6_session_bird_2_20: BirdRelease::V2_20,
    agent_and_bird_run_a_link_local_ipv6_session_bird_3: BirdRelease::V3,
});
