//! Where a peer's daemons come from: the host's Debian 12 packages, or a
//! Debian sid root file system that `cargo xtask setup` builds
//! (xtask/src/peers.rs) and the lab runs with `chroot` inside a test's
//! network namespace.
//!
//! A chrooted command runs in a mount namespace of its own (`unshare
//! --mount`, private propagation) in which /proc, /sys, /dev and the
//! daemon's state directory are mounted into the root file system: the
//! mounts vanish with the last process of that namespace (a killed test
//! leaves none behind on the host), and parallel daemons of one root file
//! system each see their own state directory at the same path.

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
    process::Command,
    sync::Mutex,
};

use anyhow::{Context as _, bail};

use crate::lab::NetNs;

/// Where `cargo xtask setup` puts the root file systems (xtask's
/// `peers::CACHE_DIR`).
pub const ROOTFS_DIR: &str = "/var/cache/bfd-xdp/rootfs";

/// Where a daemon's state directory appears inside a root file system
/// (created when the root file system is built).
pub const STATE_IN_ROOTFS: &str = "/run/bfd-lab";

/// A root file system built by `cargo xtask setup`.
#[derive(Clone, Debug)]
pub struct Rootfs {
    name: &'static str,
    root: PathBuf,
}

impl Rootfs {
    /// The root file system named `name` (`sid-frr-bird2`, `sid-bird3`).
    pub fn open(name: &'static str) -> anyhow::Result<Rootfs> {
        let link = Path::new(ROOTFS_DIR).join(name);
        let root = std::fs::canonicalize(&link).with_context(|| {
            format!("no {name} root file system at {}: run `sudo cargo xtask setup`", link.display())
        })?;
        if !root.join(STATE_IN_ROOTFS.trim_start_matches('/')).is_dir() {
            bail!("{} is incomplete: run `sudo cargo xtask setup`", root.display());
        }
        Ok(Rootfs { name, root })
    }

    /// Its name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The uid and primary gid of `user` in the root file system's
    /// /etc/passwd (sid's `frr` is not the host's).
    pub fn user_ids(&self, user: &str) -> anyhow::Result<(u32, u32)> {
        let path = self.root.join("etc/passwd");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        parse_passwd_ids(&text, user).with_context(|| format!("no user {user} in {}", path.display()))
    }

    /// A command that runs `program` (a path inside the root file system)
    /// chrooted, with `state_dir` mounted at [`STATE_IN_ROOTFS`], in
    /// `netns`'s network stack if given (and at FRR's run-state directory
    /// /run/frr too, where FRR 10's mgmtd puts its sockets, so that no two
    /// tests share it). A fresh sysfs is mounted rather
    /// than the host's bound, so that /sys/class/net is the namespace's (as
    /// `ip netns exec` does); /proc and /dev are the host's, bound.
    pub fn command(&self, netns: Option<&NetNs>, state_dir: &Path, program: impl AsRef<OsStr>) -> Command {
        let mut command = match netns {
            Some(netns) => {
                let mut command = Command::new("nsenter");
                command.arg(format!("--net={}", netns.path().display())).arg("--").arg("unshare");
                command
            }
            None => Command::new("unshare"),
        };
        command
            .args(["--mount", "--propagation", "private", "--", "sh", "-euc"])
            .arg(
                "root=$1; state=$2; shift 2\nmount --rbind /proc \"$root/proc\"\nmount -t sysfs sysfs \
                 \"$root/sys\"\nmount --rbind /dev \"$root/dev\"\nmount --bind \"$state\" \
                 \"$root/run/bfd-lab\"\nif [ -d \"$root/usr/lib/frr\" ]; then mkdir -p \"$root/run/frr\"; mount --bind \
                 \"$state\" \"$root/run/frr\"; fi\nexec chroot \"$root\" \"$@\"",
            )
            .arg("sh")
            .arg(&self.root)
            .arg(state_dir)
            .arg(program);
        command
    }

    /// The version `program --version` prints in the root file system
    /// (both streams: BIRD prints it on stderr), checked once per process.
    pub fn version(&self, program: &str) -> anyhow::Result<String> {
        static SEEN: Mutex<Vec<(PathBuf, String, String)>> = Mutex::new(Vec::new());
        let mut seen = SEEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, _, version)) = seen.iter().find(|(root, p, _)| *root == self.root && p == program) {
            return Ok(version.clone());
        }
        let output = Command::new("chroot")
            .arg(&self.root)
            .args([program, "--version"])
            .output()
            .with_context(|| format!("running {program} --version in {}", self.root.display()))?;
        let text =
            format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        seen.push((self.root.clone(), program.to_owned(), text.clone()));
        Ok(text)
    }
}

/// The release check every launcher makes: `version_text` (a daemon's
/// `--version`) must name `expected` (`10.7`, `2.20`, `3.`), so that a
/// test named for a release never runs another one (sid moves on).
pub fn check_release(what: &str, expected: &str, version_text: &str) -> anyhow::Result<()> {
    let found = version_text
        .split_whitespace()
        .find(|word| word.starts_with(|c: char| c.is_ascii_digit()) && word.contains('.'))
        .unwrap_or("");
    let matches = if expected.ends_with('.') {
        found.starts_with(expected)
    } else {
        found == expected
            || found.starts_with(&format!("{expected}."))
            || found.starts_with(&format!("{expected}-"))
    };
    if !matches {
        bail!(
            "{what}: expected release {expected}, found {found:?} ({}); rebuild the root file system or rename \
             the release",
            version_text.trim()
        );
    }
    Ok(())
}

fn parse_passwd_ids(text: &str, user: &str) -> Option<(u32, u32)> {
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 4 && fields[0] == user)
            .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_ids_are_those_of_the_named_user() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nfrr:x:993:995:Frr routing \
                      suite,,,:/nonexistent:/usr/sbin/nologin\nfrrx:x:1:2::/:/bin/sh\n";
        assert_eq!(parse_passwd_ids(passwd, "frr"), Some((993, 995)));
        assert_eq!(parse_passwd_ids(passwd, "bird"), None);
    }

    #[test]
    fn release_check_tells_10_7_from_10_70_and_accepts_a_major_prefix() {
        check_release("bfdd", "10.7", "bfdd version 10.7.1\nCopyright").unwrap();
        check_release("bfdd", "8.4", "bfdd version 8.4.4\n").unwrap();
        assert!(check_release("bfdd", "10.7", "bfdd version 10.70.0").is_err());
        assert!(check_release("bfdd", "10.7", "bfdd version 10.8.0").is_err());
        check_release("bird", "2.20", "BIRD version 2.20.0").unwrap();
        check_release("bird", "3.", "BIRD version 3.4.1").unwrap();
        assert!(check_release("bird", "3.", "BIRD version 2.0.12").is_err());
    }
}
