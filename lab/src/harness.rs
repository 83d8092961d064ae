//! A test's outcome, recorded by its harness rather than by a call at its
//! end: the lab's guards (agents, daemons, Prometheus) hand their logs to
//! [`log_on_failure`] when dropped, and the logs are printed only when the
//! test fails, so that the test harness shows them with the failure.
//!
//! - A test that panics (a failed assertion, an `unwrap`): the guards drop
//!   while the thread unwinds, and print at once.
//! - A test marked [`#[bfd_lab::test]`](crate::test) that returns `Err`:
//!   its guards drop before the function returns, so they hold their logs
//!   here, and [`run`] prints them when it sees the `Err` (and forgets
//!   them on `Ok`).
//! - Outside a test (the benchmarks, the demo), a guard prints only while
//!   the thread panics: they report their own failures.

use std::{cell::RefCell, path::Path};

/// One daemon's log, held until the test's outcome is known.
struct HeldLog {
    what: String,
    path: String,
    text: String,
}

thread_local! {
    /// The logs held for the running `#[bfd_lab::test]` (libtest runs
    /// each test on a thread of its own); `None` outside one.
    static HELD: RefCell<Option<Vec<HeldLog>>> = const { RefCell::new(None) };
}

/// What a test returns, and whether that is a pass.
pub trait Outcome {
    /// Whether the test passed.
    fn passed(&self) -> bool;
}

impl Outcome for () {
    fn passed(&self) -> bool {
        true
    }
}

impl<T, E> Outcome for Result<T, E> {
    fn passed(&self) -> bool {
        self.is_ok()
    }
}

/// Runs a test's body (what `#[bfd_lab::test]` expands to) and prints the
/// logs its guards held if it did not pass.
pub fn run<T: Outcome>(test: impl FnOnce() -> T) -> T {
    let scope = Scope::enter();
    let outcome = test();
    scope.finish(outcome.passed());
    outcome
}

/// The logs held for one test; if the test panics after some guards have
/// already handed theirs over (a helper returned `Err`, the test unwrapped
/// it), they are printed as the panic unwinds through here.
struct Scope;

impl Scope {
    fn enter() -> Scope {
        HELD.with(|held| *held.borrow_mut() = Some(Vec::new()));
        Scope
    }

    fn take() -> Vec<HeldLog> {
        HELD.with(|held| held.borrow_mut().take()).unwrap_or_default()
    }

    fn finish(self, passed: bool) {
        let held = Scope::take();
        if !passed {
            held.iter().for_each(print_log);
        }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let held = Scope::take();
        if std::thread::panicking() {
            held.iter().for_each(print_log);
        }
    }
}

/// Called by a guard when dropped with its daemon's log at `path`, which
/// the guard may remove next: printed now if the thread panics, held for
/// [`run`] inside a test, forgotten otherwise.
pub fn log_on_failure(what: &str, path: &Path) {
    text_on_failure(what, path, || {
        std::fs::read_to_string(path).unwrap_or_else(|error| format!("({error})"))
    });
}

/// [`log_on_failure`] for a log the guard renders itself (the agent's JSON
/// lines in their text form): `text` is called only if it is kept.
pub fn text_on_failure(what: &str, path: &Path, text: impl FnOnce() -> String) {
    let read = || HeldLog { what: what.to_owned(), path: path.display().to_string(), text: text() };
    if std::thread::panicking() {
        print_log(&read());
        return;
    }
    HELD.with(|held| {
        if let Some(held) = held.borrow_mut().as_mut() {
            held.push(read());
        }
    });
}

fn print_log(log: &HeldLog) {
    let HeldLog { what, path, text } = log;
    cleanup_note(format_args!("----- {what}: {path} -----\n{}\n----- end of {what} -----", text.trim_end()));
}

/// Writes a line to stderr from a guard's `Drop` (a cleanup that failed, a
/// daemon's log on failure), ignoring a closed stderr. `eprintln!` panics
/// when stderr is gone (`cargo test -- --nocapture | head`), and a panic in
/// a `Drop` that runs while the test is already unwinding aborts the
/// process: every guard after it is skipped, leaving namespaces, agents
/// and pins behind (seen once, after a test's output was piped to `head`).
pub fn cleanup_note(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_fmt(line).and_then(|()| stderr.write_all(b"\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_count() -> Option<usize> {
        HELD.with(|held| held.borrow().as_ref().map(Vec::len))
    }

    #[test]
    fn logs_are_held_inside_a_run_and_forgotten_outside() {
        let file = std::env::temp_dir().join(format!("harness-{}.log", std::process::id()));
        std::fs::write(&file, "a line").unwrap();
        log_on_failure("outside", &file);
        assert_eq!(held_count(), None);
        let outcome: Result<(), &str> = run(|| {
            log_on_failure("daemon", &file);
            assert_eq!(held_count(), Some(1));
            Err("failed")
        });
        assert!(outcome.is_err());
        assert_eq!(held_count(), None, "the run takes its logs with it");
        std::fs::remove_file(&file).unwrap();
    }

    #[test]
    fn a_panic_takes_the_held_logs_with_it() {
        let file = std::env::temp_dir().join(format!("harness-panic-{}.log", std::process::id()));
        std::fs::write(&file, "a line").unwrap();
        let panicked = std::panic::catch_unwind(|| {
            run(|| -> Result<(), ()> {
                log_on_failure("daemon", &file);
                panic!("an assertion failed");
            })
        });
        assert!(panicked.is_err());
        assert_eq!(held_count(), None, "printed while unwinding, not left for the next test");
        std::fs::remove_file(&file).unwrap();
    }

    #[crate::test]
    fn the_attribute_runs_a_test_that_returns_nothing_inside_the_harness() {
        assert_eq!(held_count(), Some(0));
    }

    #[crate::test]
    fn the_attribute_runs_a_test_that_returns_a_result_inside_the_harness() -> Result<(), String> {
        if held_count() != Some(0) {
            return Err(format!("held: {:?}", held_count()));
        }
        Ok(())
    }

    #[test]
    fn outcomes() {
        assert!(().passed());
        assert!(Ok::<(), ()>(()).passed());
        assert!(!Err::<(), ()>(()).passed());
    }
}
