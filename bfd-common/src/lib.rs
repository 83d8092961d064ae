//! Wire formats and kernel-shared types for bfd-xdp.
//!
//! This crate is `no_std` and allocation-free so that the same code parses
//! packets in the XDP program (`bfd-ebpf`) and in the agent (`bfd-user`).
//!
//! - [`wire`]: RFC 5880 control packets, their authentication sections, and
//!   our echo payload, as typed views over byte buffers plus `Repr`s with
//!   `parse`/`emit`.
//! - [`maps`]: the `#[repr(C)]` key and value types of the BPF maps the
//!   kernel program and the agent share.
//! - [`checksum`]: the incremental Internet checksum update the kernel
//!   program uses when it rewrites a header field.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod checksum;
pub mod maps;
pub mod wire;

/// UDP destination port of single-hop BFD control packets (RFC 5881 §4).
pub const CONTROL_PORT: u16 = 3784;
/// UDP destination port of BFD echo packets (RFC 5881 §4).
pub const ECHO_PORT: u16 = 3785;
/// UDP destination port of multihop BFD control packets (RFC 5883 §5).
pub const MULTIHOP_CONTROL_PORT: u16 = 4784;
/// Lowest UDP source port a BFD sender may use (RFC 5881 §4, RFC 5883 §5).
pub const SOURCE_PORT_MIN: u16 = 49152;
/// Highest UDP source port a BFD sender may use (RFC 5881 §4, RFC 5883 §5).
pub const SOURCE_PORT_MAX: u16 = 65535;
/// TTL / hop limit of every BFD packet we send, and the only one a
/// single-hop receiver accepts (RFC 5881 §5, the GTSM check of RFC 5082).
pub const TTL: u8 = 255;
/// The BFD protocol version this crate speaks (RFC 5880 §4.1).
pub const VERSION: u8 = 1;
