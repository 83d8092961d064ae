//! A simulated link for testing sessions without sockets or root: two
//! [`Session`]s joined by a channel with configurable delay, loss,
//! reordering and cuts, on a simulated clock.
//!
//! A side whose session uses [`Detection::Kernel`] gets a model of the XDP
//! program in front of it: every delivered control packet stamps the
//! kernel's receive time and re-arms its timer (one with an
//! authentication section only if it equals the template, else it only
//! starts an idle timer, which counts from the agent's verified receive
//! time too), packets equal to the
//! [`FastPathView::expect`] template are absorbed before the session sees
//! them, and the timer's expiry arrives as
//! [`Session::on_kernel_timeout`]. Echo packets are looped back by the
//! other side when its view allows reflection.
//!
//! Everything is deterministic: the same seed gives the same run.

use core::cmp::Reverse;
use core::time::Duration;
use std::collections::BinaryHeap;

use bfd_common::wire::{ControlRepr, EchoRepr, State};

use crate::config::Detection;
use crate::rng::Rng;
use crate::session::{FastPathView, Output, Session, StateChange, jitter_floor};
use crate::time::Time;

/// One side of the simulated link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The first session.
    A,
    /// The second session.
    B,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }

    fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// One direction of the link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkConfig {
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Extra delay drawn uniformly from zero to this per packet; larger than
    /// the packet spacing, it reorders packets.
    pub delay_jitter: Duration,
    /// Random loss, parts per million.
    pub loss_ppm: u32,
    /// Never lose more than this many packets in a row to random loss.
    pub max_consecutive_losses: Option<u32>,
    /// Every packet is lost (a cut path).
    pub cut: bool,
    /// Echo packets are lost, control packets pass.
    pub drop_echo: bool,
}

/// What happened during a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A side sent a control packet.
    Sent {
        /// When.
        at: Time,
        /// Who.
        from: Side,
        /// What.
        packet: ControlRepr,
    },
    /// A control packet reached a side.
    Delivered {
        /// When.
        at: Time,
        /// To whom.
        to: Side,
        /// What.
        packet: ControlRepr,
        /// When it was sent (packets overtaken on the link arrive out of
        /// this order).
        sent_at: Time,
        /// The modelled XDP program absorbed it.
        absorbed: bool,
    },
    /// A side's state changed.
    StateChange {
        /// Whose.
        side: Side,
        /// The change.
        change: StateChange,
    },
    /// A side sent an echo packet.
    EchoSent {
        /// When.
        at: Time,
        /// Who.
        from: Side,
    },
    /// A side's echo packet came back.
    EchoReturned {
        /// When.
        at: Time,
        /// To whom.
        to: Side,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InFlight {
    Control(ControlRepr),
    /// An echo packet on its way to the reflecting side.
    EchoOut(EchoRepr),
    /// An echo packet on its way back to its sender.
    EchoBack(EchoRepr),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pending {
    at: Time,
    seq: u64,
    sent_at: Time,
    to: Side,
    what: InFlight,
}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// The model of the XDP program in front of a kernel-detection session.
#[derive(Clone, Debug, Default)]
struct KernelModel {
    view: Option<FastPathView>,
    timer: Option<Time>,
    echo_timer: Option<Time>,
    absorbed: u64,
    passed: u64,
    /// Peer packets too soon after the kernel's last answer, whose answer
    /// it left to the agent (`EVENT_ANSWER_OWED`, issue 19).
    owed: u64,
    /// The kernel's last answer for the session (`CFG_ANSWER`, issue 19),
    /// seeded with the session's last packet when it hands over.
    answered_at: Option<Time>,
    /// Answers sent.
    answers: u64,
    /// When the peer, which originates, will have been silent for
    /// two-thirds of the Detection Time while the kernel answers
    /// (`EVENT_ORIGINATOR_SILENT`, issue 19).
    silence_timer: Option<Time>,
    /// Those reported to the agent.
    silences: u64,
    /// A detection while the agent was away, told to it when it is back.
    detected_while_away: Option<Time>,
}

#[derive(Clone, Debug)]
struct SimSide {
    session: Session,
    kernel: Option<KernelModel>,
    /// The agent is away (killed, restarting): its session gets no input
    /// and sends nothing; its kernel answers every valid packet of an Up
    /// peer under the lease (issue 17) and reports nothing.
    away: bool,
}

/// Two sessions on a simulated link.
#[derive(Clone, Debug)]
pub struct Sim {
    now: Time,
    sides: [SimSide; 2],
    links: [LinkConfig; 2],
    consecutive_losses: [u32; 2],
    queue: BinaryHeap<Reverse<Pending>>,
    seq: u64,
    rng: Rng,
    log: Vec<Record>,
}

impl Sim {
    /// Joins `a` and `b` (created at [`Time::ZERO`]) with a lossless link of
    /// 1 ms each way; `seed` fixes delays and losses.
    pub fn new(a: Session, b: Session, seed: u64) -> Sim {
        let side = |session: Session| SimSide {
            kernel: (session.config().detection == Detection::Kernel).then(KernelModel::default),
            session,
            away: false,
        };
        let link = LinkConfig { delay: Duration::from_millis(1), ..LinkConfig::default() };
        let mut sim = Sim {
            now: Time::ZERO,
            sides: [side(a), side(b)],
            links: [link, link],
            consecutive_losses: [0, 0],
            queue: BinaryHeap::new(),
            seq: 0,
            rng: Rng::new(seed),
            log: Vec::new(),
        };
        sim.collect(Side::A);
        sim.collect(Side::B);
        sim
    }

    /// The simulated clock.
    pub fn now(&self) -> Time {
        self.now
    }

    /// The direction of the link from `from` to the other side.
    pub fn link(&mut self, from: Side) -> &mut LinkConfig {
        &mut self.links[from.index()]
    }

    /// A side's session.
    pub fn session(&self, side: Side) -> &Session {
        &self.sides[side.index()].session
    }

    /// Feeds an input to a side's session at the current time, e.g.
    /// `sim.input(Side::A, |s, now| s.admin_down(now, diag))`.
    pub fn input(&mut self, side: Side, input: impl FnOnce(&mut Session, Time)) {
        let now = self.now;
        input(&mut self.sides[side.index()].session, now);
        self.collect(side);
    }

    /// Takes a kernel-detection side's agent away (`true`: its session is
    /// frozen, its kernel answers for it as under an expired lease, issue
    /// 17) or brings it back (its session catches up on what fell due,
    /// and hears of a detection its kernel made meanwhile).
    pub fn set_agent_away(&mut self, side: Side, away: bool) {
        let now = self.now;
        let sim_side = &mut self.sides[side.index()];
        let Some(kernel) = sim_side.kernel.as_mut() else {
            panic!("{side:?}'s session has no kernel to answer for it");
        };
        if sim_side.away == away {
            return;
        }
        sim_side.away = away;
        if away {
            // The kernel paces its first answer from the agent's last packet.
            kernel.answered_at = kernel.answered_at.max(sim_side.session.last_tx());
            return;
        }
        let detected = kernel.detected_while_away.take();
        match detected {
            Some(at) => {
                sim_side.session.on_kernel_timeout(now, at);
            }
            None => sim_side.session.on_timer(now),
        }
        self.collect(side);
    }

    /// For a kernel-detection side: how often its modelled XDP program
    /// reported the originating peer silent (issue 19).
    pub fn kernel_silences(&self, side: Side) -> Option<u64> {
        self.sides[side.index()].kernel.as_ref().map(|kernel| kernel.silences)
    }

    /// Everything recorded so far.
    pub fn log(&self) -> &[Record] {
        &self.log
    }

    /// A side's state changes so far.
    pub fn state_changes(&self, side: Side) -> Vec<StateChange> {
        self.log
            .iter()
            .filter_map(|record| match record {
                Record::StateChange { side: s, change } if *s == side => Some(*change),
                _ => None,
            })
            .collect()
    }

    /// The control packets a side sent, with their times.
    pub fn sent(&self, side: Side) -> Vec<(Time, ControlRepr)> {
        self.log
            .iter()
            .filter_map(|record| match record {
                Record::Sent { at, from, packet } if *from == side => Some((*at, *packet)),
                _ => None,
            })
            .collect()
    }

    /// The control packets delivered to a side, with their times.
    pub fn delivered(&self, side: Side) -> Vec<(Time, ControlRepr)> {
        self.log
            .iter()
            .filter_map(|record| match record {
                Record::Delivered { at, to, packet, .. } if *to == side => Some((*at, *packet)),
                _ => None,
            })
            .collect()
    }

    /// How many control packets reached a side after one sent later.
    pub fn reordered(&self, side: Side) -> usize {
        let sent: Vec<Time> = self
            .log
            .iter()
            .filter_map(|record| match record {
                Record::Delivered { to, sent_at, .. } if *to == side => Some(*sent_at),
                _ => None,
            })
            .collect();
        sent.windows(2).filter(|pair| pair[1] < pair[0]).count()
    }

    /// For a kernel-detection side: packets (absorbed by the modelled XDP
    /// program, handed to the session).
    pub fn fast_path_counts(&self, side: Side) -> Option<(u64, u64)> {
        self.sides[side.index()].kernel.as_ref().map(|kernel| (kernel.absorbed, kernel.passed))
    }

    /// Runs until the simulated clock reaches `end`.
    pub fn run_until(&mut self, end: Time) {
        while self.step(end) {}
        self.now = self.now.max(end);
    }

    /// Runs for `duration` of simulated time.
    pub fn run_for(&mut self, duration: Duration) {
        self.run_until(self.now + duration);
    }

    /// Runs until `side` is in `state` (returning when it got there) or
    /// `limit` has passed.
    pub fn run_until_state(&mut self, side: Side, state: State, limit: Duration) -> Option<Time> {
        let end = self.now + limit;
        loop {
            if self.session(side).state() == state {
                return Some(self.now);
            }
            if !self.step(end) {
                self.now = end;
                return None;
            }
        }
    }

    /// Processes the next event at or before `end`; false when there is
    /// none.
    fn step(&mut self, end: Time) -> bool {
        let mut next: Option<Time> = self.queue.peek().map(|Reverse(pending)| pending.at);
        for side in &self.sides {
            let deadlines = [
                side.session.next_deadline().filter(|_| !side.away),
                side.kernel.as_ref().and_then(|kernel| kernel.timer),
                side.kernel.as_ref().and_then(|kernel| kernel.echo_timer),
                side.kernel.as_ref().and_then(|kernel| kernel.silence_timer),
            ];
            for deadline in deadlines.into_iter().flatten() {
                next = Some(next.map_or(deadline, |n| n.min(deadline)));
            }
        }
        let Some(at) = next.filter(|&at| at <= end) else {
            return false;
        };
        assert!(at >= self.now, "an event in the past: {at} < {}", self.now);
        self.now = at;

        // At one instant: packets first, then the kernel's timers, then the
        // sessions' own.
        if let Some(Reverse(pending)) = self.queue.peek().copied().filter(|p| p.0.at == at) {
            self.queue.pop();
            self.deliver(pending);
            return true;
        }
        for side in [Side::A, Side::B] {
            let state = &mut self.sides[side.index()];
            if let Some(kernel) = state.kernel.as_mut() {
                if kernel.timer.is_some_and(|t| t <= at) {
                    kernel.timer = None;
                    kernel.silence_timer = None;
                    // The XDP program re-reads the session's entry: a
                    // disarmed session reports nothing.
                    if let Some(view) = kernel.view
                        && let Some(time) = view.detection_time
                    {
                        // The agent's verified receive time counts too: wait
                        // out the rest from there.
                        match view.verified_rx.map(|verified| verified + time).filter(|&due| due > at) {
                            Some(due) => kernel.timer = Some(due),
                            None if state.away => kernel.detected_while_away = Some(at),
                            None => {
                                state.session.on_kernel_timeout(at, at);
                                self.collect(side);
                            }
                        }
                    }
                    return true;
                }
                if kernel.silence_timer.is_some_and(|t| t <= at) {
                    kernel.silence_timer = None;
                    // Only while the kernel still answers; an absent agent
                    // reads no event.
                    if kernel.view.is_some_and(|view| view.answer) && !state.away {
                        kernel.silences += 1;
                        state.session.on_originator_silent(at);
                        self.collect(side);
                    }
                    return true;
                }
                if kernel.echo_timer.is_some_and(|t| t <= at) {
                    kernel.echo_timer = None;
                    if kernel.view.is_some_and(|view| view.echo_detection_time.is_some()) {
                        state.session.on_echo_timeout(at);
                        self.collect(side);
                    }
                    return true;
                }
            }
        }
        for side in [Side::A, Side::B] {
            if !self.sides[side.index()].away
                && self.sides[side.index()].session.next_deadline().is_some_and(|t| t <= at)
            {
                self.sides[side.index()].session.on_timer(at);
                self.collect(side);
                let after = self.sides[side.index()].session.next_deadline();
                assert!(after.is_none_or(|t| t > at), "on_timer at {at} left a deadline at {after:?}");
                return true;
            }
        }
        unreachable!("an event was due at {at}")
    }

    fn deliver(&mut self, pending: Pending) {
        let now = self.now;
        let to = pending.to;
        // A cut also drops what was in flight (an nftables drop at the
        // receiver does).
        let link = self.links[to.other().index()];
        if link.cut || (link.drop_echo && !matches!(pending.what, InFlight::Control(_))) {
            return;
        }
        match pending.what {
            InFlight::Control(packet) => {
                let side = &mut self.sides[to.index()];
                let mut absorbed = false;
                if let Some(kernel) = side.kernel.as_mut() {
                    // Every valid packet re-arms the timer, except one with
                    // an authentication section that is not the template
                    // (byte-identical to a verified packet): that one only
                    // starts an idle timer.
                    let view = kernel.view.unwrap_or_else(|| side.session.fast_path());
                    absorbed = view.expect == Some(packet);
                    let stamps = absorbed || packet.auth.is_none();
                    if let Some(time) = view.detection_time
                        && (stamps || kernel.timer.is_none())
                    {
                        kernel.timer = Some(now + time);
                        // Answering, the timer first waits two-thirds of
                        // the Detection Time (`originator_silence_ns`).
                        kernel.silence_timer = view.answer.then(|| now + (time - time / 3));
                    }
                    if absorbed {
                        kernel.absorbed += 1;
                    } else {
                        kernel.passed += 1;
                    }
                }
                self.log.push(Record::Delivered { at: now, to, packet, sent_at: pending.sent_at, absorbed });
                let away = self.sides[to.index()].away;
                if absorbed || (away && packet.state == State::Up) {
                    // While the agent is away the kernel also answers a
                    // passed packet from a peer that is still Up (issue 17).
                    self.kernel_answer(to);
                }
                if !absorbed && !away {
                    // A discard is the session's business: it counts it.
                    let _ = self.sides[to.index()].session.on_control(now, &packet);
                    self.collect(to);
                }
            }
            InFlight::EchoOut(echo) => {
                // The peer loops the packet back only if it allows it.
                if self.sides[to.index()].session.fast_path().reflect_echo {
                    self.send(to, InFlight::EchoBack(echo));
                }
            }
            InFlight::EchoBack(echo) => {
                self.log.push(Record::EchoReturned { at: now, to });
                let side = &mut self.sides[to.index()];
                match side.kernel.as_mut() {
                    Some(kernel) => {
                        let view = kernel.view.unwrap_or_else(|| side.session.fast_path());
                        if let Some(time) = view.echo_detection_time {
                            kernel.echo_timer = Some(now + time);
                        }
                    }
                    None => {
                        side.session.on_echo_return(now, &echo);
                        self.collect(to);
                    }
                }
            }
        }
    }

    /// Takes a side's outputs: packets onto the link, records, and the
    /// fast-path view into the kernel model.
    fn collect(&mut self, side: Side) {
        let outputs: Vec<Output> = self.sides[side.index()].session.drain_outputs().collect();
        for output in outputs {
            match output {
                Output::Transmit(packet) => {
                    // The agent sent while its kernel answers for it: it
                    // tells the kernel, which paces its next answer from
                    // this packet (`Effect::HandTransmissionOver`).
                    if let Some(kernel) = self.sides[side.index()].kernel.as_mut()
                        && kernel.view.is_some_and(|view| view.answer)
                    {
                        kernel.answered_at = Some(self.now);
                    }
                    self.log.push(Record::Sent { at: self.now, from: side, packet });
                    self.send(side, InFlight::Control(packet));
                }
                Output::TransmitEcho(echo) => {
                    self.log.push(Record::EchoSent { at: self.now, from: side });
                    self.send(side, InFlight::EchoOut(echo));
                }
                Output::StateChange(change) => self.log.push(Record::StateChange { side, change }),
                Output::FastPath(view) => {
                    let last_tx = self.sides[side.index()].session.last_tx();
                    if let Some(kernel) = self.sides[side.index()].kernel.as_mut() {
                        if view.answer && !kernel.view.is_some_and(|before| before.answer) {
                            kernel.answered_at = last_tx;
                        }
                        kernel.view = Some(view);
                        if view.detection_time.is_none() || !view.answer {
                            kernel.silence_timer = None;
                        }
                        if view.detection_time.is_none() {
                            kernel.timer = None;
                        }
                        if view.echo_detection_time.is_none() {
                            kernel.echo_timer = None;
                        }
                    }
                }
            }
        }
    }

    /// The XDP program's answer to an absorbed packet (issue 19): the
    /// session's steady-state packet, if the session handed its
    /// transmission over and 75% of its interval (the larger of its
    /// Desired Min TX and the peer's Required Min RX) has passed since
    /// its last packet (§6.8.7).
    fn kernel_answer(&mut self, side: Side) {
        let now = self.now;
        let sim_side = &mut self.sides[side.index()];
        let status = sim_side.session.status();
        let packet = sim_side.session.steady_state_packet();
        let Some(kernel) = sim_side.kernel.as_mut() else { return };
        // An absent agent's kernel answers every Up session (issue 17).
        let away = sim_side.away && status.state == State::Up;
        if !kernel.view.is_some_and(|view| view.answer) && !away {
            return;
        }
        let interval = status.desired_min_tx.max(status.remote_min_rx);
        if let Some(last) = kernel.answered_at
            && now.saturating_since(last) < jitter_floor(interval)
        {
            if away {
                return; // nobody to owe it
            }
            // Too soon after its last answer: the program tells the agent,
            // which sends the answer when the floor ends (the event reaches
            // it at once here).
            kernel.owed += 1;
            sim_side.session.on_answer_owed(now, now, last + jitter_floor(interval));
            self.collect(side);
            return;
        }
        kernel.answered_at = Some(now);
        kernel.answers += 1;
        self.log.push(Record::Sent { at: now, from: side, packet });
        self.send(side, InFlight::Control(packet));
    }

    /// For a kernel-detection side: the answers its modelled XDP program
    /// sent (issue 19).
    pub fn kernel_answers(&self, side: Side) -> Option<u64> {
        self.sides[side.index()].kernel.as_ref().map(|kernel| kernel.answers)
    }

    /// For a kernel-detection side: the peer packets its modelled XDP
    /// program left for the agent to answer (too soon after its last
    /// answer; issue 19).
    pub fn kernel_answers_owed(&self, side: Side) -> Option<u64> {
        self.sides[side.index()].kernel.as_ref().map(|kernel| kernel.owed)
    }

    /// Puts a packet on the link from `from`, unless the link loses it.
    fn send(&mut self, from: Side, what: InFlight) {
        let link = self.links[from.index()];
        if link.cut || (link.drop_echo && !matches!(what, InFlight::Control(_))) {
            return;
        }
        if link.loss_ppm > 0 {
            let losses = &mut self.consecutive_losses[from.index()];
            let may_lose = link.max_consecutive_losses.is_none_or(|max| *losses < max);
            if may_lose && self.rng.chance_ppm(link.loss_ppm) {
                *losses += 1;
                return;
            }
            *losses = 0;
        }
        let jitter = self.rng.in_range(0, u64::try_from(link.delay_jitter.as_nanos()).unwrap_or(u64::MAX));
        let at = self.now + link.delay + Duration::from_nanos(jitter);
        self.seq += 1;
        self.queue.push(Reverse(Pending { at, seq: self.seq, sent_at: self.now, to: from.other(), what }));
    }
}
