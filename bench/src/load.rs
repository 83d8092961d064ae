//! The loads the scenarios run under: none, `stress-ng --cpu 16`, and
//! real-time hogs (`chrt -f 50` busy loops pinned to every core).
//!
//! Every load is a guard: its processes are killed (their whole process
//! group) when it is dropped, on every exit path. As a second line of
//! defence each one also carries its own time limit (`--timeout` /
//! `timeout -s KILL`), so that even a bench killed with SIGKILL leaves no
//! hog behind for long.

use std::{
    os::unix::process::CommandExt as _,
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context as _, bail};
use nix::{sys::signal::Signal, unistd::Pid};

/// The SCHED_FIFO priority of the real-time hogs.
pub const HOG_PRIORITY: u8 = 50;
/// The agent's `rtPriority` when it is to run above the hogs.
pub const AGENT_RT_PRIORITY: u8 = 60;
/// The agent's `rtDeadline` budget when it is to run above the hogs and
/// the kernel's fair server: 300 µs in every 1 ms, far more than two
/// sessions use, and a throttled engine waits at most 0.7 ms.
pub const AGENT_RT_DEADLINE: &str = "300us/1ms";

/// The agent's scheduling configurations: normal, SCHED_FIFO at
/// [`AGENT_RT_PRIORITY`], SCHED_DEADLINE with [`AGENT_RT_DEADLINE`].
pub fn agent_schedulings() -> [bfd_user::config::EngineScheduling; 3] {
    use bfd_user::config::{EngineScheduling, parse_rt_deadline};
    let budget = parse_rt_deadline(AGENT_RT_DEADLINE).expect("AGENT_RT_DEADLINE is a valid budget");
    [EngineScheduling::Normal, EngineScheduling::Fifo(AGENT_RT_PRIORITY), EngineScheduling::Deadline(budget)]
}
/// The bench's own priority while hogs run, so that it can always stop
/// them (its children start with normal scheduling: SCHED_RESET_ON_FORK).
const BENCH_PRIORITY: i32 = 90;

/// A load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    /// Nothing else running.
    Idle,
    /// `stress-ng --cpu 16`: 16 CPU-bound processes, normal scheduling.
    Stress,
    /// `chrt -f 50` busy loops, one pinned to each core.
    RtHogs,
    /// Nothing else running, but node A's `/metrics` scraped every second
    /// (as Prometheus would), from A's namespace: started by the scenario,
    /// which knows the namespace ([`Scraper`]).
    Scraped,
}

impl Load {
    /// Its label in tables.
    pub fn label(self) -> &'static str {
        match self {
            Load::Idle => "unloaded",
            Load::Stress => "stress-ng --cpu 16",
            Load::RtHogs => "chrt -f 50 hogs",
            Load::Scraped => "unloaded, /metrics scraped every 1 s",
        }
    }

    /// Its key in JSON and file names.
    pub fn key(self) -> &'static str {
        match self {
            Load::Idle => "idle",
            Load::Stress => "stress",
            Load::RtHogs => "rt-hogs",
            Load::Scraped => "scraped",
        }
    }

    /// Starts the load; it stops when the guard is dropped, or by itself
    /// after `limit`.
    pub fn start(self, limit: Duration) -> anyhow::Result<LoadGuard> {
        let seconds = limit.as_secs().max(1).to_string();
        let mut guard = LoadGuard { children: Vec::new(), raised: None };
        match self {
            Load::Idle | Load::Scraped => {}
            Load::Stress => {
                let child = Command::new("stress-ng")
                    .args(["--cpu", "16", "--quiet", "--timeout"])
                    .arg(format!("{seconds}s"))
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .process_group(0)
                    .spawn()
                    .context("starting stress-ng (installed by `cargo xtask setup`)")?;
                guard.children.push(child);
            }
            Load::RtHogs => {
                // First raise ourselves above the hogs, or we could not
                // stop them.
                guard.raised = Some(RaisedPriority::new(BENCH_PRIORITY)?);
                for cpu in 0..cpu_count() {
                    let child = Command::new("taskset")
                        .args(["-c", &cpu.to_string(), "chrt", "-f", &HOG_PRIORITY.to_string()])
                        .args(["timeout", "-s", "KILL", &seconds, "sh", "-c", "while :; do :; done"])
                        .stdin(Stdio::null())
                        .process_group(0)
                        .spawn()
                        .context("starting a chrt busy loop")?;
                    guard.children.push(child);
                }
            }
        }
        // Let the load reach its steady state before anything is measured.
        std::thread::sleep(Duration::from_millis(500));
        for child in &mut guard.children {
            if let Some(status) = child.try_wait()? {
                bail!("the {} load exited at once ({status})", self.label());
            }
        }
        Ok(guard)
    }
}

/// A running load; dropping it kills it.
pub struct LoadGuard {
    children: Vec<Child>,
    raised: Option<RaisedPriority>,
}

impl Drop for LoadGuard {
    fn drop(&mut self) {
        for child in &mut self.children {
            // The whole group: stress-ng's workers, timeout's shell.
            let _ = nix::sys::signal::kill(Pid::from_raw(-(child.id() as i32)), Signal::SIGKILL);
            let _ = child.wait();
        }
        self.children.clear();
        // Then drop our own priority (after the hogs are gone).
        self.raised.take();
    }
}

/// The calling thread runs SCHED_FIFO at a priority until dropped; the
/// processes it starts meanwhile do not inherit it (SCHED_RESET_ON_FORK).
struct RaisedPriority;

impl RaisedPriority {
    fn new(priority: i32) -> anyhow::Result<RaisedPriority> {
        let param = libc::sched_param { sched_priority: priority };
        // SAFETY: sched_setscheduler on the calling thread with a valid param.
        let result =
            unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &param) };
        if result != 0 {
            return Err(std::io::Error::last_os_error()).context("raising the bench to SCHED_FIFO");
        }
        Ok(RaisedPriority)
    }
}

impl Drop for RaisedPriority {
    fn drop(&mut self) {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: as above, back to SCHED_OTHER.
        unsafe { libc::sched_setscheduler(0, libc::SCHED_OTHER, &param) };
    }
}

/// Online CPUs.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |count| count.get())
}

/// [`Load::Scraped`]: a thread in a namespace that GETs the agent's
/// default `/metrics` every second until dropped.
pub struct Scraper {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<usize>>,
}

impl Scraper {
    /// Starts scraping in `netns`.
    pub fn start(netns: &bfd_lab::lab::NetNs) -> anyhow::Result<Scraper> {
        use std::sync::atomic::Ordering;
        let file = std::fs::File::open(netns.path())?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            if nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).is_err() {
                return 0;
            }
            let mut scrapes = 0;
            while !stopping.load(Ordering::Relaxed) {
                if bfd_lab::prometheus::http_get(("127.0.0.1", 9784), "/metrics").is_ok() {
                    scrapes += 1;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            scrapes
        });
        Ok(Scraper { stop, thread: Some(thread) })
    }

    /// Stops; how many scrapes succeeded.
    pub fn finish(mut self) -> usize {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().and_then(|thread| thread.join().ok()).unwrap_or(0)
    }
}
