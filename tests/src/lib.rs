//! A small lab for end-to-end tests and the demo: network namespaces, veth
//! links, bpffs pin directories and FRR daemons, each an RAII guard that
//! removes what it created when dropped, also when a test fails.
//!
//! Everything created here carries the process id in its name, so parallel
//! runs (and leftovers of a killed run) never collide.

pub mod agent;
pub mod bird;
pub mod e2e;
pub mod frame;
pub mod frr;
pub mod lab;
pub mod prometheus;
pub mod scenario;
