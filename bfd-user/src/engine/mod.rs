//! The engine, sans IO: every session of the agent, and what their inputs
//! make the agent do.
//!
//! Two parts, both without a socket, a clock or a system call:
//!
//! - [`Dispatcher`] owns the sessions (one [`Sessions`] table, each
//!   session's agent-side state beside it) and their timers. It takes the
//!   inputs a real loop sees (control packets, the kernel's detection
//!   events, commands, the passing of time) and turns the session core's
//!   outputs into [`Effect`]s: transmit, update the kernel's map, allow the
//!   peer's echo, withdraw or restore routes, run the hook, report to FRR's
//!   data plane.
//! - [`event_loop::run`] is the loop itself, over an [`EngineIo`] that does
//!   the I/O: the agent's implementation sleeps in `ppoll(2)` and owns the
//!   sockets and maps; the tests' is a simulated clock and peer. Because the
//!   loop is here, the order that matters (effects of a wake leave before
//!   the engine sleeps again) is tested without root.

pub mod event_loop;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bfd_common::maps::{
    self, DetectEvent, EVENT_ANSWER_OWED, EVENT_CONTROL_TIMEOUT, EVENT_ECHO_TIMEOUT, EVENT_ORIGINATOR_SILENT,
    SessionState,
};
use bfd_common::wire::{ControlRepr, Diagnostic, EchoRepr, State};
use bfd_session::{
    Arrival, Detection, FastPathView, Output, ReceiveError, ReceivedControl, Session, SessionConfig,
    SessionKey, SessionStatus, Sessions, StateChange, Time, WallTime,
};
use tracing::{Span, debug, info, info_span, warn};

pub use event_loop::{EngineIo, run};

use crate::config::{PeerSpec, SessionIdentity};
use crate::session_map::map_config;

/// How often the engine publishes its sessions' snapshots for readers on
/// other threads (metrics, `show`), besides after every change of the
/// configuration and on request.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// How many sessions one wake adds to a publication being gathered. A
/// publication of every session at once held the engine for 18-24 ms at
/// 10,000 sessions (issue 19: measured in the agent, once a second), and
/// every packet due meanwhile left that late: the 2-3% of intervals
/// outside RFC 5880 §6.8.7's window at that scale. Gathered 256 sessions
/// a wake (about half a millisecond), it costs the same in all and delays
/// no packet by more than the wake slack absorbs; up to 256 sessions it is
/// gathered in one wake, as before.
pub const PUBLISH_CHUNK: usize = 256;

/// How many transmissions one wake should carry for a wider early window
/// to be worth no more: the engine lets periodic packets go early by up to
/// the time it takes to send this many ([`Session::set_wake_slack`]). A
/// wake costs about twice a packet (issue 19, at 500 sessions: 22 against
/// 10 µs), so at 32 a wake is a few percent of what it sends; at 10,000
/// sessions (115 packets a millisecond) [`bfd_session::TX_SLACK`]'s 1 ms
/// already carries more, and the window stays as it was.
pub const WAKE_BATCH: u32 = 32;

/// How often the engine measures its transmission rate for
/// [`WAKE_BATCH`].
pub const WAKE_SLACK_EVERY: Duration = Duration::from_secs(1);

/// How often the loop reads the wall clock for authentication keys'
/// lifetimes (the sessions follow the monotonic clock in between; a
/// stepped wall clock is seen within this time).
pub const WALL_CLOCK_EVERY: Duration = Duration::from_secs(60);

/// Who asks for a session: the engine runs the union of the configuration
/// files' sessions and bfdd's, and each source's plan touches only its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// The configuration files (MetalLB's documents).
    Config,
    /// FRR's bfdd, over the data-plane channel.
    DataPlane,
}

/// A session's state changed: what an observer (the data-plane channel)
/// is told.
#[derive(Clone, Debug)]
pub struct StateReport {
    /// The session.
    pub identity: SessionIdentity,
    /// Its status after the change.
    pub status: SessionStatus,
}

/// What the engine knows about one session; the kernel's per-session state
/// is read by whoever reads the snapshot, off the engine thread
/// ([`Snapshot::kernel`]).
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The configuration it runs.
    pub spec: Arc<PeerSpec>,
    /// Who asked for it.
    pub origin: Origin,
    /// The session core's view.
    pub status: SessionStatus,
    /// When it was taken.
    pub now: Time,
    /// The interface its packets arrive on, once known.
    pub ifindex: Option<u32>,
    /// The XDP program times and absorbs for it.
    pub fast_path: bool,
    /// The kernel's per-session state: `None` from the engine; filled in by
    /// a reader of the pinned maps ([`Snapshot::with_kernel`]).
    pub kernel: Option<SessionState>,
    /// Control packets this process received for it.
    pub userspace_rx: u64,
    /// The largest gap between packets this process saw since Up.
    pub userspace_largest_gap: Option<Duration>,
    /// Bumped every time the session comes Up; the kernel's largest gap
    /// counts from the epoch it was last told.
    pub gap_epoch: u64,
    /// State changes since the session started, by (from, to, diagnostic):
    /// shared with the engine until the next change (a publication copies
    /// no list).
    pub transitions: Arc<Vec<(State, State, Diagnostic, u64)>>,
}

impl Snapshot {
    /// The snapshot with the kernel's state of the session added.
    pub fn with_kernel(mut self, kernel: Option<SessionState>) -> Snapshot {
        self.kernel = kernel;
        self
    }

    /// The largest gap between the peer's packets since Up: measured by the
    /// kernel with the fast path (most packets never reach the agent), by
    /// the agent otherwise.
    pub fn largest_gap(&self) -> Option<Duration> {
        match self.kernel {
            Some(state) if self.fast_path && state.gap_epoch == self.gap_epoch => {
                Some(Duration::from_nanos(state.max_gap_ns)).filter(|gap| !gap.is_zero())
            }
            _ => self.userspace_largest_gap,
        }
    }
}

/// The engine's own counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineCounters {
    /// Times the loop woke.
    pub wakeups: u64,
    /// Wakes for a deadline that came after it: how late, summed (ns).
    pub lateness_sum_ns: u64,
    /// The same, the largest.
    pub lateness_max_ns: u64,
    /// Wakes for a deadline, counted in `lateness_sum_ns`.
    pub timed_wakeups: u64,
    /// The same lateness, in log-scale buckets
    /// ([`crate::metrics::ENGINE_LATENESS_SHIFT`]): the metrics' histogram.
    pub lateness: maps::LogHistogram,
    /// Kernel detection events received.
    pub kernel_events: u64,
    /// Answers the kernel left to us (`EVENT_ANSWER_OWED`, issue 19).
    pub answers_owed: u64,
    /// Sessions whose originating peer fell silent while the kernel
    /// answered for them (`EVENT_ORIGINATOR_SILENT`, issue 19).
    pub originator_silent: u64,
    /// Of those, left alone: from an earlier session with the same
    /// discriminator ([`maps::SessionConfig::generation`]), or stale.
    pub kernel_events_ignored: u64,
    /// Control packets that failed to parse or matched no session.
    pub control_rx_dropped: u64,
    /// Plans applied.
    pub plans_applied: u64,
    /// Sessions a plan could not start or change.
    pub plan_failures: u64,
}

/// The engine's state as published for other threads.
#[derive(Clone, Debug)]
pub struct Published {
    /// When it was taken.
    pub now: Time,
    /// Every running session (not those saying goodbye), in no order.
    pub sessions: Vec<Snapshot>,
    /// The engine's counters.
    pub engine: EngineCounters,
}

impl Published {
    /// An empty publication, before the engine's first.
    pub fn empty() -> Published {
        Published { now: Time::ZERO, sessions: Vec::new(), engine: EngineCounters::default() }
    }

    /// The specifications of the sessions `origin` runs: what a new plan is
    /// computed against ([`Plan::new`]).
    pub fn specs(&self, origin: Origin) -> impl Iterator<Item = &PeerSpec> {
        self.sessions.iter().filter(move |s| s.origin == origin).map(|s| &*s.spec)
    }
}

/// What to change in one origin's sessions: the partition of
/// [`crate::config::diff_sessions`], computed off the engine thread.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Whose sessions.
    pub origin: Origin,
    /// Start these.
    pub added: Vec<PeerSpec>,
    /// Take these AdminDown (RFC 5880 §6.8.16), then remove them.
    pub removed: Vec<SessionIdentity>,
    /// Renegotiate these with a Poll Sequence (their new specification).
    pub changed: Vec<PeerSpec>,
    /// Leave these alone (counted only).
    pub unchanged: usize,
}

impl Plan {
    /// The plan that takes `origin`'s `running` sessions to `wanted`.
    pub fn new<'a>(
        origin: Origin,
        running: impl IntoIterator<Item = &'a PeerSpec>,
        wanted: &[PeerSpec],
    ) -> Plan {
        let running: Vec<&PeerSpec> = running.into_iter().collect();
        let diff = crate::config::diff_sessions(&running, wanted);
        Plan {
            origin,
            added: diff.added,
            removed: diff.removed.iter().map(PeerSpec::key).collect(),
            changed: diff.changed.into_iter().map(|(_, new)| new).collect(),
            unchanged: diff.unchanged.len(),
        }
    }
}

/// What a plan did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplySummary {
    /// Sessions started.
    pub added: usize,
    /// Sessions taken down and away.
    pub removed: usize,
    /// Sessions renegotiating.
    pub changed: usize,
    /// Sessions left alone.
    pub unchanged: usize,
    /// Sessions that could not be started or changed, and why.
    pub failed: Vec<(SessionIdentity, String)>,
}

impl fmt::Display for ApplySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} added, {} removed, {} changed, {} unchanged",
            self.added, self.removed, self.changed, self.unchanged
        )?;
        if !self.failed.is_empty() {
            write!(f, ", {} failed (see the log)", self.failed.len())?;
        }
        Ok(())
    }
}

/// Requests to the engine, from other threads.
pub enum Command {
    /// Publish now and reply with the publication.
    Publish(tokio::sync::oneshot::Sender<Arc<Published>>),
    /// Reply with a snapshot of one session, if it runs.
    Snapshot(SessionIdentity, tokio::sync::oneshot::Sender<Option<Snapshot>>),
    /// Apply a plan; reply with what it did.
    Apply(Plan, tokio::sync::oneshot::Sender<ApplySummary>),
    /// Take every session AdminDown and stop.
    Shutdown,
    /// Stop without a word to the peers, leaving every session to the
    /// kernel and the next agent (`--on-stop handover`).
    Handover,
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Publish(_) => f.write_str("Publish"),
            Command::Snapshot(identity, _) => write!(f, "Snapshot({identity})"),
            Command::Apply(plan, _) => write!(f, "Apply({plan:?})"),
            Command::Shutdown => f.write_str("Shutdown"),
            Command::Handover => f.write_str("Handover"),
        }
    }
}

/// The largest control packet the engine takes (24 bytes and the largest
/// authentication section, RFC 5880 §4.1-§4.4); a longer one is invalid.
pub const MAX_CONTROL_PACKET: usize = 64;

/// A received control packet's bytes.
#[derive(Clone, Copy)]
pub struct PacketBuf {
    bytes: [u8; MAX_CONTROL_PACKET],
    len: usize,
}

impl PacketBuf {
    /// Copies `bytes`; `None` if they are longer than any control packet.
    pub fn new(bytes: &[u8]) -> Option<PacketBuf> {
        let mut buffer = PacketBuf { bytes: [0; MAX_CONTROL_PACKET], len: bytes.len() };
        buffer.bytes.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(buffer)
    }

    /// The packet.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl fmt::Debug for PacketBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PacketBuf({} bytes)", self.len)
    }
}

/// What the loop hands the dispatcher.
#[derive(Debug)]
pub enum Input {
    /// A control packet from a socket, with how it arrived.
    Control(PacketBuf, Arrival),
    /// The XDP program's detection timer fired.
    Kernel(DetectEvent),
    /// A request from another thread.
    Command(Command),
}

/// What a session sends with, set up by the I/O side when it starts
/// ([`EngineIo::open`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transport {
    /// The session's own UDP source port (RFC 5881 §4), unique per session.
    pub source_port: u16,
    /// (source, destination, IPv6 scope) when both addresses are known, for
    /// transmissions batched through a raw socket.
    pub route: Option<(SocketAddr, SocketAddr, u32)>,
    /// The configured interface's index.
    pub ifindex: Option<u32>,
}

/// A state change and what a hook or a log needs of the session.
#[derive(Clone, Debug)]
pub struct ChangeEvent {
    /// The session's configuration.
    pub spec: Arc<PeerSpec>,
    /// The interface its packets arrive on, if known.
    pub ifindex: Option<u32>,
    /// Our discriminator.
    pub discr: u32,
    /// The change.
    pub change: StateChange,
}

/// What the dispatcher asks of the I/O side, in order.
// The map entry makes one variant large; effects live in a queue that is
// reused from wake to wake, where boxing would allocate for every write.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Effect {
    /// Send a control packet from the session's port.
    Transmit {
        /// The session.
        discr: u32,
        /// How.
        transport: Transport,
        /// The session's link, once known (single-hop only): where a frame
        /// to the peer's MAC can go instead of the socket.
        ifindex: Option<u32>,
        /// What.
        packet: ControlRepr,
    },
    /// Send one of our echo packets (RFC 5880 §6.8.9) on `ifindex`, from
    /// and to `local`, through the peer.
    TransmitEcho {
        /// The session.
        discr: u32,
        /// The session's transport (its echo sender lives beside its socket).
        transport: Transport,
        /// The session's link, once known.
        ifindex: Option<u32>,
        /// Our address of the peer's family, if configured.
        local: Option<IpAddr>,
        /// The peer.
        peer: IpAddr,
        /// The packet.
        echo: EchoRepr,
    },
    /// Write the session's entry in the kernel's session map.
    SetFastPath {
        /// The session.
        discr: u32,
        /// The entry.
        entry: maps::SessionConfig,
    },
    /// Remove the session's entry from the kernel's map.
    RemoveFastPath {
        /// The session.
        discr: u32,
    },
    /// Let the XDP program reflect `peer`'s echo on `ifindex`.
    AllowEcho {
        /// The link.
        ifindex: u32,
        /// The peer.
        peer: IpAddr,
        /// The session.
        discr: u32,
    },
    /// Stop reflecting `peer`'s echo on `ifindex`.
    DisallowEcho {
        /// The link.
        ifindex: u32,
        /// The peer.
        peer: IpAddr,
    },
    /// A path failed (RFC 5882 §3.2): withdraw the routes through `peer`.
    WithdrawRoutes {
        /// The peer.
        peer: IpAddr,
    },
    /// The session is Up again: restore them.
    RestoreRoutes {
        /// The peer.
        peer: IpAddr,
    },
    /// Run the state-change hook.
    Hook(ChangeEvent),
    /// Tell the data-plane observer (bfdd).
    Report(StateReport),
    /// Store what the next agent needs to take the session over
    /// ([`crate::adopt`]): written when the session's state or parameters
    /// change, never per packet.
    Remember {
        /// The session.
        discr: u32,
        /// Its record.
        record: maps::AdoptRecord,
    },
    /// The session is gone: delete its adoption record.
    Forget {
        /// The session.
        discr: u32,
    },
    /// The kernel takes over the session's steady-state transmission
    /// (issue 19), or we sent a periodic packet while it answers: it must
    /// pace its next answer from our last packet, sent at `last_tx`.
    HandTransmissionOver {
        /// The session.
        discr: u32,
        /// When our last packet left.
        last_tx: Time,
    },
    /// The session is gone: release its socket, port and echo sender.
    Close {
        /// The session.
        discr: u32,
        /// What it sent with.
        transport: Transport,
    },
}

/// How the dispatcher is set up.
#[derive(Clone, Debug, Default)]
pub struct DispatcherOptions {
    /// The XDP program's maps are there to be written.
    pub fast_path: bool,
    /// The interfaces the program is attached to, by index.
    pub xdp_ifindexes: Vec<u32>,
    /// Route withdrawal is on.
    pub routes: bool,
    /// A hook runs on state changes.
    pub hook: bool,
    /// A data-plane observer wants state reports.
    pub observer: bool,
    /// `--kernel-answers`: the kernel answers the peer's packets in the
    /// steady state of the sessions where that is RFC 5880's periodic
    /// transmission (issue 19; see [`Dispatcher::kernel_answers`]).
    pub kernel_answers: bool,
    /// How many sessions the kernel's maps hold, with the fast path
    /// ([`bfd_common::maps::MAX_SESSIONS`]): a session past it is refused,
    /// not run without its kernel entry (nothing would time it, so it
    /// could never go Down). `None`: no limit.
    pub max_sessions: Option<usize>,
}

/// What the observer was last told of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Reported {
    state: State,
    diagnostic: Diagnostic,
    remote_discr: u32,
    remote_timers: (Duration, Duration, Duration),
    remote_detect_mult: u8,
    remote_flags: (bool, bool),
}

/// The agent's state of one session, beside its core in the table.
#[derive(Debug)]
struct Peer {
    spec: Arc<PeerSpec>,
    origin: Origin,
    transport: Transport,
    ifindex: Option<u32>,
    /// The generation of the session's first map entry: detection events
    /// older than it belong to an earlier session with the same
    /// discriminator.
    first_generation: u64,
    echo_allowed: Option<u32>,
    /// The kernel answers the peer for us: the entry we last wrote has
    /// `CFG_ANSWER` (issue 19).
    kernel_answering: bool,
    userspace_rx: u64,
    last_user_rx: Option<Time>,
    largest_gap: Option<Duration>,
    retire_at: Option<Time>,
    /// Bumped when the session comes Up: the kernel restarts its largest
    /// gap then.
    gap_epoch: u64,
    reported: Option<Reported>,
    /// What the session's adoption record last held ([`Session::restorable`]).
    remembered: Option<bfd_session::Restored>,
    transitions: Arc<Vec<(State, State, Diagnostic, u64)>>,
    /// The session's tracing span: peer, local address, discriminator.
    span: Span,
}

impl Peer {
    /// A session's agent-side state as it starts (or is adopted), with its
    /// tracing span (the discriminator is recorded once drawn).
    fn new(
        spec: PeerSpec,
        origin: Origin,
        transport: Transport,
        ifindex: Option<u32>,
        first_generation: u64,
    ) -> Peer {
        let span =
            info_span!("session", peer = %spec.peer, local = ?spec.local, discr = tracing::field::Empty);
        Peer {
            spec: Arc::new(spec),
            origin,
            transport,
            ifindex,
            first_generation,
            echo_allowed: None,
            kernel_answering: false,
            userspace_rx: 0,
            last_user_rx: None,
            largest_gap: None,
            retire_at: None,
            gap_epoch: 0,
            reported: None,
            remembered: None,
            transitions: Arc::default(),
            span,
        }
    }
}

/// Sessions by a time, earliest first.
type TimerHeap = BinaryHeap<Reverse<(Time, u32)>>;

/// Every session of the agent and what their inputs make it do.
pub struct Dispatcher {
    options: DispatcherOptions,
    sessions: Sessions<Peer>,
    /// The running sessions (not those saying goodbye) by identity.
    by_identity: HashMap<SessionIdentity, u32>,
    deadlines: TimerHeap,
    /// When each session's due work may be done early
    /// ([`Session::earliest_deadline`]): whatever wakes the engine serves
    /// those too, so transmissions due close together leave in one wake-up
    /// and one `sendmmsg`.
    early: TimerHeap,
    /// Sessions saying goodbye, and when they go (a few at most: the loop
    /// looks at these on every wake, never at every session).
    retiring: HashMap<u32, Time>,
    effects: VecDeque<Effect>,
    outputs: Vec<Output>,
    generation: u64,
    running: bool,
    counters: EngineCounters,
    /// The deadline the loop last slept for.
    slept_for: Option<Time>,
    next_publication: Time,
    /// Publish at the end of this wake (a plan changed the sessions).
    publish_now: bool,
    /// Asked for a publication gathered from now on.
    waiting_for_publication: Vec<tokio::sync::oneshot::Sender<Arc<Published>>>,
    /// The publication being gathered, [`PUBLISH_CHUNK`] sessions a wake.
    gathering: Option<Gathering>,
    /// The last wall-clock reading: (monotonic, wall).
    wall: Option<(Time, WallTime)>,
    /// After a handover: each session's discriminator and when it last
    /// transmitted.
    handed_over: Vec<(u32, Time)>,
    /// How early every session's periodic packets may go to share a wake
    /// ([`WAKE_BATCH`]), from the transmissions counted since
    /// `wake_slack_since`.
    wake_slack: Duration,
    transmissions: u64,
    wake_slack_since: Option<Time>,
}

impl Dispatcher {
    /// A dispatcher with no session; `seed` draws discriminators and jitter.
    pub fn new(options: DispatcherOptions, seed: u64) -> Dispatcher {
        Dispatcher {
            options,
            sessions: Sessions::new(seed),
            by_identity: HashMap::new(),
            deadlines: BinaryHeap::new(),
            early: BinaryHeap::new(),
            retiring: HashMap::new(),
            effects: VecDeque::new(),
            outputs: Vec::new(),
            generation: 0,
            running: true,
            counters: EngineCounters::default(),
            slept_for: None,
            next_publication: Time::ZERO,
            publish_now: false,
            waiting_for_publication: Vec::new(),
            gathering: None,
            wall: None,
            handed_over: Vec::new(),
            wake_slack: Duration::ZERO,
            transmissions: 0,
            wake_slack_since: None,
        }
    }

    /// How early periodic packets may go to share a wake-up, as last
    /// measured ([`WAKE_BATCH`]).
    pub fn wake_slack(&self) -> Duration {
        self.wake_slack
    }

    /// Every [`WAKE_SLACK_EVERY`]: the time the engine takes to send
    /// [`WAKE_BATCH`] packets at the rate it sent them since the last
    /// measure becomes every session's wake slack (each session bounds it
    /// by its interval and keeps §6.8.7's floor). Nothing sent: the widest.
    fn measure_wake_slack(&mut self, now: Time) {
        let Some(since) = self.wake_slack_since else {
            self.wake_slack_since = Some(now);
            return;
        };
        let elapsed = now.saturating_since(since);
        if elapsed < WAKE_SLACK_EVERY {
            return;
        }
        self.wake_slack = match u32::try_from(self.transmissions).unwrap_or(u32::MAX) {
            0 => bfd_session::WAKE_SLACK_MAX,
            sent => (elapsed * WAKE_BATCH / sent).min(bfd_session::WAKE_SLACK_MAX),
        };
        self.transmissions = 0;
        self.wake_slack_since = Some(now);
    }

    /// After [`Dispatcher::handover`]: each handed-over session's
    /// discriminator and when it last transmitted (the engine's clock), for
    /// a successor to keep RFC 5880 §6.8.7's spacing.
    pub fn handed_over(&self) -> &[(u32, Time)] {
        &self.handed_over
    }

    /// The loop is done: shut down and every goodbye said.
    pub fn finished(&self) -> bool {
        !self.running && self.sessions.is_empty()
    }

    /// The engine's counters.
    pub fn counters(&self) -> EngineCounters {
        self.counters
    }

    /// The number of sessions, those saying goodbye included.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Whether the wall clock should be read again (for authentication
    /// keys' lifetimes): never read yet, or not for [`WALL_CLOCK_EVERY`].
    pub fn wall_clock_due(&self, now: Time) -> bool {
        self.wall.is_none_or(|(at, _)| now.saturating_since(at) >= WALL_CLOCK_EVERY)
    }

    /// The wall-clock time is `wall` at monotonic `now`: every session's key
    /// lifetimes follow it.
    pub fn set_wall_clock(&mut self, now: Time, wall: WallTime) {
        self.wall = Some((now, wall));
        self.sessions.set_wall_clock(now, wall);
    }

    /// The wall-clock time at monotonic `now`, from the last reading.
    fn wall_at(&self, now: Time) -> WallTime {
        match self.wall {
            Some((at, wall)) => {
                WallTime::from_unix_secs(wall.as_unix_secs() + now.saturating_since(at).as_secs())
            }
            None => WallTime::default(),
        }
    }

    /// The loop woke at `now`: counts the wake and how late it was for the
    /// deadline it slept for.
    pub fn woke(&mut self, now: Time) {
        self.counters.wakeups += 1;
        self.measure_wake_slack(now);
        if let Some(deadline) = self.slept_for.take()
            && now >= deadline
        {
            let late = now.saturating_since(deadline).as_nanos() as u64;
            self.counters.timed_wakeups += 1;
            self.counters.lateness_sum_ns += late;
            self.counters.lateness_max_ns = self.counters.lateness_max_ns.max(late);
            self.counters.lateness.buckets
                [maps::histogram_bucket(late, crate::metrics::ENGINE_LATENESS_SHIFT)] += 1;
            self.counters.lateness.sum_ns += late;
        }
    }

    /// When the loop must wake next if nothing arrives: the earliest
    /// current session deadline, retirement or publication. Entries of the
    /// deadline heap go stale when a session's deadline moves (a packet, an
    /// early transmission): they are dropped here rather than woken for.
    pub fn next_wake(&mut self) -> Option<Time> {
        while let Some(Reverse((at, discr))) = self.deadlines.peek().copied() {
            if self.sessions.get(discr).is_some_and(|session| session.next_deadline() == Some(at)) {
                break;
            }
            self.deadlines.pop();
        }
        let retire = self.retiring.values().min().copied();
        let deadline = self.deadlines.peek().map(|Reverse((at, _))| *at);
        let publication = (self.running && self.gathering.is_none()).then_some(self.next_publication);
        let timed = [retire, deadline, publication].into_iter().flatten().min();
        // Lateness is measured against what was due, not against a
        // publication being gathered.
        self.slept_for = timed;
        // A publication to gather, or one asked for while the last was
        // gathered: at once (any past time).
        let publish =
            self.gathering.is_some() || self.publish_now || !self.waiting_for_publication.is_empty();
        if publish { Some(Time::ZERO) } else { timed }
    }

    /// Hands one input to its session (or acts on the command), at `now`;
    /// `open` sets up a new session's transport (its socket).
    pub fn handle(
        &mut self,
        now: Time,
        input: Input,
        open: &mut dyn FnMut(&PeerSpec) -> Result<Transport, String>,
    ) {
        match input {
            Input::Control(packet, arrival) => self.receive(now, packet.as_slice(), &arrival),
            Input::Kernel(event) => self.kernel_event(now, &event),
            Input::Command(command) => self.command(now, command, open),
        }
    }

    /// Runs what is due by `now`: session timers (and the transmissions
    /// that may go early with them), goodbyes that are over, publication.
    pub fn fire_timers(&mut self, now: Time) {
        self.fire_due(now, |d| &mut d.deadlines, Session::next_deadline);
        // Whatever woke the engine, the sessions whose due work may be
        // done by now are served too.
        self.fire_due(now, |d| &mut d.early, Session::earliest_deadline);
        if !self.retiring.is_empty() {
            let due: Vec<u32> =
                self.retiring.iter().filter(|(_, at)| **at <= now).map(|(discr, _)| *discr).collect();
            for discr in due {
                self.remove(discr);
            }
        }
    }

    /// The effects of everything since the last call, oldest first.
    pub fn effects(&mut self) -> std::collections::vec_deque::Drain<'_, Effect> {
        self.effects.drain(..)
    }

    /// A publication, once one is gathered: one is started when due by
    /// `now` (periodic, after a plan, or asked for), and each call adds up
    /// to [`PUBLISH_CHUNK`] sessions to it (the loop comes back at once
    /// while one is being gathered: [`Dispatcher::next_wake`]). Every
    /// caller that asked before it started gets it too; one that asks
    /// while it is gathered, or a plan applied meanwhile, gets the next,
    /// started right after (it holds every session from its start on).
    pub fn publication(&mut self, now: Time) -> Option<Arc<Published>> {
        if self.gathering.is_none() {
            let due = self.running && now >= self.next_publication;
            if !(due || self.publish_now || !self.waiting_for_publication.is_empty()) {
                return None;
            }
            self.publish_now = false;
            self.next_publication = now + PUBLISH_EVERY;
            // The running sessions (not those saying goodbye) are the ones
            // by identity: listed from that small map, not the table.
            let pending: Vec<u32> = self.by_identity.values().copied().collect();
            self.gathering = Some(Gathering {
                sessions: Vec::with_capacity(pending.len()),
                pending,
                waiting: std::mem::take(&mut self.waiting_for_publication),
            });
        }
        let gathering = self.gathering.as_mut()?;
        let from = gathering.pending.len().saturating_sub(PUBLISH_CHUNK);
        for discr in gathering.pending.drain(from..) {
            // Removed or saying goodbye since the gathering started: left out.
            if let Some((session, peer)) = self.sessions.entry(discr)
                && peer.retire_at.is_none()
            {
                gathering.sessions.push(snapshot(session, peer, now));
            }
        }
        if !gathering.pending.is_empty() {
            return None;
        }
        let gathering = self.gathering.take()?;
        let published = Arc::new(Published { now, sessions: gathering.sessions, engine: self.counters });
        for waiting in gathering.waiting {
            let _ = waiting.send(published.clone());
        }
        Some(published)
    }

    fn fire_due(
        &mut self,
        now: Time,
        heap: fn(&mut Dispatcher) -> &mut TimerHeap,
        deadline: fn(&Session) -> Option<Time>,
    ) {
        while let Some(Reverse((at, discr))) = heap(self).peek().copied() {
            if at > now {
                break;
            }
            heap(self).pop();
            let Some(session) = self.sessions.get_mut(discr) else { continue };
            if deadline(session) != Some(at) {
                continue;
            }
            session.on_timer(now);
            self.drain(discr, now);
        }
    }

    fn command(
        &mut self,
        now: Time,
        command: Command,
        open: &mut dyn FnMut(&PeerSpec) -> Result<Transport, String>,
    ) {
        match command {
            Command::Publish(reply) => self.waiting_for_publication.push(reply),
            Command::Snapshot(identity, reply) => {
                let snapshot = self
                    .by_identity
                    .get(&identity)
                    .and_then(|discr| self.sessions.entry(*discr))
                    .map(|(session, peer)| snapshot(session, peer, now));
                let _ = reply.send(snapshot);
            }
            Command::Apply(plan, reply) => {
                let summary = self.apply(now, plan, open);
                let _ = reply.send(summary);
            }
            Command::Shutdown => self.shutdown(now),
            Command::Handover => self.handover(),
        }
    }

    /// Hands every session over to the kernel and the next agent: no
    /// AdminDown, no change to the kernel's maps or the adoption records;
    /// the loop ends at once. When each session last transmitted is kept
    /// ([`Dispatcher::handed_over`]) for a successor that takes over at once.
    pub fn handover(&mut self) {
        info!(
            sessions = self.by_identity.len(),
            "handing over: the sessions stay in the kernel for the next agent"
        );
        self.handed_over =
            self.sessions.iter().filter_map(|(discr, session)| Some((discr, session.last_tx()?))).collect();
        self.running = false;
        self.by_identity.clear();
        self.retiring.clear();
        self.sessions = Sessions::new(0);
    }

    /// Takes every session AdminDown; the loop ends when they are gone.
    pub fn shutdown(&mut self, now: Time) {
        info!("shutting down: taking every session AdminDown");
        self.running = false;
        let discrs: Vec<u32> = self.by_identity.values().copied().collect();
        for discr in discrs {
            self.take_down_and_retire(discr, now);
        }
    }

    fn receive(&mut self, now: Time, bytes: &[u8], arrival: &Arrival) {
        // The packet keeps its bytes: an authenticated session verifies
        // its digest over them (RFC 5880 §6.7).
        let packet = match ReceivedControl::parse(bytes) {
            Ok(packet) => packet,
            Err(error) => {
                self.counters.control_rx_dropped += 1;
                debug!(source = %arrival.source, %error, "invalid control packet");
                return;
            }
        };
        let discr = match self.sessions.receive_packet(now, &packet, arrival) {
            Ok(discr) => discr,
            Err(ReceiveError::Discard { discr, reason }) => {
                self.counters.control_rx_dropped += 1;
                debug!(source = %arrival.source, discr, %reason, "control packet discarded by its session");
                // The session settled at `now` all the same: a transmission
                // that was due left its core and its deadlines moved. Not
                // draining here once lost both: the packet waited in the
                // core and the loop forgot the session (issue 18).
                self.drain(discr, now);
                return;
            }
            Err(error @ ReceiveError::Demux(_)) => {
                self.counters.control_rx_dropped += 1;
                debug!(source = %arrival.source, %error, "control packet for no session");
                return;
            }
        };
        let mut learn = None;
        if let Some((session, peer)) = self.sessions.entry_mut(discr) {
            peer.userspace_rx += 1;
            if let Some(last) = peer.last_user_rx
                && session.state() == State::Up
            {
                let gap = now.saturating_since(last);
                peer.largest_gap = Some(peer.largest_gap.map_or(gap, |largest| largest.max(gap)));
            }
            peer.last_user_rx = Some(now);
            if peer.ifindex.is_none() && !peer.spec.multihop && arrival.ifindex != 0 {
                learn = Some(arrival.ifindex);
            }
        }
        if let Some(ifindex) = learn {
            self.learn_interface(discr, ifindex, now);
        }
        self.drain(discr, now);
    }

    /// A single-hop session's packets arrive on the peer's link: once that
    /// link is known, and the XDP program is on it, the kernel takes over
    /// detection and absorption for the session.
    fn learn_interface(&mut self, discr: u32, ifindex: u32, now: Time) {
        let Some(spec) = self.sessions.data(discr).map(|peer| peer.spec.clone()) else { return };
        let wanted = self.detection(&spec, Some(ifindex));
        let Some((session, peer)) = self.sessions.entry_mut(discr) else { return };
        peer.ifindex = Some(ifindex);
        let mut config = *session.config();
        if config.detection != wanted {
            config.detection = wanted;
            if session.configure(now, config).is_ok() {
                info!(peer = %peer.spec.peer, ifindex, "the XDP fast path times this session");
            }
        }
        let view = session.fast_path();
        self.sync_fast_path(discr, &view);
    }

    fn kernel_event(&mut self, now: Time, event: &DetectEvent) {
        if event.kind == EVENT_ANSWER_OWED {
            self.counters.answers_owed += 1;
        } else if event.kind == EVENT_ORIGINATOR_SILENT {
            self.counters.originator_silent += 1;
        } else {
            self.counters.kernel_events += 1;
        }
        let discr = event.discriminator;
        let Some((session, peer)) = self.sessions.entry_mut(discr) else {
            self.counters.kernel_events_ignored += 1;
            return;
        };
        if event.generation < peer.first_generation {
            // The timer of an earlier session with this discriminator
            // fired before its entry was replaced.
            self.counters.kernel_events_ignored += 1;
            debug!(discr, generation = event.generation, "detection event of an earlier session");
            return;
        }
        if event.kind == EVENT_ANSWER_OWED {
            // Not a detection: a peer packet the kernel could not answer
            // yet (§6.8.7's floor); the core sends the answer when the
            // floor ends, and `drain` tells the kernel it did.
            session.on_answer_owed(
                now,
                Time::from_nanos(event.last_rx_ns),
                Time::from_nanos(event.fired_at_ns),
            );
            self.drain(discr, now);
            return;
        }
        if event.kind == EVENT_ORIGINATOR_SILENT {
            // Not a detection: the peer, which originates, went quiet
            // while our kernel answers for us (its agent may be away);
            // the core originates for a while, and `drain` takes the
            // answering back from the kernel.
            let acted = session.on_originator_silent(now);
            if !acted {
                self.counters.kernel_events_ignored += 1;
            }
            peer.span.in_scope(|| {
                debug!(
                    discr,
                    acted,
                    silence_us = event.fired_at_ns.saturating_sub(event.last_rx_ns) / 1000,
                    event_latency_us =
                        now.saturating_since(Time::from_nanos(event.fired_at_ns)).as_micros() as u64,
                    "the originating peer is silent: originating for it"
                )
            });
            self.drain(discr, now);
            return;
        }
        let fired_at = Time::from_nanos(event.fired_at_ns);
        let detection_time = session.status().detection_time;
        let acted = match event.kind {
            EVENT_CONTROL_TIMEOUT => session.on_kernel_timeout(now, fired_at),
            EVENT_ECHO_TIMEOUT => session.on_echo_timeout(now),
            _ => false,
        };
        if !acted {
            self.counters.kernel_events_ignored += 1;
        }
        let silence = Duration::from_nanos(event.fired_at_ns.saturating_sub(event.last_rx_ns));
        let _entered = peer.span.enter();
        // How precisely the kernel detected: the silence it measured against
        // the Detection Time, and how late the agent heard of it.
        info!(
            discr,
            kind = if event.kind == EVENT_CONTROL_TIMEOUT { "control" } else { "echo" },
            acted,
            silence_us = silence.as_micros() as u64,
            detection_time_us = detection_time.map_or(0, |time| time.as_micros() as u64),
            overshoot_us = detection_time.map_or(0, |time| silence.saturating_sub(time).as_micros() as u64),
            event_latency_us = now.saturating_since(fired_at).as_micros() as u64,
            "kernel detection event"
        );
        drop(_entered);
        self.drain(discr, now);
    }

    /// Acts on a session's outputs: the one place where the session core's
    /// decisions become effects.
    fn drain(&mut self, discr: u32, now: Time) {
        let Some((session, peer)) = self.sessions.entry_mut(discr) else { return };
        // The early heap's entry below is computed with the slack the
        // session keeps until its next drain.
        session.set_wake_slack(self.wake_slack);
        if let Some(deadline) = session.next_deadline() {
            self.deadlines.push(Reverse((deadline, discr)));
        }
        if let Some(early) = session.earliest_deadline()
            && Some(early) != session.next_deadline()
        {
            self.early.push(Reverse((early, discr)));
        }
        let mut changed = false;
        let mut synced = false;
        let mut came_up = false;
        // One buffer for every drain: no allocation per input.
        let mut outputs = std::mem::take(&mut self.outputs);
        outputs.extend(session.drain_outputs());
        // What is logged from here is logged in the session's span. A
        // drain that only transmits (nearly every one: a periodic packet)
        // logs nothing, and entering the span costs a clone of it and the
        // subscriber's bookkeeping, which at 10,000 sessions was a tenth
        // of the engine's userspace time (perf, issue 19).
        let span =
            outputs.iter().any(|output| !matches!(output, Output::Transmit(_))).then(|| peer.span.clone());
        let _entered = span.as_ref().map(Span::enter);
        for output in outputs.drain(..) {
            match output {
                Output::Transmit(packet) => {
                    self.transmissions += 1;
                    let peer = self
                        .sessions
                        .data(discr)
                        .map(|peer| (peer.transport, peer.ifindex, peer.kernel_answering));
                    if let Some((transport, ifindex, kernel_answering)) = peer {
                        let periodic = !packet.final_;
                        self.effects.push_back(Effect::Transmit { discr, transport, ifindex, packet });
                        if kernel_answering && periodic {
                            // A packet of ours while the kernel answers (one
                            // it owed, or an answer to a packet it passed
                            // up): the kernel paces its next answer from it,
                            // so that §6.8.7's floor holds across both.
                            self.effects.push_back(Effect::HandTransmissionOver { discr, last_tx: now });
                        }
                    }
                }
                Output::TransmitEcho(echo) => {
                    if let Some(peer) = self.sessions.data(discr) {
                        let local = peer.spec.local.filter(|l| l.is_ipv6() == peer.spec.peer.is_ipv6());
                        self.effects.push_back(Effect::TransmitEcho {
                            discr,
                            transport: peer.transport,
                            ifindex: peer.ifindex,
                            local,
                            peer: peer.spec.peer,
                            echo,
                        });
                    }
                }
                Output::StateChange(change) => {
                    changed = true;
                    came_up |= change.to == State::Up;
                    self.state_changed(discr, change, now);
                }
                Output::FastPath(view) => {
                    synced = true;
                    self.sync_fast_path(discr, &view);
                }
            }
        }
        self.outputs = outputs;
        if came_up && !synced {
            // The new gap epoch must reach the kernel even if nothing else
            // in the session's entry changed.
            if let Some(view) = self.sessions.get(discr).map(Session::fast_path) {
                self.sync_fast_path(discr, &view);
            }
        }
        if changed || synced {
            self.observe_change(discr);
            self.remember(discr);
        } else if self.options.fast_path
            && let Some((session, peer)) = self.sessions.entry(discr)
            && peer.remembered.is_some_and(|remembered| remembered != session.restorable())
        {
            // Parameters that change without the state or the fast-path
            // view: a session the kernel does not time (multihop) finishing
            // a Poll Sequence (RFC 5880 §6.5) advertises new timers, which
            // its record and the kernel's keepalive must follow. A
            // comparison per drain, no write unless something changed.
            let span = peer.span.clone();
            let _entered = span.enter();
            self.remember(discr);
        }
    }

    /// Writes the session's adoption record (with the fast path only: the
    /// record lives beside the program's maps). Only the configuration
    /// files' sessions are adopted: bfdd's data-plane sessions are bfdd's
    /// to create again when it reconnects.
    fn remember(&mut self, discr: u32) {
        if !self.options.fast_path {
            return;
        }
        let Some((session, peer)) = self.sessions.entry(discr) else { return };
        // Nor are authenticated sessions (RFC 5880 §6.7): their sequence
        // numbers are not in the record, and a meticulous peer would refuse
        // a restart's.
        if peer.origin != Origin::Config || peer.spec.auth.is_some() {
            return;
        }
        let key = session_key(&peer.spec, peer.ifindex);
        let restorable = session.restorable();
        let record = crate::adopt::record(
            &restorable,
            &key,
            peer.transport.source_port,
            &session.steady_state_packet(),
        );
        self.effects.push_back(Effect::Remember { discr, record });
        if let Some(peer) = self.sessions.data_mut(discr) {
            peer.remembered = Some(restorable);
        }
    }

    fn state_changed(&mut self, discr: u32, change: StateChange, now: Time) {
        let options = (self.options.routes, self.options.hook);
        let Some(peer) = self.sessions.data_mut(discr) else { return };
        // Copied only if a publication still holds the list.
        let transitions = Arc::make_mut(&mut peer.transitions);
        match transitions.iter_mut().find(|(from, to, diagnostic, _)| {
            (*from, *to, *diagnostic) == (change.from, change.to, change.diagnostic)
        }) {
            Some(entry) => entry.3 += 1,
            None => transitions.push((change.from, change.to, change.diagnostic, 1)),
        }
        if change.to == State::Up {
            peer.largest_gap = None;
            peer.last_user_rx = None;
            peer.gap_epoch += 1;
        }
        info!(
            peer = %peer.spec.peer,
            local = ?peer.spec.local,
            interface = ?peer.spec.interface,
            discr,
            from = %change.from,
            to = %change.to,
            diagnostic = %change.diagnostic,
            cause = ?change.cause,
            failure = change.is_failure(),
            at_us = change.at.as_nanos() / 1000,
            latency_us = now.saturating_since(change.at).as_micros() as u64,
            "session state change"
        );
        let peer_address = peer.spec.peer;
        let event = ChangeEvent { spec: peer.spec.clone(), ifindex: peer.ifindex, discr, change };
        // Routes through the peer: out on a failure (never on AdminDown,
        // RFC 5882 §3.2), back when the session is Up again.
        if options.0 {
            if change.is_failure() {
                self.effects.push_back(Effect::WithdrawRoutes { peer: peer_address });
            } else if change.to == State::Up {
                self.effects.push_back(Effect::RestoreRoutes { peer: peer_address });
            }
        }
        if options.1 {
            self.effects.push_back(Effect::Hook(event));
        }
    }

    /// Tells the observer (bfdd) of a new state, and of the peer's new
    /// discriminator, timers or flags, which bfdd shows: a change of the
    /// fast-path view is when those can have changed.
    fn observe_change(&mut self, discr: u32) {
        if !self.options.observer {
            return;
        }
        let Some((session, peer)) = self.sessions.entry_mut(discr) else { return };
        let status = session.status();
        let reported = Reported {
            state: status.state,
            diagnostic: status.remote_diag,
            remote_discr: status.remote_discr,
            remote_timers: (status.remote_desired_min_tx, status.remote_min_rx, status.remote_min_echo_rx),
            remote_detect_mult: status.remote_detect_mult,
            remote_flags: (status.remote_demand, status.remote_control_plane_independent),
        };
        if peer.reported != Some(reported) {
            peer.reported = Some(reported);
            self.effects.push_back(Effect::Report(StateReport { identity: peer.spec.key(), status }));
        }
    }

    fn sync_fast_path(&mut self, discr: u32, view: &FastPathView) {
        if !self.options.fast_path {
            return;
        }
        self.generation += 1;
        let generation = self.generation;
        let handing_over =
            view.answer && self.sessions.data(discr).is_some_and(|peer| !peer.kernel_answering);
        if handing_over {
            // The kernel answers with the keepalive template, paced from our
            // last packet: both must be in place before the flag is.
            self.remember(discr);
            if let Some(last_tx) = self.sessions.get(discr).and_then(Session::last_tx) {
                self.effects.push_back(Effect::HandTransmissionOver { discr, last_tx });
            }
        }
        let Some(peer) = self.sessions.data_mut(discr) else { return };
        peer.kernel_answering = view.answer;
        let key = session_key(&peer.spec, peer.ifindex);
        let mut entry = map_config(view, &key, peer.spec.min_ttl, generation);
        entry.gap_epoch = peer.gap_epoch;
        self.effects.push_back(Effect::SetFastPath { discr, entry });
        // The peer's echo packets are reflected only while the core allows
        // it, on the link the session runs on.
        let allow = if view.reflect_echo { peer.ifindex } else { None };
        if allow != peer.echo_allowed {
            if let Some(ifindex) = peer.echo_allowed {
                self.effects.push_back(Effect::DisallowEcho { ifindex, peer: peer.spec.peer });
            }
            if let Some(ifindex) = allow {
                self.effects.push_back(Effect::AllowEcho { ifindex, peer: peer.spec.peer, discr });
            }
            peer.echo_allowed = allow;
        }
    }

    /// Who times a session of `spec` whose link is `ifindex`: the kernel
    /// when the XDP program is on that link (single-hop: a multihop
    /// session's packets may arrive on any link), else the core. A
    /// configured interface gives the link at once; otherwise the first
    /// packet does ([`learn_interface`](Self::learn_interface)).
    fn detection(&self, spec: &PeerSpec, ifindex: Option<u32>) -> Detection {
        let on_xdp =
            ifindex.is_some_and(|i| self.options.fast_path && self.options.xdp_ifindexes.contains(&i));
        if on_xdp && !spec.multihop { Detection::Kernel } else { Detection::Local }
    }

    /// Whether the kernel may answer for a session of `spec` from `origin`
    /// (the core decides when: `Session::answering`): only where it holds
    /// the session's keepalive template, which is written for the
    /// configuration's unauthenticated sessions ([`Self::remember`]), and
    /// single-hop (the kernel answers what it absorbs, and it absorbs only
    /// single-hop packets).
    fn kernel_answers(&self, spec: &PeerSpec, origin: Origin) -> bool {
        self.options.fast_path
            && self.options.kernel_answers
            && origin == Origin::Config
            && spec.auth.is_none()
            && !spec.multihop
    }

    /// Whether one more session fits [`DispatcherOptions::max_sessions`]:
    /// sessions saying goodbye keep their kernel entries until they go.
    fn room_for_a_session(&self) -> Result<(), String> {
        match self.options.max_sessions {
            Some(max) if self.sessions.len() >= max => Err(format!(
                "the kernel's maps hold {max} sessions and {} run (those saying goodbye count until they \
                 are gone)",
                self.sessions.len()
            )),
            _ => Ok(()),
        }
    }

    fn add(
        &mut self,
        now: Time,
        origin: Origin,
        spec: PeerSpec,
        transport: Transport,
    ) -> Result<u32, String> {
        let key = session_key(&spec, transport.ifindex);
        let config = SessionConfig {
            detection: self.detection(&spec, transport.ifindex),
            kernel_answers: self.kernel_answers(&spec, origin),
            ..spec.session
        };
        let identity = spec.key();
        let admin_down = spec.admin_down;
        let peer = Peer::new(spec, origin, transport, transport.ifindex, self.generation + 1);
        let (min_ttl, preferred) = (peer.spec.min_ttl, peer.spec.discriminator);
        // Authenticated from the first packet (RFC 5880 §6.7), with key
        // lifetimes read against the wall clock.
        let auth = peer.spec.auth.as_ref().map(|auth| (auth.config.clone(), self.wall_at(now)));
        let discr = self
            .sessions
            .add_authenticated(key, config, auth, min_ttl, now, preferred, peer)
            .map_err(|error| format!("adding the session: {error}"))?;
        self.by_identity.insert(identity, discr);
        if let Some((session, peer)) = self.sessions.entry_mut(discr) {
            peer.span.record("discr", discr);
            info!(peer = %peer.spec.peer, local = ?peer.spec.local, peer_document = %peer.spec.source, discr, source_port = transport.source_port, "session added");
            if admin_down {
                session.admin_down(now, Diagnostic::AdministrativelyDown);
            }
        }
        self.drain(discr, now);
        Ok(discr)
    }

    /// Takes over a session an earlier agent left in the kernel
    /// ([`crate::adopt`]): same discriminators, state and source port, its
    /// first packet at once (see [`Session::restore`]). `kernel_generation`
    /// is the generation of the session's entry in the kernel's map: the
    /// detection events it raised while no agent ran are acted on.
    pub fn adopt(
        &mut self,
        now: Time,
        origin: Origin,
        spec: PeerSpec,
        adoptable: &crate::adopt::Adoptable,
        transport: Transport,
        kernel_generation: u64,
    ) -> Result<u32, String> {
        let key = session_key(&spec, transport.ifindex);
        // The link the earlier agent had learned counts too.
        let ifindex = transport.ifindex.or(adoptable.key.ifindex);
        let config = SessionConfig {
            detection: self.detection(&spec, ifindex),
            kernel_answers: self.kernel_answers(&spec, origin),
            ..spec.session
        };
        // Events of the adopted entry count; the new entries written from
        // here on are newer than anything the earlier agent wrote.
        self.generation = self.generation.max(kernel_generation);
        let identity = spec.key();
        let first_generation = if kernel_generation == 0 { self.generation + 1 } else { kernel_generation };
        let peer = Peer::new(spec, origin, transport, ifindex, first_generation);
        let min_ttl = peer.spec.min_ttl;
        let discr = self
            .sessions
            .restore(key, config, min_ttl, now, &adoptable.restored, peer)
            .map_err(|error| format!("adopting the session: {error}"))?;
        self.by_identity.insert(identity, discr);
        if let Some((session, peer)) = self.sessions.entry_mut(discr) {
            peer.span.record("discr", discr);
            info!(peer = %peer.spec.peer, local = ?peer.spec.local, discr, state = %session.state(), remote_discr = session.remote_discr(), source_port = transport.source_port, "session adopted");
        }
        self.publish_now = true;
        self.drain(discr, now);
        Ok(discr)
    }

    /// [`Session::resume_from`] for a session adopted ([`Dispatcher::adopt`])
    /// with the time of its adoption as its last transmission, once the
    /// agent knows when the kernel last answered for it.
    pub fn resume(&mut self, discr: u32, last_tx: Option<Time>, now: Time) {
        let Some(session) = self.sessions.get_mut(discr) else { return };
        session.resume_from(last_tx, now);
        self.drain(discr, now);
    }

    /// RFC 5880 §6.8.16: a session leaving the configuration says AdminDown
    /// (for the peer's Detection Time, which the core handles) before it
    /// goes away, so the peer does not report a failure (RFC 5882 §3.2).
    fn take_down_and_retire(&mut self, discr: u32, now: Time) {
        let Some((session, peer)) = self.sessions.entry_mut(discr) else { return };
        // An Up peer must hear AdminDown for its Detection Time, or it would
        // report a failure; a peer that is not Up has nothing to lose.
        let linger = match session.state() {
            State::Up | State::Init => session.status().tx_interval.unwrap_or(Duration::from_secs(1)) * 3,
            _ => Duration::ZERO,
        };
        let at = now + linger.min(Duration::from_secs(3));
        peer.retire_at = Some(at);
        let identity = peer.spec.key();
        session.admin_down(now, Diagnostic::AdministrativelyDown);
        self.by_identity.remove(&identity);
        self.retiring.insert(discr, at);
        self.drain(discr, now);
    }

    fn remove(&mut self, discr: u32) {
        self.retiring.remove(&discr);
        let Some((_, peer)) = self.sessions.remove(discr) else { return };
        if self.by_identity.get(&peer.spec.key()) == Some(&discr) {
            self.by_identity.remove(&peer.spec.key());
        }
        if self.options.fast_path {
            if let Some(ifindex) = peer.echo_allowed {
                self.effects.push_back(Effect::DisallowEcho { ifindex, peer: peer.spec.peer });
            }
            self.effects.push_back(Effect::RemoveFastPath { discr });
            self.effects.push_back(Effect::Forget { discr });
        }
        self.effects.push_back(Effect::Close { discr, transport: peer.transport });
        info!(peer = %peer.spec.peer, discr, "session removed");
    }

    /// Applies `plan` to its origin's sessions. A plan computed against an
    /// older publication still does the right thing: an added session that
    /// runs is compared, a removed one that does not run is skipped.
    pub fn apply(
        &mut self,
        now: Time,
        plan: Plan,
        open: &mut dyn FnMut(&PeerSpec) -> Result<Transport, String>,
    ) -> ApplySummary {
        let mut summary = ApplySummary { unchanged: plan.unchanged, ..ApplySummary::default() };
        let origin = plan.origin;
        let wall = self.wall_at(now);
        for identity in &plan.removed {
            if let Some(&discr) = self.by_identity.get(identity)
                && self.sessions.data(discr).is_some_and(|peer| peer.origin == origin)
            {
                self.take_down_and_retire(discr, now);
                summary.removed += 1;
            }
        }
        for wanted in plan.changed.into_iter().chain(plan.added) {
            let identity = wanted.key();
            let Some(&discr) = self.by_identity.get(&identity) else {
                let result = self
                    .room_for_a_session()
                    .and_then(|()| open(&wanted))
                    .and_then(|transport| self.add(now, origin, wanted, transport));
                match result {
                    Ok(_) => summary.added += 1,
                    Err(error) => {
                        warn!(session = %identity, %error, "the session could not start");
                        summary.failed.push((identity, error));
                    }
                }
                continue;
            };
            let Some((session, peer)) = self.sessions.entry_mut(discr) else { continue };
            if peer.origin != origin {
                warn!(session = %identity, ?origin, owner = ?peer.origin, "the session is already run for another source; not taken over");
                summary.failed.push((identity, format!("already run for {:?}", peer.origin)));
                continue;
            }
            if peer.spec.same_session(&wanted) {
                summary.unchanged += 1;
                peer.spec = Arc::new(wanted);
                continue;
            }
            // §6.8.16: shutdown and no shutdown, as FRR's.
            match (peer.spec.admin_down, wanted.admin_down) {
                (false, true) => session.admin_down(now, Diagnostic::AdministrativelyDown),
                (true, false) => session.admin_up(now),
                _ => {}
            }
            // Keep who detects: that is the link's business, not the
            // configuration's.
            let config = SessionConfig {
                detection: session.config().detection,
                kernel_answers: session.config().kernel_answers,
                ..wanted.session
            };
            let configured =
                session.configure(now, config).map_err(|error| error.to_string()).and_then(|()| {
                    // A new key chain keeps the sequence state: a rotation never
                    // flaps (both keys are accepted while their lifetimes overlap).
                    let auth = wanted.auth.as_ref().map(|auth| auth.config.clone());
                    session.set_authentication(now, wall, auth).map_err(|error| error.to_string())
                });
            match configured {
                Ok(()) => summary.changed += 1,
                Err(error) => {
                    warn!(peer = %wanted.peer, %error, "the new configuration was refused");
                    summary.failed.push((identity, error));
                }
            }
            peer.spec = Arc::new(wanted);
            self.drain(discr, now);
        }
        self.counters.plans_applied += 1;
        self.counters.plan_failures += summary.failed.len() as u64;
        self.publish_now = true;
        info!(summary = %summary, "configuration applied");
        summary
    }
}

/// The session table's key for a session of `spec` on `ifindex`.
fn session_key(spec: &PeerSpec, ifindex: Option<u32>) -> SessionKey {
    SessionKey { peer: spec.peer, local: spec.local, ifindex, multihop: spec.multihop }
}

/// A publication being gathered ([`Dispatcher::publication`]).
struct Gathering {
    /// The sessions still to add.
    pending: Vec<u32>,
    /// Those added so far, each as of the wake that added it.
    sessions: Vec<Snapshot>,
    /// Who asked for a publication before it started.
    waiting: Vec<tokio::sync::oneshot::Sender<Arc<Published>>>,
}

fn snapshot(session: &Session, peer: &Peer, now: Time) -> Snapshot {
    Snapshot {
        spec: peer.spec.clone(),
        origin: peer.origin,
        status: session.status(),
        now,
        ifindex: peer.ifindex,
        // Who really times it: a meticulous authenticated session is the
        // core's (issue 18).
        fast_path: session.control_detection() == Detection::Kernel,
        kernel: None,
        userspace_rx: peer.userspace_rx,
        userspace_largest_gap: peer.largest_gap,
        gap_epoch: peer.gap_epoch,
        transitions: peer.transitions.clone(),
    }
}
