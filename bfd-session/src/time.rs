//! Points in time, as the inputs of a [`Session`](crate::Session) carry
//! them.
//!
//! The session core never reads a clock: every input says when it happened.
//! The agent feeds it `CLOCK_MONOTONIC` nanoseconds, the clock the XDP
//! program stamps packets with (`bpf_ktime_get_ns`), so that kernel and
//! agent times compare directly; tests feed it a simulated clock.

use core::fmt;
use core::ops::{Add, Sub};
use core::time::Duration;

/// A point on a monotonic clock, in nanoseconds since an arbitrary origin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(u64);

impl Time {
    /// The clock's origin.
    pub const ZERO: Time = Time(0);

    /// The point `nanos` nanoseconds after the origin.
    pub const fn from_nanos(nanos: u64) -> Time {
        Time(nanos)
    }

    /// Nanoseconds since the origin.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// The time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub const fn saturating_since(self, earlier: Time) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Time {
    type Output = Time;

    /// Saturates at the end of the clock (584 years) rather than wrapping.
    fn add(self, duration: Duration) -> Time {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        Time(self.0.saturating_add(nanos))
    }
}

impl Sub<Time> for Time {
    type Output = Duration;

    /// Saturating: a later `rhs` gives zero.
    fn sub(self, rhs: Time) -> Duration {
        self.saturating_since(rhs)
    }
}

impl fmt::Display for Time {
    /// Seconds with microsecond precision, e.g. `12.000150s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000_000, (self.0 % 1_000_000_000) / 1_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Time::from_nanos(1_500);
        assert_eq!(t + Duration::from_nanos(500), Time::from_nanos(2_000));
        assert_eq!(t - Time::from_nanos(500), Duration::from_nanos(1_000));
        assert_eq!(Time::from_nanos(500) - t, Duration::ZERO);
        assert_eq!(Time::from_nanos(u64::MAX - 1) + Duration::from_secs(1), Time::from_nanos(u64::MAX));
        assert_eq!(Time::from_nanos(12_000_150_000).to_string(), "12.000150s");
    }
}
