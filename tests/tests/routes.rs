//! Kernel route withdrawal (root), `bfd_user::routes` on its own: a node
//! with an ECMP route through two routers and a route through one; the
//! first router fails and comes back, once across a restart.

use std::path::PathBuf;

use anyhow::ensure;
use bfd_lab::{
    e2e::TempDir,
    lab::{NetNs, require_root, run_stdout, unique_name, veth},
};
use bfd_user::routes::{MAIN_TABLE, RouteSettings, Routes};

const ROUTER_1: &str = "10.81.1.1";
const ROUTER_2: &str = "10.81.2.1";

fn routes(node: &NetNs, family: &str) -> anyhow::Result<String> {
    run_stdout(node.command("ip").args([family, "route", "show", "table", "main"]))
}

#[bfd_lab::test]
fn a_failed_peer_leaves_ecmp_routes_and_single_routes_go_and_come_back_across_a_restart() -> anyhow::Result<()>
{
    require_root()?;
    let node = NetNs::new("rtN")?;
    let router_1 = NetNs::new("rt1")?;
    let router_2 = NetNs::new("rt2")?;
    let (n1, r1, n2, r2) = (unique_name("n1"), unique_name("r1"), unique_name("n2"), unique_name("r2"));
    veth(&node, &n1, &router_1, &r1)?;
    veth(&node, &n2, &router_2, &r2)?;
    node.ip(["addr", "add", "10.81.1.2/24", "dev", &n1])?;
    node.ip(["addr", "add", "10.81.2.2/24", "dev", &n2])?;
    router_1.ip(["addr", "add", &format!("{ROUTER_1}/24"), "dev", &r1])?;
    router_2.ip(["addr", "add", &format!("{ROUTER_2}/24"), "dev", &r2])?;
    node.ip([
        "route",
        "add",
        "198.51.100.0/24",
        "nexthop",
        "via",
        ROUTER_1,
        "dev",
        &n1,
        "nexthop",
        "via",
        ROUTER_2,
        "dev",
        &n2,
    ])?;
    node.ip(["route", "add", "203.0.113.0/24", "via", ROUTER_1, "dev", &n1, "metric", "20"])?;
    node.ip(["route", "add", "192.0.2.0/24", "via", ROUTER_2, "dev", &n2])?;

    let state = TempDir::new("rts")?;
    // A route of another protocol than the configured ones is left alone.
    node.ip(["route", "add", "100.64.0.0/24", "via", ROUTER_1, "dev", &n1, "proto", "bird"])?;
    let before = routes(&node, "-4")?;
    let settings = RouteSettings {
        tables: vec![MAIN_TABLE],
        protocols: vec![3, 4],
        state_file: state.join("withdrawn.json"),
    };
    let peer = ROUTER_1.parse()?;
    let withdrawn = {
        let settings = settings.clone();
        node.run_in(move || Ok(Routes::open(settings)?.withdraw(peer)?))?
    };
    ensure!(withdrawn.len() == 2, "{withdrawn:#?}");
    let after = routes(&node, "-4")?;
    ensure!(
        after.contains(&format!("198.51.100.0/24 via {ROUTER_2} dev {n2}")),
        "ECMP keeps router 2:\n{after}"
    );
    ensure!(!after.contains("203.0.113.0/24"), "the single route goes:\n{after}");
    ensure!(after.contains(&format!("192.0.2.0/24 via {ROUTER_2}")), "other routes stay:\n{after}");
    ensure!(
        after.contains(&format!("100.64.0.0/24 via {ROUTER_1}")),
        "bird's route is not ours to touch:\n{after}"
    );
    let recorded: PathBuf = settings.state_file.clone();
    ensure!(std::fs::read_to_string(&recorded)?.contains("203.0.113.0"), "recorded on disk");

    // A new `Routes` (an agent restarted while the peer was down) restores
    // exactly what was withdrawn.
    let restored = node.run_in(move || Ok(Routes::open(settings)?.restore(peer)?))?;
    ensure!(restored == 2);
    let back = routes(&node, "-4")?;
    ensure!(normalise(&back) == normalise(&before), "before:\n{before}\nafter restore:\n{back}");
    ensure!(std::fs::read_to_string(&recorded)?.trim() == "[]", "nothing left recorded");
    Ok(())
}

/// `ip route` lines without the `proto` words (a restored route is ours).
fn normalise(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .map(|line| {
            line.replace(" proto boot", "")
                .replace(" proto static", "")
                .replace(" proto bird", "")
                .trim()
                .to_owned()
        })
        .collect();
    lines.sort();
    lines
}
