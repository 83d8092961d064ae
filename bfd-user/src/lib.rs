//! The bfd-xdp agent as a library: what `bfd-agent` is made of.
//!
//! - [`fastpath`]: loads the XDP program embedded at build time, attaches
//!   it, pins its maps under a bpffs directory, and drives it through them:
//!   sessions, the echo allowlist, the kernel's per-session state and its
//!   detection events.
//! - [`session_map`]: the session core's fast-path view as the kernel's map
//!   entry.
#![warn(missing_docs)]

pub mod fastpath;
pub mod session_map;
