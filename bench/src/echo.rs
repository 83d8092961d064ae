//! `echo`: the path a peer's echo packets take back, our XDP reflector vs.
//! the kernel's forwarding that FRR relies on.
//!
//! Node B plays the peer: from a raw socket it sends echo packets as FRR
//! does (IP source = destination = its own address, UDP 3785, to node A's
//! MAC). Node A either runs bfd-agent, whose XDP program reflects them
//! (`XDP_TX`, `ip_forward` off; both nodes run the agent, as native
//! `XDP_TX` on a veth needs an XDP program on the far end), or runs bfdd
//! with `ip_forward` on, so that the kernel routes them back out of the
//! link. Both nodes keep a 50 ms session Up (the agent reflects only the
//! echoes of a peer whose session is Up).
//!
//! - Round-trip time: echoes paced one per millisecond, captured on B's
//!   link with tcpdump: the capture's time of each echo going out (TTL
//!   255) and of its return (TTL 254), matched by a sequence number.
//! - Reflected packets per second: one thread sends as fast as it can for
//!   a few seconds; what comes back is counted on B's link.
//!
//! Node B drops the returns in its input hook (nftables, after the
//! capture) so that its own stack spends nothing on them.

use std::{
    net::{IpAddr, Ipv4Addr},
    path::PathBuf,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use bfd_lab::{
    e2e::{Cut, TempDir, set_sysctl},
    frame::{RawSender, UdpFrame, mac_address},
    lab::{NetNs, wait_for},
};
use bfd_user::config::EngineScheduling;
use nix::{sys::signal::Signal, unistd::Pid};
use serde_json::json;

use crate::{
    Context,
    measure::link_counters,
    pair::{BFDD_8_4, Implementation, Pair, sessions},
    report::{Cell, Summary, Table},
};

const ECHO_PORT: u16 = 3785;
/// Our marker in the echo payload (after FRR's version and length bytes),
/// so that only our probes are matched.
const PROBE_DISCRIMINATOR: u32 = 0x00be_4c4a;

pub fn run(context: &Context) -> anyhow::Result<()> {
    let probes = if context.quick { 1000 } else { 10_000 };
    let flood = Duration::from_secs(if context.quick { 3 } else { 10 });
    let mut table = Table::new(
        "echo",
        format!(
            "echo round trip ({probes} probes, 1 ms apart) and reflection rate ({} s flood)",
            flood.as_secs()
        ),
        &[
            "reflector",
            "probes back",
            "RTT min µs",
            "RTT median µs",
            "RTT p99 µs",
            "RTT max µs",
            "offered pkt/s",
            "reflected pkt/s",
        ],
    );
    let mut raw = Vec::new();
    for implementation in [Implementation::Agent(EngineScheduling::Normal), BFDD_8_4] {
        let label = match implementation {
            Implementation::Bfdd(_) => "kernel forwarding (bfdd node, ip_forward on)".to_owned(),
            _ => "XDP reflector (bfd-agent node)".to_owned(),
        };
        eprintln!("echo: {label}");
        match measure(implementation, probes, flood) {
            Ok(result) => {
                let mut cells =
                    vec![Cell::text(label.clone()), Cell::text(format!("{}/{probes}", result.rtt_us.len()))];
                match Summary::of(&result.rtt_us) {
                    Some(summary) => cells.extend([
                        Cell::number(summary.min, 1),
                        Cell::number(summary.median, 1),
                        Cell::number(summary.p99, 1),
                        Cell::number(summary.max, 1),
                    ]),
                    None => cells.extend((0..4).map(|_| Cell::text("-"))),
                }
                cells.push(Cell::number(result.offered_pps, 0));
                cells.push(Cell::number(result.reflected_pps, 0));
                table.row(cells);
                raw.push(json!({
                    "reflector": label,
                    "rtt_us": result.rtt_us,
                    "offered_pps": result.offered_pps,
                    "reflected_pps": result.reflected_pps,
                }));
            }
            Err(error) => {
                let mut cells = vec![Cell::text(label.clone()), Cell::text(format!("failed: {error:#}"))];
                cells.extend((0..6).map(|_| Cell::text("-")));
                table.row(cells);
                raw.push(json!({"reflector": label, "error": format!("{error:#}")}));
            }
        }
    }
    table.raw = json!(raw);
    table.note(
        "RTT: between the capture's timestamps of an echo leaving node B and of its return on B's end of the veth \
         (tcpdump, µs)",
    );
    table.note(
        "reflected pkt/s: packets received on B's link during the flood (a single sending thread on one of the 2 cores \
         sets the offered rate; the reflector runs in softirq on the same machine)",
    );
    table.publish(&context.out, &context.machine)
}

struct EchoResult {
    rtt_us: Vec<f64>,
    offered_pps: f64,
    reflected_pps: f64,
}

fn measure(implementation: Implementation, probes: u32, flood: Duration) -> anyhow::Result<EchoResult> {
    let pair = Pair::start("ec", implementation, sessions(1, &[50_000]))?;
    pair.wait_all_up(Duration::from_secs(30))?.context("the session did not come Up within 30 s")?;
    if matches!(implementation, Implementation::Bfdd(_)) {
        set_sysctl(&pair.link.a, "net.ipv4.ip_forward", "1")?;
        // Routing back out of the interface it came in on would make the
        // kernel send ICMP redirects: not part of the path measured.
        set_sysctl(&pair.link.a, "net.ipv4.conf.all.send_redirects", "0")?;
        set_sysctl(&pair.link.a, &format!("net.ipv4.conf.{}.send_redirects", pair.link.a_if), "0")?;
    }
    let session = &pair.sessions[0];
    let b_address: Ipv4Addr = session.b.parse()?;
    let frame_for = |sequence: u64| {
        let mut payload = vec![1u8, 24, 0, 0];
        payload.extend_from_slice(&PROBE_DISCRIMINATOR.to_be_bytes());
        payload.extend_from_slice(&sequence.to_be_bytes());
        payload.extend_from_slice(&0u64.to_be_bytes());
        (payload, sequence)
    };
    let a_mac = mac_address(&pair.link.a, &pair.link.a_if)?;
    let b_mac = mac_address(&pair.link.b, &pair.link.b_if)?;
    let frames: Vec<Vec<u8>> = (0..u64::from(probes))
        .map(|sequence| {
            let (payload, _) = frame_for(sequence);
            UdpFrame {
                dst_mac: a_mac,
                src_mac: b_mac,
                vlans: &[],
                src: IpAddr::V4(b_address),
                dst: IpAddr::V4(b_address),
                ttl: 255,
                src_port: ECHO_PORT,
                dst_port: ECHO_PORT,
                payload: &payload,
            }
            .to_bytes()
        })
        .collect();
    let _drop_returns = Cut::new(&pair.link.b, "input", &format!("udp dport {ECHO_PORT}"))?;

    // Round trips, paced.
    let dir = TempDir::new("echo")?;
    let pcap = dir.join("echo.pcap");
    let mut capture =
        Tcpdump::start(&pair.link.b, &pair.link.b_if, &format!("udp port {ECHO_PORT}"), pcap.clone())?;
    let interface = pair.link.b_if.clone();
    let paced = frames.clone();
    pair.link.b.run_in(move || {
        let socket = RawSender::open(&interface)?;
        let start = Instant::now();
        for (index, frame) in paced.iter().enumerate() {
            let due = start + Duration::from_millis(index as u64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            socket.send(frame)?;
        }
        Ok(())
    })?;
    std::thread::sleep(Duration::from_millis(200));
    capture.stop()?;
    let rtt_us = round_trips(&read_pcap(&pcap)?);

    // Flood.
    let rx_before = link_counters(&pair.link.b, &pair.link.b_if)?.rx;
    let interface = pair.link.b_if.clone();
    let flood_frames = frames;
    let sent = pair.link.b.run_in(move || {
        let socket = RawSender::open(&interface)?;
        let start = Instant::now();
        let mut sent = 0u64;
        while start.elapsed() < flood {
            for frame in flood_frames.iter().take(256) {
                // A full queue (ENOBUFS) is the offered rate's ceiling, not
                // an error.
                if socket.send(frame).is_ok() {
                    sent += 1;
                }
            }
        }
        Ok((sent, start.elapsed()))
    })?;
    std::thread::sleep(Duration::from_millis(200));
    let rx_after = link_counters(&pair.link.b, &pair.link.b_if)?.rx;
    let seconds = sent.1.as_secs_f64();
    Ok(EchoResult {
        rtt_us,
        offered_pps: sent.0 as f64 / seconds,
        reflected_pps: rx_after.saturating_sub(rx_before) as f64 / seconds,
    })
}

/// tcpdump writing a pcap file; stopped (SIGINT, then SIGKILL) on drop.
struct Tcpdump {
    child: Option<Child>,
}

impl Tcpdump {
    fn start(netns: &NetNs, interface: &str, filter: &str, file: PathBuf) -> anyhow::Result<Tcpdump> {
        let errors = file.with_extension("err");
        let child = netns
            .command("tcpdump")
            .args(["-i", interface, "-n", "-U", "--immediate-mode", "-B", "16384", "-s", "96"])
            .args(["--time-stamp-precision=micro", "-w"])
            .arg(&file)
            .arg(filter)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&errors)?)
            .spawn()
            .context("starting tcpdump")?;
        let mut capture = Tcpdump { child: Some(child) };
        wait_for("tcpdump to listen", Duration::from_secs(10), || {
            let text = std::fs::read_to_string(&errors).unwrap_or_default();
            if let Some(status) = capture.child.as_mut().and_then(|child| child.try_wait().ok().flatten()) {
                bail!("tcpdump exited ({status}): {text}");
            }
            Ok(text.contains("listening on").then_some(()))
        })?;
        Ok(capture)
    }

    fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        nix::sys::signal::kill(Pid::from_raw(child.id() as i32), Signal::SIGINT)?;
        let exited = wait_for("tcpdump to exit", Duration::from_secs(5), || Ok(child.try_wait()?));
        if exited.is_err() {
            let _ = child.kill();
            let _ = child.wait();
        }
        exited.map(drop)
    }
}

impl Drop for Tcpdump {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// One captured frame: its timestamp (µs) and bytes.
struct Frame {
    at_us: u64,
    bytes: Vec<u8>,
}

/// Reads a classic pcap file (microsecond timestamps, either byte order).
fn read_pcap(path: &std::path::Path) -> anyhow::Result<Vec<Frame>> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if data.len() < 24 {
        bail!("{}: no pcap header", path.display());
    }
    let little = match &data[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] => false,
        other => bail!("{}: not a microsecond pcap ({other:02x?})", path.display()),
    };
    let word = |bytes: &[u8]| {
        let bytes: [u8; 4] = bytes.try_into().expect("4 bytes");
        u64::from(if little { u32::from_le_bytes(bytes) } else { u32::from_be_bytes(bytes) })
    };
    let mut frames = Vec::new();
    let mut offset = 24;
    while offset + 16 <= data.len() {
        let (seconds, micros, captured) = (
            word(&data[offset..offset + 4]),
            word(&data[offset + 4..offset + 8]),
            word(&data[offset + 8..offset + 12]) as usize,
        );
        let start = offset + 16;
        let Some(bytes) = data.get(start..start + captured) else { break };
        frames.push(Frame { at_us: seconds * 1_000_000 + micros, bytes: bytes.to_vec() });
        offset = start + captured;
    }
    Ok(frames)
}

/// Our probes' round trips, µs: each probe's first capture with TTL 255
/// (leaving) matched with its first with TTL 254 (back).
fn round_trips(frames: &[Frame]) -> Vec<f64> {
    let mut out = std::collections::HashMap::new();
    let mut rtt = Vec::new();
    for frame in frames {
        let bytes = &frame.bytes;
        // Ethernet (14) + IPv4 without options (20) + UDP (8) + payload.
        if bytes.len() < 14 + 20 + 8 + 16 || bytes[12..14] != [0x08, 0x00] || bytes[14] != 0x45 {
            continue;
        }
        let payload = &bytes[42..];
        if payload[4..8] != PROBE_DISCRIMINATOR.to_be_bytes() {
            continue;
        }
        let sequence = u64::from_be_bytes(payload[8..16].try_into().expect("8 bytes"));
        match bytes[22] {
            255 => {
                out.entry(sequence).or_insert(frame.at_us);
            }
            254 => {
                if let Some(sent) = out.remove(&sequence) {
                    rtt.push(frame.at_us.saturating_sub(sent) as f64);
                }
            }
            _ => {}
        }
    }
    rtt
}
