//! `bfd-agent`: the bfd-xdp agent and its operator CLI.
//!
//! The BFD sessions themselves come with the session core; today the binary
//! manages and inspects the kernel fast path.

use std::path::PathBuf;

use anyhow::Context as _;
use bfd_common::wire::Error as WireError;
use bfd_user::fastpath::{self, AttachMode, DEFAULT_PIN_DIR};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "bfd-agent", version, about = "BFD with an XDP fast path")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage and inspect the XDP program.
    #[command(subcommand)]
    Xdp(XdpCommand),
}

#[derive(Subcommand)]
enum XdpCommand {
    /// Load the XDP program, attach it to an interface and pin its maps and
    /// link; it stays attached after this command exits.
    Attach {
        /// Interface to attach to.
        #[arg(long)]
        iface: String,
        /// bpffs directory for the pins, one per agent instance.
        #[arg(long, default_value = DEFAULT_PIN_DIR)]
        pin_path: PathBuf,
        /// XDP mode: native with generic as the fallback, or only one.
        #[arg(long, value_enum, default_value_t = AttachMode::Auto)]
        mode: AttachMode,
    },
    /// Detach the program by removing every pin under the pin path.
    Detach {
        /// bpffs directory of the pins.
        #[arg(long, default_value = DEFAULT_PIN_DIR)]
        pin_path: PathBuf,
    },
    /// Print the program's global counters, summed over CPUs.
    Stats {
        /// bpffs directory of the pins.
        #[arg(long, default_value = DEFAULT_PIN_DIR)]
        pin_path: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Prints the error and its causes on one line each, never a backtrace:
/// these errors are for operators, and say what to do.
fn main() -> std::process::ExitCode {
    match run_cli() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_cli() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Xdp(XdpCommand::Attach { iface, pin_path, mode }) => {
            let attached = fastpath::attach(&iface, &pin_path, mode)
                .with_context(|| format!("attaching the XDP program to {iface}"))?;
            println!(
                "attached {} to {} in {} mode",
                bfd_common::maps::XDP_PROGRAM,
                attached.iface,
                attached.mode
            );
            for path in &attached.pinned {
                println!("pinned {}", path.display());
            }
            println!(
                "inspect: bpftool map dump pinned {}\ndetach:  bfd-agent xdp detach --pin-path {}",
                attached.pin_dir.join(bfd_common::maps::STATS_MAP).display(),
                attached.pin_dir.display()
            );
        }
        Command::Xdp(XdpCommand::Detach { pin_path }) => {
            let removed =
                fastpath::detach(&pin_path).with_context(|| format!("detaching {}", pin_path.display()))?;
            if removed.is_empty() {
                println!("nothing pinned under {}", pin_path.display());
            }
            for path in removed {
                println!("unpinned {}", path.display());
            }
        }
        Command::Xdp(XdpCommand::Stats { pin_path, json }) => {
            let stats = fastpath::read_stats(&pin_path)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&stats_json(&stats))?);
            } else {
                print_stats(&stats);
            }
        }
    }
    Ok(())
}

fn stats_json(stats: &bfd_common::maps::GlobalStats) -> serde_json::Value {
    let reasons = |counters: &bfd_common::maps::WireErrorCounters| {
        WireError::ALL
            .iter()
            .map(|error| (error.as_str().to_owned(), serde_json::Value::from(counters.get(*error))))
            .collect::<serde_json::Map<_, _>>()
    };
    serde_json::json!({
        "frames": stats.frames,
        "not-bfd": stats.not_bfd,
        "control-valid": stats.control_valid,
        "control-oversize": stats.control_oversize,
        "control-invalid": reasons(&stats.control_invalid),
        "echo-own": stats.echo_own,
        "echo-foreign": stats.echo_foreign,
        "echo-invalid": reasons(&stats.echo_invalid),
    })
}

fn print_stats(stats: &bfd_common::maps::GlobalStats) {
    println!("XDP program counters (all CPUs):");
    println!("\tframes seen:               {}", stats.frames);
    println!("\tnot BFD:                   {}", stats.not_bfd);
    println!("\tcontrol packets valid:     {}", stats.control_valid);
    println!("\tcontrol packets oversize:  {}", stats.control_oversize);
    println!("\tcontrol packets invalid:   {}", stats.control_invalid.total());
    print_reasons(&stats.control_invalid);
    println!("\techo packets, ours:        {}", stats.echo_own);
    println!("\techo packets, peers':      {}", stats.echo_foreign);
    println!("\techo packets invalid:      {}", stats.echo_invalid.total());
    print_reasons(&stats.echo_invalid);
}

fn print_reasons(counters: &bfd_common::maps::WireErrorCounters) {
    for error in WireError::ALL {
        let count = counters.get(error);
        if count > 0 {
            println!("\t\t{:<24} {count}  ({error})", error.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use bfd_common::maps::GlobalStats;

    use super::*;

    #[test]
    fn stats_json_names_every_drop_reason_with_its_own_count() {
        let mut stats = GlobalStats { frames: 100, control_valid: 60, ..GlobalStats::default() };
        for (index, error) in WireError::ALL.into_iter().enumerate() {
            *stats.control_invalid.counter_mut(error) = index as u64 + 1;
        }
        *stats.echo_invalid.counter_mut(WireError::EchoBadVersion) = 7;
        let json = stats_json(&stats);
        assert_eq!(json["frames"], 100);
        assert_eq!(json["control-valid"], 60);
        let reasons = json["control-invalid"].as_object().unwrap();
        assert_eq!(reasons.len(), WireError::COUNT);
        for (index, error) in WireError::ALL.into_iter().enumerate() {
            assert_eq!(reasons[error.as_str()], index as u64 + 1, "{error:?}");
        }
        assert_eq!(json["echo-invalid"]["echo_bad_version"], 7);
    }
}
