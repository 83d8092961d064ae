//! FRR, started by hand in a namespace (no systemd), as
//! shared/reference/frr-bfdd.md describes: a directory of its own owned by
//! the `frr` user, pre-created log files, no TCP vty (`-P 0`). One launcher
//! for every release ([`FrrRelease`]): Debian 12's 8.4 from the host, or
//! sid's 10.7 from its root file system ([`crate::peers`]), chrooted.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::Context as _;
use serde_json::Value;

use crate::{
    harness::log_on_failure,
    lab::{NetNs, run, run_stdout, unique_name, wait_for},
    peers::{Rootfs, STATE_IN_ROOTFS, check_release},
};

/// An FRR release the lab can start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrrRelease {
    /// Debian 12's FRR 8.4, installed on the host.
    V8_4,
    /// Debian sid's FRR 10.7, from the `sid-frr-bird2` root file system.
    /// bfdd has no `--bfdctl` any more.
    V10_7,
}

impl FrrRelease {
    /// Every release, oldest first.
    pub const ALL: [FrrRelease; 2] = [FrrRelease::V8_4, FrrRelease::V10_7];

    /// `8.4`, `10.7`.
    pub fn version(self) -> &'static str {
        match self {
            FrrRelease::V8_4 => "8.4",
            FrrRelease::V10_7 => "10.7",
        }
    }

    fn rootfs(self) -> anyhow::Result<Option<Rootfs>> {
        match self {
            FrrRelease::V8_4 => Ok(None),
            FrrRelease::V10_7 => Rootfs::open("sid-frr-bird2").map(Some),
        }
    }
}

impl std::fmt::Display for FrrRelease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FRR {}", self.version())
    }
}

/// What [`Frr::start_stack`] runs: zebra always, bfdd with its
/// configuration, staticd (and in 10.x mgmtd) and bgpd if configured.
#[derive(Clone, Debug, Default)]
pub struct FrrStack {
    /// bfdd.conf (after the log lines).
    pub bfdd: String,
    /// bfdd's `--dplaneaddr`, if any; `unix:NAME` (relative) is a socket
    /// in the daemons' directory ([`Frr::dplane_address`] gives its path).
    pub bfdd_dplane: Option<String>,
    /// bgpd.conf, if bgpd runs.
    pub bgpd: Option<String>,
    /// Static routes, if staticd runs: staticd.conf in 8.4 (whose staticd
    /// has no `ip route ... bfd`); in 10.x staticd takes its configuration
    /// from mgmtd, which reads no file: these lines go to it through vtysh
    /// once the daemons run.
    pub staticd: Option<String>,
    /// More arguments for bfdd (e.g. `-A 127.0.0.1`, as MetalLB's
    /// `daemons` file has).
    pub bfdd_options: Vec<String>,
    /// One integrated configuration for every daemon (frr.conf, as MetalLB
    /// renders it), loaded through `vtysh -f` once the daemons run, as
    /// FRR's init script does with an integrated configuration. The
    /// per-daemon configurations above still give each its log.
    pub integrated: Option<String>,
}

/// FRR's daemons in a namespace, with JSON accessors: bfdd alone
/// ([`Frr::start`]), or zebra and bfdd ([`Frr::start_with_zebra`]: bfdd
/// learns interfaces only from zebra, and needs them for `interface` peers
/// and for echo), or zebra, bfdd and bgpd ([`Frr::start_stack`]). On drop
/// the daemons are stopped, their directory removed, and bfdd's log (and
/// bgpd's and zebra's if bgpd ran) printed unless the test passed.
pub struct Frr {
    dir: PathBuf,
    release: FrrRelease,
    rootfs: Option<Rootfs>,
    daemons: Vec<&'static str>,
    dplane: Option<String>,
    bfdd_options: Vec<String>,
    print_logs: bool,
}

impl Frr {
    /// Starts FRR 8.4's bfdd in `netns` with `config` (see
    /// [`crate::e2e::frr_config`]).
    pub fn start(netns: &NetNs, config: &str) -> anyhow::Result<Frr> {
        Frr::start_release(netns, FrrRelease::V8_4, config)
    }

    /// Starts `release`'s bfdd in `netns` with `config`.
    pub fn start_release(netns: &NetNs, release: FrrRelease, config: &str) -> anyhow::Result<Frr> {
        Frr::launch(netns, release, false, &FrrStack { bfdd: config.to_owned(), ..FrrStack::default() })
    }

    /// Starts FRR 8.4's zebra, then bfdd with `config`, in `netns`.
    pub fn start_with_zebra(netns: &NetNs, config: &str) -> anyhow::Result<Frr> {
        Frr::start_with_zebra_release(netns, FrrRelease::V8_4, config)
    }

    /// Starts `release`'s zebra, then bfdd with `config`, in `netns`.
    pub fn start_with_zebra_release(netns: &NetNs, release: FrrRelease, config: &str) -> anyhow::Result<Frr> {
        Frr::launch(netns, release, true, &FrrStack { bfdd: config.to_owned(), ..FrrStack::default() })
    }

    /// Starts FRR 8.4's zebra, bfdd and, if configured, bgpd in `netns`.
    pub fn start_stack(netns: &NetNs, stack: &FrrStack) -> anyhow::Result<Frr> {
        Frr::start_stack_release(netns, FrrRelease::V8_4, stack)
    }

    /// Starts `release`'s zebra, bfdd and, if configured, bgpd in `netns`.
    pub fn start_stack_release(netns: &NetNs, release: FrrRelease, stack: &FrrStack) -> anyhow::Result<Frr> {
        Frr::launch(netns, release, true, stack)
    }

    fn launch(netns: &NetNs, release: FrrRelease, zebra: bool, stack: &FrrStack) -> anyhow::Result<Frr> {
        let rootfs = release.rootfs()?;
        let version = match &rootfs {
            Some(rootfs) => rootfs.version("/usr/lib/frr/bfdd")?,
            None => host_version()?,
        };
        check_release("bfdd", release.version(), &version)?;
        let dir = std::env::temp_dir().join(unique_name("frr"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut frr = Frr {
            dir,
            release,
            rootfs,
            daemons: Vec::new(),
            dplane: stack.bfdd_dplane.clone(),
            bfdd_options: stack.bfdd_options.clone(),
            print_logs: true,
        };
        let mut daemons = Vec::new();
        if zebra {
            daemons.push(("zebra", "debug zebra kernel\ndebug zebra rib\n".to_owned()));
        }
        daemons.push(("bfdd", stack.bfdd.clone()));
        if let Some(routes) = &stack.staticd {
            if release == FrrRelease::V8_4 {
                daemons.push(("staticd", routes.clone()));
            } else {
                daemons.push(("mgmtd", routes.clone()));
                daemons.push(("staticd", String::new()));
            }
        }
        if let Some(bgpd) = &stack.bgpd {
            daemons.push(("bgpd", bgpd.clone()));
        }
        for (daemon, config) in &daemons {
            std::fs::write(frr.dir.join(format!("{daemon}.log")), "")?;
            std::fs::write(
                frr.dir.join(format!("{daemon}.conf")),
                format!(
                    "log file {}\nlog timestamp precision 6\n{config}",
                    frr.daemon_path(&format!("{daemon}.log")).display()
                ),
            )?;
        }
        // The daemons drop privileges to `frr`: the directory is theirs
        // (sid's `frr` has other ids than the host's).
        let owner = match &frr.rootfs {
            Some(rootfs) => {
                let (uid, gid) = rootfs.user_ids("frr")?;
                format!("{uid}:{gid}")
            }
            None => "frr:frr".to_owned(),
        };
        run(Command::new("chown").arg("-R").arg(owner).arg(&frr.dir))?;
        run(Command::new("chmod").arg("0775").arg(&frr.dir))?;
        for (daemon, _) in &daemons {
            frr.daemons.push(daemon);
            frr.start_daemon(netns, daemon)?;
        }
        if let Some(integrated) = &stack.integrated {
            std::fs::write(frr.dir.join("frr.conf"), integrated)?;
            let output = run_stdout(
                frr.command(None, "vtysh")
                    .arg("--vty_socket")
                    .arg(frr.daemon_path(""))
                    .arg("-f")
                    .arg(frr.daemon_path("frr.conf")),
            )?;
            if output.contains('%') {
                anyhow::bail!("{release} refused frr.conf: {output}");
            }
        }
        // mgmtd reads no configuration file: its part goes through vtysh.
        if let (Some(routes), true) = (&stack.staticd, frr.daemons.contains(&"mgmtd")) {
            let mut vtysh = frr.command(None, "vtysh");
            vtysh.arg("--vty_socket").arg(frr.daemon_path("")).args(["-c", "configure terminal"]);
            for line in routes.lines().filter(|line| !line.trim().is_empty()) {
                vtysh.args(["-c", line]);
            }
            let output = run_stdout(&mut vtysh)?;
            if output.contains('%') {
                anyhow::bail!("{release} mgmtd refused its configuration: {output}");
            }
        }
        Ok(frr)
    }

    /// `name` in the state directory as the daemons see it.
    fn daemon_path(&self, name: &str) -> PathBuf {
        match self.rootfs {
            Some(_) => Path::new(STATE_IN_ROOTFS).join(name),
            None => self.dir.join(name),
        }
    }

    /// A command running `program` (a path in the release's file system)
    /// as this release runs its daemons.
    fn command(&self, netns: Option<&NetNs>, program: &str) -> Command {
        match (&self.rootfs, netns) {
            (Some(rootfs), netns) => rootfs.command(netns, &self.dir, program),
            // FRR on the host wants its own view of /sys.
            (None, Some(netns)) => netns.exec(program),
            (None, None) => Command::new(program),
        }
    }

    /// Starts one daemon (daemonized) and waits for its socket.
    fn start_daemon(&self, netns: &NetNs, daemon: &str) -> anyhow::Result<()> {
        let mut command = self.command(Some(netns), &format!("/usr/lib/frr/{daemon}"));
        command.arg("-d");
        if self.release != FrrRelease::V8_4 && ["mgmtd", "staticd"].contains(&daemon) {
            // No -f (10.x's mgmtd and staticd have none): the log named here
            // instead, staticd's configuration comes from mgmtd.
            command
                .arg("--log")
                .arg(format!("file:{}", self.daemon_path(&format!("{daemon}.log")).display()));
        } else {
            command.arg("-f").arg(self.daemon_path(&format!("{daemon}.conf")));
        }
        command
            .arg("-i")
            .arg(self.daemon_path(&format!("{daemon}.pid")))
            .arg("--vty_socket")
            .arg(self.daemon_path(""))
            .arg("-z")
            .arg(self.daemon_path("zserv.api"))
            .args(["-P", "0"]);
        if daemon == "bfdd" {
            // 8.4's bfdd opens a control socket (default under
            // /var/run/frr); 10.x dropped it.
            if self.release == FrrRelease::V8_4 {
                command.arg("--bfdctl").arg(self.daemon_path("bfdd.sock"));
            }
            if let Some(address) = &self.dplane {
                command.arg("--dplaneaddr").arg(self.address_as_seen(address, true));
            }
            command.args(&self.bfdd_options);
        }
        // FRR 10 keeps the stdout it was started with after daemonizing: a
        // file, not a pipe `run` would wait on forever.
        let out_path = self.dir.join(format!("{daemon}.out"));
        let out = std::fs::File::create(&out_path)?;
        command.stdin(std::process::Stdio::null()).stdout(out.try_clone()?).stderr(out);
        run(&mut command).with_context(|| {
            format!("{} {daemon}: {}", self.release, std::fs::read_to_string(&out_path).unwrap_or_default())
        })?;
        let ready = if daemon == "zebra" { "zserv.api".to_owned() } else { format!("{daemon}.vty") };
        let ready = self.dir.join(ready);
        wait_for(&format!("{} {daemon}'s socket", self.release), Duration::from_secs(10), || {
            Ok(ready.exists().then_some(()))
        })
    }

    /// A data-plane address as bfdd (`by_daemon`) or the host sees it: a
    /// relative `unix:NAME` is a socket in the daemons' directory (the only
    /// place a chrooted bfdd and the host share).
    fn address_as_seen(&self, address: &str, by_daemon: bool) -> String {
        match address.strip_prefix("unix:") {
            Some(name) if !name.starts_with('/') => {
                let path = if by_daemon { self.daemon_path(name) } else { self.dir.join(name) };
                format!("unix:{}", path.display())
            }
            _ => address.to_owned(),
        }
    }

    /// bfdd's `--dplaneaddr` as the host (the agent) sees it.
    pub fn dplane_address(&self) -> Option<String> {
        self.dplane.as_deref().map(|address| self.address_as_seen(address, false))
    }

    /// Which release this is.
    pub fn release(&self) -> FrrRelease {
        self.release
    }

    /// Kills bfdd (SIGKILL: no goodbye to its data plane) and waits until it
    /// is gone.
    pub fn kill_bfdd(&self) -> anyhow::Result<()> {
        let pid = daemon_pid(self.dir(), "bfdd")?;
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL)?;
        wait_for("bfdd to exit", Duration::from_secs(5), || {
            Ok(nix::sys::signal::kill(pid, None).is_err().then_some(()))
        })?;
        let _ = std::fs::remove_file(self.dir().join("bfdd.vty"));
        Ok(())
    }

    /// Starts bfdd again, as it was started. (`stack` is the one it was
    /// started with; its data-plane address is the one used.)
    pub fn restart_bfdd(&self, stack: &FrrStack, netns: &NetNs) -> anyhow::Result<()> {
        debug_assert_eq!(stack.bfdd_dplane, self.dplane);
        self.start_daemon(netns, "bfdd")
    }

    /// The daemons' directory on the host (configuration, logs, vty
    /// sockets).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs a vtysh command against these daemons (the release's own vtysh).
    pub fn vtysh(&self, command: &str) -> anyhow::Result<String> {
        run_stdout(
            self.command(None, "vtysh").arg("--vty_socket").arg(self.daemon_path("")).args(["-c", command]),
        )
    }

    fn json(&self, command: &str) -> anyhow::Result<Vec<Value>> {
        let text = self.vtysh(command)?;
        let json: Value = serde_json::from_str(&text).with_context(|| format!("{command}: {text}"))?;
        json.as_array().cloned().with_context(|| format!("{command} is not an array: {json:#}"))
    }

    /// `show bfd peers json`.
    pub fn peers(&self) -> anyhow::Result<Vec<Value>> {
        self.json("show bfd peers json")
    }

    /// `show bfd peers counters json`.
    pub fn counters(&self) -> anyhow::Result<Vec<Value>> {
        self.json("show bfd peers counters json")
    }

    /// The session with `peer`, which must exist (the first if several).
    pub fn peer(&self, peer: &str) -> anyhow::Result<Value> {
        self.session(peer, None)
    }

    /// The session with `peer` from `local` (any if `None`), which must exist.
    pub fn session(&self, peer: &str, local: Option<&str>) -> anyhow::Result<Value> {
        find_session(self.peers()?, peer, local)
    }

    /// The counters of the session with `peer`, which must exist.
    pub fn peer_counters(&self, peer: &str) -> anyhow::Result<Value> {
        self.session_counters(peer, None)
    }

    /// The counters of the session with `peer` from `local`.
    pub fn session_counters(&self, peer: &str, local: Option<&str>) -> anyhow::Result<Value> {
        find_session(self.counters()?, peer, local)
    }

    /// Waits until FRR's session with `peer` has `status`.
    pub fn wait_status(&self, peer: &str, status: &str, timeout: Duration) -> anyhow::Result<Value> {
        wait_for(&format!("{}: session with {peer} {status}", self.release), timeout, || {
            Ok(Some(self.peer(peer)?).filter(|session| session["status"] == status))
        })
    }
}

/// The host's bfdd version (`bfdd --version`), asked once.
fn host_version() -> anyhow::Result<String> {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(version) = VERSION.get() {
        return Ok(version.clone());
    }
    let version = run_stdout(Command::new("/usr/lib/frr/bfdd").arg("--version"))?;
    Ok(VERSION.get_or_init(|| version).clone())
}

fn daemon_pid(dir: &Path, daemon: &str) -> anyhow::Result<nix::unistd::Pid> {
    let path = dir.join(format!("{daemon}.pid"));
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(nix::unistd::Pid::from_raw(
        text.trim().parse().with_context(|| format!("{}: {text:?}", path.display()))?,
    ))
}

fn find_session(sessions: Vec<Value>, peer: &str, local: Option<&str>) -> anyhow::Result<Value> {
    sessions
        .into_iter()
        .find(|session| session["peer"] == peer && local.is_none_or(|local| session["local"] == local))
        .with_context(|| format!("FRR has no session with {peer} (local {local:?})"))
}

impl Drop for Frr {
    fn drop(&mut self) {
        if self.print_logs {
            let what = format!("{} bfdd", self.release);
            log_on_failure(&what, &self.dir.join("bfdd.log"));
            for daemon in ["bgpd", "staticd", "mgmtd"] {
                if self.daemons.contains(&daemon) {
                    let what = format!("{} {daemon}", self.release);
                    log_on_failure(&what, &self.dir.join(format!("{daemon}.log")));
                }
            }
            if self.daemons.iter().any(|daemon| ["bgpd", "staticd"].contains(daemon)) {
                log_on_failure(&format!("{} zebra", self.release), &self.dir.join("zebra.log"));
            }
        }
        // Stopping the last process of a chrooted daemon's mount namespace
        // also removes its mounts.
        for daemon in self.daemons.iter().rev() {
            if let Ok(pid) = daemon_pid(&self.dir, daemon) {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
                let exited = wait_for(&format!("{daemon} to exit"), Duration::from_secs(5), || {
                    Ok(nix::sys::signal::kill(pid, None).is_err().then_some(()))
                });
                if exited.is_err() {
                    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// FRR 8.4's bfdd alone whose log is not printed on drop (the demo's).
pub struct Bfdd(Frr);

impl Bfdd {
    /// Starts FRR 8.4's bfdd in `netns` with `config`.
    pub fn start(netns: &NetNs, config: &str) -> anyhow::Result<Bfdd> {
        let mut frr = Frr::start(netns, config)?;
        frr.print_logs = false;
        Ok(Bfdd(frr))
    }
}

impl std::ops::Deref for Bfdd {
    type Target = Frr;

    fn deref(&self) -> &Frr {
        &self.0
    }
}
