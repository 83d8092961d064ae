//! Operator output: `bfd-agent show peers [brief|counters] [--json]`.
//!
//! The agent describes each session as a [`PeerReport`]; this module turns
//! a list of them into the text and JSON of FRR's `show bfd peers`, `show
//! bfd peers brief` and `show bfd peers counters`, so that operators and
//! scripts used to FRR's bfdd read ours the same way
//! (`shared/reference/frr-bfdd.md`). Every FRR line and key is reproduced
//! from FRR's `bfdd/bfdd_vty.c` (`_display_peer`, `__display_peer_json`,
//! `_display_peer_brief`, `_display_peer_brief_json`,
//! `_display_peer_counter`, `__display_peer_counters_json`; 8.4 for the
//! layout, 9.1 for the counters' `ID` and 10.6 for the profile), with
//! FRR's units: intervals in whole milliseconds, times in seconds, RTT in
//! microseconds.
//!
//! What FRR lacks comes after FRR's lines, in the same style: whether the
//! XDP fast path runs the session, how many control packets the kernel
//! absorbed and how many reached the agent, the largest gap between
//! received packets since Up, the echo round-trip time and the last time
//! the session went down. Our configuration allows intervals that are not a
//! whole millisecond (3300 µs), which FRR's `%ums` would truncate: the text
//! prints them with microsecond precision (`3.3ms`) and the JSON carries
//! FRR's truncated milliseconds plus an exact `...-us` key.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use bfd_common::wire::State;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// A session's state as FRR's `show bfd peers` names it.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum PeerState {
    /// RFC 5880 AdminDown; FRR says "shutdown".
    Shutdown,
    /// Down.
    Down,
    /// Init.
    Init,
    /// Up.
    Up,
}

impl PeerState {
    /// FRR's word in `show bfd peers` and its JSON (`status`): "shutdown",
    /// "down", "init" or "up".
    pub const fn as_str(self) -> &'static str {
        match self {
            PeerState::Shutdown => "shutdown",
            PeerState::Down => "down",
            PeerState::Init => "init",
            PeerState::Up => "up",
        }
    }

    /// FRR's word in the `Status` column of `show bfd peers brief`, which
    /// comes from bfdd's `state_list` (bfdd/bfdd.c) and so says
    /// "admin-down" where the other outputs say "shutdown".
    pub const fn brief_str(self) -> &'static str {
        match self {
            PeerState::Shutdown => "admin-down",
            other => other.as_str(),
        }
    }
}

impl From<State> for PeerState {
    fn from(state: State) -> PeerState {
        match state {
            State::AdminDown => PeerState::Shutdown,
            State::Down => PeerState::Down,
            State::Init => PeerState::Init,
            State::Up => PeerState::Up,
        }
    }
}

/// Round-trip times measured with echo packets, in microseconds (FRR's
/// `RTT min/avg/max`, which bfdd measures on its echo packets too).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RttSummary {
    /// The smallest.
    pub min_us: u64,
    /// The mean.
    pub avg_us: u64,
    /// The largest.
    pub max_us: u64,
}

/// FRR's per-session counters (`show bfd peers counters`).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PeerCounters {
    /// Valid control packets received for the session, wherever they were
    /// handled (absorbed in the kernel or seen by the agent).
    pub control_packet_input: u64,
    /// Control packets sent.
    pub control_packet_output: u64,
    /// Echo packets received: our own coming back.
    pub echo_packet_input: u64,
    /// Echo packets sent.
    pub echo_packet_output: u64,
    /// Transitions into Up.
    pub session_up: u64,
    /// Transitions out of Up.
    pub session_down: u64,
    /// Control packets discarded by authentication (RFC 5880 §6.7), by
    /// reason; absent from older agents' replies.
    #[serde(default)]
    pub auth: AuthFailureCounts,
}

/// FRR's "Rx Authentication ..." counters (FRR 10.7's
/// `_display_peer_counter`), with the reasons FRR does not break out.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuthFailureCounts {
    /// The session's Auth Type (RFC 5880 §4.1: 1 simple password, 2 and 3
    /// keyed MD5, 4 and 5 keyed SHA1), `None` without authentication.
    pub auth_type: Option<u8>,
    /// A bit set, no authentication in use (§6.8.6).
    pub unexpected: u64,
    /// A bit clear, authentication in use (§6.8.6).
    pub missing: u64,
    /// Another Auth Type than the session's.
    pub type_mismatch: u64,
    /// No key with the packet's Key ID accepted now.
    pub unknown_key_id: u64,
    /// Simple password mismatch (§6.7.2).
    pub password_mismatch: u64,
    /// Keyed MD5 or SHA1 digest mismatch (§6.7.3, §6.7.4).
    pub digest_mismatch: u64,
    /// Sequence number outside the window (keyed).
    pub sequence: u64,
    /// Sequence number not above the last (meticulous).
    pub meticulous_sequence: u64,
    /// Packets not sent: no key's send lifetime held.
    pub tx_no_key: u64,
}

impl AuthFailureCounts {
    /// Every receive failure: FRR's "Rx Authentication failure".
    pub fn total(&self) -> u64 {
        self.unexpected
            + self.missing
            + self.type_mismatch
            + self.unknown_key_id
            + self.password_mismatch
            + self.digest_mismatch
            + self.sequence
            + self.meticulous_sequence
    }

    /// FRR's words for the keyed type in its counter names: "keyed sha-1"
    /// (FRR 10.7 has no MD5; ours says "keyed md5" for types 2 and 3).
    fn keyed_words(&self) -> (&'static str, &'static str) {
        match self.auth_type {
            Some(2 | 3) => ("keyed md5", "keyed-md5"),
            _ => ("keyed sha-1", "keyed-sha1"),
        }
    }

    /// The counters as (text label, JSON key, value), FRR's first in FRR's
    /// order, then ours; the caller prints only the non-zero ones, as FRR
    /// does.
    fn rows(&self) -> Vec<(String, String, u64)> {
        let (words, key) = self.keyed_words();
        vec![
            ("Rx Authentication failure".into(), "rx-pkt-authentication-failure".into(), self.total()),
            (
                "Rx Authentication type mismatch".into(),
                "rx-pkt-authentication-type-mismatch".into(),
                self.type_mismatch,
            ),
            (
                "Rx Authentication type simple password mismatch".into(),
                "rx-pkt-authentication-simple-password-mismatch".into(),
                self.password_mismatch,
            ),
            (
                format!("Rx Authentication type {words} mismatch"),
                format!("rx-pkt-authentication-{key}-mismatch"),
                self.digest_mismatch,
            ),
            (
                format!("Rx Authentication type {words} sequence error"),
                format!("rx-pkt-authentication-{key}-sequence-error"),
                self.sequence,
            ),
            (
                format!("Rx Authentication type {words} meticulous sequence error"),
                format!("rx-pkt-authentication-{key}-sequence-meticulous-error"),
                self.meticulous_sequence,
            ),
            (
                "Rx Authentication key id unknown".into(),
                "rx-pkt-authentication-unknown-key-id".into(),
                self.unknown_key_id,
            ),
            ("Rx Authentication missing".into(), "rx-pkt-authentication-missing".into(), self.missing),
            (
                "Rx Authentication not in use".into(),
                "rx-pkt-authentication-unexpected".into(),
                self.unexpected,
            ),
            ("Tx Authentication no send key".into(), "tx-pkt-authentication-no-key".into(), self.tx_no_key),
        ]
    }
}

/// The last time a session left Up.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LastDown {
    /// How long ago, in seconds.
    pub secs_ago: u64,
    /// The diagnostic it went down with, as FRR writes it
    /// ([`Diagnostic::as_str`](bfd_common::wire::Diagnostic::as_str)).
    pub diagnostic: String,
}

/// Everything `show peers` prints about one session, filled by the agent.
///
/// It is also what the control socket carries (`Response::Peers` in
/// [`control`](crate::control)), so it is serialisable as is; its own field
/// names are not FRR's keys: [`peers_json`] and the others write those.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PeerReport {
    /// The peer's address.
    pub peer: IpAddr,
    /// Our address for the session, when it has one.
    pub local: Option<IpAddr>,
    /// The interface of a single-hop session, when it has one.
    pub interface: Option<String>,
    /// The VRF: "default".
    pub vrf: String,
    /// A multihop session (RFC 5883).
    pub multihop: bool,
    /// The profile (MetalLB `BFDProfile`) the session uses.
    pub profile: Option<String>,
    /// Passive role: we wait for the peer's first packet (RFC 5880 §6.1).
    pub passive: bool,
    /// The minimum TTL a multihop session accepts; `None` for single-hop.
    pub minimum_ttl: Option<u8>,
    /// `bfd.LocalDiscr`.
    pub local_discr: u32,
    /// `bfd.RemoteDiscr` (0 while unknown).
    pub remote_discr: u32,
    /// `bfd.SessionState`.
    pub state: PeerState,
    /// Seconds since the session entered its state: its uptime while Up,
    /// its downtime otherwise (FRR prints it only for Up and Down).
    pub since_secs: u64,
    /// `bfd.LocalDiag` as FRR writes it
    /// ([`Diagnostic::as_str`](bfd_common::wire::Diagnostic::as_str)).
    pub diagnostic: String,
    /// The Diagnostic of the peer's last packet, as FRR writes it.
    pub remote_diagnostic: String,
    /// `bfd.DetectMult`.
    pub detect_mult: u8,
    /// Our Required Min RX Interval (µs), as advertised.
    pub receive_interval_us: u64,
    /// Our Desired Min TX Interval (µs), as advertised.
    pub transmit_interval_us: u64,
    /// Our Required Min Echo RX Interval (µs); `None`: we do not reflect
    /// the peer's echo (advertised 0).
    pub echo_receive_interval_us: Option<u64>,
    /// Our echo transmit interval (µs); `None`: echo mode is off.
    pub echo_transmit_interval_us: Option<u64>,
    /// The peer's Detect Mult (0 before its first packet).
    pub remote_detect_mult: u8,
    /// The peer's Required Min RX Interval (µs).
    pub remote_receive_interval_us: u64,
    /// The peer's Desired Min TX Interval (µs).
    pub remote_transmit_interval_us: u64,
    /// The peer's Required Min Echo RX Interval (µs); `None` or 0: it
    /// reflects no echo.
    pub remote_echo_receive_interval_us: Option<u64>,
    /// Echo round-trip times; `None` while none was measured (FRR then
    /// prints zeros).
    pub rtt: Option<RttSummary>,
    /// FRR's counters.
    pub counters: PeerCounters,
    /// The XDP program runs this session (absorbs its packets and times
    /// it); `false`: the agent runs it in userspace.
    pub fast_path: bool,
    /// Valid control packets the XDP program absorbed (never reached the
    /// agent).
    pub control_absorbed_in_kernel: u64,
    /// Control packets the agent received (passed up by the XDP program,
    /// or all of them without it).
    pub control_seen_in_userspace: u64,
    /// With `--kernel-answers`: how often the originating peer fell silent
    /// while our kernel answered for us, and the agent originated for it
    /// (issue 19: the peer's agent restarting, its kernel answering).
    #[serde(default)]
    pub takeovers: u64,
    /// The largest gap between two received control packets since the
    /// session last came Up (µs); `None` while not Up or not yet measured.
    pub largest_rx_gap_since_up_us: Option<u64>,
    /// The last echo round-trip time (µs), as the kernel measured it.
    pub echo_rtt_us: Option<u64>,
    /// The last time the session left Up.
    pub last_down: Option<LastDown>,
}

/// A `Duration` in whole microseconds (saturating), the unit of
/// [`PeerReport`]'s intervals.
pub fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// `show peers`: FRR's `show bfd peers` (`_display_all_peers` and
/// `_display_peer` in bfdd/bfdd_vty.c) followed, for each peer, by our own
/// lines.
pub fn format_peers(peers: &[PeerReport]) -> String {
    let mut out = String::from("BFD Peers:\n");
    for peer in peers {
        write_peer(&mut out, peer);
    }
    out
}

fn write_peer(out: &mut String, peer: &PeerReport) {
    write_header(out, peer);
    line(out, 2, format_args!("ID: {}", peer.local_discr));
    line(out, 2, format_args!("Remote ID: {}", peer.remote_discr));
    line(out, 2, format_args!("{}", if peer.passive { "Passive mode" } else { "Active mode" }));
    if peer.multihop {
        line(out, 2, format_args!("Minimum TTL: {}", peer.minimum_ttl.unwrap_or(0)));
    }
    line(out, 2, format_args!("Status: {}", peer.state.as_str()));
    // FRR prints a time only for Down and Up (integer2timestr, bfdd/bfd.c).
    match peer.state {
        PeerState::Up => line(out, 2, format_args!("Uptime: {}", time_string(peer.since_secs))),
        PeerState::Down => line(out, 2, format_args!("Downtime: {}", time_string(peer.since_secs))),
        PeerState::Init | PeerState::Shutdown => {}
    }
    line(out, 2, format_args!("Diagnostics: {}", peer.diagnostic));
    line(out, 2, format_args!("Remote diagnostics: {}", peer.remote_diagnostic));
    // Every session of ours is configured; FRR's "dynamic" ones are created
    // by its clients (bgpd...).
    line(out, 2, format_args!("Peer Type: configured"));
    let rtt = peer.rtt.unwrap_or(RttSummary { min_us: 0, avg_us: 0, max_us: 0 });
    line(out, 2, format_args!("RTT min/avg/max: {}/{}/{} usec", rtt.min_us, rtt.avg_us, rtt.max_us));
    if let Some(profile) = &peer.profile {
        line(out, 2, format_args!("Profile: {profile}"));
    }

    line(out, 2, format_args!("Local timers:"));
    line(out, 3, format_args!("Detect-multiplier: {}", peer.detect_mult));
    line(out, 3, format_args!("Receive interval: {}", ms(peer.receive_interval_us)));
    line(out, 3, format_args!("Transmission interval: {}", ms(peer.transmit_interval_us)));
    line(out, 3, format_args!("Echo receive interval: {}", ms_or_disabled(peer.echo_receive_interval_us)));
    line(
        out,
        3,
        format_args!("Echo transmission interval: {}", ms_or_disabled(peer.echo_transmit_interval_us)),
    );
    line(out, 2, format_args!("Remote timers:"));
    line(out, 3, format_args!("Detect-multiplier: {}", peer.remote_detect_mult));
    line(out, 3, format_args!("Receive interval: {}", ms(peer.remote_receive_interval_us)));
    line(out, 3, format_args!("Transmission interval: {}", ms(peer.remote_transmit_interval_us)));
    line(
        out,
        3,
        format_args!("Echo receive interval: {}", ms_or_disabled(peer.remote_echo_receive_interval_us)),
    );

    // Ours.
    if peer.fast_path {
        line(
            out,
            2,
            format_args!(
                "Fast path: XDP (absorbed {}, userspace {})",
                peer.control_absorbed_in_kernel, peer.control_seen_in_userspace
            ),
        );
    } else {
        line(out, 2, format_args!("Fast path: off (userspace {})", peer.control_seen_in_userspace));
    }
    if let Some(gap) = peer.largest_rx_gap_since_up_us {
        line(out, 2, format_args!("Largest gap since up: {}", ms(gap)));
    }
    if let Some(rtt) = peer.echo_rtt_us {
        line(out, 2, format_args!("Echo RTT: {rtt}usec"));
    }
    if let Some(last_down) = &peer.last_down {
        line(
            out,
            2,
            format_args!("Last down: {} ago, {}", time_string(last_down.secs_ago), last_down.diagnostic),
        );
    }
    out.push('\n');
}

/// FRR's `_display_peer_header`: `peer X [multihop] [local-address Y] vrf V
/// [interface I]`, one tab in.
fn write_header(out: &mut String, peer: &PeerReport) {
    let mut header = format!("peer {}", peer.peer);
    if peer.multihop {
        header.push_str(" multihop");
    }
    if let Some(local) = peer.local {
        let _ = write!(header, " local-address {local}");
    }
    if !peer.vrf.is_empty() {
        let _ = write!(header, " vrf {}", peer.vrf);
    }
    if let Some(interface) = &peer.interface {
        let _ = write!(header, " interface {interface}");
    }
    line(out, 1, format_args!("{header}"));
}

/// One line of text, `depth` tabs in, as FRR's vty output indents.
fn line(out: &mut String, depth: usize, text: std::fmt::Arguments<'_>) {
    for _ in 0..depth {
        out.push('\t');
    }
    let _ = out.write_fmt(text);
    out.push('\n');
}

/// FRR's `integer2timestr` (bfdd/bfd.c): "N year(s), N month(s), N day(s),
/// N hour(s), N minute(s), N second(s)", each unit only when the time
/// reaches it, seconds always; a month is 30 days and a year 12 months.
pub fn time_string(secs: u64) -> String {
    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    const MONTH: u64 = 30 * DAY;
    const YEAR: u64 = 12 * MONTH;
    let mut rest = secs;
    let mut text = String::new();
    for (unit, name) in [(YEAR, "year"), (MONTH, "month"), (DAY, "day"), (HOUR, "hour"), (MINUTE, "minute")] {
        if rest >= unit {
            let _ = write!(text, "{} {name}(s), ", rest / unit);
            rest %= unit;
        }
    }
    let _ = write!(text, "{rest} second(s)");
    text
}

/// An interval in FRR's unit, milliseconds (`%ums`), but with the
/// microseconds FRR would truncate: 200000 → "200ms", 3300 → "3.3ms".
pub fn ms(us: u64) -> String {
    let (whole, fraction) = (us / 1000, us % 1000);
    if fraction == 0 {
        format!("{whole}ms")
    } else {
        let digits = format!("{fraction:03}");
        format!("{whole}.{}ms", digits.trim_end_matches('0'))
    }
}

/// [`ms`], or FRR's "disabled" for an interval that is absent or 0.
fn ms_or_disabled(us: Option<u64>) -> String {
    match us {
        Some(us) if us != 0 => ms(us),
        _ => "disabled".to_owned(),
    }
}

/// The column widths of FRR's `show bfd peers brief` (`%-10s`, ` %-40s`,
/// ` %-40s`, `%-15s`, ` %-20s` in `_display_peers_brief`).
fn brief_row(out: &mut String, id: &str, local: &str, peer: &str, status: &str, profile: &str, fast: &str) {
    let _ = writeln!(out, "{id:<10} {local:<40} {peer:<40}{status:<15} {profile:<20} {fast}");
}

/// `show peers brief`: FRR's `show bfd peers brief` (`Session count`, then
/// SessionId, LocalAddress, PeerAddress, Status and Profile columns, with
/// FRR's widths and its "admin-down"), plus a last column of ours,
/// FastPath ("xdp" or "off").
pub fn format_brief(peers: &[PeerReport]) -> String {
    let mut out = format!("Session count: {}\n", peers.len());
    brief_row(&mut out, "SessionId", "LocalAddress", "PeerAddress", "Status", "Profile", "FastPath");
    brief_row(&mut out, "=========", "============", "===========", "======", "=======", "========");
    for peer in peers {
        // FRR prints the address the session's socket uses, "unknown"
        // before it has one (satostr, bfdd/bfd.c).
        let local = peer.local.map_or_else(|| "unknown".to_owned(), |local| local.to_string());
        brief_row(
            &mut out,
            &peer.local_discr.to_string(),
            &local,
            &peer.peer.to_string(),
            peer.state.brief_str(),
            peer.profile.as_deref().unwrap_or("-"),
            if peer.fast_path { "xdp" } else { "off" },
        );
    }
    out
}

/// `show peers counters`: FRR's `show bfd peers counters`
/// (`_display_peer_counter`), then our split of the control packets
/// received between the kernel and the agent.
pub fn format_counters(peers: &[PeerReport]) -> String {
    let mut out = String::from("BFD Peers:\n");
    for peer in peers {
        let counters = &peer.counters;
        write_header(&mut out, peer);
        line(&mut out, 2, format_args!("ID: {}", peer.local_discr));
        line(&mut out, 2, format_args!("Control packet input: {} packets", counters.control_packet_input));
        line(&mut out, 2, format_args!("Control packet output: {} packets", counters.control_packet_output));
        line(&mut out, 2, format_args!("Echo packet input: {} packets", counters.echo_packet_input));
        line(&mut out, 2, format_args!("Echo packet output: {} packets", counters.echo_packet_output));
        line(&mut out, 2, format_args!("Session up events: {}", counters.session_up));
        line(&mut out, 2, format_args!("Session down events: {}", counters.session_down));
        // We have no zebra to notify; the line stays for FRR's layout.
        line(&mut out, 2, format_args!("Zebra notifications: 0"));
        // FRR 10.7 prints each authentication counter only when non-zero.
        for (label, _, value) in counters.auth.rows() {
            if value != 0 {
                line(&mut out, 2, format_args!("{label}: {value}"));
            }
        }
        line(&mut out, 2, format_args!("Fast path: {}", if peer.fast_path { "XDP" } else { "off" }));
        line(
            &mut out,
            2,
            format_args!("Control packets absorbed in kernel: {} packets", peer.control_absorbed_in_kernel),
        );
        line(
            &mut out,
            2,
            format_args!("Control packets seen in userspace: {} packets", peer.control_seen_in_userspace),
        );
        out.push('\n');
    }
    out
}

/// FRR's `_peer_json_header`: multihop, peer, local, vrf, interface.
fn json_header(peer: &PeerReport) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("multihop".into(), json!(peer.multihop));
    object.insert("peer".into(), json!(peer.peer.to_string()));
    if let Some(local) = peer.local {
        object.insert("local".into(), json!(local.to_string()));
    }
    if !peer.vrf.is_empty() {
        object.insert("vrf".into(), json!(peer.vrf));
    }
    if let Some(interface) = &peer.interface {
        object.insert("interface".into(), json!(interface));
    }
    object
}

/// `show peers --json`: an array with, for each peer, the object of FRR's
/// `show bfd peers json` (`__display_peer_json`; intervals in whole
/// milliseconds, `uptime` while Up and `downtime` while Down in seconds,
/// RTT in microseconds, 0 when unmeasured) and then our keys:
/// `receive-interval-us` and the other intervals in microseconds,
/// `fast-path`, `control-absorbed-in-kernel`, `control-seen-in-userspace`,
/// and when known `largest-rx-gap-since-up-us`, `echo-rtt-us` and
/// `last-down` (`{"seconds-ago", "diagnostic"}`).
pub fn peers_json(peers: &[PeerReport]) -> Value {
    Value::Array(peers.iter().map(|peer| Value::Object(peer_json(peer))).collect())
}

fn peer_json(peer: &PeerReport) -> Map<String, Value> {
    let mut object = json_header(peer);
    let mut put = |key: &str, value: Value| {
        object.insert(key.to_owned(), value);
    };
    put("id", json!(peer.local_discr));
    put("remote-id", json!(peer.remote_discr));
    put("passive-mode", json!(peer.passive));
    if peer.multihop {
        put("minimum-ttl", json!(peer.minimum_ttl.unwrap_or(0)));
    }
    put("status", json!(peer.state.as_str()));
    match peer.state {
        PeerState::Up => put("uptime", json!(peer.since_secs)),
        PeerState::Down => put("downtime", json!(peer.since_secs)),
        PeerState::Init | PeerState::Shutdown => {}
    }
    put("diagnostic", json!(peer.diagnostic));
    put("remote-diagnostic", json!(peer.remote_diagnostic));
    put("type", json!("configured"));
    if let Some(profile) = &peer.profile {
        put("profile", json!(profile));
    }
    // FRR divides microseconds by 1000: whole milliseconds, truncated.
    let echo_rx = peer.echo_receive_interval_us.unwrap_or(0);
    let echo_tx = peer.echo_transmit_interval_us.unwrap_or(0);
    let remote_echo_rx = peer.remote_echo_receive_interval_us.unwrap_or(0);
    put("receive-interval", json!(peer.receive_interval_us / 1000));
    put("transmit-interval", json!(peer.transmit_interval_us / 1000));
    put("echo-receive-interval", json!(echo_rx / 1000));
    put("echo-transmit-interval", json!(echo_tx / 1000));
    put("detect-multiplier", json!(peer.detect_mult));
    put("remote-receive-interval", json!(peer.remote_receive_interval_us / 1000));
    put("remote-transmit-interval", json!(peer.remote_transmit_interval_us / 1000));
    put("remote-echo-receive-interval", json!(remote_echo_rx / 1000));
    put("remote-detect-multiplier", json!(peer.remote_detect_mult));
    let rtt = peer.rtt.unwrap_or(RttSummary { min_us: 0, avg_us: 0, max_us: 0 });
    put("rtt-min", json!(rtt.min_us));
    put("rtt-avg", json!(rtt.avg_us));
    put("rtt-max", json!(rtt.max_us));

    // Ours.
    put("receive-interval-us", json!(peer.receive_interval_us));
    put("transmit-interval-us", json!(peer.transmit_interval_us));
    put("echo-receive-interval-us", json!(echo_rx));
    put("echo-transmit-interval-us", json!(echo_tx));
    put("remote-receive-interval-us", json!(peer.remote_receive_interval_us));
    put("remote-transmit-interval-us", json!(peer.remote_transmit_interval_us));
    put("remote-echo-receive-interval-us", json!(remote_echo_rx));
    put("fast-path", json!(peer.fast_path));
    put("control-absorbed-in-kernel", json!(peer.control_absorbed_in_kernel));
    put("control-seen-in-userspace", json!(peer.control_seen_in_userspace));
    if let Some(gap) = peer.largest_rx_gap_since_up_us {
        put("largest-rx-gap-since-up-us", json!(gap));
    }
    if let Some(rtt) = peer.echo_rtt_us {
        put("echo-rtt-us", json!(rtt));
    }
    if let Some(last_down) = &peer.last_down {
        put("last-down", json!({ "seconds-ago": last_down.secs_ago, "diagnostic": last_down.diagnostic }));
    }
    object
}

/// `show peers counters --json`: for each peer, FRR's `show bfd peers
/// counters json` object (`__display_peer_counters_json`:
/// multihop, peer, local, vrf, interface, id, control-packet-input,
/// control-packet-output, echo-packet-input, echo-packet-output,
/// session-up, session-down, zebra-notifications (always 0: we have no
/// zebra)), then `fast-path`, `control-absorbed-in-kernel`,
/// `control-seen-in-userspace` and `takeovers`.
pub fn counters_json(peers: &[PeerReport]) -> Value {
    Value::Array(
        peers
            .iter()
            .map(|peer| {
                let counters = &peer.counters;
                let mut object = json_header(peer);
                for (key, value) in [
                    ("id", json!(peer.local_discr)),
                    ("control-packet-input", json!(counters.control_packet_input)),
                    ("control-packet-output", json!(counters.control_packet_output)),
                    ("echo-packet-input", json!(counters.echo_packet_input)),
                    ("echo-packet-output", json!(counters.echo_packet_output)),
                    ("session-up", json!(counters.session_up)),
                    ("session-down", json!(counters.session_down)),
                    ("zebra-notifications", json!(0)),
                    ("fast-path", json!(peer.fast_path)),
                    ("control-absorbed-in-kernel", json!(peer.control_absorbed_in_kernel)),
                    ("control-seen-in-userspace", json!(peer.control_seen_in_userspace)),
                    ("takeovers", json!(peer.takeovers)),
                ] {
                    object.insert(key.to_owned(), value);
                }
                // FRR 10.7 adds each authentication key only when non-zero.
                for (_, key, value) in counters.auth.rows() {
                    if value != 0 {
                        object.insert(key, json!(value));
                    }
                }
                Value::Object(object)
            })
            .collect(),
    )
}

/// `show peers brief --json`: for each peer, FRR's `show bfd peers brief
/// json` object (`_display_peer_brief_json`, FRR 10.6: id, local, peer,
/// status, profile), then `fast-path`.
pub fn brief_json(peers: &[PeerReport]) -> Value {
    Value::Array(
        peers
            .iter()
            .map(|peer| {
                let mut object = Map::new();
                object.insert("id".into(), json!(peer.local_discr));
                if let Some(local) = peer.local {
                    object.insert("local".into(), json!(local.to_string()));
                }
                object.insert("peer".into(), json!(peer.peer.to_string()));
                object.insert("status".into(), json!(peer.state.as_str()));
                if let Some(profile) = &peer.profile {
                    object.insert("profile".into(), json!(profile));
                }
                object.insert("fast-path".into(), json!(peer.fast_path));
                Value::Object(object)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use bfd_common::wire::Diagnostic;

    use super::*;

    /// Single-hop IPv4, Up for 1 h 23 min 45 s, echo on both ways, on the
    /// fast path: the peer of frr-bfdd.md's example.
    fn up_v4_echo() -> PeerReport {
        PeerReport {
            peer: "10.0.0.1".parse().unwrap(),
            local: Some("10.0.0.2".parse().unwrap()),
            interface: Some("eth0".into()),
            vrf: "default".into(),
            multihop: false,
            profile: None,
            passive: false,
            minimum_ttl: None,
            local_discr: 1,
            remote_discr: 1,
            state: PeerState::Up,
            since_secs: 3600 + 23 * 60 + 45,
            diagnostic: Diagnostic::NoDiagnostic.as_str().into(),
            remote_diagnostic: Diagnostic::NoDiagnostic.as_str().into(),
            detect_mult: 3,
            receive_interval_us: 200_000,
            transmit_interval_us: 200_000,
            echo_receive_interval_us: Some(50_000),
            echo_transmit_interval_us: None,
            remote_detect_mult: 3,
            remote_receive_interval_us: 200_000,
            remote_transmit_interval_us: 200_000,
            remote_echo_receive_interval_us: Some(50_000),
            rtt: None,
            counters: PeerCounters {
                control_packet_input: 1239,
                control_packet_output: 1250,
                echo_packet_input: 0,
                echo_packet_output: 0,
                session_up: 1,
                session_down: 0,
                auth: AuthFailureCounts::default(),
            },
            fast_path: true,
            control_absorbed_in_kernel: 1234,
            control_seen_in_userspace: 5,
            takeovers: 0,
            largest_rx_gap_since_up_us: Some(52_000),
            echo_rtt_us: None,
            last_down: None,
        }
    }

    /// The same with our echo running (RTTs measured) and a profile.
    fn up_v4_echo_running() -> PeerReport {
        PeerReport {
            profile: Some("aggressive".into()),
            echo_transmit_interval_us: Some(50_000),
            rtt: Some(RttSummary { min_us: 80, avg_us: 95, max_us: 130 }),
            echo_rtt_us: Some(95),
            last_down: Some(LastDown {
                secs_ago: 12,
                diagnostic: Diagnostic::ControlDetectionTimeExpired.as_str().into(),
            }),
            counters: PeerCounters {
                echo_packet_input: 700,
                echo_packet_output: 702,
                ..up_v4_echo().counters
            },
            ..up_v4_echo()
        }
    }

    /// Multihop IPv6, Down for 2 days after a detection timeout, in
    /// userspace, with an interval that is not a whole millisecond.
    fn down_v6_multihop() -> PeerReport {
        PeerReport {
            peer: "2001:db8::1".parse().unwrap(),
            local: Some("2001:db8::2".parse().unwrap()),
            interface: None,
            vrf: "default".into(),
            multihop: true,
            profile: Some("balanced".into()),
            passive: false,
            minimum_ttl: Some(254),
            local_discr: 3_000_000_001,
            remote_discr: 0,
            state: PeerState::Down,
            since_secs: 2 * 86_400 + 5,
            diagnostic: Diagnostic::ControlDetectionTimeExpired.as_str().into(),
            remote_diagnostic: Diagnostic::NoDiagnostic.as_str().into(),
            detect_mult: 3,
            receive_interval_us: 3_300,
            transmit_interval_us: 1_000_000,
            echo_receive_interval_us: None,
            echo_transmit_interval_us: None,
            remote_detect_mult: 0,
            remote_receive_interval_us: 0,
            remote_transmit_interval_us: 0,
            remote_echo_receive_interval_us: None,
            rtt: None,
            counters: PeerCounters {
                control_packet_output: 17,
                session_up: 2,
                session_down: 2,
                ..Default::default()
            },
            fast_path: false,
            control_absorbed_in_kernel: 0,
            control_seen_in_userspace: 40,
            takeovers: 0,
            largest_rx_gap_since_up_us: None,
            echo_rtt_us: None,
            last_down: Some(LastDown {
                secs_ago: 2 * 86_400 + 5,
                diagnostic: Diagnostic::ControlDetectionTimeExpired.as_str().into(),
            }),
        }
    }

    /// Passive single-hop IPv6 by interface only, Init.
    fn passive_init() -> PeerReport {
        PeerReport {
            peer: "fe80::2".parse().unwrap(),
            local: None,
            interface: Some("eth1".into()),
            passive: true,
            state: PeerState::Init,
            since_secs: 1,
            remote_discr: 77,
            largest_rx_gap_since_up_us: None,
            ..up_v4_echo()
        }
    }

    /// Administratively down.
    fn shutdown() -> PeerReport {
        PeerReport {
            peer: "192.0.2.9".parse().unwrap(),
            local: Some("192.0.2.1".parse().unwrap()),
            interface: None,
            state: PeerState::Shutdown,
            since_secs: 30,
            diagnostic: Diagnostic::AdministrativelyDown.as_str().into(),
            fast_path: false,
            largest_rx_gap_since_up_us: None,
            ..up_v4_echo()
        }
    }

    /// The `show bfd peers` example of shared/reference/frr-bfdd.md, as
    /// FRR prints it.
    const FRR_EXAMPLE: &str = "\
BFD Peers:
\tpeer 10.0.0.1 local-address 10.0.0.2 vrf default interface eth0
\t\tID: 1
\t\tRemote ID: 1
\t\tActive mode
\t\tStatus: up
\t\tUptime: 1 hour(s), 23 minute(s), 45 second(s)
\t\tDiagnostics: ok
\t\tRemote diagnostics: ok
\t\tPeer Type: configured
\t\tRTT min/avg/max: 0/0/0 usec
\t\tLocal timers:
\t\t\tDetect-multiplier: 3
\t\t\tReceive interval: 200ms
\t\t\tTransmission interval: 200ms
\t\t\tEcho receive interval: 50ms
\t\t\tEcho transmission interval: disabled
\t\tRemote timers:
\t\t\tDetect-multiplier: 3
\t\t\tReceive interval: 200ms
\t\t\tTransmission interval: 200ms
\t\t\tEcho receive interval: 50ms
";

    #[test]
    fn show_peers_matches_frr_example_line_by_line_then_ours() {
        let text = format_peers(&[up_v4_echo()]);
        let lines: Vec<&str> = text.lines().collect();
        let frr: Vec<&str> = FRR_EXAMPLE.lines().collect();
        for (number, (ours, theirs)) in lines.iter().zip(&frr).enumerate() {
            assert_eq!(ours, theirs, "line {}", number + 1);
        }
        assert_eq!(
            &lines[frr.len()..],
            ["\t\tFast path: XDP (absorbed 1234, userspace 5)", "\t\tLargest gap since up: 52ms", ""]
        );
        assert!(text.ends_with("ms\n\n"), "each peer ends with an empty line, as FRR's");
    }

    #[test]
    fn show_peers_golden_echo_profile_last_down() {
        assert_eq!(
            format_peers(&[up_v4_echo_running()]),
            "\
BFD Peers:
\tpeer 10.0.0.1 local-address 10.0.0.2 vrf default interface eth0
\t\tID: 1
\t\tRemote ID: 1
\t\tActive mode
\t\tStatus: up
\t\tUptime: 1 hour(s), 23 minute(s), 45 second(s)
\t\tDiagnostics: ok
\t\tRemote diagnostics: ok
\t\tPeer Type: configured
\t\tRTT min/avg/max: 80/95/130 usec
\t\tProfile: aggressive
\t\tLocal timers:
\t\t\tDetect-multiplier: 3
\t\t\tReceive interval: 200ms
\t\t\tTransmission interval: 200ms
\t\t\tEcho receive interval: 50ms
\t\t\tEcho transmission interval: 50ms
\t\tRemote timers:
\t\t\tDetect-multiplier: 3
\t\t\tReceive interval: 200ms
\t\t\tTransmission interval: 200ms
\t\t\tEcho receive interval: 50ms
\t\tFast path: XDP (absorbed 1234, userspace 5)
\t\tLargest gap since up: 52ms
\t\tEcho RTT: 95usec
\t\tLast down: 12 second(s) ago, control detection time expired

"
        );
    }

    #[test]
    fn show_peers_golden_multihop_v6_down() {
        assert_eq!(
            format_peers(&[down_v6_multihop()]),
            "\
BFD Peers:
\tpeer 2001:db8::1 multihop local-address 2001:db8::2 vrf default
\t\tID: 3000000001
\t\tRemote ID: 0
\t\tActive mode
\t\tMinimum TTL: 254
\t\tStatus: down
\t\tDowntime: 2 day(s), 5 second(s)
\t\tDiagnostics: control detection time expired
\t\tRemote diagnostics: ok
\t\tPeer Type: configured
\t\tRTT min/avg/max: 0/0/0 usec
\t\tProfile: balanced
\t\tLocal timers:
\t\t\tDetect-multiplier: 3
\t\t\tReceive interval: 3.3ms
\t\t\tTransmission interval: 1000ms
\t\t\tEcho receive interval: disabled
\t\t\tEcho transmission interval: disabled
\t\tRemote timers:
\t\t\tDetect-multiplier: 0
\t\t\tReceive interval: 0ms
\t\t\tTransmission interval: 0ms
\t\t\tEcho receive interval: disabled
\t\tFast path: off (userspace 40)
\t\tLast down: 2 day(s), 5 second(s) ago, control detection time expired

"
        );
    }

    #[test]
    fn show_peers_golden_passive_and_shutdown() {
        let text = format_peers(&[passive_init(), shutdown()]);
        let expected = "\
BFD Peers:
\tpeer fe80::2 vrf default interface eth1
\t\tID: 1
\t\tRemote ID: 77
\t\tPassive mode
\t\tStatus: init
\t\tDiagnostics: ok
\t\tRemote diagnostics: ok
\t\tPeer Type: configured
\t\tRTT min/avg/max: 0/0/0 usec
\t\tLocal timers:
\t\t\tDetect-multiplier: 3
\t\t\tReceive interval: 200ms
\t\t\tTransmission interval: 200ms
\t\t\tEcho receive interval: 50ms
\t\t\tEcho transmission interval: disabled
\t\tRemote timers:
\t\t\tDetect-multiplier: 3
\t\t\tReceive interval: 200ms
\t\t\tTransmission interval: 200ms
\t\t\tEcho receive interval: 50ms
\t\tFast path: XDP (absorbed 1234, userspace 5)

\tpeer 192.0.2.9 local-address 192.0.2.1 vrf default
\t\tID: 1
\t\tRemote ID: 1
\t\tActive mode
\t\tStatus: shutdown
\t\tDiagnostics: administratively down
\t\tRemote diagnostics: ok
\t\tPeer Type: configured
\t\tRTT min/avg/max: 0/0/0 usec
\t\tLocal timers:
\t\t\tDetect-multiplier: 3
\t\t\tReceive interval: 200ms
\t\t\tTransmission interval: 200ms
\t\t\tEcho receive interval: 50ms
\t\t\tEcho transmission interval: disabled
\t\tRemote timers:
\t\t\tDetect-multiplier: 3
\t\t\tReceive interval: 200ms
\t\t\tTransmission interval: 200ms
\t\t\tEcho receive interval: 50ms
\t\tFast path: off (userspace 5)

";
        assert_eq!(text, expected);
    }

    #[test]
    fn show_peers_empty() {
        assert_eq!(format_peers(&[]), "BFD Peers:\n");
    }

    #[test]
    fn show_time_string_follows_frr_integer2timestr() {
        assert_eq!(time_string(0), "0 second(s)");
        assert_eq!(time_string(59), "59 second(s)");
        assert_eq!(time_string(60), "1 minute(s), 0 second(s)");
        assert_eq!(time_string(3600), "1 hour(s), 0 second(s)");
        assert_eq!(time_string(5025), "1 hour(s), 23 minute(s), 45 second(s)");
        assert_eq!(time_string(86_400 + 61), "1 day(s), 1 minute(s), 1 second(s)");
        assert_eq!(time_string(30 * 86_400), "1 month(s), 0 second(s)");
        assert_eq!(time_string(360 * 86_400 + 30 * 86_400 + 3), "1 year(s), 1 month(s), 3 second(s)");
    }

    #[test]
    fn show_intervals_keep_microseconds() {
        assert_eq!(ms(200_000), "200ms");
        assert_eq!(ms(3_300), "3.3ms");
        assert_eq!(ms(3_250), "3.25ms");
        assert_eq!(ms(10_001), "10.001ms");
        assert_eq!(ms(1), "0.001ms");
        assert_eq!(ms(0), "0ms");
        assert_eq!(ms_or_disabled(Some(0)), "disabled");
        assert_eq!(micros(Duration::from_nanos(3_300_999)), 3_300);
    }

    #[test]
    fn show_brief_golden() {
        let text = format_brief(&[up_v4_echo(), down_v6_multihop(), passive_init(), shutdown()]);
        let lines: Vec<&str> = text.lines().collect();
        // FRR: "%-10s" " %-40s" " %-40s" "%-15s" " %-20s", then ours.
        let row = |id: &str, local: &str, peer: &str, status: &str, profile: &str, fast: &str| {
            format!("{id:<10} {local:<40} {peer:<40}{status:<15} {profile:<20} {fast}")
        };
        assert_eq!(lines[0], "Session count: 4");
        assert_eq!(
            lines[1],
            "SessionId  LocalAddress                             PeerAddress                             \
             Status          Profile              FastPath"
        );
        assert_eq!(
            lines[2],
            "=========  ============                             ===========                             \
             ======          =======              ========"
        );
        assert_eq!(lines[3], row("1", "10.0.0.2", "10.0.0.1", "up", "-", "xdp"));
        assert_eq!(lines[4], row("3000000001", "2001:db8::2", "2001:db8::1", "down", "balanced", "off"));
        assert_eq!(lines[5], row("1", "unknown", "fe80::2", "init", "-", "xdp"));
        // The brief Status column is FRR's state_list: "admin-down".
        assert_eq!(lines[6], row("1", "192.0.2.1", "192.0.2.9", "admin-down", "-", "off"));
        assert_eq!(lines.len(), 7);
        assert_eq!(format_brief(&[]).lines().count(), 3);
    }

    #[test]
    fn show_counters_golden() {
        assert_eq!(
            format_counters(&[up_v4_echo_running(), down_v6_multihop()]),
            "\
BFD Peers:
\tpeer 10.0.0.1 local-address 10.0.0.2 vrf default interface eth0
\t\tID: 1
\t\tControl packet input: 1239 packets
\t\tControl packet output: 1250 packets
\t\tEcho packet input: 700 packets
\t\tEcho packet output: 702 packets
\t\tSession up events: 1
\t\tSession down events: 0
\t\tZebra notifications: 0
\t\tFast path: XDP
\t\tControl packets absorbed in kernel: 1234 packets
\t\tControl packets seen in userspace: 5 packets

\tpeer 2001:db8::1 multihop local-address 2001:db8::2 vrf default
\t\tID: 3000000001
\t\tControl packet input: 0 packets
\t\tControl packet output: 17 packets
\t\tEcho packet input: 0 packets
\t\tEcho packet output: 0 packets
\t\tSession up events: 2
\t\tSession down events: 2
\t\tZebra notifications: 0
\t\tFast path: off
\t\tControl packets absorbed in kernel: 0 packets
\t\tControl packets seen in userspace: 40 packets

"
        );
    }

    fn keys(value: &Value) -> BTreeSet<String> {
        value.as_object().expect("an object").keys().cloned().collect()
    }

    fn set(keys: &[&str]) -> BTreeSet<String> {
        keys.iter().map(|key| key.to_string()).collect()
    }

    /// FRR's `show bfd peers json` keys (frr-bfdd.md), less `uptime` /
    /// `downtime` and `minimum-ttl`, which depend on the session.
    const FRR_PEER_KEYS: &[&str] = &[
        "multihop",
        "peer",
        "local",
        "vrf",
        "interface",
        "id",
        "remote-id",
        "passive-mode",
        "status",
        "diagnostic",
        "remote-diagnostic",
        "type",
        "profile",
        "receive-interval",
        "transmit-interval",
        "echo-receive-interval",
        "echo-transmit-interval",
        "detect-multiplier",
        "remote-receive-interval",
        "remote-transmit-interval",
        "remote-echo-receive-interval",
        "remote-detect-multiplier",
        "rtt-min",
        "rtt-avg",
        "rtt-max",
    ];

    const OUR_PEER_KEYS: &[&str] = &[
        "receive-interval-us",
        "transmit-interval-us",
        "echo-receive-interval-us",
        "echo-transmit-interval-us",
        "remote-receive-interval-us",
        "remote-transmit-interval-us",
        "remote-echo-receive-interval-us",
        "fast-path",
        "control-absorbed-in-kernel",
        "control-seen-in-userspace",
        "largest-rx-gap-since-up-us",
        "echo-rtt-us",
        "last-down",
    ];

    #[test]
    fn show_peers_json_keys_are_frr_plus_ours() {
        let json = peers_json(&[up_v4_echo_running(), down_v6_multihop()]);
        let peers = json.as_array().expect("an array");

        let mut expected = set(FRR_PEER_KEYS);
        expected.extend(set(OUR_PEER_KEYS));
        expected.insert("uptime".into());
        assert_eq!(keys(&peers[0]), expected);

        // Multihop, Down, no interface, nothing measured.
        let mut expected = set(FRR_PEER_KEYS);
        expected.extend(set(OUR_PEER_KEYS));
        for key in ["interface", "largest-rx-gap-since-up-us", "echo-rtt-us"] {
            expected.remove(key);
        }
        expected.insert("downtime".into());
        expected.insert("minimum-ttl".into());
        assert_eq!(keys(&peers[1]), expected);

        // FRR's order: the header first.
        let order: Vec<&String> = peers[0].as_object().unwrap().keys().take(6).collect();
        assert_eq!(order, ["multihop", "peer", "local", "vrf", "interface", "id"]);
    }

    #[test]
    fn show_peers_json_values() {
        let json = peers_json(&[up_v4_echo_running(), down_v6_multihop(), passive_init(), shutdown()]);
        let up = &json[0];
        assert_eq!(up["multihop"], false);
        assert_eq!(up["peer"], "10.0.0.1");
        assert_eq!(up["local"], "10.0.0.2");
        assert_eq!(up["vrf"], "default");
        assert_eq!(up["interface"], "eth0");
        assert_eq!(up["id"], 1);
        assert_eq!(up["status"], "up");
        assert_eq!(up["uptime"], 5025);
        assert_eq!(up["diagnostic"], "ok");
        assert_eq!(up["type"], "configured");
        assert_eq!(up["profile"], "aggressive");
        assert_eq!(up["receive-interval"], 200);
        assert_eq!(up["echo-transmit-interval"], 50);
        assert_eq!(up["rtt-avg"], 95);
        assert_eq!(up["fast-path"], true);
        assert_eq!(up["control-absorbed-in-kernel"], 1234);
        assert_eq!(up["largest-rx-gap-since-up-us"], 52_000);
        assert_eq!(up["echo-rtt-us"], 95);
        assert_eq!(up["last-down"]["seconds-ago"], 12);
        assert_eq!(up["last-down"]["diagnostic"], "control detection time expired");

        let down = &json[1];
        assert_eq!(down["multihop"], true);
        assert_eq!(down["minimum-ttl"], 254);
        assert_eq!(down["status"], "down");
        assert_eq!(down["downtime"], 2 * 86_400 + 5);
        // FRR truncates to whole milliseconds; ours keeps the microseconds.
        assert_eq!(down["receive-interval"], 3);
        assert_eq!(down["receive-interval-us"], 3_300);
        assert_eq!(down["echo-receive-interval"], 0);
        assert_eq!(down["echo-transmit-interval"], 0);
        assert_eq!(down["rtt-min"], 0);

        let init = &json[2];
        assert_eq!(init["status"], "init");
        assert_eq!(init["passive-mode"], true);
        assert!(
            init.get("local").is_none() && init.get("uptime").is_none() && init.get("downtime").is_none()
        );

        let shutdown = &json[3];
        assert_eq!(shutdown["status"], "shutdown");
        assert_eq!(shutdown["diagnostic"], "administratively down");
    }

    #[test]
    fn show_counters_json_keys_are_frr_plus_ours() {
        let json = counters_json(&[up_v4_echo_running()]);
        let frr = [
            "multihop",
            "peer",
            "local",
            "vrf",
            "interface",
            "id",
            "control-packet-input",
            "control-packet-output",
            "echo-packet-input",
            "echo-packet-output",
            "session-up",
            "session-down",
            "zebra-notifications",
        ];
        let mut expected = set(&frr);
        expected.extend(set(&[
            "fast-path",
            "control-absorbed-in-kernel",
            "control-seen-in-userspace",
            "takeovers",
        ]));
        assert_eq!(keys(&json[0]), expected);
        assert_eq!(json[0]["control-packet-input"], 1239);
        assert_eq!(json[0]["echo-packet-output"], 702);
        assert_eq!(json[0]["control-seen-in-userspace"], 5);
    }

    fn with_auth_failures() -> PeerReport {
        let mut peer = down_v6_multihop();
        peer.counters.auth = AuthFailureCounts {
            auth_type: Some(5),
            missing: 2,
            digest_mismatch: 7,
            meticulous_sequence: 3,
            ..Default::default()
        };
        peer
    }

    #[test]
    fn show_counters_authentication_failures_as_frr_prints_them() {
        let text = format_counters(&[with_auth_failures()]);
        let auth_lines: Vec<&str> = text.lines().filter(|line| line.contains("Authentication")).collect();
        assert_eq!(
            auth_lines,
            [
                "\t\tRx Authentication failure: 12",
                "\t\tRx Authentication type keyed sha-1 mismatch: 7",
                "\t\tRx Authentication type keyed sha-1 meticulous sequence error: 3",
                "\t\tRx Authentication missing: 2",
            ]
        );
        // After FRR's zebra line, before our fast-path lines.
        let zebra = text.find("Zebra notifications").unwrap();
        assert!(zebra < text.find("Rx Authentication failure").unwrap());
        assert!(text.find("Rx Authentication missing").unwrap() < text.find("Fast path").unwrap());
        // MD5 sessions say so.
        let mut md5 = with_auth_failures();
        md5.counters.auth.auth_type = Some(2);
        assert!(format_counters(&[md5]).contains("Rx Authentication type keyed md5 mismatch: 7"));
        // Nothing at all without failures.
        assert!(!format_counters(&[up_v4_echo_running()]).contains("Authentication"));
    }

    #[test]
    fn show_counters_json_authentication_keys_are_frr_10_7s() {
        let json = counters_json(&[with_auth_failures(), up_v4_echo_running()]);
        assert_eq!(json[0]["rx-pkt-authentication-failure"], 12);
        assert_eq!(json[0]["rx-pkt-authentication-keyed-sha1-mismatch"], 7);
        assert_eq!(json[0]["rx-pkt-authentication-keyed-sha1-sequence-meticulous-error"], 3);
        assert_eq!(json[0]["rx-pkt-authentication-missing"], 2);
        assert!(json[0].get("rx-pkt-authentication-type-mismatch").is_none(), "zero: left out, as FRR does");
        assert!(keys(&json[1]).iter().all(|key| !key.contains("authentication")));
        // An older agent's reply (no `auth`) still reads.
        let old: PeerCounters = serde_json::from_str(
            r#"{"control_packet_input":1,"control_packet_output":2,"echo_packet_input":0,"echo_packet_output":0,"session_up":1,"session_down":0}"#,
        )
        .unwrap();
        assert_eq!(old.auth, AuthFailureCounts::default());
    }

    #[test]
    fn show_brief_json() {
        let json = brief_json(&[up_v4_echo(), down_v6_multihop(), shutdown()]);
        assert_eq!(keys(&json[0]), set(&["id", "local", "peer", "status", "fast-path"]));
        assert_eq!(keys(&json[1]), set(&["id", "local", "peer", "status", "profile", "fast-path"]));
        assert_eq!(json[1]["profile"], "balanced");
        assert_eq!(json[1]["id"], 3_000_000_001u32);
        // FRR's brief JSON says "shutdown" (its text says "admin-down").
        assert_eq!(json[2]["status"], "shutdown");
    }

    #[test]
    fn show_peer_state_from_rfc_state() {
        assert_eq!(PeerState::from(State::AdminDown), PeerState::Shutdown);
        assert_eq!(PeerState::from(State::Down), PeerState::Down);
        assert_eq!(PeerState::from(State::Init), PeerState::Init);
        assert_eq!(PeerState::from(State::Up), PeerState::Up);
        assert_eq!(serde_json::to_value(PeerState::Shutdown).unwrap(), "shutdown");
    }

    #[test]
    fn show_report_serde_round_trip() {
        for report in [up_v4_echo_running(), down_v6_multihop(), passive_init(), shutdown()] {
            let text = serde_json::to_string(&report).unwrap();
            assert_eq!(serde_json::from_str::<PeerReport>(&text).unwrap(), report);
        }
    }
}
