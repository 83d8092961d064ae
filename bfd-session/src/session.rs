//! One BFD session: RFC 5880 §6.8 as a sans-IO state machine.
//!
//! A [`Session`] is driven by inputs that carry their own time
//! ([`on_control`](Session::on_control), [`on_timer`](Session::on_timer),
//! [`on_kernel_timeout`](Session::on_kernel_timeout),
//! [`on_echo_return`](Session::on_echo_return),
//! [`on_echo_timeout`](Session::on_echo_timeout),
//! [`configure`](Session::configure), [`admin_down`](Session::admin_down),
//! [`admin_up`](Session::admin_up), [`poll`](Session::poll)). Each input
//! queues [`Output`]s (packets to send, state changes, the kernel's view of
//! the session) that the caller drains with
//! [`drain_outputs`](Session::drain_outputs), and moves
//! [`next_deadline`](Session::next_deadline), the time at which the caller
//! must call [`on_timer`](Session::on_timer).
//!
//! Every side effect of an input happens in one place,
//! `Session::settle`, which runs at the end of every input: it
//! derives the advertised parameters from the state and configuration,
//! starts Poll Sequences, (re)schedules transmissions and echo, sends what
//! is due and publishes the fast-path view when it changed.

use core::time::Duration;
use std::collections::VecDeque;

use bfd_common::wire::control::HEADER_LEN;
use bfd_common::wire::{ControlPacket, ControlRepr, Diagnostic, EchoRepr, State};

use crate::auth::{
    AuthConfig, AuthConfigError, AuthCounters, AuthFailure, AuthState, AuthStatus, MAX_PACKET_LEN,
    ReceivedControl, WallTime,
};
use crate::config::{ConfigError, Detection, SessionConfig};
use crate::rng::Rng;
use crate::time::Time;

/// §6.8.3: "When bfd.SessionState is not Up, the system MUST set
/// bfd.DesiredMinTxInterval to a value of not less than one second
/// (1,000,000 microseconds)."
pub const SLOW_TX_INTERVAL: Duration = Duration::from_secs(1);

/// Something the caller must do after an input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send this control packet to the peer now.
    Transmit(ControlRepr),
    /// Send one of our echo packets now (§6.8.8); the caller fills the
    /// transmit time when it writes the packet, `tx_time_ns` holds the
    /// input's time.
    TransmitEcho(EchoRepr),
    /// `bfd.SessionState` changed.
    StateChange(StateChange),
    /// What the XDP program must now hold for this session; emitted only
    /// when it differs from the previous view.
    FastPath(FastPathView),
}

/// Why a state change happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cause {
    /// The peer's packet moved the three-way handshake on (§6.8.6).
    Handshake,
    /// §6.8.6: "If received state is AdminDown ... Set bfd.SessionState to
    /// Down". Not a failure: RFC 5882 §3.2 says clients must not withdraw
    /// routes for it.
    RemoteAdminDown,
    /// §6.8.6: the peer, while we were Up, said Down (diagnostic 3).
    NeighborDown,
    /// §6.8.4: a Detection Time passed without a packet (diagnostic 1).
    DetectionTimeExpired,
    /// §6.8.5: our echo packets stopped coming back (diagnostic 2).
    EchoFailed,
    /// §6.8.16: taken administratively down here.
    AdminDown,
    /// §6.8.16: enabled again here.
    AdminUp,
}

/// A change of `bfd.SessionState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateChange {
    /// When (the input's time).
    pub at: Time,
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// `bfd.LocalDiag` after the change.
    pub diagnostic: Diagnostic,
    /// What caused it.
    pub cause: Cause,
}

impl StateChange {
    /// Whether clients (routes, BGP) must treat this as a path failure: a
    /// session that was Up went down because of a detection, an echo
    /// failure or the peer's Down. Administrative shutdowns on either side
    /// are not failures (RFC 5882 §3.2).
    pub fn is_failure(&self) -> bool {
        self.from == State::Up
            && matches!(self.cause, Cause::DetectionTimeExpired | Cause::EchoFailed | Cause::NeighborDown)
    }
}

/// Why a received control packet was discarded (§6.8.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Discard {
    /// Its Your Discriminator is neither 0 nor ours (the demultiplexer
    /// should not have given it to this session).
    #[error("Your Discriminator is not this session's")]
    WrongDiscriminator,
    /// §6.8.6: "If the A bit is set and no authentication is in use
    /// (bfd.AuthType is zero), the packet MUST be discarded."
    #[error("authenticated packet, and the session uses no authentication")]
    AuthenticationNotInUse,
    /// §6.8.6: "If the A bit is clear and authentication is in use ..." or
    /// "If the A bit is set, the packet MUST be authenticated under the
    /// rules of section 6.7 ... This may cause the packet to be
    /// discarded."
    #[error("authentication failed: {0}")]
    Authentication(AuthFailure),
    /// §6.8.6: "If bfd.SessionState is AdminDown: Discard the packet".
    #[error("the session is administratively down")]
    AdminDown,
    /// [`Session::on_control`] was given a packet that breaks a wire rule
    /// of §6.8.6 (it bypassed [`ControlRepr::parse`]).
    #[error("the packet breaks a wire rule of RFC 5880 §6.8.6")]
    Malformed,
}

/// What the XDP program holds for a session (issue 4's `bfd_sess_cfg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FastPathView {
    /// Our discriminator: the kernel's key for the session.
    pub local_discr: u32,
    /// The control packet the kernel may absorb: a packet equal to it
    /// changes nothing here. `None`: hand every packet up. Poll and Final
    /// are always clear in it, so packets carrying them always come up.
    pub expect: Option<ControlRepr>,
    /// The Detection Time the kernel timer re-arms to on every valid
    /// packet; `None`: no kernel timer.
    pub detection_time: Option<Duration>,
    /// The echo detection time the kernel re-arms to on every returning
    /// echo packet of ours; `None`: no echo timer.
    pub echo_detection_time: Option<Duration>,
    /// The peer may send us echo packets to loop back: the session is Up
    /// and we advertise a non-zero Required Min Echo RX Interval.
    pub reflect_echo: bool,
    /// For an authenticated session the kernel times: when this core last
    /// accepted a packet (its digest verified here). The kernel stamps
    /// only packets equal to [`expect`](Self::expect) (byte-identical to a
    /// verified one) and passes every other authenticated packet up
    /// unstamped; its timer counts from the later of its stamp and this.
    /// `None` otherwise (the kernel stamps every valid packet itself).
    pub verified_rx: Option<Time>,
    /// Authentication is in use (§6.7): the kernel must stamp no packet
    /// but one equal to [`expect`](Self::expect), A bit or not.
    pub authenticated: bool,
    /// The kernel answers the peer's packets for us, and we send no
    /// periodic packets (issue 19; see `Session::answering`).
    pub answer: bool,
}

impl FastPathView {
    /// [`expect`](Self::expect) as the 24 bytes the kernel compares a
    /// packet's header with (with the A bit and the whole Length when the
    /// template has an authentication section).
    pub fn expected_header(&self) -> Option<[u8; HEADER_LEN]> {
        self.expected_packet().map(|(header, _)| header)
    }

    /// [`expect`](Self::expect) as the kernel compares it: the header and
    /// the authentication section zero-padded to 28 bytes (all zero
    /// without one).
    pub fn expected_packet(&self) -> Option<([u8; HEADER_LEN], [u8; bfd_common::maps::AUTH_INSPECT_LEN])> {
        self.expect.map(|expect| bfd_common::maps::SessionConfig::expect_packet(&expect))
    }
}

/// Counters kept by a session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Control packets accepted (not discarded).
    pub control_rx: u64,
    /// Control packets discarded by §6.8.6.
    pub control_discarded: u64,
    /// Control packets sent.
    pub control_tx: u64,
    /// Echo packets sent.
    pub echo_tx: u64,
    /// Our echo packets seen coming back.
    pub echo_rx: u64,
    /// Transitions into Up.
    pub up: u64,
    /// Transitions out of Up.
    pub down: u64,
    /// Takeovers: the kernel answering for us reported the originating
    /// peer silent and we originated for a while (issue 19,
    /// [`Session::on_originator_silent`]).
    pub takeovers: u64,
    /// Packets discarded by authentication, by reason (included in
    /// `control_discarded`).
    pub auth: AuthCounters,
}

/// How early a periodic control packet may always go to share a wake-up
/// with others (1 ms), and at most 1/[`TX_SLACK_FRACTION`] of the
/// interval: an agent running thousands of sessions then wakes about once
/// per millisecond instead of once per packet, and no interval leaves
/// §6.8.7's jitter range (the floor of 75% is kept whatever the slack).
pub const TX_SLACK: Duration = Duration::from_millis(1);
/// See [`TX_SLACK`]: 2% of the interval.
pub const TX_SLACK_FRACTION: u32 = 50;
/// The widest the window may be opened by the caller
/// ([`Session::set_wake_slack`]): 5 ms, and at most
/// 1/[`WAKE_SLACK_FRACTION`] of the interval. An agent with few packets a
/// millisecond would otherwise wake for nearly every packet, and a wake
/// costs about twice what a packet does (issue 19: 22 against 10 µs at 500
/// sessions on the bench's machine).
pub const WAKE_SLACK_MAX: Duration = Duration::from_millis(5);
/// See [`WAKE_SLACK_MAX`]: 10% of the interval.
pub const WAKE_SLACK_FRACTION: u32 = 10;

/// RFC 5880 §6.8.7's floor, parts per million of the transmit interval:
/// an interval "reduced by a random value of 0 to 25%" is at least 75% of
/// it. Every periodic packet keeps it, the kernel's answers included.
pub const JITTER_FLOOR_PPM: u32 = 750_000;

/// The shortest interval §6.8.7 allows between two periodic packets at
/// `interval` ([`JITTER_FLOOR_PPM`]): the session's schedule, the kernel's
/// answers (`Keepalive::min_interval_ns`) and the answers it leaves to the
/// agent all keep it.
pub fn jitter_floor(interval: Duration) -> Duration {
    interval * JITTER_FLOOR_PPM / 1_000_000
}

/// The shortest interval, parts per million of the transmit interval, of
/// a session whose packets the peer's kernel may answer (see
/// `Session::jittered`): 80%, against §6.8.7's 75%.
pub const ANSWERED_JITTER_FLOOR_PPM: u32 = 800_000;

/// How long an answering session originates after its kernel reported the
/// originating peer silent ([`Session::on_originator_silent`]), at least:
/// long enough to cover the restart of the peer's agent (its kernel
/// answers ours meanwhile), after which the session hands its packets back
/// to its kernel. The hold is the longer of this and
/// [`TAKEOVER_DETECTION_TIMES`] Detection Times.
pub const TAKEOVER_HOLD: Duration = Duration::from_secs(5);

/// See [`TAKEOVER_HOLD`].
pub const TAKEOVER_DETECTION_TIMES: u32 = 10;

/// A snapshot of a session for the operator (`show`-style output).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionStatus {
    /// `bfd.SessionState`.
    pub state: State,
    /// `bfd.RemoteSessionState`.
    pub remote_state: State,
    /// `bfd.LocalDiscr`.
    pub local_discr: u32,
    /// `bfd.RemoteDiscr` (0 while unknown).
    pub remote_discr: u32,
    /// `bfd.LocalDiag`, as sent in our packets.
    pub local_diag: Diagnostic,
    /// The Diagnostic of the peer's last packet.
    pub remote_diag: Diagnostic,
    /// The diagnostic and time of the last transition out of Up, kept
    /// after the session comes back.
    pub last_down: Option<(Time, Diagnostic)>,
    /// When the state last changed.
    pub last_state_change: Option<Time>,
    /// When the last control packet was accepted here.
    pub last_rx: Option<Time>,
    /// Advertised `bfd.DesiredMinTxInterval`.
    pub desired_min_tx: Duration,
    /// Advertised `bfd.RequiredMinRxInterval`.
    pub required_min_rx: Duration,
    /// Advertised Required Min Echo RX Interval.
    pub required_min_echo_rx: Duration,
    /// `bfd.DetectMult`.
    pub detect_mult: u8,
    /// The peer's Desired Min TX Interval.
    pub remote_desired_min_tx: Duration,
    /// `bfd.RemoteMinRxInterval`.
    pub remote_min_rx: Duration,
    /// The peer's Required Min Echo RX Interval.
    pub remote_min_echo_rx: Duration,
    /// The peer's Detect Mult (0 before its first packet).
    pub remote_detect_mult: u8,
    /// `bfd.RemoteDemandMode`.
    pub remote_demand: bool,
    /// The peer's C bit.
    pub remote_control_plane_independent: bool,
    /// The negotiated transmit interval before jitter (§6.8.7), `None`
    /// while periodic transmission is not allowed.
    pub tx_interval: Option<Duration>,
    /// The Detection Time (§6.8.4), `None` while there is nothing to
    /// detect.
    pub detection_time: Option<Duration>,
    /// The echo transmit interval, `None` while echo is not active.
    pub echo_tx_interval: Option<Duration>,
    /// The echo detection time, `None` while echo is not active.
    pub echo_detection_time: Option<Duration>,
    /// The last echo round-trip time measured here.
    pub echo_rtt: Option<Duration>,
    /// A Poll Sequence is in progress (§6.5).
    pub polling: bool,
    /// Counters.
    pub counters: Counters,
    /// Authentication, `None` if the session uses none.
    pub auth: Option<AuthStatus>,
}

/// Errors creating a session.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// §6.8.1: bfd.LocalDiscr "MUST be nonzero".
    #[error("the local discriminator must be non-zero")]
    ZeroDiscriminator,
    /// The configuration is not usable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The authentication configuration is not usable.
    #[error("authentication: {0}")]
    Auth(#[from] AuthConfigError),
}

/// The parameters our control packets carry (§6.8.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Advertised {
    desired_min_tx: Duration,
    required_min_rx: Duration,
    required_min_echo_rx: Duration,
    detect_mult: u8,
}

/// A session's state as another process of this system takes it over
/// ([`Session::restore`], [`Session::restorable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restored {
    /// bfd.LocalDiscr.
    pub local_discr: u32,
    /// bfd.SessionState.
    pub state: State,
    /// bfd.LocalDiag.
    pub local_diag: Diagnostic,
    /// bfd.DesiredMinTxInterval as advertised (and in effect).
    pub desired_min_tx: Duration,
    /// bfd.RequiredMinRxInterval as advertised (and in effect).
    pub required_min_rx: Duration,
    /// Our Required Min Echo RX Interval as advertised.
    pub required_min_echo_rx: Duration,
    /// bfd.DetectMult as advertised.
    pub detect_mult: u8,
    /// The last packet accepted from the peer, Poll and Final clear: its
    /// discriminator, state and parameters (bfd.RemoteDiscr and the rest).
    pub last_received: Option<ControlRepr>,
    /// When the earlier process sent its last packet, on the clock both
    /// use, if it said (a handover to a running successor; never in the
    /// stored record): the first packet then keeps §6.8.7's spacing from
    /// it, so that the peer never hears two of us closer than the interval
    /// allows. `None`: the first packet goes out at once.
    pub last_tx: Option<Time>,
}

/// A Poll Sequence (§6.5) and the parameters it announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Poll {
    Idle,
    Active { since: Time, announces: Advertised },
}

/// Transmission after a local AdminDown (§6.8.16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct AdminDownTx {
    until: Time,
    interval: Duration,
}

/// What a received State does to `bfd.SessionState` (§6.8.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transition {
    Discard,
    Stay,
    To(State, Diagnostic, Cause),
}

/// RFC 5880 §6.8.6, the state table, as one match on (bfd.SessionState,
/// received State). The RFC's text is beside each arm.
fn transition(local: State, received: State) -> Transition {
    use Diagnostic::{NeighborSignaledSessionDown, NoDiagnostic};
    use State::{AdminDown, Down, Init, Up};
    match (local, received) {
        // "If bfd.SessionState is AdminDown
        //      Discard the packet"
        (AdminDown, _) => Transition::Discard,
        // "If received state is AdminDown
        //      If bfd.SessionState is not Down
        //          Set bfd.LocalDiag to 3 (Neighbor signaled session down)
        //          Set bfd.SessionState to Down"
        (Down, AdminDown) => Transition::Stay,
        (Init | Up, AdminDown) => Transition::To(Down, NeighborSignaledSessionDown, Cause::RemoteAdminDown),
        // "If bfd.SessionState is Down
        //      If received State is Down
        //          Set bfd.SessionState to Init"
        (Down, Down) => Transition::To(Init, NoDiagnostic, Cause::Handshake),
        // "      Else if received State is Init
        //          Set bfd.SessionState to Up"
        (Down, Init) => Transition::To(Up, NoDiagnostic, Cause::Handshake),
        // (A peer that is Up while we are Down has lost us: it will time
        // out and come back through Down.)
        (Down, Up) => Transition::Stay,
        // "Else if bfd.SessionState is Init
        //      If received State is Init or Up
        //          Set bfd.SessionState to Up"
        (Init, Init | Up) => Transition::To(Up, NoDiagnostic, Cause::Handshake),
        (Init, Down) => Transition::Stay,
        // "Else (bfd.SessionState is Up)
        //      If received State is Down
        //          Set bfd.LocalDiag to 3 (Neighbor signaled session down)
        //          Set bfd.SessionState to Down"
        (Up, Down) => Transition::To(Down, NeighborSignaledSessionDown, Cause::NeighborDown),
        (Up, Init | Up) => Transition::Stay,
    }
}

/// One BFD session (RFC 5880 §6.8), sans IO.
#[derive(Clone, Debug)]
pub struct Session {
    config: SessionConfig,
    rng: Rng,

    // §6.8.1 state variables.
    /// bfd.SessionState
    state: State,
    /// bfd.RemoteSessionState
    remote_state: State,
    /// bfd.LocalDiscr
    local_discr: u32,
    /// bfd.RemoteDiscr
    remote_discr: u32,
    /// bfd.LocalDiag
    local_diag: Diagnostic,
    /// bfd.DesiredMinTxInterval, bfd.RequiredMinRxInterval, bfd.DetectMult
    /// and our Required Min Echo RX, as advertised.
    advertised: Advertised,
    /// bfd.RemoteMinRxInterval
    remote_min_rx: Duration,
    /// bfd.RemoteDemandMode
    remote_demand: bool,
    remote_desired_min_tx: Duration,
    remote_min_echo_rx: Duration,
    remote_detect_mult: u8,
    remote_diag: Diagnostic,
    remote_cpi: bool,

    /// §6.8.3: the DesiredMinTx that paces our packets, which lags an
    /// increase of the advertised value until the Poll Sequence ends.
    tx_in_use: Duration,
    /// §6.8.3: the RequiredMinRx the Detection Time is computed from, which
    /// lags a decrease of the advertised value until the Poll Sequence ends.
    rx_in_use: Duration,
    poll: Poll,

    /// Send a packet at the end of this input (state change, new Poll).
    send_now: bool,
    /// Answer a Poll with a Final at the end of this input (§6.8.7).
    send_final: bool,
    /// A packet was accepted while the kernel answers for us: it came up
    /// because it differs from the absorb template, so the kernel did not
    /// answer it; we do, at the end of this input (issue 19).
    answer_received: bool,
    /// The answer the kernel owes the peer for a packet that came sooner
    /// than §6.8.7's floor after the kernel's last answer
    /// ([`Session::on_answer_owed`]): we send it when the floor ends.
    answer_due: Option<Time>,
    /// Until when we originate although we may answer: the peer, which
    /// originates, fell silent ([`Session::on_originator_silent`]).
    originate_until: Option<Time>,
    last_tx: Option<Time>,
    next_tx: Option<Time>,
    /// The interval `next_tx` was drawn for: redraw only when it changes,
    /// so the jitter stays uniform.
    scheduled_interval: Option<Duration>,
    /// How early the caller would have periodic packets go to share its
    /// wake-ups ([`Session::set_wake_slack`]).
    wake_slack: Duration,
    admin_down_tx: Option<AdminDownTx>,

    last_rx: Option<Time>,
    /// The last packet accepted, Poll and Final cleared: the fast path's
    /// absorb template.
    last_received: Option<ControlRepr>,
    /// Local detection (Detection::Local, or a demand-mode Poll).
    detect_deadline: Option<Time>,

    echo_next_tx: Option<Time>,
    echo_deadline: Option<Time>,
    echo_sequence: u32,
    echo_rtt: Option<Duration>,

    last_state_change: Option<Time>,
    last_down: Option<(Time, Diagnostic)>,
    counters: Counters,
    outputs: VecDeque<Output>,
    fast_path: Option<FastPathView>,
    /// bfd.AuthType and its state (§6.7), `None`: no authentication.
    auth: Option<AuthState>,
}

impl Session {
    /// A session in state Down with discriminator `local_discr` (the
    /// [`Sessions`](crate::Sessions) table draws unique random ones),
    /// whose randomness (jitter) is fixed by `seed`. An active session
    /// sends its first packet at `now`.
    pub fn new(
        local_discr: u32,
        config: SessionConfig,
        seed: u64,
        now: Time,
    ) -> Result<Session, SessionError> {
        Session::with_auth(local_discr, config, None, seed, now)
    }

    /// [`Session::new`] with authentication (§6.7) from the start, so that
    /// not even its first packet goes out unauthenticated: `auth` is the
    /// configuration and the wall-clock time at `now` (see
    /// [`set_authentication`](Self::set_authentication)).
    pub fn with_auth(
        local_discr: u32,
        config: SessionConfig,
        auth: Option<(AuthConfig, WallTime)>,
        seed: u64,
        now: Time,
    ) -> Result<Session, SessionError> {
        if local_discr == 0 {
            return Err(SessionError::ZeroDiscriminator);
        }
        config.validate()?;
        let mut session = Session {
            config,
            rng: Rng::new(seed),
            // "bfd.SessionState ... MUST be initialized to Down."
            state: State::Down,
            // "bfd.RemoteSessionState ... MUST be initialized to Down."
            remote_state: State::Down,
            local_discr,
            // "bfd.RemoteDiscr ... MUST be initialized to zero."
            remote_discr: 0,
            // "bfd.LocalDiag ... MUST be initialized to zero."
            local_diag: Diagnostic::NoDiagnostic,
            advertised: Advertised {
                desired_min_tx: Duration::ZERO,
                required_min_rx: Duration::ZERO,
                required_min_echo_rx: Duration::ZERO,
                detect_mult: config.detect_mult,
            },
            // "bfd.RemoteMinRxInterval ... MUST be initialized to 1."
            remote_min_rx: Duration::from_micros(1),
            // "bfd.RemoteDemandMode ... MUST be initialized to zero."
            remote_demand: false,
            remote_desired_min_tx: Duration::ZERO,
            remote_min_echo_rx: Duration::ZERO,
            remote_detect_mult: 0,
            remote_diag: Diagnostic::NoDiagnostic,
            remote_cpi: false,
            tx_in_use: Duration::ZERO,
            rx_in_use: Duration::ZERO,
            poll: Poll::Idle,
            send_now: false,
            send_final: false,
            last_tx: None,
            answer_received: false,
            answer_due: None,
            originate_until: None,
            next_tx: None,
            scheduled_interval: None,
            wake_slack: Duration::ZERO,
            admin_down_tx: None,
            last_rx: None,
            last_received: None,
            detect_deadline: None,
            echo_next_tx: None,
            echo_deadline: None,
            echo_sequence: 0,
            echo_rtt: None,
            last_state_change: None,
            last_down: None,
            counters: Counters::default(),
            outputs: VecDeque::new(),
            fast_path: None,
            auth: None,
        };
        session.advertised = session.wanted_advertised();
        session.tx_in_use = session.advertised.desired_min_tx;
        session.rx_in_use = session.advertised.required_min_rx;
        if let Some((auth, wall)) = auth {
            auth.validate()?;
            let xmit_seq = session.rng.next_u32();
            session.auth = Some(AuthState::new(auth, now, wall, xmit_seq));
        }
        session.settle(now);
        Ok(session)
    }

    /// A session taken over from an earlier process of this system: the
    /// same session, with the state the earlier process left behind
    /// ([`Session::restorable`]), not a new one.
    ///
    /// RFC 5880 §6.8.1 initialises the state variables of a *new* session
    /// (bfd.SessionState Down, bfd.RemoteDiscr zero ...). Here the session
    /// never ended: the peer still runs it against our discriminator, our
    /// packets stopped only for as long as no process sent them, and (with
    /// the fast path) the kernel kept receiving and timing the peer's. So the
    /// variables the peer knows of are restored as they were: our state,
    /// diagnostic, discriminators, and the parameters we advertised, which
    /// are in effect at both ends (§6.8.3: a change needs a Poll Sequence, so
    /// the restored values are taken as in use, and `config`, if it differs,
    /// is announced with a new Poll Sequence). The peer's variables come from
    /// the last packet accepted from it (§6.8.6's updates, replayed).
    ///
    /// What is not known is when the peer's last packet arrived. A session
    /// timed here (Detection::Local) starts a full Detection Time from `now`
    /// (§6.8.4 would otherwise have no start); a kernel-timed one keeps the
    /// kernel's timer, which never stopped. The first packet goes out at
    /// `now` (§6.8.7 allows no wait: the peer's Detection Time for us has
    /// been running since the earlier process's last packet), unless
    /// `restored.last_tx` says when that was: then it goes out one
    /// (jittered, §6.8.7) interval after it, as if no process had changed.
    pub fn restore(
        config: SessionConfig,
        restored: &Restored,
        seed: u64,
        now: Time,
    ) -> Result<Session, SessionError> {
        let mut session = Session::new(restored.local_discr, config, seed, now)?;
        // `new` queued a Down session's first packet and view: forget them.
        session.outputs.clear();
        session.counters = Counters::default();
        session.last_tx = restored.last_tx.filter(|&at| at <= now);
        session.next_tx = None;
        session.scheduled_interval = None;
        session.fast_path = None;
        session.detect_deadline = None;
        session.state = restored.state;
        session.local_diag = restored.local_diag;
        session.advertised = Advertised {
            desired_min_tx: restored.desired_min_tx,
            required_min_rx: restored.required_min_rx,
            required_min_echo_rx: restored.required_min_echo_rx,
            detect_mult: restored.detect_mult,
        };
        session.tx_in_use = restored.desired_min_tx;
        session.rx_in_use = restored.required_min_rx;
        if let Some(packet) = restored.last_received.filter(|p| p.my_discriminator != 0) {
            session.remote_discr = packet.my_discriminator;
            session.remote_state = packet.state;
            session.remote_demand = packet.demand;
            session.remote_min_rx = Duration::from_micros(packet.required_min_rx.into());
            session.remote_desired_min_tx = Duration::from_micros(packet.desired_min_tx.into());
            session.remote_min_echo_rx = Duration::from_micros(packet.required_min_echo_rx.into());
            session.remote_detect_mult = packet.detect_mult;
            session.remote_diag = packet.diagnostic;
            session.remote_cpi = packet.control_plane_independent;
            session.last_received = Some(ControlRepr { poll: false, final_: false, auth: None, ..packet });
        }
        if session.state == State::AdminDown {
            // §6.8.16: the goodbye was said (or is the earlier process's to
            // say); an AdminDown session sends nothing more until enabled.
            session.admin_down_tx = None;
        }
        if matches!(session.state, State::Init | State::Up) && session.config.detection == Detection::Local {
            session.detect_deadline = session.detection_time().map(|time| now + time);
        }
        session.last_state_change = Some(now);
        session.settle(now);
        Ok(session)
    }

    /// When this session last sent a control packet, if it has.
    pub fn last_tx(&self) -> Option<Time> {
        self.last_tx
    }

    /// When this system last sent one of the session's packets, learnt
    /// after [`restore`](Self::restore): a process that restores many
    /// sessions first restores each with `restored.last_tx` at the time of
    /// its restore (nothing is due for most of an interval), and only then
    /// stops the other sender that may still be sending for them (the
    /// kernel, answering while no process ran) and reads when that sent
    /// last. The next periodic packet is then drawn from `last_tx` as
    /// `restore` draws it: one jittered interval after it (§6.8.7), at once
    /// if that is past, at once if `last_tx` is `None` (the peer's
    /// Detection Time for us has been running since then). A session whose
    /// own packet has left since the restore keeps its schedule.
    pub fn resume_from(&mut self, last_tx: Option<Time>, now: Time) {
        if self.counters.control_tx > 0 {
            return;
        }
        self.last_tx = last_tx.filter(|&at| at <= now);
        self.next_tx = None;
        self.scheduled_interval = None;
        self.settle(now);
    }

    /// What [`Session::restore`] needs to take this session over in another
    /// process. Changes only with the state, the advertised parameters or
    /// the peer's packet contents, never per packet: the agent stores it
    /// when the fast-path view or the state changes, or when it differs
    /// from what it stored last.
    pub fn restorable(&self) -> Restored {
        Restored {
            local_discr: self.local_discr,
            state: self.state,
            local_diag: self.local_diag,
            desired_min_tx: self.advertised.desired_min_tx,
            required_min_rx: self.advertised.required_min_rx,
            required_min_echo_rx: self.advertised.required_min_echo_rx,
            detect_mult: self.advertised.detect_mult,
            last_received: self.last_received,
            // Changes with every packet, so not part of what is stored: a
            // process handing over says it apart ([`Session::last_tx`]).
            last_tx: None,
        }
    }

    /// The packet this session sends in its steady state (no Poll, no
    /// Final): what a keepalive would repeat on its behalf.
    pub fn steady_state_packet(&self) -> ControlRepr {
        ControlRepr { poll: false, ..self.control_packet(false) }
    }

    // ----- Inputs -------------------------------------------------------

    /// A control packet for this session, parsed and validated by
    /// [`ControlRepr::parse`] (the wire checks of §6.8.6) and demultiplexed
    /// to it (§6.3), received at `now`. Runs the rest of §6.8.6.
    ///
    /// The packet is verified as the bytes [`ControlRepr::emit`] writes
    /// for it: exact for every unauthenticated packet, and for
    /// authenticated ones that were emitted that way (ours, the
    /// simulator's). Packets off the wire go through
    /// [`on_packet`](Self::on_packet), which verifies their own bytes
    /// (a peer may set bits the parsed form drops, such as the Reserved
    /// byte of a keyed section, and the digest covers them).
    pub fn on_control(&mut self, now: Time, packet: &ControlRepr) -> Result<(), Discard> {
        let mut bytes = [0u8; MAX_PACKET_LEN];
        let len = packet.buffer_len().min(MAX_PACKET_LEN);
        packet.emit(&mut ControlPacket::new_unchecked(&mut bytes[..len]));
        match ReceivedControl::parse(&bytes[..len]) {
            Ok(received) => self.on_packet(now, &received),
            // Only a hand-made repr that breaks a wire rule gets here.
            Err(_) => {
                self.counters.control_discarded += 1;
                self.settle(now);
                Err(Discard::Malformed)
            }
        }
    }

    /// A control packet for this session as received: parsed with its
    /// bytes by [`ReceivedControl::parse`] (the wire checks of §6.8.6) and
    /// demultiplexed to it (§6.3), received at `now`. Runs the rest of
    /// §6.8.6, authentication (§6.7) included.
    pub fn on_packet(&mut self, now: Time, packet: &ReceivedControl<'_>) -> Result<(), Discard> {
        let answering = self.answering();
        let result = self.receive(now, packet);
        self.answer_received = answering && result.is_ok();
        if let Err(discard) = result {
            self.counters.control_discarded += 1;
            match discard {
                Discard::AuthenticationNotInUse => self.counters.auth.count(AuthFailure::Unexpected),
                Discard::Authentication(reason) => self.counters.auth.count(reason),
                _ => {}
            }
        }
        self.settle(now);
        result
    }

    fn receive(&mut self, now: Time, received: &ReceivedControl<'_>) -> Result<(), Discard> {
        let packet = received.repr();
        if packet.your_discriminator != 0 && packet.your_discriminator != self.local_discr {
            return Err(Discard::WrongDiscriminator);
        }
        // While the session is Up and the kernel times it, the peer's
        // packets are being received even when none reaches this core: the
        // kernel absorbs the ones byte-identical to the last one verified
        // here, and would have declared a detection after a Detection Time
        // without any. §6.8.1's "no packets have been received on this
        // session for at least twice the Detection Time" then cannot hold,
        // so bfd.AuthSeqKnown stays 1 (else an old packet, replayed during
        // a steady stretch, would be taken as a new sequence number).
        let kernel_receiving = self.state == State::Up && self.control_detection() == Detection::Kernel;
        match &mut self.auth {
            // "If the A bit is set and no authentication is in use
            // (bfd.AuthType is zero), the packet MUST be discarded."
            None if packet.auth.is_some() => return Err(Discard::AuthenticationNotInUse),
            None => {}
            // "If the A bit is clear and authentication is in use
            // (bfd.AuthType is nonzero), the packet MUST be discarded.
            // If the A bit is set, the packet MUST be authenticated under
            // the rules of section 6.7, based on the authentication type in
            // use (bfd.AuthType). This may cause the packet to be
            // discarded."
            Some(auth) => {
                // The Detection Time this packet implies (§6.8.4), for
                // bfd.AuthSeqKnown's expiry after twice of it.
                let detection_time = self.rx_in_use.max(Duration::from_micros(packet.desired_min_tx.into()))
                    * u32::from(packet.detect_mult);
                auth.verify(now, received, detection_time, kernel_receiving)
                    .map_err(Discard::Authentication)?;
            }
        }
        // "If bfd.SessionState is AdminDown: Discard the packet". The RFC
        // lists this after the variable updates below; since the packet is
        // discarded either way, we leave the variables alone so that what
        // `show` reports stays what we last accepted.
        let transition = transition(self.state, packet.state);
        if transition == Transition::Discard {
            return Err(Discard::AdminDown);
        }
        // "Set bfd.RemoteDiscr to the value of My Discriminator.
        //  Set bfd.RemoteState to the value of the State (Sta) field.
        //  Set bfd.RemoteDemandMode to the value of the Demand (D) bit.
        //  Set bfd.RemoteMinRxInterval to the value of Required Min RX
        //  Interval."
        self.remote_discr = packet.my_discriminator;
        self.remote_state = packet.state;
        self.remote_demand = packet.demand;
        self.remote_min_rx = Duration::from_micros(packet.required_min_rx.into());
        self.remote_desired_min_tx = Duration::from_micros(packet.desired_min_tx.into());
        // "If the Required Min Echo RX Interval field is zero, the
        // transmission of Echo packets, if any, MUST cease." (settle)
        self.remote_min_echo_rx = Duration::from_micros(packet.required_min_echo_rx.into());
        self.remote_detect_mult = packet.detect_mult;
        self.remote_diag = packet.diagnostic;
        self.remote_cpi = packet.control_plane_independent;
        // "If a Poll Sequence is being transmitted by the local system and
        // the Final (F) bit in the received packet is set, the Poll
        // Sequence MUST be terminated."
        if packet.final_ {
            self.end_poll(now);
        }
        // "Update the transmit interval as described in section 6.8.2."
        // (settle reschedules when the interval changed)
        if let Transition::To(state, diagnostic, cause) = transition {
            self.set_state(now, state, diagnostic, cause);
        }
        // "Check to see if Demand mode should become active or not" and
        // cease or resume periodic transmission: settle, from
        // `remote_demand_active`.
        //
        // "If the Poll (P) bit is set, send a BFD Control packet to the
        // remote system with the Poll (P) bit clear, and the Final (F) bit
        // set."
        if packet.poll {
            self.send_final = true;
        }
        // "If the packet was not discarded, it has been received for
        // purposes of the Detection Time expiration rules in section 6.8.4."
        self.last_rx = Some(now);
        self.counters.control_rx += 1;
        self.last_received = Some(ControlRepr { poll: false, final_: false, ..*packet });
        // "Update the Detection Time as described in section 6.8.4."
        self.detect_deadline = match self.control_detection() {
            Detection::Local => self.detection_time().map(|time| now + time),
            Detection::Kernel => None,
        };
        Ok(())
    }

    /// The caller's timer reached [`next_deadline`](Self::next_deadline)
    /// (or any later time): declares detections and sends what is due.
    pub fn on_timer(&mut self, now: Time) {
        if self.detect_deadline.is_some_and(|deadline| deadline <= now) {
            self.detection_expired(now);
        }
        if self.echo_deadline.is_some_and(|deadline| deadline <= now) {
            self.echo_failed(now);
        }
        if self.echo_active() && self.echo_next_tx.is_some_and(|due| due <= now) {
            self.send_echo(now);
        }
        self.settle(now);
    }

    /// The XDP program's detection timer fired at `fired_at` (its
    /// `bpf_ktime_get_ns`) and the event reached us at `now`: no valid
    /// packet for a Detection Time. Ignored if this session has accepted a
    /// packet received after `fired_at` (the event is stale: the peer is
    /// back) or has nothing to detect. Returns whether it was acted upon.
    ///
    /// Why `fired_at` rather than the kernel's last-receive stamp: the
    /// session's own receive times are taken later than the kernel's
    /// stamps of the same packets, so only a packet that arrived after the
    /// timer fired proves the event stale.
    pub fn on_kernel_timeout(&mut self, now: Time, fired_at: Time) -> bool {
        let stale = self.last_rx.is_some_and(|ours| ours > fired_at);
        let acted = !stale && self.remote_discr != 0 && self.state != State::AdminDown;
        if acted {
            // The kernel's last packet came a Detection Time before
            // `fired_at`: bfd.AuthSeqKnown goes to 0 twice that after it
            // (§6.8.1), i.e. a Detection Time after `fired_at`.
            let detection_time = self.detection_time();
            if let (Some(auth), Some(time)) = (&mut self.auth, detection_time) {
                auth.packets_received_until(fired_at, time);
            }
            self.detection_expired(now);
        }
        self.settle(now);
        acted
    }

    /// The kernel, answering for us, left a peer packet unanswered at
    /// `now`: it came sooner than 75% of our interval after the kernel's
    /// last answer, and §6.8.7's floor holds for every packet we send
    /// (issue 19). Without this the peer's next packet would be our next,
    /// an interval of ours up to about twice the negotiated one (a peer
    /// that jitters below 75%, as BIRD 2.20 does at times). We send the
    /// steady-state packet ourselves at `floor_ends`, the end of the
    /// kernel's floor, unless we stop answering first; the caller then
    /// tells the kernel when we sent, so that it paces its next answer
    /// from ours. An owed answer past half an interval after `floor_ends`
    /// is dropped: by then the peer's next packet may have been answered.
    ///
    /// So is one for a packet that `arrived` within a quarter of an
    /// interval of our last packet (the floor's start): a peer that
    /// originates sends its next packet 75% of an interval or more after
    /// the one we answered, so this one answers ours. That is the peer's
    /// kernel, answering for an agent that is away (its lease expired,
    /// issue 17); answering it would start a ping-pong of the two kernels
    /// at 75% of the interval with no jitter at all, which would keep the
    /// session Up without either agent originating. Left unanswered, the
    /// peer falls silent, and our kernel reports it
    /// ([`Session::on_originator_silent`]). At a handover that falls just
    /// after our last packet, the peer's next packet is answered instead:
    /// at most an interval and a quarter after ours.
    pub fn on_answer_owed(&mut self, now: Time, arrived: Time, floor_ends: Time) {
        let interval = self.tx_interval();
        // `arrived` less the floor's start (`floor_ends` less the floor).
        let answers_ours = arrived + jitter_floor(interval) < floor_ends + interval / 4;
        if self.answering() && !answers_ours && now.saturating_since(floor_ends) < interval / 2 {
            self.answer_due = Some(floor_ends.max(now));
        }
        self.settle(now);
    }

    /// The kernel, answering for us, heard nothing from the peer for
    /// two-thirds of the Detection Time (issue 19). Between two answering
    /// ends the peer originates (its discriminator is the smaller), and
    /// the peer's agent may be away: restarting, its kernel answers our
    /// packets but sends none of its own, so neither end would send and
    /// both would detect the silence. We originate at once and for
    /// [`TAKEOVER_HOLD`] (or [`TAKEOVER_DETECTION_TIMES`] Detection Times
    /// if longer), §6.8.7's periodic transmission as if we had never
    /// handed it over; then the kernel answers again, and if the peer is
    /// still silent this repeats. A peer whose packets only came late
    /// costs nothing but our packets for that while. Ignored unless we are
    /// answering. Returns whether it was acted upon.
    pub fn on_originator_silent(&mut self, now: Time) -> bool {
        let acted = self.answering();
        if acted {
            let hold = self
                .detection_time()
                .map_or(TAKEOVER_HOLD, |time| TAKEOVER_HOLD.max(time * TAKEOVER_DETECTION_TIMES));
            self.originate_until = Some(now + hold);
            self.counters.takeovers += 1;
        }
        self.settle(now);
        acted
    }

    /// One of our echo packets came back at `now` (pure userspace
    /// operation; with the fast path the kernel times echo itself).
    pub fn on_echo_return(&mut self, now: Time, echo: &EchoRepr) {
        if echo.discriminator == self.local_discr && self.echo_active() {
            self.counters.echo_rx += 1;
            self.echo_rtt = Some(now.saturating_since(Time::from_nanos(echo.tx_time_ns)));
            if self.config.detection == Detection::Local {
                self.echo_deadline = self.echo_detection_time().map(|time| now + time);
            }
        }
        self.settle(now);
    }

    /// The XDP program's echo timer fired: our echo packets stopped coming
    /// back (§6.8.5). Returns whether it was acted upon.
    pub fn on_echo_timeout(&mut self, now: Time) -> bool {
        let acted = self.echo_active();
        if acted {
            self.echo_failed(now);
        }
        self.settle(now);
        acted
    }

    /// Applies a new configuration. Changed intervals, multiplier or echo
    /// interval are announced with a Poll Sequence while Up (§6.8.3); an
    /// invalid configuration changes nothing.
    pub fn configure(&mut self, now: Time, config: SessionConfig) -> Result<(), ConfigError> {
        config.validate()?;
        let control_detection = self.control_detection();
        if config.detection != self.config.detection {
            self.echo_deadline = None;
        }
        self.config = config;
        if self.control_detection() != control_detection {
            self.detect_deadline = None;
            if self.control_detection() == Detection::Local {
                self.start_local_detection(now);
            }
        }
        self.settle(now);
        Ok(())
    }

    /// §6.8.16, disabling: "Set bfd.SessionState to AdminDown; Set
    /// bfd.LocalDiag to an appropriate value; Cease the transmission of BFD
    /// Echo packets." `diagnostic` is normally
    /// [`Diagnostic::AdministrativelyDown`], or
    /// [`Diagnostic::PathDown`] when outside signalling says the path
    /// failed. AdminDown packets keep going out at the current rate for the
    /// peer's Detection Time ("SHOULD be transmitted for at least a
    /// Detection Time"), then stop.
    pub fn admin_down(&mut self, now: Time, diagnostic: Diagnostic) {
        if self.state != State::AdminDown {
            let interval = self.tx_interval();
            let peer_detection = interval * u32::from(self.advertised.detect_mult);
            self.admin_down_tx = Some(AdminDownTx { until: now + peer_detection, interval });
            self.set_state(now, State::AdminDown, diagnostic, Cause::AdminDown);
        }
        self.settle(now);
    }

    /// §6.8.16, enabling: "Set bfd.SessionState to Down". The diagnostic
    /// stays until the session comes Up.
    pub fn admin_up(&mut self, now: Time) {
        if self.state == State::AdminDown {
            self.admin_down_tx = None;
            self.set_state(now, State::Down, self.local_diag, Cause::AdminUp);
        }
        self.settle(now);
    }

    /// Starts a Poll Sequence (§6.5) to verify connectivity, as a system in
    /// Demand mode does (§6.6); with Demand mode active, no Final within a
    /// Detection Time takes the session down.
    pub fn poll(&mut self, now: Time) {
        if self.state == State::Up {
            self.start_poll(now);
        }
        self.settle(now);
    }

    // ----- Outputs and queries -----------------------------------------

    /// The outputs queued by the inputs so far, oldest first.
    pub fn drain_outputs(&mut self) -> impl Iterator<Item = Output> + '_ {
        self.outputs.drain(..)
    }

    /// When [`on_timer`](Self::on_timer) must next be called, if ever.
    pub fn next_deadline(&self) -> Option<Time> {
        [self.next_tx, self.answer_due, self.detect_deadline, self.echo_next_tx, self.echo_deadline]
            .into_iter()
            .flatten()
            .min()
    }

    /// From when [`on_timer`](Self::on_timer) does the work due at
    /// [`next_deadline`](Self::next_deadline): a periodic transmission may
    /// go a little early (see [`TX_SLACK`]), so that a caller woken for
    /// another session serves this one too and transmissions due close
    /// together share one wake-up. Detections are never early.
    pub fn earliest_deadline(&self) -> Option<Time> {
        [self.earliest_tx(), self.answer_due, self.detect_deadline, self.echo_next_tx, self.echo_deadline]
            .into_iter()
            .flatten()
            .min()
    }

    /// The periodic transmission's window opens [`TX_SLACK`] before it is
    /// due, or up to the caller's wake slack
    /// ([`set_wake_slack`](Self::set_wake_slack)), but never less than 75%
    /// of the interval after the last transmission (80% where the peer's
    /// kernel may answer: see [`jittered`](Self::jittered)): §6.8.7's
    /// jitter floor holds for every interval sent.
    fn earliest_tx(&self) -> Option<Time> {
        let due = self.next_tx?;
        let interval = self.scheduled_interval?;
        let always = (interval / TX_SLACK_FRACTION).min(TX_SLACK);
        let widened = self.wake_slack.min(WAKE_SLACK_MAX).min(interval / WAKE_SLACK_FRACTION);
        let slack = always.max(widened);
        let early =
            Time::from_nanos(due.as_nanos().saturating_sub(u64::try_from(slack.as_nanos()).unwrap_or(0)));
        let floor = self.last_tx.map_or(early, |last| last + interval * self.jitter_floor_ppm() / 1_000_000);
        Some(early.max(floor).min(due))
    }

    /// How early, at most, a periodic transmission may go so that the
    /// caller's wake-ups serve several sessions at once: the caller knows
    /// how many packets it sends a millisecond, the session does not. It
    /// is bounded by [`WAKE_SLACK_MAX`] and 1/[`WAKE_SLACK_FRACTION`] of
    /// the interval, never narrows [`TX_SLACK`]'s window, and never takes
    /// an interval below the jitter floor (§6.8.7). Going early shortens
    /// the mean interval by up to half the slack, so a caller that wakes
    /// often anyway has no reason to widen it. Takes effect from the next
    /// scheduling decision.
    pub fn set_wake_slack(&mut self, slack: Duration) {
        self.wake_slack = slack;
    }

    /// `bfd.SessionState`.
    pub fn state(&self) -> State {
        self.state
    }

    /// `bfd.LocalDiscr`.
    pub fn local_discr(&self) -> u32 {
        self.local_discr
    }

    /// `bfd.RemoteDiscr`.
    pub fn remote_discr(&self) -> u32 {
        self.remote_discr
    }

    /// The configuration in effect.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The current fast-path view (the last one emitted).
    pub fn fast_path(&self) -> FastPathView {
        self.fast_path.unwrap_or_else(|| self.compute_view(self.answering()))
    }

    /// A snapshot for the operator.
    pub fn status(&self) -> SessionStatus {
        SessionStatus {
            state: self.state,
            remote_state: self.remote_state,
            local_discr: self.local_discr,
            remote_discr: self.remote_discr,
            local_diag: self.local_diag,
            remote_diag: self.remote_diag,
            last_down: self.last_down,
            last_state_change: self.last_state_change,
            last_rx: self.last_rx,
            desired_min_tx: self.advertised.desired_min_tx,
            required_min_rx: self.advertised.required_min_rx,
            required_min_echo_rx: self.advertised.required_min_echo_rx,
            detect_mult: self.advertised.detect_mult,
            remote_desired_min_tx: self.remote_desired_min_tx,
            remote_min_rx: self.remote_min_rx,
            remote_min_echo_rx: self.remote_min_echo_rx,
            remote_detect_mult: self.remote_detect_mult,
            remote_demand: self.remote_demand,
            remote_control_plane_independent: self.remote_cpi,
            tx_interval: self.scheduled_interval,
            detection_time: self.detection_time(),
            echo_tx_interval: self.echo_active().then(|| self.echo_tx_interval()),
            echo_detection_time: self.echo_detection_time(),
            echo_rtt: self.echo_rtt,
            polling: matches!(self.poll, Poll::Active { .. }),
            counters: self.counters,
            auth: self.auth.as_ref().map(AuthState::status),
        }
    }

    /// Sets, changes or (`None`) removes the session's authentication
    /// (§6.7), at monotonic `now`, which is `wall` on the wall clock (for
    /// the keys' lifetimes). A change of keys or lifetimes keeps the
    /// sequence state, so a rotation is seamless; a change of type starts
    /// it afresh (the peer must change type too, which RFC 5880 leaves to
    /// the operator). An invalid configuration changes nothing.
    ///
    /// With a meticulous type the core times the session itself (the
    /// fast-path view asks the kernel for no detection timer and absorbs
    /// nothing): every packet differs, the XDP program cannot verify a
    /// digest, and an unverified packet must never re-arm a detection
    /// timer. The other types keep the configured detection: the kernel
    /// absorbs (and is re-armed by) only packets byte-identical to one
    /// verified here (see [`control_detection`](Self::control_detection)).
    pub fn set_authentication(
        &mut self,
        now: Time,
        wall: WallTime,
        auth: Option<AuthConfig>,
    ) -> Result<(), AuthConfigError> {
        match (auth, &mut self.auth) {
            (Some(config), Some(state)) => {
                config.validate()?;
                state.reconfigure(config, now, wall);
            }
            (Some(config), None) => {
                config.validate()?;
                let xmit_seq = self.rng.next_u32();
                self.auth = Some(AuthState::new(config, now, wall, xmit_seq));
            }
            (None, _) => {
                self.auth = None;
            }
        }
        // The type decides who times the session (a meticulous one: here).
        match self.control_detection() {
            Detection::Local => self.start_local_detection(now),
            Detection::Kernel => self.detect_deadline = None,
        }
        self.settle(now);
        Ok(())
    }

    /// Tells the session the wall-clock time at monotonic `now`, for key
    /// lifetimes. The session follows its monotonic input times from there;
    /// call this again after the wall clock was stepped (once a minute is
    /// plenty otherwise).
    pub fn set_wall_clock(&mut self, now: Time, wall: WallTime) {
        if let Some(auth) = &mut self.auth {
            auth.set_wall_clock(now, wall);
        }
    }

    /// The authentication configuration in effect.
    pub fn auth_config(&self) -> Option<&AuthConfig> {
        self.auth.as_ref().map(|auth| &auth.config)
    }

    // ----- The one place for side effects ------------------------------

    /// Brings everything derived from the state up to date at `now`:
    /// advertised parameters and Poll Sequences (§6.8.3), echo (§6.8.8),
    /// the transmit schedule (§6.8.7), due transmissions, and the
    /// fast-path view.
    fn settle(&mut self, now: Time) {
        if self.state != State::Up {
            self.originate_until = None;
        }
        // A takeover's hold ends with a periodic packet of ours (below).
        let hold_over = self.originate_until.is_some_and(|until| until <= now);
        self.update_advertised(now);
        self.update_echo(now);
        // Nothing below changes what answering depends on (transmitting
        // changes neither state nor Poll nor timers), but the end of a
        // takeover's hold.
        let mut answering = self.answering();

        let may_transmit = self.may_transmit();
        if self.send_final && may_transmit {
            // §6.8.7: "as soon as practicable, without respect to the
            // transmission timer or any other transmission limitations".
            self.transmit(now, true);
            if self.send_now {
                // The Final also carries the news; restart the schedule.
                self.restart_schedule(now, answering);
            }
        } else if self.send_now && may_transmit {
            // State changes and new Poll Sequences go out at once rather
            // than up to an interval later: the handshake completes in
            // round trips, not in seconds. This is one extra packet per
            // event, never a rate. (It also settles an answer owed.)
            self.transmit(now, false);
            self.restart_schedule(now, answering);
            self.answer_due = None;
        } else if self.answer_received && answering && may_transmit {
            // The kernel passed the packet up instead of answering it: we
            // answer, at once unless that is sooner than §6.8.7's floor
            // after our last packet (then when the floor ends).
            match self.last_tx.map(|last| last + jitter_floor(self.tx_interval())) {
                Some(floor_ends) if floor_ends > now => self.answer_due = Some(floor_ends),
                _ => {
                    self.transmit(now, false);
                    self.restart_schedule(now, answering);
                    self.answer_due = None;
                }
            }
        }
        self.send_final = false;
        self.send_now = false;
        self.answer_received = false;
        if !answering {
            self.answer_due = None;
        } else if self.answer_due.is_some_and(|due| due <= now) && may_transmit {
            // The answer the kernel could not send (`on_answer_owed`).
            self.transmit(now, false);
            self.answer_due = None;
        }

        if self.periodic_allowed(now) && !answering {
            let interval = self.tx_interval();
            if self.next_tx.is_none() || self.scheduled_interval != Some(interval) {
                // The interval changed (§6.8.7: "The transmit interval MUST
                // be recalculated whenever bfd.DesiredMinTxInterval changes,
                // or whenever bfd.RemoteMinRxInterval changes"): draw the
                // next transmission from the last one.
                let next = self.last_tx.map_or(now, |last| last + self.jittered(interval));
                self.next_tx = Some(next.max(now));
                self.scheduled_interval = Some(interval);
            }
            if self.earliest_tx().is_some_and(|early| early <= now) {
                self.transmit(now, false);
                if hold_over {
                    // The takeover's last packet: the peer's kernel answers
                    // it (or the peer's agent, back, has sent meanwhile),
                    // and the answer is timed by our kernel as answering
                    // again (the caller writes the view before the packet
                    // leaves), so a peer still silent is reported again
                    // two-thirds of a Detection Time after it. Handing back
                    // at any other moment would leave our kernel timing a
                    // silence it will not report.
                    self.originate_until = None;
                    answering = self.answering();
                }
                self.restart_schedule(now, answering);
            }
        } else {
            self.next_tx = None;
            self.scheduled_interval = None;
        }

        let view = self.compute_view(answering);
        if self.fast_path != Some(view) {
            self.fast_path = Some(view);
            self.outputs.push_back(Output::FastPath(view));
        }
    }

    /// Changes `bfd.SessionState`; the consequences happen in `settle`.
    fn set_state(&mut self, now: Time, to: State, diagnostic: Diagnostic, cause: Cause) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        // The Diagnostic is "the local system's reason for the last change
        // in session state": a session coming Up has none, the others keep
        // theirs through Init so the peer learns why we went down.
        self.local_diag = match (to, cause) {
            (State::Up, _) => Diagnostic::NoDiagnostic,
            (_, Cause::Handshake | Cause::AdminUp) => self.local_diag,
            _ => diagnostic,
        };
        self.last_state_change = Some(now);
        if to == State::Up {
            self.counters.up += 1;
        }
        if from == State::Up {
            self.counters.down += 1;
            self.last_down = Some((now, self.local_diag));
        }
        if to != State::Up {
            // A Poll Sequence announces Up-state timers; leaving Up ends it
            // (the not-Up values apply at once, see update_advertised).
            self.poll = Poll::Idle;
        }
        if to != State::Init && to != State::Up {
            self.detect_deadline = match self.control_detection() {
                // Keep timing the peer's silence while Down: bfd.RemoteDiscr
                // must still be cleared after a Detection Time (§6.8.1).
                Detection::Local if to == State::Down => self.detect_deadline,
                _ => None,
            };
        }
        self.send_now = true;
        let diagnostic = self.local_diag;
        self.outputs.push_back(Output::StateChange(StateChange { at: now, from, to, diagnostic, cause }));
    }

    /// §6.8.4: a Detection Time passed without a valid packet.
    fn detection_expired(&mut self, now: Time) {
        self.detect_deadline = None;
        // §6.8.1, bfd.RemoteDiscr: "If a period of a Detection Time passes
        // without the receipt of a valid, authenticated BFD packet from the
        // remote system, this variable MUST be set to zero."
        self.remote_discr = 0;
        self.remote_state = State::Down;
        self.remote_demand = false;
        self.last_received = None;
        // "... and bfd.SessionState is Init or Up, the session has gone down
        // -- the local system MUST set bfd.SessionState to Down and
        // bfd.LocalDiag to 1 (Control Detection Time Expired)."
        if matches!(self.state, State::Init | State::Up) {
            self.set_state(
                now,
                State::Down,
                Diagnostic::ControlDetectionTimeExpired,
                Cause::DetectionTimeExpired,
            );
        }
    }

    /// §6.8.5: "the local system MUST set bfd.SessionState to Down,
    /// bfd.LocalDiag to 2 (Echo Function Failed)".
    fn echo_failed(&mut self, now: Time) {
        self.echo_deadline = None;
        self.set_state(now, State::Down, Diagnostic::EchoFunctionFailed, Cause::EchoFailed);
    }

    /// Who times the control Detection Time: the configuration's choice,
    /// except that a session with a meticulous type (§6.7.3, §6.7.4) is
    /// always timed here.
    ///
    /// Why (issue 18): the kernel cannot check a digest. It absorbs, stamps
    /// and re-arms its timer on an authenticated packet only when the
    /// packet is byte-identical to the template, the last packet this core
    /// verified; every other authenticated packet comes up unstamped, and
    /// this core reports the time of each one it verifies
    /// ([`FastPathView::verified_rx`]), which the kernel's timer counts
    /// from as well. Simple password: every packet is the same bytes, so
    /// the steady state is absorbed. Keyed MD5 / SHA1: absorbed while the
    /// peer keeps its sequence number (BIRD moves it on about once a
    /// second); a peer that moves it per packet is verified here packet by
    /// packet, still timed by the kernel. Meticulous types change every
    /// packet: nothing to absorb, and a map write per packet to keep the
    /// kernel's timer fed would only cost; this core times them.
    pub fn control_detection(&self) -> Detection {
        match &self.auth {
            Some(auth) if auth.config.meticulous() => Detection::Local,
            _ => self.config.detection,
        }
    }

    /// Detection moves from the kernel to the core: time the peer from now,
    /// as if a packet had just been accepted, so that a session that is Up
    /// keeps being timed.
    fn start_local_detection(&mut self, now: Time) {
        if self.detect_deadline.is_none() {
            self.detect_deadline = self.detection_time().map(|time| now + time);
        }
    }

    /// The parameters to advertise now.
    fn wanted_advertised(&self) -> Advertised {
        let desired_min_tx = if self.state == State::Up {
            self.config.desired_min_tx
        } else {
            self.config.desired_min_tx.max(SLOW_TX_INTERVAL)
        };
        Advertised {
            desired_min_tx,
            required_min_rx: self.config.required_min_rx,
            // RFC 5883: no Echo function on multihop sessions.
            required_min_echo_rx: if self.config.multihop {
                Duration::ZERO
            } else {
                self.config.echo.required_min_rx
            },
            detect_mult: self.config.detect_mult,
        }
    }

    /// §6.8.3 and §6.5: follows the advertised parameters, announcing a
    /// change with a Poll Sequence.
    fn update_advertised(&mut self, now: Time) {
        let wanted = self.wanted_advertised();
        if wanted == self.advertised {
            return;
        }
        self.advertised = wanted;
        if self.state == State::Up {
            // "If bfd.DesiredMinTxInterval is increased and
            // bfd.SessionState is Up, the actual transmission interval used
            // MUST NOT change until the Poll Sequence described above has
            // terminated." A decrease is safe at once.
            self.tx_in_use = self.tx_in_use.min(wanted.desired_min_tx);
            // "If bfd.RequiredMinRxInterval is reduced and bfd.SessionState
            // is Up, the previous value of bfd.RequiredMinRxInterval MUST be
            // used when calculating the Detection Time for the remote system
            // until the Poll Sequence described above has terminated." An
            // increase only lengthens the Detection Time: at once.
            self.rx_in_use = self.rx_in_use.max(wanted.required_min_rx);
            // "If bfd.DesiredMinTxInterval is changed or
            // bfd.RequiredMinRxInterval is changed, a Poll Sequence MUST be
            // initiated". We poll for any advertised change, so the peer
            // acknowledges its new multiplier and echo interval too.
            self.start_poll(now);
        } else {
            // Not Up: the peer runs no Detection Time on our packets that
            // the change could break, so it applies at once and needs no
            // Poll (the peer reads the new values from the next packet).
            self.tx_in_use = wanted.desired_min_tx;
            self.rx_in_use = wanted.required_min_rx;
        }
    }

    /// §6.5: begins a Poll Sequence announcing the current parameters. One
    /// already under way is left to finish: its Final then starts another
    /// for what changed since (a Final may answer a Poll sent before the
    /// change).
    fn start_poll(&mut self, now: Time) {
        if self.poll != Poll::Idle {
            return;
        }
        self.poll = Poll::Active { since: now, announces: self.advertised };
        self.send_now = true;
        if self.local_demand_active() {
            // §6.8.4: "If Demand mode is active, and a period of time equal
            // to the Detection Time passes after the initiation of a Poll
            // Sequence ... the session has gone down".
            let time = self.tx_interval() * u32::from(self.advertised.detect_mult);
            self.detect_deadline = Some(now + time);
        }
    }

    /// A Final arrived: the Poll Sequence ends and the parameters it
    /// announced take full effect.
    fn end_poll(&mut self, now: Time) {
        let Poll::Active { announces, .. } = self.poll else {
            return;
        };
        self.poll = Poll::Idle;
        self.tx_in_use = announces.desired_min_tx;
        self.rx_in_use = announces.required_min_rx;
        if self.local_demand_active() {
            self.detect_deadline = None;
        }
        if announces != self.advertised && self.state == State::Up {
            // Changed during the Poll: safe parts now, the rest after the
            // next Final.
            self.tx_in_use = self.tx_in_use.min(self.advertised.desired_min_tx);
            self.rx_in_use = self.rx_in_use.max(self.advertised.required_min_rx);
            self.start_poll(now);
        }
    }

    /// §6.8.8 and §6.4: starts or stops our echo packets.
    fn update_echo(&mut self, now: Time) {
        if self.echo_active() {
            if self.echo_next_tx.is_none() {
                self.echo_next_tx = Some(now);
                if self.config.detection == Detection::Local {
                    self.echo_deadline = self.echo_detection_time().map(|time| now + time);
                }
            }
        } else {
            self.echo_next_tx = None;
            self.echo_deadline = None;
        }
    }

    fn send_echo(&mut self, now: Time) {
        self.echo_sequence = self.echo_sequence.wrapping_add(1);
        self.counters.echo_tx += 1;
        self.outputs.push_back(Output::TransmitEcho(EchoRepr {
            discriminator: self.local_discr,
            sequence: self.echo_sequence,
            tx_time_ns: now.as_nanos(),
        }));
        self.echo_next_tx = Some(now + self.echo_tx_interval());
    }

    fn transmit(&mut self, now: Time, final_: bool) {
        let mut packet = self.control_packet(final_);
        if let Some(auth) = &mut self.auth {
            match auth.sign(now, packet) {
                Some(signed) => packet = signed,
                None => {
                    // No key may be sent with now: send nothing rather than
                    // an unauthenticated packet the peer must discard
                    // (FRR does the same since its issue 23276).
                    self.counters.auth.tx_no_key += 1;
                    if !final_ {
                        self.last_tx = Some(now);
                    }
                    return;
                }
            }
        }
        self.counters.control_tx += 1;
        self.outputs.push_back(Output::Transmit(packet));
        if !final_ {
            self.last_tx = Some(now);
        }
    }

    /// `answering`: [`Session::answering`], as `settle` found it.
    fn restart_schedule(&mut self, now: Time, answering: bool) {
        self.last_tx = Some(now);
        if self.periodic_allowed(now) && !answering {
            let interval = self.tx_interval();
            self.next_tx = Some(now + self.jittered(interval));
            self.scheduled_interval = Some(interval);
        } else {
            self.next_tx = None;
            self.scheduled_interval = None;
        }
    }

    /// §6.8.7, the contents of a control packet.
    fn control_packet(&self, final_: bool) -> ControlRepr {
        ControlRepr {
            // "Diagnostic (Diag): Set to bfd.LocalDiag."
            diagnostic: self.local_diag,
            // "State (Sta): Set to the value indicated by bfd.SessionState."
            state: self.state,
            // "Poll (P): Set to 1 if the local system is sending a Poll
            // Sequence, or 0 if not." (clear in a Final: "with the Poll (P)
            // bit clear, and the Final (F) bit set")
            poll: !final_ && self.poll != Poll::Idle,
            final_,
            control_plane_independent: self.config.control_plane_independent,
            // "Demand (D): Set to bfd.DemandMode if bfd.SessionState is Up
            // and bfd.RemoteSessionState is Up. Otherwise, it is set to 0."
            demand: self.config.demand && self.state == State::Up && self.remote_state == State::Up,
            detect_mult: self.advertised.detect_mult,
            my_discriminator: self.local_discr,
            your_discriminator: self.remote_discr,
            desired_min_tx: micros(self.advertised.desired_min_tx),
            required_min_rx: micros(self.advertised.required_min_rx),
            required_min_echo_rx: micros(self.advertised.required_min_echo_rx),
            auth: None,
        }
    }

    /// §6.8.7: "A system MUST NOT transmit BFD Control packets if
    /// bfd.RemoteDiscr is zero and the system is taking the Passive role."
    fn may_transmit(&self) -> bool {
        !(self.config.passive && self.remote_discr == 0)
    }

    fn periodic_allowed(&self, now: Time) -> bool {
        if !self.may_transmit() {
            return false;
        }
        // "A system MUST NOT periodically transmit BFD Control packets if
        // bfd.RemoteMinRxInterval is zero."
        if self.remote_min_rx.is_zero() {
            return false;
        }
        // "A system MUST NOT periodically transmit BFD Control packets if
        // Demand mode is active on the remote system ... and a Poll Sequence
        // is not being transmitted."
        if self.remote_demand_active() && self.poll == Poll::Idle {
            return false;
        }
        if self.state == State::AdminDown {
            return self.admin_down_tx.is_some_and(|tx| now < tx.until);
        }
        true
    }

    /// §6.8.7: "the greater of bfd.DesiredMinTxInterval and
    /// bfd.RemoteMinRxInterval" (with the in-use value of §6.8.3).
    fn tx_interval(&self) -> Duration {
        match self.admin_down_tx {
            Some(tx) if self.state == State::AdminDown => tx.interval,
            _ => self.tx_in_use.max(self.remote_min_rx),
        }
    }

    /// §6.8.7: "the interval MUST be reduced by a random value of 0 to
    /// 25%"; "If bfd.DetectMult is equal to 1, the interval between
    /// transmitted BFD Control packets MUST be no more than 90% of the
    /// negotiated transmission interval, and MUST be no less than 75%".
    ///
    /// Issue 19: a session whose peer's kernel may answer its packets
    /// (ours may answer, and our discriminator is the smaller: the peer's
    /// may too) draws from 80-100%, still a reduction "by a random value
    /// of 0 to 25%". The answering kernel never answers sooner than 75% of
    /// the interval after its previous answer (§6.8.7 for its packets), so
    /// a packet of ours that queueing on a busy path delays less than the
    /// one before it would arrive too soon and go unanswered: the 5% (2.5
    /// ms at 50 ms) is the margin for that.
    fn jittered(&mut self, interval: Duration) -> Duration {
        let high = if self.advertised.detect_mult == 1 { 900_000 } else { 1_000_000 };
        let parts_per_million = self.rng.in_range(u64::from(self.jitter_floor_ppm()), high);
        let nanos = interval.as_nanos() * u128::from(parts_per_million) / 1_000_000;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The shortest interval [`jittered`](Self::jittered) draws, parts per
    /// million: 75% (§6.8.7), or [`ANSWERED_JITTER_FLOOR_PPM`] where the
    /// peer's kernel may answer our packets; early transmissions to share
    /// a wake-up ([`TX_SLACK`]) keep it too.
    fn jitter_floor_ppm(&self) -> u32 {
        // Originating in a takeover, the peer's kernel answers us too.
        let may_be_answered = self.config.kernel_answers
            && (self.local_discr < self.remote_discr || self.originate_until.is_some());
        if may_be_answered && self.advertised.detect_mult > 1 {
            ANSWERED_JITTER_FLOOR_PPM
        } else {
            JITTER_FLOOR_PPM
        }
    }

    /// Demand mode active in the peer (§6.8.6): "bfd.RemoteDemandMode is 1,
    /// bfd.SessionState is Up, and bfd.RemoteSessionState is Up".
    /// Issue 19: the kernel answers each of the peer's packets for us with
    /// our steady-state packet, and we send no periodic packets ourselves.
    /// Only where that is sending what §6.8.7 asks of us:
    /// - both ends Up, no Poll Sequence of ours (its packets carry P), no
    ///   Demand mode (§6.6), no authentication (§6.7: sequence numbers and
    ///   digests are the agent's), and the kernel times the peer (it
    ///   absorbs the peer's packets, which is where it answers);
    /// - the peer sends at exactly our transmit interval (the larger of its
    ///   Desired Min TX and our Required Min RX equals the larger of ours
    ///   and its Required Min RX): one answer per peer packet is then one
    ///   packet per interval, jittered by the peer's own 75-100% (the
    ///   kernel still never answers sooner than 75% of our interval);
    /// - our Detect Mult is at least 3: a lost packet in either direction
    ///   now costs the peer one of ours, so two in a row must not be a
    ///   detection;
    /// - our discriminator is the larger: between two agents that both
    ///   answer, exactly one end originates (two answering ends would wait
    ///   for each other forever);
    /// - the originating peer has not fallen silent lately
    ///   ([`Session::on_originator_silent`]).
    fn answering(&self) -> bool {
        self.config.kernel_answers
            && self.control_detection() == Detection::Kernel
            && self.auth.is_none()
            && self.state == State::Up
            && self.remote_state == State::Up
            && self.poll == Poll::Idle
            && !self.config.demand
            && !self.remote_demand
            && self.local_discr > self.remote_discr
            && self.originate_until.is_none()
            && self.advertised.detect_mult >= 3
            && !self.remote_min_rx.is_zero()
            && self.tx_interval() == self.remote_desired_min_tx.max(self.advertised.required_min_rx)
    }

    fn remote_demand_active(&self) -> bool {
        self.remote_demand && self.state == State::Up && self.remote_state == State::Up
    }

    /// Our Demand mode is active: we asked the peer to stop and it is Up.
    fn local_demand_active(&self) -> bool {
        self.config.demand && self.state == State::Up && self.remote_state == State::Up
    }

    /// §6.8.4, asynchronous mode: "the value of Detect Mult received from
    /// the remote system, multiplied by the agreed transmit interval of the
    /// remote system (the greater of bfd.RequiredMinRxInterval and the last
    /// received Desired Min TX Interval)". `None` when there is no peer to
    /// time, when we asked for no periodic packets (RequiredMinRx 0), or in
    /// our Demand mode (the peer is silent by request; Polls are timed
    /// instead).
    fn detection_time(&self) -> Option<Duration> {
        if self.remote_discr == 0
            || self.rx_in_use.is_zero()
            || self.local_demand_active()
            || self.state == State::AdminDown
        {
            return None;
        }
        Some(self.rx_in_use.max(self.remote_desired_min_tx) * u32::from(self.remote_detect_mult))
    }

    /// §6.8.8: echo is sent only while Up, only if the peer's last packet
    /// had a non-zero Required Min Echo RX Interval, never on multihop.
    fn echo_active(&self) -> bool {
        self.config.echo.transmit
            && !self.config.multihop
            && self.state == State::Up
            && !self.remote_min_echo_rx.is_zero()
    }

    /// §6.8.8: "The interval between transmitted BFD Echo packets MUST NOT
    /// be less than the value advertised by the remote system in Required
    /// Min Echo RX Interval".
    fn echo_tx_interval(&self) -> Duration {
        self.config.echo.desired_min_tx.max(self.remote_min_echo_rx)
    }

    /// §6.8.9 leaves echo detection to the implementation: bfd.DetectMult
    /// echo intervals without one of ours coming back, as FRR does.
    fn echo_detection_time(&self) -> Option<Duration> {
        self.echo_active().then(|| self.echo_tx_interval() * u32::from(self.advertised.detect_mult))
    }

    /// What the kernel may absorb: the last accepted packet, if receiving
    /// it again would change nothing (same discriminators, and the state
    /// table stays put). Only with kernel detection: an absorbed packet
    /// never reaches this core's own detection timer.
    fn absorb_template(&self) -> Option<ControlRepr> {
        if self.control_detection() != Detection::Kernel || self.state == State::AdminDown {
            return None;
        }
        let last = self.last_received?;
        let same_session = last.my_discriminator == self.remote_discr
            && self.remote_discr != 0
            && last.your_discriminator == self.local_discr;
        (same_session && transition(self.state, last.state) == Transition::Stay).then_some(last)
    }

    /// `answering`: [`Session::answering`], as `settle` found it.
    fn compute_view(&self, answering: bool) -> FastPathView {
        let kernel = self.config.detection == Detection::Kernel;
        FastPathView {
            local_discr: self.local_discr,
            expect: self.absorb_template(),
            detection_time: if self.control_detection() == Detection::Kernel {
                self.detection_time()
            } else {
                None
            },
            echo_detection_time: if kernel { self.echo_detection_time() } else { None },
            reflect_echo: self.state == State::Up && !self.advertised.required_min_echo_rx.is_zero(),
            answer: answering,
            authenticated: self.auth.is_some(),
            verified_rx: if self.auth.is_some() && self.control_detection() == Detection::Kernel {
                self.last_rx
            } else {
                None
            },
        }
    }
}

/// A validated interval as the packet's microsecond count.
fn micros(interval: Duration) -> u32 {
    u32::try_from(interval.as_micros()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (local, received) pair has exactly the outcome the RFC's text
    /// gives; written out again as data so a slip in the match shows.
    #[test]
    fn state_table_matches_rfc_text() {
        use State::*;
        let expected = [
            (AdminDown, AdminDown, None),
            (AdminDown, Down, None),
            (AdminDown, Init, None),
            (AdminDown, Up, None),
            (Down, AdminDown, Some(Down)),
            (Down, Down, Some(Init)),
            (Down, Init, Some(Up)),
            (Down, Up, Some(Down)),
            (Init, AdminDown, Some(Down)),
            (Init, Down, Some(Init)),
            (Init, Init, Some(Up)),
            (Init, Up, Some(Up)),
            (Up, AdminDown, Some(Down)),
            (Up, Down, Some(Down)),
            (Up, Init, Some(Up)),
            (Up, Up, Some(Up)),
        ];
        for (local, received, after) in expected {
            let got = match transition(local, received) {
                Transition::Discard => None,
                Transition::Stay => Some(local),
                Transition::To(state, _, _) => Some(state),
            };
            assert_eq!(got, after, "local {local}, received {received}");
        }
    }
}
