//! `txpath`: what one control packet costs to send on each of the agent's
//! transmit paths (`bfd_user::transmit::Batcher`, the agent's own code):
//! the `udp` path's `sendmmsg` on a raw IP socket (IP output: route
//! lookup, netfilter, neighbour), the `packet` path's `sendmmsg` of whole
//! Ethernet frames on an `AF_PACKET` socket with `PACKET_QDISC_BYPASS`,
//! and a session's own UDP socket, one `send` a packet (the path without
//! `CAP_NET_RAW`).
//!
//! The packets are prepared once (a steady Up packet of one session) and
//! sent in batches of the size one engine wake sends at 2000 sessions at
//! 50 ms (40 a millisecond) into a veth whose far end runs the XDP program
//! with the session configured, so that it absorbs every packet (as at a
//! peer running the agent). Figures: the sending thread's CPU time per
//! packet (`CLOCK_THREAD_CPUTIME_ID`: the system calls, the IP or packet
//! layer, the veth's transmit) and the machine's busy time per packet
//! (/proc/stat, every CPU: that and the far end's XDP program in softirq),
//! the median of several runs, paths interleaved.

use std::net::{IpAddr, SocketAddr, UdpSocket};

use anyhow::{Context as _, ensure};
use bfd_common::{
    CONTROL_PORT, SOURCE_PORT_MIN, TTL,
    maps::SessionConfig,
    wire::{EthernetRepr, ip::TOS_CS6},
};
use bfd_lab::{
    frame::{ifindex, mac_address},
    lab::{NetNs, PinDir, agent_binary, run_stdout, unique_name, veth},
    scenario::{LOCAL_DISCR, control_bytes, session_config, steady_repr},
};
use bfd_user::{fastpath::FastPath, transmit::Batcher, xdp_sender::XdpSender};
use serde_json::json;

use crate::{
    Context,
    measure::machine_busy_seconds,
    report::{Cell, Summary, Table},
};

const SENDER: &str = "10.79.0.1";
const RECEIVER: &str = "10.79.0.2";
/// Packets per engine wake at 2000 sessions at 50 ms, 1 ms apart.
const BATCH: usize = 40;

#[derive(Clone, Copy, Debug)]
enum Path {
    RawSendmmsg,
    PacketSendmmsg,
    SessionSocket,
    /// A bench-only prototype: the same frames through a `PACKET_TX_RING`,
    /// one `sendto` a batch, to measure whether the agent should have one.
    PacketTxRing,
    /// A bench-only prototype: the same frames written into the XDP sender
    /// program's batch and sent by one `BPF_PROG_TEST_RUN` in live-frame
    /// mode a batch (`bfd_user::xdp_sender`).
    XdpLiveFrames,
}

impl Path {
    fn label(self) -> &'static str {
        match self {
            Path::RawSendmmsg => "udp: sendmmsg on a raw IP socket (today's default)",
            Path::PacketSendmmsg => "packet: sendmmsg of frames on AF_PACKET, PACKET_QDISC_BYPASS",
            Path::SessionSocket => "udp without CAP_NET_RAW: send on the session's socket",
            Path::PacketTxRing => "packet, PACKET_TX_RING (prototype, not in the agent)",
            Path::XdpLiveFrames => {
                "xdp: live-frame BPF_PROG_TEST_RUN, XDP_REDIRECT (prototype, not in the agent)"
            }
        }
    }
}

/// One run: (thread CPU ns, machine busy ns, wall ns) per packet.
fn run_once(
    path: Path,
    packets: usize,
    sender_ifindex: u32,
    receiver_mac: [u8; 6],
    sender_mac: [u8; 6],
) -> anyhow::Result<(f64, f64, f64)> {
    let payload = control_bytes(&steady_repr());
    let source = SocketAddr::new(SENDER.parse()?, SOURCE_PORT_MIN);
    let destination = SocketAddr::new(RECEIVER.parse()?, CONTROL_PORT);
    let mut batch = Batcher::open();
    ensure!(batch.available(false), "no raw socket (CAP_NET_RAW)");
    batch.open_packet_path().context("the packet socket")?;
    let socket = UdpSocket::bind(source).context("binding the session's socket")?;
    socket.set_ttl(u32::from(TTL))?;
    socket2_tos(&socket)?;
    socket.connect(destination)?;
    let ethernet = EthernetRepr::ip(receiver_mac, sender_mac, false);
    let mut ring = match path {
        Path::PacketTxRing => Some(TxRing::open(sender_ifindex)?),
        _ => None,
    };
    let mut xdp = match path {
        Path::XdpLiveFrames => Some(XdpSender::load(sender_ifindex).context("the XDP sender")?),
        _ => None,
    };
    let datagram =
        bfd_common::wire::UdpIpRepr::bfd(source.ip(), destination.ip(), source.port(), destination.port());
    let thread_ns = || {
        nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
            .map(|t| t.tv_sec() as f64 * 1e9 + t.tv_nsec() as f64)
    };
    let (busy_before, cpu_before, started) =
        (machine_busy_seconds()?, thread_ns()?, std::time::Instant::now());
    let mut sent = 0;
    while sent < packets {
        let count = BATCH.min(packets - sent);
        match path {
            Path::RawSendmmsg => {
                for _ in 0..count {
                    batch.queue(source, destination, 0, &payload);
                }
                batch.flush();
            }
            Path::PacketSendmmsg => {
                for _ in 0..count {
                    batch.queue_frame(sender_ifindex, ethernet, source, destination, &payload);
                }
                batch.flush();
            }
            Path::SessionSocket => {
                for _ in 0..count {
                    let _ = socket.send(&payload);
                }
            }
            Path::PacketTxRing => {
                let ring = ring.as_mut().context("the ring")?;
                for _ in 0..count {
                    let mut frame = [0u8; 128];
                    let len = ethernet
                        .emit_udp(&datagram, &mut frame, &payload)
                        .map_err(|error| anyhow::anyhow!("{error:?}"))?;
                    ring.queue(&frame[..len])?;
                }
                ring.flush()?;
            }
            Path::XdpLiveFrames => {
                let xdp = xdp.as_mut().context("the XDP sender")?;
                for _ in 0..count {
                    let mut frame = [0u8; 128];
                    let len = ethernet
                        .emit_udp(&datagram, &mut frame, &payload)
                        .map_err(|error| anyhow::anyhow!("{error:?}"))?;
                    xdp.queue(sender_ifindex, &frame[..len])?;
                }
                xdp.flush().context("the XDP sender's run")?;
            }
        }
        sent += count;
    }
    if let Some(ring) = &ring {
        ring.finish()?;
    }
    let wall = started.elapsed().as_secs_f64() * 1e9;
    let (cpu_after, busy_after) = (thread_ns()?, machine_busy_seconds()?);
    if batch.errors > 0 {
        // A full veth ring refuses a packet now and then on a busy machine
        // (the agent counts and drops such a packet, and BFD's timers cover
        // it); the figure stays per packet queued.
        eprintln!("txpath: {path:?} had {} of {packets} packets refused", batch.errors);
    }
    let per = |ns: f64| ns / packets as f64;
    Ok((per(cpu_after - cpu_before), per((busy_after - busy_before) * 1e9), per(wall)))
}

/// A `PACKET_TX_RING` (TPACKET_V2) on the agent's packet socket
/// (`PACKET_QDISC_BYPASS`): frames are written into the shared ring and
/// one `sendto` sends every frame marked since the last.
struct TxRing {
    socket: std::os::fd::OwnedFd,
    ring: *mut u8,
    size: usize,
    frame_size: usize,
    frames: usize,
    next: usize,
    address: nix::sys::socket::LinkAddr,
}

impl TxRing {
    fn open(ifindex: u32) -> anyhow::Result<TxRing> {
        use std::os::fd::AsRawFd as _;
        let socket = bfd_user::transmit::packet_socket().context("the packet socket")?;
        let fd = socket.as_raw_fd();
        let version = libc::tpacket_versions::TPACKET_V2 as libc::c_int;
        let (block_size, blocks, frame_size) = (4096u32, 64u32, 256u32);
        let request = libc::tpacket_req {
            tp_block_size: block_size,
            tp_block_nr: blocks,
            tp_frame_size: frame_size,
            tp_frame_nr: block_size / frame_size * blocks,
        };
        // SAFETY: `fd` is open; each option value is a live value of the
        // size passed with it.
        unsafe {
            if libc::setsockopt(
                fd,
                libc::SOL_PACKET,
                libc::PACKET_VERSION,
                (&raw const version).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            ) != 0
            {
                return Err(std::io::Error::last_os_error()).context("PACKET_VERSION");
            }
            if libc::setsockopt(
                fd,
                libc::SOL_PACKET,
                libc::PACKET_TX_RING,
                (&raw const request).cast(),
                size_of::<libc::tpacket_req>() as libc::socklen_t,
            ) != 0
            {
                return Err(std::io::Error::last_os_error()).context("PACKET_TX_RING");
            }
        }
        let size = (block_size * blocks) as usize;
        // SAFETY: maps the ring the kernel just allocated for `fd`, shared.
        let ring = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if ring == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error()).context("mmap of the ring");
        }
        let address =
            bfd_user::transmit::link_address(ifindex, [0; 6], bfd_common::wire::ethernet::ETHERTYPE_IPV4);
        Ok(TxRing {
            socket,
            ring: ring.cast(),
            size,
            frame_size: frame_size as usize,
            frames: (request.tp_frame_nr) as usize,
            next: 0,
            address,
        })
    }

    /// Writes `frame` into the next slot, flushing first if it is still
    /// being sent.
    fn queue(&mut self, frame: &[u8]) -> anyhow::Result<()> {
        // SAFETY: `next` < `frames`, so the slot lies inside the mapping;
        // the header is the kernel's tpacket2_hdr at the slot's start, its
        // status read and written volatile (the kernel changes it).
        unsafe {
            let slot = self.ring.add(self.next * self.frame_size);
            let header = slot.cast::<libc::tpacket2_hdr>();
            while std::ptr::read_volatile(&raw const (*header).tp_status) != libc::TP_STATUS_AVAILABLE {
                ensure!(
                    std::ptr::read_volatile(&raw const (*header).tp_status) & libc::TP_STATUS_WRONG_FORMAT
                        == 0,
                    "the kernel refused frame {} of the ring",
                    self.next
                );
                self.flush()?;
            }
            let data = slot.add(libc::TPACKET2_HDRLEN - size_of::<libc::sockaddr_ll>());
            std::ptr::copy_nonoverlapping(frame.as_ptr(), data, frame.len());
            (*header).tp_len = frame.len() as u32;
            std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
            std::ptr::write_volatile(&raw mut (*header).tp_status, libc::TP_STATUS_SEND_REQUEST);
        }
        self.next = (self.next + 1) % self.frames;
        Ok(())
    }

    /// Sends every frame queued.
    fn flush(&self) -> anyhow::Result<()> {
        use nix::sys::socket::SockaddrLike as _;
        use std::os::fd::AsRawFd as _;
        // SAFETY: the socket is open; the address is a complete sockaddr_ll.
        let sent = unsafe {
            libc::sendto(
                self.socket.as_raw_fd(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                self.address.as_ptr(),
                self.address.len(),
            )
        };
        if sent < 0 {
            let error = std::io::Error::last_os_error();
            // The socket's send buffer is full of frames still on their
            // way, or the veth's receiving ring is (EAGAIN or ENOBUFS; the
            // kernel leaves the frame marked for sending): wait until there
            // is room and let the caller retry, as a blocking sender would.
            // CI's busy machine met this; a quiet one rarely does.
            if !matches!(error.raw_os_error(), Some(libc::EAGAIN | libc::ENOBUFS)) {
                return Err(error).context("sendto on the ring");
            }
            let mut poll = [nix::poll::PollFd::new(
                std::os::fd::AsFd::as_fd(&self.socket),
                nix::poll::PollFlags::POLLOUT,
            )];
            nix::poll::poll(&mut poll, nix::poll::PollTimeout::from(10u16)).context("poll on the ring")?;
        }
        Ok(())
    }

    /// Flushes until the kernel has taken every queued frame, so that a
    /// run's figures include sending all of them.
    fn finish(&self) -> anyhow::Result<()> {
        for index in 0..self.frames {
            // SAFETY: as in `queue`: the slot lies inside the mapping and
            // its status is read volatile.
            let status = |ring: *mut u8| unsafe {
                let header = ring.add(index * self.frame_size).cast::<libc::tpacket2_hdr>();
                std::ptr::read_volatile(&raw const (*header).tp_status)
            };
            while status(self.ring) != libc::TP_STATUS_AVAILABLE {
                ensure!(
                    status(self.ring) & libc::TP_STATUS_WRONG_FORMAT == 0,
                    "the kernel refused frame {index} of the ring"
                );
                self.flush()?;
            }
        }
        Ok(())
    }
}

impl Drop for TxRing {
    fn drop(&mut self) {
        // SAFETY: unmaps what `open` mapped, once.
        unsafe { libc::munmap(self.ring.cast(), self.size) };
    }
}

fn socket2_tos(socket: &UdpSocket) -> anyhow::Result<()> {
    nix::sys::socket::setsockopt(socket, nix::sys::socket::sockopt::Ipv4Tos, &i32::from(TOS_CS6))
        .context("IP_TOS")
}

pub fn run(context: &Context) -> anyhow::Result<()> {
    let (runs, packets) = if context.quick { (3, 100_000) } else { (7, 500_000) };
    let agent = agent_binary()?;
    let sender = NetNs::new("txS")?;
    let receiver = NetNs::new("txR")?;
    let (sender_if, receiver_if) = (unique_name("tS"), unique_name("tR"));
    veth(&sender, &sender_if, &receiver, &receiver_if)?;
    sender.ip(["addr", "add", &format!("{SENDER}/24"), "dev", &sender_if])?;
    receiver.ip(["addr", "add", &format!("{RECEIVER}/24"), "dev", &receiver_if])?;
    let (sender_mac, receiver_mac) =
        (mac_address(&sender, &sender_if)?, mac_address(&receiver, &receiver_if)?);
    // The udp paths resolve the receiver as the agent's would once the
    // session runs: a neighbour entry (permanent, as in `scale`).
    let mac_text: Vec<String> = receiver_mac.iter().map(|b| format!("{b:02x}")).collect();
    sender.ip([
        "neigh",
        "replace",
        RECEIVER,
        "lladdr",
        &mac_text.join(":"),
        "dev",
        &sender_if,
        "nud",
        "permanent",
    ])?;
    let pins = PinDir::new("bfdtx");
    let output = run_stdout(
        receiver
            .command(&agent)
            .args(["xdp", "attach", "--iface", &receiver_if, "--mode", "native", "--pin-path"])
            .arg(pins.path()),
    )?;
    ensure!(output.contains("native mode"), "attach output: {output}");
    let mut fast = FastPath::open(pins.path())?;
    // The lab's session, on the receiver's interface, with a detection time
    // longer than any run.
    let config = SessionConfig {
        detect_ns: 3_600_000_000_000,
        ifindex: ifindex(&receiver, &receiver_if)?,
        ..session_config(IpAddr::V4(SENDER.parse()?), IpAddr::V4(RECEIVER.parse()?))
    };
    fast.set_session(LOCAL_DISCR, &config)?;
    let sender_ifindex = ifindex(&sender, &sender_if)?;

    // BFD_BENCH_ONLY=WORDS: only the paths whose label contains them.
    let paths: Vec<Path> = [
        Path::RawSendmmsg,
        Path::PacketSendmmsg,
        Path::PacketTxRing,
        Path::XdpLiveFrames,
        Path::SessionSocket,
    ]
    .into_iter()
    .filter(|path| crate::selected(path.label()))
    .collect();
    // The live-frame sender needs a kernel that allows live-frame test
    // runs; where it refuses, the row says so instead of a figure.
    let mut refused = None;
    let paths: Vec<Path> = paths
        .into_iter()
        .filter(|path| {
            if !matches!(path, Path::XdpLiveFrames) {
                return true;
            }
            let probe = sender.run_in(move || {
                let mut sender = XdpSender::load(sender_ifindex)?;
                sender.probe().map_err(anyhow::Error::from)
            });
            match probe {
                Ok(()) => true,
                Err(error) => {
                    eprintln!("txpath: the live-frame sender is refused: {error:#}");
                    refused = Some(format!("{error:#}"));
                    false
                }
            }
        })
        .collect();
    let mut samples: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); paths.len()];
    let absorbed_before = fast.stats()?.ctl_absorbed;
    for run in 0..runs {
        for (index, path) in paths.iter().enumerate() {
            let path = *path;
            let sample =
                sender.run_in(move || run_once(path, packets, sender_ifindex, receiver_mac, sender_mac))?;
            eprintln!(
                "txpath: run {run} {path:?}: {:.0} ns CPU, {:.0} ns machine, {:.0} ns wall per packet",
                sample.0, sample.1, sample.2
            );
            samples[index].push(sample);
        }
    }
    let absorbed = fast.stats()?.ctl_absorbed - absorbed_before;
    let total = (runs * packets * paths.len()) as u64;

    let mut table = Table::new(
        "txpath",
        format!(
            "cost of one control packet on each transmit path: {runs} runs of {packets} packets, {BATCH} a batch, into a veth whose far end's XDP program absorbs them"
        ),
        &[
            "path",
            "sender CPU ns/packet (median)",
            "min",
            "max",
            "machine busy ns/packet (median)",
            "packets/s one thread (median)",
        ],
    );
    let mut raw = Vec::new();
    for (path, samples) in paths.iter().zip(&samples) {
        let cpu = Summary::of(&samples.iter().map(|s| s.0).collect::<Vec<_>>()).context("no samples")?;
        let busy = Summary::of(&samples.iter().map(|s| s.1).collect::<Vec<_>>()).context("no samples")?;
        let wall = Summary::of(&samples.iter().map(|s| s.2).collect::<Vec<_>>()).context("no samples")?;
        table.row(vec![
            Cell::text(path.label()),
            Cell::number(cpu.median, 0),
            Cell::number(cpu.min, 0),
            Cell::number(cpu.max, 0),
            Cell::number(busy.median, 0),
            Cell::number(1e9 / wall.median, 0),
        ]);
        raw.push(json!({"path": format!("{path:?}"), "samples_ns_cpu_busy_wall": samples}));
    }
    if let Some(error) = &refused {
        table.row(vec![
            Cell::text(Path::XdpLiveFrames.label()),
            Cell::text("refused by this kernel"),
            Cell::text(""),
            Cell::text(""),
            Cell::text(""),
            Cell::text(""),
        ]);
        table.note(format!(
            "xdp: this kernel refuses live-frame test runs ({error}), so that path was not measured"
        ));
    }
    table.note(format!(
        "absorbed by the far end's XDP program: {absorbed} of {total} packets sent (the rest reached its stack)"
    ));
    table.note("sender CPU: the sending thread's CPU time (CLOCK_THREAD_CPUTIME_ID): building the packets, the system calls, the IP or packet layer, the veth's transmit, and the far end's receive (veth runs the peer's XDP in the sender's softirq; the same on every path); machine busy: every CPU's busy time (/proc/stat, 10 ms ticks) over the run, anything else running included");
    table.raw = json!(raw);
    table.publish(&context.out, &context.machine)
}
