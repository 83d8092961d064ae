//! The lab of bfd-xdp's end-to-end tests, benchmarks and demo: network
//! namespaces, veth links, bpffs pin directories, FRR and BIRD peers,
//! packet captures, path cuts, crafted frames and the agent launcher, each
//! an RAII guard that removes what it created when dropped, also when a
//! test fails (and then prints its daemon's log: [`harness`]).
//!
//! Everything created here carries the process id in its name, so parallel
//! runs (and leftovers of a killed run) never collide.

// `#[bfd_lab::test]` names the harness by its crate's path: so that this
// crate's own tests can use it too.
extern crate self as bfd_lab;

pub mod agent;
pub mod bird;
pub mod e2e;
pub mod frame;
pub mod frr;
pub mod harness;
pub mod lab;
pub mod peers;
pub mod prometheus;
pub mod scenario;

/// Marks a test whose pass its harness records: `#[bfd_lab::test]` in
/// place of `#[test]` (see [`harness`]).
pub use bfd_lab_macros::test;

/// One `#[test]` per release of a peer, each calling `body(release)` and
/// named for the release, so that a failure says which one:
///
/// ```ignore
/// release_tests!(up_detect_recover {
///     up_detect_recover_frr_8_4: FrrRelease::V8_4,
///     #[ignore = "why"]
///     up_detect_recover_frr_10_7: FrrRelease::V10_7,
/// });
/// ```
#[macro_export]
macro_rules! release_tests {
    ($body:ident { $($(#[$attribute:meta])* $name:ident: $release:expr),+ $(,)? }) => {
        $(
            #[test]
            $(#[$attribute])*
            fn $name() -> anyhow::Result<()> {
                $crate::harness::run(|| $body($release))
            }
        )+
    };
}
