//! `bfd-agent run` failing after it attached its program and bound its
//! control socket leaves neither behind (root): both are guards that undo
//! themselves on every way out (issue 13).
//!
//! The failure: another process already holds UDP port 3784 in the
//! namespace (as FRR's bfdd or BIRD would), so the agent cannot open its
//! receive sockets. That happens after the XDP program is attached and
//! pinned and the control socket is bound.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{Context as _, ensure};
use bfd_lab::{
    e2e::{AGENT_V4, Link, PEER_V4, TempDir, fast_config},
    lab::{PinDir, require_root, wait_for},
};

#[bfd_lab::test]
fn a_startup_error_after_attaching_leaves_no_program_pins_or_socket() -> anyhow::Result<()> {
    require_root()?;
    let link = Link::new("su")?;
    let dir = TempDir::new("su")?;
    let config = dir.join("config.yaml");
    std::fs::write(&config, fast_config(PEER_V4, AGENT_V4))?;
    let socket = dir.join("control.sock");
    let pins = PinDir::new("su");
    // Holds UDP 3784 in the agent's namespace until killed.
    let mut holder = link
        .a
        .command("python3")
        .args(["-c", "import socket,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 3784)); print('bound', flush=True); time.sleep(60)"])
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the port holder")?;
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().context("the holder's stdout")?),
        &mut line,
    )?;
    ensure!(line.trim() == "bound", "the holder did not bind: {line:?}");

    let agent = std::env::var("BFD_AGENT").context("BFD_AGENT is not set: run through `cargo xtask test`")?;
    let output = link
        .a
        .command(&agent)
        .arg("run")
        .arg("--config")
        .arg(&config)
        .args(["--iface", &link.a_if, "--pin-path"])
        .arg(pins.path())
        .arg("--control-socket")
        .arg(&socket)
        .output()
        .context("running bfd-agent")?;
    let _ = holder.kill();
    let _ = holder.wait();
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(!output.status.success(), "the agent started although port 3784 was taken:\n{stderr}");
    ensure!(stderr.contains("3784"), "the error does not name the port:\n{stderr}");
    ensure!(
        stderr.contains("XDP program detached"),
        "the log does not say the program was detached:\n{stderr}"
    );
    // Nothing left: no pins (so no attachment), no XDP on the link, no socket.
    let left: Vec<_> = std::fs::read_dir(pins.path())
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    ensure!(left.is_empty(), "pins left behind: {left:?}");
    wait_for("the link without XDP", Duration::from_secs(2), || {
        let text = bfd_lab::lab::run_stdout(Command::new("ip").args([
            "-n",
            link.a.name(),
            "link",
            "show",
            &link.a_if,
        ]))?;
        Ok((!text.contains("xdp")).then_some(()))
    })?;
    ensure!(!socket.exists(), "the control socket {} is left behind", socket.display());
    Ok(())
}
