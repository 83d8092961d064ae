//! The state-change hook: a command the agent runs on every session state
//! change, with the change in its environment. It runs on a thread of its
//! own, one change at a time in order, each with a time limit; its failures
//! are logged and it never holds up BFD (a full queue drops the change and
//! says so).

use std::process::{Command, Stdio};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use bfd_user::config::HookSettings;
use tracing::{debug, warn};

/// Changes waiting for the hook; beyond this the agent drops them rather
/// than wait.
const QUEUE: usize = 1024;

/// The environment of one run: `BFD_*` variables.
pub type HookEnvironment = Vec<(&'static str, String)>;

/// Runs the hook for each change it is given.
pub struct HookRunner {
    queue: SyncSender<HookEnvironment>,
    dropped: u64,
}

impl HookRunner {
    /// Starts the hook's thread.
    pub fn start(settings: HookSettings) -> std::io::Result<HookRunner> {
        let (queue, changes) = mpsc::sync_channel::<HookEnvironment>(QUEUE);
        std::thread::Builder::new().name("bfd-hook".into()).spawn(move || {
            for environment in changes {
                run_once(&settings, &environment);
            }
        })?;
        Ok(HookRunner { queue, dropped: 0 })
    }

    /// Queues a run; never blocks.
    pub fn notify(&mut self, environment: HookEnvironment) {
        match self.queue.try_send(environment) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped += 1;
                if self.dropped % 100 == 1 {
                    warn!(dropped = self.dropped, "the hook is too slow: state changes dropped");
                }
            }
            Err(TrySendError::Disconnected(_)) => warn!("the hook's thread has stopped"),
        }
    }
}

/// Runs the hook once, killing it after its time limit.
fn run_once(settings: &HookSettings, environment: &HookEnvironment) {
    let Some((program, arguments)) = settings.command.split_first() else { return };
    let started = Instant::now();
    let mut child = match Command::new(program)
        .args(arguments)
        .envs(environment.iter().map(|(key, value)| (*key, value.as_str())))
        .stdin(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(error) => {
            warn!(program, %error, "the hook could not be started");
            return;
        }
    };
    // The hook thread has nothing else to do: waiting in small steps for a
    // process that may need killing is simplest (BFD is not on this thread).
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => {
                debug!(program, elapsed_ms = started.elapsed().as_millis() as u64, "hook ran");
                return;
            }
            Ok(Some(status)) => {
                warn!(program, %status, "the hook failed");
                return;
            }
            Ok(None) if started.elapsed() >= settings.timeout => {
                let _ = child.kill();
                let _ = child.wait();
                warn!(
                    program,
                    timeout_s = settings.timeout.as_secs(),
                    "the hook took too long and was killed"
                );
                return;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(error) => {
                warn!(program, %error, "waiting for the hook");
                return;
            }
        }
    }
}
