//! Incremental update of an Internet checksum (RFC 1071) after one 16-bit
//! word of the data it covers changed, as RFC 1624 §3 gives it:
//!
//! ```text
//! HC' = ~(~HC + ~m + m')        (eqn. 3, one's complement arithmetic)
//! ```
//!
//! The XDP program uses it to fix the IPv4 header checksum when it
//! decrements the TTL of an echo it reflects (RFC 791: the TTL is the high
//! byte of the header's fifth word). Equation 3 rather than eqn. 2, which
//! RFC 1624 §4 shows giving 0xFFFF where a recomputation gives 0x0000.

/// The Internet checksum (RFC 1071) of the concatenation of `parts`, as
/// written into a header: the one's complement of the one's complement sum
/// of the big-endian 16-bit words, an odd last byte padded with zero. The
/// agent builds its raw echo and batched control packets with it.
pub fn compute(parts: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    let mut pending: Option<u8> = None;
    for part in parts {
        for &byte in *part {
            match pending.take() {
                Some(high) => sum += u64::from(u16::from_be_bytes([high, byte])),
                None => pending = Some(byte),
            }
        }
    }
    if let Some(high) = pending {
        sum += u64::from(high) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The checksum `checksum` updated for a covered word changing from `old`
/// to `new` (all three as the big-endian values on the wire).
#[inline(always)]
pub const fn update(checksum: u16, old: u16, new: u16) -> u16 {
    let sum = (!checksum) as u32 + (!old) as u32 + new as u32;
    // Fold the carries back in (at most two rounds for three addends).
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compute_handles_parts_with_odd_lengths() {
        // RFC 1071 §3's example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(compute(&[&bytes]), !0xddf2);
        assert_eq!(compute(&[&bytes[..3], &bytes[3..]]), !0xddf2, "a part boundary inside a word");
        assert_eq!(compute(&[&[0xab]]), !0xab00, "an odd last byte is padded");
    }

    /// RFC 1071 over big-endian words.
    fn full(words: &[u16]) -> u16 {
        let mut sum: u32 = words.iter().map(|word| u32::from(*word)).sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    #[test]
    fn matches_a_full_recomputation_for_a_ttl_decrement() {
        // An IPv4 header (checksum word zeroed) for every TTL: the update
        // must agree with computing the checksum from scratch.
        let mut header: [u16; 10] =
            [0x45c0, 0x0034, 0x0000, 0x4000, 0xff11, 0x0000, 0xc000, 0x0201, 0xc000, 0x0201];
        for ttl in 1..=255u16 {
            header[4] = (ttl << 8) | 0x11;
            let before = full(&header);
            let mut after_header = header;
            after_header[4] = ((ttl - 1) << 8) | 0x11;
            assert_eq!(update(before, header[4], after_header[4]), full(&after_header), "TTL {ttl}");
        }
    }

    #[test]
    fn agrees_with_a_full_recomputation() {
        // RFC 1624 §4's example: the recomputed checksum is 0x0000 (eqn. 2
        // would give 0xFFFF).
        assert_eq!(update(0xdd2f, 0x5555, 0x3285), 0x0000);
        // And random words against a full recomputation.
        let mut state = 0x1234_5678u32;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u16
        };
        for _ in 0..10_000 {
            let mut words = [next(), next(), next(), next()];
            let before = full(&words);
            let old = words[2];
            words[2] = next();
            let expected = full(&words);
            let updated = update(before, old, words[2]);
            assert_eq!(updated, expected, "{words:04x?}");
        }
    }
}
