//! The session core's source of randomness: discriminators (RFC 5880 §6.3)
//! and transmit jitter (§6.8.7).
//!
//! The core reads no entropy itself, so that a simulated run is the same
//! every time: the agent seeds it from the operating system, tests from a
//! constant. SplitMix64 is plenty: the RFC asks for values a peer cannot
//! guess in advance and intervals that do not synchronise, not for
//! cryptographic strength.

/// A seeded pseudo-random generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose whole output is fixed by `seed`.
    pub const fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A value uniformly drawn from `low..=high` (Lemire's multiply-shift;
    /// its bias is below 2^-32 for the ranges used here).
    pub fn in_range(&mut self, low: u64, high: u64) -> u64 {
        debug_assert!(low <= high);
        let span = high - low;
        if span == u64::MAX {
            return self.next_u64();
        }
        let scaled = (u128::from(self.next_u64()) * u128::from(span + 1)) >> 64;
        low + scaled as u64
    }

    /// `true` with probability `parts_per_million` / 1,000,000.
    pub fn chance_ppm(&mut self, parts_per_million: u32) -> bool {
        self.in_range(0, 999_999) < u64::from(parts_per_million)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_ranges_hold() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
            let v = a.in_range(750_000, 1_000_000);
            assert!((750_000..=1_000_000).contains(&v));
            b.in_range(0, 1);
        }
        let mut c = Rng::new(1);
        let hits = (0..100_000).filter(|_| c.chance_ppm(10_000)).count();
        assert!((800..1200).contains(&hits), "1% of 100,000 draws was {hits}");
    }
}
