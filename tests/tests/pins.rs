//! Pins must outlive the process that makes them, or the agent refuses.
//!
//! `ip netns exec` gives its command a mount namespace of its own with a
//! fresh /sys: a bpffs the agent mounts there, with the pins and the link
//! holding the XDP program, dies with the command. A container without the
//! host's /sys/fs/bpf is the same. The agent must refuse there (naming the
//! cause and the fix) and attach where the host sees the pins: with
//! `nsenter --net`, or in a "container" (new mount and PID namespaces) that
//! has the host's bpffs.

use std::process::{Command, Output};

use anyhow::{Context as _, ensure};
use bfd_lab::lab::{NetNs, PinDir, agent_binary, require_root, run, run_stdout, unique_name, veth};

/// Whether `iface` in `netns` has an XDP program attached, as the kernel
/// reports it (`ip -d link` prints `prog/xdp id N` for one).
fn xdp_attached(netns: &NetNs, iface: &str) -> anyhow::Result<bool> {
    let link = run_stdout(Command::new("ip").args(["-n", netns.name(), "-d", "link", "show", iface]))?;
    Ok(link.contains("prog/xdp"))
}

fn output(command: &mut Command) -> anyhow::Result<Output> {
    command.output().with_context(|| format!("starting {command:?}"))
}

#[bfd_lab::test]
fn attaching_under_ip_netns_exec_is_refused_and_leaves_nothing() -> anyhow::Result<()> {
    require_root()?;
    let agent = agent_binary()?;
    let node = NetNs::new("pnN")?;
    let peer = NetNs::new("pnP")?;
    let (node_if, peer_if) = (unique_name("pN"), unique_name("pP"));
    veth(&node, &node_if, &peer, &peer_if)?;
    let pins = PinDir::new("bfdpin");

    let refused = output(
        node.exec(&agent)
            .args(["xdp", "attach", "--iface", &node_if, "--mode", "generic", "--pin-path"])
            .arg(pins.path()),
    )?;
    let stdout = String::from_utf8_lossy(&refused.stdout);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    println!("stdout:\n{stdout}\nstderr:\n{stderr}");
    ensure!(!refused.status.success(), "the agent claimed an attachment under ip netns exec:\n{stdout}");
    ensure!(!stdout.contains("attached"), "stdout claims an attachment: {stdout}");
    let fix = format!("nsenter --net=/run/netns/{}", node.name());
    ensure!(stderr.contains(&fix), "the error does not name the fix `{fix}`: {stderr}");
    ensure!(stderr.contains("ip netns exec"), "the error does not name the cause: {stderr}");
    ensure!(!xdp_attached(&node, &node_if)?, "XDP is still attached to {node_if}");
    ensure!(!pins.path().exists(), "{} exists on the host", pins.path().display());

    // `bfd-agent run` stops too (rather than run without the fast path the
    // operator asked for), before it has any session.
    let socket = std::env::temp_dir().join(format!("{}.sock", unique_name("pinrun")));
    // (`timeout`: an agent that went on would otherwise hang the test.)
    let run_refused = output(
        node.exec("timeout")
            .arg("10")
            .arg(&agent)
            .args(["run", "--iface", &node_if, "--mode", "generic", "--pin-path"])
            .arg(pins.path())
            .arg("--control-socket")
            .arg(&socket),
    )?;
    let stderr = String::from_utf8_lossy(&run_refused.stderr);
    println!("bfd-agent run:\n{stderr}");
    ensure!(!run_refused.status.success(), "bfd-agent run went on under ip netns exec: {stderr}");
    ensure!(stderr.contains(&fix), "bfd-agent run's error does not name the fix `{fix}`: {stderr}");
    ensure!(!socket.exists(), "bfd-agent run left its control socket");
    ensure!(!xdp_attached(&node, &node_if)?, "XDP is still attached to {node_if}");

    // The fix the error gives works, and the attachment outlives the command.
    let attached = run_stdout(
        node.command(&agent)
            .args(["xdp", "attach", "--iface", &node_if, "--mode", "generic", "--pin-path"])
            .arg(pins.path()),
    )?;
    ensure!(attached.contains("generic mode"), "attach output: {attached}");
    ensure!(xdp_attached(&node, &node_if)?, "XDP is not attached to {node_if} after the command");
    let link = pins.join(&format!("link_{node_if}"));
    run(Command::new("bpftool").args(["link", "show", "pinned"]).arg(&link))?;
    Ok(())
}

/// A command in new mount and PID namespaces (as a container runs), in
/// `netns`'s network, running `script` with sh; `$AGENT` is the agent.
fn in_container(netns: &NetNs, agent: &std::path::Path, script: &str) -> Command {
    let mut command = netns.command("unshare");
    command
        .args(["--mount", "--pid", "--fork", "--mount-proc", "--propagation", "slave", "sh", "-c", script])
        .env("AGENT", agent);
    command
}

#[bfd_lab::test]
fn a_container_without_the_hosts_bpffs_is_refused_and_one_with_it_attaches() -> anyhow::Result<()> {
    require_root()?;
    let agent = agent_binary()?;
    let node = NetNs::new("pcN")?;
    let peer = NetNs::new("pcP")?;
    let (node_if, peer_if) = (unique_name("cN"), unique_name("cP"));
    veth(&node, &node_if, &peer, &peer_if)?;
    let pins = PinDir::new("bfdpin");
    let attach = format!(
        "exec \"$AGENT\" xdp attach --iface {node_if} --mode generic --pin-path {}",
        pins.path().display()
    );

    // The container's own /sys: the agent would have to mount bpffs itself.
    let refused =
        output(&mut in_container(&node, &agent, &format!("mount -t sysfs sysfs /sys && {attach}")))?;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    println!("without the host's bpffs:\n{stderr}");
    ensure!(!refused.status.success(), "the agent attached in a container without the host's bpffs");
    ensure!(stderr.contains("hostPath"), "the error does not name the fix: {stderr}");
    ensure!(!xdp_attached(&node, &node_if)?, "XDP is still attached to {node_if}");

    // The host's /sys (and so its bpffs) seen from the container, as the
    // DaemonSet's hostPath volume gives it: the pins outlive the container.
    let attached = run_stdout(&mut in_container(&node, &agent, &attach))?;
    ensure!(attached.contains("generic mode"), "attach output: {attached}");
    ensure!(xdp_attached(&node, &node_if)?, "XDP is not attached to {node_if} after the container exited");
    run(Command::new("bpftool").args(["link", "show", "pinned"]).arg(pins.join(&format!("link_{node_if}"))))?;
    Ok(())
}

#[bfd_lab::test]
fn mount_bpffs_mounts_once_for_the_init_container() -> anyhow::Result<()> {
    require_root()?;
    let agent = agent_binary()?;
    let dir = std::env::temp_dir().join(unique_name("bpffs"));
    // In a mount namespace of its own, so that nothing is left mounted on
    // the host whatever happens.
    let script = format!(
        "\"$AGENT\" xdp mount-bpffs --path {dir} && stat -f -c %T {dir} && \"$AGENT\" xdp mount-bpffs --path {dir}",
        dir = dir.display()
    );
    let output = run_stdout(
        Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .env("AGENT", &agent),
    )?;
    let _ = std::fs::remove_dir(&dir);
    println!("{output}");
    let lines: Vec<&str> = output.lines().collect();
    ensure!(lines.len() == 3, "output: {output}");
    ensure!(lines[0].starts_with("mounted bpffs at"), "first call: {output}");
    ensure!(lines[1] == "bpf_fs", "not a bpffs after mounting: {output}");
    ensure!(lines[2].starts_with("bpffs already mounted at"), "second call: {output}");
    Ok(())
}
