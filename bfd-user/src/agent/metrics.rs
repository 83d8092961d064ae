//! The agent's side of the metrics endpoint: a [`Source`] that assembles
//! a [`Scrape`] from the engine's latest publication and the kernel's maps,
//! on the tokio side; the engine thread is never asked.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use bfd_session::Time;
use bfd_user::engine::{PUBLISH_EVERY, Snapshot};
use bfd_user::metrics::server::{Health, Readiness, Source};
use bfd_user::metrics::{AgentMetrics, Scrape, SessionLabels, SessionMetrics, StateChangeCount};
use tracing::debug;

use super::engine::{EngineHandle, monotonic_now};
use super::{KernelState, kernel_state};

/// The engine publishes at least every [`PUBLISH_EVERY`]; it is deemed
/// stuck when its publication is this many times older.
const STUCK_AFTER_PUBLICATIONS: u32 = 5;

/// What the agent's tokio side knows about itself, shared with the
/// endpoint.
#[derive(Debug, Default)]
pub struct AgentStatus {
    /// The configuration was applied at start.
    pub config_applied: AtomicBool,
    /// Reloads applied.
    pub reloads_succeeded: AtomicU64,
    /// Reloads that failed.
    pub reloads_failed: AtomicU64,
    /// The last load (start or reload) failed.
    pub last_reload_failed: AtomicBool,
    /// Why the last reload failed, until one succeeds.
    pub reload_error: std::sync::Mutex<Option<String>>,
    /// FRR's data-plane channel has at least one connection to bfdd.
    pub data_plane_connected: Arc<AtomicBool>,
}

impl AgentStatus {
    /// Counts a reload and its result (`Err` with why it failed).
    pub fn reloaded(&self, result: Result<(), String>) {
        let succeeded = result.is_ok();
        let counter = if succeeded { &self.reloads_succeeded } else { &self.reloads_failed };
        counter.fetch_add(1, Ordering::Relaxed);
        self.last_reload_failed.store(!succeeded, Ordering::Relaxed);
        if let Ok(mut error) = self.reload_error.lock() {
            *error = result.err();
        }
    }
}

/// The endpoint's source.
pub struct AgentSource {
    /// The engine's publications.
    pub handle: EngineHandle,
    /// The kernel's maps, if the fast path runs.
    pub kernel: KernelState,
    /// The agent's own status.
    pub status: Arc<AgentStatus>,
    /// Interfaces are configured for the XDP program (and not `noXdp`).
    pub fast_path_configured: bool,
    /// The XDP program is attached.
    pub fast_path_attached: bool,
    /// FRR's data-plane channel is configured (its address, for messages).
    pub data_plane: Option<String>,
}

impl Source for AgentSource {
    fn scrape(&self) -> Scrape {
        let published = self.handle.published();
        let now = monotonic_now();
        let wall = SystemTime::now();
        let started = Instant::now();
        // Every session's kernel state in a few batched reads, here on the
        // blocking pool; one lookup per session if that fails.
        let states =
            self.kernel.as_ref().filter(|_| published.sessions.iter().any(|s| s.fast_path)).and_then(
                |maps| match maps.lock().ok()?.session_states() {
                    Ok(states) => Some(states),
                    Err(error) => {
                        debug!(%error, "reading the kernel's session states in batches; one by one instead");
                        None
                    }
                },
            );
        let sessions = published
            .sessions
            .iter()
            .map(|snapshot| {
                let discriminator = snapshot.status.local_discr;
                let kernel = match (&states, snapshot.fast_path) {
                    (_, false) => None,
                    (Some(states), true) => states.get(&discriminator).copied(),
                    (None, true) => kernel_state(&self.kernel, discriminator),
                };
                session_metrics(snapshot, kernel, now, wall)
            })
            .collect::<Vec<_>>();
        debug!(
            sessions = sessions.len(),
            batched = states.is_some(),
            elapsed_us = started.elapsed().as_micros() as u64,
            "metrics: sessions and their kernel state read"
        );
        let kernel = self.kernel.as_ref().and_then(|maps| maps.lock().ok()?.stats().ok());
        let status = &self.status;
        Scrape {
            sessions,
            agent: AgentMetrics {
                engine_wakeups: published.engine.wakeups,
                engine_lateness: published.engine.lateness,
                reloads_succeeded: status.reloads_succeeded.load(Ordering::Relaxed),
                reloads_failed: status.reloads_failed.load(Ordering::Relaxed),
                last_reload_succeeded: status.config_applied.load(Ordering::Relaxed)
                    && !status.last_reload_failed.load(Ordering::Relaxed),
                data_plane_connected: self
                    .data_plane
                    .as_ref()
                    .map(|_| status.data_plane_connected.load(Ordering::Relaxed)),
                fast_path_attached: self.fast_path_attached,
                transmit: self.handle.transmit_counters(),
                receive_dropped: self.handle.receive_dropped(),
            },
            kernel,
        }
    }

    fn health(&self) -> Health {
        let published = self.handle.published();
        // The engine's clock is CLOCK_MONOTONIC, like `monotonic_now`; its
        // first publication is at Time::ZERO's "never".
        let engine_last_wake =
            (published.now != Time::ZERO).then(|| monotonic_now().saturating_since(published.now));
        Health {
            engine_last_wake,
            engine_wake_bound: PUBLISH_EVERY * STUCK_AFTER_PUBLICATIONS,
            config_applied: self.status.config_applied.load(Ordering::Relaxed),
            reload_error: self.status.reload_error.lock().ok().and_then(|error| error.clone()),
            fast_path: match (self.fast_path_configured, self.fast_path_attached) {
                (false, _) => Readiness::NotConfigured,
                (true, true) => Readiness::Ready,
                (true, false) => Readiness::NotReady(
                    "the XDP program is not attached (see the log); sessions run in userspace".into(),
                ),
            },
            data_plane: match &self.data_plane {
                None => Readiness::NotConfigured,
                Some(_) if self.status.data_plane_connected.load(Ordering::Relaxed) => Readiness::Ready,
                Some(address) => Readiness::NotReady(format!("not connected to bfdd ({address})")),
            },
        }
    }
}

/// One session's metrics from its snapshot.
fn session_metrics(
    snapshot: &Snapshot,
    kernel: Option<bfd_common::maps::SessionState>,
    now: Time,
    wall: SystemTime,
) -> SessionMetrics {
    let spec = &snapshot.spec;
    let status = snapshot.status;
    SessionMetrics {
        labels: SessionLabels {
            peer: spec.peer,
            local: spec.local,
            interface: super::interface_name(spec, snapshot.ifindex),
            vrf: spec.vrf.clone().unwrap_or_else(|| "default".to_owned()),
            multihop: spec.multihop,
            profile: spec.profile.clone(),
        },
        status,
        kernel,
        agent_rx: snapshot.userspace_rx,
        last_state_change: status
            .last_state_change
            .map(|at| wall.checked_sub(now.saturating_since(at)).unwrap_or(wall)),
        state_changes: snapshot
            .transitions
            .iter()
            .map(|&(from, to, diagnostic, count)| StateChangeCount { from, to, diagnostic, count })
            .collect(),
    }
}
