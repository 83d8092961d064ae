//! `cargo xtask bench [SCENARIO...] [--quick]` (`bfd-bench --help` lists
//! the scenarios and options): benchmarks of bfd-agent side by side with
//! FRR's bfdd, which print figures next to their targets and assert nothing
//! (root).
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
mod restart;
mod scale;
mod scrape;
mod stall;
mod svg;
mod txpath;

use std::{path::PathBuf, sync::OnceLock};

use anyhow::bail;
use bfd_lab::lab::require_root;
use clap::{Parser, ValueEnum};

use crate::report::Machine;

/// `cargo xtask bench` passes its arguments through; `--out` and `--only`
/// are for running the binary by hand.
#[derive(Parser)]
#[command(
    name = "bfd-bench",
    about = "Benchmarks of bfd-agent side by side with FRR's bfdd and BIRD (root); figures are printed next \
             to their targets, never asserted",
    after_help = "The agent binary comes from BFD_AGENT (cargo xtask sets the release build)."
)]
struct Args {
    /// Scenarios to run, in this order (default: all, in the order listed).
    #[arg(value_enum, value_name = "SCENARIO")]
    scenarios: Vec<Scenario>,
    /// A short version of each scenario that fits in CI (fewer trials,
    /// shorter windows, fewer sizes).
    #[arg(long)]
    quick: bool,
    /// Where tables (Markdown, JSON) and SVG plots go.
    #[arg(long, env = "BFD_BENCH_OUT", default_value = "target/bench", value_name = "DIR")]
    out: PathBuf,
    /// Runs only the configurations (e.g. `bfd-agent rt-hogs`) whose name
    /// contains this; the tables then hold only what ran.
    #[arg(long, env = "BFD_BENCH_ONLY", value_name = "TEXT")]
    only: Option<String>,
}

/// The scenarios, in the order `cargo xtask bench` runs them by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// ns per packet of the XDP program's paths (BPF_PROG_TEST_RUN)
    Fastpath,
    /// detection overshoot at 10 and 50 ms x 3, unloaded and under load, agent vs bfdd and BIRD
    Detection,
    /// state changes at 10, 5 and 3.3 ms x 3 over minutes, under each load
    Floor,
    /// CPU, packets, memory and bring-up time for N sessions at 50 ms x 3
    Scale,
    /// control packets absorbed in the kernel and agent wake-ups at N = 1000
    FastpathShare,
    /// echo round-trip time and reflected packets per second: XDP vs. kernel forwarding
    Echo,
    /// time and size of one /metrics scrape at 1, 1000 and 10,000 sessions
    Scrape,
    /// CPU per control packet on each transmit path: raw IP sendmmsg, AF_PACKET frames, UDP socket
    Txpath,
    /// an agent killed and restarted on its pins with N sessions Up: what the peer sees, how long adoption takes
    Restart,
}

impl Scenario {
    /// Its name on the command line.
    fn name(self) -> String {
        self.to_possible_value().map(|value| value.get_name().to_owned()).unwrap_or_default()
    }
}

/// What every scenario needs.
pub struct Context {
    /// `--quick`.
    pub quick: bool,
    /// Where tables and plots go.
    pub out: PathBuf,
    /// The machine, for the reports.
    pub machine: Machine,
}

/// `--only` (or `BFD_BENCH_ONLY`), set once by `main`.
static ONLY: OnceLock<Option<String>> = OnceLock::new();

/// Whether a configuration (e.g. `bfd-agent rt-hogs`) is to run: `--only`
/// (`BFD_BENCH_ONLY`), if given, must occur in it. For working on one
/// configuration; the tables then hold only what ran.
pub fn selected(configuration: &str) -> bool {
    ONLY.get().and_then(Option::as_deref).is_none_or(|only| configuration.contains(only))
}

fn main() -> std::process::ExitCode {
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let named = !args.scenarios.is_empty();
    let scenarios = if named { args.scenarios.clone() } else { Scenario::value_variants().to_vec() };
    let names: Vec<String> = scenarios.iter().map(|scenario| scenario.name()).collect();
    require_root()?;
    let _ = ONLY.set(args.only.clone());
    let quick = args.quick;
    let out = args.out.clone();
    let command = format!(
        "cargo xtask bench{}{}",
        if named { format!(" {}", names.join(" ")) } else { String::new() },
        if quick { " --quick" } else { "" }
    );
    let context = Context { quick, out: out.clone(), machine: Machine::read(command, quick, out) };
    // The lab's guards print their daemons' logs only while a thread
    // panics (outside a test): a benchmark reports its own failures.
    eprintln!("bench on {}{}", context.machine.describe(), if quick { " (quick)" } else { "" });
    let mut failed = Vec::new();
    for (scenario, name) in scenarios.iter().zip(&names) {
        let started = std::time::Instant::now();
        let result = match scenario {
            Scenario::Fastpath => fastpath::run(),
            Scenario::Detection => detection::run(&context),
            Scenario::Floor => floor::run(&context),
            Scenario::Scale => scale::run(&context),
            Scenario::FastpathShare => scale::fastpath_share(&context),
            Scenario::Echo => echo::run(&context),
            Scenario::Scrape => scrape::run(&context),
            Scenario::Txpath => txpath::run(&context),
            Scenario::Restart => restart::run(&context),
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
