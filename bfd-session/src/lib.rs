//! The RFC 5880 session core of bfd-xdp, sans IO.
//!
//! Nothing here opens a socket, reads a clock or draws entropy: every input
//! carries its time, randomness comes from a seed, and the results are
//! values the caller acts upon. The agent drives it with real packets and
//! `CLOCK_MONOTONIC`; the tests drive it with a simulated clock and link
//! ([`sim`]), without root.
//!
//! | part | RFC 5880 |
//! | --- | --- |
//! | [`Session`]: state variables, reception, the state table, timers, Poll Sequences, Demand mode, AdminDown, echo parameters | §6.8.1–§6.8.9, §6.8.16, §6.5, §6.6 |
//! | [`auth`]: authentication types, key chains with lifetimes, digests, sequence numbers, receive checks | §6.7, §6.8.1, §6.8.6 |
//! | [`SessionConfig`]: DesiredMinTx, RequiredMinRx, DetectMult, passive role, Demand, C bit, echo | §6.1, §6.4, §6.8.1, §4.1 |
//! | [`Sessions`]: random unique discriminators, demultiplexing, TTL rules | §6.3, §6.8.6; RFC 5881 §5, RFC 5883 §5 |
//! | [`FastPathView`]: what the XDP program absorbs and times | §6.8.4 (detection in the kernel) |
//! | [`sim`]: two sessions on a simulated link | (tests) |
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod auth;
pub mod config;
pub mod rng;
pub mod session;
pub mod sim;
pub mod table;
pub mod time;

pub use auth::{
    AuthConfig, AuthConfigError, AuthCounters, AuthFailure, AuthStatus, Key, Lifetime, ReceivedControl,
    Secret, Sha1Construction, WallTime,
};
pub use config::{ConfigError, Detection, EchoConfig, SessionConfig};
pub use session::{
    Cause, Counters, Discard, FastPathView, JITTER_FLOOR_PPM, Output, Restored, SLOW_TX_INTERVAL, Session,
    SessionError, SessionStatus, StateChange, TX_SLACK, TX_SLACK_FRACTION, WAKE_SLACK_FRACTION,
    WAKE_SLACK_MAX, jitter_floor,
};
pub use table::{AddError, Arrival, DemuxError, ReceiveError, SessionKey, Sessions};
pub use time::Time;
