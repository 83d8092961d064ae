//! `cargo xtask demo`: a BFD session between bfd-agent and FRR's bfdd, a
//! failure, its detection, and the recovery.
//!
//! Two network namespaces joined by a veth: FRR's bfdd in one, bfd-agent in
//! the other with the MetalLB-style configuration of `examples/demo.yaml`
//! and its XDP program on the veth. The demo prints `show peers` once the
//! session is Up, cuts the path from FRR to the agent with an nftables drop
//! rule, prints how long detection took (measured by the kernel timer), lifts
//! the cut, waits for the session to come back, and removes everything it
//! created.

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use bfd_tests::{
    frr::Bfdd,
    lab::{NetNs, PinDir, agent_binary, require_root, run, run_stdout, unique_name, veth},
};

/// The addresses `examples/demo.yaml` names.
const AGENT_ADDR: &str = "10.77.0.2";
const FRR_ADDR: &str = "10.77.0.1";

fn main() -> anyhow::Result<()> {
    require_root()?;
    let binary = agent_binary()?;
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/demo.yaml");
    let node = NetNs::new("dmA")?;
    let frr = NetNs::new("dmF")?;
    let pins = PinDir::new("demo");
    let work = tempdir()?;
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

    let socket = work.path.join("control.sock");
    let log = work.path.join("agent.log");
    step(&format!(
        "bfd-agent run --config examples/demo.yaml --iface {node_if} --pin-path {} --control-socket {}",
        pins.path().display(),
        socket.display()
    ));
    let agent = Agent::start(&node, &binary, &config, &node_if, pins.path(), &socket, &log)?;
    let up =
        wait_state(&binary, &socket, "up", Duration::from_secs(10)).context("the session did not come Up")?;
    println!("Up after {:.1} s", up.as_secs_f64());
    std::thread::sleep(Duration::from_secs(2));

    step("bfd-agent show peers");
    print!("{}", show(&binary, &socket, &[])?);
    step("vtysh -c 'show bfd peers brief'   (FRR's side)");
    print!("{}", bfdd.vtysh("show bfd peers brief")?);

    step(&format!("nft: drop FRR's control packets to {AGENT_ADDR} (in FRR's namespace)"));
    cut(&frr, true)?;
    wait_state(&binary, &socket, "down", Duration::from_secs(5)).context("the cut was not detected")?;
    let detection = std::fs::read_to_string(&log)?
        .lines()
        .rev()
        .find(|line| line.contains("kernel detection event"))
        .map(str::to_owned)
        .unwrap_or_default();
    let field = |name: &str| -> Option<f64> {
        let start = detection.find(&format!("{name}="))? + name.len() + 1;
        detection[start..].split_whitespace().next()?.parse::<f64>().ok()
    };
    match (field("silence_us"), field("detection_time_us"), field("event_latency_us")) {
        (Some(silence), Some(detection_time), Some(latency)) => println!(
            "detected by the XDP program's timer {:.3} ms after FRR's last packet (detection time {:.0} ms, \
             overshoot {:.3} ms); the agent heard of it {:.3} ms later",
            silence / 1000.0,
            detection_time / 1000.0,
            (silence - detection_time) / 1000.0,
            latency / 1000.0
        ),
        _ => println!("detected (see {})", log.display()),
    }
    step("bfd-agent show peers brief");
    print!("{}", show(&binary, &socket, &["brief"])?);

    step("nft: lift the cut");
    cut(&frr, false)?;
    let back = wait_state(&binary, &socket, "up", Duration::from_secs(10))
        .context("the session did not come back")?;
    println!(
        "Up again after {:.1} s (FRR sends one packet a second while Down, RFC 5880 §6.8.3)",
        back.as_secs_f64()
    );
    step("bfd-agent show peers counters");
    print!("{}", show(&binary, &socket, &["counters"])?);

    println!("\ncleaning up: bfd-agent (AdminDown, XDP detached), bfdd, namespaces");
    drop(agent);
    drop(bfdd);
    drop(pins);
    Ok(())
}

fn step(title: &str) {
    println!("\n$ {title}");
}

/// `bfd-agent show peers [VIEW]` against the demo's agent.
fn show(binary: &Path, socket: &Path, view: &[&str]) -> anyhow::Result<String> {
    run_stdout(Command::new(binary).args(["show", "peers"]).args(view).arg("--control-socket").arg(socket))
}

/// Waits until the one session's status (FRR's word) is `state`; returns
/// how long that took.
fn wait_state(binary: &Path, socket: &Path, state: &str, limit: Duration) -> anyhow::Result<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(json) = show(binary, socket, &["--json"])
            && let Ok(peers) = serde_json::from_str::<serde_json::Value>(&json)
            && peers[0]["status"] == state
        {
            return Ok(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    anyhow::bail!("not {state} within {limit:?}")
}

/// Adds or removes the nftables table dropping FRR's outgoing control
/// packets.
fn cut(frr: &NetNs, on: bool) -> anyhow::Result<()> {
    if on {
        run(frr.command("nft").args(["add", "table", "inet", "demo_cut"]))?;
        run(frr.command("nft").args([
            "add",
            "chain",
            "inet",
            "demo_cut",
            "out",
            "{ type filter hook output priority 0; }",
        ]))?;
        run(frr
            .command("nft")
            .args(["add", "rule", "inet", "demo_cut", "out", "udp", "dport", "3784", "drop"]))?;
    } else {
        run(frr.command("nft").args(["delete", "table", "inet", "demo_cut"]))?;
    }
    Ok(())
}

/// The agent, stopped with SIGTERM (AdminDown, XDP detached) when dropped.
struct Agent {
    child: Child,
}

impl Agent {
    fn start(
        node: &NetNs,
        binary: &Path,
        config: &Path,
        iface: &str,
        pins: &Path,
        socket: &Path,
        log: &Path,
    ) -> anyhow::Result<Agent> {
        let child = node
            .command(binary)
            .arg("run")
            .arg("--config")
            .arg(config)
            .args(["--iface", iface, "--pin-path"])
            .arg(pins)
            .arg("--control-socket")
            .arg(socket)
            .stdout(Stdio::null())
            .stderr(File::create(log)?)
            .spawn()
            .context("starting bfd-agent")?;
        Ok(Agent { child })
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed when dropped.
struct TempDir {
    path: PathBuf,
}

fn tempdir() -> anyhow::Result<TempDir> {
    let path = std::env::temp_dir().join(unique_name("bfdd"));
    std::fs::create_dir_all(&path)?;
    Ok(TempDir { path })
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
