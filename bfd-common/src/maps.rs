//! Key and value types of the BPF maps shared by the XDP program and the
//! agent.
//!
//! Rules for every type here, because the kernel and the agent must agree on
//! the bytes: `#[repr(C)]`, fields ordered so that there is no implicit
//! padding (bytemuck's `Pod` derive fails to compile otherwise), no `bool`
//! (any byte other than 0 or 1 would be undefined behaviour in the agent),
//! and only fixed-width integers. With the `user` feature the types also
//! implement `aya::Pod` so the agent can read them from maps.
//!
//! The maps carry BTF, so `bpftool map dump pinned <dir>/<map>` prints these
//! field names.

use bytemuck::{Pod, Zeroable};

use crate::wire::Error;

/// Default bpffs directory under which an agent pins its maps and links.
/// Each agent instance needs its own (tests run several on one machine).
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/bfd";

/// Name of the XDP program in the object file.
pub const XDP_PROGRAM: &str = "bfd_xdp";

/// Name of the map holding [`GlobalStats`] (a per-CPU array of one entry).
/// Map names are at most 15 bytes (`BPF_OBJ_NAME_LEN` - 1).
pub const STATS_MAP: &str = "bfd_stats";

/// Counters of BFD packets that failed validation, one per
/// [`wire::Error`](Error) variant, named after [`Error::as_str`].
///
/// Named fields rather than an array so that a `bpftool` dump says which
/// check failed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[allow(missing_docs)] // each field is the count of the `Error` variant of the same name
pub struct WireErrorCounters {
    pub truncated: u64,
    pub bad_version: u64,
    pub length_too_short: u64,
    pub length_exceeds_payload: u64,
    pub zero_detect_mult: u64,
    pub multipoint_set: u64,
    pub zero_my_discr: u64,
    pub zero_your_discr: u64,
    pub auth_len_mismatch: u64,
    pub auth_type_unknown: u64,
    pub auth_len_invalid: u64,
    pub echo_bad_magic: u64,
    pub echo_bad_version: u64,
}

impl WireErrorCounters {
    /// The counter of `error`.
    #[inline(always)]
    pub fn counter_mut(&mut self, error: Error) -> &mut u64 {
        match error {
            Error::Truncated => &mut self.truncated,
            Error::BadVersion => &mut self.bad_version,
            Error::LengthTooShort => &mut self.length_too_short,
            Error::LengthExceedsPayload => &mut self.length_exceeds_payload,
            Error::ZeroDetectMult => &mut self.zero_detect_mult,
            Error::MultipointSet => &mut self.multipoint_set,
            Error::ZeroMyDiscriminator => &mut self.zero_my_discr,
            Error::ZeroYourDiscriminator => &mut self.zero_your_discr,
            Error::AuthLengthMismatch => &mut self.auth_len_mismatch,
            Error::AuthTypeUnknown => &mut self.auth_type_unknown,
            Error::AuthLengthInvalid => &mut self.auth_len_invalid,
            Error::EchoBadMagic => &mut self.echo_bad_magic,
            Error::EchoBadVersion => &mut self.echo_bad_version,
        }
    }

    /// The count for `error`.
    pub fn get(&self, error: Error) -> u64 {
        let mut copy = *self;
        *copy.counter_mut(error)
    }

    /// Total of all counters.
    pub fn total(&self) -> u64 {
        Error::ALL.iter().map(|error| self.get(*error)).sum()
    }

    /// Adds `other` field by field (to sum per-CPU values).
    pub fn add(&mut self, other: &WireErrorCounters) {
        for error in Error::ALL {
            *self.counter_mut(error) += other.get(error);
        }
    }
}

/// Global counters of the XDP program, one copy per CPU (the agent sums
/// them). Every frame the program sees is counted in exactly one of
/// `not_bfd`, `control_valid`, `control_invalid`, `control_oversize`,
/// `echo_own`, `echo_foreign`, `echo_invalid`, so their sum is `frames`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct GlobalStats {
    /// Every frame the program ran on.
    pub frames: u64,
    /// Frames that are not BFD (other protocols, other ports, IP
    /// fragments, headers cut short): passed untouched.
    pub not_bfd: u64,
    /// Control packets (UDP 3784 or 4784) that passed every packet-level
    /// check of RFC 5880 §6.8.6.
    pub control_valid: u64,
    /// Control packets whose Length is beyond what the kernel program
    /// inspects (more than a header and the largest authentication
    /// section); left to the agent.
    pub control_oversize: u64,
    /// Echo packets (UDP 3785) carrying our payload: our own echo returning.
    pub echo_own: u64,
    /// Echo packets (UDP 3785) without our magic: a peer's echo to reflect.
    pub echo_foreign: u64,
    /// Control packets that failed a check, by reason.
    pub control_invalid: WireErrorCounters,
    /// Echo packets with our magic that failed a check, by reason.
    pub echo_invalid: WireErrorCounters,
}

impl GlobalStats {
    /// Adds `other` field by field (to sum per-CPU values).
    pub fn add(&mut self, other: &GlobalStats) {
        self.frames += other.frames;
        self.not_bfd += other.not_bfd;
        self.control_valid += other.control_valid;
        self.control_oversize += other.control_oversize;
        self.echo_own += other.echo_own;
        self.echo_foreign += other.echo_foreign;
        self.control_invalid.add(&other.control_invalid);
        self.echo_invalid.add(&other.echo_invalid);
    }
}

// SAFETY: `aya::Pod` requires a plain-old-data type that is valid for any
// bit pattern; bytemuck's `Pod` derive above proves exactly that at compile
// time (repr(C), no padding, all fields Pod).
#[cfg(feature = "user")]
unsafe impl aya::Pod for GlobalStats {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_counter_names_match_error_names() {
        // The field a wire error is counted in is the one named after it, so
        // that bpftool dumps and metric labels agree. Each error must hit a
        // distinct counter.
        for (index, error) in Error::ALL.into_iter().enumerate() {
            let mut counters = WireErrorCounters::default();
            *counters.counter_mut(error) += 1;
            let words: &[u64] = bytemuck::cast_slice(core::slice::from_ref(&counters));
            assert_eq!(words.len(), Error::COUNT);
            assert_eq!(words[index], 1, "{error:?} must be counted at field {index}");
            assert_eq!(counters.total(), 1);
        }
    }

    #[test]
    fn global_stats_add_sums_every_field() {
        let mut one = GlobalStats::zeroed();
        let words: &mut [u64] = bytemuck::cast_slice_mut(core::slice::from_mut(&mut one));
        for (index, word) in words.iter_mut().enumerate() {
            *word = index as u64 + 1;
        }
        let mut sum = one;
        sum.add(&one);
        let summed: &[u64] = bytemuck::cast_slice(core::slice::from_ref(&sum));
        for (index, word) in summed.iter().enumerate() {
            assert_eq!(*word, 2 * (index as u64 + 1), "field {index}");
        }
    }
}
