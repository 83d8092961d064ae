//! Key and value types of the BPF maps shared by the XDP program and the
//! agent, and the names the maps are pinned under.
//!
//! Rules for every type here, because the kernel and the agent must agree on
//! the bytes: `#[repr(C)]`, fields ordered so that there is no implicit
//! padding (bytemuck's `Pod` derive fails to compile otherwise), no `bool`
//! (any byte other than 0 or 1 would be undefined behaviour in the agent),
//! and only fixed-width integers. With the `user` feature the types also
//! implement `aya::Pod` so the agent can read them from maps.
//!
//! The maps carry BTF, so `bpftool map dump pinned <dir>/<map>` prints these
//! field names. Each map has exactly one writer:
//!
//! | map | key → value | written by |
//! | --- | --- | --- |
//! | [`STATS_MAP`] | `0` → [`GlobalStats`], per CPU | the XDP program |
//! | [`SESSION_CONFIG_MAP`] | local discriminator → [`SessionConfig`] | the agent |
//! | [`SESSION_STATE_MAP`] | local discriminator → [`SessionState`] | the XDP program (*) |
//! | [`ECHO_TIMER_MAP`] | local discriminator → [`EchoTimer`] | the XDP program (*) |
//! | [`ECHO_PEERS_MAP`] | [`EchoPeerKey`] → session discriminator | the agent |
//! | [`EVENTS_MAP`] | ring buffer of [`DetectEvent`] | the XDP program's timers |
//! | [`LEASE_MAP`] | `0` → [`Lease`] (mmap-able) | the agent, through a shared mapping |
//! | [`KEEPALIVE_MAP`] | local discriminator → [`Keepalive`] | the agent |
//! | [`KEEPALIVE_STATE_MAP`] | local discriminator → [`KeepaliveState`] | the XDP program |
//! | [`ADOPT_MAP`] | local discriminator → [`AdoptRecord`] | the agent (not used by the program) |
//!
//! (*) The agent creates the entry, zeroed, when it adds a session, and
//! deletes it with the session.
//!
//! Why configuration and kernel state are separate maps: an update of a
//! hash map element from user space replaces the element, and the kernel
//! cancels the `bpf_timer`s of the element it replaces (and does not copy
//! timers from user space at all). If the agent wrote into the map that
//! holds the timers, every configuration change would silently disarm the
//! session's detection timer. So the agent writes only [`SessionConfig`]s,
//! the kernel writes only [`SessionState`]s, and the agent touches the state
//! maps only to create an entry (zeroed, `BPF_NOEXIST`) and to delete it.
//!
//! Why two maps for the two timers: the kernel accepts at most one
//! `bpf_timer` per map value (with two, the map loses its timer record and
//! the verifier rejects the program: "map 'bfd_echo_tmr' has no valid
//! bpf_timer", checked on 6.18), so the echo detection timer lives in
//! [`ECHO_TIMER_MAP`] under the same key.

use bytemuck::{Pod, Zeroable};

use crate::wire::{ControlPacket, ControlRepr, Error, control};

/// Default bpffs directory under which an agent pins its maps and links.
/// Each agent instance needs its own (tests run several on one machine).
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/bfd";

/// Name of the XDP program in the object file.
pub const XDP_PROGRAM: &str = "bfd_xdp";

/// Name of the XDP program that starts the sweep (never attached): the
/// agent runs it with `BPF_PROG_TEST_RUN` (any frame of 14 bytes or more)
/// once it has created the sweep's timer entry, [`SWEEP_TIMER_KEY`] of
/// [`ECHO_TIMER_MAP`]. Every [`SWEEP_INTERVAL_NS`] the sweep looks for
/// sessions whose control timer does not run and does what the timer would
/// have: the kernel may fail to allocate a session's timer in the packet
/// path (`bpf_timer_init` allocates without taking locks there, and on
/// kernel 6.18 fails for good once the per-CPU caches it may use are
/// empty), and such a session would never be detected. One timer for all
/// sessions, allocated once from the agent's system call. Returns
/// [`SWEEP_STARTED`], [`SWEEP_NO_ENTRY`] or [`SWEEP_FAILED`].
pub const SWEEP_PROGRAM: &str = "bfd_sweep";
/// The key of the sweep's timer in [`ECHO_TIMER_MAP`]: 0, never a
/// session's (RFC 5880 §6.8.1: My Discriminator is nonzero).
pub const SWEEP_TIMER_KEY: u32 = 0;
/// The longest the sweep sleeps: it wakes for the earliest deadline of a
/// session whose timer does not run (so such a session is detected on
/// time), and at least this often, for a deadline set since its last run
/// (a session detected up to this much late) or a timer lost after it
/// started (up to two of it).
pub const SWEEP_INTERVAL_NS: u64 = 10_000_000;
/// [`SWEEP_PROGRAM`]: the sweep runs (`XDP_PASS`).
pub const SWEEP_STARTED: u32 = 2;
/// [`SWEEP_PROGRAM`]: no entry at [`SWEEP_TIMER_KEY`] (`XDP_DROP`).
pub const SWEEP_NO_ENTRY: u32 = 1;
/// [`SWEEP_PROGRAM`]: the timer could not be initialised or started
/// (`XDP_ABORTED`); worth another try.
pub const SWEEP_FAILED: u32 = 0;

/// Name of the map holding [`GlobalStats`] (a per-CPU array of one entry).
/// Map names are at most 15 bytes (`BPF_OBJ_NAME_LEN` - 1).
pub const STATS_MAP: &str = "bfd_stats";
/// Name of the hash map of [`SessionConfig`]s, keyed by local
/// discriminator.
pub const SESSION_CONFIG_MAP: &str = "bfd_sess_cfg";
/// Name of the hash map of [`SessionState`]s, keyed by local
/// discriminator.
pub const SESSION_STATE_MAP: &str = "bfd_sess_state";
/// Name of the hash map of [`EchoTimer`]s, keyed by local discriminator.
pub const ECHO_TIMER_MAP: &str = "bfd_echo_tmr";
/// Name of the hash map allowing peers' echoes to be reflected: [`EchoPeerKey`]
/// → local discriminator of the peer's session.
pub const ECHO_PEERS_MAP: &str = "bfd_echo_peers";
/// Name of the ring buffer of [`DetectEvent`]s.
pub const EVENTS_MAP: &str = "bfd_events";

/// Every map the program pins, in the order the README documents them.
pub const MAP_NAMES: [&str; 6] =
    [STATS_MAP, SESSION_CONFIG_MAP, SESSION_STATE_MAP, ECHO_TIMER_MAP, ECHO_PEERS_MAP, EVENTS_MAP];

/// Capacity of the per-session maps (configuration, state, echo timers).
pub const MAX_SESSIONS: usize = 16384;
/// Capacity of the echo reflection allowlist.
pub const MAX_ECHO_PEERS: usize = 16384;

/// The most sources whose bring-up packets (Your Discriminator 0) the XDP
/// program rate-limits at once (an LRU map: the oldest is forgotten).
pub const MAX_SLOW_PATH_SOURCES: usize = 4096;

/// Bring-up packets (Your Discriminator 0) one source may send to the
/// agent, per second on average. A session that is not Up sends one a
/// second (RFC 5880 §6.8.3), so this is a thousand sessions' bring-up
/// from one address; more is a flood the engine should not wake for.
pub const SLOW_PATH_RATE: u64 = 1_000;

/// How many such packets one source may send at once above the rate.
pub const SLOW_PATH_BURST: u64 = 1_000;
/// Size of the event ring buffer in bytes (a power of two and a multiple of
/// the page size); each event takes 40 bytes with its header, so it holds
/// about 6500 undelivered events.
pub const EVENTS_BYTES: usize = 256 * 1024;

/// An IPv4 or IPv6 address as the maps store it: 16 bytes, IPv4 as an
/// IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2), so that
/// one field holds either family. (IPv4-mapped addresses never appear in
/// real IPv6 headers, so the two cannot be confused.)
pub type Address = [u8; 16];

/// The map form of `ip`.
pub const fn address(ip: core::net::IpAddr) -> Address {
    match ip {
        core::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        core::net::IpAddr::V6(v6) => v6.octets(),
    }
}

/// The map form of an IPv4 address given as its four bytes (what the XDP
/// program reads from a header).
#[inline(always)]
pub const fn address_v4(octets: [u8; 4]) -> Address {
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, octets[0], octets[1], octets[2], octets[3]]
}

/// The address `bytes` holds: IPv4 for an IPv4-mapped address.
pub fn ip_address(bytes: Address) -> core::net::IpAddr {
    core::net::Ipv6Addr::from(bytes).to_canonical()
}

/// [`SessionConfig::flags`]: the session is multihop (RFC 5883): its
/// control packets come to UDP 4784 with a TTL of at least
/// [`SessionConfig::min_ttl`], from any interface. Without it the session
/// is single-hop (RFC 5881): UDP 3784, TTL 255, and the configured
/// interface.
pub const CFG_MULTIHOP: u32 = 1 << 0;
/// [`SessionConfig::flags`]: we send echo packets for this session, so its
/// echoes coming back are ours to time (RFC 5880 §6.4).
pub const CFG_ECHO: u32 = 1 << 1;
/// [`SessionConfig::flags`]: the kernel may absorb control packets that
/// match [`SessionConfig::expect`] (the agent clears it while it needs to
/// see every packet, e.g. during a Poll sequence or with authentication).
pub const CFG_ABSORB: u32 = 1 << 2;
/// [`SessionConfig::flags`]: the session uses authentication (RFC 5880
/// §6.7). The kernel stamps only a packet equal to the template (header and
/// [`SessionConfig::expect_auth`]: bytes the agent verified); any other,
/// with the A bit or without it (§6.8.6: then to be discarded), goes to the
/// agent unstamped.
pub const CFG_AUTH: u32 = 1 << 3;
/// [`SessionConfig::flags`]: the kernel answers the peer's packets in the
/// steady state while the agent runs (issue 19: the agent's `--kernel-answers`),
/// as it does for every Up session while the agent is away (issue 17): each
/// valid packet of the Up peer is answered with the session's
/// [`Keepalive`] packet, no sooner than [`Keepalive::min_interval_ns`] after
/// [`KeepaliveState::last_tx_ns`] (the agent seeds it with its own last
/// packet when it hands transmission over). The agent sets it only for an
/// Up session whose peer sends at the very interval we must (so answering
/// each of its packets is sending at our interval, with its jitter) and
/// whose discriminator is smaller than ours (so between two such agents
/// exactly one end originates).
pub const CFG_ANSWER: u32 = 1 << 4;

/// What the XDP program must know about one session, keyed by the session's
/// local discriminator (our My Discriminator, so the peer's Your
/// Discriminator: RFC 5880 §6.8.6 selects the session by it).
///
/// Written only by the agent, as a whole, each write with a new
/// `generation`. The map is allocated without preallocation
/// (`BPF_F_NO_PREALLOC`), so a replaced value is freed only after an RCU
/// grace period: the XDP program reads either the old or the new value,
/// never a mix.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct SessionConfig {
    /// Written by the agent: increased on every write of any session's
    /// value (one counter for all, so it never repeats for a
    /// discriminator). The kernel copies it into each [`DetectEvent`]; the
    /// agent ignores an event older than the session's first entry: the
    /// timer of an earlier session with the same discriminator. (An event
    /// raised under an older entry of the same session is still a
    /// detection; the session core tells a stale one by its own receive
    /// times.)
    pub generation: u64,
    /// Written by the agent: the control detection time in nanoseconds
    /// (RFC 5880 §6.8.4); every valid control packet re-arms the detection
    /// timer to it (with authentication, [`CFG_AUTH`], only one equal to the
    /// template). 0: no detection timer (for example while the session is
    /// Down).
    pub detect_ns: u64,
    /// Written by the agent: the echo detection time in nanoseconds; every
    /// echo of ours coming back re-arms the echo timer to it. 0: no echo
    /// timer.
    pub echo_detect_ns: u64,
    /// Written by the agent: the peer's address ([`Address`]); control
    /// packets from any other source are dropped as spoofed.
    pub peer: Address,
    /// Written by the agent: our address for this session; control packets
    /// to another destination are dropped, and our echoes come back with it
    /// as source and destination. All zero: any.
    pub local: Address,
    /// Written by the agent: the interface of a single-hop session; its
    /// packets arriving on another interface are dropped. 0: any.
    pub ifindex: u32,
    /// Written by the agent: [`CFG_MULTIHOP`], [`CFG_ECHO`], [`CFG_ABSORB`].
    pub flags: u32,
    /// Written by the agent: the absorb template, the exact 24 bytes of the
    /// control packet the agent expects next from the peer (see
    /// [`SessionConfig::expect_header`]). With [`CFG_ABSORB`], a packet of
    /// Length 24 whose first 24 bytes are these is absorbed by the kernel:
    /// same state, diagnostic, flags, multiplier, discriminators and
    /// intervals, so nothing the agent needs. The template has P and F
    /// clear, so a Poll or a Final always reaches the agent.
    pub expect: [u8; control::HEADER_LEN],
    /// Written by the agent: the lowest TTL / hop limit accepted on a
    /// multihop session (RFC 5883 §2 leaves it to configuration; FRR's
    /// default is 254). Ignored for single-hop sessions, which accept only
    /// 255 (RFC 5881 §5).
    pub min_ttl: u8,
    /// Zero.
    pub reserved: [u8; 7],
    /// Written by the agent: a number it changes when the session comes Up.
    /// When the kernel sees a new value it restarts
    /// [`SessionState::max_gap_ns`], so that holds the largest gap since
    /// the session came Up.
    pub gap_epoch: u64,
    /// Written by the agent: the absorb template's authentication section
    /// (RFC 5880 §4.2-4.4), zero-padded to the largest (keyed SHA1, 28
    /// bytes); all zero when the template has none. A packet with the A
    /// bit is absorbed only if its header is [`expect`](Self::expect) (which
    /// then has the A bit and the Length of header and section) and its
    /// section is exactly these bytes: byte-identical to a packet the agent
    /// verified (see [`SessionConfig::expect_packet`]). Any other packet
    /// with the A bit goes to the agent without stamping
    /// [`SessionState::last_rx_ns`] or re-arming the detection timer.
    pub expect_auth: [u8; AUTH_INSPECT_LEN],
    /// Zero.
    pub reserved_auth: [u8; 4],
    /// Written by the agent for an authenticated session the kernel times:
    /// when the agent last accepted a packet whose digest it verified
    /// (`CLOCK_MONOTONIC` ns), a packet the kernel passed up unstamped.
    /// The detection timer counts from the later of this and
    /// [`SessionState::last_rx_ns`]. 0: none.
    pub verified_rx_ns: u64,
}

/// The largest authentication section the kernel compares (keyed SHA1,
/// RFC 5880 §4.4): the program inspects 24 + 28 bytes of a control packet.
pub const AUTH_INSPECT_LEN: usize = 28;

impl SessionConfig {
    /// The absorb template for a session whose peer is expected to send
    /// `repr`: the 24-byte mandatory section as the peer would emit it, with
    /// Poll and Final cleared and no authentication section (a packet with
    /// P, F or the A bit set never matches, so it always reaches the agent).
    pub fn expect_header(repr: &ControlRepr) -> [u8; control::HEADER_LEN] {
        let repr = ControlRepr { poll: false, final_: false, auth: None, ..*repr };
        let mut header = [0u8; control::HEADER_LEN];
        repr.emit(&mut ControlPacket::new_unchecked(&mut header[..]));
        header
    }

    /// The absorb template for a session whose peer is expected to send
    /// `repr` including its authentication section (RFC 5880 §6.7): the
    /// header as the peer would emit it, Poll and Final cleared, and the
    /// section's bytes zero-padded to [`AUTH_INSPECT_LEN`]. For a `repr`
    /// without a section this is [`expect_header`](Self::expect_header) and
    /// zeroes.
    pub fn expect_packet(repr: &ControlRepr) -> ([u8; control::HEADER_LEN], [u8; AUTH_INSPECT_LEN]) {
        let repr = ControlRepr { poll: false, final_: false, ..*repr };
        let mut bytes = [0u8; control::HEADER_LEN + AUTH_INSPECT_LEN];
        repr.emit(&mut ControlPacket::new_unchecked(&mut bytes[..]));
        let mut header = [0u8; control::HEADER_LEN];
        let mut auth = [0u8; AUTH_INSPECT_LEN];
        header.copy_from_slice(&bytes[..control::HEADER_LEN]);
        auth.copy_from_slice(&bytes[control::HEADER_LEN..]);
        (header, auth)
    }
}

/// The kernel's `struct bpf_timer` (`include/uapi/linux/bpf.h`): 16 opaque
/// bytes, 8-aligned. The verifier recognises a timer in a map value by this
/// BTF type name, so the type must be called exactly `bpf_timer`. From user
/// space it always reads as zeroes.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[allow(non_camel_case_types)] // the kernel's name is the point
pub struct bpf_timer {
    opaque: [u64; 2],
}

/// [`SessionState::detected`]: the control detection timer expired and no
/// valid control packet has arrived since (RFC 5880 §6.8.4).
pub const DETECTED_CONTROL: u64 = 1 << 0;
/// [`SessionState::detected`]: the echo detection timer expired and none of
/// our echoes has come back since.
pub const DETECTED_ECHO: u64 = 1 << 1;
/// [`SessionState::detected`]: the originating peer was reported silent
/// (`EVENT_ORIGINATOR_SILENT`, issue 19) and has sent nothing since.
pub const DETECTED_SILENCE: u64 = 1 << 2;
/// [`SessionState::detected`]: the session's control timer could not be
/// started (its allocation failed); [`SessionState::ctl_due_ns`] is then
/// the deadline the sweep (`SWEEP_PROGRAM`) times it by, and the program
/// tries to start the timer again every [`NO_TIMER_RETRY`] packets.
pub const DETECTED_NO_TIMER: u64 = 1 << 3;
/// [`SessionState::detected`]: the session's echo timer could not be
/// started (as [`DETECTED_NO_TIMER`] for the control timer); the sweep
/// times the echo by [`SessionState::last_echo_rx_ns`] and the echo
/// detection time, and the program tries to start the timer again on one
/// returning echo in [`NO_TIMER_RETRY`].
pub const DETECTED_NO_ECHO_TIMER: u64 = 1 << 4;
/// See [`DETECTED_NO_TIMER`]: a failed allocation costs about as much as a
/// started timer, so a session without one tries on one packet in this
/// many.
pub const NO_TIMER_RETRY: u64 = 16;

/// What the kernel knows about a session, keyed by local discriminator.
///
/// Written only by the XDP program and its timers. The agent creates the
/// entry zeroed when it adds the session (before its [`SessionConfig`]) and
/// deletes it with the session; it must never overwrite it (that would
/// cancel the timer, see the module docs). Counters are updated with
/// atomic adds (several CPUs receive for the same session); timestamps are
/// `bpf_ktime_get_ns()`, i.e. `CLOCK_MONOTONIC` nanoseconds.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct SessionState {
    /// The control detection timer, initialised by the first packet that
    /// arms it; re-armed to [`SessionConfig::detect_ns`] by every valid
    /// control packet (with [`CFG_AUTH`]: every absorbed one).
    pub ctl_timer: bpf_timer,
    /// When the last valid control packet for the session arrived (with
    /// [`CFG_AUTH`]: the last absorbed one; the agent's verified ones are in
    /// [`SessionConfig::verified_rx_ns`]).
    pub last_rx_ns: u64,
    /// Valid control packets for the session (absorbed or passed).
    pub rx_packets: u64,
    /// Of these, absorbed in the kernel.
    pub absorbed: u64,
    /// Of these, passed to the agent.
    pub passed: u64,
    /// Control packets dropped for their TTL / hop limit.
    pub drop_ttl: u64,
    /// Control packets dropped because their source was not the peer.
    pub drop_src: u64,
    /// Control packets dropped because their destination was not our
    /// address.
    pub drop_dst: u64,
    /// Control packets of a single-hop session dropped because they came in
    /// on another interface.
    pub drop_iface: u64,
    /// Control packets dropped because they came to the other kind's port
    /// (3784 for a multihop session, 4784 for a single-hop one).
    pub drop_port: u64,
    /// Times the control detection timer expired.
    pub ctl_expired: u64,
    /// When the last of our echoes for the session came back.
    pub last_echo_rx_ns: u64,
    /// Round-trip time of that echo: arrival less the `tx_time_ns` it
    /// carries.
    pub echo_rtt_ns: u64,
    /// Our echoes that came back.
    pub echo_rx: u64,
    /// The peer's echoes we reflected (counted here when the allowlist
    /// entry names this session).
    pub echo_reflected: u64,
    /// Times the echo detection timer expired.
    pub echo_expired: u64,
    /// [`DETECTED_CONTROL`] and [`DETECTED_ECHO`]: set by a timer when it
    /// expires, cleared by the next packet that re-arms it. (64 bits: BPF
    /// has atomic OR and AND on 64-bit words in every ISA version.)
    pub detected: u64,
    /// The largest gap between two valid control packets since
    /// [`SessionConfig::gap_epoch`] last changed (the session came Up).
    pub max_gap_ns: u64,
    /// The [`SessionConfig::gap_epoch`] `max_gap_ns` belongs to.
    pub gap_epoch: u64,
    /// The smallest echo round-trip time since the epoch began (0: none).
    pub echo_rtt_min_ns: u64,
    /// The largest echo round-trip time since the epoch began.
    pub echo_rtt_max_ns: u64,
    /// The sum of the echo round-trip times since the epoch began.
    pub echo_rtt_sum_ns: u64,
    /// How many round-trip times the sum holds.
    pub echo_rtt_samples: u64,
    /// The gaps between consecutive valid control packets, since the
    /// entry was created (never reset: Prometheus counters), bucketed by
    /// [`GAP_HISTOGRAM_SHIFT`]. Every valid control packet but the first
    /// adds one gap, so the buckets sum to `rx_packets - 1`.
    pub gap_hist: LogHistogram,
    /// The round-trip times of our echoes coming back, since the entry was
    /// created, bucketed by [`ECHO_RTT_HISTOGRAM_SHIFT`]; the buckets sum to
    /// `echo_rx`.
    pub echo_rtt_hist: LogHistogram,
    /// How late each control detection came: the timer's expiry less the
    /// last valid packet less the detection time, since the entry was
    /// created, bucketed by [`OVERSHOOT_HISTOGRAM_SHIFT`]; the buckets sum
    /// to `ctl_expired`.
    pub detect_overshoot_hist: LogHistogram,
    /// When the control detection timer is due (`CLOCK_MONOTONIC` ns) as
    /// last started; in the past once it has fired. An absorbed packet
    /// restarts the timer only when less than half a detection time is left
    /// (the callback waits out the rest otherwise). A packet with the A
    /// bit that is not absorbed may start an idle timer (never push a
    /// pending one back): so a session whose peer's packets are never
    /// byte-identical still gets a kernel detection, counted from verified
    /// packets only.
    pub ctl_due_ns: u64,
}

/// Buckets of each of a session's [`LogHistogram`]s.
pub const HISTOGRAM_BUCKETS: usize = 16;

/// [`LogHistogram::buckets`] of [`SessionState::gap_hist`] start at 2^18
/// ns: its bucket 0 holds the gaps under 2^19 ns (524 µs), bucket 14 those
/// under 2^33 ns (8.6 s), bucket 15 the rest.
pub const GAP_HISTOGRAM_SHIFT: u32 = 18;
/// [`SessionState::echo_rtt_hist`]: bucket 0 under 2^12 ns (4.1 µs),
/// bucket 14 under 2^26 ns (67 ms).
pub const ECHO_RTT_HISTOGRAM_SHIFT: u32 = 11;
/// [`SessionState::detect_overshoot_hist`]: bucket 0 under 2^11 ns
/// (2 µs), bucket 14 under 2^25 ns (33.6 ms).
pub const OVERSHOOT_HISTOGRAM_SHIFT: u32 = 10;

/// A histogram of nanosecond values in power-of-two buckets, kept by the
/// XDP program with atomic adds (the log-scale histograms of bpftrace's
/// `hist()`). With a histogram's `shift` s, bucket `i` counts the values
/// in `[2^(s+i), 2^(s+i+1))`, bucket 0 also every smaller one and the last
/// bucket every larger one: see [`histogram_bucket`] and
/// [`LogHistogram::upper_bound_ns`]. The buckets are not cumulative; their
/// sum is the number of values observed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct LogHistogram {
    /// The count of values per bucket.
    pub buckets: [u64; HISTOGRAM_BUCKETS],
    /// The sum of the values observed, in nanoseconds.
    pub sum_ns: u64,
}

impl LogHistogram {
    /// The exclusive upper bound in nanoseconds of bucket `index` of a
    /// histogram with `shift`; `None` for the last bucket, which has none.
    pub const fn upper_bound_ns(shift: u32, index: usize) -> Option<u64> {
        if index + 1 >= HISTOGRAM_BUCKETS { None } else { Some(1 << (shift + index as u32 + 1)) }
    }

    /// The number of values observed (the sum of the buckets).
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

/// `floor(log2(value))` (0 for 0 and 1) by a branchy binary search of six
/// fixed steps: no loop and no table, so the verifier sees a short
/// straight path, and the same code serves the host's tests.
#[inline(always)]
pub const fn log2_floor(value: u64) -> u32 {
    let mut value = value;
    let mut log = 0;
    if value >= 1 << 32 {
        value >>= 32;
        log += 32;
    }
    if value >= 1 << 16 {
        value >>= 16;
        log += 16;
    }
    if value >= 1 << 8 {
        value >>= 8;
        log += 8;
    }
    if value >= 1 << 4 {
        value >>= 4;
        log += 4;
    }
    if value >= 1 << 2 {
        value >>= 2;
        log += 2;
    }
    if value >= 1 << 1 {
        log += 1;
    }
    log
}

/// The bucket of a [`LogHistogram`] with `shift` that counts `value`:
/// always below [`HISTOGRAM_BUCKETS`].
#[inline(always)]
pub const fn histogram_bucket(value: u64, shift: u32) -> usize {
    let index = log2_floor(value).saturating_sub(shift) as usize;
    if index < HISTOGRAM_BUCKETS { index } else { HISTOGRAM_BUCKETS - 1 }
}

/// A session's echo detection timer, keyed by local discriminator (in its
/// own map: one `bpf_timer` per map value, see the module docs). Written
/// only by the XDP program; the agent creates it zeroed with the session and
/// deletes it with the session.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct EchoTimer {
    /// Re-armed to [`SessionConfig::echo_detect_ns`] by each of our echoes
    /// coming back.
    pub timer: bpf_timer,
}

/// Key of the echo reflection allowlist: we send a peer's echo back only
/// if it arrives on this interface from this address (RFC 5880 §6.4: the
/// peer's echo is looped back; we are never an open reflector). Written by
/// the agent; the value is the local discriminator of the peer's session
/// (0 if none), whose `echo_reflected` counter the kernel increments.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct EchoPeerKey {
    /// Interface the echo arrives on.
    pub ifindex: u32,
    /// The peer's address ([`Address`]), which is both the source and the
    /// destination of its echo.
    pub address: Address,
}

/// [`DetectEvent::kind`] of an expired control detection timer.
pub const EVENT_CONTROL_TIMEOUT: u32 = 1;
/// [`DetectEvent::kind`] of an expired echo detection timer.
pub const EVENT_ECHO_TIMEOUT: u32 = 2;
/// [`DetectEvent::kind`] of a peer packet the kernel, answering for the
/// session (`CFG_ANSWER`, issue 19), left unanswered because it came
/// sooner than §6.8.7's floor after the kernel's last answer: the agent
/// sends that answer when the floor ends. `last_rx_ns` is the peer
/// packet's arrival, `fired_at_ns` the floor's end (the kernel's last
/// answer plus [`Keepalive::min_interval_ns`]). Not a detection; an agent
/// that does not know the kind ignores it.
pub const EVENT_ANSWER_OWED: u32 = 3;
/// [`DetectEvent::kind`] of a session the kernel answers for
/// (`CFG_ANSWER`, issue 19) whose peer sent nothing for
/// [`originator_silence_ns`] of the Detection Time: the peer originates,
/// and its agent may be away (restarting: its kernel answers but does not
/// originate), so the agent originates for a while instead. `last_rx_ns`
/// is the peer's last packet, `fired_at_ns` the timer's expiry. Not a
/// detection; an agent that does not know the kind ignores it.
pub const EVENT_ORIGINATOR_SILENT: u32 = 4;

/// How long the control timer of a session the kernel answers for waits
/// after the peer's last packet before [`EVENT_ORIGINATOR_SILENT`]:
/// two-thirds of the Detection Time `detect_ns` (two intervals at Detect
/// Mult 3). That leaves a whole interval for the agent to send and the
/// peer's kernel to answer before either end's detection, and a late
/// packet of the peer's (up to an interval late) raises nothing.
pub const fn originator_silence_ns(detect_ns: u64) -> u64 {
    detect_ns - detect_ns / 3
}

/// What a timer tells the agent through [`EVENTS_MAP`] when it expires.
/// Written by the XDP program's timer callbacks.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct DetectEvent {
    /// [`SessionConfig::generation`] when the timer expired.
    pub generation: u64,
    /// The last packet the timer was waiting after:
    /// [`SessionState::last_rx_ns`] or [`SessionState::last_echo_rx_ns`].
    pub last_rx_ns: u64,
    /// `bpf_ktime_get_ns()` in the timer callback.
    pub fired_at_ns: u64,
    /// The session's local discriminator.
    pub discriminator: u32,
    /// [`EVENT_CONTROL_TIMEOUT`], [`EVENT_ECHO_TIMEOUT`],
    /// [`EVENT_ANSWER_OWED`] or [`EVENT_ORIGINATOR_SILENT`].
    pub kind: u32,
}

/// Name of the agent's adoption map: local discriminator → [`AdoptRecord`].
/// Not part of the XDP program (the agent creates and pins it beside the
/// program's maps): it holds what a later agent needs to take the sessions
/// over without the peers noticing. Written by the agent when a session's
/// state or parameters change, never per packet.
pub const ADOPT_MAP: &str = "bfd_adopt";

/// The layout of the pinned maps as this build reads and writes them: the
/// program's maps and [`AdoptRecord`]. An agent adopts what an earlier one
/// left only if every record carries this number; bump it with any change
/// to a map's key or value.
pub const MAP_LAYOUT: u32 = 2;

/// [`AdoptRecord::flags`]: a multihop session.
pub const ADOPT_MULTIHOP: u8 = 1;
/// [`AdoptRecord::flags`]: `local` is set.
pub const ADOPT_HAS_LOCAL: u8 = 2;
/// [`AdoptRecord::flags`]: `received` holds the peer's last packet.
pub const ADOPT_HAS_RECEIVED: u8 = 4;

/// One session as an agent leaves it for the next (see [`ADOPT_MAP`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct AdoptRecord {
    /// [`MAP_LAYOUT`] of the agent that wrote it.
    pub layout: u32,
    /// bfd.LocalDiscr (also the key).
    pub local_discr: u32,
    /// Our DesiredMinTxInterval as advertised, microseconds.
    pub desired_min_tx_us: u32,
    /// Our RequiredMinRxInterval as advertised, microseconds.
    pub required_min_rx_us: u32,
    /// Our Required Min Echo RX Interval as advertised, microseconds.
    pub required_min_echo_rx_us: u32,
    /// The interface a single-hop session runs on, 0 if not known.
    pub ifindex: u32,
    /// The session's UDP source port (RFC 5881 §4).
    pub source_port: u16,
    /// bfd.SessionState, as on the wire.
    pub state: u8,
    /// bfd.LocalDiag, as on the wire.
    pub local_diag: u8,
    /// bfd.DetectMult.
    pub detect_mult: u8,
    /// [`ADOPT_MULTIHOP`], [`ADOPT_HAS_LOCAL`], [`ADOPT_HAS_RECEIVED`].
    pub flags: u8,
    /// Zero.
    pub reserved: [u8; 2],
    /// The peer's address ([`Address`]).
    pub peer: Address,
    /// Our address, if the session is bound to one.
    pub local: Address,
    /// The peer's last accepted packet, Poll and Final clear.
    pub received: [u8; control::HEADER_LEN],
    /// Our steady-state packet (no Poll, no Final): what a keepalive sends.
    pub sent: [u8; control::HEADER_LEN],
}

/// Name of the agent's lease (an mmap-able array of one [`Lease`]): while it
/// is valid the agent runs and transmits; once it expires the XDP program
/// answers for the agent ([`KEEPALIVE_MAP`]).
pub const LEASE_MAP: &str = "bfd_lease";
/// Name of the hash map of [`Keepalive`]s, keyed by local discriminator:
/// the Up sessions the kernel answers for while no agent runs.
pub const KEEPALIVE_MAP: &str = "bfd_keepalive";
/// Name of the hash map of [`KeepaliveState`]s, keyed by local
/// discriminator.
pub const KEEPALIVE_STATE_MAP: &str = "bfd_ka_state";

/// How far past its engine's next deadline the agent's lease runs
/// ([`Lease::valid_until_ns`]). The program subtracts it again: the agent
/// sent nothing after that deadline, so a keepalive answer at least 75% of
/// the session's interval after it keeps RFC 5880 §6.8.7's spacing from
/// the agent's last packet, whichever session the deadline was for.
pub const LEASE_SLACK_NS: u64 = 50_000_000;

/// The agent's lease. Written by the agent through a shared mapping of the
/// map (no system call) on every wake of its engine; read by the program.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Lease {
    /// `CLOCK_MONOTONIC` ns until which the agent is known to run: its
    /// engine's next deadline and a margin. 0: never had an agent.
    pub valid_until_ns: u64,
    /// How long after the lease expired the kernel keeps answering; 0:
    /// never (no keepalive).
    pub max_absence_ns: u64,
}

/// What the kernel sends for an Up session while no agent runs. Written by
/// the agent when the session's state or parameters change.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Keepalive {
    /// The least time between two answers: RFC 5880 §6.8.7's floor, 75% of
    /// the negotiated transmit interval.
    pub min_interval_ns: u64,
    /// The session's UDP source port (RFC 5881 §4).
    pub source_port: u16,
    /// Zero.
    pub reserved: [u8; 6],
    /// Our steady-state control packet, sent as is.
    pub packet: [u8; control::HEADER_LEN],
}

/// The kernel's keepalive bookkeeping of a session. Written by the program.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct KeepaliveState {
    /// When the kernel last answered for the session.
    pub last_tx_ns: u64,
    /// Answers sent.
    pub sent: u64,
    /// Packets not answered: the last answer was too recent.
    pub limited: u64,
}

/// Counters of BFD packets that failed validation, one per
/// [`wire::Error`](Error) variant, named after [`Error::as_str`].
///
/// Named fields rather than an array so that a `bpftool` dump says which
/// check failed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[allow(missing_docs)] // each field is the count of the `Error` variant of the same name
pub struct WireErrorCounters {
    pub truncated: u64,
    pub bad_version: u64,
    pub length_too_short: u64,
    pub length_exceeds_payload: u64,
    pub zero_detect_mult: u64,
    pub multipoint_set: u64,
    pub zero_my_discr: u64,
    pub zero_your_discr: u64,
    pub auth_len_mismatch: u64,
    pub auth_type_unknown: u64,
    pub auth_len_invalid: u64,
    pub echo_bad_magic: u64,
    pub echo_bad_version: u64,
}

impl WireErrorCounters {
    /// The counter of `error`.
    #[inline(always)]
    pub fn counter_mut(&mut self, error: Error) -> &mut u64 {
        match error {
            Error::Truncated => &mut self.truncated,
            Error::BadVersion => &mut self.bad_version,
            Error::LengthTooShort => &mut self.length_too_short,
            Error::LengthExceedsPayload => &mut self.length_exceeds_payload,
            Error::ZeroDetectMult => &mut self.zero_detect_mult,
            Error::MultipointSet => &mut self.multipoint_set,
            Error::ZeroMyDiscriminator => &mut self.zero_my_discr,
            Error::ZeroYourDiscriminator => &mut self.zero_your_discr,
            Error::AuthLengthMismatch => &mut self.auth_len_mismatch,
            Error::AuthTypeUnknown => &mut self.auth_type_unknown,
            Error::AuthLengthInvalid => &mut self.auth_len_invalid,
            Error::EchoBadMagic => &mut self.echo_bad_magic,
            Error::EchoBadVersion => &mut self.echo_bad_version,
        }
    }

    /// The count for `error`.
    pub fn get(&self, error: Error) -> u64 {
        let mut copy = *self;
        *copy.counter_mut(error)
    }

    /// Total of all counters.
    pub fn total(&self) -> u64 {
        Error::ALL.iter().map(|error| self.get(*error)).sum()
    }

    /// Adds `other` field by field (to sum per-CPU values).
    pub fn add(&mut self, other: &WireErrorCounters) {
        for error in Error::ALL {
            *self.counter_mut(error) += other.get(error);
        }
    }
}

/// Global counters of the XDP program, one copy per CPU (the agent sums
/// them). Written only by the XDP program.
///
/// Every frame the program sees is counted in exactly one decision (see
/// [`GlobalStats::decisions`]): the `not_bfd`, `ctl_*` and `echo_*`
/// frame counters and the invalid control packets by reason. The timer
/// counters (`ctl_expired`, `echo_expired`, `events_lost`) count
/// callbacks, not frames.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct GlobalStats {
    /// Every frame the program ran on.
    pub frames: u64,
    /// Frames the fast path does not handle, passed untouched: other
    /// protocols and ports, IP fragments, IPv6 extension headers, headers
    /// cut short.
    pub not_bfd: u64,
    /// Control packets absorbed (`XDP_DROP`): valid, of a known session,
    /// and equal to its absorb template.
    pub ctl_absorbed: u64,
    /// Control packets with Your Discriminator 0, passed to the agent for
    /// session bring-up (RFC 5880 §6.8.6 selects the session by the
    /// addresses then).
    pub ctl_pass_discr0: u64,
    /// Valid control packets of a known session that differ from its absorb
    /// template (or whose session does not allow absorbing): passed.
    pub ctl_pass_changed: u64,
    /// Valid control packets of a known session with an authentication
    /// section (A bit, Length > 24): passed, the agent checks the digest.
    pub ctl_pass_auth: u64,
    /// Control packets of a known session whose Length is beyond what the
    /// kernel inspects (more than a header and the largest authentication
    /// section): passed, the agent validates them.
    pub ctl_pass_oversize: u64,
    /// Control packets whose Your Discriminator is no session of ours:
    /// dropped.
    pub ctl_drop_unknown: u64,
    /// Control packets with a wrong TTL / hop limit (single-hop: not 255,
    /// RFC 5881 §5, whatever their discriminator; multihop: below the
    /// session's minimum): dropped.
    pub ctl_drop_ttl: u64,
    /// Control packets whose source is not the session's peer (spoofed):
    /// dropped.
    pub ctl_drop_src: u64,
    /// Control packets whose destination is not the session's local
    /// address: dropped.
    pub ctl_drop_dst: u64,
    /// Single-hop control packets that came in on another interface than
    /// the session's: dropped.
    pub ctl_drop_iface: u64,
    /// Control packets on the other kind's port (3784 for a multihop
    /// session, 4784 for a single-hop one): dropped.
    pub ctl_drop_port: u64,
    /// Control packets with Your Discriminator 0 over their source's rate
    /// ([`SLOW_PATH_RATE`]): dropped, so that one sender cannot make the
    /// agent wake for every packet it sends.
    pub ctl_drop_rate: u64,
    /// Our echoes coming back (our payload, a session of ours with echo on):
    /// timed and absorbed.
    pub echo_own: u64,
    /// Peers' echoes reflected (`XDP_TX`).
    pub echo_reflected: u64,
    /// Echo packets not addressed to their sender (IP source ≠ IP
    /// destination): not an echo to reflect, passed untouched.
    pub echo_pass_not_self: u64,
    /// Echo packets from a peer not in the allowlist: passed untouched.
    pub echo_pass_denied: u64,
    /// Echo packets with a TTL / hop limit other than 255 (not from a
    /// neighbour): passed untouched.
    pub echo_pass_ttl: u64,
    /// Control packets that failed a check of RFC 5880 §6.8.6, by reason:
    /// dropped.
    pub control_invalid: WireErrorCounters,
    /// Control detection timers that expired (events sent).
    pub ctl_expired: u64,
    /// Echo detection timers that expired (events sent).
    pub echo_expired: u64,
    /// Events that did not fit in the ring buffer (the session's `detected`
    /// flag is still set).
    pub events_lost: u64,
}

impl GlobalStats {
    /// Adds `other` field by field (to sum per-CPU values).
    pub fn add(&mut self, other: &GlobalStats) {
        // Every field is a u64 (the Pod derive proves there is no padding).
        let sum: &mut [u64] = bytemuck::cast_slice_mut(core::slice::from_mut(self));
        let add: &[u64] = bytemuck::cast_slice(core::slice::from_ref(other));
        for (sum, add) in sum.iter_mut().zip(add) {
            *sum += *add;
        }
    }

    /// Frames counted in a decision: equals `frames` when every frame is
    /// counted exactly once.
    pub fn decisions(&self) -> u64 {
        self.not_bfd
            + self.ctl_absorbed
            + self.ctl_pass_discr0
            + self.ctl_pass_changed
            + self.ctl_pass_auth
            + self.ctl_pass_oversize
            + self.ctl_drop_unknown
            + self.ctl_drop_ttl
            + self.ctl_drop_src
            + self.ctl_drop_dst
            + self.ctl_drop_iface
            + self.ctl_drop_port
            + self.ctl_drop_rate
            + self.control_invalid.total()
            + self.echo_own
            + self.echo_reflected
            + self.echo_pass_not_self
            + self.echo_pass_denied
            + self.echo_pass_ttl
    }
}

// SAFETY (all impls below): `aya::Pod` requires a plain-old-data type that
// is valid for any bit pattern; bytemuck's `Pod` derive on each type proves
// exactly that at compile time (repr(C), no padding, all fields Pod).
#[cfg(feature = "user")]
unsafe impl aya::Pod for GlobalStats {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for SessionConfig {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for SessionState {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for EchoTimer {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for EchoPeerKey {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for DetectEvent {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for AdoptRecord {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for Lease {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for Keepalive {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for KeepaliveState {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for XmitBatch {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for XmitCursor {}

/// Name of the XDP program that sends prepared frames (issue 19): run by the
/// agent with `BPF_PROG_TEST_RUN` in live-frame mode
/// (`BPF_F_TEST_XDP_LIVE_FRAMES`, kernel 5.18), never attached. Each run of
/// the program takes the next frame of [`XMIT_BATCH_MAP`], writes it into
/// the kernel's frame and redirects it to the frame's interface: one system
/// call sends a whole batch, past the socket layer, IP output and the qdisc,
/// straight to the driver's `ndo_xdp_xmit`.
pub const XMIT_PROGRAM: &str = "bfd_xmit";
/// Name of the array (one [`XmitBatch`], `BPF_F_MMAPABLE`) the sender
/// writes through a shared mapping before each run of [`XMIT_PROGRAM`].
pub const XMIT_BATCH_MAP: &str = "bfd_xmit_batch";
/// Name of the per-CPU array (one [`XmitCursor`]) where [`XMIT_PROGRAM`]
/// keeps its place in the batch.
pub const XMIT_CURSOR_MAP: &str = "bfd_xmit_cursor";
/// Frames one batch holds.
pub const XMIT_BATCH_FRAMES: usize = 64;
/// The largest frame a batch slot holds: Ethernet, two VLAN tags, IPv6,
/// UDP and a control packet with the longest authentication section (RFC
/// 5880 §4.4: 28 bytes), 130 bytes, rounded up to 8.
pub const XMIT_FRAME_LEN: usize = 136;

/// One frame to send.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct XmitFrame {
    /// The interface to send it on.
    pub ifindex: u32,
    /// Its length: at least 14, at most [`XMIT_FRAME_LEN`].
    pub len: u32,
    /// The frame, from the Ethernet header on; bytes past `len` are not
    /// sent.
    pub bytes: [u8; XMIT_FRAME_LEN],
}

/// A batch of frames for [`XMIT_PROGRAM`]: the sender fills `frames`,
/// sets `count` and `first`, bumps `sequence` and runs the program
/// `count - first` times in one `BPF_PROG_TEST_RUN` whose input frame is
/// [`XMIT_FRAME_LEN`] bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct XmitBatch {
    /// Changed by the sender for every batch: the program starts again at
    /// the first frame when it sees a new one.
    pub sequence: u64,
    /// Frames in this batch (at most [`XMIT_BATCH_FRAMES`]).
    pub count: u32,
    /// The frame the program starts at when it sees a new `sequence`: 0
    /// to send the batch; a single frame's index to run the program on it
    /// alone (a test run that sends nothing, for tests).
    pub first: u32,
    /// The frames.
    pub frames: [XmitFrame; XMIT_BATCH_FRAMES],
}

/// Where [`XMIT_PROGRAM`] is in the batch, per CPU: a test run keeps to
/// one CPU (it runs with migration disabled), so the runs of one system
/// call share one cursor.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct XmitCursor {
    /// The batch's `sequence` the cursor belongs to.
    pub sequence: u64,
    /// The next frame to send.
    pub next: u32,
    /// Zero.
    pub reserved: u32,
}

#[cfg(test)]
mod tests {
    use core::net::IpAddr;

    use super::*;
    use crate::wire::{Diagnostic, State};

    #[test]
    fn error_counter_names_match_error_names() {
        // The field a wire error is counted in is the one named after it, so
        // that bpftool dumps and metric labels agree. Each error must hit a
        // distinct counter.
        for (index, error) in Error::ALL.into_iter().enumerate() {
            let mut counters = WireErrorCounters::default();
            *counters.counter_mut(error) += 1;
            let words: &[u64] = bytemuck::cast_slice(core::slice::from_ref(&counters));
            assert_eq!(words.len(), Error::COUNT);
            assert_eq!(words[index], 1, "{error:?} must be counted at field {index}");
            assert_eq!(counters.total(), 1);
        }
    }

    #[test]
    fn global_stats_add_sums_every_field() {
        let mut one = GlobalStats::zeroed();
        let words: &mut [u64] = bytemuck::cast_slice_mut(core::slice::from_mut(&mut one));
        for (index, word) in words.iter_mut().enumerate() {
            *word = index as u64 + 1;
        }
        let mut sum = one;
        sum.add(&one);
        let summed: &[u64] = bytemuck::cast_slice(core::slice::from_ref(&sum));
        for (index, word) in summed.iter().enumerate() {
            assert_eq!(*word, 2 * (index as u64 + 1), "field {index}");
        }
    }

    #[test]
    fn decisions_cover_every_frame_counter_once() {
        // All 1: the decisions are every field but `frames` and the three
        // timer counters.
        let mut stats = GlobalStats::zeroed();
        bytemuck::cast_slice_mut::<GlobalStats, u64>(core::slice::from_mut(&mut stats)).fill(1);
        let words = size_of::<GlobalStats>() / 8;
        assert_eq!(stats.decisions(), words as u64 - 4);
    }

    #[test]
    fn layouts_match_what_the_kernel_and_the_readme_say() {
        // The kernel side reads these with fixed offsets through BTF; a
        // layout change is a map format change.
        assert_eq!(size_of::<SessionConfig>(), 144);
        assert_eq!(core::mem::offset_of!(SessionConfig, expect_auth), 104);
        assert_eq!(core::mem::offset_of!(SessionConfig, verified_rx_ns), 136);
        assert_eq!(core::mem::offset_of!(SessionConfig, peer), 24);
        assert_eq!(core::mem::offset_of!(SessionConfig, expect), 64);
        assert_eq!(size_of::<SessionState>(), 192 + 3 * 136 + 8);
        assert_eq!(core::mem::offset_of!(SessionState, ctl_timer), 0);
        assert_eq!(core::mem::offset_of!(SessionState, gap_hist), 192);
        assert_eq!(size_of::<LogHistogram>(), (HISTOGRAM_BUCKETS + 1) * 8);
        assert_eq!(size_of::<bpf_timer>(), 16);
        assert_eq!(align_of::<bpf_timer>(), 8);
        assert_eq!(size_of::<EchoTimer>(), 16);
        assert_eq!(size_of::<EchoPeerKey>(), 20);
        assert_eq!(size_of::<DetectEvent>(), 32);
        for name in MAP_NAMES {
            assert!(name.len() <= 15, "{name}: map names are at most 15 bytes");
        }
    }

    #[test]
    fn log2_floor_is_the_highest_set_bit() {
        assert_eq!((log2_floor(0), log2_floor(1)), (0, 0));
        for bit in 0..64 {
            let value = 1u64 << bit;
            assert_eq!(log2_floor(value), bit, "2^{bit}");
            assert_eq!(log2_floor(value | (value >> 1)), bit, "2^{bit} + 2^{bit}-1");
            if bit > 0 {
                assert_eq!(log2_floor(value - 1), bit - 1, "2^{bit} - 1");
            }
        }
        assert_eq!(log2_floor(u64::MAX), 63);
    }

    #[test]
    fn histogram_buckets_hold_what_their_bounds_say() {
        // Every value lands in the one bucket whose bounds hold it: at or
        // above the previous bucket's upper bound, below its own.
        for shift in [GAP_HISTOGRAM_SHIFT, ECHO_RTT_HISTOGRAM_SHIFT, OVERSHOOT_HISTOGRAM_SHIFT] {
            for value in (0..64).flat_map(|bit| [1u64 << bit, (1u64 << bit) - 1, (1u64 << bit) + 1]) {
                let index = histogram_bucket(value, shift);
                assert!(index < HISTOGRAM_BUCKETS);
                if let Some(upper) = LogHistogram::upper_bound_ns(shift, index) {
                    assert!(value < upper, "{value} in bucket {index} (< {upper}), shift {shift}");
                }
                if index > 0 {
                    let lower = LogHistogram::upper_bound_ns(shift, index - 1).unwrap();
                    assert!(value >= lower, "{value} in bucket {index} (>= {lower}), shift {shift}");
                }
            }
        }
        // The documented ranges.
        assert_eq!(LogHistogram::upper_bound_ns(GAP_HISTOGRAM_SHIFT, 0), Some(524_288));
        assert_eq!(LogHistogram::upper_bound_ns(GAP_HISTOGRAM_SHIFT, 14), Some(8_589_934_592));
        assert_eq!(LogHistogram::upper_bound_ns(GAP_HISTOGRAM_SHIFT, 15), None);
        assert_eq!(histogram_bucket(50_000_000, GAP_HISTOGRAM_SHIFT), 7, "50 ms: [33.5 ms, 67.1 ms)");
        assert_eq!(histogram_bucket(0, OVERSHOOT_HISTOGRAM_SHIFT), 0);
        assert_eq!(histogram_bucket(u64::MAX, ECHO_RTT_HISTOGRAM_SHIFT), HISTOGRAM_BUCKETS - 1);
    }

    #[test]
    fn addresses_map_ipv4_into_ipv6() {
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(address(v4), address_v4([192, 0, 2, 1]));
        assert_eq!(&address(v4)[..12], &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
        assert_eq!(ip_address(address(v4)), v4);
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(ip_address(address(v6)), v6);
    }

    #[test]
    fn expect_header_clears_poll_final_and_auth() {
        let repr = ControlRepr {
            diagnostic: Diagnostic::NoDiagnostic,
            state: State::Up,
            poll: true,
            final_: true,
            control_plane_independent: false,
            demand: false,
            detect_mult: 3,
            my_discriminator: 7,
            your_discriminator: 9,
            desired_min_tx: 300_000,
            required_min_rx: 300_000,
            required_min_echo_rx: 50_000,
            auth: None,
        };
        let header = SessionConfig::expect_header(&repr);
        let packet = ControlPacket::new_unchecked(&header[..]);
        assert_eq!(packet.check(), Ok(()));
        assert!(!packet.poll() && !packet.final_() && !packet.auth_present());
        assert_eq!(packet.length(), 24);
        assert_eq!(packet.my_discriminator(), 7);
        let plain = ControlRepr { poll: false, final_: false, ..repr };
        let mut emitted = [0u8; 24];
        plain.emit(&mut ControlPacket::new_unchecked(&mut emitted[..]));
        assert_eq!(header, emitted);
    }
}
