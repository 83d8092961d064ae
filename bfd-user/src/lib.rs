//! The bfd-xdp agent as a library: what `bfd-agent` is made of.
//!
//! - [`fastpath`]: loads the XDP program embedded at build time, attaches
//!   it, pins its maps under a bpffs directory, and drives it through them:
//!   sessions, the echo allowlist, the kernel's per-session state and its
//!   detection events.
//! - [`bpffs`]: whether pins under a bpffs directory outlive this process
//!   (they do not under `ip netns exec` or in a container without the
//!   host's /sys/fs/bpf).
//! - [`session_map`]: the session core's fast-path view as the kernel's map
//!   entry.
//! - [`show`]: operator output in FRR's `show bfd peers` layout and JSON
//!   keys, plus what FRR lacks (fast path, kernel/userspace split, gaps,
//!   echo RTT).
//! - [`control`]: the UNIX control socket between the running agent and
//!   its CLI: one JSON request, one JSON response.
//! - [`config`]: the configuration: MetalLB's BFDProfile and BGPPeer
//!   documents and our BFDAgentConfig, validated with every error located,
//!   and what a reload changes.
//! - [`routes`]: kernel route withdrawal when a session fails, and restoration.
//! - [`dplane`]: FRR bfdd's distributed data-plane protocol: the agent as
//!   bfdd's data plane, under bgpd and the rest of FRR.
//! - [`metrics`]: Prometheus metrics (OpenMetrics and the classic text
//!   format) and the agent's HTTP endpoint with its health checks.
//! - [`engine`]: the engine sans IO: every session and what their inputs
//!   make the agent do ([`engine::Dispatcher`]), and the loop around it
//!   over an I/O trait ([`engine::run`]), tested on a simulated clock.
//! - [`sched`]: SCHED_FIFO and SCHED_DEADLINE for the engine thread.
//! - [`transmit`]: how control packets leave: `sendmmsg` batches through a
//!   raw IP socket, or whole Ethernet frames through a packet socket; and
//!   the counters of which way they left ([`transmit::TransmitCounters`]).
//! - [`xdp_sender`]: whole batches of frames sent by the XDP sender program
//!   in one `BPF_PROG_TEST_RUN` in live-frame mode (measured by the bench's
//!   `txpath`; not yet one of the agent's transmit paths).
#![warn(missing_docs)]

pub mod adopt;
pub mod bpffs;
pub mod config;
pub mod control;
pub mod dplane;
pub mod engine;
pub mod fastpath;
pub mod metrics;
pub mod routes;
pub mod sched;
pub mod session_map;
pub mod show;
pub mod transmit;
pub mod xdp_sender;
