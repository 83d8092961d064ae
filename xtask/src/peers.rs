//! The newer peers' root file systems: FRR and BIRD of Debian sid, which
//! cannot be installed on the bookworm host (they would replace its libc),
//! built with mmdebstrap and run by the tests with `chroot` in their
//! namespaces (lab/src/peers.rs).
//!
//! Each is built once into [`CACHE_DIR`], in a directory named by a hash of
//! its suite and package list (a changed list builds a new one), into a
//! temporary directory renamed into place when complete; a symlink with the
//! plain name points at the current one. The tests read only the symlink.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};

/// Where the root file systems live, outside any work tree (each is about
/// 200 MB). The lab (lab/src/peers.rs) reads the same path.
pub const CACHE_DIR: &str = "/var/cache/bfd-xdp/rootfs";

/// The directory, inside each root file system, where the tests bind-mount
/// a daemon's state directory (created at build time).
pub const STATE_MOUNTPOINT: &str = "run/bfd-lab";

/// One root file system.
#[derive(Clone, Copy, Debug)]
pub struct Rootfs {
    /// The symlink's name under [`CACHE_DIR`].
    pub name: &'static str,
    /// The Debian suite.
    pub suite: &'static str,
    /// The packages installed on top of mmdebstrap's `apt` variant.
    pub packages: &'static [&'static str],
}

/// sid's FRR (10.7) and BIRD 2 (2.20) share one; BIRD 3 conflicts with
/// BIRD 2 (`bird3: Conflicts: bird2`) and has its own.
pub const ROOTFS: &[Rootfs] = &[
    Rootfs { name: "sid-frr-bird2", suite: "sid", packages: &["frr", "bird2", "iproute2"] },
    Rootfs { name: "sid-bird3", suite: "sid", packages: &["bird3", "iproute2"] },
];

impl Rootfs {
    /// `<name>-<hash of suite and packages>`: the directory the symlink
    /// points at.
    pub fn versioned_name(&self) -> String {
        let mut key = format!("{}\n", self.suite);
        for package in self.packages {
            key.push_str(package);
            key.push('\n');
        }
        format!("{}-{:016x}", self.name, fnv1a(key.as_bytes()))
    }

    /// Builds it unless its current version is there; returns its directory.
    pub fn ensure(&self, cache: &Path) -> anyhow::Result<PathBuf> {
        let versioned = cache.join(self.versioned_name());
        if versioned.join(STATE_MOUNTPOINT).is_dir() {
            println!("ok: {} root file system ({})", self.name, versioned.display());
        } else {
            self.build(cache, &versioned)?;
        }
        point_symlink(&cache.join(self.name), &versioned)?;
        self.remove_other_versions(cache)?;
        Ok(versioned)
    }

    fn build(&self, cache: &Path, versioned: &Path) -> anyhow::Result<()> {
        if !crate::prereqs::is_root() {
            bail!("building the {} root file system needs root: run `sudo cargo xtask setup`", self.name);
        }
        std::fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
        let temp = cache.join(format!(".tmp-{}-{}", self.versioned_name(), std::process::id()));
        let _ = std::fs::remove_dir_all(&temp);
        println!("building the {} root file system ({} {})", self.name, self.suite, self.packages.join(" "));
        let built = (|| {
            // The mirror's sid Release file is past its Valid-Until date.
            crate::run(
                Command::new("mmdebstrap")
                    .args(["--variant=apt", "--quiet"])
                    .arg(format!("--include={}", self.packages.join(",")))
                    .arg("--aptopt=Acquire::Check-Valid-Until \"false\"")
                    .arg(self.suite)
                    .arg(&temp),
            )?;
            std::fs::create_dir_all(temp.join(STATE_MOUNTPOINT))?;
            std::fs::rename(&temp, versioned)
                .with_context(|| format!("renaming {} to {}", temp.display(), versioned.display()))
        })();
        if built.is_err() {
            let _ = std::fs::remove_dir_all(&temp);
        }
        built
    }

    /// Removes the directories of this root file system's older package
    /// lists (and temporary ones a killed build left).
    fn remove_other_versions(&self, cache: &Path) -> anyhow::Result<()> {
        let current = self.versioned_name();
        for entry in std::fs::read_dir(cache)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stem = name.strip_prefix(".tmp-").unwrap_or(&name);
            let ours = stem
                .strip_prefix(self.name)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|rest| rest.len() >= 16 && rest[..16].bytes().all(|b| b.is_ascii_hexdigit()));
            let building_now = name.ends_with(&format!("-{}", std::process::id()));
            if ours && name != current && !building_now && entry.file_type()?.is_dir() {
                println!("removing {}", entry.path().display());
                std::fs::remove_dir_all(entry.path())?;
            }
        }
        Ok(())
    }
}

/// Points `link` at `target` atomically (a new symlink renamed over it).
fn point_symlink(link: &Path, target: &Path) -> anyhow::Result<()> {
    if std::fs::read_link(link).is_ok_and(|current| current == target) {
        return Ok(());
    }
    let temp = link.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    std::os::unix::fs::symlink(target, &temp)?;
    std::fs::rename(&temp, link)
        .with_context(|| format!("pointing {} at {}", link.display(), target.display()))
}

/// FNV-1a, 64 bits: a hash that stays the same across Rust releases (std's
/// `DefaultHasher` does not promise to).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

/// Fails unless every root file system is built with its current package
/// list, saying how to build it.
pub fn require() -> anyhow::Result<()> {
    let cache = Path::new(CACHE_DIR);
    let missing: Vec<&str> = ROOTFS
        .iter()
        .filter(|rootfs| !cache.join(rootfs.versioned_name()).join(STATE_MOUNTPOINT).is_dir())
        .map(|rootfs| rootfs.name)
        .collect();
    if !missing.is_empty() {
        bail!(
            "missing the newer peers' root file systems {} under {CACHE_DIR}: run `sudo cargo xtask setup`",
            missing.join(", ")
        );
    }
    Ok(())
}

/// Builds every root file system that is missing (needs root).
pub fn setup() -> anyhow::Result<()> {
    for rootfs in ROOTFS {
        rootfs.ensure(Path::new(CACHE_DIR))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_package_list_names_another_directory() {
        let a = Rootfs { name: "x", suite: "sid", packages: &["frr", "bird2"] };
        let b = Rootfs { packages: &["frr", "bird2", "iproute2"], ..a };
        let c = Rootfs { suite: "trixie", ..a };
        assert_ne!(a.versioned_name(), b.versioned_name());
        assert_ne!(a.versioned_name(), c.versioned_name());
        assert_eq!(a.versioned_name(), Rootfs { ..a }.versioned_name());
        assert!(a.versioned_name().starts_with("x-"));
    }

    #[test]
    fn fnv1a_matches_its_reference_values() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn only_this_rootfs_older_versions_are_removed() {
        let dir = std::env::temp_dir().join(format!("xtask-peers-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let rootfs = Rootfs { name: "sid-a", suite: "sid", packages: &["frr"] };
        for name in
            [rootfs.versioned_name(), "sid-a-0123456789abcdef".into(), "sid-a-b-0123456789abcdef".into()]
        {
            std::fs::create_dir_all(dir.join(name)).unwrap();
        }
        rootfs.remove_other_versions(&dir).unwrap();
        assert!(dir.join(rootfs.versioned_name()).exists());
        assert!(!dir.join("sid-a-0123456789abcdef").exists());
        assert!(dir.join("sid-a-b-0123456789abcdef").exists(), "another rootfs whose name extends ours");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
