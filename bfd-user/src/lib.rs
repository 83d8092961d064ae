//! The bfd-xdp agent as a library: what `bfd-agent` is made of.
//!
//! - [`fastpath`]: loads the XDP program embedded at build time, attaches
//!   it, pins its maps under a bpffs directory, and reads them back.
#![warn(missing_docs)]

pub mod fastpath;
