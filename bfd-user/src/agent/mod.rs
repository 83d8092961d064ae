//! `bfd-agent run`: the agent. It attaches the XDP fast path, runs the
//! configured sessions on the engine thread, serves the control socket,
//! and reloads its configuration on SIGHUP or when a file changes.

mod dplane;
mod echo;
pub mod engine;
mod handover;
mod hook;
mod metrics;
mod neighbour;
pub mod net;
mod report;
mod route_worker;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bfd_common::{CONTROL_PORT, MULTIHOP_CONTROL_PORT};
use bfd_user::fastpath::{self, AttachMode, Events, FastPath};
use tracing::{info, warn};

use bfd_user::engine::{Command, Origin, Plan};
use engine::{Engine, EngineHandle, FastPathLink, SessionSpec};
use net::RxSocket;

/// How the agent runs, after merging the configuration's node settings and
/// the command line.
#[derive(Clone, Debug)]
pub struct AgentOptions {
    /// The configuration files (reloaded on SIGHUP and on change).
    pub config_files: Vec<PathBuf>,
    /// Interfaces to attach the XDP program to.
    pub interfaces: Vec<String>,
    /// bpffs directory for the program's pins.
    pub pin_path: PathBuf,
    /// XDP attach mode.
    pub xdp_mode: AttachMode,
    /// Run without XDP.
    pub no_xdp: bool,
    /// The control socket.
    pub control_socket: PathBuf,
    /// How the engine thread is scheduled.
    pub scheduling: bfd_user::config::EngineScheduling,
    /// The state-change hook, if any.
    pub hook: Option<bfd_user::config::HookSettings>,
    /// Kernel route withdrawal, if on.
    pub routes: Option<bfd_user::routes::RouteSettings>,
    /// Serve as FRR bfdd's data plane at this address, if set.
    pub frr_data_plane: Option<bfd_user::dplane::Address>,
    /// What SIGTERM and SIGINT do to the sessions.
    pub on_stop: bfd_user::config::OnStop,
    /// This agent's name for handovers (`--instance`; the pod's UID in the
    /// DaemonSet): an agent that took over from instance X does not hand
    /// back to X restarted. Empty: none.
    pub instance: String,
    /// How long the kernel answers for the Up sessions once the agent is
    /// gone (zero: never).
    pub keepalive: Duration,
    /// The metrics and health endpoint.
    pub metrics: bfd_user::config::MetricsSettings,
    /// Authentication secrets the configuration read (BFDAuthentication's
    /// `secretFile`s): watched like the configuration files, so that a
    /// rotated Kubernetes Secret is applied.
    pub secret_files: Vec<PathBuf>,
    /// How control packets leave (`--transmit`).
    pub transmit: engine::TransmitPath,
    /// `--kernel-answers`: the XDP program answers the peer's packets in
    /// the steady state where that is RFC 5880's periodic transmission
    /// (issue 19).
    pub kernel_answers: bool,
}

/// Where the sessions come from: reads the configuration files into the
/// sessions this node must run (called at start and on every reload).
pub type Loader = Arc<dyn Fn(&[PathBuf]) -> anyhow::Result<Loaded> + Send + Sync>;

/// What a [`Loader`] read.
pub struct Loaded {
    /// The sessions this node must run.
    pub specs: Vec<SessionSpec>,
    /// Node settings (`BFDAgentConfig` fields, e.g. `transmit`) that differ
    /// from those the agent started with: read at start only, they take
    /// effect at the next restart, and the reload's answer says so.
    pub restart_needed: Vec<&'static str>,
}

/// Runs the agent until SIGTERM or SIGINT.
pub fn run(options: AgentOptions, load: Loader) -> anyhow::Result<()> {
    let specs = load(&options.config_files).context("reading the configuration")?.specs;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // One agent per pin path: if another runs it, it hands its sessions
    // over and exits before this one touches the control socket, the pins
    // or the wire (see `handover`).
    let mut signals = runtime.block_on(async { handover::Signals::catch() })?;
    let Some(mut owner) =
        runtime.block_on(handover::claim(&options.pin_path, &options.instance, &mut signals))?
    else {
        return Ok(());
    };
    let handed_last_tx = std::mem::take(&mut owner.last_tx);
    let control = runtime
        .block_on(async { bfd_user::control::bind(&options.control_socket) })
        .with_context(|| format!("opening the control socket {}", options.control_socket.display()))?;
    // Removed however this function returns.
    let _control_socket = RemoveOnDrop(options.control_socket.clone());

    // The pin path is ours (`owner`), so no other agent uses its program:
    // pins left there belong to a previous run that ended without
    // detaching (killed, or handed over): its sessions are adopted. (Where
    // the pins would vanish with us it fails; `_control_socket` removes the
    // socket.) `adopted`: the records of what an earlier agent left, if
    // adopted.
    let (fast, adopted) = match attach_fast_path(&options)? {
        Some((link, description, adopted)) => (Some((link, description)), adopted),
        None => (None, None),
    };
    // Detached however this function returns, once the engine is done,
    // unless the sessions are handed over.
    let attachment = fast.as_ref().map(|_| Attachment(options.pin_path.clone()));
    let fast_attached = fast.is_some();
    let fast_status = match &fast {
        Some((_, description)) => description.clone(),
        None => "off: sessions run in userspace".to_owned(),
    };
    // The kernel's per-session state, read by `show` off the engine thread.
    let kernel: KernelState = fast
        .as_ref()
        .and_then(|(link, _)| FastPath::open(link.maps.pin_dir()).ok())
        .map(|maps| Arc::new(std::sync::Mutex::new(maps)));
    info!(fast_path = %fast_status, "fast path");

    let mut rx = Vec::new();
    for (v6, port) in [
        (false, CONTROL_PORT),
        (false, MULTIHOP_CONTROL_PORT),
        (true, CONTROL_PORT),
        (true, MULTIHOP_CONTROL_PORT),
    ] {
        rx.push(RxSocket::open(v6, port)?);
    }
    let hook = match options.hook.clone() {
        Some(settings) => {
            info!(command = ?settings.command, timeout_s = settings.timeout.as_secs(), "state-change hook");
            Some(hook::HookRunner::start(settings).context("starting the hook's thread")?)
        }
        None => None,
    };
    let routes = match options.routes.clone() {
        Some(settings) => Some(route_worker::RouteWorker::start(settings)?),
        None => None,
    };
    let (observer, data_plane) = match options.frr_data_plane.clone() {
        Some(address) => {
            let (reports_tx, reports) = tokio::sync::mpsc::unbounded_channel();
            (Some(reports_tx), Some((address, reports)))
        }
        None => (None, None),
    };
    let (mut engine, handle) = Engine::new(
        rx,
        fast.map(|(link, _)| link),
        hook,
        routes,
        observer,
        options.transmit,
        options.kernel_answers,
    )?;
    let adopting = adopted.is_some();
    if let Some(records) = adopted {
        // Adopted first, their detections acted on, and only then the
        // configuration applied (below, as a plan against them).
        engine.adopt(adoptions(&options, &specs, records, &handed_last_tx));
    }
    let scheduling = options.scheduling;
    let thread = std::thread::Builder::new()
        .name("bfd-engine".into())
        .spawn(move || {
            bfd_user::sched::apply_to_current_thread(scheduling);
            engine.run()
        })
        .context("starting the engine thread")?;

    // The metrics and health endpoint, up before the sessions start so that
    // /readyz can say they have not yet.
    let status = Arc::new(metrics::AgentStatus::default());
    if let Some(address) = options.metrics.address {
        let listener = runtime.block_on(bfd_user::metrics::server::bind(address))?;
        let source = metrics::AgentSource {
            handle: handle.clone(),
            kernel: kernel.clone(),
            status: status.clone(),
            fast_path_configured: !options.no_xdp && !options.interfaces.is_empty(),
            fast_path_attached: fast_attached,
            data_plane: options.frr_data_plane.as_ref().map(ToString::to_string),
        };
        let metrics = options.metrics.options();
        info!(%address, compat = ?metrics.compat, histograms = ?metrics.histograms, "metrics: /metrics, /healthz, /readyz");
        runtime.spawn(bfd_user::metrics::server::serve(listener, Arc::new(source), metrics));
    }

    let started = std::time::Instant::now();
    let summary = runtime.block_on(apply(&handle, Origin::Config, &specs))?;
    status.config_applied.store(true, std::sync::atomic::Ordering::Relaxed);
    info!(%summary, "sessions started");
    if adopting {
        // The sessions are served again: now this binary's program takes
        // over from the earlier one's, on the same links and maps.
        let ifaces: Vec<&str> = options.interfaces.iter().map(String::as_str).collect();
        match fastpath::replace_program(&options.pin_path, &ifaces) {
            Ok(()) => {
                info!(pin_path = %options.pin_path.display(), "this agent's XDP program replaced the previous one on the pinned links (bpf_link_update); maps and timers kept")
            }
            Err(error) => warn!(
                error = format!("{error:#}"),
                "the previous agent's XDP program could not be replaced: it keeps running with this agent"
            ),
        }
    }

    if let Some((address, reports)) = data_plane {
        let handle = handle.clone();
        let connected = status.data_plane_connected.clone();
        runtime.spawn(dplane::serve(address, handle, kernel.clone(), reports, connected));
    }
    let (mut successors, waiting) = {
        let _runtime = runtime.enter();
        owner.serve()?
    };
    let control = ControlSide { listener: control, started, fast_status, kernel };
    let stop = StopSources { signals, successors: &mut successors };
    let result = runtime.block_on(serve(options.clone(), handle.clone(), load, control, status, stop));
    // Who gets the sessions: a successor that asked for them always does;
    // on a signal, `--on-stop` says.
    use bfd_user::config::OnStop;
    let (stop, result) = match result {
        Ok(stop) => (stop, Ok(())),
        // (Stopped as by a signal.)
        Err(error) => (Stop::Signal, Err(error)),
    };
    let (successor, wants_handover) = match stop {
        Stop::Successor(successor) => (Some(successor), true),
        Stop::Signal => match options.on_stop {
            OnStop::AdminDown => (None, false),
            OnStop::Handover => (waiting.take_alive().or_else(|| successors.try_recv().ok()), true),
            OnStop::Auto => {
                let successor = waiting.take_alive().or_else(|| successors.try_recv().ok());
                match &successor {
                    Some(successor) => {
                        info!(successor_pid = ?successor.pid, "--on-stop auto: a successor waits: handing over to it")
                    }
                    None => info!("--on-stop auto: no successor waits: taking every session AdminDown"),
                }
                let handover = successor.is_some();
                (successor, handover)
            }
        },
    };
    let handover = wants_handover && attachment.is_some();
    // The engine stops at a wake boundary: after this, this agent sends
    // nothing more (its adoption records are current, written on every
    // change).
    let _ = handle.send(if handover { Command::Handover } else { Command::Shutdown });
    let last_tx = thread.join().unwrap_or_default();
    if handover {
        // Program, maps, links and adoption records stay for the next agent.
        std::mem::forget(attachment);
        info!(pin_path = %options.pin_path.display(), "sessions handed over: the XDP program and its maps stay for the next agent");
    }
    if let Some(successor) = successor {
        // It binds the pin path only once this process has exited (the
        // kernel frees the handover socket's name then), so it starts
        // transmitting strictly after this agent stopped.
        runtime.block_on(successor.answer(handover, &options.instance, &last_tx));
    }
    result
}

/// What can stop the agent.
struct StopSources<'a> {
    signals: handover::Signals,
    successors: &'a mut tokio::sync::mpsc::UnboundedReceiver<handover::Successor>,
}

/// Why the agent stops.
enum Stop {
    /// SIGTERM or SIGINT.
    Signal,
    /// A successor started on the same pin path asked for the sessions.
    Successor(handover::Successor),
}

/// A session an earlier agent left: its record, and the generation of its
/// kernel entry.
type Record = (bfd_user::adopt::Adoptable, u64);

/// The fast path as the agent starts with it: the link, its description,
/// and the records of what an earlier agent left if it was adopted.
type FastPathStart = (FastPathLink, String, Option<Vec<Record>>);

/// Pairs each record with the configured session it is; a record no
/// configured session matches is adopted with a configuration rebuilt from
/// it, so that the plan applied next takes it AdminDown (RFC 5880 §6.8.16)
/// rather than leaving the peer to detect a failure.
///
/// `last_tx`: when the agent that handed over sent each session's last
/// packet, if it said (RFC 5880 §6.8.7's spacing is kept from it).
fn adoptions(
    options: &AgentOptions,
    specs: &[SessionSpec],
    records: Vec<Record>,
    last_tx: &std::collections::HashMap<u32, bfd_session::Time>,
) -> Vec<engine::Adoption> {
    records
        .into_iter()
        .map(|(mut adoptable, kernel_generation)| {
            adoptable.restored.last_tx = last_tx.get(&adoptable.restored.local_discr).copied();
            let key = adoptable.key;
            let configured = specs.iter().find(|spec| {
                spec.peer == key.peer
                    && spec.local == key.local
                    && spec.multihop == key.multihop
                    && spec
                        .interface
                        .as_deref()
                        .is_none_or(|name| nix::net::if_::if_nametoindex(name).ok() == key.ifindex)
            });
            let spec = match configured {
                Some(spec) => ran_as(spec, &adoptable.restored),
                None => orphan_spec(options, &adoptable),
            };
            engine::Adoption { spec, adoptable, kernel_generation }
        })
        .collect()
}

/// The configured session `spec` with the timers the adopted session ran
/// with while Up (what it advertised, and the peer agreed to): the plan
/// applied after adoption then sees a changed configuration as a change
/// and renegotiates it with a Poll Sequence (RFC 5880 §6.8.3).
fn ran_as(spec: &SessionSpec, restored: &bfd_session::Restored) -> SessionSpec {
    let mut spec = spec.clone();
    if restored.state == bfd_common::wire::State::Up {
        spec.session.desired_min_tx = restored.desired_min_tx;
        spec.session.required_min_rx = restored.required_min_rx;
        spec.session.detect_mult = restored.detect_mult;
        if !spec.multihop {
            spec.session.echo.required_min_rx = restored.required_min_echo_rx;
        }
    }
    spec
}

/// The configuration of an adopted session that is no longer configured:
/// enough to run it until the plan takes it down.
fn orphan_spec(options: &AgentOptions, adoptable: &bfd_user::adopt::Adoptable) -> SessionSpec {
    let key = adoptable.key;
    let restored = adoptable.restored;
    bfd_user::config::PeerSpec {
        source: bfd_user::config::DocumentRef {
            file: options.pin_path.join(bfd_common::maps::ADOPT_MAP),
            position: 0,
            item: None,
            line: 0,
            kind: None,
            namespace: None,
            name: None,
        },
        peer: key.peer,
        local: key.local,
        interface: None,
        vrf: None,
        multihop: key.multihop,
        min_ttl: if key.multihop { 254 } else { 255 },
        profile: "(adopted, no longer configured)".into(),
        session: bfd_session::SessionConfig {
            desired_min_tx: restored.desired_min_tx,
            required_min_rx: restored.required_min_rx,
            detect_mult: restored.detect_mult,
            ..bfd_session::SessionConfig::default()
        },
        admin_down: false,
        discriminator: None,
        auth: None,
    }
}

/// The name of a session's interface: the configured one, else the one its
/// packets arrive on (learned), if any.
pub fn interface_name(spec: &SessionSpec, ifindex: Option<u32>) -> Option<String> {
    spec.interface.clone().or_else(|| {
        ifindex
            .and_then(|index| nix::net::if_::if_indextoname(index).ok())
            .and_then(|name| name.into_string().ok())
    })
}

/// The kernel's maps, opened a second time for readers off the engine
/// thread (`show`, bfdd's counters), if the fast path runs.
pub type KernelState = Option<Arc<std::sync::Mutex<FastPath>>>;

/// The kernel's state of session `discr`, if the fast path runs and has it.
pub fn kernel_state(kernel: &KernelState, discr: u32) -> Option<bfd_common::maps::SessionState> {
    let maps = kernel.as_ref()?.lock().ok()?;
    maps.session_state(discr).ok().flatten()
}

/// The XDP program attached under a pin path: detached when dropped, so
/// that every way out of `run` (an error after attaching included) leaves
/// nothing attached.
struct Attachment(PathBuf);

impl Drop for Attachment {
    fn drop(&mut self) {
        match fastpath::detach(&self.0) {
            Ok(_) => info!(pin_path = %self.0.display(), "XDP program detached"),
            Err(error) => warn!(%error, "detaching the XDP program"),
        }
    }
}

/// A file (the control socket) removed when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs exactly `wanted` for `origin`: the plan is computed here, off the
/// engine thread, against the engine's latest publication; the engine
/// applies it.
pub async fn apply(
    handle: &EngineHandle,
    origin: Origin,
    wanted: &[SessionSpec],
) -> anyhow::Result<bfd_user::engine::ApplySummary> {
    let published = handle.publish_now().await?;
    let plan = Plan::new(origin, published.specs(origin), wanted);
    let (reply, applied) = tokio::sync::oneshot::channel();
    handle.send(Command::Apply(plan, reply))?;
    applied.await.context("the BFD engine stopped")
}

/// What an earlier agent left under the pin path, if it can be adopted:
/// its program is pinned on every configured interface, its maps and
/// adoption records are of this build's layout. `None` (and why, in the
/// log) if there is nothing there or it cannot be adopted.
fn adopt_fast_path(options: &AgentOptions) -> Option<FastPathStart> {
    let pin_dir = &options.pin_path;
    // Nothing there (or an empty directory): nothing to adopt.
    if std::fs::read_dir(pin_dir).map_or(true, |mut entries| entries.next().is_none()) {
        return None;
    }
    let missing: Vec<&String> = options
        .interfaces
        .iter()
        .filter(|iface| !pin_dir.join(fastpath::link_pin_name(iface)).exists())
        .collect();
    if !missing.is_empty() {
        warn!(pin_path = %pin_dir.display(), ?missing, "the program left under the pin path is not attached to every configured interface: replacing it (its sessions start anew)");
        return None;
    }
    let open = || -> anyhow::Result<(FastPathLink, Vec<Record>)> {
        let mut maps = FastPath::open(pin_dir)?;
        let adopt = bfd_user::adopt::AdoptMap::open(pin_dir)
            .context("no adoption records of this layout (an older agent, or another map layout)")?;
        match adopt.layout() {
            Some(layout) if layout == bfd_common::maps::MAP_LAYOUT => {}
            found => anyhow::bail!(
                "the maps there have layout {}, this agent's are layout {}",
                found.map_or("unknown".to_owned(), |layout| layout.to_string()),
                bfd_common::maps::MAP_LAYOUT
            ),
        }
        let mut records = Vec::new();
        for record in adopt.records() {
            let adoptable = bfd_user::adopt::adoptable(&record)
                .with_context(|| format!("the record of session {}", record.local_discr))?;
            let generation =
                maps.session_config(record.local_discr).ok().flatten().map_or(0, |entry| entry.generation);
            records.push((adoptable, generation));
        }
        // Kernel entries without a record (bfdd's data-plane sessions, which
        // bfdd creates again) are removed: nothing would ever update them.
        let recorded: std::collections::HashSet<u32> =
            records.iter().map(|(adoptable, _)| adoptable.restored.local_discr).collect();
        for discr in maps.sessions()? {
            if !recorded.contains(&discr) {
                maps.remove_session(discr)?;
                maps.remove_keepalive(discr);
            }
        }
        let mut ifindexes = Vec::new();
        for iface in &options.interfaces {
            ifindexes.push(nix::net::if_::if_nametoindex(iface.as_str())?);
        }
        let lease = Some(fastpath::LeaseMap::open(pin_dir, options.keepalive)?);
        Ok((FastPathLink { maps, events: Events::open(pin_dir)?, ifindexes, adopt, lease }, records))
    };
    match open() {
        Ok((link, records)) => {
            let description = options
                .interfaces
                .iter()
                .map(|iface| format!("xdp on {iface} (adopted)"))
                .collect::<Vec<_>>()
                .join(", ");
            info!(pin_path = %pin_dir.display(), sessions = records.len(), "adopting the XDP program, maps and sessions the previous agent left");
            Some((link, description, Some(records)))
        }
        Err(error) => {
            warn!(pin_path = %pin_dir.display(), error = format!("{error:#}"), "what the previous agent left under the pin path cannot be adopted: replacing it (its sessions start anew)");
            None
        }
    }
}

/// Attaches the program unless told not to, or adopts the one an earlier
/// agent left. On failure the agent goes on in userspace and says so,
/// except where the
/// pins would vanish with this process (`ip netns exec`, a container
/// without the host's bpffs): that is a deployment mistake the operator
/// must see, so the agent stops, naming the cause and the fix.
fn attach_fast_path(options: &AgentOptions) -> anyhow::Result<Option<FastPathStart>> {
    if options.no_xdp {
        info!("--no-xdp: not attaching the XDP program");
        return Ok(None);
    }
    if options.interfaces.is_empty() {
        warn!("no interface given (--iface or spec.interfaces): the XDP fast path is off");
        return Ok(None);
    }
    if let Some(adopted) = adopt_fast_path(options) {
        return Ok(Some(adopted));
    }
    let _ = fastpath::detach(&options.pin_path);
    let ifaces: Vec<&str> = options.interfaces.iter().map(String::as_str).collect();
    let attached = match fastpath::attach_interfaces(&ifaces, &options.pin_path, options.xdp_mode) {
        Ok(attached) => attached,
        Err(error @ fastpath::FastPathError::PinsWouldVanish(_)) => {
            return Err(anyhow::Error::new(error)
                .context("attaching the XDP program (or run with --no-xdp for userspace only)"));
        }
        Err(error) => {
            warn!(
                error = format!("{error:#}"),
                "the XDP program could not be attached: sessions run in userspace"
            );
            return Ok(None);
        }
    };
    let open = || -> anyhow::Result<FastPathLink> {
        let mut ifindexes = Vec::new();
        for (iface, _) in &attached.interfaces {
            ifindexes.push(nix::net::if_::if_nametoindex(iface.as_str())?);
        }
        let maps = FastPath::open(&attached.pin_dir)?;
        start_sweep(&maps);
        Ok(FastPathLink {
            maps,
            events: Events::open(&attached.pin_dir)?,
            ifindexes,
            adopt: bfd_user::adopt::AdoptMap::create(&attached.pin_dir)?,
            lease: Some(fastpath::LeaseMap::open(&attached.pin_dir, options.keepalive)?),
        })
    };
    match open() {
        Ok(link) => {
            let description = attached
                .interfaces
                .iter()
                .map(|(iface, mode)| format!("xdp {mode} on {iface}"))
                .collect::<Vec<_>>()
                .join(", ");
            Ok(Some((link, description, None)))
        }
        Err(error) => {
            warn!(
                error = format!("{error:#}"),
                "the XDP maps could not be opened: sessions run in userspace"
            );
            let _ = fastpath::detach(&attached.pin_dir);
            Ok(None)
        }
    }
}

/// What the control socket's answers need.
struct ControlSide {
    listener: tokio::net::UnixListener,
    started: std::time::Instant,
    fast_status: String,
    kernel: KernelState,
}

/// The async side: control socket, signals and configuration watching.
async fn serve(
    options: AgentOptions,
    handle: EngineHandle,
    load: Loader,
    control: ControlSide,
    status: Arc<metrics::AgentStatus>,
    stop: StopSources<'_>,
) -> anyhow::Result<Stop> {
    let StopSources { signals: handover::Signals { mut terminate, mut interrupt }, successors } = stop;
    let ControlSide { listener: control, started, fast_status, kernel } = control;
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup())?;
    let (reload_tx, mut reload_rx) = tokio::sync::mpsc::unbounded_channel::<ReloadReason>();
    watch_files(&[options.config_files.clone(), options.secret_files.clone()].concat(), reload_tx.clone())?;

    let context = Arc::new(control_context::Context {
        handle: handle.clone(),
        started,
        fast_status,
        config_files: options.config_files.clone(),
        reload: reload_tx.clone(),
        kernel,
    });
    tokio::spawn(control_context::serve(control, context));

    loop {
        let reason = tokio::select! {
            _ = terminate.recv() => { info!("SIGTERM"); return Ok(Stop::Signal); }
            _ = interrupt.recv() => { info!("SIGINT"); return Ok(Stop::Signal); }
            Some(successor) = successors.recv() => {
                info!(successor_pid = ?successor.pid, successor_instance = successor.instance, "a successor started on this pin path asked for the sessions: handing them over");
                return Ok(Stop::Successor(successor));
            }
            _ = hangup.recv() => ReloadReason::Signal(None),
            Some(reason) = reload_rx.recv() => reason,
        };
        if let ReloadReason::File = reason {
            // Editors write a file in several steps, and the kubelet
            // updates a ConfigMap in several: let them finish, then read
            // once. A change after this point is read by the next reload
            // (dropping its notification after the reload would lose it).
            tokio::time::sleep(Duration::from_millis(100)).await;
            while let Ok(next) = reload_rx.try_recv() {
                if !matches!(next, ReloadReason::File) {
                    let _ = reload_tx.send(next);
                    break;
                }
            }
        }
        let result = reload(&options, &handle, &load).await;
        status.reloaded(result.as_ref().map(drop).map_err(|error| format!("{error:#}")));
        match (&result, reason) {
            (Ok(summary), ReloadReason::Signal(Some(reply)))
            | (Ok(summary), ReloadReason::Control(reply)) => {
                let _ = reply.send(Ok(summary.clone()));
            }
            (Err(error), ReloadReason::Signal(Some(reply))) | (Err(error), ReloadReason::Control(reply)) => {
                let _ = reply.send(Err(format!("{error:#}")));
            }
            _ => {}
        }
        if let Err(error) = result {
            warn!(
                error = format!("{error:#}"),
                "configuration not reloaded; the running sessions are unchanged"
            );
        }
    }
}

/// Why the configuration is read again.
pub enum ReloadReason {
    /// SIGHUP (or a request that wants no answer).
    Signal(Option<tokio::sync::oneshot::Sender<Result<String, String>>>),
    /// A configuration file changed.
    File,
    /// `bfd-agent reload` through the control socket.
    Control(tokio::sync::oneshot::Sender<Result<String, String>>),
}

async fn reload(options: &AgentOptions, handle: &EngineHandle, load: &Loader) -> anyhow::Result<String> {
    let Loaded { specs, restart_needed } =
        load(&options.config_files).context("reading the configuration")?;
    let summary = apply(handle, Origin::Config, &specs).await?.to_string();
    if restart_needed.is_empty() {
        return Ok(summary);
    }
    let fields: Vec<String> = restart_needed.iter().map(|field| format!("spec.{field}")).collect();
    Ok(format!(
        "{summary}; not applied: {} changed (BFDAgentConfig node settings take effect at the next restart)",
        fields.join(", ")
    ))
}

/// The symlink through which a ConfigMap volume's files point at their
/// current version.
const KUBELET_DATA_LINK: &str = "..data";

/// Watches the configuration files' directories (editors replace files,
/// which a watch on the file itself would miss) and asks for a reload when
/// one of the files changes.
fn watch_files(
    files: &[PathBuf],
    reload: tokio::sync::mpsc::UnboundedSender<ReloadReason>,
) -> anyhow::Result<()> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    if files.is_empty() {
        return Ok(());
    }
    let inotify = Inotify::init(InitFlags::IN_CLOEXEC).context("inotify_init")?;
    let mut names = Vec::new();
    for file in files {
        let directory =
            file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        inotify
            .add_watch(
                directory,
                AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CREATE,
            )
            .with_context(|| format!("watching {}", directory.display()))?;
        names.push(file.file_name().map(|name| name.to_owned()));
    }
    std::thread::Builder::new().name("bfd-config-watch".into()).spawn(move || {
        loop {
            let Ok(events) = inotify.read_events() else { return };
            // A mounted ConfigMap changes by the kubelet renaming a new
            // `..data` symlink over the old one (its AtomicWriter): the
            // files, symlinks through `..data`, are not touched themselves.
            let ours = events.iter().any(|event| {
                event.name.as_ref().is_some_and(|name| {
                    name == KUBELET_DATA_LINK || names.iter().flatten().any(|n| n == name)
                })
            });
            if ours && reload.send(ReloadReason::File).is_err() {
                return;
            }
        }
    })?;
    Ok(())
}

mod control_context {
    //! Answers the control socket's requests from the engine's snapshots.
    use std::sync::Arc;

    use bfd_user::control::{AgentStatus, Request, Response};

    use super::ReloadReason;
    use super::engine::EngineHandle;
    use bfd_user::engine::Snapshot;

    pub struct Context {
        pub handle: EngineHandle,
        pub started: std::time::Instant,
        pub fast_status: String,
        pub config_files: Vec<std::path::PathBuf>,
        pub reload: tokio::sync::mpsc::UnboundedSender<ReloadReason>,
        /// The kernel's per-session state, read here rather than on the
        /// engine thread.
        pub kernel: super::KernelState,
    }

    pub async fn serve(listener: tokio::net::UnixListener, context: Arc<Context>) {
        let handler: bfd_user::control::Handler = Arc::new(move |request| answer(&context, request));
        bfd_user::control::serve(listener, handler).await;
    }

    /// Runs on Tokio's blocking pool: waiting for the engine is fine here.
    fn answer(context: &Context, request: Request) -> Response {
        match request {
            Request::ShowPeers => match snapshots(context) {
                Ok(snapshots) => Response::Peers(super::report::reports(&snapshots)),
                Err(error) => Response::Error(error),
            },
            Request::Status => {
                // A fresh publication, so that the Up count is the engine's
                // now (the periodic one lags by up to a second, which a
                // bring-up timed from this count would include); the last
                // one if the engine does not answer.
                let published =
                    context.handle.publish_now_blocking().unwrap_or_else(|_| context.handle.published());
                Response::Status(AgentStatus {
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    uptime_secs: context.started.elapsed().as_secs(),
                    fast_path: context.fast_status.clone(),
                    sessions: published.sessions.len(),
                    sessions_up: Some(
                        published
                            .sessions
                            .iter()
                            .filter(|session| session.status.state == bfd_common::wire::State::Up)
                            .count(),
                    ),
                    receive_dropped: Some(context.handle.receive_dropped()),
                    config_files: context.config_files.iter().map(|p| p.display().to_string()).collect(),
                    transmit: context.handle.transmit_counters(),
                })
            }
            Request::Reload => {
                let (reply, done) = tokio::sync::oneshot::channel();
                if context.reload.send(ReloadReason::Control(reply)).is_err() {
                    return Response::Error("the agent is shutting down".into());
                }
                match done.blocking_recv() {
                    Ok(Ok(summary)) => Response::Reloaded { summary },
                    Ok(Err(error)) => Response::Error(error),
                    Err(_) => Response::Error("the agent is shutting down".into()),
                }
            }
        }
    }

    /// A fresh publication of the engine's sessions, with the kernel's
    /// state of each read from the pinned maps, in address order.
    fn snapshots(context: &Context) -> Result<Vec<Snapshot>, String> {
        let published = context.handle.publish_now_blocking().map_err(|error| format!("{error:#}"))?;
        let mut snapshots: Vec<Snapshot> = published
            .sessions
            .iter()
            .map(|snapshot| {
                snapshot
                    .clone()
                    .with_kernel(super::kernel_state(&context.kernel, snapshot.status.local_discr))
            })
            .collect();
        snapshots.sort_by_key(|snapshot| (snapshot.spec.peer, snapshot.spec.local));
        Ok(snapshots)
    }
}

/// Starts the kernel's sweep for sessions whose timer does not run
/// ([`fastpath::start_sweep`]), on a thread of its own: it loads and verifies
/// a program, and an engine that waited for that after adopting sessions
/// sent nothing meanwhile (the peers of 43 of 200 sessions detected the
/// silence in one run). Without the sweep a session whose kernel timer
/// could not be allocated goes undetected: worth a loud warning, not a
/// refusal to run.
pub(crate) fn start_sweep(maps: &FastPath) {
    let pin_dir = maps.pin_dir().to_owned();
    let spawned = std::thread::Builder::new().name("bfd-sweep-start".into()).spawn(move || {
        let started = std::time::Instant::now();
        match fastpath::start_sweep(&pin_dir) {
            Ok(()) => info!(ms = started.elapsed().as_secs_f64() * 1e3, "the kernel's sweep runs"),
            Err(error) => warn_no_sweep(anyhow::Error::from(error)),
        }
    });
    if let Err(error) = spawned {
        warn_no_sweep(anyhow::Error::from(error).context("starting a thread to start it"));
    }
}

fn warn_no_sweep(error: anyhow::Error) {
    warn!(
        error = %error,
        "the kernel's sweep for sessions whose detection timer does not run is not running: a session whose timer \
         the kernel fails to allocate will not be detected"
    );
}
