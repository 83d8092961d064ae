//! `cargo xtask`: the project's build, test and demo driver.
//!
//! - `setup`: installs what the other commands need (idempotent), and
//!   builds the newer peers' root file systems (FRR 10.7, BIRD 2.20 and 3).
//! - `build`: builds `bfd-agent` with its XDP program embedded.
//! - `demo`: runs the XDP program in network namespaces against FRR's bfdd.
//! - `test`: unit tests, then (as root) the privileged end-to-end tests.
//! - `lint`: rustfmt and clippy, host crates and the eBPF crate.
//! - `fuzz`: runs the cargo-fuzz targets of the wire parsers.
//! - `build-and-load`: attaches the XDP program and pins its maps without
//!   the agent running, for inspection with bpftool.
//! - `image`: the agent as an OCI image archive (no engine, no registry).
//! - `bench`: benchmarks side by side with FRR's bfdd, printed and written
//!   to `target/bench/`.

mod image;
mod peers;
mod prereqs;

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use prereqs::{BPF_LINKER_VERSION, DEBIAN_PACKAGES, Prereq, is_root, require};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, test and demo bfd-xdp")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install the toolchain pieces and Debian packages the project needs,
    /// and build the newer peers' root file systems (Debian sid).
    Setup,
    /// Build bfd-agent with the XDP program embedded.
    Build {
        /// Build in release mode.
        #[arg(long)]
        release: bool,
    },
    /// Attach the XDP program in a network namespace and feed it a real
    /// FRR bfdd's packets (needs root).
    Demo,
    /// Run the unit tests, then the privileged end-to-end tests when root.
    Test {
        /// Only the tests that need neither root nor external tools.
        #[arg(long)]
        unit_only: bool,
    },
    /// Check formatting and run clippy with warnings as errors.
    Lint,
    /// Fuzz the wire parsers with cargo-fuzz.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u32,
        /// Targets to run (default: all).
        targets: Vec<String>,
    },
    /// Build bfd-agent, then load and attach the XDP program and pin its
    /// maps with it, without running the agent: for inspection with
    /// bpftool (needs root).
    BuildAndLoad {
        /// Interface to attach to.
        #[arg(long)]
        iface: String,
        /// bpffs directory for the pins.
        #[arg(long, default_value = bfd_common::maps::DEFAULT_PIN_DIR)]
        pin_path: PathBuf,
        /// XDP mode: native with generic as the fallback (auto), or only
        /// one of them.
        #[arg(long, value_parser = ["auto", "native", "generic"], default_value = "auto")]
        mode: String,
    },
    /// Build the agent (release) into an OCI image archive for `podman
    /// load`, `docker load` or `ctr images import`, reproducibly, and check
    /// that umoci unpacks it.
    Image {
        /// The archive to write (default: target/image/bfd-agent-TAG.oci.tar).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Run benchmark scenarios, bfd-agent side by side with FRR's bfdd;
    /// they print figures next to their targets and assert nothing
    /// (needs root). Tables and plots go to target/bench/.
    Bench {
        /// A short version of each scenario that fits in CI (about 10
        /// minutes in all).
        #[arg(long)]
        quick: bool,
        /// Scenarios to run (default: all): fastpath, detection, floor,
        /// scale, fastpath-share, echo, scrape.
        scenarios: Vec<String>,
    },
}

const FUZZ_TARGETS: &[&str] = &["parse_control", "parse_echo", "verify_auth"];

/// Prints the error and its causes on one line each, never a backtrace:
/// these errors are for operators, and say what to do.
fn main() -> std::process::ExitCode {
    match run_task() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_task() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let root = workspace_root();
    match cli.command {
        Task::Setup => setup(),
        Task::Build { release } => {
            build_agent(&root, release).map(|path| println!("built {}", path.display()))
        }
        Task::Demo => demo(&root),
        Task::Test { unit_only } => test(&root, unit_only),
        Task::Lint => lint(&root),
        Task::Fuzz { seconds, targets } => fuzz(&root, seconds, &targets),
        Task::BuildAndLoad { iface, pin_path, mode } => build_and_load(&root, &iface, &pin_path, &mode),
        Task::Image { output } => build_image(&root, output.as_deref()).map(drop),
        Task::Bench { quick, scenarios } => bench(&root, &scenarios, quick),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_owned()
}

fn setup() -> anyhow::Result<()> {
    if Prereq::RustSrc.is_present() {
        println!("ok: rust-src (nightly)");
    } else {
        run(Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", "nightly"]))?;
    }
    if Prereq::BpfLinker.is_present() {
        println!("ok: bpf-linker {BPF_LINKER_VERSION}");
    } else {
        // --force replaces another version; it links against the nightly
        // toolchain's own libLLVM, which is why this exact release.
        run(Command::new("cargo").args([
            "install",
            &format!("bpf-linker@{BPF_LINKER_VERSION}"),
            "--locked",
            "--force",
        ]))?;
    }
    if Prereq::CargoFuzz.is_present() {
        println!("ok: cargo-fuzz");
    } else {
        run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    }
    let missing: Vec<&str> =
        DEBIAN_PACKAGES.iter().copied().filter(|package| !prereqs::debian_installed(package)).collect();
    if missing.is_empty() {
        println!("ok: Debian packages {}", DEBIAN_PACKAGES.join(" "));
    } else {
        if !is_root() {
            bail!(
                "installing Debian packages {} needs root: run `sudo cargo xtask setup`",
                missing.join(" ")
            );
        }
        install_debian(&missing)?;
    }
    // Every check again: setup succeeds only if the others will find it all.
    let mut all = vec![Prereq::RustSrc, Prereq::BpfLinker, Prereq::CargoFuzz];
    all.extend(DEBIAN_PACKAGES.iter().map(|package| Prereq::Debian(package)));
    require(&all)?;
    peers::setup()?;
    println!("setup complete");
    Ok(())
}

/// Installs Debian packages without letting their maintainer scripts start
/// daemons (frr, bird) on the host: the tests start their own in namespaces.
fn install_debian(packages: &[&str]) -> anyhow::Result<()> {
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let own_policy = !policy.exists();
    if own_policy {
        std::fs::write(policy, "#!/bin/sh\n# bfd-xdp setup: start no services while installing\nexit 101\n")?;
        run(Command::new("chmod").args(["755", "/usr/sbin/policy-rc.d"]))?;
    }
    let result = run(Command::new("apt-get").args(["update", "-qq"])).and_then(|()| {
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"))
    });
    if own_policy {
        std::fs::remove_file(policy)?;
    }
    result
}

/// Builds bfd-agent (its build script builds and embeds the XDP program).
fn build_agent(root: &Path, release: bool) -> anyhow::Result<PathBuf> {
    require(Prereq::BUILD)?;
    let mut cargo = cargo(root);
    cargo.args(["build", "--package", "bfd-user", "--bin", "bfd-agent"]);
    if release {
        cargo.arg("--release");
    }
    run(&mut cargo)?;
    Ok(target_dir(root).join(if release { "release" } else { "debug" }).join("bfd-agent"))
}

/// The version whose agents a surge from this one must take over (issue
/// 17: a changed program adopting the sessions): the last landed commit
/// with this version's map layout. Move it on when a release ships; when
/// `MAP_LAYOUT` changes, to the first commit with the new layout.
const PREVIOUS_AGENT_COMMIT: &str = "81a897656d78bd54106a2ff6f47d966eb5e659a9";

/// Builds the agent of [`PREVIOUS_AGENT_COMMIT`] (debug) from `git archive`
/// in `target/previous-agent/`, with a target directory of its own: cargo
/// hashes workspace crates by their path within the workspace, so a build
/// of another checkout in this target directory would overwrite this
/// version's artifacts and, its sources being older, leave them in place
/// (this version's agent would embed the earlier XDP program). `None`,
/// said why, when the clone lacks the commit (shallow). About a minute
/// and 1.2 GB here.
fn build_previous_agent(root: &Path) -> anyhow::Result<Option<PathBuf>> {
    let dir = target_dir(root).join("previous-agent");
    let binary = dir.join(format!("bfd-agent-{}", &PREVIOUS_AGENT_COMMIT[..12]));
    if binary.exists() {
        return Ok(Some(binary));
    }
    let known = Command::new("git")
        .current_dir(root)
        .args(["cat-file", "-e", &format!("{PREVIOUS_AGENT_COMMIT}^{{commit}}")])
        .status()
        .is_ok_and(|status| status.success());
    if !known {
        println!(
            "note: commit {PREVIOUS_AGENT_COMMIT} is not in this clone: the changed-program test is skipped"
        );
        return Ok(None);
    }
    println!(
        "== the agent of {} (the previous version, for the changed-program test)",
        &PREVIOUS_AGENT_COMMIT[..12]
    );
    let source = dir.join("src");
    if source.exists() {
        std::fs::remove_dir_all(&source).with_context(|| format!("removing {}", source.display()))?;
    }
    std::fs::create_dir_all(&source)?;
    let archive = Command::new("git")
        .current_dir(root)
        .args(["archive", "--format=tar", PREVIOUS_AGENT_COMMIT])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running git archive")?;
    let status = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(&source)
        .stdin(archive.stdout.context("git archive's output")?)
        .status()
        .context("running tar")?;
    if !status.success() {
        bail!("unpacking {PREVIOUS_AGENT_COMMIT} failed ({status})");
    }
    let target = dir.join("target");
    run(cargo(&source)
        .args(["build", "--package", "bfd-user", "--bin", "bfd-agent"])
        .env("CARGO_TARGET_DIR", &target))?;
    std::fs::copy(target.join("debug").join("bfd-agent"), &binary)
        .with_context(|| format!("copying the previous agent to {}", binary.display()))?;
    std::fs::remove_dir_all(&source).with_context(|| format!("removing {}", source.display()))?;
    Ok(Some(binary))
}

fn demo(root: &Path) -> anyhow::Result<()> {
    let mut needed = Prereq::BUILD.to_vec();
    needed.extend(["frr", "bpftool", "iproute2", "util-linux"].map(Prereq::Debian));
    require(&needed)?;
    if !is_root() {
        bail!("the demo creates network namespaces and attaches XDP: run it as root");
    }
    let agent = build_agent(root, true)?;
    run(cargo(root)
        .args(["run", "--quiet", "--release", "--package", "bfd-lab", "--bin", "bfd-demo"])
        .env("BFD_AGENT", &agent))
}

/// What each pinned map holds, for `build-and-load`'s listing (the README
/// says more).
const MAP_DESCRIPTIONS: [(&str, &str); 6] = [
    (bfd_common::maps::STATS_MAP, "global counters, per CPU: one per decision and drop reason"),
    (bfd_common::maps::SESSION_CONFIG_MAP, "sessions' configuration (written by the agent)"),
    (bfd_common::maps::SESSION_STATE_MAP, "sessions' kernel state: timestamps, counters, control timer"),
    (bfd_common::maps::ECHO_TIMER_MAP, "sessions' echo detection timers"),
    (bfd_common::maps::ECHO_PEERS_MAP, "peers whose echoes are reflected (written by the agent)"),
    (bfd_common::maps::EVENTS_MAP, "ring buffer of detection events (read by the agent)"),
];

fn build_and_load(root: &Path, iface: &str, pin_path: &Path, mode: &str) -> anyhow::Result<()> {
    require(&[Prereq::RustSrc, Prereq::BpfLinker, Prereq::Debian("bpftool")])?;
    if !is_root() {
        bail!("attaching XDP and pinning maps needs root: run `sudo cargo xtask build-and-load ...`");
    }
    let agent = build_agent(root, false)?;
    // The agent's library does the work (load, attach with the fallback,
    // pin); it prints the mode used and every pin.
    run(Command::new(&agent)
        .args(["xdp", "attach", "--iface", iface, "--mode", mode, "--pin-path"])
        .arg(pin_path))
    .with_context(|| format!("attaching to {iface}"))?;
    println!("\nThe program stays attached after this command. Its maps:");
    for (map, what) in MAP_DESCRIPTIONS {
        // bpftool cannot dump a ring buffer, only show it.
        let verb = if map == bfd_common::maps::EVENTS_MAP { "show" } else { "dump" };
        println!("  {map:<15} {what}\n      bpftool map {verb} pinned {}", pin_path.join(map).display());
    }
    println!(
        "The link:\n      bpftool link show pinned {}",
        pin_path.join(format!("link_{iface}")).display()
    );
    println!(
        "Counters, summed over CPUs:\n      {} xdp stats --pin-path {}",
        agent.display(),
        pin_path.display()
    );
    println!(
        "To detach, remove the pins (the pinned link holds the program):\n      {} xdp detach --pin-path \
         {}\n  or: rm -r {}",
        agent.display(),
        pin_path.display(),
        pin_path.display()
    );
    Ok(())
}

fn git(root: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("git").arg("-C").arg(root).args(args).output().context("running git")?;
    if !output.status.success() {
        bail!("git {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// `cargo xtask image`: see [`image`]. Returns the archive.
fn build_image(root: &Path, output: Option<&Path>) -> anyhow::Result<PathBuf> {
    let mut needed = Prereq::BUILD.to_vec();
    needed.extend(["bpftool", "umoci"].map(Prereq::Debian));
    require(&needed)?;
    let agent = build_agent(root, true)?;
    let mut revision = git(root, &["rev-parse", "HEAD"])?;
    // Uncommitted changes to tracked files make a binary the commit does
    // not describe: say so in the revision (and so in the tag).
    if !git(root, &["status", "--porcelain", "--untracked-files=no"])?.is_empty() {
        println!("warning: the work tree has uncommitted changes; the image is labelled -dirty");
        revision.push_str("-dirty");
    }
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => value.parse().with_context(|| format!("SOURCE_DATE_EPOCH={value} is not a number"))?,
        Err(_) => git(root, &["log", "-1", "--format=%ct"])?.parse().context("git log --format=%ct")?,
    };
    let manifest =
        fs::read_to_string(root.join("bfd-user/Cargo.toml")).context("reading bfd-user/Cargo.toml")?;
    let version = manifest
        .lines()
        .find_map(|line| line.strip_prefix("version = \"")?.strip_suffix('"'))
        .context("no version in bfd-user/Cargo.toml")?
        .to_owned();
    let short = &revision[..12.min(revision.len())];
    let output = match output {
        Some(path) => path.to_owned(),
        None => target_dir(root).join("image").join(format!("bfd-agent-{version}-{short}.oci.tar")),
    };
    let built = image::build(&image::ImageInputs {
        agent: &agent,
        version: &version,
        revision: &revision,
        epoch,
        output: &output,
    })?;
    let bundle = image::check_with_umoci(&output, &built.reference, &target_dir(root).join("image"))?;
    println!("image:    {}", built.reference);
    println!("digest:   {} (the manifest's)", built.manifest_digest);
    println!("archive:  {} ({} bytes)", output.display(), fs::metadata(&output)?.len());
    println!("layer:    {} bytes gzip, {} bytes unpacked", built.layer_bytes, built.rootfs_bytes);
    println!("created:  {} (SOURCE_DATE_EPOCH={epoch})", image::rfc3339(epoch));
    println!("checked:  umoci unpacked it into {}", bundle.display());
    println!(
        "load it:  podman load -i {path}\n          docker load -i {path}\n          ctr -n k8s.io images import {path}",
        path = output.display()
    );
    Ok(output)
}

/// Benchmark scenarios, run by the `bfd-bench` binary (crate `bench/`, on
/// the lab of `lab/`; `bfd-bench --help` lists its options), with the release
/// agent it starts in its namespaces; tables and plots go to
/// `target/bench/`. A missed target is reported, never a failure; a
/// scenario that cannot run fails the command.
fn bench(root: &Path, scenarios: &[String], quick: bool) -> anyhow::Result<()> {
    let mut needed = Prereq::BUILD.to_vec();
    needed.extend(
        ["frr", "bpftool", "iproute2", "util-linux", "nftables", "tcpdump", "tshark", "stress-ng"]
            .map(Prereq::Debian),
    );
    require(&needed)?;
    if !is_root() {
        bail!("the benchmarks create namespaces and load the XDP program: run `sudo cargo xtask bench`");
    }
    let agent = build_agent(root, true)?;
    let mut cargo = cargo(root);
    cargo
        .args(["run", "--quiet", "--release", "--package", "bfd-bench", "--"])
        .args(scenarios)
        .env("BFD_AGENT", &agent)
        .env("BFD_BENCH_OUT", target_dir(root).join("bench"));
    if quick {
        cargo.arg("--quick");
    }
    run(&mut cargo)
}

fn test(root: &Path, unit_only: bool) -> anyhow::Result<()> {
    require(Prereq::BUILD)?;
    let mut totals = TestTotals::default();
    println!("== unit tests (no root)");
    let unit = run_tests(
        cargo(root).args(["test", "--workspace", "--exclude", "bfd-tests", "--exclude", "bfd-ebpf"]),
        &mut totals,
    );
    if unit_only || unit.is_err() {
        return totals.finish(unit);
    }

    let mut needed = vec![Prereq::Debian("tshark")];
    let privileged = is_root();
    if privileged {
        needed.extend(
            [
                "bpftool",
                "iproute2",
                "util-linux",
                "frr",
                "bird2",
                "nftables",
                "tcpdump",
                "iputils-ping",
                "umoci",
                "runc",
            ]
            .map(Prereq::Debian),
        );
    }
    require(&needed)?;
    if privileged {
        peers::require()?;
    }
    let previous = if privileged { build_previous_agent(root)? } else { None };
    let agent = build_agent(root, false)?;
    let mut cargo = cargo(root);
    cargo.args(["test", "--package", "bfd-tests"]).env("BFD_AGENT", &agent);
    if let Some(previous) = previous {
        // tests/tests/agent_restart_peers.rs: a changed program takes the
        // sessions over, both ways.
        cargo.env("BFD_AGENT_OTHER", previous);
    }
    if privileged {
        // tests/tests/image.rs runs the image under runc.
        println!("== the OCI image");
        cargo.env("BFD_IMAGE", build_image(root, None)?);
        println!("== end-to-end tests (root)");
        // One thread: the tests create namespaces, links and pins, and some
        // measure timing; they must not compete with each other.
        cargo.args(["--", "--test-threads=1"]);
    } else {
        println!("== end-to-end tests that need no root (not root: privileged tests skipped)");
        cargo.args(["--test", "tshark", "--test", "prometheus_rules"]);
    }
    let end_to_end = run_tests(&mut cargo, &mut totals);
    totals.finish(end_to_end)
}

/// Passed and failed tests summed over every `cargo test` run.
#[derive(Default)]
struct TestTotals {
    passed: u64,
    failed: u64,
}

impl TestTotals {
    /// Prints the closing `N passed, N failed` line over all runs and
    /// returns `result`.
    fn finish(self, result: anyhow::Result<()>) -> anyhow::Result<()> {
        println!("\ntests: {} passed, {} failed", self.passed, self.failed);
        result
    }

    /// Adds a libtest summary line (`test result: ok. 3 passed; 0 failed; ...`).
    fn add_summary(&mut self, line: &str) {
        let Some(summary) = line.strip_prefix("test result: ") else { return };
        for part in summary.split(['.', ';']) {
            let mut words = part.split_whitespace();
            if let (Some(count), Some(kind)) = (words.next(), words.next()) {
                match (count.parse::<u64>(), kind) {
                    (Ok(count), "passed") => self.passed += count,
                    (Ok(count), "failed") => self.failed += count,
                    _ => {}
                }
            }
        }
    }
}

/// Runs `cargo test`, passing its output through and counting its results.
fn run_tests(command: &mut Command, totals: &mut TestTotals) -> anyhow::Result<()> {
    use std::io::BufRead as _;
    let shown = format!("{command:?}");
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {shown}"))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        totals.add_summary(&line);
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

fn lint(root: &Path) -> anyhow::Result<()> {
    require(Prereq::BUILD)?;
    run(cargo(root).args(["fmt", "--all", "--", "--check"]))?;
    run(cargo(root).args([
        "clippy",
        "--workspace",
        "--exclude",
        "bfd-ebpf",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The XDP program only compiles for the BPF target.
    run(Command::new("rustup")
        .args([
            "run",
            "nightly",
            "cargo",
            "clippy",
            "--package",
            "bfd-ebpf",
            "--target",
            "bpfel-unknown-none",
        ])
        .args(["-Z", "build-std=core", "--release", "--", "-D", "warnings"])
        .current_dir(root)
        .env("CARGO_TARGET_DIR", target_dir(root).join("ebpf-clippy")))
}

fn fuzz(root: &Path, seconds: u32, targets: &[String]) -> anyhow::Result<()> {
    require(&[Prereq::CargoFuzz, Prereq::RustSrc])?;
    let targets: Vec<&str> =
        if targets.is_empty() { FUZZ_TARGETS.to_vec() } else { targets.iter().map(String::as_str).collect() };
    for target in targets {
        println!("== fuzzing {target} for {seconds} s");
        run(Command::new("rustup")
            .args(["run", "nightly", "cargo", "fuzz", "run", target, "--"])
            .arg(format!("-max_total_time={seconds}"))
            .current_dir(root.join("fuzz")))?;
    }
    Ok(())
}

fn cargo(root: &Path) -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root);
    command
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let shown = format!("{command:?}");
    let status = command.status().with_context(|| format!("cannot start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_totals_sum_libtest_summaries() {
        let mut totals = TestTotals::default();
        totals.add_summary(
            "test result: ok. 56 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s",
        );
        totals.add_summary("test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out");
        totals.add_summary("running 3 tests");
        assert_eq!((totals.passed, totals.failed), (57, 2));
    }
}
