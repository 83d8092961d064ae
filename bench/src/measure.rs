//! What the scenarios read from the kernel: a process's CPU time, memory
//! and wake-ups (/proc), the machine's busy time (/proc/stat), an
//! interface's packet counters, the memory of an agent's pinned maps, and
//! the wall clock the packet captures use.

use std::{path::Path, process::Command};

use anyhow::Context as _;
use bfd_lab::lab::{NetNs, run_stdout};
use serde_json::Value;

pub use bfd_lab::lab::realtime_us;

/// A process's counters at one moment.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessSample {
    /// Time on CPU of all its threads, ns (schedstat: exact, not ticks).
    pub cpu_ns: u64,
    /// Voluntary context switches of all its threads: each is a sleep,
    /// and so one wake-up.
    pub wakeups: u64,
}

impl ProcessSample {
    /// Reads every thread of `pid`.
    pub fn read(pid: i32) -> anyhow::Result<ProcessSample> {
        let mut sample = ProcessSample::default();
        let tasks =
            std::fs::read_dir(format!("/proc/{pid}/task")).with_context(|| format!("process {pid}"))?;
        for task in tasks.flatten() {
            let path = task.path();
            sample.cpu_ns += schedstat_ns(&path.join("schedstat")).unwrap_or(0);
            if let Ok(text) = std::fs::read_to_string(path.join("status")) {
                sample.wakeups += status_field(&text, "voluntary_ctxt_switches:").unwrap_or(0);
            }
        }
        Ok(sample)
    }

    /// The difference since `earlier`.
    pub fn since(&self, earlier: &ProcessSample) -> ProcessSample {
        ProcessSample {
            cpu_ns: self.cpu_ns.saturating_sub(earlier.cpu_ns),
            wakeups: self.wakeups.saturating_sub(earlier.wakeups),
        }
    }
}

fn status_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find(|line| line.starts_with(key))?.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time of every NAPI thread on the machine so far, ns (kernel
/// threads named `napi/<interface>-<id>`: the receive of interfaces with
/// threaded NAPI, [`bfd_lab::lab::threaded_napi`]).
pub fn napi_threads_cpu_ns() -> u64 {
    bfd_lab::lab::all_napi_threads()
        .into_iter()
        .filter_map(|pid| schedstat_ns(Path::new(&format!("/proc/{pid}/schedstat"))))
        .sum()
}

/// A task's time on CPU so far, ns: the first field of its `schedstat`.
fn schedstat_ns(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.split_whitespace().next()?.parse().ok()
}

/// Resident memory of `pid`, KiB (VmRSS).
pub fn rss_kib(pid: i32) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status_field(&text, "VmRSS:").context("no VmRSS")
}

/// The machine's busy time so far, seconds (every CPU: user, nice,
/// system, irq, softirq, steal), from /proc/stat.
pub fn machine_busy_seconds() -> anyhow::Result<f64> {
    let text = std::fs::read_to_string("/proc/stat")?;
    let line = text.lines().find(|line| line.starts_with("cpu ")).context("no cpu line in /proc/stat")?;
    let ticks: Vec<u64> = line.split_whitespace().skip(1).filter_map(|field| field.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is
    // already inside user).
    let busy: u64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(index, _)| *index != 3 && *index != 4)
        .map(|(_, t)| t)
        .sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok(busy as f64 / hz)
}

/// What `interface` in `netns` has counted so far (`ip -s link`).
#[derive(Clone, Copy, Debug, Default)]
pub struct LinkCounters {
    /// Packets received.
    pub rx: u64,
    /// Packets sent.
    pub tx: u64,
    /// Packets dropped either way. On a veth: a frame sent when the far
    /// end's XDP ring (256 frames) is full, an `XDP_TX` or redirect that
    /// does not fit, an skb the far end's backlog refuses.
    pub dropped: u64,
}

impl LinkCounters {
    /// What was counted between `earlier` and this.
    pub fn since(&self, earlier: &LinkCounters) -> LinkCounters {
        LinkCounters {
            rx: self.rx.saturating_sub(earlier.rx),
            tx: self.tx.saturating_sub(earlier.tx),
            dropped: self.dropped.saturating_sub(earlier.dropped),
        }
    }
}

/// What `interface` in `netns` has counted so far.
pub fn link_counters(netns: &NetNs, interface: &str) -> anyhow::Result<LinkCounters> {
    let text = run_stdout(Command::new("ip").args([
        "-n",
        netns.name(),
        "-s",
        "-j",
        "link",
        "show",
        "dev",
        interface,
    ]))?;
    let json: Value = serde_json::from_str(&text).with_context(|| format!("ip -s -j link: {text}"))?;
    let stats = &json[0]["stats64"];
    let count = |direction: &str, field: &str| stats[direction][field].as_u64().unwrap_or(0);
    Ok(LinkCounters {
        rx: count("rx", "packets"),
        tx: count("tx", "packets"),
        dropped: count("rx", "dropped") + count("tx", "dropped"),
    })
}

/// The memory the kernel charges for the maps pinned in `pin_dir`, bytes
/// (`bytes_memlock` of `bpftool map show pinned`).
pub fn pinned_map_bytes(pin_dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in
        std::fs::read_dir(pin_dir).with_context(|| format!("reading {}", pin_dir.display()))?.flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("link") {
            continue;
        }
        let Ok(text) =
            run_stdout(Command::new("bpftool").args(["-j", "map", "show", "pinned"]).arg(entry.path()))
        else {
            continue;
        };
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        total += json["bytes_memlock"].as_u64().unwrap_or(0);
    }
    Ok(total)
}

/// The pid of the process whose command line contains `needle` (an
/// agent's unique control socket path).
pub fn find_pid(needle: &str) -> Option<i32> {
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
        if pid == me {
            return None;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline);
        // `run` excludes the CLI (`show peers ... --control-socket`), and
        // nsenter execs the agent in place, so one process matches.
        (cmdline.contains(needle) && cmdline.split('\0').nth(1) == Some("run")).then_some(pid)
    })
}
