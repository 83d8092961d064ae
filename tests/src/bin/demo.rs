//! `cargo xtask demo`: two network namespaces joined by a veth; the XDP
//! program attached on the node's side, FRR's bfdd on the other side
//! configured with the node as its BFD peer. bfdd starts the session (Down,
//! one packet a second, RFC 5880 §6.8.3); the demo shows its packets
//! counted by the XDP program, through `bfd-agent` and through bpftool,
//! then removes everything it created.

use std::{process::Command, time::Duration};

use bfd_tests::{
    frr::Bfdd,
    lab::{NetNs, PinDir, agent_binary, require_root, run_stdout, unique_name, veth},
};

const NODE_ADDR: &str = "192.0.2.1";
const FRR_ADDR: &str = "192.0.2.2";

fn main() -> anyhow::Result<()> {
    require_root()?;
    let agent = agent_binary()?;
    let node = NetNs::new("dmN")?;
    let frr = NetNs::new("dmF")?;
    let pins = PinDir::new("demo");
    let (node_if, frr_if) = (unique_name("dN"), unique_name("dF"));
    veth(&node, &node_if, &frr, &frr_if)?;
    node.ip(["addr", "add", &format!("{NODE_ADDR}/24"), "dev", &node_if])?;
    frr.ip(["addr", "add", &format!("{FRR_ADDR}/24"), "dev", &frr_if])?;
    println!("namespaces {} (node, {NODE_ADDR}) and {} (FRR bfdd, {FRR_ADDR})\n", node.name(), frr.name());

    step(&format!("bfd-agent xdp attach --iface {node_if} --pin-path {}", pins.path().display()));
    print!(
        "{}",
        run_stdout(
            node.command(&agent).args(["xdp", "attach", "--iface", &node_if, "--pin-path"]).arg(pins.path())
        )?
    );

    let bfdd = Bfdd::start(
        &frr,
        &format!(
            "bfd\n peer {NODE_ADDR} local-address {FRR_ADDR}\n  receive-interval 300\n  \
             transmit-interval 300\n  detect-multiplier 3\n exit\nexit\n"
        ),
    )?;
    println!(
        "\nstarted FRR bfdd with peer {NODE_ADDR}; waiting 4 s for its packets (1 per second while Down)"
    );
    std::thread::sleep(Duration::from_secs(4));

    step("vtysh -c 'show bfd peers'   (in the FRR namespace)");
    print!("{}", bfdd.vtysh("show bfd peers")?);
    step(&format!("bfd-agent xdp stats --pin-path {}", pins.path().display()));
    print!("{}", run_stdout(node.command(&agent).args(["xdp", "stats", "--pin-path"]).arg(pins.path()))?);
    let map = pins.join(bfd_common::maps::STATS_MAP);
    step(&format!("bpftool map dump pinned {}", map.display()));
    let dump = run_stdout(Command::new("bpftool").args(["map", "dump", "pinned"]).arg(&map))?;
    // The first CPU's value is enough to show the BTF field names.
    let shown: Vec<&str> = dump.lines().take(30).collect();
    println!("{}\n...", shown.join("\n"));

    println!(
        "\nbfd-agent does not answer yet (the session core is not in this build), so bfdd stays \
         Down; its packets crossed the XDP program, which validated each one (RFC 5880 §6.8.6) and, \
         as they carry Your Discriminator 0 (bring-up), passed them on to the agent's socket."
    );
    println!("cleaning up: bfdd, pins (detaching XDP), namespaces");
    drop(bfdd);
    drop(pins);
    Ok(())
}

fn step(title: &str) {
    println!("\n$ {title}");
}
