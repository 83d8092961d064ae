//! BIRD 2, started by hand in a namespace (`bird -c CONF -s SOCK -P PID`,
//! daemonized), as an RAII guard: killed and its directory removed on drop,
//! its log printed first unless the test passed.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::Context as _;

use crate::{
    e2e::print_log_unless_passed,
    lab::{NetNs, run, run_stdout, unique_name, wait_for},
};

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

/// A running BIRD.
pub struct Bird {
    dir: PathBuf,
}

impl Bird {
    /// Starts BIRD in `netns` with `config` (a `log` line is prepended).
    pub fn start(netns: &NetNs, config: &str) -> anyhow::Result<Bird> {
        let dir = std::env::temp_dir().join(unique_name("bird"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let bird = Bird { dir };
        let log = bird.dir.join("bird.log");
        std::fs::write(&log, "")?;
        let conf = bird.dir.join("bird.conf");
        std::fs::write(&conf, format!("log \"{}\" all;\n{config}", log.display()))?;
        run(netns
            .command("bird")
            .arg("-c")
            .arg(&conf)
            .arg("-s")
            .arg(bird.socket())
            .arg("-P")
            .arg(bird.dir.join("bird.pid")))?;
        wait_for("BIRD's control socket", Duration::from_secs(10), || {
            Ok(bird.birdc("show status").ok().filter(|status| status.contains("Daemon is up")).map(drop))
        })?;
        Ok(bird)
    }

    /// Its control socket.
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

    /// Runs a `birdc` command (split on whitespace) against this BIRD.
    pub fn birdc(&self, command: &str) -> anyhow::Result<String> {
        run_stdout(Command::new("birdc").arg("-s").arg(self.socket()).args(command.split_whitespace()))
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
        wait_for(&format!("BIRD: session with {peer} {state}"), timeout, || {
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
        print_log_unless_passed("BIRD", &self.dir.join("bird.log"));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
