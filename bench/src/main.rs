//! `cargo xtask bench [SCENARIO...] [--quick]`: benchmarks of bfd-agent
//! side by side with FRR's bfdd, which print figures next to their targets
//! and assert nothing (root).
//!
//! Each scenario prints one table and writes it as Markdown and JSON (with
//! the raw measurements) to the output directory, `BFD_BENCH_OUT` (`cargo
//! xtask` sets `target/bench`), beside SVG plots. The scenarios build
//! their own namespaces and start the agents and bfdd themselves (the
//! agent binary comes from `BFD_AGENT`, as in the end-to-end tests).
//! `--quick` runs a shorter version of each (fewer trials, shorter
//! windows, fewer sizes) that fits in CI.

mod detection;
mod echo;
mod fastpath;
mod floor;
mod load;
mod measure;
mod pair;
mod report;
mod scale;
mod scrape;
mod stall;
mod svg;

use std::path::PathBuf;

use anyhow::bail;
use bfd_tests::{e2e::test_passed, lab::require_root};

use crate::report::Machine;

/// The scenarios, in the order `cargo xtask bench` runs them by default.
const SCENARIOS: &[(&str, &str)] = &[
    ("fastpath", "ns per packet of the XDP program's paths (BPF_PROG_TEST_RUN)"),
    ("detection", "detection overshoot at 10 and 50 ms x 3, unloaded and under load, agent vs bfdd"),
    ("floor", "state changes at 10, 5 and 3.3 ms x 3 over minutes, under each load"),
    ("scale", "CPU, packets, memory and bring-up time for N sessions at 50 ms x 3"),
    ("fastpath-share", "control packets absorbed in the kernel and agent wake-ups at N = 1000"),
    ("echo", "echo round-trip time and reflected packets per second: XDP vs. kernel forwarding"),
    ("scrape", "time and size of one /metrics scrape at 1, 1000 and 10,000 sessions"),
];

/// What every scenario needs.
pub struct Context {
    /// `--quick`.
    pub quick: bool,
    /// Where tables and plots go.
    pub out: PathBuf,
    /// The machine, for the reports.
    pub machine: Machine,
}

/// Whether a configuration (e.g. `bfd-agent rt-hogs`) is to run:
/// `BFD_BENCH_ONLY`, if set, must occur in it. For working on one
/// configuration; the tables then hold only what ran.
pub fn selected(configuration: &str) -> bool {
    std::env::var("BFD_BENCH_ONLY").map_or(true, |only| configuration.contains(&only))
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|arg| arg == "--quick");
    let mut names: Vec<String> = args.iter().filter(|arg| !arg.starts_with("--")).cloned().collect();
    if let Some(unknown) = args.iter().find(|arg| arg.starts_with("--") && *arg != "--quick") {
        bail!("unknown option {unknown}; usage: bfd-bench [SCENARIO...] [--quick]");
    }
    if names.is_empty() {
        names = SCENARIOS.iter().map(|(name, _)| (*name).to_owned()).collect();
    }
    for name in &names {
        if !SCENARIOS.iter().any(|(known, _)| known == name) {
            let known: Vec<String> =
                SCENARIOS.iter().map(|(name, what)| format!("  {name}: {what}")).collect();
            bail!("no benchmark scenario {name:?}; the scenarios are:\n{}", known.join("\n"));
        }
    }
    require_root()?;
    // The lab's guards print daemon logs unless the "test" passed: a
    // benchmark reports its own failures.
    test_passed();
    let out = std::env::var_os("BFD_BENCH_OUT").map_or_else(|| PathBuf::from("target/bench"), PathBuf::from);
    let command = format!(
        "cargo xtask bench{}{}",
        if args.iter().any(|arg| !arg.starts_with("--")) {
            format!(" {}", names.join(" "))
        } else {
            String::new()
        },
        if quick { " --quick" } else { "" }
    );
    let context = Context { quick, out: out.clone(), machine: Machine::read(command, quick, out) };
    eprintln!("bench on {}{}", context.machine.describe(), if quick { " (quick)" } else { "" });
    let mut failed = Vec::new();
    for name in &names {
        let started = std::time::Instant::now();
        let result = match name.as_str() {
            "fastpath" => fastpath::run(),
            "detection" => detection::run(&context),
            "floor" => floor::run(&context),
            "scale" => scale::run(&context),
            "fastpath-share" => scale::fastpath_share(&context),
            "echo" => echo::run(&context),
            "scrape" => scrape::run(&context),
            _ => unreachable!("checked above"),
        };
        eprintln!("{name}: {:.0} s", started.elapsed().as_secs_f64());
        // A scenario that fails is reported and the others still run.
        if let Err(error) = result {
            eprintln!("error: scenario {name}: {error:#}");
            failed.push(name.clone());
        }
    }
    if !failed.is_empty() {
        bail!("scenarios failed: {}", failed.join(", "));
    }
    Ok(())
}
