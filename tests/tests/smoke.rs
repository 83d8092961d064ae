//! Privileged smoke test of the XDP program: attach it to one end of a veth
//! pair in a namespace, send BFD packets from the other end over every
//! encapsulation it parses (bring-up packets, which it passes to the
//! agent), and read the counts back from the pinned map, through the agent
//! and through bpftool (which must show BTF field names).

use std::{net::UdpSocket, process::Command, time::Duration};

use anyhow::{Context as _, ensure};
use bfd_common::{
    CONTROL_PORT, ECHO_PORT, SOURCE_PORT_MIN, TTL,
    wire::{ControlPacket, ControlRepr, Diagnostic, EchoPacket, EchoRepr, State},
};
use bfd_lab::{
    frame::{TPID_8021AD, TPID_8021Q, UdpFrame, mac_address, send_raw},
    lab::{NetNs, PinDir, agent_binary, require_root, run_stdout, unique_name, veth, wait_for},
};
use serde_json::Value;

/// Paths through the kernel stack (real sockets): (name, node, peer).
const SOCKET_PATHS: &[(&str, &str, &str)] =
    &[("untagged IPv4", "192.0.2.1", "192.0.2.2"), ("untagged IPv6", "2001:db8::1", "2001:db8::2")];

/// VLAN stacks sent as raw frames (this kernel has no 802.1Q support, so
/// there are no VLAN interfaces to send them through).
const TAGGED_PATHS: &[(&str, &[(u16, u16)])] =
    &[("802.1Q", &[(TPID_8021Q, 10)]), ("802.1ad + 802.1Q", &[(TPID_8021AD, 100), (TPID_8021Q, 20)])];

fn control_packet(my_discriminator: u32) -> Vec<u8> {
    let repr = ControlRepr {
        diagnostic: Diagnostic::NoDiagnostic,
        state: State::Down,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator,
        your_discriminator: 0,
        // RFC 5880 §6.8.3: at least one second while the session is not Up.
        desired_min_tx: 1_000_000,
        required_min_rx: 300_000,
        required_min_echo_rx: 50_000,
        auth: None,
    };
    let mut bytes = vec![0; repr.buffer_len()];
    repr.emit(&mut ControlPacket::new_unchecked(&mut bytes[..]));
    bytes
}

#[bfd_lab::test]
fn xdp_counts_bfd_packets_on_every_encapsulation_and_maps_dump_with_btf() -> anyhow::Result<()> {
    require_root()?;
    let agent = agent_binary()?;
    // Dropped in reverse order: the pins (detaching XDP) before the
    // namespaces (taking the links with them).
    let node = NetNs::new("smN")?;
    let peer = NetNs::new("smP")?;
    let pins = PinDir::new("bfdt");
    let (node_if, peer_if) = (unique_name("sN"), unique_name("sP"));
    veth(&node, &node_if, &peer, &peer_if)?;
    for (netns, interface, host) in [(&node, &node_if, "1"), (&peer, &peer_if, "2")] {
        netns.ip(["addr", "add", &format!("192.0.2.{host}/24"), "dev", interface])?;
        netns.ip(["addr", "add", &format!("2001:db8::{host}/64"), "dev", interface, "nodad"])?;
    }
    let node_mac = mac_address(&node, &node_if)?;
    let peer_mac = mac_address(&peer, &peer_if)?;

    let attach = run_stdout(
        node.command(&agent)
            .args(["xdp", "attach", "--iface", &node_if, "--mode", "native", "--pin-path"])
            .arg(pins.path()),
    )?;
    ensure!(attach.contains("native mode"), "attach output: {attach}");

    // Per path: a valid control packet. Once: a control packet with Detect
    // Mult 0 (RFC 5880 §6.8.6 discards it), our echo, and a foreign echo.
    let paths = SOCKET_PATHS.len() + TAGGED_PATHS.len();
    let valid: Vec<Vec<u8>> = (1..=paths as u32).map(control_packet).collect();
    let mut zero_mult = control_packet(99);
    zero_mult[2] = 0;
    let mut own_echo = vec![0; bfd_common::wire::echo::PAYLOAD_LEN];
    EchoRepr { discriminator: 1, sequence: 7, tx_time_ns: 123_456_789 }
        .emit(&mut EchoPacket::new_unchecked(&mut own_echo[..]));
    // FRR's echo layout starts with version 1, length 24 (frr-bfdd.md).
    let mut foreign_echo = vec![0; 24];
    foreign_echo[..2].copy_from_slice(&[1, 24]);
    let tagged: Vec<Vec<u8>> = TAGGED_PATHS
        .iter()
        .zip(&valid[SOCKET_PATHS.len()..])
        .map(|((_, vlans), payload)| {
            UdpFrame {
                dst_mac: node_mac,
                src_mac: peer_mac,
                vlans,
                src: "198.51.100.2".parse().unwrap(),
                dst: "198.51.100.1".parse().unwrap(),
                ttl: TTL,
                src_port: SOURCE_PORT_MIN,
                dst_port: CONTROL_PORT,
                payload,
            }
            .to_bytes()
        })
        .collect();

    let raw_interface = peer_if.clone();
    peer.run_in(move || {
        for (index, (_, node_addr, peer_addr)) in SOCKET_PATHS.iter().enumerate() {
            let socket = UdpSocket::bind((*peer_addr, SOURCE_PORT_MIN + index as u16)).context("bind")?;
            // GTSM (RFC 5881 §5): single-hop BFD is sent with TTL 255.
            if peer_addr.contains(':') {
                nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::Ipv6Ttl, &i32::from(TTL))?;
            } else {
                socket.set_ttl(u32::from(TTL))?;
            }
            socket.send_to(&valid[index], (*node_addr, CONTROL_PORT))?;
            if index == 0 {
                socket.send_to(&zero_mult, (*node_addr, CONTROL_PORT))?;
                socket.send_to(&own_echo, (*node_addr, ECHO_PORT))?;
                socket.send_to(&foreign_echo, (*node_addr, ECHO_PORT))?;
            }
        }
        for frame in &tagged {
            send_raw(&raw_interface, frame)?;
        }
        Ok(())
    })?;

    // The agent's reading of the pinned map (the pins are the host's).
    let read_stats = || -> anyhow::Result<Value> {
        let text =
            run_stdout(node.command(&agent).args(["xdp", "stats", "--json", "--pin-path"]).arg(pins.path()))?;
        Ok(serde_json::from_str(&text)?)
    };
    let count = |stats: &Value, key: &str| stats[key].as_u64().unwrap_or(0);
    let invalid = |stats: &Value| -> u64 {
        stats["ctl-drop-invalid"]
            .as_object()
            .map_or(0, |reasons| reasons.values().filter_map(Value::as_u64).sum())
    };
    // The bring-up packets (Your Discriminator 0) go to the agent, the
    // invalid one is dropped, and both echoes are addressed to the node
    // rather than to their sender, so they are no echoes to reflect.
    let stats = wait_for("every packet counted", Duration::from_secs(5), || {
        let stats = read_stats()?;
        let seen = count(&stats, "ctl-pass-discr0") + invalid(&stats) + count(&stats, "echo-pass-not-self");
        Ok((seen >= paths as u64 + 3).then_some(stats))
    })?;
    assert_eq!(count(&stats, "ctl-pass-discr0"), paths as u64, "{stats:#}");
    assert_eq!(stats["ctl-drop-invalid"]["zero_detect_mult"], 1, "{stats:#}");
    assert_eq!(invalid(&stats), 1, "{stats:#}");
    assert_eq!(count(&stats, "echo-pass-not-self"), 2, "{stats:#}");
    // Every frame in exactly one decision: all counters but the frame
    // total and the timers' add up to the frame total.
    let decisions: u64 = stats
        .as_object()
        .unwrap()
        .iter()
        .filter(|(key, _)| !["frames", "ctl-expired", "echo-expired", "events-lost"].contains(&key.as_str()))
        .filter_map(|(_, value)| value.as_u64())
        .sum::<u64>()
        + invalid(&stats);
    assert_eq!(count(&stats, "frames"), decisions, "every frame is counted exactly once: {stats:#}");

    // bpftool reads the same map through its BTF: with BTF its JSON has a
    // "formatted" view with field names, per CPU (without, only hex).
    let map = pins.join(bfd_common::maps::STATS_MAP);
    let dump = run_stdout(Command::new("bpftool").args(["--json", "map", "dump", "pinned"]).arg(&map))?;
    let dump: Value = serde_json::from_str(&dump).with_context(|| format!("bpftool output: {dump}"))?;
    let per_cpu = dump[0]["formatted"]["values"]
        .as_array()
        .with_context(|| format!("no BTF-formatted per-CPU values in {dump:#}"))?;
    let sum = |field: &dyn Fn(&Value) -> &Value| {
        per_cpu.iter().map(|cpu| field(&cpu["value"]).as_u64()).sum::<Option<u64>>()
    };
    assert_eq!(
        sum(&|value| &value["ctl_pass_discr0"]),
        Some(paths as u64),
        "bpftool must show BTF names: {dump:#}"
    );
    assert_eq!(sum(&|value| &value["control_invalid"]["zero_detect_mult"]), Some(1), "{dump:#}");

    // Detaching removes the pins and the directory, and the program with them.
    let detach = run_stdout(node.command(&agent).args(["xdp", "detach", "--pin-path"]).arg(pins.path()))?;
    ensure!(detach.contains("link_"), "detach output: {detach}");
    ensure!(!pins.path().exists(), "{} still exists after detach", pins.path().display());
    let link = run_stdout(Command::new("ip").args(["-n", node.name(), "link", "show", &node_if]))?;
    ensure!(!link.contains("xdp"), "XDP still attached after detach: {link}");
    Ok(())
}

#[bfd_lab::test]
fn a_failed_attach_says_why_and_leaves_no_pins() -> anyhow::Result<()> {
    require_root()?;
    let agent = agent_binary()?;
    let node = NetNs::new("smF")?;
    let pins = PinDir::new("bfdf");
    let output = node
        .command(&agent)
        .args(["xdp", "attach", "--iface", "nosuchif0", "--pin-path"])
        .arg(pins.path())
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(!output.status.success(), "attaching to a missing interface succeeded");
    ensure!(
        stderr.contains("cannot attach XDP to nosuchif0") && !stderr.contains("backtrace"),
        "the error must name the interface, without a backtrace: {stderr}"
    );
    ensure!(!pins.path().exists(), "{} was left behind", pins.path().display());
    Ok(())
}
