//! BFD wire formats, in the style of smoltcp's `wire` modules: for each
//! format a typed view over a byte buffer (`Packet<T: AsRef<[u8]>>`, field
//! accessors, no copying) and a high-level `Repr` with `parse` and `emit`.
//!
//! - [`control`]: the mandatory section of a control packet (RFC 5880 §4.1)
//!   and its validation (RFC 5880 §6.8.6).
//! - [`auth`]: the optional authentication sections (RFC 5880 §4.2–§4.4);
//!   layout only, verifying digests is the session's job.
//! - [`echo`]: the payload of the echo packets we originate (RFC 5880 §6.4
//!   leaves its format to the sender).
//! - [`ip`]: the IPv4, IPv6 and UDP headers that carry them.
//! - [`ethernet`]: the Ethernet II header in front of them, for frames the
//!   agent sends through a packet socket.
//!
//! Everything here is `no_std`, allocation-free and panic-free on any input,
//! so the XDP program runs the same checks as the agent.

pub mod auth;
pub mod control;
pub mod echo;
pub mod ethernet;
pub mod ip;

pub use auth::{AuthRepr, AuthSection, AuthType, Password};
pub use control::{ControlPacket, ControlRepr, Diagnostic, State};
pub use echo::{EchoPacket, EchoRepr};
pub use ethernet::{EthernetFrame, EthernetRepr};
pub use ip::UdpIpRepr;

/// Why a buffer is not a valid BFD packet.
///
/// Each check of RFC 5880 §6.8.6 (and of the authentication and echo
/// layouts) fails with its own value, so that drops can be counted by
/// reason: the kernel program keeps one counter per variant, indexed by
/// the discriminant, in [`crate::maps::WireErrorCounters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Error {
    /// The buffer is shorter than the fixed part of the format (24 bytes
    /// for a control packet, 2 for an authentication section header, the
    /// echo payload's length for an echo packet).
    Truncated = 0,
    /// §6.8.6: "If the version number is not correct (1), the packet MUST
    /// be discarded."
    BadVersion = 1,
    /// §6.8.6: "If the Length field is less than the minimum correct value
    /// (24 if the A bit is clear, or 26 if the A bit is set), the packet
    /// MUST be discarded."
    LengthTooShort = 2,
    /// §6.8.6: "If the Length field is greater than the payload of the
    /// encapsulating protocol, the packet MUST be discarded."
    LengthExceedsPayload = 3,
    /// §6.8.6: "If the Detect Mult field is zero, the packet MUST be
    /// discarded."
    ZeroDetectMult = 4,
    /// §6.8.6: "If the Multipoint (M) bit is nonzero, the packet MUST be
    /// discarded."
    MultipointSet = 5,
    /// §6.8.6: "If the My Discriminator field is zero, the packet MUST be
    /// discarded."
    ZeroMyDiscriminator = 6,
    /// §6.8.6: "If the Your Discriminator field is zero and the State field
    /// is not Down or AdminDown, the packet MUST be discarded."
    ZeroYourDiscriminator = 7,
    /// The A bit is set but the authentication section does not fill the
    /// packet exactly: Auth Len must equal Length - 24 (§4.1, §4.2).
    AuthLengthMismatch = 8,
    /// The Auth Type is reserved (0, or 6–255; §4.1).
    AuthTypeUnknown = 9,
    /// The Auth Len does not fit the Auth Type: 4–19 for simple password
    /// (§4.2), 24 for keyed MD5 (§4.3), 28 for keyed SHA1 (§4.4).
    AuthLengthInvalid = 10,
    /// An echo payload whose magic value is not [`echo::MAGIC`]: not one of
    /// ours (a peer's echo, or garbage).
    EchoBadMagic = 11,
    /// An echo payload with our magic but a layout version we do not know.
    EchoBadVersion = 12,
}

impl Error {
    /// Number of variants; the size of per-reason counter tables.
    pub const COUNT: usize = 13;

    /// Every variant, in discriminant order.
    pub const ALL: [Error; Self::COUNT] = [
        Error::Truncated,
        Error::BadVersion,
        Error::LengthTooShort,
        Error::LengthExceedsPayload,
        Error::ZeroDetectMult,
        Error::MultipointSet,
        Error::ZeroMyDiscriminator,
        Error::ZeroYourDiscriminator,
        Error::AuthLengthMismatch,
        Error::AuthTypeUnknown,
        Error::AuthLengthInvalid,
        Error::EchoBadMagic,
        Error::EchoBadVersion,
    ];

    /// A short snake_case name, stable: used as a metric label and matching
    /// the field names of [`crate::maps::WireErrorCounters`].
    pub const fn as_str(self) -> &'static str {
        match self {
            Error::Truncated => "truncated",
            Error::BadVersion => "bad_version",
            Error::LengthTooShort => "length_too_short",
            Error::LengthExceedsPayload => "length_exceeds_payload",
            Error::ZeroDetectMult => "zero_detect_mult",
            Error::MultipointSet => "multipoint_set",
            Error::ZeroMyDiscriminator => "zero_my_discr",
            Error::ZeroYourDiscriminator => "zero_your_discr",
            Error::AuthLengthMismatch => "auth_len_mismatch",
            Error::AuthTypeUnknown => "auth_type_unknown",
            Error::AuthLengthInvalid => "auth_len_invalid",
            Error::EchoBadMagic => "echo_bad_magic",
            Error::EchoBadVersion => "echo_bad_version",
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let text = match self {
            Error::Truncated => "buffer too short for the packet's fixed fields",
            Error::BadVersion => "BFD version is not 1",
            Error::LengthTooShort => "Length field below the minimum (24, or 26 with the A bit)",
            Error::LengthExceedsPayload => "Length field exceeds the UDP payload",
            Error::ZeroDetectMult => "Detect Mult is zero",
            Error::MultipointSet => "Multipoint (M) bit is set",
            Error::ZeroMyDiscriminator => "My Discriminator is zero",
            Error::ZeroYourDiscriminator => {
                "Your Discriminator is zero while State is neither Down nor AdminDown"
            }
            Error::AuthLengthMismatch => "authentication section does not match the Length field",
            Error::AuthTypeUnknown => "reserved Auth Type",
            Error::AuthLengthInvalid => "Auth Len invalid for its Auth Type",
            Error::EchoBadMagic => "echo payload magic is not ours",
            Error::EchoBadVersion => "echo payload version unknown",
        };
        f.write_str(text)
    }
}

impl core::error::Error for Error {}

/// Result type of the wire module.
pub type Result<T> = core::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_discriminant_order() {
        for (index, error) in Error::ALL.iter().enumerate() {
            assert_eq!(*error as usize, index, "{error:?}");
        }
    }
}
