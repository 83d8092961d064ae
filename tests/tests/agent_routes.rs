//! Route withdrawal by the agent (root): a node with an ECMP route to a
//! service prefix through two routers, each a BFD peer (FRR's bfdd). A
//! router's path is cut: the route loses that nexthop within the detection
//! time + 5 ms; the cut is lifted: it comes back; and across an agent
//! restart while the router is down, it comes back when the router does.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use bfd_lab::{
    agent::{Agent, AgentArgs},
    e2e::{Cut, Frr, TempDir, bfd_profile, bgp_peer, documents, frr_config, frr_peer},
    lab::{NetNs, require_root, run_stdout, unique_name, veth, wait_for},
};

const NODE_1: &str = "10.82.1.2";
const ROUTER_1: &str = "10.82.1.1";
const NODE_2: &str = "10.82.2.2";
const ROUTER_2: &str = "10.82.2.1";
const SERVICE: &str = "198.51.100.0/24";

struct Topology {
    node: NetNs,
    routers: [NetNs; 2],
    node_ifs: [String; 2],
}

fn topology() -> anyhow::Result<Topology> {
    let node = NetNs::new("rwN")?;
    let routers = [NetNs::new("rw1")?, NetNs::new("rw2")?];
    let node_ifs = [unique_name("wn"), unique_name("wn")];
    for (index, (router, (node_ip, router_ip))) in
        routers.iter().zip([(NODE_1, ROUTER_1), (NODE_2, ROUTER_2)]).enumerate()
    {
        let router_if = unique_name("wr");
        veth(&node, &node_ifs[index], router, &router_if)?;
        node.ip(["addr", "add", &format!("{node_ip}/24"), "dev", &node_ifs[index]])?;
        router.ip(["addr", "add", &format!("{router_ip}/24"), "dev", &router_if])?;
    }
    node.ip([
        "route",
        "add",
        SERVICE,
        "nexthop",
        "via",
        ROUTER_1,
        "dev",
        &node_ifs[0],
        "nexthop",
        "via",
        ROUTER_2,
        "dev",
        &node_ifs[1],
    ])?;
    Ok(Topology { node, routers, node_ifs })
}

fn service_route(node: &NetNs) -> anyhow::Result<String> {
    run_stdout(node.command("ip").args(["route", "show", SERVICE]))
}

fn agent_config(topology: &Topology, state_file: &str) -> String {
    documents(&[
        bfd_profile("fast", "receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3"),
        bgp_peer("router-1", ROUTER_1, NODE_1, "fast", ""),
        bgp_peer("router-2", ROUTER_2, NODE_2, "fast", ""),
        format!(
            "apiVersion: bfd-xdp.io/v1alpha1\nkind: BFDAgentConfig\nmetadata: {{name: node}}\nspec:\n  \
             interfaces: [{}, {}]\n  routes: {{tables: [main], stateFile: {state_file}}}\n",
            topology.node_ifs[0], topology.node_ifs[1]
        ),
    ])
}

/// Seconds of the day of a tracing log line's timestamp
/// (`2026-11-21T10:03:05.901845Z ...`).
fn timestamp(line: &str) -> anyhow::Result<f64> {
    let time =
        line.split_whitespace().next().and_then(|stamp| stamp.split('T').nth(1)).context("no timestamp")?;
    let parts: Vec<f64> = time.trim_end_matches('Z').split(':').map(str::parse).collect::<Result<_, _>>()?;
    Ok(parts[0] * 3600.0 + parts[1] * 60.0 + parts[2])
}

#[bfd_lab::test]
fn a_failed_router_leaves_the_ecmp_route_in_time_and_comes_back_also_across_a_restart() -> anyhow::Result<()>
{
    require_root()?;
    let topology = topology()?;
    let frrs = [
        Frr::start(&topology.routers[0], &frr_config(&[frr_peer(NODE_1, ROUTER_1, false, &[])]))?,
        Frr::start(&topology.routers[1], &frr_config(&[frr_peer(NODE_2, ROUTER_2, false, &[])]))?,
    ];
    let state = TempDir::new("rws")?;
    let state_file = state.join("withdrawn.json").display().to_string();
    let args = || AgentArgs { iface: None, ..AgentArgs::new("", agent_config(&topology, &state_file)) };
    let mut agent = Agent::start_with(&topology.node, "N", args())?;
    for router in [ROUTER_1, ROUTER_2] {
        agent.wait_status(router, "up", Duration::from_secs(3))?;
    }
    for frr in &frrs {
        frr.wait_status(
            if std::ptr::eq(frr, &frrs[0]) { NODE_1 } else { NODE_2 },
            "up",
            Duration::from_secs(3),
        )?;
    }
    // Steady state first (right after Up the routers still run at 1 s).
    std::thread::sleep(Duration::from_secs(1));
    let before = service_route(&topology.node)?;
    ensure!(before.contains(ROUTER_1) && before.contains(ROUTER_2), "{before}");

    // Router 1 falls silent.
    let cut = Cut::outgoing_control(&topology.routers[0])?;
    let after = wait_for("the route without router 1", Duration::from_secs(2), || {
        let route = service_route(&topology.node)?;
        Ok((!route.contains(ROUTER_1) && route.contains(ROUTER_2)).then_some(route))
    })?;
    // Timing, from the agent's log: the kernel detected within its 2 ms
    // (the kernel detection event's overshoot), and the route changed within
    // 3 ms of the detection reaching the agent.
    let log = agent.log();
    let event =
        log.lines().rev().find(|line| line.contains("kernel detection event")).context("no detection")?;
    let withdrawn =
        log.lines().find(|line| line.contains("route withdrawn")).context("no withdrawal logged")?;
    let overshoot_us: f64 = event
        .split_whitespace()
        .find_map(|field| field.strip_prefix("overshoot_us="))
        .context("overshoot")?
        .parse()?;
    let route_delay_ms = (timestamp(withdrawn)? - timestamp(event)?) * 1000.0;
    eprintln!(
        "detection overshoot {overshoot_us} µs; route changed {route_delay_ms:.3} ms after the detection"
    );
    ensure!(overshoot_us / 1000.0 + route_delay_ms <= 5.0, "too slow: {event}\n{withdrawn}");
    ensure!(after.contains(&format!("via {ROUTER_2}")), "{after}");

    // Lifted: the nexthop comes back.
    cut.lift()?;
    agent.wait_status(ROUTER_1, "up", Duration::from_secs(6))?;
    wait_for("router 1 back in the route", Duration::from_secs(2), || {
        let route = service_route(&topology.node)?;
        Ok((route.contains(ROUTER_1) && route.contains(ROUTER_2)).then_some(()))
    })?;

    // Cut again, restart the agent while router 1 is down: the record on
    // disk brings the nexthop back when router 1 does.
    std::thread::sleep(Duration::from_secs(1));
    let cut = Cut::outgoing_control(&topology.routers[0])?;
    wait_for("the route without router 1 again", Duration::from_secs(2), || {
        Ok((!service_route(&topology.node)?.contains(ROUTER_1)).then_some(()))
    })?;
    agent.stop()?;
    ensure!(!service_route(&topology.node)?.contains(ROUTER_1), "a stopping agent restores nothing");
    let agent = Agent::start_with(&topology.node, "N2", args())?;
    ensure!(
        agent.log_lines("route withdrawal on").iter().any(|line| line.number("pending") == Some(1))
            || std::fs::read_to_string(&state_file)?.contains(ROUTER_1)
    );
    std::thread::sleep(Duration::from_secs(1));
    ensure!(!service_route(&topology.node)?.contains(ROUTER_1), "router 1 is still down");
    cut.lift()?;
    agent.wait_status(ROUTER_1, "up", Duration::from_secs(6))?;
    wait_for("router 1 back after the restart", Duration::from_secs(2), || {
        let route = service_route(&topology.node)?;
        Ok((route.contains(ROUTER_1) && route.contains(ROUTER_2)).then_some(()))
    })?;
    Ok(())
}
