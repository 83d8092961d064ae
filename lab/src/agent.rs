//! `bfd-agent run` in a namespace, as an RAII guard: its own work
//! directory (configuration files, control socket, log), its own bpffs pin
//! directory, and the operator CLI pointed at its control socket.
//!
//! On drop the agent gets SIGTERM, then SIGKILL after 5 s, and its pins and
//! directory are removed. If the test fails, its log is printed first (see
//! [`crate::harness`]; the test harness shows it with the failure).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use nix::{sys::signal::Signal, unistd::Pid};
use serde_json::Value;

use crate::{
    e2e::LogLine,
    harness::text_on_failure,
    lab::{NetNs, PinDir, agent_binary, run_stdout, unique_name, wait_for},
};

/// How to start an agent.
#[derive(Clone, Debug)]
pub struct AgentArgs {
    /// Interface for the XDP program (`--iface`), if any.
    pub iface: Option<String>,
    /// `--no-xdp`.
    pub no_xdp: bool,
    /// `--mode` (auto, native, generic), if given.
    pub mode: Option<String>,
    /// The configuration files' contents: written as `config-<n>.yaml` in
    /// the agent's directory, each given with `--config`.
    pub configs: Vec<String>,
    /// `--log`.
    pub log: String,
    /// More arguments for `run` (e.g. `--frr-dplane ADDRESS`).
    pub extra: Vec<String>,
}

impl AgentArgs {
    /// One configuration file, XDP on `iface`, `--log info`.
    pub fn new(iface: &str, config: impl Into<String>) -> AgentArgs {
        AgentArgs {
            iface: Some(iface.to_owned()),
            no_xdp: false,
            mode: None,
            configs: vec![config.into()],
            log: "info".to_owned(),
            extra: Vec::new(),
        }
    }
}

/// A running `bfd-agent run`.
pub struct Agent {
    name: String,
    binary: PathBuf,
    dir: PathBuf,
    child: Option<Child>,
    pins: PinDir,
    started: Instant,
    config_count: usize,
}

impl Agent {
    /// Starts the agent with one config file and XDP on `iface`.
    pub fn start(netns: &NetNs, name: &str, iface: &str, config: &str) -> anyhow::Result<Agent> {
        Agent::start_with(netns, name, AgentArgs::new(iface, config))
    }

    /// Starts the agent in `netns` (with `nsenter --net`, so that its
    /// bpffs pins are the host's) and waits until its control socket
    /// answers. `name` labels its log.
    pub fn start_with(netns: &NetNs, name: &str, args: AgentArgs) -> anyhow::Result<Agent> {
        Agent::start_binary(netns, name, args, agent_binary()?)
    }

    /// [`start_with`](Self::start_with) running `binary` (another build of
    /// the agent) instead of the one under test.
    pub fn start_binary(
        netns: &NetNs,
        name: &str,
        args: AgentArgs,
        binary: PathBuf,
    ) -> anyhow::Result<Agent> {
        let dir = std::env::temp_dir().join(unique_name("bfda"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let pins = PinDir::new("bfda");
        let mut agent = Agent {
            name: name.to_owned(),
            binary: binary.clone(),
            dir,
            child: None,
            pins,
            started: Instant::now(),
            config_count: args.configs.len(),
        };
        agent.spawn(netns, &args)?;
        Ok(agent)
    }

    /// Runs `binary` (another build of the agent) from the next
    /// [`restart`](Self::restart), [`surge`](Self::surge) or
    /// [`spawn_beside`](Self::spawn_beside) on: an upgrade or a downgrade.
    pub fn set_binary(&mut self, binary: PathBuf) {
        self.binary = binary;
    }

    /// Starts the agent again, after [`kill`](Self::kill) or
    /// [`terminate`](Self::terminate), with the same pin path, control
    /// socket and directory (its log is appended to), and waits until its
    /// control socket answers.
    pub fn restart(&mut self, netns: &NetNs, args: &AgentArgs) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "agent {} still runs", self.name);
        self.spawn(netns, args)
    }

    /// SIGKILL: the agent dies at once, leaving its pins.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        let mut child = self.child.take().context("agent stopped")?;
        child.kill()?;
        child.wait()?;
        Ok(())
    }

    /// SIGTERM, and waits (5 s at most) for a successful exit; unlike
    /// [`stop`](Self::stop) it accepts pins left behind (`--on-stop
    /// handover`).
    pub fn terminate(&mut self) -> anyhow::Result<()> {
        let mut child = self.child.take().context("agent stopped")?;
        nix::sys::signal::kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM)?;
        let status =
            wait_for(&format!("agent {} to exit after SIGTERM", self.name), Duration::from_secs(5), || {
                Ok(child.try_wait()?)
            })?;
        anyhow::ensure!(status.success(), "agent {} exited with {status} after SIGTERM", self.name);
        Ok(())
    }

    /// A DaemonSet surge: starts a second agent on the same pin path and
    /// control socket while this one runs, waits for this one to exit by
    /// itself (successfully: it handed its sessions over) and for the new
    /// one's control socket to answer; the new one is this guard's from
    /// then on. Returns how long the old one took to exit, from the new
    /// one's start.
    pub fn surge(&mut self, netns: &NetNs, args: &AgentArgs) -> anyhow::Result<Duration> {
        let mut predecessor = self.child.take().context("agent stopped")?;
        let started = Instant::now();
        let name = self.name.clone();
        let exited = self.spawn_only(netns, args).and_then(|()| {
            wait_for(
                &format!("agent {name}'s predecessor to exit by itself"),
                Duration::from_secs(10),
                || Ok(predecessor.try_wait()?),
            )
        });
        let exited = match exited {
            Ok(status) => status,
            Err(error) => {
                let _ = predecessor.kill();
                let _ = predecessor.wait();
                return Err(error);
            }
        };
        let handed_over_in = started.elapsed();
        anyhow::ensure!(exited.success(), "agent {}'s predecessor exited with {exited}", self.name);
        self.wait_until_answering()?;
        Ok(handed_over_in)
    }

    /// Starts one more agent on the same pin path and control socket,
    /// without waiting for anything: the running one stays this guard's;
    /// the new process is returned (a successor told to wait, say).
    pub fn spawn_beside(&mut self, netns: &NetNs, args: &AgentArgs) -> anyhow::Result<Child> {
        let running = self.child.take();
        let spawned = self.spawn_only(netns, args);
        let beside = std::mem::replace(&mut self.child, running);
        spawned?;
        beside.context("not started")
    }

    /// Makes `child` (from [`spawn_beside`](Self::spawn_beside)) this
    /// guard's agent, once the previous one has stopped, and waits until
    /// its control socket answers.
    pub fn take_over(&mut self, child: Child) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "agent {} still runs", self.name);
        self.child = Some(child);
        self.wait_until_answering()
    }

    fn spawn(&mut self, netns: &NetNs, args: &AgentArgs) -> anyhow::Result<()> {
        self.spawn_only(netns, args)?;
        self.wait_until_answering()
    }

    fn spawn_only(&mut self, netns: &NetNs, args: &AgentArgs) -> anyhow::Result<()> {
        let agent = self;
        let mut command = netns.command(&agent.binary);
        command.arg("run");
        for (index, text) in args.configs.iter().enumerate() {
            let path = agent.config_path(index);
            // Unchanged files are not written again: a running agent (a
            // surge's predecessor) would take the write for a change.
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            }
            command.arg("--config").arg(path);
        }
        if let Some(iface) = &args.iface {
            command.args(["--iface", iface]);
        }
        if args.no_xdp {
            command.arg("--no-xdp");
        }
        if let Some(mode) = &args.mode {
            command.args(["--mode", mode]);
        }
        command.arg("--pin-path").arg(agent.pins.path());
        command.arg("--control-socket").arg(agent.socket());
        // JSON lines: the tests read the events' fields, not their text. An
        // earlier build without `--log-format` (the changed-program test's)
        // logs text, read line by line (`LogLine::new`).
        command.args(["--log", &args.log]);
        if supports_json_log(&agent.binary) {
            command.args(["--log-format", "json"]);
        }
        command.args(&args.extra);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(agent.log_path())?;
        command.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        agent.started = Instant::now();
        agent.child = Some(command.spawn().with_context(|| format!("starting {command:?}"))?);
        Ok(())
    }

    fn wait_until_answering(&mut self) -> anyhow::Result<()> {
        let agent = self;
        let name = agent.name.clone();
        wait_for(&format!("agent {name}'s control socket"), Duration::from_secs(10), || {
            if let Some(status) = agent.child.as_mut().and_then(|child| child.try_wait().ok().flatten()) {
                bail!("agent {name} exited ({status}) while starting:\n{}", agent.log());
            }
            // Its status, not every session's report: at 10,000 sessions
            // that took a second or more.
            Ok(run_stdout(&mut agent.cli(["show", "status", "--json"])).ok())
        })?;
        Ok(())
    }

    /// The agent's process id (`nsenter` execs it, so the child is the
    /// agent), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Its threads: (thread id, name), from /proc.
    pub fn threads(&self) -> anyhow::Result<Vec<(u32, String)>> {
        let pid = self.pid().context("the agent is not running")?;
        let mut threads = Vec::new();
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
            let task = task?;
            let tid = task.file_name().to_string_lossy().parse().context("a task id")?;
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            threads.push((tid, comm.trim_end().to_owned()));
        }
        Ok(threads)
    }

    /// The thread id of its thread named `name` (`bfd-engine`, ...).
    pub fn thread_id(&self, name: &str) -> anyhow::Result<u32> {
        let found = self.threads()?.into_iter().find(|(_, comm)| comm == name);
        found.map(|(tid, _)| tid).with_context(|| format!("agent {} has no thread named {name}", self.name))
    }

    /// When the process was spawned.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Its label.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The n-th configuration file.
    pub fn config_path(&self, index: usize) -> PathBuf {
        self.dir.join(format!("config-{index}.yaml"))
    }

    /// How many configuration files it was given.
    pub fn config_count(&self) -> usize {
        self.config_count
    }

    /// Replaces the n-th configuration file the way editors and
    /// `kubectl`-driven tooling do: write a temporary file beside it, then
    /// rename it over the old one.
    pub fn rewrite_config(&self, index: usize, text: &str) -> anyhow::Result<()> {
        let path = self.config_path(index);
        let temporary = self.dir.join(format!(".config-{index}.yaml.tmp"));
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, &path).with_context(|| format!("replacing {}", path.display()))
    }

    /// Its control socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("ctl.sock")
    }

    /// Its bpffs pin directory.
    pub fn pin_path(&self) -> &Path {
        self.pins.path()
    }

    /// Where its stderr goes (JSON lines: `--log-format json`).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("agent.log")
    }

    /// Its log file so far, as written: JSON lines (and whatever else
    /// reached stderr, a panic's message say).
    pub fn raw_log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Its log so far, for people: each JSON event in tracing's text form,
    /// other lines as they are.
    pub fn log(&self) -> String {
        let mut text = String::new();
        for line in self.raw_log().lines() {
            match LogLine::from_json(line) {
                Some(event) => text.push_str(&event.text),
                None => text.push_str(line),
            }
            text.push('\n');
        }
        text
    }

    /// Every event logged so far (its JSON lines, parsed; an earlier
    /// build's text lines as they are).
    pub fn events(&self) -> Vec<LogLine> {
        self.raw_log()
            .lines()
            .filter_map(|line| {
                LogLine::from_json(line).or_else(|| {
                    // tracing's text form starts with its RFC 3339 timestamp.
                    line.starts_with(|c: char| c.is_ascii_digit()).then(|| LogLine::new(line))
                })
            })
            .collect()
    }

    /// The events whose message contains `message` (a text line's text).
    pub fn log_lines(&self, message: &str) -> Vec<LogLine> {
        self.events().into_iter().filter(|event| event.says(message)).collect()
    }

    /// Whether an event's message or one of its fields' values contains
    /// `text` (e.g. a `scheduling` field's `SCHED_FIFO 10`).
    pub fn logged(&self, text: &str) -> bool {
        self.events().iter().any(|event| event.mentions(text))
    }

    /// Every `session state change` line so far.
    pub fn state_changes(&self) -> Vec<LogLine> {
        self.log_lines("session state change")
    }

    /// Every `kernel detection event` line so far.
    pub fn kernel_events(&self) -> Vec<LogLine> {
        self.log_lines("kernel detection event")
    }

    /// `bfd-agent ARGS... --control-socket SOCKET` (the CLI needs no
    /// namespace: it only talks to the socket).
    pub fn cli<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(&self, args: I) -> Command {
        let mut command = Command::new(&self.binary);
        command.args(args).arg("--control-socket").arg(self.socket());
        command
    }

    fn try_show_peers(&self) -> anyhow::Result<Vec<Value>> {
        let text = run_stdout(&mut self.cli(["show", "peers", "--json"]))?;
        let json: Value =
            serde_json::from_str(&text).with_context(|| format!("show peers --json: {text}"))?;
        json.as_array().cloned().with_context(|| format!("show peers --json is not an array: {json:#}"))
    }

    /// `show peers --json`: one object per session, FRR's keys.
    pub fn show_peers(&self) -> anyhow::Result<Vec<Value>> {
        self.ensure_running()?;
        self.try_show_peers()
    }

    /// `show status --json`: the agent's own state (version, sessions and
    /// how many are Up, transmit and receive counters).
    pub fn status(&self) -> anyhow::Result<Value> {
        self.ensure_running()?;
        let text = run_stdout(&mut self.cli(["show", "status", "--json"]))?;
        serde_json::from_str(&text).with_context(|| format!("show status --json: {text}"))
    }

    /// `show peers counters --json`.
    pub fn show_counters(&self) -> anyhow::Result<Vec<Value>> {
        self.ensure_running()?;
        let text = run_stdout(&mut self.cli(["show", "peers", "counters", "--json"]))?;
        let json: Value = serde_json::from_str(&text).with_context(|| format!("counters --json: {text}"))?;
        json.as_array().cloned().with_context(|| format!("counters --json is not an array: {json:#}"))
    }

    /// The control packets the agent sent itself so far, every session's
    /// `control-packet-output` summed (the kernel's answers are not its).
    pub fn control_packets_sent(&self) -> anyhow::Result<u64> {
        Ok(self
            .show_counters()?
            .iter()
            .map(|session| crate::e2e::count(session, "control-packet-output"))
            .sum())
    }

    /// The session with `peer` in `show peers --json`, if there is one.
    pub fn peer(&self, peer: &str) -> anyhow::Result<Option<Value>> {
        Ok(self.show_peers()?.into_iter().find(|session| session["peer"] == peer))
    }

    /// The session with `peer`, which must exist.
    pub fn session(&self, peer: &str) -> anyhow::Result<Value> {
        self.peer(peer)?.with_context(|| format!("agent {}: no session with {peer}", self.name))
    }

    /// Waits until the session with `peer` has `status` ("up", "down",
    /// "init", "shutdown"); returns its `show peers` object.
    pub fn wait_status(&self, peer: &str, status: &str, timeout: Duration) -> anyhow::Result<Value> {
        wait_for(&format!("agent {}: session with {peer} {status}", self.name), timeout, || {
            Ok(self.peer(peer)?.filter(|session| session["status"] == status))
        })
    }

    /// `bfd-agent xdp stats --json` on its pins.
    pub fn xdp_stats(&self) -> anyhow::Result<Value> {
        let text = run_stdout(
            Command::new(&self.binary).args(["xdp", "stats", "--json", "--pin-path"]).arg(self.pins.path()),
        )?;
        serde_json::from_str(&text).with_context(|| format!("xdp stats --json: {text}"))
    }

    /// `bfd-agent reload`: the agent's summary line.
    pub fn reload(&self) -> anyhow::Result<String> {
        run_stdout(&mut self.cli(["reload"]))
    }

    /// Fails (with the log) if the process has exited.
    pub fn ensure_running(&self) -> anyhow::Result<()> {
        let Some(child) = &self.child else { bail!("agent {} was stopped", self.name) };
        let pid = Pid::from_raw(child.id() as i32);
        // A zombie still answers kill(0): read its state instead.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next());
        if stat.is_empty() || state == Some("Z") {
            bail!("agent {} has exited:\n{}", self.name, self.log());
        }
        Ok(())
    }

    /// Sends SIGHUP (reload).
    pub fn hangup(&self) -> anyhow::Result<()> {
        let child = self.child.as_ref().context("agent stopped")?;
        nix::sys::signal::kill(Pid::from_raw(child.id() as i32), Signal::SIGHUP)?;
        Ok(())
    }

    /// Stops the agent with SIGTERM and checks that it exits 0 within 5 s
    /// and removes its pins (which detaches the XDP program).
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        nix::sys::signal::kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM)?;
        let status =
            wait_for(&format!("agent {} to exit after SIGTERM", self.name), Duration::from_secs(5), || {
                Ok(child.try_wait()?)
            });
        let status = match status {
            Ok(status) => status,
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(error);
            }
        };
        anyhow::ensure!(status.success(), "agent {} exited with {status} after SIGTERM", self.name);
        let leftovers: Vec<_> = std::fs::read_dir(self.pins.path())
            .map(|entries| entries.flatten().map(|entry| entry.path()).collect())
            .unwrap_or_default();
        anyhow::ensure!(leftovers.is_empty(), "agent {} left pins behind: {leftovers:?}", self.name);
        anyhow::ensure!(!self.socket().exists(), "agent {} left its control socket behind", self.name);
        Ok(())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, Signal::SIGTERM);
            let exited =
                wait_for("the agent to exit", Duration::from_secs(5), || Ok(child.try_wait()?.map(drop)));
            if exited.is_err() {
                crate::harness::cleanup_note(format_args!(
                    "cleanup: agent {} ignored SIGTERM for 5 s: SIGKILL",
                    self.name
                ));
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        text_on_failure(&format!("agent {}", self.name), &self.log_path(), || self.log());
        let _ = std::fs::remove_dir_all(&self.dir);
        // `pins` (a PinDir) removes whatever is left in the bpffs
        // directory when dropped after this.
    }
}

/// Whether the agent `binary` takes `--log-format` (builds before it log
/// text only); asked once per binary.
fn supports_json_log(binary: &Path) -> bool {
    static ASKED: std::sync::Mutex<Vec<(PathBuf, bool)>> = std::sync::Mutex::new(Vec::new());
    let mut asked = ASKED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, supported)) = asked.iter().find(|(path, _)| path == binary) {
        return *supported;
    }
    let supported = Command::new(binary)
        .args(["run", "--help"])
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).contains("--log-format"));
    asked.push((binary.to_owned(), supported));
    supported
}
