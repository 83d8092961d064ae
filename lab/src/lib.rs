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
pub mod peers;
pub mod prometheus;
pub mod scenario;

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
                $body($release)
            }
        )+
    };
}
