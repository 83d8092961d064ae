//! FRR bfdd's distributed data-plane protocol on the wire (`bfdd
//! --dplaneaddr`, FRR's `bfdd/bfddp_packet.h`): an 8-byte header and a
//! fixed payload per type, every integer in network byte order.
//!
//! ```text
//!  0               1               2               3
//! +---------------+---------------+-------------------------------+
//! |  version (1)  |     zero      |             type              |
//! +---------------+---------------+-------------------------------+
//! |              id               |   length (header + payload)    |
//! +-------------------------------+-------------------------------+
//! ```
//!
//! [`Message::parse`] takes one message off the front of a byte stream
//! (the channel is a stream socket, so a read may end mid-message);
//! [`Message::emit`] appends one. Unknown types are skipped by their length,
//! as bfdd itself does, so a newer bfdd does not break the channel.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The protocol version bfdd speaks and accepts.
pub const VERSION: u8 = 1;
/// The header's size.
pub const HEADER_LEN: usize = 8;
/// bfdd's buffers are 8 KiB: no message is longer, and its registration
/// burst is cut when its output buffer is full.
pub const MAX_MESSAGE_LEN: usize = 8192;
/// The default TCP port of `ipv4:`/`ipv6:` addresses.
pub const DEFAULT_PORT: u16 = 50700;

const ECHO_REQUEST: u16 = 0;
const ECHO_REPLY: u16 = 1;
const DP_ADD_SESSION: u16 = 2;
const DP_DELETE_SESSION: u16 = 3;
const BFD_STATE_CHANGE: u16 = 4;
const DP_REQUEST_SESSION_COUNTERS: u16 = 5;
const BFD_SESSION_COUNTERS: u16 = 6;

const ECHO_LEN: usize = 16;
/// A session message's payload; the whole message is 140 bytes.
pub const SESSION_LEN: usize = 132;
const STATE_CHANGE_LEN: usize = 28;
const COUNTERS_REQUEST_LEN: usize = 4;
const COUNTERS_LEN: usize = 72;
const IFNAME_LEN: usize = 64;

/// Session flags (`enum bfddp_session_flag`).
pub mod session_flags {
    /// A multihop session (RFC 5883).
    pub const MULTIHOP: u32 = 1 << 0;
    /// Demand mode (RFC 5880 §6.6).
    pub const DEMAND: u32 = 1 << 1;
    /// Set the C bit.
    pub const CBIT: u32 = 1 << 2;
    /// Send echo packets.
    pub const ECHO: u32 = 1 << 3;
    /// The addresses are IPv6.
    pub const IPV6: u32 = 1 << 4;
    /// Passive role (RFC 5880 §6.1).
    pub const PASSIVE: u32 = 1 << 5;
    /// Administratively down.
    pub const SHUTDOWN: u32 = 1 << 6;
}

/// Remote flags of a state change (`enum bfddp_remote_flags`).
pub mod remote_flags {
    /// The peer sets the C bit.
    pub const CBIT: u32 = 1 << 0;
    /// The peer asks for Demand mode.
    pub const DEMAND: u32 = 1 << 1;
    /// The peer sets the M bit.
    pub const MULTIPOINT: u32 = 1 << 2;
}

/// Why bytes are not a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not version 1: the stream cannot be trusted any more.
    #[error("data-plane protocol version {0} (expected 1)")]
    Version(u8),
    /// A length under the header's or over bfdd's buffer: the stream has
    /// lost its framing.
    #[error("message length {0} is outside 8..=8192")]
    Length(u16),
    /// A known type whose length is not its payload's.
    #[error("{kind} message of {length} bytes (expected {expected})")]
    Size {
        /// The message type.
        kind: &'static str,
        /// Its length field.
        length: u16,
        /// What the type requires.
        expected: usize,
    },
}

/// A session as bfdd describes it in DP_ADD_SESSION / DP_DELETE_SESSION.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRepr {
    /// [`session_flags`].
    pub flags: u32,
    /// Our address; unspecified when bfdd has none.
    pub src: IpAddr,
    /// The peer's address.
    pub dst: IpAddr,
    /// bfdd's local discriminator: the session's key.
    pub lid: u32,
    /// Desired Min TX Interval, µs.
    pub min_tx: u32,
    /// Required Min RX Interval, µs.
    pub min_rx: u32,
    /// Desired echo transmit interval, µs.
    pub min_echo_tx: u32,
    /// Required Min Echo RX Interval, µs.
    pub min_echo_rx: u32,
    /// Unused by bfdd (0).
    pub hold_time: u32,
    /// 255 for single-hop; the minimum TTL accepted for multihop.
    pub ttl: u8,
    /// Detect Mult.
    pub detect_mult: u8,
    /// The interface index, 0 if none.
    pub ifindex: u32,
    /// The interface name, empty if none.
    pub ifname: String,
}

impl SessionRepr {
    /// Whether `flag` (one of [`session_flags`]) is set.
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }
}

/// BFD_STATE_CHANGE: what the data plane reports on every state change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateChangeRepr {
    /// bfdd's discriminator of the session.
    pub lid: u32,
    /// The peer's discriminator.
    pub rid: u32,
    /// [`remote_flags`].
    pub remote_flags: u32,
    /// The peer's Desired Min TX Interval, µs.
    pub desired_tx: u32,
    /// The peer's Required Min RX Interval, µs.
    pub required_rx: u32,
    /// The peer's Required Min Echo RX Interval, µs.
    pub required_echo_rx: u32,
    /// Our session state (0 AdminDown, 1 Down, 2 Init, 3 Up): bfdd takes it
    /// as its session's state, whatever its header's comment says.
    pub state: u8,
    /// The peer's diagnostic.
    pub diagnostics: u8,
    /// The peer's Detect Mult.
    pub detection_multiplier: u8,
}

/// BFD_SESSION_COUNTERS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CountersRepr {
    /// The session.
    pub lid: u32,
    /// Control packets received, bytes.
    pub control_input_bytes: u64,
    /// Control packets received.
    pub control_input_packets: u64,
    /// Control packets sent, bytes.
    pub control_output_bytes: u64,
    /// Control packets sent.
    pub control_output_packets: u64,
    /// Echo packets received, bytes.
    pub echo_input_bytes: u64,
    /// Echo packets received.
    pub echo_input_packets: u64,
    /// Echo packets sent, bytes.
    pub echo_output_bytes: u64,
    /// Echo packets sent.
    pub echo_output_packets: u64,
}

/// One message of the channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A channel probe; the other side answers with [`Message::EchoReply`].
    EchoRequest {
        /// The header's id.
        id: u16,
        /// The data plane's clock, µs.
        dp_time: u64,
        /// bfdd's clock, µs.
        bfdd_time: u64,
    },
    /// The answer to a probe.
    EchoReply {
        /// The header's id.
        id: u16,
        /// The request's `dp_time`.
        dp_time: u64,
        /// bfdd's clock, µs.
        bfdd_time: u64,
    },
    /// Create the session, or update it if its lid exists.
    AddSession(SessionRepr),
    /// Remove the session.
    DeleteSession(SessionRepr),
    /// A state change (data plane to bfdd).
    StateChange(StateChangeRepr),
    /// bfdd asks for a session's counters and waits for the answer with
    /// the same id.
    CountersRequest {
        /// The id the answer must carry.
        id: u16,
        /// The session.
        lid: u32,
    },
    /// The answer to a counters request.
    Counters {
        /// The request's id.
        id: u16,
        /// The counters.
        counters: CountersRepr,
    },
    /// A type this implementation does not know, skipped.
    Unknown {
        /// Its type.
        kind: u16,
        /// Its whole length.
        length: u16,
    },
}

/// Big-endian reads at fixed offsets of a payload whose length was checked.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u8(&self, at: usize) -> u8 {
        self.0[at]
    }
    fn u16(&self, at: usize) -> u16 {
        u16::from_be_bytes([self.0[at], self.0[at + 1]])
    }
    fn u32(&self, at: usize) -> u32 {
        u32::from_be_bytes(self.0[at..at + 4].try_into().expect("4 bytes"))
    }
    fn u64(&self, at: usize) -> u64 {
        u64::from_be_bytes(self.0[at..at + 8].try_into().expect("8 bytes"))
    }
    fn address(&self, at: usize, v6: bool) -> IpAddr {
        let bytes: [u8; 16] = self.0[at..at + 16].try_into().expect("16 bytes");
        if v6 {
            IpAddr::V6(Ipv6Addr::from(bytes))
        } else {
            IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
        }
    }
}

impl Message {
    /// Takes one message off the front of `bytes`: `Ok(None)` if they do not
    /// hold a whole one yet, else the message and the bytes it used.
    pub fn parse(bytes: &[u8]) -> Result<Option<(Message, usize)>, Error> {
        if bytes.len() < HEADER_LEN {
            return Ok(None);
        }
        let header = Reader(bytes);
        if header.u8(0) != VERSION {
            return Err(Error::Version(header.u8(0)));
        }
        let kind = header.u16(2);
        let id = header.u16(4);
        let length = header.u16(6);
        if usize::from(length) < HEADER_LEN || usize::from(length) > MAX_MESSAGE_LEN {
            return Err(Error::Length(length));
        }
        if bytes.len() < usize::from(length) {
            return Ok(None);
        }
        let payload = Reader(&bytes[HEADER_LEN..usize::from(length)]);
        let expect = |name: &'static str, expected: usize| {
            if usize::from(length) == HEADER_LEN + expected {
                Ok(())
            } else {
                Err(Error::Size { kind: name, length, expected: HEADER_LEN + expected })
            }
        };
        let message = match kind {
            ECHO_REQUEST | ECHO_REPLY => {
                expect("echo", ECHO_LEN)?;
                let (dp_time, bfdd_time) = (payload.u64(0), payload.u64(8));
                if kind == ECHO_REQUEST {
                    Message::EchoRequest { id, dp_time, bfdd_time }
                } else {
                    Message::EchoReply { id, dp_time, bfdd_time }
                }
            }
            DP_ADD_SESSION | DP_DELETE_SESSION => {
                expect("session", SESSION_LEN)?;
                let session = parse_session(&payload);
                if kind == DP_ADD_SESSION {
                    Message::AddSession(session)
                } else {
                    Message::DeleteSession(session)
                }
            }
            BFD_STATE_CHANGE => {
                expect("state change", STATE_CHANGE_LEN)?;
                Message::StateChange(StateChangeRepr {
                    lid: payload.u32(0),
                    rid: payload.u32(4),
                    remote_flags: payload.u32(8),
                    desired_tx: payload.u32(12),
                    required_rx: payload.u32(16),
                    required_echo_rx: payload.u32(20),
                    state: payload.u8(24),
                    diagnostics: payload.u8(25),
                    detection_multiplier: payload.u8(26),
                })
            }
            DP_REQUEST_SESSION_COUNTERS => {
                expect("counters request", COUNTERS_REQUEST_LEN)?;
                Message::CountersRequest { id, lid: payload.u32(0) }
            }
            BFD_SESSION_COUNTERS => {
                expect("counters", COUNTERS_LEN)?;
                Message::Counters {
                    id,
                    counters: CountersRepr {
                        lid: payload.u32(0),
                        control_input_bytes: payload.u64(8),
                        control_input_packets: payload.u64(16),
                        control_output_bytes: payload.u64(24),
                        control_output_packets: payload.u64(32),
                        echo_input_bytes: payload.u64(40),
                        echo_input_packets: payload.u64(48),
                        echo_output_bytes: payload.u64(56),
                        echo_output_packets: payload.u64(64),
                    },
                }
            }
            kind => Message::Unknown { kind, length },
        };
        Ok(Some((message, usize::from(length))))
    }

    /// Appends the message to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let (kind, id) = match self {
            Message::EchoRequest { id, .. } => (ECHO_REQUEST, *id),
            Message::EchoReply { id, .. } => (ECHO_REPLY, *id),
            Message::AddSession(_) => (DP_ADD_SESSION, 0),
            Message::DeleteSession(_) => (DP_DELETE_SESSION, 0),
            Message::StateChange(_) => (BFD_STATE_CHANGE, 0),
            Message::CountersRequest { id, .. } => (DP_REQUEST_SESSION_COUNTERS, *id),
            Message::Counters { id, .. } => (BFD_SESSION_COUNTERS, *id),
            Message::Unknown { kind, .. } => (*kind, 0),
        };
        out.extend_from_slice(&[VERSION, 0]);
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&[0, 0]); // length, patched below
        match self {
            Message::EchoRequest { dp_time, bfdd_time, .. }
            | Message::EchoReply { dp_time, bfdd_time, .. } => {
                out.extend_from_slice(&dp_time.to_be_bytes());
                out.extend_from_slice(&bfdd_time.to_be_bytes());
            }
            Message::AddSession(session) | Message::DeleteSession(session) => emit_session(session, out),
            Message::StateChange(state) => {
                for value in [
                    state.lid,
                    state.rid,
                    state.remote_flags,
                    state.desired_tx,
                    state.required_rx,
                    state.required_echo_rx,
                ] {
                    out.extend_from_slice(&value.to_be_bytes());
                }
                out.extend_from_slice(&[state.state, state.diagnostics, state.detection_multiplier, 0]);
            }
            Message::CountersRequest { lid, .. } => out.extend_from_slice(&lid.to_be_bytes()),
            Message::Counters { counters, .. } => {
                out.extend_from_slice(&counters.lid.to_be_bytes());
                out.extend_from_slice(&[0; 4]);
                for value in [
                    counters.control_input_bytes,
                    counters.control_input_packets,
                    counters.control_output_bytes,
                    counters.control_output_packets,
                    counters.echo_input_bytes,
                    counters.echo_input_packets,
                    counters.echo_output_bytes,
                    counters.echo_output_packets,
                ] {
                    out.extend_from_slice(&value.to_be_bytes());
                }
            }
            Message::Unknown { length, .. } => {
                out.resize(start + usize::from(*length).max(HEADER_LEN), 0);
            }
        }
        let length = u16::try_from(out.len() - start).expect("messages are short");
        out[start + 6..start + 8].copy_from_slice(&length.to_be_bytes());
    }

    /// The message as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SESSION_LEN + HEADER_LEN);
        self.emit(&mut out);
        out
    }
}

fn parse_session(payload: &Reader<'_>) -> SessionRepr {
    let flags = payload.u32(0);
    let v6 = flags & session_flags::IPV6 != 0;
    let name = &payload.0[68..68 + IFNAME_LEN];
    let end = name.iter().position(|&byte| byte == 0).unwrap_or(IFNAME_LEN);
    SessionRepr {
        flags,
        src: payload.address(4, v6),
        dst: payload.address(20, v6),
        lid: payload.u32(36),
        min_tx: payload.u32(40),
        min_rx: payload.u32(44),
        min_echo_tx: payload.u32(48),
        min_echo_rx: payload.u32(52),
        hold_time: payload.u32(56),
        ttl: payload.u8(60),
        detect_mult: payload.u8(61),
        ifindex: payload.u32(64),
        ifname: String::from_utf8_lossy(&name[..end]).into_owned(),
    }
}

fn emit_session(session: &SessionRepr, out: &mut Vec<u8>) {
    out.extend_from_slice(&session.flags.to_be_bytes());
    for address in [session.src, session.dst] {
        let mut bytes = [0u8; 16];
        match address {
            IpAddr::V4(v4) => bytes[..4].copy_from_slice(&v4.octets()),
            IpAddr::V6(v6) => bytes = v6.octets(),
        }
        out.extend_from_slice(&bytes);
    }
    for value in [
        session.lid,
        session.min_tx,
        session.min_rx,
        session.min_echo_tx,
        session.min_echo_rx,
        session.hold_time,
    ] {
        out.extend_from_slice(&value.to_be_bytes());
    }
    out.extend_from_slice(&[session.ttl, session.detect_mult, 0, 0]);
    out.extend_from_slice(&session.ifindex.to_be_bytes());
    let mut name = [0u8; IFNAME_LEN];
    // bfdd NUL-terminates: at most 63 bytes of name.
    let bytes = session.ifname.as_bytes();
    let used = bytes.len().min(IFNAME_LEN - 1);
    name[..used].copy_from_slice(&bytes[..used]);
    out.extend_from_slice(&name);
}

/// Reassembles messages from a stream: bytes go in as they are read,
/// whole messages come out.
#[derive(Debug, Default)]
pub struct Reassembler {
    buffer: Vec<u8>,
}

impl Reassembler {
    /// Adds bytes read from the channel.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole message, if any. An error means the stream's framing
    /// is lost: the channel must be closed.
    pub fn next_message(&mut self) -> Result<Option<Message>, Error> {
        match Message::parse(&self.buffer)? {
            Some((message, used)) => {
                self.buffer.drain(..used);
                Ok(Some(message))
            }
            None => Ok(None),
        }
    }
}
