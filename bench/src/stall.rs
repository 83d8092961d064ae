//! A probe for stalls of the machine itself: a thread that runs
//! SCHED_DEADLINE (nothing but another deadline task runs before it, not
//! even the fair server that preempts SCHED_FIFO) and sleeps 1 ms at a
//! time. A wake-up that comes `STALL` or more after it was due is a moment
//! when even such a thread could not run: a paused virtual CPU, or the
//! kernel itself (interrupts, softirqs). A flap or a late Down at such a
//! moment need not be the implementation's; the tables show the stalls
//! next to the figures.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use bfd_user::config::DeadlineBudget;

use crate::measure::realtime_us;

/// A wake-up this late is a stall.
pub const STALL: Duration = Duration::from_millis(2);
/// How long the probe sleeps between wake-ups.
const TICK: Duration = Duration::from_millis(1);
/// Its budget: far more than a wake-up costs.
const BUDGET: DeadlineBudget =
    DeadlineBudget { runtime: Duration::from_micros(50), period: Duration::from_millis(1) };

/// What the probe saw.
#[derive(Clone, Debug, Default)]
pub struct Stalls {
    /// Wake-ups at least [`STALL`] late.
    pub count: u64,
    /// The latest wake-up, ms beyond its due time.
    pub longest_ms: f64,
    /// Whether the probe ran SCHED_DEADLINE (if the kernel refused, it
    /// ran at normal priority and its figures say less).
    pub deadline: bool,
    /// Each stall, CLOCK_REALTIME µs: from when the wake-up was due to when
    /// it came (the packet captures' clock).
    pub spans_us: Vec<(u64, u64)>,
}

impl Stalls {
    /// Whether a stall overlapped `from_us..=to_us` (CLOCK_REALTIME µs).
    pub fn overlap(&self, from_us: u64, to_us: u64) -> bool {
        self.spans_us.iter().any(|&(start, end)| start <= to_us && end >= from_us)
    }

    /// As a table cell's text: `0`, or `3 (longest 12.4 ms)`.
    pub fn describe(&self) -> String {
        let policy = if self.deadline { "" } else { " (probe not SCHED_DEADLINE)" };
        if self.count == 0 {
            format!("0{policy}")
        } else {
            format!("{} (longest {:.1} ms){policy}", self.count, self.longest_ms)
        }
    }
}

/// A running probe; [`StallProbe::finish`] stops it.
pub struct StallProbe {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Stalls>>,
}

impl StallProbe {
    /// Starts the probe's thread.
    pub fn start() -> anyhow::Result<StallProbe> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new().name("stall-probe".into()).spawn({
            let stop = stop.clone();
            move || {
                let mut stalls =
                    Stalls { deadline: bfd_user::sched::set_deadline(BUDGET).is_ok(), ..Stalls::default() };
                while !stop.load(Ordering::Relaxed) {
                    let due = Instant::now() + TICK;
                    std::thread::sleep(TICK);
                    let late = Instant::now().saturating_duration_since(due);
                    if late >= STALL {
                        stalls.count += 1;
                        stalls.longest_ms = stalls.longest_ms.max(late.as_secs_f64() * 1000.0);
                        let end_us = realtime_us();
                        stalls.spans_us.push((end_us.saturating_sub(late.as_micros() as u64), end_us));
                    }
                }
                stalls
            }
        })?;
        Ok(StallProbe { stop, thread: Some(thread) })
    }

    /// Stops the probe and says what it saw.
    pub fn finish(mut self) -> Stalls {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|thread| thread.join().ok()).unwrap_or_default()
    }
}

impl Drop for StallProbe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
