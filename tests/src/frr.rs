//! FRR's bfdd, started by hand in a namespace (no systemd), as
//! shared/reference/frr-bfdd.md describes: its own directory owned by the
//! `frr` user, pre-created log file, no TCP vty (`-P 0`).

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::Context as _;

use crate::lab::{NetNs, run, run_stdout, unique_name, wait_for};

/// A running bfdd; killed, and its directory removed, on drop.
pub struct Bfdd {
    dir: PathBuf,
}

impl Bfdd {
    /// Starts bfdd in `netns` with `config` (the text of bfdd.conf; the
    /// `log file` line is prepended).
    pub fn start(netns: &NetNs, config: &str) -> anyhow::Result<Bfdd> {
        let dir = std::env::temp_dir().join(unique_name("frr"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let bfdd = Bfdd { dir };
        let log = bfdd.dir.join("bfdd.log");
        std::fs::write(&log, "")?;
        let config = format!("log file {}\nlog timestamp precision 6\n{config}", log.display());
        let conf = bfdd.dir.join("bfdd.conf");
        std::fs::write(&conf, config)?;
        run(Command::new("chown").args(["-R", "frr:frr"]).arg(&bfdd.dir))?;
        run(Command::new("chmod").arg("0775").arg(&bfdd.dir))?;
        run(netns
            .exec("/usr/lib/frr/bfdd")
            .arg("-d")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(bfdd.dir.join("bfdd.pid"))
            .arg("--vty_socket")
            .arg(&bfdd.dir)
            .arg("-z")
            .arg(bfdd.dir.join("zserv.api"))
            .args(["-P", "0"])
            .arg("--bfdctl")
            .arg(bfdd.dir.join("bfdd.sock")))?;
        wait_for("bfdd's vty socket", Duration::from_secs(10), || {
            Ok(bfdd.dir.join("bfdd.vty").exists().then_some(()))
        })?;
        Ok(bfdd)
    }

    /// Runs a vtysh command against this bfdd.
    pub fn vtysh(&self, command: &str) -> anyhow::Result<String> {
        run_stdout(Command::new("vtysh").arg("--vty_socket").arg(&self.dir).args(["-c", command]))
    }

    /// The daemon's directory (config, log, sockets).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Bfdd {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("bfdd.pid"))
            && let Ok(pid) = pid.trim().parse::<i32>()
        {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
            let _ = wait_for("bfdd to exit", Duration::from_secs(5), || {
                Ok(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err().then_some(()))
            });
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
