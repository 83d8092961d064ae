//! The agent as FRR bfdd's data plane (`bfdd --dplaneaddr`): bfdd says
//! which sessions exist (DP_ADD_SESSION / DP_DELETE_SESSION), the engine
//! runs them, and every state change goes back to bfdd (BFD_STATE_CHANGE),
//! which notifies bgpd and its other clients as it always does.
//!
//! The channel is not trusted to stay up, and Debian's FRR 8.4 gives it
//! reasons not to (shared/reference/frr-bfdd.md):
//! - bfdd queues registrations made in one go (at connect time, or while
//!   it reads a configuration) into an 8 KiB buffer before writing any, so
//!   one run registers at most 58 sessions; those that do not fit stay
//!   unregistered (or fall back to bfdd's own software, which cannot
//!   receive in this mode). When the agent connects, it opens one more
//!   channel after every full run: bfdd gives a new connection every
//!   session no channel holds. When bfdd connects (`ipv4c:`), it opens one
//!   channel only, and the log says what was lost.
//! - counter replies pile up in bfdd's input buffer: bfdd reclaims the
//!   space of messages it has read only after three in one call, or when
//!   its event loop reads the socket, and `show bfd peers counters` asks for
//!   every session in one call of its own; past about 100 replies it reads
//!   a full buffer as a closed connection. So every reply goes after two
//!   ECHO_REPLY messages, which bfdd ignores: the reply is then the third
//!   message of its call and bfdd reclaims the buffer. A probe
//!   (ECHO_REQUEST) after each run of requests makes its event loop read
//!   too.
//! - a channel closes: its sessions keep running (their peers must see
//!   nothing), the agent reconnects at once, and bfdd registers them again;
//!   a session registered again unchanged, even under a new lid (a
//!   restarted bfdd), is not touched. Nothing says when bfdd has registered
//!   everything (a restarted bfdd accepts the channel before it reads its
//!   configuration), so the sessions it has not registered again
//!   [`STALE_GRACE`] after the channel is back are taken down, as BGP
//!   graceful restart drops its stale routes.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use bfd_user::config::SessionIdentity;
use bfd_user::dplane::registry::{self, ChannelId, Registration, Registry};
use bfd_user::dplane::wire::{CountersRepr, Message, Reassembler};
use bfd_user::dplane::{Address, Endpoint};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use bfd_user::engine::{Command, Origin, StateReport};

use super::KernelState;
use super::engine::EngineHandle;

/// How long a run of registrations may pause before it is over.
const RUN_QUIET: Duration = Duration::from_millis(200);
/// Between connection attempts while bfdd is away.
const RECONNECT_INTERVAL: Duration = Duration::from_millis(500);
/// Between channel probes.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// After the last counters reply, the probe that makes bfdd reclaim its
/// input buffer.
const PROBE_AFTER_COUNTERS: Duration = Duration::from_millis(20);
/// A channel whose probes go unanswered this long is closed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long sessions of a lost channel wait to be registered again once a
/// channel is back, before they are taken down.
pub const STALE_GRACE: Duration = Duration::from_secs(60);
/// Bytes of a BFD control packet without authentication, and of an echo
/// packet: the counters bfdd asks for are in bytes as well as packets.
const BFD_PACKET_BYTES: u64 = 24;

type Writer = Pin<Box<dyn AsyncWrite + Send + Sync>>;
type Reader = Pin<Box<dyn AsyncRead + Send + Sync>>;

enum Event {
    Message(ChannelId, Message),
    Closed(ChannelId, String),
}

struct Channel {
    writer: Writer,
    /// The run of registrations in progress, if any.
    run: Option<Run>,
    next_probe: Instant,
    /// The oldest unanswered probe.
    probe_sent: Option<Instant>,
    /// When it opened, and how many sessions it registered.
    opened: Instant,
    registered: usize,
    probe_id: u16,
}

/// Registrations arriving together: one write of bfdd's buffer.
struct Run {
    adds: usize,
    quiet_until: Instant,
}

/// Serves the channel until the agent stops.
pub async fn serve(
    address: Address,
    handle: EngineHandle,
    kernel: KernelState,
    reports: mpsc::UnboundedReceiver<StateReport>,
    connected: Arc<AtomicBool>,
) {
    let listener = if address.connect {
        None
    } else {
        match Listener::bind(&address.endpoint).await {
            Ok(listener) => Some(listener),
            Err(error) => {
                warn!(%address, error = format!("{error:#}"), "the data-plane channel cannot listen; bfdd's sessions will not run");
                return;
            }
        }
    };
    info!(%address, mode = if address.connect { "connecting to bfdd" } else { "waiting for bfdd" }, "FRR bfdd data plane");
    let (events_tx, events) = mpsc::unbounded_channel();
    let connect_at = address.connect.then(Instant::now);
    let mut driver = Driver {
        address,
        handle,
        kernel,
        registry: Registry::new(),
        channels: HashMap::new(),
        next_channel: 1,
        events_tx,
        connect_at,
        dirty: false,
        to_report: Vec::new(),
        sweep_at: None,
        connected,
    };
    driver.run(listener, events, reports).await;
}

struct Driver {
    address: Address,
    handle: EngineHandle,
    /// The kernel's per-session state, for bfdd's counters.
    kernel: KernelState,
    registry: Registry,
    channels: HashMap<ChannelId, Channel>,
    next_channel: ChannelId,
    events_tx: mpsc::UnboundedSender<Event>,
    /// When to open another channel (connect mode).
    connect_at: Option<Instant>,
    /// The registry changed: the engine must be told.
    dirty: bool,
    /// Sessions bfdd registered again: it believes them Down.
    to_report: Vec<SessionIdentity>,
    /// When stale sessions are taken down.
    sweep_at: Option<Instant>,
    /// Whether a channel to bfdd is open, for the metrics and `/readyz`.
    connected: Arc<AtomicBool>,
}

impl Driver {
    async fn run(
        &mut self,
        listener: Option<Listener>,
        mut events: mpsc::UnboundedReceiver<Event>,
        mut reports: mpsc::UnboundedReceiver<StateReport>,
    ) {
        loop {
            let wake = self.next_timer();
            tokio::select! {
                Some(event) = events.recv() => {
                    self.handle_event(event).await;
                    // A burst arrives as many messages at once: take them
                    // all, then tell the engine once.
                    while let Ok(event) = events.try_recv() {
                        self.handle_event(event).await;
                    }
                }
                Some(report) = reports.recv() => self.report(&report.identity, &report.status).await,
                accepted = accept(listener.as_ref()) => match accepted {
                    Ok((reader, writer)) => {
                        info!("bfdd connected");
                        self.open(reader, writer);
                    }
                    Err(error) => warn!(%error, "accepting bfdd's connection"),
                },
                _ = tokio::time::sleep_until(wake) => self.timers().await,
            }
            self.settle().await;
            self.connected.store(!self.channels.is_empty(), Ordering::Relaxed);
        }
    }

    fn next_timer(&self) -> Instant {
        let far = Instant::now() + Duration::from_secs(3600);
        self.channels
            .values()
            .flat_map(|channel| {
                [
                    Some(channel.next_probe),
                    channel.run.as_ref().map(|run| run.quiet_until),
                    channel.probe_sent.map(|sent| sent + PROBE_TIMEOUT),
                ]
            })
            .chain([self.connect_at, self.sweep_at])
            .flatten()
            .min()
            .unwrap_or(far)
    }

    /// A new channel: its reader runs as its own task.
    fn open(&mut self, mut reader: Reader, writer: Writer) {
        let id = self.next_channel;
        self.next_channel += 1;
        let now = Instant::now();
        if self.registry.stale() > 0 {
            self.sweep_at = Some(now + STALE_GRACE);
        }
        self.channels.insert(
            id,
            Channel {
                writer,
                // A connection starts with bfdd's registration burst, even
                // an empty one.
                run: Some(Run { adds: 0, quiet_until: now + RUN_QUIET }),
                next_probe: now + PROBE_INTERVAL,
                probe_sent: None,
                probe_id: 0,
                opened: now,
                registered: 0,
            },
        );
        let events = self.events_tx.clone();
        tokio::spawn(async move {
            let mut reassembler = Reassembler::default();
            let mut buffer = vec![0u8; 16384];
            loop {
                let read = match reader.read(&mut buffer).await {
                    Ok(0) => {
                        let _ = events.send(Event::Closed(id, "bfdd closed the connection".into()));
                        return;
                    }
                    Ok(read) => read,
                    Err(error) => {
                        let _ = events.send(Event::Closed(id, error.to_string()));
                        return;
                    }
                };
                reassembler.push(&buffer[..read]);
                loop {
                    match reassembler.next_message() {
                        Ok(Some(message)) => {
                            if events.send(Event::Message(id, message)).is_err() {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(error) => {
                            let _ = events.send(Event::Closed(id, format!("unreadable message: {error}")));
                            return;
                        }
                    }
                }
            }
        });
        debug!(channel = id, "data-plane channel open");
    }

    async fn handle_event(&mut self, event: Event) {
        match event {
            Event::Message(channel, message) => self.handle_message(channel, message).await,
            Event::Closed(channel, reason) => self.lost(channel, &reason),
        }
    }

    fn lost(&mut self, channel: ChannelId, reason: &str) {
        let Some(closed) = self.channels.remove(&channel) else { return };
        if !self.address.connect && closed.registered == 0 && closed.opened.elapsed() < Duration::from_secs(1)
        {
            warn!(
                address = %self.address,
                "bfdd closed the channel right after connecting: FRR before 10.3 does so in every unixc:/ipv4c:/ipv6c: connection (fixed in 10.3); give both sides unix: or ipv4: instead, where the agent connects"
            );
        }
        let sessions = self.registry.channel_lost(channel);
        warn!(
            channel,
            reason,
            sessions,
            "data-plane channel lost; its sessions keep running until bfdd registers them again"
        );
        if self.address.connect {
            // At once: bfdd runs the sessions of a lost channel itself
            // until one takes them, and it cannot receive their packets.
            self.connect_at = Some(Instant::now());
        }
    }

    async fn handle_message(&mut self, channel: ChannelId, message: Message) {
        match message {
            Message::AddSession(session) => {
                if let Some(open) = self.channels.get_mut(&channel) {
                    open.registered += 1;
                    let run = open.run.get_or_insert(Run { adds: 0, quiet_until: Instant::now() });
                    run.adds += 1;
                    run.quiet_until = Instant::now() + RUN_QUIET;
                }
                match self.registry.add(channel, &session) {
                    Ok(registration) => {
                        let identity = registry::peer_spec(&session).map(|spec| spec.key()).ok();
                        debug!(channel, lid = session.lid, session = ?identity, ?registration, "DP_ADD_SESSION");
                        match registration {
                            Registration::New => self.dirty = true,
                            Registration::Again { previous_lid } | Registration::Changed { previous_lid } => {
                                if let Some(previous) = previous_lid {
                                    info!(lid = session.lid, previous_lid = previous, session = ?identity, "bfdd gave a running session a new lid; the session goes on unchanged");
                                }
                                if matches!(registration, Registration::Changed { .. }) {
                                    self.dirty = true;
                                }
                                self.to_report.extend(identity);
                            }
                        }
                    }
                    Err(error) => warn!(channel, %error, "DP_ADD_SESSION refused"),
                }
            }
            Message::DeleteSession(session) => {
                let identity = self.registry.delete(session.lid);
                debug!(channel, lid = session.lid, session = ?identity, "DP_DELETE_SESSION");
                if identity.is_some() {
                    self.dirty = true;
                }
            }
            Message::CountersRequest { id, lid } => {
                let counters = self.counters(lid).await;
                // Two messages bfdd ignores, then the reply: see the module
                // documentation.
                let padding = Message::EchoReply { id: 0, dp_time: 0, bfdd_time: 0 };
                let mut bytes = Vec::with_capacity(3 * 80);
                padding.emit(&mut bytes);
                padding.emit(&mut bytes);
                Message::Counters { id, counters }.emit(&mut bytes);
                self.write_bytes(channel, &bytes).await;
                if let Some(channel) = self.channels.get_mut(&channel) {
                    channel.next_probe = channel.next_probe.min(Instant::now() + PROBE_AFTER_COUNTERS);
                }
            }
            Message::EchoRequest { id, dp_time, .. } => {
                let reply = Message::EchoReply { id, dp_time, bfdd_time: micros_now() };
                self.write(channel, &reply).await;
            }
            Message::EchoReply { .. } => {
                if let Some(channel) = self.channels.get_mut(&channel) {
                    channel.probe_sent = None;
                }
            }
            Message::StateChange(_) | Message::Counters { .. } | Message::Unknown { .. } => {
                debug!(channel, ?message, "ignored: bfdd does not send this to its data plane");
            }
        }
    }

    /// Tells the engine what changed, then bfdd the state of the sessions it
    /// registered again.
    async fn settle(&mut self) {
        if self.dirty {
            self.dirty = false;
            match super::apply(&self.handle, Origin::DataPlane, &self.registry.specs()).await {
                Ok(summary) => info!(%summary, sessions = self.registry.len(), "bfdd's sessions applied"),
                Err(error) => warn!(error = format!("{error:#}"), "bfdd's sessions not applied"),
            }
        }
        for identity in std::mem::take(&mut self.to_report) {
            if let Some(snapshot) = self.snapshot(&identity).await {
                self.report(&identity, &snapshot.status).await;
            }
        }
    }

    async fn timers(&mut self) {
        let now = Instant::now();
        // Runs of registrations that are over.
        let mut finished = Vec::new();
        for (id, channel) in &mut self.channels {
            if let Some(run) = &channel.run
                && run.quiet_until <= now
            {
                finished.push((*id, run.adds));
                channel.run = None;
            }
        }
        for (id, adds) in finished {
            self.run_over(id, adds);
        }
        // Probes, and channels that stopped answering them.
        let mut dead = Vec::new();
        let mut probes = Vec::new();
        for (id, channel) in &mut self.channels {
            if channel.probe_sent.is_some_and(|sent| sent + PROBE_TIMEOUT <= now) {
                dead.push(*id);
            } else if channel.next_probe <= now {
                channel.next_probe = now + PROBE_INTERVAL;
                channel.probe_id = channel.probe_id.wrapping_add(1).max(1);
                channel.probe_sent.get_or_insert(now);
                probes.push((*id, channel.probe_id));
            }
        }
        for id in dead {
            self.lost(id, "bfdd stopped answering probes");
        }
        for (id, probe_id) in probes {
            self.write(id, &Message::EchoRequest { id: probe_id, dp_time: micros_now(), bfdd_time: 0 }).await;
        }
        let registering = self.channels.values().any(|channel| channel.run.is_some());
        if self.sweep_at.is_some_and(|at| at <= now) {
            if registering {
                self.sweep_at = Some(now + RUN_QUIET);
            } else {
                self.sweep();
            }
        }
        if self.address.connect && self.connect_at.is_some_and(|at| at <= now) {
            self.connect_at = None;
            match connect(&self.address.endpoint).await {
                Ok((reader, writer)) => {
                    info!(address = %self.address, channels = self.channels.len() + 1, "connected to bfdd");
                    self.open(reader, writer);
                }
                Err(error) => {
                    if self.channels.is_empty() {
                        debug!(address = %self.address, %error, "bfdd is not there yet");
                    } else {
                        warn!(address = %self.address, %error, "opening another channel to bfdd");
                    }
                    self.connect_at = Some(now + RECONNECT_INTERVAL);
                }
            }
        }
    }

    fn run_over(&mut self, channel: ChannelId, adds: usize) {
        let cut = registry::burst_was_cut(adds);
        info!(
            channel,
            registered = adds,
            sessions = self.registry.len(),
            cut,
            "a run of registrations is over"
        );
        if cut {
            if self.address.connect {
                // Another connection gets the sessions no channel holds.
                self.connect_at.get_or_insert(Instant::now());
            } else {
                warn!(
                    registered = adds,
                    "bfdd's registrations filled its 8 KiB buffer: sessions beyond these are not registered until bfdd reconnects (an FRR bug); use the unix:/ipv4: form, where the agent opens another channel"
                );
            }
        }
    }

    /// Takes down the sessions bfdd has not registered again in time.
    fn sweep(&mut self) {
        self.sweep_at = None;
        let gone = self.registry.sweep_stale();
        if gone.is_empty() {
            return;
        }
        warn!(
            sessions = gone.len(),
            grace_s = STALE_GRACE.as_secs(),
            "bfdd has not registered these again: taking them down"
        );
        for identity in &gone {
            info!(session = %identity, "session no longer in bfdd");
        }
        self.dirty = true;
    }

    async fn report(&mut self, identity: &SessionIdentity, status: &bfd_session::SessionStatus) {
        let Some((lid, channel)) = self.registry.lid(identity) else { return };
        let message = Message::StateChange(registry::state_change(lid, status));
        // bfdd finds the session by lid on any channel; its own is best.
        let channel = if self.channels.contains_key(&channel) {
            Some(channel)
        } else {
            self.channels.keys().next().copied()
        };
        if let Some(channel) = channel {
            self.write(channel, &message).await;
        }
    }

    /// The session's snapshot from the engine, with the kernel's state.
    async fn snapshot(&self, identity: &SessionIdentity) -> Option<bfd_user::engine::Snapshot> {
        let (reply, snapshot) = tokio::sync::oneshot::channel();
        self.handle.send(Command::Snapshot(identity.clone(), reply)).ok()?;
        let snapshot = snapshot.await.ok().flatten()?;
        let state = super::kernel_state(&self.kernel, snapshot.status.local_discr);
        Some(snapshot.with_kernel(state))
    }

    /// The counters bfdd asks for; zeros for a session we do not know, since
    /// bfdd waits for an answer whatever it is.
    async fn counters(&self, lid: u32) -> CountersRepr {
        let mut counters = CountersRepr { lid, ..CountersRepr::default() };
        let Some(identity) = self.registry.identity(lid).cloned() else { return counters };
        let Some(snapshot) = self.snapshot(&identity).await else { return counters };
        let report = super::report::report(&snapshot).counters;
        counters.control_input_packets = report.control_packet_input;
        counters.control_output_packets = report.control_packet_output;
        counters.echo_input_packets = report.echo_packet_input;
        counters.echo_output_packets = report.echo_packet_output;
        counters.control_input_bytes = report.control_packet_input * BFD_PACKET_BYTES;
        counters.control_output_bytes = report.control_packet_output * BFD_PACKET_BYTES;
        counters.echo_input_bytes = report.echo_packet_input * BFD_PACKET_BYTES;
        counters.echo_output_bytes = report.echo_packet_output * BFD_PACKET_BYTES;
        counters
    }

    async fn write(&mut self, channel: ChannelId, message: &Message) {
        self.write_bytes(channel, &message.to_bytes()).await;
    }

    async fn write_bytes(&mut self, channel: ChannelId, bytes: &[u8]) {
        let Some(open) = self.channels.get_mut(&channel) else { return };
        let result = open.writer.write_all(bytes).await;
        if let Err(error) = result {
            self.lost(channel, &format!("writing: {error}"));
        }
    }
}

fn micros_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

async fn connect(endpoint: &Endpoint) -> anyhow::Result<(Reader, Writer)> {
    match endpoint {
        Endpoint::Unix(path) => {
            let stream = tokio::net::UnixStream::connect(path)
                .await
                .with_context(|| format!("connecting to {}", path.display()))?;
            let (reader, writer) = stream.into_split();
            Ok((Box::pin(reader), Box::pin(writer)))
        }
        Endpoint::Tcp(address) => {
            let stream = tokio::net::TcpStream::connect(address)
                .await
                .with_context(|| format!("connecting to {address}"))?;
            stream.set_nodelay(true)?;
            let (reader, writer) = stream.into_split();
            Ok((Box::pin(reader), Box::pin(writer)))
        }
    }
}

enum Listener {
    Unix(tokio::net::UnixListener),
    Tcp(tokio::net::TcpListener),
}

impl Listener {
    async fn bind(endpoint: &Endpoint) -> anyhow::Result<Listener> {
        Ok(match endpoint {
            Endpoint::Unix(path) => {
                // A socket file left by a previous run would refuse the bind.
                let _ = std::fs::remove_file(path);
                Listener::Unix(
                    tokio::net::UnixListener::bind(path)
                        .with_context(|| format!("binding {}", path.display()))?,
                )
            }
            Endpoint::Tcp(address) => Listener::Tcp(
                tokio::net::TcpListener::bind(address).await.with_context(|| format!("binding {address}"))?,
            ),
        })
    }
}

/// The next connection from bfdd; never, without a listener.
async fn accept(listener: Option<&Listener>) -> std::io::Result<(Reader, Writer)> {
    match listener {
        None => std::future::pending().await,
        Some(Listener::Unix(listener)) => {
            let (stream, _) = listener.accept().await?;
            let (reader, writer) = stream.into_split();
            Ok((Box::pin(reader), Box::pin(writer)))
        }
        Some(Listener::Tcp(listener)) => {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            let (reader, writer) = stream.into_split();
            Ok((Box::pin(reader), Box::pin(writer)))
        }
    }
}
