//! The bfd-xdp XDP program: the BFD fast path.
//!
//! It finds BFD packets (control on UDP 3784 and 4784, echo on 3785) behind
//! Ethernet, up to two VLAN tags, and IPv4 or IPv6, and decides on each:
//!
//! - control packets are validated with the same `bfd-common` code the agent
//!   uses (RFC 5880 §6.8.6) and dropped if invalid; Your Discriminator 0
//!   goes to the agent (bring-up); otherwise the session is the one whose
//!   local discriminator is Your Discriminator, and the packet must match
//!   its port, TTL, addresses and interface. A valid packet stamps the
//!   session and re-arms its detection timer; if it is exactly what the
//!   agent expects (its absorb template) it is absorbed, else passed to the
//!   agent's socket;
//! - our own echoes coming back are timed and absorbed; a peer's echo is
//!   reflected with `XDP_TX` if the agent allowed that peer;
//! - the detection timers (`bpf_timer`) tell the agent through a ring
//!   buffer when a session's packets stop.
//!
//! Anything else passes untouched. The map types and their writers are in
//! `bfd_common::maps`.
#![no_std]
#![no_main]
// BPF inline assembly, for the atomic read-modify-write instructions: the
// Rust BPF target has no atomic RMW operations (`atomic-cas: false`,
// `singlethread: true` makes LLVM lower them to plain ones).
#![feature(asm_experimental_arch)]

mod packet;
mod xmit;

use core::{arch::asm, ffi::c_void};

use aya_ebpf::{
    bindings::{BPF_F_MMAPABLE, BPF_F_NO_PREALLOC, bpf_timer as kernel_timer, xdp_action},
    btf_maps::{Array, HashMap, LruHashMap, PerCpuArray, RingBuf},
    helpers::{
        bpf_for_each_map_elem, bpf_ktime_get_ns, bpf_timer_init, bpf_timer_set_callback, bpf_timer_start,
    },
    macros::{btf_map, xdp},
    programs::XdpContext,
};
use bfd_common::{
    CONTROL_PORT, ECHO_PORT, MULTIHOP_CONTROL_PORT, TTL,
    maps::{
        AUTH_INSPECT_LEN, Address, CFG_ABSORB, CFG_ANSWER, CFG_AUTH, CFG_ECHO, CFG_MULTIHOP,
        DETECTED_CONTROL, DETECTED_ECHO, DETECTED_NO_ECHO_TIMER, DETECTED_NO_TIMER, DETECTED_SILENCE,
        DetectEvent, ECHO_RTT_HISTOGRAM_SHIFT, EVENT_ANSWER_OWED, EVENT_CONTROL_TIMEOUT, EVENT_ECHO_TIMEOUT,
        EVENT_ORIGINATOR_SILENT, EVENTS_BYTES, EchoPeerKey, EchoTimer, GAP_HISTOGRAM_SHIFT, GlobalStats,
        Keepalive, KeepaliveState, LEASE_SLACK_NS, Lease, LogHistogram, MAX_ECHO_PEERS, MAX_SESSIONS,
        MAX_SLOW_PATH_SOURCES, NO_TIMER_RETRY, OVERSHOOT_HISTOGRAM_SHIFT, SLOW_PATH_BURST, SLOW_PATH_RATE,
        SWEEP_FAILED, SWEEP_INTERVAL_NS, SWEEP_NO_ENTRY, SWEEP_STARTED, SWEEP_TIMER_KEY, SessionConfig,
        SessionState, bpf_timer, histogram_bucket, originator_silence_ns,
    },
    wire::{ControlPacket, EchoPacket, Error, State, control, echo},
};

use crate::packet::{Frame, UdpPacket};

/// A pointer to a field of a map value that several CPUs update at once.
macro_rules! field {
    ($value:expr, $field:ident) => {
        // SAFETY: `$value` points to a live map value (from a lookup or
        // a timer callback); no reference is created.
        unsafe { &raw mut (*$value).$field }
    };
}

/// Per-CPU global counters; the agent sums the CPUs.
#[btf_map(name = "bfd_stats")]
static STATS: PerCpuArray<GlobalStats, 1> = PerCpuArray::new();

/// Session configuration, written by the agent. Not preallocated: the
/// kernel frees a replaced value only after an RCU grace period, so a
/// program holding a pointer to it reads the old value whole.
#[btf_map(name = "bfd_sess_cfg")]
static CONFIG: HashMap<u32, SessionConfig, MAX_SESSIONS, { BPF_F_NO_PREALLOC as usize }> = HashMap::new();

/// Per-session kernel state with the control detection timer.
#[btf_map(name = "bfd_sess_state")]
static STATE: HashMap<u32, SessionState, MAX_SESSIONS> = HashMap::new();

/// Per-session echo detection timer (one `bpf_timer` per map value).
#[btf_map(name = "bfd_echo_tmr")]
static ECHO_TIMERS: HashMap<u32, EchoTimer, MAX_SESSIONS> = HashMap::new();

/// The peers whose echoes we reflect, written by the agent.
#[btf_map(name = "bfd_echo_peers")]
static ECHO_PEERS: HashMap<EchoPeerKey, u32, MAX_ECHO_PEERS, { BPF_F_NO_PREALLOC as usize }> = HashMap::new();

/// Per source address: when its next bring-up packet is due on average
/// (GCRA's theoretical arrival time, ns), for the slow path's rate limit.
#[btf_map(name = "bfd_slow_path")]
static SLOW_PATH: LruHashMap<Address, u64, MAX_SLOW_PATH_SOURCES> = LruHashMap::new();

/// GCRA: one packet per interval on average, bursts of the tolerance.
const SLOW_PATH_INTERVAL_NS: u64 = 1_000_000_000 / SLOW_PATH_RATE;
const SLOW_PATH_TOLERANCE_NS: u64 = SLOW_PATH_BURST * SLOW_PATH_INTERVAL_NS;

/// Detection events for the agent.
#[btf_map(name = "bfd_events")]
static EVENTS: RingBuf<DetectEvent, EVENTS_BYTES> = RingBuf::new();

/// The agent's lease: the kernel answers for Up sessions only once it has
/// expired (issue 17: the agent is away).
#[btf_map(name = "bfd_lease")]
static LEASE: Array<Lease, 1, { BPF_F_MMAPABLE as usize }> = Array::new();

/// What to answer for each Up session while the agent is away.
#[btf_map(name = "bfd_keepalive")]
static KEEPALIVE: HashMap<u32, Keepalive, MAX_SESSIONS, { BPF_F_NO_PREALLOC as usize }> = HashMap::new();

/// The kernel's keepalive bookkeeping per session.
#[btf_map(name = "bfd_ka_state")]
static KEEPALIVE_STATE: HashMap<u32, KeepaliveState, MAX_SESSIONS> = HashMap::new();

/// The largest control packet the kernel program inspects: the header and
/// the largest authentication section (keyed SHA1, RFC 5880 §4.4).
const CONTROL_INSPECT_LEN: usize = control::HEADER_LEN + AUTH_INSPECT_LEN;

/// How soon the detection timer checks back after a packet passed to the
/// agent: long enough for the agent to have applied what the packet
/// changed (it takes tens of microseconds), short against any detection
/// time.
const CHECK_BACK_NS: u64 = 1_000_000;

/// `CLOCK_MONOTONIC`, the clock of `bpf_ktime_get_ns`, for `bpf_timer_init`.
const CLOCK_MONOTONIC: u64 = 1;
/// `bpf_timer_init` on a timer that is already initialised.
const EBUSY: i64 = 16;
/// `bpf_timer_start` on a timer not initialised or without a callback.
const EINVAL: i64 = 22;

#[xdp]
pub fn bfd_xdp(ctx: XdpContext) -> u32 {
    let Some(stats) = STATS.get_ptr_mut(0) else {
        return xdp_action::XDP_PASS;
    };
    // SAFETY: the kernel returned a valid pointer to this CPU's value,
    // which lives as long as the map; XDP runs with preemption disabled,
    // so nothing else on this CPU touches it while the program runs.
    let stats = unsafe { &mut *stats };
    stats.frames += 1;

    let mut frame = Frame::new(&ctx);
    let Some(packet) = frame.udp() else {
        stats.not_bfd += 1;
        return xdp_action::XDP_PASS;
    };
    match packet.dst_port {
        CONTROL_PORT => control(&ctx, &mut frame, &packet, false, stats),
        MULTIHOP_CONTROL_PORT => control(&ctx, &mut frame, &packet, true, stats),
        ECHO_PORT => echo(&ctx, &mut frame, &packet, stats),
        _ => {
            stats.not_bfd += 1;
            xdp_action::XDP_PASS
        }
    }
}

/// A buffer the control header is copied into, 8-aligned so the absorb
/// comparison reads it as 64-bit words.
#[repr(C, align(8))]
struct ControlBuffer([u8; CONTROL_INSPECT_LEN]);

/// The decision on a control packet (RFC 5880 §6.8.6, RFC 5881 §5, RFC
/// 5883 §2).
#[inline(always)]
fn control(
    ctx: &XdpContext,
    frame: &mut Frame,
    packet: &UdpPacket,
    multihop_port: bool,
    stats: &mut GlobalStats,
) -> u32 {
    let mut buffer = ControlBuffer([0u8; CONTROL_INSPECT_LEN]);
    let Some(len) = packet.payload.load(ctx, &mut buffer.0) else {
        *stats.control_invalid.counter_mut(Error::Truncated) += 1;
        return xdp_action::XDP_DROP;
    };
    let bytes = &buffer.0;
    // The whole buffer (zeroes past `len`), so the getters of the mandatory
    // section are always in bounds; what was received is checked first.
    let header = ControlPacket::new_unchecked(&bytes[..]);
    // A Length the buffer cannot hold is either a lie (more than the UDP
    // payload: invalid, `check` says so) or a packet too long for the fast
    // path to inspect whole, whose mandatory section alone is checked here;
    // the rest is the agent's.
    let length = usize::from(header.length());
    let oversize = length > CONTROL_INSPECT_LEN && length <= packet.payload.len;
    let checked = if oversize {
        check_mandatory_section(bytes)
    } else {
        match bytes.get(..len) {
            Some(received) => ControlPacket::new_unchecked(received).check(),
            None => Err(Error::Truncated),
        }
    };
    if let Err(error) = checked {
        // §6.8.6: "the packet MUST be discarded".
        *stats.control_invalid.counter_mut(error) += 1;
        return xdp_action::XDP_DROP;
    }

    // §6.8.6: "If the Your Discriminator field is nonzero, it MUST be used
    // to select the session with which this BFD packet is associated";
    // zero: the session is selected by addresses, which is the agent's job
    // (and happens only while a session comes up).
    let discriminator = header.your_discriminator();
    if discriminator == 0 {
        // GTSM (RFC 5082, RFC 5881 §5): a single-hop packet that is not at
        // TTL 255 did not come from the link, whatever its discriminator:
        // dropped here rather than waking the agent to discard it. (A
        // multihop session's minimum is per session; its bring-up packets
        // are checked by the agent.)
        if !multihop_port && packet.ttl != TTL {
            stats.ctl_drop_ttl += 1;
            return xdp_action::XDP_DROP;
        }
        let Some((src, _)) = frame.addresses(packet) else {
            stats.not_bfd += 1;
            return xdp_action::XDP_PASS;
        };
        if !slow_path_allowed(&src, now()) {
            stats.ctl_drop_rate += 1;
            return xdp_action::XDP_DROP;
        }
        stats.ctl_pass_discr0 += 1;
        return xdp_action::XDP_PASS;
    }
    // "If no session is found, the packet MUST be discarded."
    let (Some(config), Some(state)) = (session_config(discriminator), STATE.get_ptr_mut(discriminator))
    else {
        stats.ctl_drop_unknown += 1;
        return xdp_action::XDP_DROP;
    };
    let multihop = config.flags & CFG_MULTIHOP != 0;
    if multihop != multihop_port {
        stats.ctl_drop_port += 1;
        count(field!(state, drop_port));
        return xdp_action::XDP_DROP;
    }
    // GTSM (RFC 5082): single-hop packets must arrive with TTL 255 (RFC 5881
    // §5), multihop ones with at least the configured minimum (RFC 5883 §2).
    let ttl_ok = if multihop { packet.ttl >= config.min_ttl } else { packet.ttl == TTL };
    if !ttl_ok {
        stats.ctl_drop_ttl += 1;
        count(field!(state, drop_ttl));
        return xdp_action::XDP_DROP;
    }
    let Some((src, dst)) = frame.addresses(packet) else {
        stats.not_bfd += 1;
        return xdp_action::XDP_PASS;
    };
    if !same_address(&src, &config.peer) {
        stats.ctl_drop_src += 1;
        count(field!(state, drop_src));
        return xdp_action::XDP_DROP;
    }
    if !is_unspecified(&config.local) && !same_address(&dst, &config.local) {
        stats.ctl_drop_dst += 1;
        count(field!(state, drop_dst));
        return xdp_action::XDP_DROP;
    }
    // RFC 5881 §3: a single-hop session runs over one interface.
    if !multihop && config.ifindex != 0 && ctx.ingress_ifindex() as u32 != config.ifindex {
        stats.ctl_drop_iface += 1;
        count(field!(state, drop_iface));
        return xdp_action::XDP_DROP;
    }

    let now = now();
    // An authentication section (§6.7): only the agent holds the keys and
    // the sequence numbers. A packet byte-identical to the template, header
    // and section, is one the agent verified already: absorbed like any
    // other. Any other packet with the A bit, or without it on a session
    // that uses authentication (§6.8.6: to be discarded), is not valid
    // until the agent says so: passed up without stamping the session or
    // re-arming its timer (a forged packet must never hold a session Up);
    // the agent reports the time of each one it verifies
    // (`verified_rx_ns`), which the timer counts from as well.
    if (header.auth_present() || config.flags & CFG_AUTH != 0)
        && (oversize
            || config.flags & CFG_ABSORB == 0
            || !same_packet(bytes, &config.expect, &config.expect_auth))
    {
        stats.ctl_pass_auth += 1;
        count(field!(state, passed));
        // Only an idle timer is started (one that is pending is never
        // pushed back): its expiry counts from verified packets only, so
        // this gives a peer whose packets are never byte-identical a
        // kernel detection without letting anyone postpone one.
        if config.detect_ns != 0 && load(field!(state, ctl_due_ns)) <= now {
            let no_timer = load(field!(state, detected)) & DETECTED_NO_TIMER != 0;
            restart_control(state, now, config.detect_ns, no_timer);
        }
        return xdp_action::XDP_PASS;
    }

    // A valid packet for this session: §6.8.6 "the detection timer is
    // reset" (whether the agent sees it or not).
    track_gap(state, config, now);
    store(field!(state, last_rx_ns), now);
    count(field!(state, rx_packets));
    clear_detected(state, DETECTED_CONTROL | DETECTED_SILENCE);
    let passed = if oversize {
        stats.ctl_pass_oversize += 1;
        true
    } else if header.auth_present() || config.flags & CFG_AUTH != 0 {
        // Equal to the template with its authentication section (above).
        stats.ctl_absorbed += 1;
        false
    } else if length > control::HEADER_LEN {
        // Bytes past the header the agent may want to see.
        stats.ctl_pass_auth += 1;
        true
    } else if config.flags & CFG_ABSORB != 0 && same_header(bytes, &config.expect) {
        stats.ctl_absorbed += 1;
        false
    } else {
        stats.ctl_pass_changed += 1;
        true
    };

    // Re-arm the detection timer. An absorbed packet changes nothing: the
    // full detection time (restarting the timer only when it is due within
    // half of that: `must_restart`). A passed one may make the agent change the
    // detection time (a Poll announcing faster timers, a session coming
    // Up), and a running timer keeps the duration it was started with: so
    // check back shortly, when the callback re-reads the configuration and
    // waits out the rest under the new detection time.
    let rearm_ns = match (passed, config.detect_ns) {
        (false, _) => first_expiry_ns(config), // 0: no timer
        (true, 0) => CHECK_BACK_NS,
        (true, detect_ns) => detect_ns.min(CHECK_BACK_NS),
    };
    // A session without a timer keeps its deadline current for the sweep.
    let no_timer = load(field!(state, detected)) & DETECTED_NO_TIMER != 0;
    if rearm_ns != 0 && (passed || no_timer || must_restart(load(field!(state, ctl_due_ns)), now, rearm_ns)) {
        restart_control(state, now, rearm_ns, no_timer);
    }

    if passed {
        count(field!(state, passed));
        // While no agent runs (issue 17), nobody reads a passed packet: one
        // from a peer that is still Up is answered like an absorbed one. So
        // a Poll (RFC 5880 §6.5: the peer polls until it hears a Final,
        // keeping its old parameters meanwhile) does not silence the
        // keepalive, and multihop packets, which the kernel never absorbs
        // (their detection is the agent's), are answered too.
        if header.state() == State::Up && keepalive(frame, packet, discriminator, config, true, now, stats) {
            return xdp_action::XDP_TX;
        }
        xdp_action::XDP_PASS
    } else {
        count(field!(state, absorbed));
        if keepalive(frame, packet, discriminator, config, false, now, stats) {
            return xdp_action::XDP_TX;
        }
        xdp_action::XDP_DROP
    }
}

/// The slow path's rate limit per source (GCRA, the generic cell rate
/// algorithm): a packet at `now` is allowed unless the source's theoretical
/// arrival time is more than the burst tolerance ahead. CPUs may race on one
/// source's value; the limit is then off by a packet, which is fine for a
/// flood guard.
#[inline(always)]
fn slow_path_allowed(source: &Address, now: u64) -> bool {
    match SLOW_PATH.get_ptr_mut(source) {
        Some(tat) => {
            let due = load(tat).max(now);
            if due - now > SLOW_PATH_TOLERANCE_NS {
                return false;
            }
            store(tat, due + SLOW_PATH_INTERVAL_NS);
            true
        }
        None => {
            // A new source (or one the LRU map forgot): allowed.
            let _ = SLOW_PATH.insert(source, now + SLOW_PATH_INTERVAL_NS, 0);
            true
        }
    }
}

/// Issue 17: while the agent is away (its lease expired, for at most the
/// lease's `max_absence_ns`), answers a valid packet of an Up session
/// with the session's steady-state packet, turned around on the same link
/// (to port 3784 single-hop, 4784 multihop),
/// never more often than RFC 5880 §6.8.7 allows (75% of the negotiated
/// interval). So a peer that keeps sending keeps hearing us. Only what
/// arrives is answered: a peer sending slower than its Detection Time for
/// us needs is not kept Up.
///
/// Issue 19: where the agent handed a running session's transmission to
/// the kernel (`CFG_ANSWER`), a packet too soon to answer is left to the
/// agent, which sends the answer when the floor ends
/// ([`EVENT_ANSWER_OWED`]).
#[inline(always)]
fn keepalive(
    frame: &mut Frame,
    packet: &UdpPacket,
    discriminator: u32,
    config: &SessionConfig,
    passed: bool,
    now: u64,
    stats: &mut GlobalStats,
) -> bool {
    let dest_port = if config.flags & CFG_MULTIHOP != 0 { MULTIHOP_CONTROL_PORT } else { CONTROL_PORT };
    let Some(lease) = LEASE.get_ptr_mut(0) else {
        return false;
    };
    let valid_until = load(field!(lease, valid_until_ns));
    let max_absence = load(field!(lease, max_absence_ns));
    // Issue 19: a session the agent handed its steady state to is answered
    // whether the agent runs or not (the agent sends nothing for it then);
    // the bound on an absent agent still holds.
    let answering = config.flags & CFG_ANSWER != 0;
    let agent_away = valid_until != 0 && max_absence != 0 && now > valid_until;
    if agent_away && now - valid_until > max_absence {
        return false;
    }
    // A packet going up to a running agent is the agent's to answer (it
    // changes something: a Poll, new parameters); XDP_TX would hide it.
    if !agent_away && (!answering || passed) {
        return false;
    }
    let Some(answer) = KEEPALIVE.get_ptr(discriminator) else {
        return false;
    };
    // SAFETY: a live value of KEEPALIVE (no preallocation: a replaced value
    // is freed after an RCU grace period, so it stays whole while read).
    let answer = unsafe { &*answer };
    if packet.payload.len != control::HEADER_LEN {
        return false;
    }
    let state = match KEEPALIVE_STATE.get_ptr_mut(discriminator) {
        Some(state) => state,
        None => {
            let _ = KEEPALIVE_STATE.insert(discriminator, KeepaliveState::default(), 0);
            let Some(state) = KEEPALIVE_STATE.get_ptr_mut(discriminator) else {
                return false;
            };
            state
        }
    };
    // RFC 5880 §6.8.7 from our last packet, the kernel's or the agent's:
    // the agent sent nothing after its engine's last deadline, the lease
    // less its slack (the deadline may be another session's, which makes
    // the first answer later than needed, never earlier).
    // A session the kernel answers for sends nothing from the agent: the
    // agent seeded `last_tx_ns` with its own last packet when it stopped.
    let agent_last = if answering { 0 } else { valid_until.saturating_sub(LEASE_SLACK_NS) };
    let last = load(field!(state, last_tx_ns)).max(agent_last);
    if now.saturating_sub(last) < answer.min_interval_ns {
        count(field!(state, limited));
        if answering && !agent_away {
            // §6.8.7's floor: not now. Unanswered, the peer's next packet
            // would be our next, up to two intervals after the last; the
            // agent sends this answer when the floor ends instead.
            let event = DetectEvent {
                generation: config.generation,
                last_rx_ns: now,
                fired_at_ns: last + answer.min_interval_ns,
                discriminator,
                kind: EVENT_ANSWER_OWED,
            };
            if EVENTS.output(event, 0).is_err() {
                stats.events_lost += 1;
            }
        }
        return false;
    }
    if !frame.turn_control_around(packet, answer.source_port, dest_port, &answer.packet) {
        return false;
    }
    store(field!(state, last_tx_ns), now);
    count(field!(state, sent));
    true
}

/// Keeps the largest gap between the session's valid packets since the
/// agent last started an epoch (it does when the session comes Up): what an
/// operator looks at to see how close the session came to a detection.
/// Several CPUs may race here; the result is then off by one packet's gap,
/// which is fine for a diagnostic. Every gap also goes into the session's
/// gap histogram, which no epoch resets (its buckets are counters).
#[inline(always)]
fn track_gap(state: *mut SessionState, config: &SessionConfig, now: u64) {
    let last = load(field!(state, last_rx_ns));
    let gap = now.saturating_sub(last);
    if last != 0 {
        observe(field!(state, gap_hist), GAP_HISTOGRAM_SHIFT, gap);
    }
    if load(field!(state, gap_epoch)) != config.gap_epoch {
        store(field!(state, gap_epoch), config.gap_epoch);
        store(field!(state, max_gap_ns), 0);
        // The round-trip statistics restart with the session too.
        store(field!(state, echo_rtt_min_ns), 0);
        store(field!(state, echo_rtt_max_ns), 0);
        store(field!(state, echo_rtt_sum_ns), 0);
        store(field!(state, echo_rtt_samples), 0);
        return;
    }
    if last != 0 && gap > load(field!(state, max_gap_ns)) {
        store(field!(state, max_gap_ns), gap);
    }
}

/// Counts `value` (nanoseconds) in its bucket of `histogram` and adds it
/// to the histogram's sum, with atomic adds (several CPUs may observe for
/// the same session).
#[inline(always)]
fn observe(histogram: *mut LogHistogram, shift: u32, value: u64) {
    let index = histogram_bucket(value, shift);
    // SAFETY: `histogram` points into a live map value and `index` is below
    // the array's length (`histogram_bucket` bounds it, and the verifier
    // checks the access against the value's size); no reference is created.
    let bucket = unsafe { (&raw mut (*histogram).buckets).cast::<u64>().add(index) };
    count(bucket);
    add(field!(histogram, sum_ns), value);
}

/// RFC 5880 §6.8.6's checks of a control packet's mandatory section alone,
/// for a packet too long to inspect whole: `check` on a copy of the 24
/// bytes with Length 24 and the A bit clear (the packet's Length was found
/// within the payload already; its authentication section is the agent's).
#[inline(always)]
fn check_mandatory_section(bytes: &[u8; CONTROL_INSPECT_LEN]) -> Result<(), Error> {
    let mut header = [0u8; control::HEADER_LEN];
    header.copy_from_slice(&bytes[..control::HEADER_LEN]);
    let mut packet = ControlPacket::new_unchecked(&mut header[..]);
    packet.set_length(control::HEADER_LEN as u8);
    packet.set_auth_present(false);
    packet.check()
}

/// The decision on an echo packet (RFC 5880 §6.4, RFC 5881 §4).
#[inline(always)]
fn echo(ctx: &XdpContext, frame: &mut Frame, packet: &UdpPacket, stats: &mut GlobalStats) -> u32 {
    let Some((src, dst)) = frame.addresses(packet) else {
        stats.not_bfd += 1;
        return xdp_action::XDP_PASS;
    };
    if own_echo(ctx, packet, &src) {
        stats.echo_own += 1;
        return xdp_action::XDP_DROP;
    }
    // A peer's echo is addressed to the peer itself (RFC 5881 §4: "the
    // destination address MUST be chosen in such a way as to cause the
    // remote system to forward the packet back to the local system"; FRR
    // and we use the sender's own address).
    if !same_address(&src, &dst) {
        stats.echo_pass_not_self += 1;
        return xdp_action::XDP_PASS;
    }
    // Only from a neighbour, and we decrement from 255 to 254 (what FRR
    // accepts back).
    if packet.ttl != TTL {
        stats.echo_pass_ttl += 1;
        return xdp_action::XDP_PASS;
    }
    let key = EchoPeerKey { ifindex: ctx.ingress_ifindex() as u32, address: src };
    let Some(discriminator) = ECHO_PEERS.get_ptr(key) else {
        stats.echo_pass_denied += 1;
        return xdp_action::XDP_PASS;
    };
    if !frame.turn_echo_around(packet) {
        stats.not_bfd += 1;
        return xdp_action::XDP_PASS;
    }
    stats.echo_reflected += 1;
    // SAFETY: a pointer to a live value of ECHO_PEERS, a u32.
    let discriminator = unsafe { *discriminator };
    if discriminator != 0
        && let Some(state) = STATE.get_ptr_mut(discriminator)
    {
        count(field!(state, echo_reflected));
    }
    xdp_action::XDP_TX
}

/// Whether the echo is one of ours coming back: our payload, naming a
/// session with echo on, with our address for it as source (the peer may
/// run bfd-xdp too and send the same format, with a discriminator that is
/// also one of ours), and at most one hop away (GTSM, RFC 5082: our echo
/// leaves with 255 and the peer decrements it once). If so, times it and
/// re-arms the session's echo timer.
#[inline(always)]
fn own_echo(ctx: &XdpContext, packet: &UdpPacket, src: &Address) -> bool {
    if packet.ttl < TTL - 1 {
        return false;
    }
    let mut buffer = [0u8; echo::PAYLOAD_LEN];
    if packet.payload.load(ctx, &mut buffer) != Some(echo::PAYLOAD_LEN) {
        return false;
    }
    let payload = EchoPacket::new_unchecked(&buffer[..]);
    if payload.check().is_err() {
        return false;
    }
    let discriminator = payload.discriminator();
    let Some(config) = session_config(discriminator) else {
        return false;
    };
    if config.flags & CFG_ECHO == 0 || (!is_unspecified(&config.local) && !same_address(src, &config.local)) {
        return false;
    }
    let Some(state) = STATE.get_ptr_mut(discriminator) else {
        return false;
    };
    let now = now();
    store(field!(state, last_echo_rx_ns), now);
    let rtt = now.saturating_sub(payload.tx_time_ns());
    store(field!(state, echo_rtt_ns), rtt);
    track_rtt(state, rtt);
    observe(field!(state, echo_rtt_hist), ECHO_RTT_HISTOGRAM_SHIFT, rtt);
    count(field!(state, echo_rx));
    clear_detected(state, DETECTED_ECHO);
    // As the control timer (`restart_control`): an echo timer that cannot
    // be started leaves the echo to the sweep, and is tried again on one
    // returning echo in NO_TIMER_RETRY.
    let no_timer = load(field!(state, detected)) & DETECTED_NO_ECHO_TIMER != 0;
    if config.echo_detect_ns != 0
        && try_timer(no_timer, load(field!(state, echo_rx)))
        && let Some(timer) = ECHO_TIMERS.get_ptr_mut(discriminator)
    {
        // SAFETY: `timer` points into a live value of ECHO_TIMERS.
        let timer = unsafe { &raw mut (*timer).timer };
        let armed = arm(timer, map_pointer(&ECHO_TIMERS), echo_expired as *mut c_void, config.echo_detect_ns);
        mark_timer(state, DETECTED_NO_ECHO_TIMER, no_timer, armed);
    }
    true
}

/// The control detection timer of session `*key` expired (RFC 5880
/// §6.8.4). Runs in softirq context, possibly while a packet for the
/// session is re-arming it on another CPU.
#[inline(never)]
extern "C" fn ctl_expired(_map: *mut c_void, key: *mut u32, state: *mut SessionState) -> i32 {
    // SAFETY: the kernel passes the key and value of the timer's element.
    let discriminator = unsafe { *key };
    // SAFETY: as above, and the timer is in this value.
    let timer = unsafe { &raw mut (*state).ctl_timer };
    expired(discriminator, state, timer, EVENT_CONTROL_TIMEOUT);
    0
}

/// The echo detection timer of session `*key` expired.
#[inline(never)]
extern "C" fn echo_expired(_map: *mut c_void, key: *mut u32, value: *mut EchoTimer) -> i32 {
    // SAFETY: the kernel passes the key and value of the timer's element.
    let discriminator = unsafe { *key };
    if let Some(state) = STATE.get_ptr_mut(discriminator) {
        // SAFETY: as above, and the timer is in this value.
        let timer = unsafe { &raw mut (*value).timer };
        expired(discriminator, state, timer, EVENT_ECHO_TIMEOUT);
    }
    0
}

/// What both timers do when they expire: check that the detection time has
/// really passed since the last packet under the current configuration
/// (the agent may have changed or disabled it, and a packet may have
/// arrived while the timer was firing), and if so mark the session and
/// tell the agent; if not, wait for the rest.
#[inline(always)]
fn expired(discriminator: u32, state: *mut SessionState, timer: *mut bpf_timer, kind: u32) {
    let Some(config) = session_config(discriminator) else {
        return; // the session is being removed
    };
    let now = now();
    if let Check::Wait(wait) = check(discriminator, state, config, kind, now) {
        // (Re-arming its own timer from the callback is allowed.)
        // SAFETY: `timer` is this callback's own, initialised timer.
        let started = unsafe { bpf_timer_start(timer.cast::<kernel_timer>(), wait, 0) } == 0;
        if kind == EVENT_CONTROL_TIMEOUT {
            store(field!(state, ctl_due_ns), now + wait);
            if !started {
                // The sweep times it by the deadline from now on.
                set_detected(state, DETECTED_NO_TIMER);
            }
        } else if !started {
            // The sweep times the echo from now on.
            set_detected(state, DETECTED_NO_ECHO_TIMER);
        }
    }
}

/// What [`check`] found.
enum Check {
    /// Nothing yet: check again in this many nanoseconds.
    Wait(u64),
    /// Detected (marked and reported), or detection is off: nothing to
    /// wait for.
    Done,
}

/// Whether session `discriminator`'s control (`EVENT_CONTROL_TIMEOUT`) or
/// echo detection time has passed at `now` since its last packet, under
/// its current configuration. If so: marks it, counts it and tells the
/// agent. A session the kernel answers for (`CFG_ANSWER`, issue 19) is
/// also reported once when its peer, which originates, has been silent for
/// [`originator_silence_ns`] of the detection time.
#[inline(always)]
fn check(discriminator: u32, state: *mut SessionState, config: &SessionConfig, kind: u32, now: u64) -> Check {
    let control = kind == EVENT_CONTROL_TIMEOUT;
    let (detect_ns, last_rx_ns, bit) = if control {
        // The kernel's stamp (absorbed or unauthenticated packets) or the
        // agent's (authenticated packets it verified), whichever is later.
        let last_rx_ns = load(field!(state, last_rx_ns)).max(config.verified_rx_ns);
        (config.detect_ns, last_rx_ns, DETECTED_CONTROL)
    } else {
        (config.echo_detect_ns, load(field!(state, last_echo_rx_ns)), DETECTED_ECHO)
    };
    if detect_ns == 0 {
        return Check::Done; // detection disabled since the timer was armed
    }
    let waited = now.saturating_sub(last_rx_ns);
    if waited < detect_ns {
        // Armed under a shorter detection time than the current one, or
        // for the originating peer's silence: wait for the rest.
        let mut wait = detect_ns - waited;
        if control && config.flags & CFG_ANSWER != 0 {
            let silence_ns = originator_silence_ns(detect_ns);
            if waited < silence_ns {
                wait = silence_ns - waited;
            } else if load(field!(state, detected)) & DETECTED_SILENCE == 0 {
                // Issue 19: the peer originates and has been silent for
                // two-thirds of the Detection Time: its agent may be away,
                // its kernel answering but not originating. Ours must
                // originate (the agent does so for a while). Once per
                // silence (the sweep may look again).
                set_detected(state, DETECTED_SILENCE);
                report(config, discriminator, last_rx_ns, now, EVENT_ORIGINATOR_SILENT);
            }
        }
        return Check::Wait(wait);
    }
    set_detected(state, bit);
    if control {
        // How late the detection came beyond the detection time (the
        // callback's own latency, and the check-back's rounding).
        observe(field!(state, detect_overshoot_hist), OVERSHOOT_HISTOGRAM_SHIFT, waited - detect_ns);
    }
    count(if control { field!(state, ctl_expired) } else { field!(state, echo_expired) });
    if let Some(stats) = STATS.get_ptr_mut(0) {
        // SAFETY: this CPU's value, as in `bfd_xdp`; timer callbacks run
        // in softirq context, never nested in the program on this CPU.
        let stats = unsafe { &mut *stats };
        if control {
            stats.ctl_expired += 1;
        } else {
            stats.echo_expired += 1;
        }
    }
    report(config, discriminator, last_rx_ns, now, kind);
    Check::Done
}

/// Tells the agent (`EVENTS`), counting an event the full ring buffer lost.
#[inline(always)]
fn report(config: &SessionConfig, discriminator: u32, last_rx_ns: u64, now: u64, kind: u32) {
    let event =
        DetectEvent { generation: config.generation, last_rx_ns, fired_at_ns: now, discriminator, kind };
    if EVENTS.output(event, 0).is_err()
        && let Some(stats) = STATS.get_ptr_mut(0)
    {
        // SAFETY: this CPU's value, as in `check`.
        unsafe { (*stats).events_lost += 1 };
    }
}

/// The sweep (the timer at [`SWEEP_TIMER_KEY`] of `ECHO_TIMERS`, started
/// by [`bfd_sweep`]): every [`SWEEP_INTERVAL_NS`] it looks at every
/// session for a control timer that is not running: one whose start
/// failed ([`DETECTED_NO_TIMER`]) or that is a sweep past its deadline
/// (lost); and for an echo timer whose start failed
/// ([`DETECTED_NO_ECHO_TIMER`], [`sweep_echo`]). The kernel may fail to allocate a timer (`ENOMEM`:
/// `bpf_timer_init` allocates without taking locks, and fails again and
/// again once the per-CPU caches it may use are empty); a session without
/// a running timer would never be detected. For each such session whose
/// deadline has passed the sweep does what the timer would have (`check`)
/// and moves the deadline; the session's packets try the timer again
/// ([`restart_control`]). Re-arms itself first.
///
/// It sleeps until the earliest deadline of a session it times (one
/// without a running timer), so that such a session is detected when its
/// Detection Time ends rather than up to a sweep later, and never longer
/// than [`SWEEP_INTERVAL_NS`] (a deadline set since, a lost timer).
#[inline(never)]
extern "C" fn sweep(_map: *mut c_void, _key: *mut u32, value: *mut EchoTimer) -> i32 {
    // SAFETY: the kernel passes this timer's own map value.
    let timer = unsafe { &raw mut (*value).timer }.cast::<kernel_timer>();
    // First, so that nothing below can stop the sweep.
    // SAFETY: this callback's own, initialised timer.
    unsafe { bpf_timer_start(timer, SWEEP_INTERVAL_NS, 0) };
    let started = now();
    let mut sweep = Sweep { now: started, next: started + SWEEP_INTERVAL_NS };
    // SAFETY: STATE is a map this program uses; `sweep_one` has the
    // callback signature `bpf_for_each_map_elem` requires for it, and
    // `sweep` outlives the call.
    unsafe {
        bpf_for_each_map_elem(map_pointer(&STATE), sweep_one as *mut c_void, (&raw mut sweep).cast(), 0)
    };
    // At most 1/SWEEP_DUTY of a CPU: a walk that took `spent` is followed
    // by a sleep of at least SWEEP_DUTY times that. Deadlines a
    // millisecond apart are common (a passed packet's check-back,
    // `CHECK_BACK_NS`, for every session of a bring-up); waking for each
    // walked 7500 sessions up to every 100 µs and took a third of the
    // engine's CPU (perf: `bpf_for_each_hash_elem` and `sweep_one`) until
    // the pair collapsed.
    let after = now();
    let floor = (after.saturating_sub(started) * SWEEP_DUTY).max(SWEEP_MIN_NS);
    let wait = sweep.next.saturating_sub(after).max(floor).min(SWEEP_INTERVAL_NS.max(floor));
    if wait != SWEEP_INTERVAL_NS {
        // SAFETY: as above.
        unsafe { bpf_timer_start(timer, wait, 0) };
    }
    0
}

/// The shortest sleep of [`sweep`]: a deadline sooner than this is
/// looked at this much later.
const SWEEP_MIN_NS: u64 = 100_000;

/// [`sweep`] sleeps at least this many times as long as its last walk
/// took: at most a tenth of a CPU however many sessions it walks (at
/// 1000 sessions a walk takes tens of µs, so it still wakes on the
/// deadline within a millisecond or so).
const SWEEP_DUTY: u64 = 10;

/// What [`sweep`] hands each [`sweep_one`]: when it runs, and the earliest
/// moment a session it saw must be looked at again.
#[repr(C)]
struct Sweep {
    now: u64,
    next: u64,
}

/// [`sweep`]'s look at one session: a few loads, unless its control
/// timer does not run and its deadline has passed.
#[inline(never)]
extern "C" fn sweep_one(
    _map: *mut c_void,
    key: *mut u32,
    state: *mut SessionState,
    sweep: *mut Sweep,
) -> i64 {
    // SAFETY: the kernel passes the element's key and value, and `sweep`
    // is `sweep`'s, alive for the whole walk.
    let (discriminator, sweep) = unsafe { (*key, &mut *sweep) };
    let now = sweep.now;
    let detected = load(field!(state, detected));
    if detected & (DETECTED_NO_ECHO_TIMER | DETECTED_ECHO) == DETECTED_NO_ECHO_TIMER {
        sweep_echo(discriminator, state, sweep);
    }
    let due = load(field!(state, ctl_due_ns));
    if detected & DETECTED_CONTROL != 0 || due == 0 {
        return 0;
    }
    // A timer that runs fires at its deadline and moves it; one a sweep
    // past it is lost. A session without one is looked at on its deadline.
    let late = if detected & DETECTED_NO_TIMER != 0 { 0 } else { SWEEP_INTERVAL_NS };
    let look_at = due.saturating_add(late);
    if now < look_at {
        sweep.next = sweep.next.min(look_at);
        return 0;
    }
    if load(field!(state, last_rx_ns)) == 0 {
        return 0; // nothing received to time
    }
    let Some(config) = session_config(discriminator) else {
        return 0;
    };
    if let Check::Wait(wait) = check(discriminator, state, config, EVENT_CONTROL_TIMEOUT, now) {
        // Timed by the sweep from now on (the next packet tries the timer
        // again).
        store(field!(state, ctl_due_ns), now + wait);
        sweep.next = sweep.next.min(now + wait);
        if detected & DETECTED_NO_TIMER == 0 {
            set_detected(state, DETECTED_NO_TIMER);
        }
    }
    0
}

/// [`sweep_one`] for the echo of a session whose echo timer does not run
/// ([`DETECTED_NO_ECHO_TIMER`]): detected once the echo detection time has
/// passed since our last echo came back, as the timer would have.
#[inline(always)]
fn sweep_echo(discriminator: u32, state: *mut SessionState, sweep: &mut Sweep) {
    let Some(config) = session_config(discriminator) else {
        return;
    };
    let last = load(field!(state, last_echo_rx_ns));
    if config.echo_detect_ns == 0 || last == 0 {
        return; // echo off, or none came back yet: nothing to time
    }
    let due = last.saturating_add(config.echo_detect_ns);
    if sweep.now < due {
        sweep.next = sweep.next.min(due);
        return;
    }
    if let Check::Wait(wait) = check(discriminator, state, config, EVENT_ECHO_TIMEOUT, sweep.now) {
        sweep.next = sweep.next.min(sweep.now + wait);
    }
}

/// (Re)starts `timer` to expire in `ns`, initialising it first if needed.
///
/// Nearly always the timer is initialised and has its callback (the
/// session's first packet did that), so it is started at once: one helper
/// call and one lock per packet, where calling `bpf_timer_init` first to
/// find it `EBUSY` took the lock twice (issue 19: `__bpf_async_init` was
/// 1.2% of the agent's CPU at 500 sessions). `bpf_timer_start` fails with
/// `EINVAL` on a timer not initialised yet (the agent creates the map value
/// zeroed and cannot initialise a timer from user space) or whose callback
/// is not set yet (another CPU is between init and set_callback): then it
/// is initialised (`EBUSY`: another CPU did), given its callback (the same
/// one) and started.
///
/// Returns whether the timer runs. It may not: the timer's allocation in
/// `bpf_timer_init` fails at times (`ENOMEM`: the kernel allocates without
/// taking locks), which is why a sweep times sessions whose timer does not
/// run ([`sweep`], [`restart_control`]).
#[inline(always)]
fn arm(timer: *mut bpf_timer, map: *mut c_void, callback: *mut c_void, ns: u64) -> bool {
    let timer = timer.cast::<kernel_timer>();
    // SAFETY: `timer` points at the `bpf_timer` field of a live value of
    // `map` (the verifier checks both), `callback` is a static function
    // with the timer callback signature.
    unsafe {
        let started = bpf_timer_start(timer, ns, 0);
        if started != -EINVAL {
            return started == 0;
        }
        if !ready(timer, map, callback) {
            return false;
        }
        bpf_timer_start(timer, ns, 0) == 0
    }
}

/// Initialises `timer` (unless another CPU or an earlier call did) and
/// sets its callback. Returns whether both held.
///
/// # Safety
///
/// `timer` must point at the `bpf_timer` field of a live value of `map`,
/// and `callback` be a static function with the timer callback signature.
#[inline(always)]
unsafe fn ready(timer: *mut kernel_timer, map: *mut c_void, callback: *mut c_void) -> bool {
    // SAFETY: as the caller promises.
    unsafe {
        match bpf_timer_init(timer, map, CLOCK_MONOTONIC) {
            0 => {}
            error if error == -EBUSY => {}
            _ => return false,
        }
        bpf_timer_set_callback(timer, callback) == 0
    }
}

/// Starts [`sweep`]: run by the agent with `BPF_PROG_TEST_RUN` when it
/// opens the maps, never attached (see
/// [`SWEEP_PROGRAM`](bfd_common::maps::SWEEP_PROGRAM)). The agent creates
/// the timer's entry first. Starting it again restarts its interval.
#[xdp]
pub fn bfd_sweep(_ctx: XdpContext) -> u32 {
    let Some(value) = ECHO_TIMERS.get_ptr_mut(SWEEP_TIMER_KEY) else {
        return SWEEP_NO_ENTRY;
    };
    // SAFETY: `value` points into a live value of ECHO_TIMERS, whose timer
    // this is; `sweep` is a static function with the callback signature.
    let started = unsafe {
        let timer = (&raw mut (*value).timer).cast::<kernel_timer>();
        ready(timer, map_pointer(&ECHO_TIMERS), sweep as *mut c_void)
            && bpf_timer_start(timer, SWEEP_INTERVAL_NS, 0) == 0
    };
    if started { SWEEP_STARTED } else { SWEEP_FAILED }
}

/// How long the control timer waits after an absorbed packet: the
/// Detection Time (0: none), or for a session the kernel answers for
/// (`CFG_ANSWER`, issue 19) two-thirds of it, when the callback tells the
/// agent that the originating peer is silent ([`EVENT_ORIGINATOR_SILENT`])
/// and waits out the rest.
#[inline(always)]
fn first_expiry_ns(config: &SessionConfig) -> u64 {
    if config.flags & CFG_ANSWER != 0 { originator_silence_ns(config.detect_ns) } else { config.detect_ns }
}

/// Restarts the session's control timer to expire `ns` after `now` and
/// records that deadline (`ctl_due_ns`). A timer that cannot be started
/// (its allocation failed: [`arm`]) is marked [`DETECTED_NO_TIMER`] and
/// the deadline kept all the same, for the sweep, which times such a
/// session by it; starting it is tried again on one packet in
/// [`NO_TIMER_RETRY`]. `no_timer`: the caller's read of that mark (the
/// absorb path has read it already; one load less per packet).
#[inline(always)]
fn restart_control(state: *mut SessionState, now: u64, ns: u64, no_timer: bool) {
    store(field!(state, ctl_due_ns), now + ns);
    if !try_timer(no_timer, load(field!(state, rx_packets))) {
        return;
    }
    // SAFETY: `state` points into a live value of STATE.
    let timer = unsafe { &raw mut (*state).ctl_timer };
    let armed = arm(timer, map_pointer(&STATE), ctl_expired as *mut c_void, ns);
    mark_timer(state, DETECTED_NO_TIMER, no_timer, armed);
}

/// Whether to start a timer now: always while it runs; for one that could
/// not be started (`no_timer`), on one packet in [`NO_TIMER_RETRY`] by the
/// session's counter `received` (a failed allocation costs about as much
/// as a started timer).
#[inline(always)]
fn try_timer(no_timer: bool, received: u64) -> bool {
    !no_timer || received.is_multiple_of(NO_TIMER_RETRY)
}

/// Keeps the session's mark `bit` ([`DETECTED_NO_TIMER`],
/// [`DETECTED_NO_ECHO_TIMER`]: the sweep times it) in step with whether a
/// start of that timer succeeded; `marked`: the caller's read of it.
#[inline(always)]
fn mark_timer(state: *mut SessionState, bit: u64, marked: bool, armed: bool) {
    if armed && marked {
        clear_detected(state, bit);
    } else if !armed && !marked {
        set_detected(state, bit);
    }
}

/// Whether an absorbed packet at `now` must restart the control timer,
/// pending until `due` (0 or past: idle), for a detection time of
/// `detect_ns`. Restarting costs about half of the absorb path (the
/// timer's lock and hrtimer_start; with init's EBUSY before it, as `arm`
/// once did, 200 of 400 ns in the fastpath bench), so a
/// timer whose deadline lies between half a detection time and a whole
/// one ahead is left alone: it fires no later than the detection time
/// after this packet, and its callback (`expired`) sees the fresh stamp
/// and waits out the rest. While packets keep coming, every one that
/// finds less than half a detection time left restarts it, so it never
/// fires early in steady state (with Detect Mult 2 or more a packet comes
/// in every half detection time): at Detect Mult 3 every other packet
/// restarts it. A deadline more than a detection time ahead (the
/// detection time shrank) is pulled in at once.
#[inline(always)]
fn must_restart(due: u64, now: u64, detect_ns: u64) -> bool {
    due <= now || due - now < detect_ns / 2 || due - now > detect_ns
}

/// The pointer a helper takes for `map` (what the loader relocates).
#[inline(always)]
fn map_pointer<T>(map: &'static T) -> *mut c_void {
    core::ptr::from_ref(map).cast_mut().cast()
}

/// The session's configuration, if the agent configured it.
#[inline(always)]
fn session_config(discriminator: u32) -> Option<&'static SessionConfig> {
    // SAFETY: only the agent writes this map, and a value it replaces or
    // deletes is freed after an RCU grace period (no preallocation), which
    // cannot end while this program or callback runs: the reference stays
    // valid and unchanged for as long as it is used here.
    CONFIG.get_ptr(discriminator).map(|pointer| unsafe { &*pointer })
}

/// Round-trip statistics since the session came Up (FRR's `RTT
/// min/avg/max`): min and max by plain compare-and-store (a race between
/// CPUs can lose one sample's extreme, fine for a diagnostic), the sum and
/// sample count by atomic adds.
#[inline(always)]
fn track_rtt(state: *mut SessionState, rtt: u64) {
    let min = load(field!(state, echo_rtt_min_ns));
    if min == 0 || rtt < min {
        store(field!(state, echo_rtt_min_ns), rtt.max(1));
    }
    if rtt > load(field!(state, echo_rtt_max_ns)) {
        store(field!(state, echo_rtt_max_ns), rtt);
    }
    add(field!(state, echo_rtt_sum_ns), rtt);
    count(field!(state, echo_rtt_samples));
}

/// Adds `value` to a shared counter with an atomic add.
#[inline(always)]
fn add(field: *mut u64, value: u64) {
    // SAFETY: as for `count`.
    unsafe {
        asm!(
            "lock *(u64 *)({field} + 0) += {value}",
            field = in(reg) field,
            value = in(reg) value,
            options(nostack),
        )
    };
}

/// Adds one to a shared counter with an atomic add (`BPF_ATOMIC | BPF_ADD`,
/// the old `XADD`): several CPUs may receive for the same session.
#[inline(always)]
fn count(field: *mut u64) {
    // SAFETY: `field` is an aligned u64 inside a live map value (the
    // verifier checks the access); the instruction only adds to it.
    unsafe {
        asm!(
            "lock *(u64 *)({field} + 0) += {one}",
            field = in(reg) field,
            one = in(reg) 1u64,
            options(nostack),
        )
    };
}

/// Atomically ORs `bits` into a shared word (`BPF_ATOMIC | BPF_OR`).
#[inline(always)]
fn atomic_or(field: *mut u64, bits: u64) {
    // SAFETY: as for `count`.
    unsafe {
        asm!(
            "lock *(u64 *)({field} + 0) |= {bits}",
            field = in(reg) field,
            bits = in(reg) bits,
            options(nostack),
        )
    };
}

/// Atomically ANDs `bits` into a shared word (`BPF_ATOMIC | BPF_AND`).
#[inline(always)]
fn atomic_and(field: *mut u64, bits: u64) {
    // SAFETY: as for `count`.
    unsafe {
        asm!(
            "lock *(u64 *)({field} + 0) &= {bits}",
            field = in(reg) field,
            bits = in(reg) bits,
            options(nostack),
        )
    };
}

/// Writes a shared timestamp: one 64-bit store, which BPF performs as a
/// single access (LLVM's BPF backend cannot select atomic loads and stores
/// for this target, so volatile accesses stand in for relaxed ones).
#[inline(always)]
fn store(field: *mut u64, value: u64) {
    // SAFETY: `field` is an aligned u64 inside a live map value.
    unsafe { field.write_volatile(value) };
}

/// Reads a shared word with one 64-bit load (see `store`).
#[inline(always)]
fn load(field: *mut u64) -> u64 {
    // SAFETY: `field` is an aligned u64 inside a live map value.
    unsafe { field.read_volatile() }
}

#[inline(always)]
fn set_detected(state: *mut SessionState, bit: u64) {
    atomic_or(field!(state, detected), bit);
}

/// Clears a detected flag; reads first so the common case (not detected)
/// costs no atomic write.
#[inline(always)]
fn clear_detected(state: *mut SessionState, bit: u64) {
    let field = field!(state, detected);
    if load(field) & bit != 0 {
        atomic_and(field, !bit);
    }
}

#[inline(always)]
fn now() -> u64 {
    // SAFETY: a helper without arguments.
    unsafe { bpf_ktime_get_ns() }
}

/// The two halves of an address as 64-bit words (compared without a
/// `memcmp`, which BPF does not have).
#[inline(always)]
fn words(address: &Address) -> (u64, u64) {
    let mut high = [0u8; 8];
    let mut low = [0u8; 8];
    high.copy_from_slice(&address[..8]);
    low.copy_from_slice(&address[8..]);
    (u64::from_ne_bytes(high), u64::from_ne_bytes(low))
}

#[inline(always)]
fn same_address(a: &Address, b: &Address) -> bool {
    words(a) == words(b)
}

#[inline(always)]
fn is_unspecified(address: &Address) -> bool {
    words(address) == (0, 0)
}

/// Whether the packet's first 24 bytes are the absorb template.
#[inline(always)]
fn same_header(bytes: &[u8; CONTROL_INSPECT_LEN], expect: &[u8; control::HEADER_LEN]) -> bool {
    let word = |bytes: &[u8], index: usize| {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[index * 8..index * 8 + 8]);
        u64::from_ne_bytes(word)
    };
    word(bytes, 0) == word(expect, 0)
        && word(bytes, 1) == word(expect, 1)
        && word(bytes, 2) == word(expect, 2)
}

/// Whether the packet's first 24 + 28 bytes (zeroes past what was
/// received) are the absorb template's header and authentication section
/// (zero-padded the same way).
#[inline(always)]
fn same_packet(
    bytes: &[u8; CONTROL_INSPECT_LEN],
    expect: &[u8; control::HEADER_LEN],
    expect_auth: &[u8; AUTH_INSPECT_LEN],
) -> bool {
    let word = |bytes: &[u8], index: usize| {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[index * 8..index * 8 + 8]);
        u64::from_ne_bytes(word)
    };
    let tail = |bytes: &[u8], start: usize| {
        let mut word = [0u8; 4];
        word.copy_from_slice(&bytes[start..start + 4]);
        u32::from_ne_bytes(word)
    };
    let auth = &bytes[control::HEADER_LEN..];
    same_header(bytes, expect)
        && word(auth, 0) == word(expect_auth, 0)
        && word(auth, 1) == word(expect_auth, 1)
        && word(auth, 2) == word(expect_auth, 2)
        && tail(auth, 24) == tail(expect_auth, 24)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // No panic path survives to the verifier (it would reject this loop);
    // this exists only because `no_std` binaries must name a handler.
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
