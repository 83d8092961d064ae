//! The engine: one thread that owns every session and drives the session
//! core with real packets, kernel events and the monotonic clock.
//!
//! It sleeps in `ppoll(2)` until a socket, the kernel's event ring buffer or
//! a command is readable, or until the earliest session deadline (never a
//! sleep-and-poll loop), so it can run at real-time priority and wakes
//! exactly when BFD has something to do. Everything else (control socket,
//! signals, configuration reloads) talks to it through [`EngineHandle`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context as _;
use bfd_common::maps::{DetectEvent, EVENT_CONTROL_TIMEOUT, EVENT_ECHO_TIMEOUT, SessionState};
use bfd_common::wire::{ControlPacket, ControlRepr, Diagnostic, State};
use bfd_session::{
    Detection, Output, Session, SessionConfig, SessionKey, SessionStatus, Sessions, StateChange, Time,
};
use bfd_user::config::SessionIdentity;
use bfd_user::fastpath::{Events, FastPath};
use bfd_user::session_map::map_config;
use nix::poll::{PollFd, PollFlags};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::time::TimeSpec;
use tracing::{Span, debug, info, info_span, warn};

use super::batch::Batcher;
use super::echo::EchoSender;
use super::hook::HookRunner;
use super::net::{RxSocket, SourcePorts, TxSocket};
use super::route_worker::RouteWorker;

/// One BFD session the configuration asks for: a selected BGPPeer with its
/// profile.
pub type SessionSpec = bfd_user::config::PeerSpec;

/// What the engine reports about one session.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The configuration it runs.
    pub spec: SessionSpec,
    /// The session core's view.
    pub status: SessionStatus,
    /// When it was taken.
    pub now: Time,
    /// The interface its packets arrive on, once known.
    pub ifindex: Option<u32>,
    /// The XDP program times and absorbs for it.
    pub fast_path: bool,
    /// The kernel's per-session state, with the fast path.
    pub kernel: Option<SessionState>,
    /// Control packets this process received for it.
    pub userspace_rx: u64,
    /// The largest gap between packets this process saw since Up.
    pub largest_gap: Option<Duration>,
}

/// Who asks for a session: the engine runs the union of the configuration
/// files' sessions and bfdd's, and each source's [`Command::Apply`] touches
/// only its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// Requests to the engine.
pub enum Command {
    /// Reply with a snapshot of every session.
    Show(tokio::sync::oneshot::Sender<Vec<Snapshot>>),
    /// Reply with a snapshot of one session, if it runs.
    Snapshot(SessionIdentity, tokio::sync::oneshot::Sender<Option<Snapshot>>),
    /// Run exactly these sessions for this origin: start new ones, take
    /// removed ones down (AdminDown) and away, renegotiate changed ones,
    /// leave the others (and every session of the other origin).
    Apply(Origin, Vec<SessionSpec>, tokio::sync::oneshot::Sender<String>),
    /// Take every session AdminDown and stop.
    Shutdown,
}

/// The handle other threads use to talk to the engine.
#[derive(Clone)]
pub struct EngineHandle {
    commands: mpsc::Sender<Command>,
    wake: std::sync::Arc<EventFd>,
}

impl EngineHandle {
    /// Queues `command` and wakes the engine.
    pub fn send(&self, command: Command) -> anyhow::Result<()> {
        self.commands.send(command).map_err(|_| anyhow::anyhow!("the BFD engine has stopped"))?;
        self.wake.write(1).context("waking the BFD engine")?;
        Ok(())
    }
}

/// The kernel fast path as the engine uses it.
pub struct FastPathLink {
    /// The maps.
    pub maps: FastPath,
    /// The detection events.
    pub events: Events,
    /// The interfaces the program is attached to, by index.
    pub ifindexes: Vec<u32>,
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

struct Peer {
    spec: SessionSpec,
    origin: Origin,
    reported: Option<Reported>,
    tx: TxSocket,
    ifindex: Option<u32>,
    generation: u64,
    echo_allowed: Option<u32>,
    userspace_rx: u64,
    last_user_rx: Option<Time>,
    largest_gap: Option<Duration>,
    send_errors: u64,
    retire_at: Option<Time>,
    /// Bumped when the session comes Up: the kernel restarts its largest
    /// gap then.
    gap_epoch: u64,
    echo: Option<EchoSender>,
    echo_errors: u64,
    /// (source, destination, IPv6 scope) of the batched packets.
    route: Option<(std::net::SocketAddr, std::net::SocketAddr, u32)>,
    /// The session's tracing span: peer, local address, discriminator.
    span: Span,
}

/// Sessions by a time, earliest first.
type TimerHeap = BinaryHeap<Reverse<(Time, u32)>>;

/// The engine's state; runs on its own thread ([`Engine::run`]).
pub struct Engine {
    sessions: Sessions,
    peers: HashMap<u32, Peer>,
    deadlines: TimerHeap,
    /// When each session's due work may be done early
    /// ([`Session::earliest_deadline`]): whatever wakes the engine serves
    /// those too, so transmissions due close together leave in one wake-up
    /// and one `sendmmsg`.
    early: TimerHeap,
    /// Sessions saying goodbye, and when they go (a few at most: the
    /// engine's loop looks at these on every wake, never at every session).
    retiring: HashMap<u32, Time>,
    rx: Vec<RxSocket>,
    fast: Option<FastPathLink>,
    commands: mpsc::Receiver<Command>,
    wake: std::sync::Arc<EventFd>,
    ports: SourcePorts,
    running: bool,
    deferred_sync: Option<(u32, bfd_session::FastPathView)>,
    batch: Batcher,
    hook: Option<HookRunner>,
    routes: Option<RouteWorker>,
    observer: Option<tokio::sync::mpsc::UnboundedSender<StateReport>>,
}

/// `CLOCK_MONOTONIC` now, the clock of the kernel's `bpf_ktime_get_ns`.
pub fn monotonic_now() -> Time {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC exists");
    Time::from_nanos(now.tv_sec() as u64 * 1_000_000_000 + now.tv_nsec() as u64)
}

impl Engine {
    /// An engine receiving on `rx`, with the fast path if attached; seeded
    /// from the operating system's entropy.
    pub fn new(
        rx: Vec<RxSocket>,
        fast: Option<FastPathLink>,
        hook: Option<HookRunner>,
        routes: Option<RouteWorker>,
    ) -> anyhow::Result<(Engine, EngineHandle)> {
        let (commands_tx, commands) = mpsc::channel();
        let wake = std::sync::Arc::new(
            EventFd::from_value_and_flags(0, EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)
                .context("creating an eventfd")?,
        );
        let mut seed = [0u8; 8];
        getrandom(&mut seed)?;
        let engine = Engine {
            sessions: Sessions::new(u64::from_ne_bytes(seed)),
            peers: HashMap::new(),
            deadlines: BinaryHeap::new(),
            early: BinaryHeap::new(),
            retiring: HashMap::new(),
            rx,
            fast,
            commands,
            wake: wake.clone(),
            ports: SourcePorts::default(),
            running: true,
            deferred_sync: None,
            batch: Batcher::open(),
            hook,
            routes,
            observer: None,
        };
        if engine.batch.available(false) && engine.batch.available(true) {
            debug!("control packets due together leave in one sendmmsg per address family");
        } else {
            warn!("no raw socket (CAP_NET_RAW): each control packet is sent on its own");
        }
        Ok((engine, EngineHandle { commands: commands_tx, wake }))
    }

    /// Reports every state change to `observer` (the data-plane channel).
    pub fn observe(&mut self, observer: tokio::sync::mpsc::UnboundedSender<StateReport>) {
        self.observer = Some(observer);
    }

    /// Runs until [`Command::Shutdown`].
    pub fn run(mut self) {
        let mut buffer = [0u8; 512];
        while self.running || !self.retiring.is_empty() {
            let now = monotonic_now();
            self.fire_timers(now);
            self.retire(now);
            if !self.running && self.peers.is_empty() {
                break;
            }
            let timeout = self.next_wake().map(|at| at.saturating_since(monotonic_now()));
            let ready = self.wait(timeout);
            if ready[0] {
                self.handle_commands();
            }
            if ready[1] {
                self.handle_events();
            }
            for index in 0..self.rx.len() {
                if ready[2 + index] {
                    self.handle_receive(index, &mut buffer);
                }
            }
            // Whatever this wake produced (timers due together, Finals,
            // state changes) leaves in one system call per family.
            self.batch.flush();
        }
        self.batch.flush();
        debug!(
            calls = self.batch.calls,
            packets = self.batch.packets,
            errors = self.batch.errors,
            "batched transmissions"
        );
        debug!("BFD engine stopped");
    }

    /// Waits in `ppoll` for a descriptor or the timeout; which are ready:
    /// [commands, events, rx...].
    fn wait(&self, timeout: Option<Duration>) -> Vec<bool> {
        let events_fd: Option<BorrowedFd<'_>> = self.fast.as_ref().map(|fast| fast.events.as_fd());
        let mut fds = vec![PollFd::new(self.wake.as_fd(), PollFlags::POLLIN)];
        if let Some(fd) = events_fd {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        for socket in &self.rx {
            fds.push(PollFd::new(socket.as_fd(), PollFlags::POLLIN));
        }
        let timeout = timeout.map(TimeSpec::from_duration);
        match nix::poll::ppoll(&mut fds, timeout, None) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(error) => warn!(%error, "ppoll failed"),
        }
        let readable = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
        let mut ready = vec![readable(&fds[0])];
        let mut index = 1;
        if events_fd.is_some() {
            ready.push(readable(&fds[1]));
            index = 2;
        } else {
            ready.push(false);
        }
        ready.extend(fds[index..].iter().map(readable));
        ready
    }

    /// The earliest current deadline or retirement. Entries of the deadline
    /// heap go stale when a session's deadline moves (a packet, an early
    /// transmission): they are dropped here rather than woken for.
    fn next_wake(&mut self) -> Option<Time> {
        while let Some(Reverse((at, discr))) = self.deadlines.peek().copied() {
            let current = self.sessions.get(discr).is_some_and(|session| session.next_deadline() == Some(at));
            if current {
                break;
            }
            self.deadlines.pop();
        }
        let retire = self.retiring.values().min().copied();
        let deadline = self.deadlines.peek().map(|Reverse((at, _))| *at);
        [retire, deadline].into_iter().flatten().min()
    }

    fn fire_timers(&mut self, now: Time) {
        self.fire_due(now, |engine| &mut engine.deadlines, Session::next_deadline);
        // Whatever woke the engine, the sessions whose due work may be
        // done by now are served too.
        self.fire_due(now, |engine| &mut engine.early, Session::earliest_deadline);
    }

    /// Runs the sessions whose entry in `heap` is due by `now` and still
    /// their current `deadline` (entries are pushed on every input; only
    /// the current one fires).
    fn fire_due(
        &mut self,
        now: Time,
        heap: fn(&mut Engine) -> &mut TimerHeap,
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

    fn retire(&mut self, now: Time) {
        if self.retiring.is_empty() {
            return;
        }
        let due: Vec<u32> =
            self.retiring.iter().filter(|(_, at)| **at <= now).map(|(discr, _)| *discr).collect();
        for discr in due {
            self.remove(discr);
        }
    }

    fn handle_commands(&mut self) {
        let _ = self.wake.read();
        while let Ok(command) = self.commands.try_recv() {
            let now = monotonic_now();
            match command {
                Command::Show(reply) => {
                    let _ = reply.send(self.snapshots(now));
                }
                Command::Snapshot(identity, reply) => {
                    let discr = self
                        .peers
                        .iter()
                        .find(|(_, peer)| peer.retire_at.is_none() && peer.spec.key() == identity)
                        .map(|(discr, _)| *discr);
                    let _ = reply.send(discr.and_then(|discr| self.snapshot(discr, now)));
                }
                Command::Apply(origin, specs, reply) => {
                    let summary = self.apply(origin, specs, now);
                    let _ = reply.send(summary);
                }
                Command::Shutdown => {
                    info!("shutting down: taking every session AdminDown");
                    self.running = false;
                    let discrs: Vec<u32> = self.peers.keys().copied().collect();
                    for discr in discrs {
                        self.take_down_and_retire(discr, now);
                    }
                }
            }
        }
    }

    fn handle_events(&mut self) {
        loop {
            let event = match self.fast.as_mut().map(|fast| fast.events.next()) {
                Some(Ok(Some(event))) => event,
                Some(Ok(None)) | None => return,
                Some(Err(error)) => {
                    warn!(%error, "reading the kernel's detection events");
                    return;
                }
            };
            self.kernel_event(&event);
        }
    }

    fn kernel_event(&mut self, event: &DetectEvent) {
        let now = monotonic_now();
        let discr = event.discriminator;
        let Some(session) = self.sessions.get_mut(discr) else { return };
        let fired_at = Time::from_nanos(event.fired_at_ns);
        let detection_time = session.status().detection_time;
        let acted = match event.kind {
            EVENT_CONTROL_TIMEOUT => session.on_kernel_timeout(now, fired_at),
            EVENT_ECHO_TIMEOUT => session.on_echo_timeout(now),
            _ => false,
        };
        let silence = Duration::from_nanos(event.fired_at_ns.saturating_sub(event.last_rx_ns));
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
        self.drain(discr, now);
    }

    fn handle_receive(&mut self, index: usize, buffer: &mut [u8]) {
        loop {
            let received = match self.rx[index].receive(buffer) {
                Ok(Some(received)) => received,
                Ok(None) => return,
                Err(error) => {
                    warn!(%error, "receiving control packets");
                    return;
                }
            };
            let now = monotonic_now();
            let (len, arrival) = received;
            let repr = match ControlRepr::parse(&ControlPacket::new_unchecked(&buffer[..len])) {
                Ok(repr) => repr,
                Err(error) => {
                    debug!(source = %arrival.source, %error, "invalid control packet");
                    continue;
                }
            };
            let discr = match self.sessions.receive(now, &repr, &arrival) {
                Ok(discr) => discr,
                Err(error) => {
                    debug!(source = %arrival.source, %error, "control packet for no session");
                    continue;
                }
            };
            if let Some(peer) = self.peers.get_mut(&discr) {
                peer.userspace_rx += 1;
                if let Some(last) = peer.last_user_rx
                    && self.sessions.get(discr).is_some_and(|s| s.state() == State::Up)
                {
                    let gap = now.saturating_since(last);
                    peer.largest_gap = Some(peer.largest_gap.map_or(gap, |largest| largest.max(gap)));
                }
                peer.last_user_rx = Some(now);
                if peer.ifindex.is_none() && !peer.spec.multihop && arrival.ifindex != 0 {
                    self.learn_interface(discr, arrival.ifindex, now);
                }
            }
            self.drain(discr, now);
        }
    }

    /// A single-hop session's packets arrive on the peer's link: once that
    /// link is known, and the XDP program is on it, the kernel takes over
    /// detection and absorption for the session.
    fn learn_interface(&mut self, discr: u32, ifindex: u32, now: Time) {
        let Some(peer) = self.peers.get_mut(&discr) else { return };
        peer.ifindex = Some(ifindex);
        let on_xdp = self.fast.as_ref().is_some_and(|fast| fast.ifindexes.contains(&ifindex));
        if let Some(session) = self.sessions.get_mut(discr) {
            let mut config = *session.config();
            let wanted = if on_xdp { Detection::Kernel } else { Detection::Local };
            if config.detection != wanted {
                config.detection = wanted;
                if session.configure(now, config).is_ok() {
                    info!(peer = %peer.spec.peer, ifindex, "the XDP fast path times this session");
                }
            }
            let view = session.fast_path();
            self.sync_fast_path(discr, &view);
        }
    }

    /// Acts on a session's outputs: the one place where the session core's
    /// decisions reach the network, the kernel and the log.
    fn drain(&mut self, discr: u32, now: Time) {
        // Everything logged about the session's outputs is inside its span.
        let span = self.peers.get(&discr).map_or_else(Span::none, |peer| peer.span.clone());
        let _entered = span.enter();
        let Some(session) = self.sessions.get_mut(discr) else { return };
        let outputs: Vec<Output> = session.drain_outputs().collect();
        if let Some(deadline) = session.next_deadline() {
            self.deadlines.push(Reverse((deadline, discr)));
        }
        if let Some(early) = session.earliest_deadline()
            && Some(early) != session.next_deadline()
        {
            self.early.push(Reverse((early, discr)));
        }
        let came_up = outputs.iter().any(|o| matches!(o, Output::StateChange(c) if c.to == State::Up));
        let synced = outputs.iter().any(|o| matches!(o, Output::FastPath(_)));
        let changed = synced || outputs.iter().any(|o| matches!(o, Output::StateChange(_)));
        if came_up && !synced {
            // The new gap epoch must reach the kernel even if nothing else
            // in the session's entry changed.
            let view = session.fast_path();
            self.deferred_sync = Some((discr, view));
        }
        for output in outputs {
            match output {
                Output::Transmit(repr) => self.transmit(discr, &repr),
                Output::TransmitEcho(repr) => self.transmit_echo(discr, &repr),
                Output::StateChange(change) => self.log_change(discr, &change, now),
                Output::FastPath(view) => self.sync_fast_path(discr, &view),
            }
        }
        if let Some((discr, view)) = self.deferred_sync.take() {
            self.sync_fast_path(discr, &view);
        }
        if changed {
            self.observe_change(discr);
        }
    }

    /// Tells the observer (bfdd) of a new state, and of the peer's new
    /// discriminator, timers or flags, which bfdd shows: a change of the
    /// fast-path view is when those can have changed.
    fn observe_change(&mut self, discr: u32) {
        let Some(observer) = &self.observer else { return };
        let (Some(session), Some(peer)) = (self.sessions.get(discr), self.peers.get_mut(&discr)) else {
            return;
        };
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
            let _ = observer.send(StateReport { identity: peer.spec.key(), status });
        }
    }

    fn transmit(&mut self, discr: u32, repr: &ControlRepr) {
        let Some(peer) = self.peers.get_mut(&discr) else { return };
        let mut bytes = [0u8; 64];
        let len = repr.buffer_len();
        repr.emit(&mut ControlPacket::new_unchecked(&mut bytes[..len]));
        // Queued for this wake's sendmmsg batch when possible.
        if let Some((source, destination, scope)) = peer.route
            && self.batch.queue(source, destination, scope, &bytes[..len])
        {
            return;
        }
        if let Err(error) = peer.tx.send(&bytes[..len]) {
            peer.send_errors += 1;
            // The first failure and then every 100th: a dead peer must not
            // flood the log.
            if peer.send_errors % 100 == 1 {
                warn!(peer = %peer.spec.peer, %error, errors = peer.send_errors, "sending a control packet failed");
            }
        }
    }

    /// Sends one of our echo packets, as FRR does: see `echo`. Needs
    /// the session's link, our address and the peer's MAC; until all
    /// are known nothing is sent, and the echo timer (armed only by returns)
    /// does not run.
    fn transmit_echo(&mut self, discr: u32, repr: &bfd_common::wire::EchoRepr) {
        let Some(peer) = self.peers.get_mut(&discr) else { return };
        if peer.echo.is_none() {
            let (Some(ifindex), Some(local)) =
                (peer.ifindex, peer.spec.local.filter(|l| l.is_ipv6() == peer.spec.peer.is_ipv6()))
            else {
                if peer.echo_errors == 0 {
                    warn!(peer = %peer.spec.peer, "echo needs a sourceAddress and the peer's link; not sending echo");
                }
                peer.echo_errors += 1;
                return;
            };
            let remote = peer.spec.peer;
            match EchoSender::open(ifindex, local, remote) {
                Ok(sender) => peer.echo = sender,
                Err(error) => {
                    peer.echo_errors += 1;
                    if peer.echo_errors % 100 == 1 {
                        warn!(peer = %peer.spec.peer, error = format!("{error:#}"), "echo packets cannot be sent");
                    }
                }
            }
        }
        if let Some(sender) = &peer.echo
            && let Err(error) = sender.send(repr)
        {
            peer.echo_errors += 1;
            if peer.echo_errors % 100 == 1 {
                warn!(peer = %peer.spec.peer, error = format!("{error:#}"), "sending an echo packet failed");
            }
        }
    }

    fn log_change(&mut self, discr: u32, change: &StateChange, now: Time) {
        let Some(peer) = self.peers.get_mut(&discr) else { return };
        // Routes through the peer: out on a failure (never on AdminDown,
        // RFC 5882 §3.2), back when the session is Up again.
        if let Some(routes) = self.routes.as_ref() {
            if change.is_failure() {
                routes.withdraw(peer.spec.peer);
            } else if change.to == State::Up {
                routes.restore(peer.spec.peer);
            }
        }
        if let Some(hook) = self.hook.as_mut() {
            let interface = peer.spec.interface.clone().or_else(|| {
                peer.ifindex
                    .and_then(|index| nix::net::if_::if_indextoname(index).ok())
                    .and_then(|name| name.into_string().ok())
            });
            hook.notify(vec![
                ("BFD_PEER", peer.spec.peer.to_string()),
                ("BFD_LOCAL", peer.spec.local.map(|ip| ip.to_string()).unwrap_or_default()),
                ("BFD_INTERFACE", interface.unwrap_or_default()),
                ("BFD_VRF", peer.spec.vrf.clone().unwrap_or_else(|| "default".into())),
                ("BFD_MULTIHOP", u8::from(peer.spec.multihop).to_string()),
                ("BFD_PROFILE", peer.spec.profile.clone()),
                ("BFD_DISCRIMINATOR", discr.to_string()),
                ("BFD_OLD_STATE", change.from.to_string()),
                ("BFD_NEW_STATE", change.to.to_string()),
                ("BFD_DIAGNOSTIC", change.diagnostic.as_str().to_owned()),
                ("BFD_DIAGNOSTIC_CODE", u8::from(change.diagnostic).to_string()),
                ("BFD_CAUSE", format!("{:?}", change.cause)),
                // RFC 5882 §3.2: AdminDown on either side is not a failure.
                ("BFD_FAILURE", u8::from(change.is_failure()).to_string()),
                ("BFD_TIME_US", (change.at.as_nanos() / 1000).to_string()),
            ]);
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
    }

    fn sync_fast_path(&mut self, discr: u32, view: &bfd_session::FastPathView) {
        let Some(fast) = self.fast.as_mut() else { return };
        let Some(peer) = self.peers.get_mut(&discr) else { return };
        let key = SessionKey {
            peer: peer.spec.peer,
            local: peer.spec.local,
            ifindex: peer.ifindex,
            multihop: peer.spec.multihop,
        };
        peer.generation += 1;
        let mut entry = map_config(view, &key, peer.spec.min_ttl, peer.generation);
        entry.gap_epoch = peer.gap_epoch;
        if let Err(error) = fast.maps.set_session(discr, &entry) {
            warn!(peer = %peer.spec.peer, %error, "updating the session's fast-path entry");
        }
        // The peer's echo packets are reflected only while the core allows
        // it, on the link the session runs on.
        let allow = if view.reflect_echo { peer.ifindex } else { None };
        if allow != peer.echo_allowed {
            if let Some(ifindex) = peer.echo_allowed {
                let _ = fast.maps.remove_echo_peer(ifindex, peer.spec.peer);
            }
            if let Some(ifindex) = allow
                && let Err(error) = fast.maps.add_echo_peer(ifindex, peer.spec.peer, discr)
            {
                warn!(peer = %peer.spec.peer, %error, "allowing the peer's echo");
            }
            peer.echo_allowed = allow;
        }
    }

    fn add(&mut self, origin: Origin, spec: SessionSpec, now: Time) -> anyhow::Result<u32> {
        let ifindex = match (&spec.interface, spec.multihop) {
            (Some(name), false) => Some(
                nix::net::if_::if_nametoindex(name.as_str()).with_context(|| format!("interface {name}"))?,
            ),
            _ => None,
        };
        let key = SessionKey { peer: spec.peer, local: spec.local, ifindex, multihop: spec.multihop };
        let tx =
            TxSocket::open(spec.peer, spec.local, spec.interface.as_deref(), spec.multihop, &mut self.ports)?;
        let scope = match spec.peer {
            IpAddr::V6(v6) if v6.is_unicast_link_local() => ifindex.unwrap_or(0),
            _ => 0,
        };
        let route = tx.addresses().map(|(source, destination)| (source, destination, scope));
        let mut config = spec.session;
        // Kernel detection needs the XDP program on the session's link: known
        // now if the interface is configured, else learned from the first
        // packet (learn_interface).
        let on_xdp =
            ifindex.is_some_and(|i| self.fast.as_ref().is_some_and(|fast| fast.ifindexes.contains(&i)));
        config.detection = if on_xdp && !spec.multihop { Detection::Kernel } else { Detection::Local };
        let discr = self
            .sessions
            .add_preferring(key, config, spec.min_ttl, now, spec.discriminator)
            .context("adding the session")?;
        let admin_down = spec.admin_down;
        info!(peer = %spec.peer, local = ?spec.local, peer_document = %spec.source, discr, source_port = tx.source_port, "session added");
        let (spec_peer, spec_local) = (spec.peer, spec.local);
        self.peers.insert(
            discr,
            Peer {
                spec,
                origin,
                reported: None,
                tx,
                ifindex,
                generation: 0,
                echo_allowed: None,
                userspace_rx: 0,
                last_user_rx: None,
                largest_gap: None,
                send_errors: 0,
                retire_at: None,
                gap_epoch: 0,
                echo: None,
                echo_errors: 0,
                route,
                span: info_span!("session", peer = %spec_peer, local = ?spec_local, discr),
            },
        );
        if admin_down && let Some(session) = self.sessions.get_mut(discr) {
            session.admin_down(now, Diagnostic::AdministrativelyDown);
        }
        self.drain(discr, now);
        Ok(discr)
    }

    /// RFC 5880 §6.8.16: a session leaving the configuration says AdminDown
    /// (for the peer's Detection Time, which the core handles) before it
    /// goes away, so the peer does not report a failure (RFC 5882 §3.2).
    fn take_down_and_retire(&mut self, discr: u32, now: Time) {
        let Some(session) = self.sessions.get_mut(discr) else { return };
        // An Up peer must hear AdminDown for its Detection Time, or it would
        // report a failure; a peer that is not Up has nothing to lose.
        let linger = match session.state() {
            State::Up | State::Init => session.status().tx_interval.unwrap_or(Duration::from_secs(1)) * 3,
            _ => Duration::ZERO,
        };
        session.admin_down(now, Diagnostic::AdministrativelyDown);
        self.drain(discr, now);
        if let Some(peer) = self.peers.get_mut(&discr) {
            let at = now + linger.min(Duration::from_secs(3));
            peer.retire_at = Some(at);
            self.retiring.insert(discr, at);
        }
    }

    fn remove(&mut self, discr: u32) {
        self.retiring.remove(&discr);
        self.sessions.remove(discr);
        if let Some(peer) = self.peers.remove(&discr) {
            self.ports.release(peer.tx.source_port);
            if let Some(fast) = self.fast.as_mut() {
                if let Some(ifindex) = peer.echo_allowed {
                    let _ = fast.maps.remove_echo_peer(ifindex, peer.spec.peer);
                }
                if let Err(error) = fast.maps.remove_session(discr) {
                    warn!(peer = %peer.spec.peer, %error, "removing the session's fast-path entry");
                }
            }
            info!(peer = %peer.spec.peer, discr, "session removed");
        }
    }

    fn apply(&mut self, origin: Origin, specs: Vec<SessionSpec>, now: Time) -> String {
        let (mut added, mut removed, mut changed, mut unchanged, mut failed) = (0, 0, 0, 0, 0);
        let mut current: HashMap<SessionIdentity, (u32, SessionSpec)> = HashMap::new();
        let mut others: HashMap<SessionIdentity, Origin> = HashMap::new();
        for (discr, peer) in self.peers.iter().filter(|(_, p)| p.retire_at.is_none()) {
            if peer.origin == origin {
                current.insert(peer.spec.key(), (*discr, peer.spec.clone()));
            } else {
                others.insert(peer.spec.key(), peer.origin);
            }
        }
        let wanted_keys: std::collections::HashSet<SessionIdentity> = specs.iter().map(|s| s.key()).collect();
        for (key, (discr, _)) in &current {
            if !wanted_keys.contains(key) {
                self.take_down_and_retire(*discr, now);
                removed += 1;
            }
        }
        for wanted in specs {
            let key = wanted.key();
            if let Some(other) = others.get(&key) {
                warn!(session = %key, ?origin, owner = ?other, "the session is already run for another source; not taken over");
                failed += 1;
                continue;
            }
            match current.get(&key) {
                Some((_, spec)) if spec.same_session(&wanted) => unchanged += 1,
                Some((discr, spec)) => {
                    let discr = *discr;
                    let admin_change = (spec.admin_down != wanted.admin_down).then_some(wanted.admin_down);
                    if let Some(session) = self.sessions.get_mut(discr) {
                        // §6.8.16: shutdown and no shutdown, as FRR's.
                        match admin_change {
                            Some(true) => session.admin_down(now, Diagnostic::AdministrativelyDown),
                            Some(false) => session.admin_up(now),
                            None => {}
                        }
                        // Keep who detects: that is the link's business, not
                        // the configuration's.
                        let config =
                            SessionConfig { detection: session.config().detection, ..wanted.session };
                        match session.configure(now, config) {
                            Ok(()) => changed += 1,
                            Err(error) => {
                                warn!(peer = %wanted.peer, %error, "the new configuration was refused");
                                failed += 1;
                            }
                        }
                    }
                    if let Some(peer) = self.peers.get_mut(&discr) {
                        peer.spec = wanted;
                    }
                    self.drain(discr, now);
                }
                None => match self.add(origin, wanted.clone(), now) {
                    Ok(_) => added += 1,
                    Err(error) => {
                        warn!(peer = %wanted.peer, error = format!("{error:#}"), "the session could not start");
                        failed += 1;
                    }
                },
            }
        }
        let summary = format!(
            "{added} added, {removed} removed, {changed} changed, {unchanged} unchanged{}",
            if failed > 0 { format!(", {failed} failed (see the log)") } else { String::new() }
        );
        info!(%summary, "configuration applied");
        summary
    }

    fn snapshots(&self, now: Time) -> Vec<Snapshot> {
        let mut snapshots: Vec<Snapshot> =
            self.peers.keys().filter_map(|discr| self.snapshot(*discr, now)).collect();
        snapshots.sort_by_key(|snapshot| (snapshot.spec.peer, snapshot.spec.local));
        snapshots
    }

    fn snapshot(&self, discr: u32, now: Time) -> Option<Snapshot> {
        let peer = self.peers.get(&discr)?;
        let session: &Session = self.sessions.get(discr)?;
        let fast_path = session.config().detection == Detection::Kernel;
        let kernel = self.fast.as_ref().and_then(|fast| fast.maps.session_state(discr).ok().flatten());
        Some(Snapshot {
            spec: peer.spec.clone(),
            status: session.status(),
            now,
            ifindex: peer.ifindex,
            fast_path,
            kernel,
            userspace_rx: peer.userspace_rx,
            // With the fast path most packets never reach us: the kernel
            // measures the gaps.
            largest_gap: match kernel {
                Some(state) if fast_path && state.gap_epoch == peer.gap_epoch => {
                    Some(Duration::from_nanos(state.max_gap_ns)).filter(|gap| !gap.is_zero())
                }
                _ => peer.largest_gap,
            },
        })
    }
}

/// Fills `buffer` from the operating system's entropy (getrandom(2)).
fn getrandom(buffer: &mut [u8]) -> anyhow::Result<()> {
    use std::io::Read as _;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(buffer))
        .context("reading /dev/urandom for the session core's seed")
}
