//! What each xtask command needs, how to tell whether it is there, and the
//! command that installs it. `cargo xtask setup` installs; every other
//! command only checks and says what is missing.

use std::process::Command;

/// The bpf-linker release that loads the nightly toolchain's LLVM 22.
pub const BPF_LINKER_VERSION: &str = "0.10.4";

/// Debian packages the tests and the demo use.
pub const DEBIAN_PACKAGES: &[&str] = &[
    "frr",
    "bird2",
    "bpftool",
    "stress-ng",
    "tshark",
    "tcpdump",
    "nftables",
    "iproute2",
    "iputils-ping",
    "util-linux", // nsenter
    "jq",         // scripts/capture-frr-golden.sh
    "mmdebstrap", // the newer peers' root file systems (xtask/src/peers.rs)
    "umoci",      // cargo xtask image: unpacks the image to check it
    "runc",       // tests/tests/image.rs: runs the image as the kubelet would
    "prometheus", // promtool for the alert rules' tests, prometheus for the metrics end-to-end test
];

/// Something a command needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prereq {
    /// The nightly toolchain's `rust-src`, for `-Z build-std=core`.
    RustSrc,
    /// bpf-linker, the eBPF linker, at [`BPF_LINKER_VERSION`].
    BpfLinker,
    /// cargo-fuzz, for the fuzz targets.
    CargoFuzz,
    /// A Debian package.
    Debian(&'static str),
}

impl Prereq {
    /// What to build the eBPF program.
    pub const BUILD: &[Prereq] = &[Prereq::RustSrc, Prereq::BpfLinker];

    pub fn name(self) -> String {
        match self {
            Prereq::RustSrc => "rust-src for the nightly toolchain".into(),
            Prereq::BpfLinker => format!("bpf-linker {BPF_LINKER_VERSION}"),
            Prereq::CargoFuzz => "cargo-fuzz".into(),
            Prereq::Debian(package) => format!("Debian package {package}"),
        }
    }

    pub fn install_command(self) -> String {
        match self {
            Prereq::RustSrc => "rustup component add rust-src --toolchain nightly".into(),
            Prereq::BpfLinker => format!("cargo install bpf-linker@{BPF_LINKER_VERSION} --locked --force"),
            Prereq::CargoFuzz => "cargo install cargo-fuzz --locked".into(),
            Prereq::Debian(package) => format!("apt-get update && apt-get install -y {package}"),
        }
    }

    pub fn is_present(self) -> bool {
        match self {
            Prereq::RustSrc => {
                output_of("rustup", &["component", "list", "--installed", "--toolchain", "nightly"])
                    .is_some_and(|out| out.lines().any(|line| line.starts_with("rust-src")))
            }
            Prereq::BpfLinker => output_of("bpf-linker", &["--version"])
                .is_some_and(|out| out.split_whitespace().any(|word| word == BPF_LINKER_VERSION)),
            Prereq::CargoFuzz => output_of("cargo", &["fuzz", "--version"]).is_some(),
            Prereq::Debian(package) => debian_installed(package),
        }
    }
}

/// Fails with every missing prerequisite and its install command.
pub fn require(needed: &[Prereq]) -> anyhow::Result<()> {
    let missing: Vec<Prereq> = needed.iter().copied().filter(|prereq| !prereq.is_present()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    anyhow::bail!(missing_message(&missing))
}

/// What to tell the user when `missing` is not installed.
fn missing_message(missing: &[Prereq]) -> String {
    let mut message = String::from("missing prerequisites:\n");
    for prereq in missing {
        message.push_str(&format!("  - {} (install: {})\n", prereq.name(), prereq.install_command()));
    }
    message.push_str("`cargo xtask setup` installs all of them.");
    message
}

pub fn debian_installed(package: &str) -> bool {
    output_of("dpkg-query", &["-W", "-f=${Status}", package])
        .is_some_and(|status| status.contains("install ok installed"))
}

pub fn is_root() -> bool {
    output_of("id", &["-u"]).is_some_and(|uid| uid.trim() == "0")
}

/// Stdout of a command that exited 0, or `None`.
fn output_of(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_message_names_each_prerequisite_and_its_install_command() {
        let message = missing_message(&[Prereq::BpfLinker, Prereq::Debian("tshark")]);
        assert!(
            message.contains("bpf-linker 0.10.4 (install: cargo install bpf-linker@0.10.4 --locked --force)")
        );
        assert!(
            message.contains("Debian package tshark (install: apt-get update && apt-get install -y tshark)")
        );
        assert!(message.ends_with("`cargo xtask setup` installs all of them."));
    }

    #[test]
    fn setup_installs_every_package_the_commands_check_for() {
        // demo and test require these by name; setup must install them.
        for package in ["frr", "bpftool", "iproute2", "util-linux", "tshark"] {
            assert!(DEBIAN_PACKAGES.contains(&package), "{package} missing from DEBIAN_PACKAGES");
        }
    }
}
