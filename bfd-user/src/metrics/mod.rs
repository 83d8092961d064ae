//! Prometheus metrics of the agent: what MetalLB users already scrape
//! (behind [`Compat::MetalLb`]), plus what no BFD exporter has, measured
//! in the kernel: per-session histograms of the gaps between packets, of
//! the echo round-trip time and of the detection overshoot.
//!
//! Rendering is pure: [`render`] turns a [`Scrape`], plain data the agent
//! assembles from the engine's published snapshots, into OpenMetrics text
//! or the classic Prometheus text format (both encoded by the
//! `prometheus-client` crate). [`server`] serves it over HTTP with the
//! health endpoints.
//!
//! Names follow Prometheus' conventions: one `bfd_` prefix, base units
//! (seconds), `_total` on counters (OpenMetrics adds it to the family
//! name). Every per-session series carries the labels of
//! [`SessionLabels`]: `peer`, `local`, `interface`, `vrf`, `type`
//! (`single-hop` or `multihop`) and `profile`.

pub mod server;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use bfd_common::maps::{
    ECHO_RTT_HISTOGRAM_SHIFT, GAP_HISTOGRAM_SHIFT, GlobalStats, LogHistogram, OVERSHOOT_HISTOGRAM_SHIFT,
    SessionState,
};
use bfd_common::wire::auth::AuthType;
use bfd_common::wire::{Diagnostic, Error as WireError, State};
use bfd_session::{AuthFailure, SessionStatus};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of OpenMetrics text.
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The `Content-Type` of the classic Prometheus text format.
pub const PROMETHEUS_TEXT_CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// [`AgentMetrics::engine_lateness`] buckets start at 2^10 ns: bucket 0
/// holds lateness under 2 µs, bucket 14 under 33.6 ms.
pub const ENGINE_LATENESS_SHIFT: u32 = 10;

/// Which text format a scrape gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text (the default).
    OpenMetrics,
    /// The classic Prometheus text format, version 0.0.4.
    PrometheusText,
}

impl Format {
    /// The format a scrape's `Accept` header asks for: OpenMetrics when it
    /// names it (Prometheus does, with the classic format as a fallback) or
    /// names neither, the classic format when it asks for `text/plain`
    /// only.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else { return Format::OpenMetrics };
        let wants = |media: &str| {
            accept.split(',').any(|range| {
                let mut parts = range.split(';').map(str::trim);
                let matches = parts.next().is_some_and(|name| name.eq_ignore_ascii_case(media));
                // "q=0" means "not acceptable" (RFC 9110 §12.4.2).
                matches && !parts.any(|param| param.replace(' ', "") == "q=0")
            })
        };
        if wants("application/openmetrics-text") {
            Format::OpenMetrics
        } else if wants("text/plain") {
            Format::PrometheusText
        } else {
            Format::OpenMetrics
        }
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::PrometheusText => PROMETHEUS_TEXT_CONTENT_TYPE,
        }
    }
}

/// Extra metric names for dashboards and alerts written for another
/// exporter (`--metrics-compat`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compat {
    /// Only the `bfd_` metrics.
    #[default]
    None,
    /// Also MetalLB's FRR-mode BFD metrics, with their exact names and
    /// labels (`peer`, `vrf`).
    MetalLb,
}

impl std::str::FromStr for Compat {
    type Err = String;
    fn from_str(text: &str) -> Result<Compat, String> {
        match text {
            "none" => Ok(Compat::None),
            "metallb" => Ok(Compat::MetalLb),
            other => {
                Err(format!("unknown metrics compatibility {other:?}: expected \"metallb\" or \"none\""))
            }
        }
    }
}

/// How the kernel's histograms (gap, echo round trip, detection
/// overshoot) are exported (`--metrics-histograms`,
/// `spec.metrics.histograms`). They are most of a scrape: per session, 36
/// of its about 70 lines (18 more with echo), 6.5 of its 12 KB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Histograms {
    /// One histogram per session, with the session's labels (the default:
    /// a node runs a few sessions per BGP peer; see the README's Metrics
    /// section for the cost per session).
    #[default]
    PerSession,
    /// Summed over the sessions that share `interface`, `vrf`, `type` and
    /// `profile` (the session labels less `peer` and `local`): a scrape's
    /// size no longer grows with the number of sessions, and the
    /// distribution per interface and profile (the same intervals) stays.
    Aggregate,
    /// None (the per-session counters and gauges stay).
    Off,
}

impl std::str::FromStr for Histograms {
    type Err = String;
    fn from_str(text: &str) -> Result<Histograms, String> {
        match text {
            "per-session" => Ok(Histograms::PerSession),
            "aggregate" => Ok(Histograms::Aggregate),
            "off" => Ok(Histograms::Off),
            other => Err(format!(
                "unknown histogram mode {other:?}: expected \"per-session\", \"aggregate\" or \"off\""
            )),
        }
    }
}

/// What a scrape exports beyond the `bfd_` counters and gauges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Extra names for another exporter's dashboards.
    pub compat: Compat,
    /// How the kernel's histograms are exported.
    pub histograms: Histograms,
}

/// Everything one scrape shows: plain data, assembled from the engine's
/// published snapshots without touching the engine thread.
#[derive(Clone, Debug, Default)]
pub struct Scrape {
    /// Every session the agent runs.
    pub sessions: Vec<SessionMetrics>,
    /// The agent itself.
    pub agent: AgentMetrics,
    /// The XDP program's global counters (summed over CPUs), when the fast
    /// path is attached.
    pub kernel: Option<GlobalStats>,
}

/// The labels that identify a session in every per-session series.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SessionLabels {
    /// The peer's address.
    pub peer: IpAddr,
    /// Our address, if the session is bound to one (`""` otherwise).
    pub local: Option<IpAddr>,
    /// The interface, for a single-hop session (`""` otherwise).
    pub interface: Option<String>,
    /// The VRF (`default` if none).
    pub vrf: String,
    /// RFC 5883 multihop (`type="multihop"`) or RFC 5881 single-hop
    /// (`type="single-hop"`).
    pub multihop: bool,
    /// The BFDProfile it runs.
    pub profile: String,
}

impl SessionLabels {
    fn pairs(&self) -> SessionLabelPairs {
        [
            ("peer", self.peer.to_string()),
            ("local", self.local.map(|ip| ip.to_string()).unwrap_or_default()),
            ("interface", self.interface.clone().unwrap_or_default()),
            ("vrf", self.vrf.clone()),
            ("type", type_label(self.multihop).to_owned()),
            ("profile", self.profile.clone()),
        ]
    }
}

/// How many times a session went from one state to another, with the
/// diagnostic it had then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateChangeCount {
    /// The state before.
    pub from: State,
    /// The state after.
    pub to: State,
    /// Our diagnostic after the change (`bfd.LocalDiag`).
    pub diagnostic: Diagnostic,
    /// How many times.
    pub count: u64,
}

/// One session.
#[derive(Clone, Debug)]
pub struct SessionMetrics {
    /// Its labels.
    pub labels: SessionLabels,
    /// The session core's view: states, timers, counters.
    pub status: SessionStatus,
    /// The kernel's state, when the XDP program times the session.
    pub kernel: Option<SessionState>,
    /// Control packets the agent's sockets received for it (those the
    /// kernel passed, or all of them without the fast path).
    pub agent_rx: u64,
    /// The wall-clock time of the last state change.
    pub last_state_change: Option<SystemTime>,
    /// State changes by (from, to, diagnostic).
    pub state_changes: Vec<StateChangeCount>,
}

/// The agent's own figures.
#[derive(Clone, Debug, Default)]
pub struct AgentMetrics {
    /// Times the engine thread woke up.
    pub engine_wakeups: u64,
    /// The engine's lateness at each wake-up (now less the deadline it
    /// slept for), bucketed by [`ENGINE_LATENESS_SHIFT`].
    pub engine_lateness: LogHistogram,
    /// Configuration reloads that were applied.
    pub reloads_succeeded: u64,
    /// Configuration reloads that failed (the running sessions kept).
    pub reloads_failed: u64,
    /// Whether the last reload (or the start) applied the configuration.
    pub last_reload_succeeded: bool,
    /// FRR's data-plane channel, if configured: connected or not.
    pub data_plane_connected: Option<bool>,
    /// Whether the XDP fast path is attached.
    pub fast_path_attached: bool,
    /// How the control packets left (`--transmit`).
    pub transmit: crate::transmit::TransmitCounters,
    /// Control packets the kernel dropped at the receive sockets because
    /// their buffers were full.
    pub receive_dropped: u64,
}

/// Counts each session's state changes by (from, to, diagnostic), from
/// the state reports the engine sends its observers.
#[derive(Clone, Debug, Default)]
pub struct StateChangeCounter {
    counts: BTreeMap<(u8, u8, u8), u64>,
}

impl StateChangeCounter {
    /// Counts one change.
    pub fn count(&mut self, from: State, to: State, diagnostic: Diagnostic) {
        *self.counts.entry((from.into(), to.into(), diagnostic_code(diagnostic))).or_default() += 1;
    }

    /// The counts so far.
    pub fn counts(&self) -> Vec<StateChangeCount> {
        self.counts
            .iter()
            .map(|(&(from, to, diagnostic), &count)| StateChangeCount {
                from: State::from_bits(from),
                to: State::from_bits(to),
                diagnostic: Diagnostic::from(diagnostic),
                count,
            })
            .collect()
    }
}

fn diagnostic_code(diagnostic: Diagnostic) -> u8 {
    match diagnostic {
        Diagnostic::NoDiagnostic => 0,
        Diagnostic::ControlDetectionTimeExpired => 1,
        Diagnostic::EchoFunctionFailed => 2,
        Diagnostic::NeighborSignaledSessionDown => 3,
        Diagnostic::ForwardingPlaneReset => 4,
        Diagnostic::PathDown => 5,
        Diagnostic::ConcatenatedPathDown => 6,
        Diagnostic::AdministrativelyDown => 7,
        Diagnostic::ReverseConcatenatedPathDown => 8,
        Diagnostic::Reserved(code) => code,
    }
}

/// A state as a label value: `admin_down`, `down`, `init`, `up`.
pub fn state_label(state: State) -> &'static str {
    match state {
        State::AdminDown => "admin_down",
        State::Down => "down",
        State::Init => "init",
        State::Up => "up",
    }
}

/// A diagnostic as a label value: FRR's text in snake case (`ok`,
/// `control_detection_time_expired`, ...).
pub fn diagnostic_label(diagnostic: Diagnostic) -> String {
    diagnostic.as_str().replace(' ', "_")
}

/// Renders `scrape` in `format`, with the names `compat` adds and
/// per-session histograms. (Taken by value: the registry's collector must
/// own it, and a copy of 10,000 sessions' kernel state is not free.)
pub fn render(scrape: Scrape, format: Format, compat: Compat) -> String {
    Renderer::new(Options { compat, ..Options::default() }).render(scrape, format)
}

/// Renders scrapes with its [`Options`]. With [`Histograms::Aggregate`]
/// it remembers each session's histograms between scrapes and keeps the
/// sums of the sessions that went away in their group: an aggregate then
/// never falls when a session is removed, which Prometheus would read as a
/// counter reset, and `rate()` would count the whole remaining sum again.
#[derive(Debug, Default)]
pub struct Renderer {
    options: Options,
    aggregator: std::sync::Mutex<Aggregator>,
    /// The warning of [`LARGE_SCRAPE`] was logged.
    warned: std::sync::atomic::AtomicBool,
}

/// A scrape with per-session histograms larger than this is logged once,
/// with the way to make it smaller.
pub const LARGE_SCRAPE: usize = 16 << 20;

impl Renderer {
    /// A renderer with `options`.
    pub fn new(options: Options) -> Renderer {
        Renderer { options, ..Renderer::default() }
    }

    /// Its options.
    pub fn options(&self) -> Options {
        self.options
    }

    /// Renders `scrape` in `format`.
    pub fn render(&self, scrape: Scrape, format: Format) -> String {
        let groups = match self.options.histograms {
            Histograms::Aggregate => self
                .aggregator
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .update(&scrape.sessions),
            Histograms::PerSession | Histograms::Off => Vec::new(),
        };
        let sessions = scrape.sessions.len();
        let mut registry = Registry::default();
        registry.register_collector(Box::new(ScrapeCollector { scrape, options: self.options, groups }));
        // About 4.5 KB a session without its histograms, 11 KB with them
        // (the bench's `scrape`).
        let per_session = if self.options.histograms == Histograms::PerSession { 11 } else { 5 };
        let mut text = String::with_capacity(4096 + sessions * per_session * 1024);
        // Writing to a String cannot fail, and the collector only fails when
        // its writer does.
        let _ = match format {
            Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut text, &registry),
            Format::PrometheusText => {
                prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
            }
        };
        if self.options.histograms == Histograms::PerSession
            && text.len() > LARGE_SCRAPE
            && !self.warned.swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::warn!(
                sessions,
                bytes = text.len(),
                "a metrics scrape is large, most of it the per-session histograms: \
                 --metrics-histograms aggregate (spec.metrics.histograms) sums them by interface, vrf, \
                 type and profile (see the README's Metrics section)"
            );
        }
        text
    }
}

/// The labels an aggregate histogram keeps: the session labels less
/// `peer` and `local`, so their number is bounded by the configuration
/// (interfaces, VRFs, profiles), not by the number of sessions.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupLabels {
    /// The interface (`""` for multihop sessions).
    pub interface: String,
    /// The VRF.
    pub vrf: String,
    /// RFC 5883 multihop or RFC 5881 single-hop.
    pub multihop: bool,
    /// The BFDProfile: the same intervals, so gaps of the same scale.
    pub profile: String,
}

impl GroupLabels {
    fn of(labels: &SessionLabels) -> GroupLabels {
        GroupLabels {
            interface: labels.interface.clone().unwrap_or_default(),
            vrf: labels.vrf.clone(),
            multihop: labels.multihop,
            profile: labels.profile.clone(),
        }
    }
}

/// The three histograms the XDP program keeps for a session, or their
/// sum over a group of sessions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelHistograms {
    /// Gaps between valid control packets.
    pub gap: LogHistogram,
    /// Echo round-trip times.
    pub echo_rtt: LogHistogram,
    /// Detection overshoot.
    pub overshoot: LogHistogram,
    /// A session runs echo (or did): the echo histogram is exported.
    pub echo: bool,
}

impl KernelHistograms {
    fn of(session: &SessionMetrics) -> Option<KernelHistograms> {
        let kernel = session.kernel?;
        Some(KernelHistograms {
            gap: kernel.gap_hist,
            echo_rtt: kernel.echo_rtt_hist,
            overshoot: kernel.detect_overshoot_hist,
            echo: runs_echo(session, &kernel),
        })
    }

    fn add(&mut self, other: &KernelHistograms) {
        for (sum, add) in [
            (&mut self.gap, &other.gap),
            (&mut self.echo_rtt, &other.echo_rtt),
            (&mut self.overshoot, &other.overshoot),
        ] {
            for (bucket, count) in sum.buckets.iter_mut().zip(add.buckets) {
                *bucket = bucket.wrapping_add(count);
            }
            sum.sum_ns = sum.sum_ns.wrapping_add(add.sum_ns);
        }
        self.echo |= other.echo;
    }

    /// Some bucket holds less than in `earlier`: the kernel's entry was
    /// created again (the session removed and added), its counts start
    /// from 0.
    fn went_back(&self, earlier: &KernelHistograms) -> bool {
        [
            (&self.gap, &earlier.gap),
            (&self.echo_rtt, &earlier.echo_rtt),
            (&self.overshoot, &earlier.overshoot),
        ]
        .into_iter()
        .any(|(now, then)| now.buckets.iter().zip(then.buckets).any(|(now, then)| *now < then))
    }
}

/// Sums the sessions' histograms by [`GroupLabels`], with the last sums
/// of the sessions that went away.
#[derive(Debug, Default)]
struct Aggregator {
    /// Each session's histograms at the last scrape, by local
    /// discriminator.
    last: std::collections::HashMap<u32, (GroupLabels, KernelHistograms)>,
    /// The sums of the sessions gone since the agent started.
    retired: BTreeMap<GroupLabels, KernelHistograms>,
}

impl Aggregator {
    fn update(&mut self, sessions: &[SessionMetrics]) -> Vec<(GroupLabels, KernelHistograms)> {
        let mut current = std::collections::HashMap::with_capacity(sessions.len());
        let mut groups = self.retired.clone();
        for session in sessions {
            let discriminator = session.status.local_discr;
            let group = GroupLabels::of(&session.labels);
            let histograms = match KernelHistograms::of(session) {
                Some(histograms) => histograms,
                // Its kernel state could not be read this time: what it
                // had stays, or it would count twice when read again.
                None => match self.last.get(&discriminator) {
                    Some((last_group, histograms)) if *last_group == group => *histograms,
                    _ => continue,
                },
            };
            groups.entry(group.clone()).or_default().add(&histograms);
            current.insert(discriminator, (group, histograms));
        }
        // A session gone, moved to another group or started again: what
        // it had counted stays in its group.
        for (discriminator, (group, histograms)) in self.last.drain() {
            let continues =
                current.get(&discriminator).is_some_and(|(now, counts): &(GroupLabels, KernelHistograms)| {
                    *now == group && !counts.went_back(&histograms)
                });
            if !continues {
                self.retired.entry(group.clone()).or_default().add(&histograms);
                groups.entry(group).or_default().add(&histograms);
            }
        }
        self.last = current;
        groups.into_iter().collect()
    }
}

/// Whether the echo round-trip histogram of a session is exported: only
/// for sessions that run echo (or did), 18 lines a session otherwise spent
/// on zeros.
fn runs_echo(session: &SessionMetrics, kernel: &SessionState) -> bool {
    session.status.echo_tx_interval.is_some() || kernel.echo_rx > 0
}

fn type_label(multihop: bool) -> &'static str {
    if multihop { "multihop" } else { "single-hop" }
}

/// The collector the registry calls at each encoding.
#[derive(Debug)]
struct ScrapeCollector {
    scrape: Scrape,
    options: Options,
    /// The aggregate histograms, with [`Histograms::Aggregate`].
    groups: Vec<(GroupLabels, KernelHistograms)>,
}

impl Collector for ScrapeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // Each session's labels, rendered once (not once for each of its
        // about 90 series).
        let labels: Vec<SessionLabelPairs> =
            self.scrape.sessions.iter().map(|session| session.labels.pairs()).collect();
        encode_sessions(&self.scrape.sessions, &labels, &mut encoder)?;
        match self.options.histograms {
            Histograms::PerSession => {
                encode_session_histograms(&self.scrape.sessions, &labels, &mut encoder)?
            }
            Histograms::Aggregate => encode_aggregate_histograms(&self.groups, &mut encoder)?,
            Histograms::Off => {}
        }
        encode_kernel(self.scrape.kernel.as_ref(), &mut encoder)?;
        encode_agent(&self.scrape.agent, &mut encoder)?;
        if self.options.compat == Compat::MetalLb {
            encode_metallb(&self.scrape.sessions, &mut encoder)?;
        }
        Ok(())
    }
}

/// One family: its descriptor, then one sample per `(labels, value)`.
/// Families with no sample are left out (OpenMetrics allows empty
/// families, but they only add noise).
fn family<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    metric_type: MetricType,
    samples: impl IntoIterator<Item = (L, Sample)>,
) -> Result<(), std::fmt::Error> {
    let mut samples = samples.into_iter().peekable();
    if samples.peek().is_none() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, unit, metric_type)?;
    for (labels, sample) in samples {
        let mut metric = metric.encode_family(&labels)?;
        sample.encode(&mut metric)?;
    }
    Ok(())
}

/// One sample's value.
enum Sample {
    Counter(u64),
    Gauge(f64),
    /// Kept in our [`LogHistogram`] form: its shift and buckets.
    Histogram(u32, LogHistogram),
}

impl Sample {
    fn encode(&self, metric: &mut MetricEncoder) -> Result<(), std::fmt::Error> {
        match self {
            Sample::Counter(value) => metric.encode_counter::<NoLabelSet, u64, f64>(value, None),
            Sample::Gauge(value) => metric.encode_gauge(value),
            Sample::Histogram(shift, histogram) => {
                let (sum, count, buckets) = histogram_samples(*shift, histogram);
                metric.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
            }
        }
    }
}

/// A [`LogHistogram`] as the encoder takes it: sum in seconds, count, and
/// each bucket's own count by upper bound in seconds, the last one `+Inf`
/// (the encoder makes them cumulative, as Prometheus wants them).
pub fn histogram_samples(shift: u32, histogram: &LogHistogram) -> (f64, u64, Vec<(f64, u64)>) {
    let buckets = histogram
        .buckets
        .iter()
        .enumerate()
        .map(|(index, count)| {
            let bound = LogHistogram::upper_bound_ns(shift, index).map_or(f64::INFINITY, seconds_ns);
            (bound, *count)
        })
        .collect();
    (seconds_ns(histogram.sum_ns), histogram.count(), buckets)
}

fn seconds_ns(ns: u64) -> f64 {
    ns as f64 / 1e9
}

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

type Labels = Vec<(&'static str, String)>;

/// A session's labels, as [`SessionLabels::pairs`] renders them.
type SessionLabelPairs = [(&'static str, String); 6];

/// A session's rendered labels, borrowed by each of its series.
type Base<'a> = &'a [(&'static str, String)];

/// The interval at which the peer's packets are expected: our Required Min
/// RX Interval or the peer's Desired Min TX Interval, whichever is slower
/// (RFC 5880 §6.8.4's basis of the detection time); `None` before the
/// peer's first packet.
fn receive_interval(status: &SessionStatus) -> Option<Duration> {
    (!status.remote_desired_min_tx.is_zero())
        .then(|| status.required_min_rx.max(status.remote_desired_min_tx))
}

/// The transitions out of Up that a detection or the peer causes, always
/// exported (at 0 until they happen): a counter series that appears with
/// its first increment is invisible to `increase()` and `rate()`, and these
/// are the ones alerts watch.
const SEEDED_CHANGES: [(State, State, Diagnostic); 3] = [
    (State::Up, State::Down, Diagnostic::ControlDetectionTimeExpired),
    (State::Up, State::Down, Diagnostic::EchoFunctionFailed),
    (State::Up, State::Down, Diagnostic::NeighborSignaledSessionDown),
];

/// `changes` with the [`SEEDED_CHANGES`] it lacks, at 0.
fn with_seeded_changes(changes: &[StateChangeCount]) -> Vec<StateChangeCount> {
    let mut all = changes.to_vec();
    for (from, to, diagnostic) in SEEDED_CHANGES {
        if !changes.iter().any(|c| (c.from, c.to, c.diagnostic) == (from, to, diagnostic)) {
            all.push(StateChangeCount { from, to, diagnostic, count: 0 });
        }
    }
    all
}

/// Whether a session of `auth_type` (`None`: no authentication) can count
/// `reason`: its series is then exported from the start, at 0, so that
/// `rate()` and `increase()` see the first failure (a counter series that
/// appears with its first increment is invisible to them). A session
/// without authentication can only see an unexpected A bit; one with it
/// anything but that, less the checks of the other types (a password
/// mismatch only with simple password, sequence numbers and digests only
/// with the keyed types, §6.7.2-§6.7.4). A reason counted anyway is
/// exported too.
fn auth_failure_applies(reason: AuthFailure, auth_type: Option<AuthType>) -> bool {
    let Some(auth_type) = auth_type else { return reason == AuthFailure::Unexpected };
    let meticulous = matches!(auth_type, AuthType::MeticulousKeyedMd5 | AuthType::MeticulousKeyedSha1);
    match reason {
        AuthFailure::Unexpected => false,
        AuthFailure::Missing | AuthFailure::TypeMismatch | AuthFailure::UnknownKeyId => true,
        AuthFailure::PasswordMismatch => auth_type == AuthType::SimplePassword,
        AuthFailure::DigestMismatch => auth_type != AuthType::SimplePassword,
        AuthFailure::Sequence => auth_type != AuthType::SimplePassword && !meticulous,
        AuthFailure::MeticulousSequence => meticulous,
    }
}

/// One sample per session, labelled with the session's labels, for the
/// sessions `value` has one for.
fn each_session<'a>(
    sessions: &'a [SessionMetrics],
    labels: &'a [SessionLabelPairs],
    value: fn(&SessionMetrics) -> Option<Sample>,
) -> impl Iterator<Item = (Base<'a>, Sample)> + 'a {
    sessions
        .iter()
        .zip(labels)
        .filter_map(move |(session, labels)| value(session).map(|sample| (labels.as_slice(), sample)))
}

/// Each session with its rendered labels.
fn with_labels<'a>(
    sessions: &'a [SessionMetrics],
    labels: &'a [SessionLabelPairs],
) -> impl Iterator<Item = (&'a SessionMetrics, Base<'a>)> + 'a {
    sessions.iter().zip(labels.iter().map(|labels| labels.as_slice()))
}

fn encode_sessions(
    sessions: &[SessionMetrics],
    labels: &[SessionLabelPairs],
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    use MetricType::{Counter, Gauge};
    let each = |value: fn(&SessionMetrics) -> Option<Sample>| each_session(sessions, labels, value);
    family(
        encoder,
        "bfd_session_up",
        "1 if the session is Up, else 0.",
        None,
        Gauge,
        each(|s| Some(Sample::Gauge(f64::from(u8::from(s.status.state == State::Up))))),
    )?;
    family(
        encoder,
        "bfd_session_state",
        "The session's state: 1 for the state it is in, 0 for the others.",
        None,
        Gauge,
        with_labels(sessions, labels).flat_map(|(session, base)| {
            [State::AdminDown, State::Down, State::Init, State::Up].into_iter().map(move |state| {
                let value = f64::from(u8::from(session.status.state == state));
                ((base, [("state", state_label(state))]), Sample::Gauge(value))
            })
        }),
    )?;
    family(
        encoder,
        "bfd_session_state_changes",
        "State changes, by the state before, the state after and the diagnostic after.",
        None,
        Counter,
        with_labels(sessions, labels).flat_map(|(session, base)| {
            with_seeded_changes(&session.state_changes).into_iter().map(move |change| {
                let extra: [(&str, Cow<'static, str>); 3] = [
                    ("from", state_label(change.from).into()),
                    ("to", state_label(change.to).into()),
                    ("diagnostic", diagnostic_label(change.diagnostic).into()),
                ];
                ((base, extra), Sample::Counter(change.count))
            })
        }),
    )?;
    family(
        encoder,
        "bfd_session_up_transitions",
        "Transitions into Up (the session core's count).",
        None,
        Counter,
        each(|s| Some(Sample::Counter(s.status.counters.up))),
    )?;
    family(
        encoder,
        "bfd_session_down_transitions",
        "Transitions out of Up (the session core's count).",
        None,
        Counter,
        each(|s| Some(Sample::Counter(s.status.counters.down))),
    )?;
    family(
        encoder,
        "bfd_session_last_state_change_timestamp",
        "When the state last changed, in seconds since the Unix epoch.",
        Some(&Unit::Seconds),
        Gauge,
        each(|s| {
            let at = s.last_state_change?.duration_since(SystemTime::UNIX_EPOCH).ok()?;
            Some(Sample::Gauge(seconds(at)))
        }),
    )?;

    // Packets.
    family(
        encoder,
        "bfd_session_control_packets_sent",
        "Control packets sent.",
        None,
        Counter,
        each(|s| Some(Sample::Counter(s.status.counters.control_tx))),
    )?;
    family(
        encoder,
        "bfd_session_control_packets_received",
        "Valid control packets received: absorbed in the kernel or accepted by the agent.",
        None,
        Counter,
        each(|s| {
            let absorbed = s.kernel.map_or(0, |kernel| kernel.absorbed);
            Some(Sample::Counter(s.status.counters.control_rx + absorbed))
        }),
    )?;
    family(
        encoder,
        "bfd_session_control_packets_absorbed",
        "Valid control packets the XDP program absorbed (they never reached the agent).",
        None,
        Counter,
        each(|s| s.kernel.map(|kernel| Sample::Counter(kernel.absorbed))),
    )?;
    family(
        encoder,
        "bfd_session_control_packets_passed",
        "Valid control packets the XDP program passed to the agent; with the absorbed ones, every valid packet the kernel saw for the session.",
        None,
        Counter,
        each(|s| s.kernel.map(|kernel| Sample::Counter(kernel.passed))),
    )?;
    family(
        encoder,
        "bfd_session_control_packets_agent_received",
        "Control packets the agent's sockets received for the session.",
        None,
        Counter,
        each(|s| Some(Sample::Counter(s.agent_rx))),
    )?;
    family(
        encoder,
        "bfd_session_control_packets_discarded",
        "Control packets the session core discarded (RFC 5880 section 6.8.6).",
        None,
        Counter,
        each(|s| Some(Sample::Counter(s.status.counters.control_discarded))),
    )?;
    family(
        encoder,
        "bfd_session_control_packets_dropped",
        "Control packets for the session the XDP program dropped, by reason.",
        None,
        Counter,
        with_labels(sessions, labels).filter_map(|(session, base)| Some((session.kernel?, base))).flat_map(
            |(kernel, base)| {
                [
                    ("ttl", kernel.drop_ttl),
                    ("source", kernel.drop_src),
                    ("destination", kernel.drop_dst),
                    ("interface", kernel.drop_iface),
                    ("port", kernel.drop_port),
                ]
                .into_iter()
                .map(move |(reason, count)| ((base, [("reason", reason)]), Sample::Counter(count)))
            },
        ),
    )?;
    family(
        encoder,
        "bfd_auth_failures",
        "Received control packets discarded by authentication (RFC 5880 sections 6.7 and 6.8.6), by reason: FRR's Rx Authentication counters of show peers counters, one reason each.",
        None,
        Counter,
        with_labels(sessions, labels).flat_map(|(session, base)| {
            let counters = session.status.counters.auth;
            let auth_type = session.status.auth.map(|auth| auth.auth_type);
            AuthFailure::ALL
                .into_iter()
                .filter(move |reason| counters.get(*reason) > 0 || auth_failure_applies(*reason, auth_type))
                .map(move |reason| {
                    ((base, [("reason", reason.as_str())]), Sample::Counter(counters.get(reason)))
                })
        }),
    )?;
    family(
        encoder,
        "bfd_auth_tx_no_key",
        "Control packets not sent because no key's send lifetime held (show peers counters' Tx Authentication no send key).",
        None,
        Counter,
        each(|s| s.status.auth.map(|_| Sample::Counter(s.status.counters.auth.tx_no_key))),
    )?;
    family(
        encoder,
        "bfd_session_echo_packets_sent",
        "Echo packets sent.",
        None,
        Counter,
        each(|s| Some(Sample::Counter(s.status.counters.echo_tx))),
    )?;
    family(
        encoder,
        "bfd_session_echo_packets_received",
        "Our echo packets that came back.",
        None,
        Counter,
        each(|s| Some(Sample::Counter(s.kernel.map_or(s.status.counters.echo_rx, |kernel| kernel.echo_rx)))),
    )?;
    family(
        encoder,
        "bfd_session_echo_packets_reflected",
        "The peer's echo packets the XDP program sent back.",
        None,
        Counter,
        each(|s| s.kernel.map(|kernel| Sample::Counter(kernel.echo_reflected))),
    )?;
    family(
        encoder,
        "bfd_session_kernel_detections",
        "Detection timers of the XDP program that expired, by kind (control or echo).",
        None,
        Counter,
        with_labels(sessions, labels).filter_map(|(session, base)| Some((session.kernel?, base))).flat_map(
            |(kernel, base)| {
                [("control", kernel.ctl_expired), ("echo", kernel.echo_expired)]
                    .into_iter()
                    .map(move |(kind, count)| ((base, [("kind", kind)]), Sample::Counter(count)))
            },
        ),
    )?;

    // Timers.
    family(
        encoder,
        "bfd_session_transmit_interval",
        "The negotiated transmit interval before jitter (RFC 5880 section 6.8.7).",
        Some(&Unit::Seconds),
        Gauge,
        each(|s| s.status.tx_interval.map(|interval| Sample::Gauge(seconds(interval)))),
    )?;
    family(
        encoder,
        "bfd_session_receive_interval",
        "The negotiated receive interval: ours or the peer's transmit interval, whichever is slower.",
        Some(&Unit::Seconds),
        Gauge,
        each(|s| receive_interval(&s.status).map(|interval| Sample::Gauge(seconds(interval)))),
    )?;
    family(
        encoder,
        "bfd_session_detection_time",
        "The detection time (RFC 5880 section 6.8.4).",
        Some(&Unit::Seconds),
        Gauge,
        each(|s| s.status.detection_time.map(|time| Sample::Gauge(seconds(time)))),
    )?;
    family(
        encoder,
        "bfd_session_detect_multiplier",
        "Our Detect Mult.",
        None,
        Gauge,
        each(|s| Some(Sample::Gauge(f64::from(s.status.detect_mult)))),
    )?;
    family(
        encoder,
        "bfd_session_echo_transmit_interval",
        "The echo transmit interval, while echo is active.",
        Some(&Unit::Seconds),
        Gauge,
        each(|s| s.status.echo_tx_interval.map(|interval| Sample::Gauge(seconds(interval)))),
    )?;
    family(
        encoder,
        "bfd_session_echo_detection_time",
        "The echo detection time, while echo is active.",
        Some(&Unit::Seconds),
        Gauge,
        each(|s| s.status.echo_detection_time.map(|time| Sample::Gauge(seconds(time)))),
    )?;

    Ok(())
}

/// The three histograms measured in the kernel, one per session.
fn encode_session_histograms(
    sessions: &[SessionMetrics],
    labels: &[SessionLabelPairs],
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let each = |value: fn(&SessionMetrics) -> Option<Sample>| each_session(sessions, labels, value);
    encode_histograms(
        encoder,
        each(|s| s.kernel.map(|kernel| Sample::Histogram(GAP_HISTOGRAM_SHIFT, kernel.gap_hist))),
        each(|s| {
            s.kernel
                .filter(|kernel| runs_echo(s, kernel))
                .map(|kernel| Sample::Histogram(ECHO_RTT_HISTOGRAM_SHIFT, kernel.echo_rtt_hist))
        }),
        each(|s| {
            s.kernel.map(|kernel| Sample::Histogram(OVERSHOOT_HISTOGRAM_SHIFT, kernel.detect_overshoot_hist))
        }),
    )
}

/// The three histograms measured in the kernel, summed by
/// [`GroupLabels`], under the same names.
fn encode_aggregate_histograms(
    groups: &[(GroupLabels, KernelHistograms)],
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let labels = |group: &GroupLabels| {
        [
            ("interface", group.interface.clone()),
            ("vrf", group.vrf.clone()),
            ("type", type_label(group.multihop).to_owned()),
            ("profile", group.profile.clone()),
        ]
    };
    encode_histograms(
        encoder,
        groups.iter().map(|(group, sums)| (labels(group), Sample::Histogram(GAP_HISTOGRAM_SHIFT, sums.gap))),
        groups
            .iter()
            .filter(|(_, sums)| sums.echo)
            .map(|(group, sums)| (labels(group), Sample::Histogram(ECHO_RTT_HISTOGRAM_SHIFT, sums.echo_rtt))),
        groups.iter().map(|(group, sums)| {
            (labels(group), Sample::Histogram(OVERSHOOT_HISTOGRAM_SHIFT, sums.overshoot))
        }),
    )
}

fn encode_histograms<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    gap: impl IntoIterator<Item = (L, Sample)>,
    echo_rtt: impl IntoIterator<Item = (L, Sample)>,
    overshoot: impl IntoIterator<Item = (L, Sample)>,
) -> Result<(), std::fmt::Error> {
    use MetricType::Histogram;
    family(
        encoder,
        "bfd_session_control_packet_gap",
        "Gaps between consecutive valid control packets received, measured by the XDP program.",
        Some(&Unit::Seconds),
        Histogram,
        gap,
    )?;
    family(
        encoder,
        "bfd_session_echo_round_trip",
        "Round-trip times of our echo packets, measured by the XDP program.",
        Some(&Unit::Seconds),
        Histogram,
        echo_rtt,
    )?;
    family(
        encoder,
        "bfd_session_detection_overshoot",
        "How late each control detection came: the XDP program's timer expiry less the last packet less the detection time.",
        Some(&Unit::Seconds),
        Histogram,
        overshoot,
    )?;
    Ok(())
}

fn encode_kernel(
    kernel: Option<&GlobalStats>,
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    use MetricType::Counter;
    let Some(stats) = kernel else { return Ok(()) };
    let counter = |labels: Labels, value: u64| (labels, Sample::Counter(value));
    family(
        encoder,
        "bfd_xdp_frames",
        "Frames the XDP program ran on.",
        None,
        Counter,
        [counter(vec![], stats.frames)],
    )?;
    family(
        encoder,
        "bfd_xdp_control_packets",
        "Control packets by the XDP program's decision: absorbed, passed to the agent (by reason) or dropped (by reason).",
        None,
        Counter,
        [
            ("absorbed", "absorbed", stats.ctl_absorbed),
            ("passed", "discriminator_zero", stats.ctl_pass_discr0),
            ("passed", "changed", stats.ctl_pass_changed),
            ("passed", "authenticated", stats.ctl_pass_auth),
            ("passed", "oversize", stats.ctl_pass_oversize),
        ]
        .into_iter()
        .map(|(decision, reason, value)| {
            counter(vec![("decision", decision.to_owned()), ("reason", reason.to_owned())], value)
        })
        .chain(dropped_reasons(stats).into_iter().map(|(reason, value)| {
            counter(vec![("decision", "dropped".to_owned()), ("reason", reason.to_owned())], value)
        })),
    )?;
    family(
        encoder,
        "bfd_xdp_echo_packets",
        "Echo packets by the XDP program's decision.",
        None,
        Counter,
        [
            ("own_timed", stats.echo_own),
            ("reflected", stats.echo_reflected),
            ("passed_not_self", stats.echo_pass_not_self),
            ("passed_denied", stats.echo_pass_denied),
            ("passed_ttl", stats.echo_pass_ttl),
        ]
        .into_iter()
        .map(|(decision, value)| counter(vec![("decision", decision.to_owned())], value)),
    )?;
    family(
        encoder,
        "bfd_xdp_detections",
        "Detection timers of the XDP program that expired, by kind.",
        None,
        Counter,
        [("control", stats.ctl_expired), ("echo", stats.echo_expired)]
            .into_iter()
            .map(|(kind, value)| counter(vec![("kind", kind.to_owned())], value)),
    )?;
    family(
        encoder,
        "bfd_xdp_ring_buffer_events_lost",
        "Detection events that did not fit in the ring buffer to the agent.",
        None,
        Counter,
        [counter(vec![], stats.events_lost)],
    )?;
    Ok(())
}

/// The XDP program's drop reasons: its own checks, then RFC 5880 §6.8.6's
/// by wire error.
fn dropped_reasons(stats: &GlobalStats) -> Vec<(&'static str, u64)> {
    let mut reasons = vec![
        ("unknown_session", stats.ctl_drop_unknown),
        ("ttl", stats.ctl_drop_ttl),
        ("source", stats.ctl_drop_src),
        ("destination", stats.ctl_drop_dst),
        ("interface", stats.ctl_drop_iface),
        ("port", stats.ctl_drop_port),
        ("rate", stats.ctl_drop_rate),
    ];
    reasons.extend(WireError::ALL.iter().map(|error| (error.as_str(), stats.control_invalid.get(*error))));
    reasons
}

fn encode_agent(agent: &AgentMetrics, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    use MetricType::{Counter, Gauge, Histogram};
    let none = Vec::<(&str, String)>::new;
    family(
        encoder,
        "bfd_engine_wakeups",
        "Times the engine thread woke up.",
        None,
        Counter,
        [(none(), Sample::Counter(agent.engine_wakeups))],
    )?;
    family(
        encoder,
        "bfd_engine_lateness",
        "How late the engine thread woke after the deadline it slept for.",
        Some(&Unit::Seconds),
        Histogram,
        [(none(), Sample::Histogram(ENGINE_LATENESS_SHIFT, agent.engine_lateness))],
    )?;
    family(
        encoder,
        "bfd_config_reloads",
        "Configuration reloads, by result.",
        None,
        Counter,
        [("success", agent.reloads_succeeded), ("failure", agent.reloads_failed)]
            .into_iter()
            .map(|(result, value)| (vec![("result", result.to_owned())], Sample::Counter(value))),
    )?;
    family(
        encoder,
        "bfd_config_last_reload_successful",
        "1 if the last configuration load or reload was applied, else 0.",
        None,
        Gauge,
        [(none(), Sample::Gauge(f64::from(u8::from(agent.last_reload_succeeded))))],
    )?;
    family(
        encoder,
        "bfd_xdp_attached",
        "1 if the XDP fast path is attached, else 0 (sessions run in userspace).",
        None,
        Gauge,
        [(none(), Sample::Gauge(f64::from(u8::from(agent.fast_path_attached))))],
    )?;
    let transmit = &agent.transmit;
    family(
        encoder,
        "bfd_transmit_packet_path_enabled",
        "1 if single-hop sessions' control packets leave as Ethernet frames through the packet socket once their neighbour is resolved (--transmit packet, or auto with CAP_NET_RAW), else 0 (all through IP output).",
        None,
        Gauge,
        [(none(), Sample::Gauge(f64::from(u8::from(transmit.packet_path))))],
    )?;
    family(
        encoder,
        "bfd_transmit_control_packets",
        "Control packets the kernel accepted, by transmit path: frame (an Ethernet frame through the packet socket, past IP output, netfilter and the qdisc) or ip_output.",
        None,
        Counter,
        [("frame", transmit.frames), ("ip_output", transmit.ip_output)]
            .into_iter()
            .map(|(path, value)| (vec![("path", path.to_owned())], Sample::Counter(value))),
    )?;
    family(
        encoder,
        "bfd_transmit_control_packets_refused",
        "Control packets the kernel refused to send (a full buffer or ring, no route, a link down), by transmit path.",
        None,
        Counter,
        [("frame", transmit.frames_refused), ("ip_output", transmit.ip_output_refused)]
            .into_iter()
            .map(|(path, value)| (vec![("path", path.to_owned())], Sample::Counter(value))),
    )?;
    family(
        encoder,
        "bfd_receive_control_packets_dropped",
        "Control packets the kernel dropped at the agent's receive sockets because their buffers were full (SO_RXQ_OVFL): packets the agent never saw. With the fast path these are what it passes up (bring-up, changes); without it, every packet. Growth means the engine fell behind.",
        None,
        Counter,
        [(none(), Sample::Counter(agent.receive_dropped))],
    )?;
    family(
        encoder,
        "bfd_transmit_ip_output_fallbacks",
        "Control packets of single-hop sessions that went through IP output while the packet path is on, by reason: unresolved (no usable neighbour entry: the kernel resolves it), stale (the kernel's revalidation of a STALE entry), not_ethernet (the link has no Ethernet address), link_unknown (the session's link is learned from the peer's first packet). Also counted in bfd_transmit_control_packets_total{path=\"ip_output\"}.",
        None,
        Counter,
        [
            ("unresolved", transmit.fallback_unresolved),
            ("stale", transmit.fallback_stale),
            ("not_ethernet", transmit.fallback_not_ethernet),
            ("link_unknown", transmit.fallback_link_unknown),
        ]
        .into_iter()
        .map(|(reason, value)| (vec![("reason", reason.to_owned())], Sample::Counter(value))),
    )?;
    family(
        encoder,
        "bfd_data_plane_connected",
        "1 if FRR bfdd's data-plane channel is connected, else 0 (only when configured).",
        None,
        Gauge,
        agent.data_plane_connected.map(|up| (none(), Sample::Gauge(f64::from(u8::from(up))))),
    )?;
    Ok(())
}

/// MetalLB's FRR-mode names: labels `peer` and `vrf` only. Sessions that
/// share both (the same peer from two local addresses) are summed, and up
/// only if all are.
fn encode_metallb(
    sessions: &[SessionMetrics],
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    use MetricType::{Counter, Gauge, Unknown};
    #[derive(Default)]
    struct Peer {
        up: bool,
        control_in: u64,
        control_out: u64,
        echo_in: u64,
        echo_out: u64,
        up_events: u64,
        down_events: u64,
        state_changes: u64,
    }
    let mut peers: BTreeMap<(String, String), Peer> = BTreeMap::new();
    for session in sessions {
        let key = (session.labels.peer.to_string(), session.labels.vrf.clone());
        let first = !peers.contains_key(&key);
        let peer = peers.entry(key).or_default();
        let counters = &session.status.counters;
        let up = session.status.state == State::Up;
        peer.up = if first { up } else { peer.up && up };
        peer.control_in += counters.control_rx + session.kernel.map_or(0, |kernel| kernel.absorbed);
        peer.control_out += counters.control_tx;
        peer.echo_in += session.kernel.map_or(counters.echo_rx, |kernel| kernel.echo_rx);
        peer.echo_out += counters.echo_tx;
        peer.up_events += counters.up;
        peer.down_events += counters.down;
        peer.state_changes += session.state_changes.iter().map(|change| change.count).sum::<u64>();
    }
    let labels = |(peer, vrf): &(String, String)| vec![("peer", peer.clone()), ("vrf", vrf.clone())];
    // MetalLB's own counters have no `_total` (its Go exporter serves the
    // classic format): exposed untyped, so that the names stay exact in
    // OpenMetrics too.
    type Exact = (&'static str, &'static str, MetricType, fn(&Peer) -> Sample);
    let exact: [Exact; 8] = [
        ("metallb_bfd_session_up", "BFD session state (1 is up, 0 is down)", Gauge, |p| {
            Sample::Gauge(f64::from(u8::from(p.up)))
        }),
        ("metallb_bfd_control_packet_input", "Number of received BFD control packets", Unknown, |p| {
            Sample::Gauge(p.control_in as f64)
        }),
        ("metallb_bfd_control_packet_output", "Number of sent BFD control packets", Unknown, |p| {
            Sample::Gauge(p.control_out as f64)
        }),
        ("metallb_bfd_echo_packet_input", "Number of received BFD echo packets", Unknown, |p| {
            Sample::Gauge(p.echo_in as f64)
        }),
        ("metallb_bfd_echo_packet_output", "Number of sent BFD echo packets", Unknown, |p| {
            Sample::Gauge(p.echo_out as f64)
        }),
        ("metallb_bfd_session_up_events", "Number of BFD session up events", Unknown, |p| {
            Sample::Gauge(p.up_events as f64)
        }),
        ("metallb_bfd_session_down_events", "Number of BFD session down events", Unknown, |p| {
            Sample::Gauge(p.down_events as f64)
        }),
        (
            "metallb_bfd_zebra_notifications",
            "Number of BFD zebra notifications (always 0: no zebra here)",
            Unknown,
            |_| Sample::Gauge(0.0),
        ),
    ];
    for (name, help, metric_type, value) in exact {
        family(
            encoder,
            name,
            help,
            None,
            metric_type,
            peers.iter().map(|(key, peer)| (labels(key), value(peer))),
        )?;
    }
    // The three the MetalLB BFD guide queries, which are counters with
    // `_total`.
    type Total = (&'static str, &'static str, fn(&Peer) -> u64);
    let totals: [Total; 3] = [
        ("metallb_bfd_session_state_changes", "Number of BFD session state changes", |p| p.state_changes),
        ("metallb_bfd_control_packets_sent", "Number of sent BFD control packets", |p| p.control_out),
        ("metallb_bfd_control_packets_received", "Number of received BFD control packets", |p| p.control_in),
    ];
    for (name, help, value) in totals {
        family(
            encoder,
            name,
            help,
            None,
            Counter,
            peers.iter().map(|(key, peer)| (labels(key), Sample::Counter(value(peer)))),
        )?;
    }
    Ok(())
}

/// The sample lines of family `name` in `text` (for tests).
#[cfg(test)]
pub(crate) fn sample_lines<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|line| {
            !line.starts_with('#')
                && line.strip_prefix(name).is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .collect()
}

#[cfg(test)]
mod tests;
