//! `cargo xtask demo`: a BFD session between bfd-agent and FRR's bfdd, a
//! failure, its detection, and the recovery.
//!
//! Two network namespaces joined by a veth: FRR's bfdd in one, bfd-agent in
//! the other with the MetalLB-style configuration of `examples/demo.yaml`
//! and its XDP program on the veth. The demo prints `show peers` once the
//! session is Up, cuts the path from FRR to the agent with an nftables drop
//! rule, prints how long detection took (measured by the kernel timer), lifts
//! the cut, waits for the session to come back, and removes everything it
//! created (the same guards as the end-to-end tests).

use std::{
    path::Path,
    time::{Duration, Instant},
};

use bfd_lab::{
    agent::{Agent, AgentArgs},
    e2e::Cut,
    frr::Bfdd,
    lab::{NetNs, require_root, run_stdout, unique_name, veth},
};

/// The addresses `examples/demo.yaml` names.
const AGENT_ADDR: &str = "10.77.0.2";
const FRR_ADDR: &str = "10.77.0.1";

/// On a failure, the agent's and bfdd's logs are printed (the lab's
/// harness holds them until it sees the outcome).
fn main() -> anyhow::Result<()> {
    bfd_lab::harness::run(demo)
}

fn demo() -> anyhow::Result<()> {
    require_root()?;
    let config_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/demo.yaml");
    let config = std::fs::read_to_string(&config_path)?;
    let node = NetNs::new("dmA")?;
    let frr = NetNs::new("dmF")?;
    let (node_if, frr_if) = (unique_name("dA"), unique_name("dF"));
    veth(&node, &node_if, &frr, &frr_if)?;
    node.ip(["addr", "add", &format!("{AGENT_ADDR}/24"), "dev", &node_if])?;
    frr.ip(["addr", "add", &format!("{FRR_ADDR}/24"), "dev", &frr_if])?;
    println!(
        "namespaces {} (bfd-agent, {AGENT_ADDR}) and {} (FRR bfdd, {FRR_ADDR})",
        node.name(),
        frr.name()
    );

    let bfdd = Bfdd::start(
        &frr,
        &format!(
            "bfd\n peer {AGENT_ADDR} local-address {FRR_ADDR}\n  receive-interval 50\n  \
             transmit-interval 50\n  detect-multiplier 3\n exit\nexit\n"
        ),
    )?;
    println!("FRR bfdd: peer {AGENT_ADDR}, 50 ms x 3");

    let started = Instant::now();
    let mut agent = Agent::start_with(&node, "demo", AgentArgs::new(&node_if, config))?;
    step(&format!(
        "bfd-agent run --config examples/demo.yaml --iface {node_if} --pin-path {} --control-socket {}",
        agent.pin_path().display(),
        agent.socket().display()
    ));
    agent.wait_status(FRR_ADDR, "up", Duration::from_secs(10))?;
    println!("Up after {:.1} s", started.elapsed().as_secs_f64());
    std::thread::sleep(Duration::from_secs(2));

    step("bfd-agent show peers");
    print!("{}", run_stdout(&mut agent.cli(["show", "peers"]))?);
    step("vtysh -c 'show bfd peers brief'   (FRR's side)");
    print!("{}", bfdd.vtysh("show bfd peers brief")?);

    step(&format!("nft: drop FRR's control packets to {AGENT_ADDR} (in FRR's namespace)"));
    let cut = Cut::outgoing_control(&frr)?;
    agent.wait_status(FRR_ADDR, "down", Duration::from_secs(5))?;
    let detection = agent.kernel_events().pop();
    let field = |name: &str| detection.as_ref()?.field(name)?.parse::<f64>().ok();
    match (field("silence_us"), field("detection_time_us"), field("event_latency_us")) {
        (Some(silence), Some(detection_time), Some(latency)) => println!(
            "detected by the XDP program's timer {:.3} ms after FRR's last packet (detection time {:.0} ms, \
             overshoot {:.3} ms); the agent heard of it {:.3} ms later",
            silence / 1000.0,
            detection_time / 1000.0,
            (silence - detection_time) / 1000.0,
            latency / 1000.0
        ),
        _ => println!("detected (see {})", agent.log_path().display()),
    }
    step("bfd-agent show peers brief");
    print!("{}", run_stdout(&mut agent.cli(["show", "peers", "brief"]))?);

    step("nft: lift the cut");
    let lifted = Instant::now();
    cut.lift()?;
    agent.wait_status(FRR_ADDR, "up", Duration::from_secs(10))?;
    println!("Up again after {:.1} s", lifted.elapsed().as_secs_f64());
    step("bfd-agent show peers counters");
    print!("{}", run_stdout(&mut agent.cli(["show", "peers", "counters"]))?);

    println!("\ncleaning up: bfd-agent (AdminDown, XDP detached), bfdd, namespaces");
    agent.stop()?;
    Ok(())
}

fn step(title: &str) {
    println!("\n$ {title}");
}
