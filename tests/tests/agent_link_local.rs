//! Link-local IPv6 peers (root): the same address is unique only per link,
//! so such a session is keyed by its interface (BGPPeer `interface`, v1beta2)
//! as well as its addresses, from the configuration through the session
//! table's demultiplexing to the XDP program's interface check.

use std::time::Duration;

use anyhow::ensure;
use bfd_tests::{
    agent::Agent,
    e2e::{Cut, Link, bfd_profile, documents, test_passed},
    lab::require_root,
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

#[test]
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
    test_passed();
    Ok(())
}
