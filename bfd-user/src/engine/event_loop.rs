//! The engine's loop, over whatever does its I/O.
//!
//! One wake: take the inputs that arrived, fire the timers that are due,
//! carry out every effect and send what they queued (one system call per
//! address family), publish if due, and only then sleep until the next
//! deadline or input. The order is the point: an effect carried out after
//! the sleep would leave when something else happens to wake the engine
//! (a packet, the next timer), which is how userspace-timed sessions once
//! sent their periodic packets in bursts after the peer's and their Down a
//! second late. The tests drive this very function on a simulated clock.

use std::sync::Arc;

use bfd_session::{Time, WallTime};

use super::{Dispatcher, Effect, Input, Published, Transport};
use crate::config::PeerSpec;

/// The I/O of the engine's loop.
pub trait EngineIo {
    /// The current time (`CLOCK_MONOTONIC` in the agent).
    fn now(&mut self) -> Time;

    /// The wall-clock time (`CLOCK_REALTIME`), for authentication keys'
    /// lifetimes; read about once a minute.
    fn wall_clock(&mut self) -> WallTime;

    /// Sleeps until an input arrives or `deadline` passes (forever if
    /// `None`), then appends every input that is ready to `inputs`.
    fn wait(&mut self, deadline: Option<Time>, inputs: &mut Vec<Input>);

    /// Sets up what a new session sends with (its socket and port).
    fn open(&mut self, spec: &PeerSpec) -> Result<Transport, String>;

    /// Carries out one effect; transmissions may be queued until
    /// [`flush`](Self::flush).
    fn execute(&mut self, effect: Effect);

    /// Sends everything queued.
    fn flush(&mut self);

    /// Makes a publication available to other threads.
    fn publish(&mut self, published: Arc<Published>);
}

/// How many inputs one wake usually carries: the buffer is allocated once.
const INPUTS_PER_WAKE: usize = 256;

/// Runs `dispatcher` over `io` until it is finished (shut down and every
/// goodbye said).
pub fn run(dispatcher: &mut Dispatcher, io: &mut impl EngineIo) {
    let mut inputs: Vec<Input> = Vec::with_capacity(INPUTS_PER_WAKE);
    loop {
        let now = io.now();
        dispatcher.woke(now);
        if dispatcher.wall_clock_due(now) {
            dispatcher.set_wall_clock(now, io.wall_clock());
        }
        for input in inputs.drain(..) {
            dispatcher.handle(now, input, &mut |spec| io.open(spec));
        }
        dispatcher.fire_timers(now);
        // Everything this wake produced (inputs, timers due together,
        // Finals, state changes) leaves now, before the engine sleeps.
        for effect in dispatcher.effects() {
            io.execute(effect);
        }
        io.flush();
        if let Some(published) = dispatcher.publication(now) {
            io.publish(published);
        }
        if dispatcher.finished() {
            return;
        }
        let deadline = dispatcher.next_wake();
        io.wait(deadline, &mut inputs);
    }
}
