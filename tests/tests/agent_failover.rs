//! The failover a user measures (root), as MetalLB's BFD guide describes
//! it: probes every millisecond to a service address reachable through two
//! routers; one router fails (nftables drops everything through it and its
//! BFD packets); the longest gap in the replies must stay under the
//! detection time + 10 ms (50 ms x 3: 160 ms), because the agent takes the
//! failed router out of the ECMP route as soon as BFD detects.
//!
//! Topology: the node (agent, prober) reaches the service (198.51.100.1 on
//! the server's loopback) through router 1 or 2 (ECMP, FRR's bfdd on each
//! as the BFD peer); replies come straight back over a direct link, so only
//! the forward path depends on the routers.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use bfd_lab::{
    agent::{Agent, AgentArgs},
    e2e::{Frr, TempDir, bfd_profile, bgp_peer, documents, frr_config, frr_peer},
    lab::{NetNs, require_root, run, run_stdout, unique_name, veth},
};

const SERVICE: &str = "198.51.100.1";

#[bfd_lab::test]
fn the_longest_gap_in_replies_stays_under_detection_time_plus_10_ms() -> anyhow::Result<()> {
    require_root()?;
    let node = NetNs::new("foN")?;
    let routers = [NetNs::new("fo1")?, NetNs::new("fo2")?];
    let server = NetNs::new("foS")?;
    let node_ifs = [unique_name("fn"), unique_name("fn")];
    // node <-> router i: 10.84.i.0/24; router i <-> server: 10.85.i.0/24.
    for (index, router) in routers.iter().enumerate() {
        let i = index + 1;
        let (router_in, router_out, server_if) = (unique_name("fr"), unique_name("fr"), unique_name("fs"));
        veth(&node, &node_ifs[index], router, &router_in)?;
        veth(router, &router_out, &server, &server_if)?;
        node.ip(["addr", "add", &format!("10.84.{i}.2/24"), "dev", &node_ifs[index]])?;
        router.ip(["addr", "add", &format!("10.84.{i}.1/24"), "dev", &router_in])?;
        router.ip(["addr", "add", &format!("10.85.{i}.1/24"), "dev", &router_out])?;
        server.ip(["addr", "add", &format!("10.85.{i}.2/24"), "dev", &server_if])?;
        router.ip(["route", "add", &format!("{SERVICE}/32"), "via", &format!("10.85.{i}.2")])?;
        run(router.command("sysctl").args(["-qw", "net.ipv4.ip_forward=1"]))?;
    }
    // The direct way back.
    let (node_back, server_back) = (unique_name("fb"), unique_name("fb"));
    veth(&node, &node_back, &server, &server_back)?;
    node.ip(["addr", "add", "10.86.0.2/24", "dev", &node_back])?;
    server.ip(["addr", "add", "10.86.0.1/24", "dev", &server_back])?;
    server.ip(["addr", "add", &format!("{SERVICE}/32"), "dev", "lo"])?;
    server.ip(["route", "add", "10.84.0.0/16", "via", "10.86.0.2"])?;
    for netns in [&node, &server] {
        run(netns.command("sysctl").args(["-qw", "net.ipv4.conf.all.rp_filter=0"]))?;
    }
    node.ip([
        "route",
        "add",
        &format!("{SERVICE}/32"),
        "nexthop",
        "via",
        "10.84.1.1",
        "dev",
        &node_ifs[0],
        "nexthop",
        "via",
        "10.84.2.1",
        "dev",
        &node_ifs[1],
    ])?;

    let frrs = [
        Frr::start(&routers[0], &frr_config(&[frr_peer("10.84.1.2", "10.84.1.1", false, &[])]))?,
        Frr::start(&routers[1], &frr_config(&[frr_peer("10.84.2.2", "10.84.2.1", false, &[])]))?,
    ];
    let state = TempDir::new("fos")?;
    let config = documents(&[
        bfd_profile("fast", "receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3"),
        bgp_peer("router-1", "10.84.1.1", "10.84.1.2", "fast", ""),
        bgp_peer("router-2", "10.84.2.1", "10.84.2.2", "fast", ""),
        format!(
            "apiVersion: bfd-xdp.io/v1alpha1\nkind: BFDAgentConfig\nmetadata: {{name: node}}\nspec:\n  \
             interfaces: [{}, {}]\n  routes: {{tables: [main], stateFile: {}}}\n",
            node_ifs[0],
            node_ifs[1],
            state.join("withdrawn.json").display()
        ),
    ]);
    let agent = Agent::start_with(&node, "N", AgentArgs { iface: None, ..AgentArgs::new("", config) })?;
    for router in ["10.84.1.1", "10.84.2.1"] {
        agent.wait_status(router, "up", Duration::from_secs(3))?;
    }
    frrs[0].wait_status("10.84.1.2", "up", Duration::from_secs(3))?;
    frrs[1].wait_status("10.84.2.2", "up", Duration::from_secs(3))?;
    std::thread::sleep(Duration::from_secs(1));

    // The router the probes take now (the ECMP hash of this flow).
    let path = run_stdout(node.command("ip").args(["route", "get", SERVICE]))?;
    let used = if path.contains("via 10.84.1.1") { 0 } else { 1 };
    eprintln!("probes go through router {}: {}", used + 1, path.trim());

    // 3 s of probes every 1 ms; the router fails 1 s in.
    // Into a file: a pipe nobody reads for a second fills up and stalls
    // ping, which would look like a gap.
    let replies_file = state.join("ping.txt");
    let mut probe = node
        .command("ping")
        .args(["-D", "-n", "-i", "0.001", "-W", "1", "-w", "3", SERVICE])
        .stdout(std::fs::File::create(&replies_file)?)
        .spawn()
        .context("starting ping")?;
    std::thread::sleep(Duration::from_secs(1));
    // The router fails at once: one nftables transaction drops everything
    // it forwards and everything it sends (its BFD packets included).
    fail(&routers[used])?;
    probe.wait()?;
    let text = std::fs::read_to_string(&replies_file)?;
    let times: Vec<f64> = text
        .lines()
        .filter(|line| line.contains("bytes from"))
        .filter_map(|line| line.strip_prefix('[')?.split(']').next()?.parse().ok())
        .collect();
    ensure!(times.len() > 1500, "too few replies ({}):\n{text}", times.len());
    let longest_ms = times.windows(2).map(|pair| (pair[1] - pair[0]) * 1000.0).fold(0.0, f64::max);
    eprintln!("{} replies; longest gap {longest_ms:.1} ms (limit 160 ms)", times.len());
    ensure!(longest_ms < 160.0, "the longest gap was {longest_ms:.1} ms");
    ensure!(longest_ms > 20.0, "the failure did not hit the probes' path ({longest_ms:.1} ms)");
    let route = run_stdout(node.command("ip").args(["route", "show", SERVICE]))?;
    ensure!(
        !route.contains(&format!("10.84.{}.1", used + 1)),
        "the failed router is still in the route:\n{route}"
    );
    Ok(())
}

/// Drops everything `router` forwards or sends, in one nftables transaction
/// (two separate rules would leave BFD running for the time between them).
/// The namespace goes away with the test.
fn fail(router: &NetNs) -> anyhow::Result<()> {
    let script = "table inet failed {\n chain forward { type filter hook forward priority 0; policy drop; }\n \
                  chain output { type filter hook output priority 0; policy drop; }\n}\n";
    let file = std::env::temp_dir().join(format!("{}.nft", unique_name("fail")));
    std::fs::write(&file, script)?;
    let result = run(router.command("nft").arg("-f").arg(&file));
    let _ = std::fs::remove_file(&file);
    result.map(|_| ())
}
