//! Node-local settings MetalLB has no place for: our own kind,
//! `BFDAgentConfig` (bfd-xdp.io/v1alpha1), and the command-line flags that
//! override it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::fastpath::{AttachMode, DEFAULT_PIN_DIR};

use super::error::{DocumentRef, Reason};
use super::metallb::{OBJECT_FIELDS, check_api_version, read_metadata};
use super::read::{Fields, Reader, join};
use super::selector::read_labels;

/// The apiVersion of BFDAgentConfig.
pub const AGENT_CONFIG_API_VERSION: &str = "bfd-xdp.io/v1alpha1";

/// The label every Kubernetes node carries with its name; added to
/// [`NodeSettings::selection_labels`] from `nodeName` unless given.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// The fields of `BFDAgentConfig.spec`.
const AGENT_FIELDS: &[&str] = &[
    "nodeName",
    "nodeLabels",
    "interfaces",
    "pinPath",
    "controlSocket",
    "rtPriority",
    "rtDeadline",
    "noXdp",
    "xdpMode",
    "hook",
    "routes",
    "frrDataPlane",
    "onStop",
    "keepaliveSeconds",
    "metrics",
    "transmit",
];

/// This node's settings: a BFDAgentConfig's spec with the command-line
/// overrides applied, defaults for the rest. Two are equal when every
/// setting is, wherever they were written (`source` is not compared, so
/// that editing a comment above the document changes nothing).
#[derive(Clone, Debug, Eq)]
pub struct NodeSettings {
    /// `nodeName`: this node's name (Kubernetes' `spec.nodeName`).
    pub node_name: Option<String>,
    /// `nodeLabels`: this node's labels, which BGPPeer `nodeSelectors`
    /// are matched against.
    pub node_labels: BTreeMap<String, String>,
    /// `interfaces`: where to attach the XDP program.
    pub interfaces: Vec<String>,
    /// `pinPath`: the bpffs directory of this agent's maps and link
    /// (default [`DEFAULT_PIN_DIR`]).
    pub pin_path: PathBuf,
    /// `controlSocket`: the operator CLI's UNIX socket; `None`: the
    /// control module's default.
    pub control_socket: Option<PathBuf>,
    /// `rtPriority`: SCHED_FIFO priority (1 to 99) of the transmit thread;
    /// `None`: normal scheduling.
    pub rt_priority: Option<u8>,
    /// `rtDeadline`: SCHED_DEADLINE budget of the transmit thread, instead
    /// of `rtPriority` (never both).
    pub rt_deadline: Option<DeadlineBudget>,
    /// `noXdp`: run every session in userspace.
    pub no_xdp: bool,
    /// `xdpMode`: `auto` (native, falling back to generic), `native` or
    /// `generic`.
    pub xdp_mode: AttachMode,
    /// `hook`: a command run on every state change (see [`HookSettings`]).
    pub hook: Option<HookSettings>,
    /// `routes`: kernel route withdrawal on detection; `None`: off.
    pub routes: Option<crate::routes::RouteSettings>,
    /// `frrDataPlane`: serve as FRR bfdd's data plane at this address, in
    /// bfdd's `--dplaneaddr` syntax; `None`: off.
    pub frr_data_plane: Option<crate::dplane::Address>,
    /// `onStop`: what SIGTERM and SIGINT do to the sessions.
    pub on_stop: OnStop,
    /// `keepaliveSeconds`: how long the kernel answers for the Up sessions
    /// once the agent is gone (0 to 3600; 0: never).
    pub keepalive: std::time::Duration,
    /// `metrics`: the HTTP endpoint of the metrics and health checks.
    pub metrics: MetricsSettings,
    /// `transmit`: how control packets leave (`udp`, `packet` or `auto`).
    /// Read at start only: a change takes effect at the next restart.
    pub transmit: TransmitPath,
    /// The BFDAgentConfig document these came from, if any.
    pub source: Option<DocumentRef>,
}

/// How long the kernel answers for the agent's Up sessions once it is
/// gone, unless configured: long enough for a restart or an upgrade, short
/// enough that an agent that never comes back leaves no session Up for long
/// (its peers then detect the silence).
pub const DEFAULT_KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(30);

/// `spec.onStop` / `--on-stop`: what stopping the agent (SIGTERM, SIGINT)
/// does to its sessions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnStop {
    /// `admin-down` (the default): every session says AdminDown (RFC 5880
    /// §6.8.16) to its peer, then the program is detached. For a node
    /// leaving service: the peers learn it is deliberate.
    #[default]
    AdminDown,
    /// `handover`: the agent exits without a word to the peers, leaving
    /// program, maps and sessions in the kernel; the next agent started
    /// with the same pin path adopts them. For restarts and upgrades.
    Handover,
    /// `auto`: `handover` when a successor agent waits on the same pin path
    /// (the restarted agent of the instance this one took over from, in a
    /// DaemonSet surge), else `admin-down`: a node taken down for
    /// maintenance tells its peers. (A successor that starts while this
    /// agent runs is handed the sessions at once, whatever the stop mode.)
    Auto,
}

impl OnStop {
    /// Parses `admin-down`, `handover` or `auto`.
    pub fn parse(text: &str) -> Result<OnStop, String> {
        match text {
            "admin-down" => Ok(OnStop::AdminDown),
            "handover" => Ok(OnStop::Handover),
            "auto" => Ok(OnStop::Auto),
            other => Err(format!("{other:?} is not a stop mode: use admin-down, handover or auto")),
        }
    }
}

/// `spec.transmit` / `--transmit`: how control packets leave.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TransmitPath {
    /// `udp` (the default): through IP output, the raw socket's
    /// `sendmmsg` batch or the session's own UDP socket, so that netfilter,
    /// tc and the qdisc see BFD like any other traffic.
    #[default]
    Udp,
    /// `packet`: whole Ethernet frames through a packet socket past IP
    /// output and the qdisc, for single-hop sessions whose neighbour is
    /// resolved; the others as `udp`. The agent does not start if the
    /// packet socket cannot be opened (no `CAP_NET_RAW`).
    Packet,
    /// `auto`: `packet` if the packet socket can be opened, else `udp`.
    Auto,
}

impl TransmitPath {
    /// Parses `udp`, `packet` or `auto`.
    pub fn parse(text: &str) -> Result<TransmitPath, String> {
        match text {
            "udp" => Ok(TransmitPath::Udp),
            "packet" => Ok(TransmitPath::Packet),
            "auto" => Ok(TransmitPath::Auto),
            other => Err(format!("{other:?} is not a transmit path: use udp, packet or auto")),
        }
    }
}

impl std::str::FromStr for TransmitPath {
    type Err = String;

    fn from_str(text: &str) -> Result<TransmitPath, String> {
        TransmitPath::parse(text)
    }
}

impl std::fmt::Display for TransmitPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TransmitPath::Udp => "udp",
            TransmitPath::Packet => "packet",
            TransmitPath::Auto => "auto",
        })
    }
}

/// `spec.hook` of a BFDAgentConfig: a command the agent runs on every
/// session state change, with the change in its environment (`BFD_PEER`,
/// `BFD_LOCAL`, `BFD_INTERFACE`, `BFD_OLD_STATE`, `BFD_NEW_STATE`,
/// `BFD_DIAGNOSTIC`, ...), killed after `timeout`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookSettings {
    /// `command`: the program (an absolute path) and its arguments.
    pub command: Vec<String>,
    /// `timeoutSeconds` (1 to 300, default 10).
    pub timeout: std::time::Duration,
}

/// `spec.metrics` of a BFDAgentConfig: where the agent serves `/metrics`,
/// `/healthz` and `/readyz`, and which extra names it exports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsSettings {
    /// `address`: `IP:PORT`, or `none` for no endpoint (default
    /// [`crate::metrics::server::DEFAULT_ADDRESS`], on loopback).
    pub address: Option<std::net::SocketAddr>,
    /// `compat`: `metallb` adds MetalLB's metric names; `none` (the
    /// default) does not.
    pub compat: crate::metrics::Compat,
    /// `histograms`: `per-session` (the default), `aggregate` or `off`.
    pub histograms: crate::metrics::Histograms,
}

impl MetricsSettings {
    /// What a scrape exports.
    pub fn options(&self) -> crate::metrics::Options {
        crate::metrics::Options { compat: self.compat, histograms: self.histograms }
    }
}

impl Default for MetricsSettings {
    fn default() -> MetricsSettings {
        MetricsSettings {
            address: Some(crate::metrics::server::DEFAULT_ADDRESS.parse().expect("a valid socket address")),
            compat: crate::metrics::Compat::None,
            histograms: crate::metrics::Histograms::PerSession,
        }
    }
}

/// `--metrics-address` and `spec.metrics.address`: `IP:PORT` (`[IPv6]:PORT`
/// for IPv6), or `none` (also `off`) for no endpoint.
pub fn parse_metrics_address(text: &str) -> Result<Option<std::net::SocketAddr>, String> {
    if text == "none" || text == "off" {
        return Ok(None);
    }
    match text.parse::<std::net::SocketAddr>() {
        Ok(address) if address.port() == 0 => Err(format!("{text:?}: the port must not be 0")),
        Ok(address) => Ok(Some(address)),
        Err(_) => {
            Err(format!("{text:?} is not IP:PORT (for example 127.0.0.1:9784 or [::1]:9784) or \"none\""))
        }
    }
}

/// The hook's default time limit.
pub const DEFAULT_HOOK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl Default for NodeSettings {
    fn default() -> NodeSettings {
        NodeSettings {
            node_name: None,
            node_labels: BTreeMap::new(),
            interfaces: Vec::new(),
            pin_path: PathBuf::from(DEFAULT_PIN_DIR),
            control_socket: None,
            rt_priority: None,
            rt_deadline: None,
            no_xdp: false,
            xdp_mode: AttachMode::Auto,
            hook: None,
            routes: None,
            frr_data_plane: None,
            on_stop: OnStop::AdminDown,
            keepalive: DEFAULT_KEEPALIVE,
            metrics: MetricsSettings::default(),
            transmit: TransmitPath::Udp,
            source: None,
        }
    }
}

/// Command-line values that replace the BFDAgentConfig's, one per field
/// (`None`: keep the file's). Validate flag values with
/// [`parse_node_label`], [`parse_rt_priority`] and [`parse_interface_name`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeOverrides {
    /// `--node-name`.
    pub node_name: Option<String>,
    /// `--node-label KEY=VALUE`: added to the file's labels, replacing the
    /// file's value of the same key.
    pub node_labels: Option<BTreeMap<String, String>>,
    /// `--interface`: replaces the file's list.
    pub interfaces: Option<Vec<String>>,
    /// `--pin-path`.
    pub pin_path: Option<PathBuf>,
    /// `--control-socket`.
    pub control_socket: Option<PathBuf>,
    /// `--rt-priority`: replaces the file's `rtPriority` or `rtDeadline`.
    pub rt_priority: Option<u8>,
    /// `--rt-deadline`: replaces the file's `rtPriority` or `rtDeadline`.
    pub rt_deadline: Option<DeadlineBudget>,
    /// `--no-xdp`.
    pub no_xdp: Option<bool>,
    /// `--xdp-mode`.
    pub xdp_mode: Option<AttachMode>,
    /// `--hook PROGRAM`: replaces the file's hook command.
    pub hook: Option<String>,
    /// `--hook-timeout SECONDS`.
    pub hook_timeout: Option<std::time::Duration>,
    /// `--route-table TABLE` (repeatable): turns route withdrawal on, in
    /// these tables.
    pub route_tables: Option<Vec<u32>>,
    /// `--route-state-file PATH`.
    pub route_state_file: Option<PathBuf>,
    /// `--route-protocol NAME` (repeatable): only routes of these protocols.
    pub route_protocols: Option<Vec<u8>>,
    /// `--frr-dplane ADDRESS`.
    pub frr_data_plane: Option<crate::dplane::Address>,
    /// `--on-stop`.
    pub on_stop: Option<OnStop>,
    /// `--keepalive-seconds`.
    pub keepalive: Option<std::time::Duration>,
    /// `--metrics-address ADDRESS|none`.
    pub metrics_address: Option<Option<std::net::SocketAddr>>,
    /// `--metrics-compat metallb|none`.
    pub metrics_compat: Option<crate::metrics::Compat>,
    /// `--metrics-histograms per-session|aggregate|off`.
    pub metrics_histograms: Option<crate::metrics::Histograms>,
    /// `--transmit udp|packet|auto`.
    pub transmit: Option<TransmitPath>,
}

/// Where withdrawn routes are recorded unless configured.
pub const DEFAULT_ROUTE_STATE_FILE: &str = "/var/lib/bfd-agent/withdrawn-routes.json";

impl PartialEq for NodeSettings {
    fn eq(&self, other: &NodeSettings) -> bool {
        self.changed_fields(other).is_empty()
    }
}

impl NodeSettings {
    /// These settings with `overrides` applied.
    pub fn with_overrides(mut self, overrides: &NodeOverrides) -> NodeSettings {
        let NodeOverrides {
            node_name,
            node_labels,
            interfaces,
            pin_path,
            control_socket,
            rt_priority,
            rt_deadline,
            no_xdp,
            xdp_mode,
            hook,
            hook_timeout,
            route_tables,
            route_state_file,
            route_protocols,
            frr_data_plane,
            on_stop,
            keepalive,
            metrics_address,
            metrics_compat,
            metrics_histograms,
            transmit,
        } = overrides.clone();
        self.transmit = transmit.unwrap_or(self.transmit);
        self.on_stop = on_stop.unwrap_or(self.on_stop);
        self.keepalive = keepalive.unwrap_or(self.keepalive);
        self.frr_data_plane = frr_data_plane.or(self.frr_data_plane);
        self.metrics.address = metrics_address.unwrap_or(self.metrics.address);
        self.metrics.compat = metrics_compat.unwrap_or(self.metrics.compat);
        self.metrics.histograms = metrics_histograms.unwrap_or(self.metrics.histograms);
        self.node_name = node_name.or(self.node_name);
        self.node_labels.extend(node_labels.unwrap_or_default());
        self.interfaces = interfaces.unwrap_or(self.interfaces);
        self.pin_path = pin_path.unwrap_or(self.pin_path);
        self.control_socket = control_socket.or(self.control_socket);
        // One scheduling policy: a flag for either replaces the file's.
        if rt_priority.is_some() || rt_deadline.is_some() {
            self.rt_priority = rt_priority;
            self.rt_deadline = rt_deadline;
        }
        self.no_xdp = no_xdp.unwrap_or(self.no_xdp);
        self.xdp_mode = xdp_mode.unwrap_or(self.xdp_mode);
        if let Some(program) = hook {
            let timeout = self.hook.as_ref().map_or(DEFAULT_HOOK_TIMEOUT, |hook| hook.timeout);
            self.hook = Some(HookSettings { command: vec![program], timeout });
        }
        if let (Some(timeout), Some(hook)) = (hook_timeout, self.hook.as_mut()) {
            hook.timeout = timeout;
        }
        if let Some(tables) = route_tables {
            let state_file = self
                .routes
                .as_ref()
                .map_or(PathBuf::from(DEFAULT_ROUTE_STATE_FILE), |r| r.state_file.clone());
            let protocols = self.routes.as_ref().map(|r| r.protocols.clone()).unwrap_or_default();
            self.routes = Some(crate::routes::RouteSettings { tables, protocols, state_file });
        }
        if let (Some(path), Some(routes)) = (route_state_file, self.routes.as_mut()) {
            routes.state_file = path;
        }
        if let (Some(protocols), Some(routes)) = (route_protocols, self.routes.as_mut()) {
            routes.protocols = protocols;
        }
        self
    }

    /// The labels `nodeSelectors` are matched against: `nodeLabels`, plus
    /// `kubernetes.io/hostname: <nodeName>` unless set, as the kubelet
    /// labels every node (MetalLB's examples select nodes by it).
    pub fn selection_labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.node_labels.clone();
        if let Some(name) = &self.node_name {
            labels.entry(HOSTNAME_LABEL.to_owned()).or_insert_with(|| name.clone());
        }
        labels
    }

    /// How the engine (transmit) thread is scheduled.
    pub fn engine_scheduling(&self) -> EngineScheduling {
        match (self.rt_deadline, self.rt_priority) {
            (Some(budget), _) => EngineScheduling::Deadline(budget),
            (None, Some(priority)) => EngineScheduling::Fifo(priority),
            (None, None) => EngineScheduling::Normal,
        }
    }

    /// What differs from `other`, by spec field name.
    pub fn changed_fields(&self, other: &NodeSettings) -> Vec<&'static str> {
        let mut changed = Vec::new();
        let mut compare = |name, differs: bool| {
            if differs {
                changed.push(name);
            }
        };
        compare("nodeName", self.node_name != other.node_name);
        compare("nodeLabels", self.node_labels != other.node_labels);
        compare("interfaces", self.interfaces != other.interfaces);
        compare("pinPath", self.pin_path != other.pin_path);
        compare("controlSocket", self.control_socket != other.control_socket);
        compare("rtPriority", self.rt_priority != other.rt_priority);
        compare("rtDeadline", self.rt_deadline != other.rt_deadline);
        compare("noXdp", self.no_xdp != other.no_xdp);
        compare("xdpMode", self.xdp_mode != other.xdp_mode);
        compare("onStop", self.on_stop != other.on_stop);
        compare("keepaliveSeconds", self.keepalive != other.keepalive);
        compare("hook", self.hook != other.hook);
        compare("routes", self.routes != other.routes);
        compare("frrDataPlane", self.frr_data_plane != other.frr_data_plane);
        compare("metrics", self.metrics != other.metrics);
        compare("transmit", self.transmit != other.transmit);
        changed
    }
}

/// `--node-label KEY=VALUE`.
pub fn parse_node_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

/// `--rt-priority N`: SCHED_FIFO priorities are 1 to 99.
pub fn parse_rt_priority(text: &str) -> Result<u8, String> {
    match text.parse::<u8>() {
        Ok(priority @ 1..=99) => Ok(priority),
        _ => Err(format!("{text:?} is not a real-time priority (1 to 99)")),
    }
}

/// How the engine thread, which sends every control packet and reads the
/// kernel's detection events, is scheduled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineScheduling {
    /// SCHED_OTHER, like every other process.
    Normal,
    /// SCHED_FIFO at this priority (`rtPriority`): above every normal
    /// process and every real-time one of a lower priority. Since Linux
    /// 6.12 the fair server still preempts it for up to 50 ms a second on
    /// a CPU that real-time work saturates (see [`DeadlineBudget`]).
    Fifo(u8),
    /// SCHED_DEADLINE with this budget (`rtDeadline`).
    Deadline(DeadlineBudget),
}

impl std::fmt::Display for EngineScheduling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineScheduling::Normal => write!(f, "normal"),
            EngineScheduling::Fifo(priority) => write!(f, "SCHED_FIFO {priority}"),
            EngineScheduling::Deadline(budget) => write!(f, "SCHED_DEADLINE {budget}"),
        }
    }
}

/// A SCHED_DEADLINE budget (`rtDeadline: 300us/1ms`): the engine thread
/// may run `runtime` in every `period`, and the kernel runs it before
/// anything with a later deadline. That includes the fair server, a
/// deadline entity (50 ms per 1 s) through which Linux 6.12 and later run
/// normal tasks on a CPU that real-time tasks saturate, preempting
/// SCHED_FIFO ones at any priority: under `chrt -f` busy loops a SCHED_FIFO
/// engine stalls for up to 50 ms once a second, a SCHED_DEADLINE one does
/// not. The price is the budget: an engine that needs more than `runtime`
/// in a `period` waits for the next period, so `period` bounds the added
/// delay and `runtime / period` the share of a CPU it can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeadlineBudget {
    /// CPU time per period.
    pub runtime: std::time::Duration,
    /// The period, also the relative deadline.
    pub period: std::time::Duration,
}

/// The periods `rtDeadline` accepts, µs: the kernel's default minimum
/// (`kernel.sched_deadline_period_min_us`) to 1 s; beyond a few ms a
/// throttled engine would delay packets by more than short BFD intervals
/// allow.
pub const DEADLINE_PERIOD_US: std::ops::RangeInclusive<u64> = 100..=1_000_000;
/// The shortest runtime `rtDeadline` accepts, µs.
pub const DEADLINE_MIN_RUNTIME_US: u64 = 10;

impl std::fmt::Display for DeadlineBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use super::interval::format_interval;
        write!(f, "{}/{}", format_interval(self.runtime), format_interval(self.period))
    }
}

/// `--rt-deadline RUNTIME/PERIOD` and `rtDeadline`: two durations with
/// units (`300us/1ms`), the runtime at least 10 µs and at most the period,
/// the period 100 µs to 1 s.
pub fn parse_rt_deadline(text: &str) -> Result<DeadlineBudget, String> {
    use super::interval::parse_interval;
    let Some((runtime, period)) = text.split_once('/') else {
        return Err(format!("{text:?} is not RUNTIME/PERIOD (for example 300us/1ms)"));
    };
    let runtime = parse_interval(runtime).map_err(|why| format!("runtime: {why}"))?;
    let period = parse_interval(period).map_err(|why| format!("period: {why}"))?;
    let period_us = period.as_micros() as u64;
    if !DEADLINE_PERIOD_US.contains(&period_us) {
        return Err(format!(
            "{text:?}: the period must be {}us to {}s",
            DEADLINE_PERIOD_US.start(),
            DEADLINE_PERIOD_US.end() / 1_000_000
        ));
    }
    if runtime.as_micros() < u128::from(DEADLINE_MIN_RUNTIME_US) || runtime > period {
        return Err(format!("{text:?}: the runtime must be {DEADLINE_MIN_RUNTIME_US}us to the period"));
    }
    Ok(DeadlineBudget { runtime, period })
}

/// An interface name as the kernel accepts it (`dev_valid_name`): 1 to 15
/// bytes, not `.` or `..`, without `/`, `:` or white space.
pub fn parse_interface_name(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.len() < 16
        && text != "."
        && text != ".."
        && !text.chars().any(|c| c == '/' || c == ':' || c.is_whitespace());
    if valid {
        Ok(text.to_owned())
    } else {
        Err(format!("{text:?} is not an interface name (1 to 15 bytes, no '/', ':' or spaces)"))
    }
}

/// Reads a BFDAgentConfig document.
pub(crate) fn read_agent_config(reader: &mut Reader<'_>, object: &Fields<'_>) -> NodeSettings {
    read_metadata(reader, object, false, None);
    reader.only_known(object, "", OBJECT_FIELDS);
    check_api_version(reader, object, "BFDAgentConfig", &[AGENT_CONFIG_API_VERSION]);
    let mut settings = NodeSettings { source: Some(reader.document.clone()), ..NodeSettings::default() };
    let Some(spec) = object.get("spec").and_then(|node| reader.mapping(node, "spec")) else {
        return settings;
    };
    reader.only_known(&spec, "spec", AGENT_FIELDS);
    let path = |field: &str| join("spec", field);

    if let Some(node) = spec.get("nodeName") {
        settings.node_name = reader.string(node, &path("nodeName"));
    }
    if let Some(node) = spec.get("nodeLabels") {
        settings.node_labels = read_labels(reader, node, &path("nodeLabels"));
    }
    if let Some(node) = spec.get("interfaces") {
        let list_path = path("interfaces");
        for (index, item) in reader.sequence(node, &list_path).unwrap_or_default().iter().enumerate() {
            let item_path = format!("{list_path}[{index}]");
            let Some(name) = reader.string(item, &item_path) else { continue };
            match parse_interface_name(&name) {
                Err(why) => reader.error(item.line, &item_path, Reason::Invalid(why)),
                Ok(name) if settings.interfaces.contains(&name) => {
                    reader.error(item.line, &item_path, Reason::Invalid(format!("{name} is listed twice")));
                }
                Ok(name) => settings.interfaces.push(name),
            }
        }
    }
    let mut absolute_path = |field: &str| -> Option<PathBuf> {
        let node = spec.get(field)?;
        let text = reader.string(node, &path(field))?;
        if !text.starts_with('/') {
            reader.error(
                node.line,
                &path(field),
                Reason::Invalid(format!("{text:?} is not an absolute path")),
            );
            return None;
        }
        Some(PathBuf::from(text))
    };
    if let Some(pin_path) = absolute_path("pinPath") {
        settings.pin_path = pin_path;
    }
    settings.control_socket = absolute_path("controlSocket");
    if let Some(node) = spec.get("rtPriority") {
        settings.rt_priority = reader.integer(node, &path("rtPriority"), 1, 99).map(|p| p as u8);
    }
    if let Some(node) = spec.get("rtDeadline")
        && let Some(text) = reader.string(node, &path("rtDeadline"))
    {
        if spec.get("rtPriority").is_some() {
            let reason = "rtPriority is set too: the engine thread takes one policy, SCHED_FIFO \
                          (rtPriority) or SCHED_DEADLINE (rtDeadline)";
            reader.error(node.line, &path("rtDeadline"), Reason::Invalid(reason.into()));
        } else {
            match parse_rt_deadline(&text) {
                Ok(budget) => settings.rt_deadline = Some(budget),
                Err(why) => reader.error(node.line, &path("rtDeadline"), Reason::Invalid(why)),
            }
        }
    }
    if let Some(node) = spec.get("noXdp") {
        settings.no_xdp = reader.boolean(node, &path("noXdp")).unwrap_or(false);
    }
    if let Some(node) = spec.get("xdpMode") {
        match reader.string(node, &path("xdpMode")).as_deref() {
            Some("auto") => settings.xdp_mode = AttachMode::Auto,
            Some("native") => settings.xdp_mode = AttachMode::Native,
            Some("generic") => settings.xdp_mode = AttachMode::Generic,
            Some(other) => {
                let reason = format!("{other:?} is not an XDP mode: use auto, native or generic");
                reader.error(node.line, &path("xdpMode"), Reason::Invalid(reason));
            }
            None => {}
        }
    }
    if let Some(node) = spec.get("onStop")
        && let Some(text) = reader.string(node, &path("onStop"))
    {
        match OnStop::parse(&text) {
            Ok(mode) => settings.on_stop = mode,
            Err(reason) => reader.error(node.line, &path("onStop"), Reason::Invalid(reason)),
        }
    }
    if let Some(node) = spec.get("keepaliveSeconds")
        && let Some(seconds) = reader.integer(node, &path("keepaliveSeconds"), 0, 3600)
    {
        settings.keepalive = std::time::Duration::from_secs(seconds as u64);
    }
    if let Some(node) = spec.get("hook") {
        settings.hook = read_hook(reader, node, &path("hook"));
    }
    if let Some(node) = spec.get("routes") {
        settings.routes = read_routes(reader, node, &path("routes"));
    }
    if let Some(node) = spec.get("frrDataPlane")
        && let Some(text) = reader.string(node, &path("frrDataPlane"))
    {
        match text.parse::<crate::dplane::Address>() {
            Ok(address) => settings.frr_data_plane = Some(address),
            Err(why) => reader.error(node.line, &path("frrDataPlane"), Reason::Invalid(why)),
        }
    }
    if let Some(node) = spec.get("metrics") {
        read_metrics(reader, node, &path("metrics"), &mut settings.metrics);
    }
    if let Some(node) = spec.get("transmit")
        && let Some(text) = reader.string(node, &path("transmit"))
    {
        match TransmitPath::parse(&text) {
            Ok(transmit) => settings.transmit = transmit,
            Err(reason) => reader.error(node.line, &path("transmit"), Reason::Invalid(reason)),
        }
    }
    settings
}

/// `spec.metrics: {address: 127.0.0.1:9784, compat: metallb, histograms: aggregate}`.
fn read_metrics(
    reader: &mut Reader<'_>,
    node: &super::yaml::Node,
    metrics_path: &str,
    settings: &mut MetricsSettings,
) {
    let Some(fields) = reader.mapping(node, metrics_path) else { return };
    reader.only_known(&fields, metrics_path, &["address", "compat", "histograms"]);
    if let Some(node) = fields.get("address") {
        let field_path = join(metrics_path, "address");
        if let Some(text) = reader.string(node, &field_path) {
            match parse_metrics_address(&text) {
                Ok(address) => settings.address = address,
                Err(why) => reader.error(node.line, &field_path, Reason::Invalid(why)),
            }
        }
    }
    if let Some(node) = fields.get("compat") {
        let field_path = join(metrics_path, "compat");
        if let Some(text) = reader.string(node, &field_path) {
            match text.parse::<crate::metrics::Compat>() {
                Ok(compat) => settings.compat = compat,
                Err(why) => reader.error(node.line, &field_path, Reason::Invalid(why)),
            }
        }
    }
    if let Some(node) = fields.get("histograms") {
        let field_path = join(metrics_path, "histograms");
        if let Some(text) = reader.string(node, &field_path) {
            match text.parse::<crate::metrics::Histograms>() {
                Ok(histograms) => settings.histograms = histograms,
                Err(why) => reader.error(node.line, &field_path, Reason::Invalid(why)),
            }
        }
    }
}

/// `spec.routes: {tables: [main, 100], stateFile: PATH}`.
fn read_routes(
    reader: &mut Reader<'_>,
    node: &super::yaml::Node,
    routes_path: &str,
) -> Option<crate::routes::RouteSettings> {
    let fields = reader.mapping(node, routes_path)?;
    reader.only_known(&fields, routes_path, &["tables", "protocols", "stateFile"]);
    let mut tables = read_scalar_list(reader, &fields, routes_path, "tables", "a table", parse_route_table);
    if tables.is_empty() {
        tables.push(crate::routes::MAIN_TABLE);
    }
    let protocols =
        read_scalar_list(reader, &fields, routes_path, "protocols", "a route protocol", parse_route_protocol);
    let state_file = match fields.get("stateFile") {
        Some(node) => {
            let text = reader.string(node, &join(routes_path, "stateFile"))?;
            if !text.starts_with('/') {
                let reason = format!("{text:?} is not an absolute path");
                reader.error(node.line, &join(routes_path, "stateFile"), Reason::Invalid(reason));
                return None;
            }
            PathBuf::from(text)
        }
        None => PathBuf::from(DEFAULT_ROUTE_STATE_FILE),
    };
    Some(crate::routes::RouteSettings { tables, protocols, state_file })
}

/// `field: [A, B, ...]` of scalars (names or numbers), each parsed by
/// `parse`; every bad item is an error at its own line.
fn read_scalar_list<T>(
    reader: &mut Reader<'_>,
    fields: &Fields<'_>,
    parent: &str,
    field: &str,
    what: &str,
    parse: fn(&str) -> Result<T, String>,
) -> Vec<T> {
    let mut values = Vec::new();
    let Some(list) = fields.get(field) else { return values };
    let list_path = join(parent, field);
    for (index, item) in reader.sequence(list, &list_path).unwrap_or_default().iter().enumerate() {
        let item_path = format!("{list_path}[{index}]");
        let Some(text) = item.scalar().map(str::to_owned) else {
            reader.error(
                item.line,
                &item_path,
                Reason::Invalid(format!("expected {what}, found {}", item.describe())),
            );
            continue;
        };
        match parse(&text) {
            Ok(value) => values.push(value),
            Err(why) => reader.error(item.line, &item_path, Reason::Invalid(why)),
        }
    }
    values
}

/// A route protocol as `ip route` names it (`/etc/iproute2/rt_protos`):
/// `kernel`, `boot`, `static`, `dhcp`, `bird`, `zebra`, `bgp`, `isis`,
/// `ospf`, `rip`, `eigrp`, or a number from 0 to 255.
pub fn parse_route_protocol(text: &str) -> Result<u8, String> {
    let known = [
        ("kernel", 2),
        ("boot", 3),
        ("static", 4),
        ("ra", 9),
        ("zebra", 11),
        ("bird", 12),
        ("dhcp", 16),
        ("keepalived", 18),
        ("babel", 42),
        ("bgp", 186),
        ("isis", 187),
        ("ospf", 188),
        ("rip", 189),
        ("eigrp", 192),
    ];
    if let Some((_, number)) = known.iter().find(|(name, _)| *name == text) {
        return Ok(*number);
    }
    text.parse::<u8>().map_err(|_| {
        let names: Vec<&str> = known.iter().map(|(name, _)| *name).collect();
        format!("{text:?} is not a route protocol ({} or 0-255)", names.join(", "))
    })
}

/// A routing table: `main`, `local`, `default` or a number from 1 to
/// 2^32 - 1 (as `ip route ... table` takes).
pub fn parse_route_table(text: &str) -> Result<u32, String> {
    match text {
        "main" => Ok(crate::routes::MAIN_TABLE),
        "local" => Ok(255),
        "default" => Ok(253),
        number => match number.parse::<u32>() {
            Ok(0) | Err(_) => {
                Err(format!("{number:?} is not a routing table (main, local, default or 1-4294967295)"))
            }
            Ok(table) => Ok(table),
        },
    }
}

/// `spec.hook: {command: [PROGRAM, ARG...], timeoutSeconds: N}`.
fn read_hook(reader: &mut Reader<'_>, node: &super::yaml::Node, hook_path: &str) -> Option<HookSettings> {
    let fields = reader.mapping(node, hook_path)?;
    reader.only_known(&fields, hook_path, &["command", "timeoutSeconds"]);
    let command_path = join(hook_path, "command");
    let Some(command_node) = fields.get("command") else {
        reader.error(node.line, &command_path, Reason::Invalid("the hook needs a command".into()));
        return None;
    };
    let mut command = Vec::new();
    for (index, item) in reader.sequence(command_node, &command_path).unwrap_or_default().iter().enumerate() {
        command.extend(reader.string(item, &format!("{command_path}[{index}]")));
    }
    match command.first() {
        None => {
            reader.error(command_node.line, &command_path, Reason::Invalid("the command is empty".into()));
            return None;
        }
        Some(program) if !program.starts_with('/') => {
            let reason =
                format!("{program:?} is not an absolute path (the agent runs it without a shell or PATH)");
            reader.error(command_node.line, &format!("{command_path}[0]"), Reason::Invalid(reason));
            return None;
        }
        Some(_) => {}
    }
    let timeout = match fields.get("timeoutSeconds") {
        Some(node) => {
            std::time::Duration::from_secs(
                reader.integer(node, &join(hook_path, "timeoutSeconds"), 1, 300)? as u64
            )
        }
        None => DEFAULT_HOOK_TIMEOUT,
    };
    Some(HookSettings { command, timeout })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_the_file_and_merge_labels() {
        let file = NodeSettings {
            node_name: Some("node-a".into()),
            node_labels: [("rack".to_owned(), "r1".to_owned()), ("zone".to_owned(), "a".to_owned())].into(),
            interfaces: vec!["eth0".into()],
            rt_priority: Some(50),
            ..NodeSettings::default()
        };
        let overrides = NodeOverrides {
            node_labels: Some([("rack".to_owned(), "r2".to_owned())].into()),
            interfaces: Some(vec!["eth1".into(), "eth2".into()]),
            no_xdp: Some(true),
            xdp_mode: Some(AttachMode::Generic),
            pin_path: Some("/sys/fs/bpf/other".into()),
            ..NodeOverrides::default()
        };
        let merged = file.clone().with_overrides(&overrides);
        assert_eq!(merged.node_name.as_deref(), Some("node-a"));
        assert_eq!(merged.node_labels["rack"], "r2");
        assert_eq!(merged.node_labels["zone"], "a");
        assert_eq!(merged.interfaces, ["eth1", "eth2"]);
        assert_eq!(merged.rt_priority, Some(50));
        assert!(merged.no_xdp);
        assert_eq!(merged.xdp_mode, AttachMode::Generic);
        assert_eq!(merged.pin_path, PathBuf::from("/sys/fs/bpf/other"));
        assert_eq!(file.clone().with_overrides(&NodeOverrides::default()), file);
        assert_eq!(merged.changed_fields(&file), ["nodeLabels", "interfaces", "pinPath", "noXdp", "xdpMode"]);

        assert_eq!(merged.engine_scheduling(), EngineScheduling::Fifo(50));
        // A flag for either policy replaces the file's policy.
        let budget = parse_rt_deadline("200us/1ms").unwrap();
        let deadline = file
            .clone()
            .with_overrides(&NodeOverrides { rt_deadline: Some(budget), ..NodeOverrides::default() });
        assert_eq!(
            (deadline.rt_priority, deadline.engine_scheduling()),
            (None, EngineScheduling::Deadline(budget))
        );
        assert_eq!(deadline.changed_fields(&file), ["rtPriority", "rtDeadline"]);
        assert_eq!(deadline.engine_scheduling().to_string(), "SCHED_DEADLINE 200us/1ms");
        let fifo =
            deadline.with_overrides(&NodeOverrides { rt_priority: Some(70), ..NodeOverrides::default() });
        assert_eq!(fifo.engine_scheduling(), EngineScheduling::Fifo(70));
        assert_eq!(NodeSettings::default().engine_scheduling().to_string(), "normal");

        assert_eq!(merged.selection_labels()[HOSTNAME_LABEL], "node-a");
        let mut explicit = merged.clone();
        explicit.node_labels.insert(HOSTNAME_LABEL.into(), "other".into());
        assert_eq!(explicit.selection_labels()[HOSTNAME_LABEL], "other");
    }

    #[test]
    fn flag_parsers() {
        assert_eq!(parse_node_label("rack=r1"), Ok(("rack".into(), "r1".into())));
        assert_eq!(parse_node_label("empty="), Ok(("empty".into(), "".into())));
        assert!(parse_node_label("=x").is_err());
        assert!(parse_node_label("rack").is_err());
        assert_eq!(parse_rt_priority("99"), Ok(99));
        assert!(parse_rt_priority("0").is_err());
        assert!(parse_rt_priority("100").is_err());
        let budget = parse_rt_deadline("300us/1ms").unwrap();
        assert_eq!((budget.runtime.as_micros(), budget.period.as_micros()), (300, 1000));
        assert_eq!(budget.to_string(), "300us/1ms");
        assert_eq!(parse_rt_deadline("0.5ms/2.5ms").unwrap().to_string(), "500us/2.5ms");
        assert_eq!(parse_rt_deadline("100us/100us").unwrap().runtime.as_micros(), 100);
        for (text, why) in [
            ("300us", "is not RUNTIME/PERIOD"),
            ("300/1ms", "runtime: \"300\" has no unit"),
            ("300us/1xs", "period: \"1xs\": unknown unit"),
            ("2ms/1ms", "the runtime must be 10us to the period"),
            ("5us/1ms", "the runtime must be 10us to the period"),
            ("50us/50us", "the period must be 100us to 1s"),
            ("1ms/2s", "the period must be 100us to 1s"),
        ] {
            let error = parse_rt_deadline(text).unwrap_err();
            assert!(error.contains(why), "{text}: {error}");
        }
        assert_eq!(parse_interface_name("eth0"), Ok("eth0".into()));
        assert!(parse_interface_name("a-very-long-name0").is_err());
        assert!(parse_interface_name("eth0:1").is_err());
        assert!(parse_interface_name("").is_err());
        assert_eq!(parse_metrics_address("none"), Ok(None));
        assert_eq!(parse_metrics_address("off"), Ok(None));
        assert_eq!(parse_metrics_address("0.0.0.0:9100"), Ok(Some("0.0.0.0:9100".parse().unwrap())));
        assert_eq!(parse_metrics_address("[::1]:9784"), Ok(Some("[::1]:9784".parse().unwrap())));
        assert!(parse_metrics_address("127.0.0.1").unwrap_err().contains("is not IP:PORT"));
        assert!(parse_metrics_address("localhost:9784").unwrap_err().contains("is not IP:PORT"));
        assert!(parse_metrics_address("127.0.0.1:0").unwrap_err().contains("port must not be 0"));
    }

    #[test]
    fn metrics_default_to_loopback_and_flags_override_them() {
        let default = NodeSettings::default();
        let address = default.metrics.address.unwrap();
        assert!(address.ip().is_loopback(), "{address}");
        // Clear of MetalLB's and frr-k8s's metrics ports.
        assert!(![7472, 7473, 7572, 7573].contains(&address.port()), "{address}");
        assert_eq!(default.metrics.compat, crate::metrics::Compat::None);
        assert_eq!(default.metrics.histograms, crate::metrics::Histograms::PerSession);
        let off = default.clone().with_overrides(&NodeOverrides {
            metrics_address: Some(None),
            metrics_compat: Some(crate::metrics::Compat::MetalLb),
            metrics_histograms: Some(crate::metrics::Histograms::Aggregate),
            ..NodeOverrides::default()
        });
        assert_eq!(off.metrics.address, None);
        assert_eq!(off.metrics.compat, crate::metrics::Compat::MetalLb);
        assert_eq!(off.metrics.histograms, crate::metrics::Histograms::Aggregate);
        assert_eq!(off.changed_fields(&default), ["metrics"]);
        assert_eq!(off.clone().with_overrides(&NodeOverrides::default()), off);
    }
}
