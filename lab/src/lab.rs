//! Namespaces, links, pins and commands.

use std::{
    ffi::OsStr,
    fs::File,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use nix::sched::{CloneFlags, setns};

static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// A name unique to this process and call: `<prefix><pid>-<n>`, short
/// enough for an interface name (15 bytes) when `prefix` is at most 4.
pub fn unique_name(prefix: &str) -> String {
    let name =
        format!("{prefix}{}-{}", std::process::id() % 100_000, NEXT_ID.fetch_add(1, Ordering::Relaxed));
    assert!(name.len() <= 15, "{name} is too long for an interface name");
    name
}

/// Fails unless running as root, saying how to run the test.
pub fn require_root() -> anyhow::Result<()> {
    if !nix::unistd::Uid::effective().is_root() {
        bail!("this test needs root (namespaces, XDP, bpffs): run `sudo cargo xtask test`");
    }
    Ok(())
}

/// The bfd-agent binary under test, from `BFD_AGENT` (set by `cargo xtask`).
pub fn agent_binary() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("BFD_AGENT")
        .map(PathBuf::from)
        .context("BFD_AGENT is not set: run the end-to-end tests through `cargo xtask test`")?;
    if !path.exists() {
        bail!("BFD_AGENT={} does not exist; build it with `cargo xtask build`", path.display());
    }
    Ok(path)
}

/// Runs a command to completion; fails with its stderr if it exits non-zero.
pub fn run(command: &mut Command) -> anyhow::Result<Output> {
    let shown = format!("{command:?}");
    let output = command.output().with_context(|| format!("cannot start {shown}"))?;
    if !output.status.success() {
        bail!(
            "{shown} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output)
}

/// Runs a command and returns its stdout as text.
pub fn run_stdout(command: &mut Command) -> anyhow::Result<String> {
    Ok(String::from_utf8_lossy(&run(command)?.stdout).into_owned())
}

/// `ip` with arguments.
pub fn ip<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(args: I) -> anyhow::Result<()> {
    run(Command::new("ip").args(args)).map(drop)
}

/// Polls `condition` every 10 ms until it returns `Some`, or fails after
/// `timeout` with `what`. For waiting on asynchronous effects (a packet
/// crossing a veth), never for asserting on timing.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut condition: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = condition()? {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A network namespace, deleted (with every interface in it) on drop.
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Creates a namespace named `<prefix><pid>-<n>` with loopback up.
    pub fn new(prefix: &str) -> anyhow::Result<NetNs> {
        let name = unique_name(prefix);
        ip(["netns", "add", &name])?;
        let netns = NetNs { name };
        netns.ip(["link", "set", "lo", "up"])?;
        Ok(netns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its file under /run/netns.
    pub fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    /// `ip -n <ns> ...`.
    pub fn ip<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I) -> anyhow::Result<()> {
        let mut command = Command::new("ip");
        command.arg("-n").arg(&self.name).args(args);
        run(&mut command).map(drop)
    }

    /// A command that runs `program` in this namespace's network stack but
    /// the host's mounts (`nsenter --net`), so that bpffs pins it makes are
    /// the host's. (`ip netns exec` remounts /sys and would hide them.)
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new("nsenter");
        command.arg(format!("--net={}", self.path().display())).arg("--").arg(program);
        command
    }

    /// A command run with `ip netns exec`, for daemons that want their own
    /// view of /sys (FRR).
    pub fn exec(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// Runs `work` on a new thread that has entered this namespace, so that
    /// sockets it opens live here; the calling thread is not affected.
    pub fn run_in<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let file = File::open(self.path()).with_context(|| format!("opening {}", self.path().display()))?;
        std::thread::spawn(move || {
            setns(&file, CloneFlags::CLONE_NEWNET).context("setns into the test namespace")?;
            work()
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the thread in the namespace panicked"))?
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Err(error) = ip(["netns", "del", &self.name]) {
            crate::harness::cleanup_note(format_args!("cleanup: {error:#}"));
        }
    }
}

/// Joins `a` and `b` with a veth pair `a_if` <-> `b_if`, both up. The pair
/// goes away with either namespace.
pub fn veth(a: &NetNs, a_if: &str, b: &NetNs, b_if: &str) -> anyhow::Result<()> {
    veth_with_queues(a, a_if, b, b_if, 1)
}

/// [`veth`] with `queues` transmit and receive queues on each end. One
/// queue is one ring of 256 frames, drained by one NAPI context: at
/// hundreds of thousands of frames a second it overflows whenever its
/// softirq waits (the sender's `AF_PACKET` frames are refused, native
/// XDP_TX answers dropped), where a NIC has rings of thousands. With more
/// queues the frames spread over more rings, drained on every CPU; unlike
/// a NIC's receive-side scaling, which keeps a flow on one queue, a veth
/// picks the queue by the sending CPU for XDP_TX, so one session's
/// packets may be handled on several CPUs at once.
pub fn veth_with_queues(a: &NetNs, a_if: &str, b: &NetNs, b_if: &str, queues: u32) -> anyhow::Result<()> {
    let queues = queues.max(1).to_string();
    let per_end = ["numtxqueues", queues.as_str(), "numrxqueues", queues.as_str()];
    let mut command = vec!["link", "add", a_if, "netns", a.name()];
    command.extend(per_end);
    command.extend(["type", "veth", "peer", "name", b_if, "netns", b.name()]);
    command.extend(per_end);
    ip(command)?;
    a.ip(["link", "set", a_if, "up"])?;
    b.ip(["link", "set", b_if, "up"])
}

/// Moves the NAPI polling of `interface` in `netns` to a kernel thread of
/// its own (`/sys/class/net/<interface>/threaded`, Linux 5.12+), so that a
/// frame's receive (the XDP program, the stack) runs in that thread instead
/// of the softirq of whoever queued it: on a veth the sender's, so that
/// without this a daemon's CPU includes its peer's receive of everything
/// it sends. The interface must have NAPI contexts: a veth has them while
/// an XDP program is attached (or GRO is on). The thread (`napi/<if>-<id>`)
/// runs at normal priority.
pub fn threaded_napi(netns: &NetNs, interface: &str) -> anyhow::Result<()> {
    // `ip netns exec` mounts a /sys of the namespace (the host's /sys
    // shows the host's interfaces only); nothing is pinned here.
    let mut command = netns.exec("sh");
    command.arg("-c").arg(format!("echo 1 > /sys/class/net/{interface}/threaded"));
    run(&mut command).map(drop).with_context(|| format!("threaded NAPI on {interface} in {}", netns.name()))
}

/// The kernel threads of `interface`'s NAPI contexts once
/// [`threaded_napi`] made them: by name (`napi/<interface>-<id>`, cut to
/// the 15 bytes a task's name keeps).
pub fn napi_threads(interface: &str) -> Vec<i32> {
    threads_named(&format!("napi/{interface}-").chars().take(15).collect::<String>())
}

/// Every NAPI kernel thread on the machine ([`napi_threads`]).
pub fn all_napi_threads() -> Vec<i32> {
    threads_named("napi/")
}

/// The tasks whose name starts with `name`.
fn threads_named(name: &str) -> Vec<i32> {
    let Ok(processes) = std::fs::read_dir("/proc") else { return Vec::new() };
    processes
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<i32>().ok()?;
            let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            comm.trim_end().starts_with(name).then_some(pid)
        })
        .collect()
}

/// A bpffs directory for one agent instance's pins, unique to this process;
/// on drop every pin in it is removed (which detaches a pinned XDP link)
/// and then the directory.
pub struct PinDir {
    path: PathBuf,
}

impl PinDir {
    /// `/sys/fs/bpf/<prefix><pid>-<n>`, not created: the agent creates it
    /// (mounting bpffs if needed).
    pub fn new(prefix: &str) -> PinDir {
        PinDir { path: Path::new("/sys/fs/bpf").join(unique_name(prefix)) }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A pinned object in it.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(&self.path) else { return };
        for entry in entries.flatten() {
            if let Err(error) = std::fs::remove_file(entry.path()) {
                crate::harness::cleanup_note(format_args!(
                    "cleanup: removing {}: {error}",
                    entry.path().display()
                ));
            }
        }
        if let Err(error) = std::fs::remove_dir(&self.path) {
            crate::harness::cleanup_note(format_args!("cleanup: removing {}: {error}", self.path.display()));
        }
    }
}

/// `CLOCK_MONOTONIC` now, in nanoseconds: the clock of the kernel
/// program's `bpf_ktime_get_ns` and so of its timestamps.
pub fn monotonic_ns() -> u64 {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC");
    now.tv_sec() as u64 * 1_000_000_000 + now.tv_nsec() as u64
}

/// CLOCK_REALTIME, µs: the clock of the packet captures' timestamps.
pub fn realtime_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_micros() as u64
}

/// An XDP program that passes every frame, attached to interfaces of one
/// namespace by BPF links that this value owns: dropping it detaches them.
/// A native XDP_TX from a veth is delivered to its peer only while the
/// peer's NAPI runs, which it does with an XDP program attached (Linux's
/// `veth_xdp_xmit`); a bridge port that must carry the kernel's answers
/// (a capture point between two nodes) gets this one. GRO on the port
/// also runs its NAPI, but then the port drops part of those frames.
pub struct XdpPass {
    _links: Vec<std::os::fd::OwnedFd>,
}

impl XdpPass {
    /// Attaches the pass program to each of `interfaces` in `netns`.
    pub fn attach(netns: &NetNs, interfaces: &[&str]) -> anyhow::Result<XdpPass> {
        let program = load_xdp_pass().context("loading an XDP pass program")?;
        let interfaces: Vec<String> = interfaces.iter().map(|name| (*name).to_owned()).collect();
        let links = netns.run_in(move || {
            interfaces
                .iter()
                .map(|name| {
                    let ifindex = nix::net::if_::if_nametoindex(name.as_str())
                        .with_context(|| format!("interface {name}"))?;
                    xdp_link_create(&program, ifindex)
                        .with_context(|| format!("attaching an XDP pass program to {name}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()
        })?;
        Ok(XdpPass { _links: links })
    }
}

/// `bpf(2)` with an attribute of `size` bytes at `attr`.
///
/// # Safety
/// `attr` must point to `size` readable and writable bytes laid out as
/// `union bpf_attr` for `command`, and every pointer in them must be valid
/// for the call.
unsafe fn bpf(command: libc::c_int, attr: *mut u8, size: usize) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd as _;
    // SAFETY: the caller's contract.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, command, attr, size) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both commands used here return a new descriptor we own.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// `BPF_PROG_LOAD` of `r0 = XDP_PASS; exit`.
fn load_xdp_pass() -> std::io::Result<std::os::fd::OwnedFd> {
    const BPF_PROG_LOAD: libc::c_int = 5;
    const BPF_PROG_TYPE_XDP: u32 = 6;
    const XDP_PASS: i32 = 2;
    // Two instructions: `mov64 r0, XDP_PASS` (opcode 0xb7) and `exit` (0x95).
    let mut instructions = [0u8; 16];
    instructions[0] = 0xb7;
    instructions[4..8].copy_from_slice(&XDP_PASS.to_le_bytes());
    instructions[8] = 0x95;
    let license = c"GPL";
    // union bpf_attr for BPF_PROG_LOAD: prog_type, insn_cnt, insns,
    // license (the rest zero).
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&BPF_PROG_TYPE_XDP.to_le_bytes());
    attr[4..8].copy_from_slice(&2u32.to_le_bytes());
    attr[8..16].copy_from_slice(&(instructions.as_ptr() as u64).to_le_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_le_bytes());
    // SAFETY: `attr` is a 128-byte bpf_attr for BPF_PROG_LOAD whose two
    // pointers (the instructions, the license) outlive the call.
    unsafe { bpf(BPF_PROG_LOAD, attr.as_mut_ptr(), attr.len()) }
}

/// `BPF_LINK_CREATE` attaching `program` as the XDP program of interface
/// `ifindex` in the calling thread's namespace (native mode where the
/// driver has it, as veth does).
fn xdp_link_create(program: &std::os::fd::OwnedFd, ifindex: u32) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::AsRawFd as _;
    const BPF_LINK_CREATE: libc::c_int = 28;
    const BPF_XDP: u32 = 37;
    // union bpf_attr for BPF_LINK_CREATE: prog_fd, target_ifindex,
    // attach_type, flags.
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&(program.as_raw_fd() as u32).to_le_bytes());
    attr[4..8].copy_from_slice(&ifindex.to_le_bytes());
    attr[8..12].copy_from_slice(&BPF_XDP.to_le_bytes());
    // SAFETY: `attr` is a 128-byte bpf_attr for BPF_LINK_CREATE with no
    // pointers in it.
    unsafe { bpf(BPF_LINK_CREATE, attr.as_mut_ptr(), attr.len()) }
}
