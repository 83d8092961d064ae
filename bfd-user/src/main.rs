//! `bfd-agent`: the bfd-xdp agent and its operator CLI.
//!
//! - `run`: the agent (sessions, XDP fast path, control socket);
//! - `check`: validates configuration files without running;
//! - `show peers [brief|counters] [--json]`, `reload`: talk to a running
//!   agent over its control socket;
//! - `xdp attach|detach|stats`: the fast path by hand.

mod agent;

use std::path::PathBuf;

use anyhow::Context as _;
use bfd_common::{maps::GlobalStats, wire::Error as WireError};
use bfd_user::config::{self, NodeOverrides};
use bfd_user::control::{self, DEFAULT_CONTROL_SOCKET, Request, Response};
use bfd_user::fastpath::{self, AttachMode, DEFAULT_PIN_DIR};
use bfd_user::show;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "bfd-agent", version, about = "BFD with an XDP fast path")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent: BFD sessions from the configuration, the XDP fast
    /// path, the control socket. Reloads on SIGHUP and when a file changes.
    Run(Box<RunArgs>),
    /// Validate configuration files without running; exits non-zero on
    /// any error, naming the file, document, field and reason.
    Check {
        /// Configuration files (YAML, any number of documents each).
        #[arg(long = "config", required = true, num_args = 1..)]
        config: Vec<PathBuf>,
    },
    /// Ask the running agent.
    #[command(subcommand)]
    Show(ShowCommand),
    /// Make the running agent re-read its configuration now.
    Reload {
        /// The agent's control socket.
        #[arg(long, default_value = DEFAULT_CONTROL_SOCKET)]
        control_socket: PathBuf,
    },
    /// Manage and inspect the XDP program.
    #[command(subcommand)]
    Xdp(XdpCommand),
}

#[derive(clap::Args)]
struct RunArgs {
    /// Configuration files (YAML: MetalLB BFDProfile/BGPPeer, and our
    /// BFDAgentConfig).
    #[arg(long = "config", num_args = 1..)]
    config: Vec<PathBuf>,
    /// Interface to attach the XDP program to (repeatable; overrides
    /// spec.interfaces).
    #[arg(long = "iface")]
    interfaces: Vec<String>,
    /// bpffs directory for the program's pins, one per agent instance.
    #[arg(long)]
    pin_path: Option<PathBuf>,
    /// XDP mode: native with generic as the fallback, or only one.
    #[arg(long, value_enum)]
    mode: Option<AttachMode>,
    /// Run every session in userspace, without the XDP program.
    #[arg(long)]
    no_xdp: bool,
    /// What SIGTERM/SIGINT do to the sessions: admin-down (tell every peer,
    /// detach; the default), handover (leave program, maps and sessions
    /// in the kernel for the next agent on this pin path, which adopts
    /// them) or auto (handover if a successor agent waits, else
    /// admin-down). Overrides spec.onStop.
    #[arg(long, value_parser = config::OnStop::parse)]
    on_stop: Option<config::OnStop>,
    /// This agent's name for handovers (the DaemonSet gives the pod's UID):
    /// an agent that took the sessions over from instance X makes X, if it
    /// starts again, wait instead of taking them back.
    #[arg(long, default_value = "")]
    instance: String,
    /// How long the kernel answers for the Up sessions once the agent is
    /// gone, in seconds (0-3600, 0: never; default 30). Overrides
    /// spec.keepaliveSeconds.
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=3600))]
    keepalive_seconds: Option<u64>,
    /// The control socket (mode 0600), one per agent instance.
    #[arg(long)]
    control_socket: Option<PathBuf>,
    /// Run the engine thread SCHED_FIFO at this priority (1-99), with
    /// locked memory.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=99))]
    rt_priority: Option<u8>,
    /// Run the engine thread SCHED_DEADLINE with this budget, RUNTIME/PERIOD
    /// (e.g. 300us/1ms), with locked memory: unlike SCHED_FIFO, not
    /// preempted by the kernel's fair server when real-time tasks saturate
    /// a CPU (overrides spec.rtDeadline).
    #[arg(long, value_name = "RUNTIME/PERIOD", value_parser = config::parse_rt_deadline,
          conflicts_with = "rt_priority")]
    rt_deadline: Option<config::DeadlineBudget>,
    /// This node's name (for BGPPeer nodeSelectors; overrides spec.nodeName).
    #[arg(long)]
    node_name: Option<String>,
    /// A node label KEY=VALUE for BGPPeer nodeSelectors (repeatable; adds
    /// to spec.nodeLabels).
    #[arg(long = "node-label", value_parser = config::parse_node_label)]
    node_labels: Vec<(String, String)>,
    /// A program to run on every session state change, with the change in
    /// its environment (BFD_PEER, BFD_OLD_STATE, BFD_NEW_STATE,
    /// BFD_DIAGNOSTIC, ...; overrides spec.hook.command).
    #[arg(long)]
    hook: Option<String>,
    /// The hook's time limit in seconds (1-300; default 10).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=300))]
    hook_timeout: Option<u64>,
    /// Withdraw routes through a failed peer from this routing table (main,
    /// local, default or a number; repeatable): turns route withdrawal on
    /// (overrides spec.routes.tables).
    #[arg(long = "route-table", value_parser = config::parse_route_table)]
    route_tables: Vec<u32>,
    /// Withdraw only routes of this protocol (kernel, boot, static, bird,
    /// bgp, ... or a number; repeatable; overrides spec.routes.protocols).
    #[arg(long = "route-protocol", value_parser = config::parse_route_protocol)]
    route_protocols: Vec<u8>,
    /// Where withdrawn routes are recorded (overrides spec.routes.stateFile).
    #[arg(long)]
    route_state_file: Option<PathBuf>,
    /// Serve as FRR bfdd's data plane (`bfdd --dplaneaddr`), with the same
    /// address bfdd is given: unix:PATH or ipv4:ADDR[:PORT] or
    /// ipv6:[ADDR][:PORT] (bfdd listens, the agent connects), or unixc:,
    /// ipv4c:, ipv6c: (bfdd connects, the agent listens). bfdd's
    /// configuration then drives the sessions (overrides spec.frrDataPlane).
    #[arg(long = "frr-dplane", value_name = "ADDRESS")]
    frr_dplane: Option<bfd_user::dplane::Address>,
    /// Where to serve /metrics (Prometheus), /healthz and /readyz: IP:PORT,
    /// or none (overrides spec.metrics.address; default 127.0.0.1:9784).
    #[arg(long, value_name = "IP:PORT|none", value_parser = parse_metrics_address)]
    metrics_address: Option<MetricsAddress>,
    /// Also export MetalLB's BFD metric names, so that its dashboards and
    /// alerts work unchanged: metallb or none (overrides
    /// spec.metrics.compat).
    #[arg(long, value_name = "metallb|none")]
    metrics_compat: Option<bfd_user::metrics::Compat>,
    /// How the kernel's histograms (control packet gaps, echo round trip,
    /// detection overshoot) are exported: per-session (the default),
    /// aggregate (summed by interface, vrf, type and profile: a scrape no
    /// longer grows with them) or off (overrides spec.metrics.histograms).
    #[arg(long, value_name = "per-session|aggregate|off")]
    metrics_histograms: Option<bfd_user::metrics::Histograms>,
    /// How control packets leave: udp (through IP output: one sendmmsg per
    /// wake on a raw socket, or each session's UDP socket; the default),
    /// packet (single-hop sessions whose neighbour's MAC the kernel has
    /// resolved: whole Ethernet frames through an AF_PACKET socket past
    /// IP output, netfilter and the qdisc; the others as udp) or auto
    /// (packet if its socket opens, else udp). Overrides spec.transmit;
    /// read at start only.
    #[arg(long, value_name = "udp|packet|auto", value_parser = config::TransmitPath::parse)]
    transmit: Option<config::TransmitPath>,
    /// The XDP program answers each of the peer's packets with our
    /// steady-state packet, and the agent sends none of its own, for the
    /// single-hop, unauthenticated sessions that are Up with the same
    /// interval both ways, Detect Mult at least 3, and a discriminator
    /// larger than the peer's (so between two agents one end originates).
    /// Saves the agent a packet per interval per session; a lost packet
    /// of the peer's then also costs the peer one of ours.
    #[arg(long)]
    kernel_answers: bool,
    /// Log filter (tracing's syntax), e.g. "info" or "bfd_agent=debug".
    #[arg(long, default_value = "info")]
    log: String,
    /// Log lines as text (for people) or as JSON objects, one a line
    /// (for log pipelines and the end-to-end tests): the event's fields
    /// under "fields" (with "message"), the session's span under "span".
    #[arg(long, value_enum, default_value_t = LogFormat::Text, value_name = "text|json")]
    log_format: LogFormat,
}

/// `--log-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// tracing's text: `TIME LEVEL span{field=value}: target: message field=value`.
    Text,
    /// tracing-subscriber's JSON formatter.
    Json,
}

#[derive(Subcommand)]
enum ShowCommand {
    /// The sessions, as FRR's `show bfd peers` prints them.
    Peers {
        /// `brief` (one line each) or `counters`.
        #[arg(value_parser = ["brief", "counters"])]
        view: Option<String>,
        /// FRR's JSON keys instead of text.
        #[arg(long)]
        json: bool,
        /// The agent's control socket.
        #[arg(long, default_value = DEFAULT_CONTROL_SOCKET)]
        control_socket: PathBuf,
    },
    /// The agent itself: version, uptime, fast path, sessions.
    Status {
        /// The agent's control socket.
        #[arg(long, default_value = DEFAULT_CONTROL_SOCKET)]
        control_socket: PathBuf,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
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
    /// Mount bpffs at a path unless one is mounted there (the DaemonSet's
    /// init container, on the host's /sys/fs/bpf).
    MountBpffs {
        /// Where to mount it.
        #[arg(long, default_value = "/sys/fs/bpf")]
        path: PathBuf,
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
        Command::Run(args) => run_agent(*args)?,
        Command::Check { config } => check(&config)?,
        Command::Show(ShowCommand::Peers { view, json, control_socket }) => {
            let peers = match query(&control_socket, &Request::ShowPeers)? {
                Response::Peers(peers) => peers,
                other => anyhow::bail!("unexpected answer from the agent: {other:?}"),
            };
            let text = match (view.as_deref(), json) {
                (None, false) => show::format_peers(&peers),
                (Some("brief"), false) => show::format_brief(&peers),
                (Some(_), false) => show::format_counters(&peers),
                (None, true) => serde_json::to_string_pretty(&show::peers_json(&peers))?,
                (Some("brief"), true) => serde_json::to_string_pretty(&show::brief_json(&peers))?,
                (Some(_), true) => serde_json::to_string_pretty(&show::counters_json(&peers))?,
            };
            println!("{}", text.trim_end());
        }
        Command::Show(ShowCommand::Status { control_socket, json }) => {
            match query(&control_socket, &Request::Status)? {
                Response::Status(status) if json => println!("{}", serde_json::to_string_pretty(&status)?),
                Response::Status(status) => {
                    println!("bfd-agent {}", status.version);
                    println!("  uptime:    {}", show::time_string(status.uptime_secs));
                    println!("  fast path: {}", status.fast_path);
                    match status.sessions_up {
                        Some(up) => println!("  sessions:  {} ({up} Up)", status.sessions),
                        None => println!("  sessions:  {}", status.sessions),
                    }
                    if let Some(dropped) = status.receive_dropped {
                        println!("  received:  {dropped} control packets dropped at a full receive socket");
                    }
                    println!("  transmit:  {}", status.transmit.summary());
                    println!("  config:    {}", status.config_files.join(", "));
                }
                other => anyhow::bail!("unexpected answer from the agent: {other:?}"),
            }
        }
        Command::Reload { control_socket } => match query(&control_socket, &Request::Reload)? {
            Response::Reloaded { summary } => println!("reloaded: {summary}"),
            other => anyhow::bail!("unexpected answer from the agent: {other:?}"),
        },
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
        Command::Xdp(XdpCommand::MountBpffs { path }) => {
            let mounted = fastpath::mount_bpffs(&path)?;
            println!(
                "{} {}",
                if mounted { "mounted bpffs at" } else { "bpffs already mounted at" },
                path.display()
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

/// `bfd-agent check`: prints the summary or every error; non-zero exit on
/// any error.
fn check(files: &[PathBuf]) -> anyhow::Result<()> {
    let report = config::check(files);
    if report.ok {
        println!("{}", report.text.trim_end());
        Ok(())
    } else {
        eprintln!("{}", report.text.trim_end());
        anyhow::bail!("the configuration is not valid")
    }
}

/// `--metrics-address`: an address, or none.
#[derive(Clone, Debug)]
struct MetricsAddress(Option<std::net::SocketAddr>);

fn parse_metrics_address(text: &str) -> Result<MetricsAddress, String> {
    config::parse_metrics_address(text).map(MetricsAddress)
}

/// `bfd-agent run`.
fn run_agent(args: RunArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log).context("--log")?;
    use std::io::IsTerminal as _;
    let log = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => log.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => log.json().with_current_span(true).with_span_list(true).init(),
    }
    let overrides = NodeOverrides {
        node_name: args.node_name,
        node_labels: (!args.node_labels.is_empty()).then(|| args.node_labels.into_iter().collect()),
        interfaces: (!args.interfaces.is_empty()).then_some(args.interfaces),
        pin_path: args.pin_path,
        control_socket: args.control_socket,
        rt_priority: args.rt_priority,
        rt_deadline: args.rt_deadline,
        no_xdp: args.no_xdp.then_some(true),
        xdp_mode: args.mode,
        hook: args.hook,
        hook_timeout: args.hook_timeout.map(std::time::Duration::from_secs),
        route_tables: (!args.route_tables.is_empty()).then_some(args.route_tables),
        route_state_file: args.route_state_file,
        route_protocols: (!args.route_protocols.is_empty()).then_some(args.route_protocols),
        frr_data_plane: args.frr_dplane,
        on_stop: args.on_stop,
        keepalive: args.keepalive_seconds.map(std::time::Duration::from_secs),
        metrics_address: args.metrics_address.map(|address| address.0),
        metrics_compat: args.metrics_compat,
        metrics_histograms: args.metrics_histograms,
        transmit: args.transmit,
    };
    let files = args.config;
    let initial = config::load_with(&files, &overrides).map_err(|errors| anyhow::anyhow!("{errors}"))?;
    let node = &initial.node;
    let options = agent::AgentOptions {
        config_files: files,
        interfaces: node.interfaces.clone(),
        pin_path: node.pin_path.clone(),
        xdp_mode: node.xdp_mode,
        no_xdp: node.no_xdp,
        control_socket: node.control_socket.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_CONTROL_SOCKET)),
        scheduling: node.engine_scheduling(),
        hook: node.hook.clone(),
        routes: node.routes.clone(),
        frr_data_plane: node.frr_data_plane.clone(),
        on_stop: node.on_stop,
        instance: args.instance,
        keepalive: node.keepalive,
        metrics: node.metrics.clone(),
        transmit: node.transmit,
        kernel_answers: args.kernel_answers,
        secret_files: {
            let mut files: Vec<PathBuf> = initial
                .peers
                .iter()
                .filter_map(|peer| peer.auth.as_ref())
                .flat_map(|auth| auth.secret_files.iter().map(|(_, path)| path.clone()))
                .collect();
            files.sort();
            files.dedup();
            files
        },
    };
    // Node settings are read once: a reload changes sessions, not where the
    // agent runs (changing those needs a restart, and the log says so).
    let started_with = initial.node.clone();
    let load: agent::Loader = std::sync::Arc::new(move |files: &[PathBuf]| {
        let config = config::load_with(files, &overrides).map_err(|errors| anyhow::anyhow!("{errors}"))?;
        let changed = config.node.changed_fields(&started_with);
        if !changed.is_empty() {
            tracing::warn!(fields = ?changed, "node settings (BFDAgentConfig) changed: they take effect at the next restart");
        }
        if changed.contains(&"transmit") {
            // Its own line: which path runs is easy to assume wrongly.
            tracing::warn!(
                running = %started_with.transmit,
                configured = %config.node.transmit,
                "spec.transmit changed: control packets keep the running transmit path until the agent restarts"
            );
        }
        Ok(agent::Loaded { specs: config.peers, restart_needed: changed })
    });
    agent::run(options, load)
}

/// Asks the agent; an error answer becomes this command's error.
fn query(socket: &std::path::Path, request: &Request) -> anyhow::Result<Response> {
    match control::query(socket, request)? {
        Response::Error(error) => anyhow::bail!("the agent says: {error}"),
        response => Ok(response),
    }
}

/// The frame and timer counters of [`GlobalStats`] but the invalid packets
/// by reason: (JSON key, text label, section, value), in output order.
fn counters(stats: &GlobalStats) -> [(&'static str, &'static str, Section, u64); 22] {
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
        ("ctl-drop-rate", "dropped: over its source's rate", Control, stats.ctl_drop_rate),
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
