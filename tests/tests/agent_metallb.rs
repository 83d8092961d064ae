//! MetalLB's own FRR setup driving the agent (root), with FRR 10.7 as
//! MetalLB and frr-k8s ship it: a node namespace runs zebra, bgpd and bfdd
//! loaded with one frr.conf in MetalLB's rendering (`bfd` profiles,
//! `neighbor X bfd profile P` under `router bgp`), bfdd started with the
//! `daemons` file's `bfdd_options="-A 127.0.0.1"` amended by `--dplaneaddr
//! ipv4:127.0.0.1:50700`; the agent on the node serves that bfdd over TCP
//! on the loopback. Two routers: FRR 10.7 and BIRD 3, each with BGP and
//! BFD to the node. Both sessions Up in the agent, in the node's bfdd and in
//! each router, both BGP sessions Established; each router's BFD packets
//! cut in turn: the agent detects in the kernel, the node's bgpd drops that
//! neighbor for BFD, the other stays Established.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use bfd_lab::{
    agent::{Agent, AgentArgs},
    bird::{Bird, BirdRelease},
    e2e::{Cut, Frr, FrrRelease, FrrStack},
    lab::{NetNs, require_root, unique_name, veth, wait_for},
};
use serde_json::Value;

const NODE_1: &str = "10.88.1.2";
const FRR_ROUTER: &str = "10.88.1.1";
const NODE_2: &str = "10.88.2.2";
const BIRD_ROUTER: &str = "10.88.2.1";
/// bfdd's default data-plane port.
const DPLANE: &str = "ipv4:127.0.0.1:50700";

/// The node's frr.conf as MetalLB (FRR mode) renders it for two BGPPeers
/// with `bfdProfile: fast` (50 ms x 3), no advertisement yet: per-peer
/// route-maps and prefix lists denying everything, `router bgp` with
/// `neighbor X bfd profile fast`, the `bfd` node with the profile. (The
/// `log file /etc/frr/frr.log` line is left out: the lab logs per daemon.)
fn metallb_frr_conf() -> String {
    let mut conf = String::from(
        "log timestamp precision 3\nhostname node\nip nht resolve-via-default\nipv6 nht resolve-via-default\n",
    );
    for peer in [FRR_ROUTER, BIRD_ROUTER] {
        conf.push_str(&format!(
            "route-map {peer}-in deny 20\nroute-map {peer}-out permit 1\n  match ip address prefix-list \
             {peer}-pl-ipv4\n  on-match next\nip prefix-list {peer}-pl-ipv4 deny any\n"
        ));
    }
    conf.push_str(
        "\nrouter bgp 64500\n  no bgp ebgp-requires-policy\n  no bgp network import-check\n  no bgp default \
         ipv4-unicast\n\n  bgp router-id 10.88.1.2\n",
    );
    for (peer, asn, source) in [(FRR_ROUTER, 64501, NODE_1), (BIRD_ROUTER, 64502, NODE_2)] {
        conf.push_str(&format!(
            "\n  neighbor {peer} remote-as {asn}\n  neighbor {peer} port 179\n  neighbor {peer} timers 30 90\n  \
             neighbor {peer} update-source {source}\n  neighbor {peer} bfd profile fast\n"
        ));
    }
    conf.push_str("\n  address-family ipv4 unicast\n");
    for peer in [FRR_ROUTER, BIRD_ROUTER] {
        conf.push_str(&format!(
            "    neighbor {peer} activate\n    neighbor {peer} route-map {peer}-in in\n    neighbor {peer} \
             route-map {peer}-out out\n"
        ));
    }
    conf.push_str(
        "  exit-address-family\n\nbfd\n  profile fast\n    receive-interval 50\n    transmit-interval 50\n    \
         detect-multiplier 3\n",
    );
    conf
}

/// The node's bgpd's view of `peer`.
fn bgp_neighbor(node: &Frr, peer: &str) -> anyhow::Result<Value> {
    let text = node.vtysh(&format!("show bgp neighbors {peer} json"))?;
    let json: Value = serde_json::from_str(&text).with_context(|| text.clone())?;
    Ok(json[peer].clone())
}

fn wait_established(node: &Frr, peer: &str) -> anyhow::Result<()> {
    wait_for(&format!("the node's BGP session with {peer} Established"), Duration::from_secs(30), || {
        Ok((bgp_neighbor(node, peer)?["bgpState"] == "Established").then_some(()))
    })
}

#[bfd_lab::test]
fn metallbs_frr_10_7_with_the_agent_as_bfdd_data_plane_over_tcp_drops_bgp_for_bfd() -> anyhow::Result<()> {
    require_root()?;
    let node = NetNs::new("mlN")?;
    let routers = [NetNs::new("mlF")?, NetNs::new("mlB")?];
    let node_ifs = [unique_name("mn"), unique_name("mn")];
    let mut router_ifs = Vec::new();
    for (index, (router, (node_ip, router_ip))) in
        routers.iter().zip([(NODE_1, FRR_ROUTER), (NODE_2, BIRD_ROUTER)]).enumerate()
    {
        let router_if = unique_name("mr");
        veth(&node, &node_ifs[index], router, &router_if)?;
        node.ip(["addr", "add", &format!("{node_ip}/24"), "dev", &node_ifs[index]])?;
        router.ip(["addr", "add", &format!("{router_ip}/24"), "dev", &router_if])?;
        router_ifs.push(router_if);
    }

    // The routers first: the node's bgpd connects at once.
    let frr_router = Frr::start_stack_release(&routers[0], FrrRelease::V10_7, &FrrStack {
        bfdd: "bfd\n profile fast\n  receive-interval 50\n  transmit-interval 50\n  detect-multiplier 3\n exit\nexit\n"
            .to_owned(),
        bgpd: Some(format!(
            "router bgp 64501\n bgp router-id {FRR_ROUTER}\n no bgp ebgp-requires-policy\n neighbor {NODE_1} \
             remote-as 64500\n neighbor {NODE_1} timers connect 1\n neighbor {NODE_1} bfd profile fast\nexit\n"
        )),
        ..FrrStack::default()
    })?;
    let bird_router = Bird::start_release(
        &routers[1],
        BirdRelease::V3,
        &format!(
            "router id {BIRD_ROUTER};\nprotocol device {{ }}\nprotocol bfd {{\n  debug {{ events }};\n  interface \
             \"*\" {{\n    min rx interval 50 ms;\n    min tx interval 50 ms;\n    multiplier 3;\n  }};\n}}\nprotocol \
             bgp node {{\n  local {BIRD_ROUTER} as 64502;\n  neighbor {NODE_2} as 64500;\n  bfd on;\n  connect \
             retry time 1;\n  error wait time 1, 5;\n  ipv4 {{ import none; export none; }};\n}}\n"
        ),
    )?;

    // The node: MetalLB's FRR pod (host network), bfdd's options amended.
    let node_frr = Frr::start_stack_release(
        &node,
        FrrRelease::V10_7,
        &FrrStack {
            bfdd: "debug bfd peer\n".to_owned(),
            bfdd_dplane: Some(DPLANE.to_owned()),
            bfdd_options: vec!["-A".into(), "127.0.0.1".into()],
            bgpd: Some("debug bgp bfd\ndebug bgp neighbor-events\n".to_owned()),
            integrated: Some(metallb_frr_conf()),
            ..FrrStack::default()
        },
    )?;
    let args = AgentArgs {
        configs: Vec::new(),
        extra: vec!["--iface".into(), node_ifs[1].clone(), "--frr-dplane".into(), DPLANE.into()],
        log: "info,bfd_agent::agent::dplane=debug".into(),
        ..AgentArgs::new(&node_ifs[0], "")
    };
    let agent = Agent::start_with(&node, "N", args)?;

    for router in [FRR_ROUTER, BIRD_ROUTER] {
        let session = agent.wait_status(router, "up", Duration::from_secs(30))?;
        ensure!(session["fast-path"] == true, "{session:#}");
        node_frr.wait_status(router, "up", Duration::from_secs(5))?;
    }
    frr_router.wait_status(NODE_1, "up", Duration::from_secs(5))?;
    bird_router.wait_state(NODE_2, "Up", Duration::from_secs(5))?;
    for router in [FRR_ROUTER, BIRD_ROUTER] {
        wait_established(&node_frr, router)?;
    }
    // Steady state (both sides at 50 ms).
    std::thread::sleep(Duration::from_secs(1));

    // Each router falls silent in turn.
    let bfd_downs = |router: &str| -> anyhow::Result<usize> {
        let log = std::fs::read_to_string(node_frr.dir().join("bgpd.log"))?;
        let needle = format!("neighbor {router} vrf default(0) bfd state Up -> Down");
        Ok(log.lines().filter(|line| line.contains(&needle)).count())
    };
    for (index, (router, other)) in
        [(FRR_ROUTER, BIRD_ROUTER), (BIRD_ROUTER, FRR_ROUTER)].into_iter().enumerate()
    {
        let (events, downs_before) = (agent.kernel_events().len(), bfd_downs(router)?);
        let cut = Cut::outgoing_control(&routers[index])?;
        let down = agent.wait_status(router, "down", Duration::from_secs(3))?;
        ensure!(down["diagnostic"] == "control detection time expired", "{down:#}");
        ensure!(agent.kernel_events().len() > events, "not detected in the kernel:\n{}", agent.log());
        let neighbor =
            wait_for(&format!("the node's bgpd to drop {router}"), Duration::from_secs(3), || {
                Ok(Some(bgp_neighbor(&node_frr, router)?).filter(|n| n["bgpState"] != "Established"))
            })?;
        // bgpd heard bfdd's Down; it resets the session itself ("BFD down
        // initiated") unless the router, which heard the agent's Down
        // packets, dropped BGP first (BIRD sends Cease, so "BGP
        // Notification received"): a race both ways end in.
        let heard = wait_for("the node's bgpd to log BFD Down", Duration::from_secs(3), || {
            Ok((bfd_downs(router)? > downs_before).then_some(()))
        });
        ensure!(heard.is_ok(), "bgpd did not hear of BFD Down for {router}: {neighbor:#}");
        ensure!(
            ["BFD down initiated", "BGP Notification received"]
                .contains(&neighbor["lastResetDueTo"].as_str().unwrap_or("")),
            "dropped for BFD: {neighbor:#}"
        );
        ensure!(bgp_neighbor(&node_frr, other)?["bgpState"] == "Established", "{other} left alone");
        eprintln!(
            "{router} cut: {}; bgpd: {}",
            agent.kernel_events().last().map(ToString::to_string).unwrap_or_default(),
            neighbor["lastResetDueTo"]
        );
        cut.lift()?;
        agent.wait_status(router, "up", Duration::from_secs(10))?;
        wait_established(&node_frr, router)?;
        std::thread::sleep(Duration::from_secs(1));
    }
    drop(agent);
    drop(router_ifs);
    Ok(())
}
