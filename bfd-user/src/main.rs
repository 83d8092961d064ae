//! `bfd-agent`: the bfd-xdp agent and its operator CLI.
//!
//! The BFD sessions themselves come with the session core; today the binary
//! manages and inspects the kernel fast path.

use std::path::PathBuf;

use anyhow::Context as _;
use bfd_common::{maps::GlobalStats, wire::Error as WireError};
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
                "inspect: bpftool map dump pinned {dir}/<map>   (maps: {maps})\n         bfd-agent xdp \
                 stats --pin-path {dir}\ndetach:  bfd-agent xdp detach --pin-path {dir}",
                dir = attached.pin_dir.display(),
                maps = bfd_common::maps::MAP_NAMES.join(", "),
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

/// The frame and timer counters of [`GlobalStats`] but the invalid packets
/// by reason: (JSON key, text label, section, value), in output order.
fn counters(stats: &GlobalStats) -> [(&'static str, &'static str, Section, u64); 21] {
    use Section::{Control, Echo, Frames, Timers};
    [
        ("frames", "frames seen", Frames, stats.frames),
        ("not-bfd", "not BFD, passed untouched", Frames, stats.not_bfd),
        ("ctl-absorbed", "absorbed", Control, stats.ctl_absorbed),
        ("ctl-pass-discr0", "passed: Your Discriminator 0", Control, stats.ctl_pass_discr0),
        ("ctl-pass-changed", "passed: changed", Control, stats.ctl_pass_changed),
        ("ctl-pass-auth", "passed: authenticated", Control, stats.ctl_pass_auth),
        ("ctl-pass-oversize", "passed: oversize", Control, stats.ctl_pass_oversize),
        ("ctl-drop-unknown", "dropped: unknown discriminator", Control, stats.ctl_drop_unknown),
        ("ctl-drop-ttl", "dropped: TTL", Control, stats.ctl_drop_ttl),
        ("ctl-drop-src", "dropped: source not the peer", Control, stats.ctl_drop_src),
        ("ctl-drop-dst", "dropped: destination", Control, stats.ctl_drop_dst),
        ("ctl-drop-iface", "dropped: interface", Control, stats.ctl_drop_iface),
        ("ctl-drop-port", "dropped: port", Control, stats.ctl_drop_port),
        ("echo-own", "ours, back (absorbed)", Echo, stats.echo_own),
        ("echo-reflected", "peers', reflected", Echo, stats.echo_reflected),
        ("echo-pass-not-self", "passed: not to its sender", Echo, stats.echo_pass_not_self),
        ("echo-pass-denied", "passed: peer not allowed", Echo, stats.echo_pass_denied),
        ("echo-pass-ttl", "passed: TTL not 255", Echo, stats.echo_pass_ttl),
        ("ctl-expired", "control detection timeouts", Timers, stats.ctl_expired),
        ("echo-expired", "echo detection timeouts", Timers, stats.echo_expired),
        ("events-lost", "events lost (ring buffer full)", Timers, stats.events_lost),
    ]
}

/// Where a counter is printed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Frames,
    Control,
    Echo,
    Timers,
}

fn stats_json(stats: &GlobalStats) -> serde_json::Value {
    let mut json: serde_json::Map<String, serde_json::Value> =
        counters(stats).iter().map(|(key, _, _, value)| ((*key).to_owned(), (*value).into())).collect();
    let reasons = WireError::ALL
        .iter()
        .map(|error| (error.as_str().to_owned(), serde_json::Value::from(stats.control_invalid.get(*error))))
        .collect::<serde_json::Map<_, _>>();
    json.insert("ctl-drop-invalid".into(), reasons.into());
    json.into()
}

fn print_stats(stats: &GlobalStats) {
    let counters = counters(stats);
    let print = |section: Section| {
        for (_, label, _, value) in counters.iter().filter(|counter| counter.2 == section) {
            let indent = if section == Section::Frames { "  " } else { "    " };
            println!("{indent}{label:<w$}{value:>12}", w = 40 - indent.len());
        }
    };
    println!("XDP program counters (all CPUs):");
    print(Section::Frames);
    println!("  control packets");
    print(Section::Control);
    println!("    {:<36}{:>12}", "dropped: invalid", stats.control_invalid.total());
    for error in WireError::ALL {
        let count = stats.control_invalid.get(error);
        if count > 0 {
            println!("      {:<34}{count:>12}  ({error})", error.as_str());
        }
    }
    println!("  echo packets");
    print(Section::Echo);
    println!("  timers");
    print(Section::Timers);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_json_names_every_counter_and_drop_reason_with_its_own_count() {
        // Every u64 of GlobalStats a distinct value: each must come out
        // once, under its own name.
        let mut stats = GlobalStats::default();
        let words: &mut [u64] = bytemuck::cast_slice_mut(std::slice::from_mut(&mut stats));
        for (index, word) in words.iter_mut().enumerate() {
            *word = 1000 + index as u64;
        }
        let json = stats_json(&stats);
        assert_eq!(json["frames"], stats.frames);
        assert_eq!(json["ctl-absorbed"], stats.ctl_absorbed);
        assert_eq!(json["echo-reflected"], stats.echo_reflected);
        assert_eq!(json["events-lost"], stats.events_lost);
        let reasons = json["ctl-drop-invalid"].as_object().unwrap();
        assert_eq!(reasons.len(), WireError::COUNT);
        for error in WireError::ALL {
            assert_eq!(reasons[error.as_str()], stats.control_invalid.get(error), "{error:?}");
        }
        let mut seen: Vec<u64> = json
            .as_object()
            .unwrap()
            .values()
            .flat_map(|value| match value.as_object() {
                Some(reasons) => reasons.values().map(|value| value.as_u64().unwrap()).collect(),
                None => vec![value.as_u64().unwrap()],
            })
            .collect();
        seen.sort_unstable();
        let words: &[u64] = bytemuck::cast_slice(std::slice::from_ref(&stats));
        assert_eq!(seen, words, "every field exactly once");
    }
}
