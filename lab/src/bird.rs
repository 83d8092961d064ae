//! BIRD, started by hand in a namespace (`bird -c CONF -s SOCK -P PID`,
//! daemonized), as an RAII guard: killed and its directory removed on drop,
//! its log printed first unless the test passed. One launcher for every
//! release ([`BirdRelease`]): Debian 12's 2.0 from the host, sid's 2.20 and
//! 3.x from their root file systems ([`crate::peers`]), chrooted.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::Context as _;

use crate::{
    harness::log_on_failure,
    lab::{NetNs, run, run_stdout, unique_name, wait_for},
    peers::{Rootfs, STATE_IN_ROOTFS, check_release},
};

/// A BIRD release the lab can start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BirdRelease {
    /// Debian 12's BIRD 2.0, installed on the host.
    V2_0,
    /// Debian sid's BIRD 2.20, from the `sid-frr-bird2` root file system.
    V2_20,
    /// Debian sid's BIRD 3 (package `bird3`, which conflicts with `bird2`),
    /// from the `sid-bird3` root file system.
    V3,
}

impl BirdRelease {
    /// Every release, oldest first.
    pub const ALL: [BirdRelease; 3] = [BirdRelease::V2_0, BirdRelease::V2_20, BirdRelease::V3];

    /// The release as `bird --version` starts it: `2.0`, `2.20`, `3.`.
    pub fn version(self) -> &'static str {
        match self {
            BirdRelease::V2_0 => "2.0",
            BirdRelease::V2_20 => "2.20",
            BirdRelease::V3 => "3.",
        }
    }

    fn rootfs(self) -> anyhow::Result<Option<Rootfs>> {
        match self {
            BirdRelease::V2_0 => Ok(None),
            BirdRelease::V2_20 => Rootfs::open("sid-frr-bird2").map(Some),
            BirdRelease::V3 => Rootfs::open("sid-bird3").map(Some),
        }
    }
}

impl std::fmt::Display for BirdRelease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BirdRelease::V3 => f.write_str("BIRD 3"),
            release => write!(f, "BIRD {}", release.version()),
        }
    }
}

/// One line of `birdc show bfd sessions`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BirdSession {
    /// The peer's address.
    pub peer: String,
    /// `Up`, `Down`, `Init` or `AdminDown`.
    pub state: String,
    /// The last column, `Timeout`: BIRD's detection time in seconds
    /// (e.g. `0.150`).
    pub timeout: String,
    /// The whole line.
    pub line: String,
}

/// A BIRD configuration with one BFD neighbour at 50 ms x 3, the agent at
/// `agent`, BIRD at `local` (IPv4 or IPv6: `neighbor ADDR local ADDR`
/// serves both), router id `router_id`. `debug { events }` logs BIRD's
/// state changes (`Session to ADDR changed state from Up to Down`) and its
/// detection timeouts (`Session to ADDR expired`).
pub fn bfd_config(router_id: &str, agent: &str, local: &str) -> String {
    format!(
        "router id {router_id};\nprotocol device {{ }}\nprotocol bfd {{\n  debug {{ events }};\n  interface \"*\" {{\n    \
         min rx interval 50 ms;\n    min tx interval 50 ms;\n    multiplier 3;\n  }};\n  neighbor {agent} local \
         {local};\n}}\n"
    )
}

/// A running BIRD.
pub struct Bird {
    dir: PathBuf,
    release: BirdRelease,
    rootfs: Option<Rootfs>,
}

impl Bird {
    /// Starts BIRD 2.0 in `netns` with `config` (a `log` line is prepended).
    pub fn start(netns: &NetNs, config: &str) -> anyhow::Result<Bird> {
        Bird::start_release(netns, BirdRelease::V2_0, config)
    }

    /// Starts `release` in `netns` with `config` (a `log` line is
    /// prepended).
    pub fn start_release(netns: &NetNs, release: BirdRelease, config: &str) -> anyhow::Result<Bird> {
        let rootfs = release.rootfs()?;
        let version = match &rootfs {
            Some(rootfs) => rootfs.version("bird")?,
            None => {
                let output =
                    Command::new("bird").arg("--version").output().context("running bird --version")?;
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                )
            }
        };
        check_release("bird", release.version(), &version)?;
        let dir = std::env::temp_dir().join(unique_name("bird"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let bird = Bird { dir, release, rootfs };
        std::fs::write(bird.dir.join("bird.log"), "")?;
        std::fs::write(
            bird.dir.join("bird.conf"),
            format!("log \"{}\" all;\n{config}", bird.daemon_path("bird.log").display()),
        )?;
        let mut command = match &bird.rootfs {
            Some(rootfs) => rootfs.command(Some(netns), &bird.dir, "bird"),
            None => netns.command("bird"),
        };
        // A file, not a pipe: a daemon keeping it would block `run`.
        let out_path = bird.dir.join("bird.out");
        let out = std::fs::File::create(&out_path)?;
        command.stdin(std::process::Stdio::null()).stdout(out.try_clone()?).stderr(out);
        run(command
            .arg("-c")
            .arg(bird.daemon_path("bird.conf"))
            .arg("-s")
            .arg(bird.daemon_path("bird.ctl"))
            .arg("-P")
            .arg(bird.daemon_path("bird.pid")))
        .with_context(|| format!("{release}: {}", std::fs::read_to_string(&out_path).unwrap_or_default()))?;
        wait_for(&format!("{release}'s control socket"), Duration::from_secs(10), || {
            Ok(bird.birdc("show status").ok().filter(|status| status.contains("Daemon is up")).map(drop))
        })?;
        Ok(bird)
    }

    /// Which release this is.
    pub fn release(&self) -> BirdRelease {
        self.release
    }

    /// `name` in BIRD's directory as BIRD sees it.
    fn daemon_path(&self, name: &str) -> PathBuf {
        match self.rootfs {
            Some(_) => Path::new(STATE_IN_ROOTFS).join(name),
            None => self.dir.join(name),
        }
    }

    /// Its control socket (on the host).
    pub fn socket(&self) -> PathBuf {
        self.dir.join("bird.ctl")
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("bird.log")).unwrap_or_default()
    }

    /// The log's lines containing `text`.
    pub fn log_lines(&self, text: &str) -> Vec<String> {
        self.log().lines().filter(|line| line.contains(text)).map(str::to_owned).collect()
    }

    /// The BFD protocol's state change lines so far (`Session to ADDR
    /// changed state from Init to Up`), logged when its configuration has
    /// `debug { events }`.
    pub fn state_changes(&self) -> Vec<String> {
        self.log_lines("changed state from")
    }

    /// Runs a `birdc` command (split on whitespace) against this BIRD (the
    /// release's own birdc).
    pub fn birdc(&self, command: &str) -> anyhow::Result<String> {
        let mut birdc = match &self.rootfs {
            Some(rootfs) => rootfs.command(None, &self.dir, "birdc"),
            None => Command::new("birdc"),
        };
        run_stdout(birdc.arg("-s").arg(self.daemon_path("bird.ctl")).args(command.split_whitespace()))
    }

    /// `show bfd sessions`, parsed.
    pub fn sessions(&self) -> anyhow::Result<Vec<BirdSession>> {
        let text = self.birdc("show bfd sessions")?;
        Ok(text
            .lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                let peer = words.next()?;
                peer.parse::<std::net::IpAddr>().ok()?;
                let state = line
                    .split_whitespace()
                    .find(|word| ["Up", "Down", "Init", "AdminDown"].contains(word))?
                    .to_owned();
                let timeout = line.split_whitespace().last()?.to_owned();
                Some(BirdSession { peer: peer.to_owned(), state, timeout, line: line.to_owned() })
            })
            .collect())
    }

    /// The session with `peer`, if BIRD lists it.
    pub fn session(&self, peer: &str) -> anyhow::Result<Option<BirdSession>> {
        Ok(self.sessions()?.into_iter().find(|session| session.peer == peer))
    }

    /// Waits until BIRD's session with `peer` is in `state` (`Up`, `Down`...).
    pub fn wait_state(&self, peer: &str, state: &str, timeout: Duration) -> anyhow::Result<BirdSession> {
        wait_for(&format!("{}: session with {peer} {state}", self.release), timeout, || {
            Ok(self.session(peer)?.filter(|session| session.state == state))
        })
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("bird.pid"))
            && let Ok(pid) = pid.trim().parse::<i32>()
        {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let exited = wait_for("BIRD to exit", Duration::from_secs(5), || {
                Ok(nix::sys::signal::kill(pid, None).is_err().then_some(()))
            });
            if exited.is_err() {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
        log_on_failure(&self.release.to_string(), &self.dir.join("bird.log"));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
