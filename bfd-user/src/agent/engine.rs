//! The engine thread's I/O: the agent's [`EngineIo`] around the library's
//! dispatcher and loop ([`bfd_user::engine`]).
//!
//! It sleeps in `ppoll(2)` until a socket, the kernel's event ring buffer or
//! a command is readable, or until the dispatcher's next deadline (never a
//! sleep-and-poll loop), so it can run at real-time priority and wakes
//! exactly when BFD has something to do. A wake allocates nothing: the poll
//! set and the input buffer are kept, received packets are copied into
//! fixed-size buffers. It makes no BPF system call but the map updates the
//! sessions' changes ask for: the kernel's per-session state is read by
//! `show` and the metrics, off this thread, from the pinned maps.

use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
    mpsc,
};

use anyhow::Context as _;
use bfd_session::Time;
use bfd_user::config::PeerSpec;
use bfd_user::engine::{
    ChangeEvent, Command, Dispatcher, DispatcherOptions, Effect, EngineIo, Input, PacketBuf, Published,
    StateReport, Transport,
};
use bfd_user::fastpath::{Events, FastPath};
use nix::sys::eventfd::{EfdFlags, EventFd};
use tracing::{debug, info, warn};

use super::echo::EchoSender;
use super::hook::HookRunner;
use super::neighbour::{Fallback, NeighbourTable, NextHop};
use super::net::{RxSocket, SourcePorts, TxSocket};
use super::route_worker::RouteWorker;
use bfd_user::transmit::{Batcher, SharedTransmitCounters, TransmitCounters};

/// One BFD session the configuration asks for: a selected BGPPeer with its
/// profile.
pub type SessionSpec = PeerSpec;

/// The last publication, for readers on other threads.
pub type Publication = Arc<Mutex<Arc<Published>>>;

/// The handle other threads use to talk to the engine.
#[derive(Clone)]
pub struct EngineHandle {
    commands: mpsc::Sender<Command>,
    wake: Arc<EventFd>,
    published: Publication,
    transmit: Arc<SharedTransmitCounters>,
    receive_dropped: Arc<AtomicU64>,
}

impl EngineHandle {
    /// Queues `command` and wakes the engine.
    pub fn send(&self, command: Command) -> anyhow::Result<()> {
        self.commands.send(command).map_err(|_| anyhow::anyhow!("the BFD engine has stopped"))?;
        self.wake.write(1).context("waking the BFD engine")?;
        Ok(())
    }

    /// The engine's last publication (at most [`bfd_user::engine::PUBLISH_EVERY`]
    /// old, or newer after a change of the configuration).
    pub fn published(&self) -> Arc<Published> {
        self.published.lock().map(|p| p.clone()).unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// How the control packets left so far (stored after every send).
    pub fn transmit_counters(&self) -> TransmitCounters {
        self.transmit.load()
    }

    /// Control packets the kernel dropped at the receive sockets because
    /// their buffers were full, since the agent started.
    pub fn receive_dropped(&self) -> u64 {
        self.receive_dropped.load(Ordering::Relaxed)
    }

    /// A fresh publication: asks the engine and waits for it.
    pub async fn publish_now(&self) -> anyhow::Result<Arc<Published>> {
        let (reply, published) = tokio::sync::oneshot::channel();
        self.send(Command::Publish(reply))?;
        published.await.context("the BFD engine stopped")
    }

    /// [`publish_now`](Self::publish_now) from a thread that may block (the
    /// control socket's requests run on Tokio's blocking pool).
    pub fn publish_now_blocking(&self) -> anyhow::Result<Arc<Published>> {
        let (reply, published) = tokio::sync::oneshot::channel();
        self.send(Command::Publish(reply))?;
        published.blocking_recv().context("the BFD engine stopped")
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
    /// The adoption records the next agent takes the sessions over from.
    pub adopt: bfd_user::adopt::AdoptMap,
    /// The lease the engine renews on every wake (issue 17: once it
    /// expires, the kernel answers for the Up sessions).
    pub lease: Option<bfd_user::fastpath::LeaseMap>,
}

/// How long past the engine's next deadline the lease runs: the kernel
/// starts answering this long after the agent missed a wake.
const LEASE_SLACK: std::time::Duration = std::time::Duration::from_nanos(bfd_common::maps::LEASE_SLACK_NS);

/// A session an earlier agent left in the kernel, to take over: its
/// configuration, its record and the generation of its kernel entry.
pub struct Adoption {
    /// The configuration it runs (the configured session it matches, or
    /// one rebuilt from the record for a session no longer configured).
    pub spec: SessionSpec,
    /// What the earlier agent left.
    pub adoptable: bfd_user::adopt::Adoptable,
    /// [`bfd_common::maps::SessionConfig::generation`] of its kernel entry.
    pub kernel_generation: u64,
}

/// Sessions resumed per renewal of the lease ([`Engine::adopt`]): a chunk
/// takes well under a millisecond, far inside the lease.
const ADOPT_CHUNK: usize = 64;

/// How control packets leave (`--transmit`, `spec.transmit`).
pub use bfd_user::config::TransmitPath;

/// The engine: the dispatcher and the agent's I/O; runs on its own thread
/// ([`Engine::run`]).
pub struct Engine {
    dispatcher: Dispatcher,
    io: AgentIo,
}

/// A session's socket and echo sender.
struct SessionIo {
    tx: TxSocket,
    echo: Option<EchoSender>,
    send_errors: u64,
    echo_errors: u64,
}

/// What the engine's loop does its I/O with.
struct AgentIo {
    rx: Vec<RxSocket>,
    fast: Option<FastPathLink>,
    commands: mpsc::Receiver<Command>,
    wake: Arc<EventFd>,
    /// The poll set, kept across wakes: [wake, events?, rx...].
    poll_fds: Vec<libc::pollfd>,
    events_polled: bool,
    ports: SourcePorts,
    sessions: foldhash::HashMap<u16, SessionIo>,
    batch: Batcher,
    /// Peers' MACs and its place in the poll set: opened with the packet
    /// path, else at the first echo packet (absent until then: with
    /// neither, the engine is not woken by a node's neighbour churn).
    neighbours: Option<(NeighbourTable, usize)>,
    /// How control packets left: the fallbacks counted here, the sessions'
    /// own sockets' sends in `socket_sent` and `socket_refused`, the
    /// batches' in `batch`; all stored in `shared` after every flush.
    /// `transmit.packet_path`: control packets of single-hop sessions
    /// leave as frames when their neighbour is resolved (`--transmit
    /// packet|auto`, opened); the table alone (opened for echo) does not
    /// turn it on.
    transmit: TransmitCounters,
    socket_sent: u64,
    socket_refused: u64,
    shared_transmit: Arc<SharedTransmitCounters>,
    hook: Option<HookRunner>,
    routes: Option<RouteWorker>,
    observer: Option<tokio::sync::mpsc::UnboundedSender<StateReport>>,
    published: Publication,
    buffer: [u8; 512],
    /// The receive sockets' drops (`SO_RXQ_OVFL`), summed, for the handle.
    receive_dropped: Arc<AtomicU64>,
    /// When a growth of `receive_dropped` was last logged.
    receive_dropped_warned: Option<std::time::Instant>,
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
        observer: Option<tokio::sync::mpsc::UnboundedSender<StateReport>>,
        transmit: TransmitPath,
        kernel_answers: bool,
    ) -> anyhow::Result<(Engine, EngineHandle)> {
        let (commands_tx, commands) = mpsc::channel();
        let wake = Arc::new(
            EventFd::from_value_and_flags(0, EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)
                .context("creating an eventfd")?,
        );
        let mut seed = [0u8; 8];
        getrandom(&mut seed)?;
        let options = DispatcherOptions {
            fast_path: fast.is_some(),
            xdp_ifindexes: fast.as_ref().map(|fast| fast.ifindexes.clone()).unwrap_or_default(),
            routes: routes.is_some(),
            hook: hook.is_some(),
            observer: observer.is_some(),
            kernel_answers,
            max_sessions: fast.is_some().then_some(bfd_common::maps::MAX_SESSIONS),
        };
        let pollfd = |fd: RawFd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        let mut poll_fds = vec![pollfd(wake.as_fd().as_raw_fd())];
        if let Some(fast) = &fast {
            poll_fds.push(pollfd(fast.events.as_fd().as_raw_fd()));
        }
        poll_fds.extend(rx.iter().map(|socket| pollfd(socket.as_fd().as_raw_fd())));
        let published: Publication = Arc::new(Mutex::new(Arc::new(Published::empty())));
        let shared_transmit = Arc::new(SharedTransmitCounters::default());
        let receive_dropped = Arc::new(AtomicU64::new(0));
        let mut batch = Batcher::open();
        let neighbours = match transmit {
            TransmitPath::Udp => None,
            TransmitPath::Packet | TransmitPath::Auto => {
                let opened = batch
                    .open_packet_path()
                    .context("opening an AF_PACKET socket with PACKET_QDISC_BYPASS (CAP_NET_RAW)")
                    .and_then(|()| NeighbourTable::open());
                match (opened, transmit) {
                    (Ok(table), _) => {
                        info!(
                            "transmit path: Ethernet frames through a packet socket for single-hop sessions whose neighbour is resolved"
                        );
                        poll_fds.push(pollfd(table.as_raw_fd()));
                        Some((table, poll_fds.len() - 1))
                    }
                    (Err(error), TransmitPath::Packet) => {
                        return Err(error.context("--transmit packet (spec.transmit: packet)"));
                    }
                    (Err(error), _) => {
                        warn!(
                            error = format!("{error:#}"),
                            "transmit path: the packet path cannot be opened; sending through IP output"
                        );
                        None
                    }
                }
            }
        };
        let io = AgentIo {
            events_polled: fast.is_some(),
            rx,
            fast,
            commands,
            wake: wake.clone(),
            poll_fds,
            ports: SourcePorts::default(),
            sessions: foldhash::HashMap::default(),
            batch,
            transmit: TransmitCounters { packet_path: neighbours.is_some(), ..TransmitCounters::default() },
            neighbours,
            socket_sent: 0,
            socket_refused: 0,
            shared_transmit: shared_transmit.clone(),
            hook,
            routes,
            observer,
            published: published.clone(),
            buffer: [0; 512],
            receive_dropped: receive_dropped.clone(),
            receive_dropped_warned: None,
        };
        if io.batch.available(false) && io.batch.available(true) {
            debug!("control packets due together leave in one sendmmsg per address family");
        } else {
            warn!("no raw socket (CAP_NET_RAW): each control packet is sent on its own");
        }
        let mut engine = Engine { dispatcher: Dispatcher::new(options, u64::from_ne_bytes(seed)), io };
        engine.io.publish_transmit_counters();
        let handle = EngineHandle {
            commands: commands_tx,
            wake,
            published,
            transmit: shared_transmit,
            receive_dropped,
        };
        Ok((engine, handle))
    }

    /// Takes over the sessions an earlier agent left (the first packets due
    /// by then leave before this returns), then acts on the detection events
    /// that waited in the ring buffer while no agent ran. Returns how many
    /// were adopted.
    ///
    /// Each session's peer hears nothing from us between the kernel's last
    /// answer for it and our first packet, one jittered interval after that
    /// answer (§6.8.7), or at once if that is past. The kernel answers
    /// until the lease is renewed, so the peer's gap is about an interval
    /// plus the time from that renewal until the session's first packet
    /// is scheduled, and it must stay inside the peer's Detection Time (at
    /// 50 ms x 3: 100 ms). So everything slow is done while the kernel
    /// still answers: every session's socket, its restore (with the time
    /// of the restore as its last transmission: nothing due yet) and its
    /// map writes. Then the lease is renewed, and each session only reads
    /// when the kernel last answered for it and schedules its first packet
    /// from that ([`Session::resume_from`]). The lease is renewed every
    /// [`ADOPT_CHUNK`] sessions, so that an adoption longer than one lease
    /// does not let the kernel answer again behind sessions already paced
    /// from its last answer. Measured at 4200 sessions (release build):
    /// 112 ms from the renewal to the last session's schedule when every
    /// step came after the renewal.
    ///
    /// [`Session::resume_from`]: bfd_session::Session::resume_from
    pub fn adopt(&mut self, adoptions: Vec<Adoption>) -> usize {
        let started = monotonic_now();
        // The previous agent's last engine deadline: it sent nothing after
        // it (its lease ran to it plus LEASE_SLACK).
        let previous_deadline = self
            .io
            .fast
            .as_ref()
            .and_then(|fast| fast.lease.as_ref())
            .map(|lease| lease.valid_until())
            .filter(|until| *until != 0)
            .map(|until| {
                bfd_session::Time::from_nanos(until.saturating_sub(bfd_common::maps::LEASE_SLACK_NS))
            })
            // A deadline still ahead: the previous agent's last packet was
            // no later than now.
            .map(|deadline| deadline.min(started));
        // While the kernel still answers for the sessions: their sockets,
        // with the same source port as before (RFC 5881 §4 asks only that
        // it be unique; keeping it keeps the peer's view unchanged), their
        // restores and their map writes.
        let mut adopted: Vec<(u32, Option<Time>)> = Vec::with_capacity(adoptions.len());
        for Adoption { spec, mut adoptable, kernel_generation } in adoptions {
            let identity = spec.key();
            self.io.ports.prefer = Some(adoptable.source_port);
            let transport = match self.io.open(&spec) {
                Ok(transport) => transport,
                Err(error) => {
                    warn!(session = %identity, %error, "an adopted session's socket could not be opened");
                    continue;
                }
            };
            // RFC 5880 §6.8.7's spacing from our last packet. A previous
            // agent that handed over said when it sent it; one that was
            // killed did not, but sent nothing after its last deadline. The
            // kernel's answers since are read once it has stopped (below).
            let known_last_tx = adoptable.restored.last_tx.or(previous_deadline);
            let now = monotonic_now();
            adoptable.restored.last_tx = Some(now);
            match self.dispatcher.adopt(
                now,
                bfd_user::engine::Origin::Config,
                spec,
                &adoptable,
                transport,
                kernel_generation,
            ) {
                Ok(discr) => adopted.push((discr, known_last_tx)),
                Err(error) => {
                    warn!(session = %identity, %error, "the session could not be adopted");
                    self.io.execute(Effect::Close { discr: 0, transport });
                }
            }
        }
        self.io.ports.prefer = None;
        // A restore sends nothing yet but a Poll for a changed
        // configuration (§6.8.3): held until the kernel has stopped.
        let mut held = Vec::new();
        for effect in self.dispatcher.effects() {
            match effect {
                Effect::Transmit { .. }
                | Effect::TransmitEcho { .. }
                | Effect::HandTransmissionOver { .. } => {
                    held.push(effect);
                }
                effect => self.io.execute(effect),
            }
        }
        let restored = monotonic_now();
        for chunk in adopted.chunks(ADOPT_CHUNK) {
            // From here this agent transmits: the kernel stops answering for
            // the previous one (renewed each chunk: adoption may take longer
            // than one lease; the loop renews it from its first wake).
            self.io.renew_lease(None);
            let now = monotonic_now();
            for &(discr, known_last_tx) in chunk {
                // The kernel may have answered for the session while no
                // agent ran (its keepalive, issue 17), up to the renewal
                // just above: the first packet is paced from the latest.
                let answered = self
                    .io
                    .fast
                    .as_ref()
                    .and_then(|fast| fast.maps.keepalive_last_tx(discr))
                    .map(bfd_session::Time::from_nanos);
                let last_tx = known_last_tx.max(answered);
                self.dispatcher.resume(discr, last_tx, now);
            }
        }
        for effect in held.into_iter().chain(self.dispatcher.effects()) {
            self.io.execute(effect);
        }
        self.io.flush();
        let resumed = monotonic_now();
        let adopted = adopted.len();
        let now = resumed;
        // §6.8.4 detections that fired while no agent ran: acted on now,
        // before the configuration is applied.
        let mut inputs = Vec::new();
        self.io.read_events(&mut inputs);
        // Our echoes stopped because no agent sent them: an echo timer that
        // fired meanwhile says nothing about the path (issue 17).
        let before = inputs.len();
        inputs.retain(|input| {
            !matches!(input, Input::Kernel(event) if event.kind == bfd_common::maps::EVENT_ECHO_TIMEOUT)
        });
        let echo_ignored = before - inputs.len();
        let waiting = inputs.len();
        for input in inputs {
            let io = &mut self.io;
            self.dispatcher.handle(now, input, &mut |spec| io.open(spec));
        }
        for effect in self.dispatcher.effects() {
            self.io.execute(effect);
        }
        self.io.flush();
        if let Some(published) = self.dispatcher.publication(now) {
            self.io.publish(published);
        }
        info!(
            adopted,
            detection_events = waiting,
            echo_timeouts_ignored = echo_ignored,
            restore_ms = restored.saturating_since(started).as_secs_f64() * 1e3,
            resume_ms = resumed.saturating_since(restored).as_secs_f64() * 1e3,
            "sessions adopted from the previous agent"
        );
        // The previous agent's sweep kept running; this build's replaces it
        // (on a thread of its own: the engine sends meanwhile).
        if let Some(fast) = self.io.fast.as_ref() {
            crate::agent::start_sweep(&fast.maps);
        }
        adopted
    }

    /// Runs until [`Command::Shutdown`] and every goodbye is said, or
    /// [`Command::Handover`]; returns, after a handover, each session's
    /// discriminator and when it last transmitted (`CLOCK_MONOTONIC`).
    pub fn run(mut self) -> Vec<(u32, Time)> {
        bfd_user::engine::run(&mut self.dispatcher, &mut self.io);
        debug!(
            calls = self.io.batch.calls,
            packets = self.io.batch.packets,
            errors = self.io.batch.errors,
            transmit = ?self.io.shared_transmit.load(),
            "batched transmissions"
        );
        debug!("BFD engine stopped");
        let handed_over = self.dispatcher.handed_over().to_vec();
        if !handed_over.is_empty() {
            self.io.hand_over_to_kernel(&handed_over);
        }
        handed_over
    }
}

impl AgentIo {
    /// Sleeps in `ppoll(2)` until a descriptor is readable or `timeout`.
    fn poll(&mut self, deadline: Option<Time>) {
        let timeout = deadline.map(|at| {
            let wait = at.saturating_since(monotonic_now());
            libc::timespec {
                tv_sec: wait.as_secs() as libc::time_t,
                tv_nsec: wait.subsec_nanos() as libc::c_long,
            }
        });
        for fd in &mut self.poll_fds {
            fd.revents = 0;
        }
        let timeout_ptr = timeout.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `poll_fds` is a live, exclusively borrowed array of
        // `poll_fds.len()` initialised pollfd structures whose descriptors
        // this struct owns (the eventfd, the ring buffer, the sockets) for as
        // long as it lives; `timeout_ptr` is null or points at `timeout`,
        // which outlives the call; a null signal mask leaves it unchanged.
        let result = unsafe {
            libc::ppoll(
                self.poll_fds.as_mut_ptr(),
                self.poll_fds.len() as libc::nfds_t,
                timeout_ptr,
                std::ptr::null(),
            )
        };
        if result < 0 {
            let error = std::io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::EINTR) {
                warn!(%error, "ppoll failed");
            }
        }
    }

    /// The agent runs until `deadline` (or a second from now) and
    /// [`LEASE_SLACK`]: until then the kernel does not answer for it.
    fn renew_lease(&mut self, deadline: Option<Time>) {
        if let Some(lease) = self.fast.as_mut().and_then(|fast| fast.lease.as_mut()) {
            let now = monotonic_now();
            let until = deadline.map_or(now + std::time::Duration::from_secs(1), |at| at.max(now));
            lease.renew((until + LEASE_SLACK).as_nanos());
        }
    }

    /// After a handover (the loop has ended: nothing more leaves this
    /// agent): the kernel answers from now on, each session paced by
    /// RFC 5880 §6.8.7 from its own last packet. Left to the lease, the
    /// kernel would wait for the engine's next deadline and
    /// [`LEASE_SLACK`] and answer only the peer's first packet after that:
    /// up to an interval, the slack and the peer's interval after our last
    /// packet, 150 ms at 50 ms, a peer's whole Detection Time at 50 ms x 3
    /// (BIRD 2.0 detected one such gap in CI).
    fn hand_over_to_kernel(&mut self, handed_over: &[(u32, Time)]) {
        let Some(fast) = self.fast.as_mut() else { return };
        for &(discr, last_tx) in handed_over {
            // The kernel's own later answer (a session it answered for) stays.
            let last_tx = last_tx.as_nanos().max(fast.maps.keepalive_last_tx(discr).unwrap_or(0));
            if let Err(error) = fast.maps.set_keepalive_last_tx(discr, last_tx) {
                warn!(discr, %error, "telling the kernel when the session last sent");
            }
        }
        // Expired: the program's bound on an absent agent counts from here,
        // and its pacing from the agent's side (the lease less its slack) is
        // older than each session's own last packet, written above.
        if let Some(lease) = fast.lease.as_mut() {
            lease.renew(monotonic_now().as_nanos());
        }
    }

    /// Every detection event waiting in the ring buffer.
    fn read_events(&mut self, inputs: &mut Vec<Input>) {
        while let Some(fast) = self.fast.as_mut() {
            match fast.events.next() {
                Ok(Some(event)) => inputs.push(Input::Kernel(event)),
                Ok(None) => break,
                Err(error) => {
                    warn!(%error, "reading the kernel's detection events");
                    break;
                }
            }
        }
    }

    fn readable(&self, index: usize) -> bool {
        self.poll_fds.get(index).is_some_and(|fd| fd.revents != 0)
    }

    fn transmit(
        &mut self,
        transport: Transport,
        ifindex: Option<u32>,
        packet: &bfd_common::wire::ControlRepr,
    ) {
        let Some(session) = self.sessions.get_mut(&transport.source_port) else { return };
        let mut bytes = [0u8; bfd_user::engine::MAX_CONTROL_PACKET];
        let len = packet.buffer_len();
        packet.emit(&mut bfd_common::wire::ControlPacket::new_unchecked(&mut bytes[..len]));
        // A frame to the neighbour's MAC for a single-hop session on the
        // packet path (RFC 5881 §4: the peer is on the link); else queued
        // for this wake's sendmmsg batch when possible.
        if let Some((source, destination, scope)) = transport.route {
            if self.transmit.packet_path
                && ifindex.is_none()
                && destination.port() == bfd_common::CONTROL_PORT
            {
                // A single-hop session whose link the peer's first packet
                // has not told yet.
                self.transmit.fallback_link_unknown += 1;
            }
            if let (true, Some((neighbours, _)), Some(ifindex)) =
                (self.transmit.packet_path, self.neighbours.as_mut(), ifindex)
                && destination.port() == bfd_common::CONTROL_PORT
            {
                match neighbours.next_hop(ifindex, destination.ip(), std::time::Instant::now()) {
                    NextHop::Frame { source: ours, destination: theirs } => {
                        let ethernet =
                            bfd_common::wire::EthernetRepr::ip(theirs, ours, destination.is_ipv6());
                        if self.batch.queue_frame(ifindex, ethernet, source, destination, &bytes[..len]) {
                            return;
                        }
                    }
                    NextHop::Kernel(Fallback::Unresolved) => self.transmit.fallback_unresolved += 1,
                    NextHop::Kernel(Fallback::Stale) => self.transmit.fallback_stale += 1,
                    NextHop::Kernel(Fallback::NotEthernet) => self.transmit.fallback_not_ethernet += 1,
                }
            }
            if self.batch.queue(source, destination, scope, &bytes[..len]) {
                return;
            }
        }
        let sent = session.tx.send(&bytes[..len]);
        match sent {
            Ok(_) => self.socket_sent += 1,
            Err(_) => self.socket_refused += 1,
        }
        if let Err(error) = sent {
            session.send_errors += 1;
            // The first failure and then every 100th: a dead peer must not
            // flood the log.
            if session.send_errors % 100 == 1 {
                warn!(%error, errors = session.send_errors, "sending a control packet failed");
            }
        }
    }

    /// The neighbour table, opened (and polled from then on) at its first
    /// use when the packet path did not open it.
    fn neighbour_table(&mut self) -> anyhow::Result<&mut NeighbourTable> {
        if self.neighbours.is_none() {
            let table = NeighbourTable::open().context("reading the neighbour table")?;
            self.poll_fds.push(libc::pollfd { fd: table.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            self.neighbours = Some((table, self.poll_fds.len() - 1));
        }
        let Some((table, _)) = self.neighbours.as_mut() else { unreachable!("opened above") };
        Ok(table)
    }

    /// Sends one of our echo packets, as FRR does: see `echo`. Needs the
    /// session's link, our address and the peer's MAC; until all are known
    /// nothing is sent, and the echo timer (armed only by returns) does not
    /// run. The MAC is the neighbour table's at each packet: a peer whose
    /// MAC changes gets its echoes at the new one as soon as the kernel
    /// knows it.
    fn transmit_echo(
        &mut self,
        port: u16,
        ifindex: Option<u32>,
        local: Option<IpAddr>,
        peer: IpAddr,
        echo: &bfd_common::wire::EchoRepr,
    ) {
        let Some(session) = self.sessions.get_mut(&port) else { return };
        let (Some(ifindex), Some(local)) = (ifindex, local) else {
            if session.echo_errors == 0 {
                warn!(%peer, "echo needs a sourceAddress and the peer's link; not sending echo");
            }
            session.echo_errors += 1;
            return;
        };
        let peer_mac = self.neighbour_table().map(|table| table.mac(ifindex, peer));
        let Some(session) = self.sessions.get_mut(&port) else { return };
        let peer_mac = match peer_mac {
            Ok(Some(mac)) => mac,
            // As FRR: no echo while the peer's address is unresolved.
            Ok(None) => return,
            Err(error) => {
                session.echo_errors += 1;
                if session.echo_errors % 100 == 1 {
                    warn!(%peer, error = format!("{error:#}"), "echo packets cannot be sent");
                }
                return;
            }
        };
        if session.echo.is_none() {
            match EchoSender::open(ifindex, local) {
                Ok(sender) => session.echo = Some(sender),
                Err(error) => {
                    session.echo_errors += 1;
                    if session.echo_errors % 100 == 1 {
                        warn!(%peer, error = format!("{error:#}"), "echo packets cannot be sent");
                    }
                    return;
                }
            }
        }
        if let Some(sender) = &session.echo
            && let Err(error) = sender.send(echo, peer_mac)
        {
            session.echo_errors += 1;
            if session.echo_errors % 100 == 1 {
                warn!(%peer, error = format!("{error:#}"), "sending an echo packet failed");
            }
        }
    }

    /// Stores how control packets left for `show` and the metrics: a few
    /// relaxed stores a wake.
    fn publish_transmit_counters(&mut self) {
        let batch = &self.batch;
        self.transmit.frames = batch.frames;
        self.transmit.frames_refused = batch.frame_errors;
        self.transmit.ip_output = batch.packets - batch.frames + self.socket_sent;
        self.transmit.ip_output_refused = batch.errors - batch.frame_errors + self.socket_refused;
        self.shared_transmit.store(&self.transmit);
    }

    /// Publishes the receive sockets' drops and logs their growth, at most
    /// every 10 s: packets lost before the agent saw them (bring-up and
    /// changes with the fast path on; everything without it), which
    /// nothing else would show.
    fn note_receive_drops(&mut self) {
        let total: u64 = self.rx.iter().map(|socket| u64::from(socket.dropped())).sum();
        let before = self.receive_dropped.swap(total, Ordering::Relaxed);
        if total > before
            && self.receive_dropped_warned.is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(10))
        {
            self.receive_dropped_warned = Some(std::time::Instant::now());
            let buffers: Vec<usize> =
                self.rx.iter().filter_map(|socket| socket.receive_buffer().ok()).collect();
            warn!(
                dropped_total = total,
                receive_buffers = ?buffers,
                "control packets dropped at a receive socket: its buffer was full (the engine fell behind)"
            );
        }
    }

    fn hook(&mut self, event: ChangeEvent) {
        let Some(hook) = self.hook.as_mut() else { return };
        let ChangeEvent { spec, ifindex, discr, change } = event;
        let interface = super::interface_name(&spec, ifindex);
        hook.notify(vec![
            ("BFD_PEER", spec.peer.to_string()),
            ("BFD_LOCAL", spec.local.map(|ip| ip.to_string()).unwrap_or_default()),
            ("BFD_INTERFACE", interface.unwrap_or_default()),
            ("BFD_VRF", spec.vrf.clone().unwrap_or_else(|| "default".into())),
            ("BFD_MULTIHOP", u8::from(spec.multihop).to_string()),
            ("BFD_PROFILE", spec.profile.clone()),
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
}

impl EngineIo for AgentIo {
    fn now(&mut self) -> Time {
        monotonic_now()
    }

    fn wall_clock(&mut self) -> bfd_session::WallTime {
        let since_epoch =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        bfd_session::WallTime::from_unix_secs(since_epoch.as_secs())
    }

    fn wait(&mut self, deadline: Option<Time>, inputs: &mut Vec<Input>) {
        self.renew_lease(deadline);
        self.poll(deadline);
        if self.readable(0) {
            let _ = self.wake.read();
            while let Ok(command) = self.commands.try_recv() {
                inputs.push(Input::Command(command));
            }
        }
        if self.events_polled && self.readable(1) {
            self.read_events(inputs);
        }
        if let Some(index) = self.neighbours.as_ref().map(|(_, index)| *index)
            && self.readable(index)
            && let Some((neighbours, _)) = self.neighbours.as_mut()
        {
            neighbours.poll();
            // An overrun reads the table again on a new socket: poll that.
            self.poll_fds[index].fd = neighbours.as_raw_fd();
        }
        let first_rx = if self.events_polled { 2 } else { 1 };
        for index in 0..self.rx.len() {
            if !self.readable(first_rx + index) {
                continue;
            }
            loop {
                match self.rx[index].receive(&mut self.buffer) {
                    Ok(Some((len, arrival))) => match PacketBuf::new(&self.buffer[..len]) {
                        Some(packet) => inputs.push(Input::Control(packet, arrival)),
                        None => debug!(source = %arrival.source, len, "oversize control packet dropped"),
                    },
                    Ok(None) => break,
                    Err(error) => {
                        warn!(%error, "receiving control packets");
                        break;
                    }
                }
            }
        }
        self.note_receive_drops();
    }

    fn open(&mut self, spec: &PeerSpec) -> Result<Transport, String> {
        let mut open = || -> anyhow::Result<(Transport, TxSocket)> {
            let ifindex = match (&spec.interface, spec.multihop) {
                (Some(name), false) => Some(
                    nix::net::if_::if_nametoindex(name.as_str())
                        .with_context(|| format!("interface {name}"))?,
                ),
                _ => None,
            };
            let tx = TxSocket::open(
                spec.peer,
                spec.local,
                spec.interface.as_deref(),
                spec.multihop,
                &mut self.ports,
            )?;
            let scope = match spec.peer {
                IpAddr::V6(v6) if v6.is_unicast_link_local() => ifindex.unwrap_or(0),
                _ => 0,
            };
            let route = tx.addresses().map(|(source, destination)| (source, destination, scope));
            Ok((Transport { source_port: tx.source_port, route, ifindex }, tx))
        };
        let (transport, tx) = open().map_err(|error| format!("{error:#}"))?;
        self.sessions
            .insert(transport.source_port, SessionIo { tx, echo: None, send_errors: 0, echo_errors: 0 });
        Ok(transport)
    }

    fn execute(&mut self, effect: Effect) {
        match effect {
            Effect::Transmit { transport, ifindex, packet, .. } => self.transmit(transport, ifindex, &packet),
            Effect::TransmitEcho { transport, ifindex, local, peer, echo, .. } => {
                self.transmit_echo(transport.source_port, ifindex, local, peer, &echo);
            }
            Effect::SetFastPath { discr, entry } => {
                if let Some(fast) = self.fast.as_mut()
                    && let Err(error) = fast.maps.set_session(discr, &entry)
                {
                    warn!(discr, %error, "updating the session's fast-path entry");
                }
            }
            Effect::RemoveFastPath { discr } => {
                if let Some(fast) = self.fast.as_mut()
                    && let Err(error) = fast.maps.remove_session(discr)
                {
                    warn!(discr, %error, "removing the session's fast-path entry");
                }
            }
            Effect::AllowEcho { ifindex, peer, discr } => {
                if let Some(fast) = self.fast.as_mut()
                    && let Err(error) = fast.maps.add_echo_peer(ifindex, peer, discr)
                {
                    warn!(%peer, %error, "allowing the peer's echo");
                }
            }
            Effect::DisallowEcho { ifindex, peer } => {
                if let Some(fast) = self.fast.as_mut() {
                    let _ = fast.maps.remove_echo_peer(ifindex, peer);
                }
            }
            Effect::WithdrawRoutes { peer } => {
                if let Some(routes) = &self.routes {
                    routes.withdraw(peer);
                }
            }
            Effect::RestoreRoutes { peer } => {
                if let Some(routes) = &self.routes {
                    routes.restore(peer);
                }
            }
            Effect::Hook(event) => self.hook(event),
            Effect::Report(report) => {
                if let Some(observer) = &self.observer {
                    let _ = observer.send(report);
                }
            }
            Effect::Remember { discr, record } => {
                if let Some(fast) = self.fast.as_mut() {
                    if let Err(error) = fast.adopt.set(discr, &record) {
                        warn!(discr, %error, "writing the session's adoption record");
                    }
                    match bfd_user::adopt::keepalive(&record) {
                        Some(keepalive) => {
                            if let Err(error) = fast.maps.set_keepalive(discr, &keepalive) {
                                warn!(discr, %error, "writing the session's keepalive");
                            }
                        }
                        None => fast.maps.remove_keepalive(discr),
                    }
                }
            }
            Effect::Forget { discr } => {
                if let Some(fast) = self.fast.as_mut() {
                    fast.adopt.remove(discr);
                    fast.maps.remove_keepalive(discr);
                }
            }
            Effect::HandTransmissionOver { discr, last_tx } => {
                if let Some(fast) = self.fast.as_mut()
                    && let Err(error) = fast.maps.set_keepalive_last_tx(discr, last_tx.as_nanos())
                {
                    warn!(discr, %error, "handing the session's transmission to the kernel");
                }
            }
            Effect::Close { transport, .. } => {
                self.sessions.remove(&transport.source_port);
                self.ports.release(transport.source_port);
            }
        }
    }

    fn flush(&mut self) {
        self.batch.flush();
        self.publish_transmit_counters();
    }

    fn publish(&mut self, published: Arc<Published>) {
        match self.published.lock() {
            Ok(mut slot) => *slot = published,
            Err(poisoned) => *poisoned.into_inner() = published,
        }
    }
}

/// Fills `buffer` from the operating system's entropy (getrandom(2)).
fn getrandom(buffer: &mut [u8]) -> anyhow::Result<()> {
    use std::io::Read as _;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(buffer))
        .context("reading /dev/urandom for the session core's seed")
}
