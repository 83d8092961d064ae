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
            eprintln!("cleanup: {error:#}");
        }
    }
}

/// Joins `a` and `b` with a veth pair `a_if` <-> `b_if`, both up. The pair
/// goes away with either namespace.
pub fn veth(a: &NetNs, a_if: &str, b: &NetNs, b_if: &str) -> anyhow::Result<()> {
    ip(["link", "add", a_if, "netns", a.name(), "type", "veth", "peer", "name", b_if, "netns", b.name()])?;
    a.ip(["link", "set", a_if, "up"])?;
    b.ip(["link", "set", b_if, "up"])
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
                eprintln!("cleanup: removing {}: {error}", entry.path().display());
            }
        }
        if let Err(error) = std::fs::remove_dir(&self.path) {
            eprintln!("cleanup: removing {}: {error}", self.path.display());
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
