//! BFD control packets (RFC 5880 §4.1) and their validation (§6.8.6).
//!
//! The mandatory section is 24 bytes, all multi-byte fields big-endian,
//! followed by an authentication section when the A bit is set (see
//! [`super::auth`]):
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       My Discriminator                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Your Discriminator                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Desired Min TX Interval                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                   Required Min RX Interval                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Required Min Echo RX Interval                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! [`ControlPacket`] is a view over the bytes; [`ControlPacket::check`] runs
//! the packet-level checks of §6.8.6 in the RFC's order, so each drop has
//! one reason ([`Error`]). [`ControlRepr`] is the parsed form.
//!
//! All intervals are in microseconds, as on the wire.

use core::fmt;

use super::auth::{AuthRepr, AuthSection};
use super::{Error, Result};
use crate::VERSION;

/// Byte ranges and bit masks of the mandatory section's fields (§4.1).
mod field {
    /// A range of bytes holding one field.
    pub type Field = core::ops::Range<usize>;

    /// Version (3 high bits) and Diagnostic (5 low bits).
    pub const VERSION_DIAG: usize = 0;
    /// State (2 high bits) and the P, F, C, A, D, M flags.
    pub const STATE_FLAGS: usize = 1;
    /// Detect Mult.
    pub const DETECT_MULT: usize = 2;
    /// Length of the whole control packet, in bytes.
    pub const LENGTH: usize = 3;
    /// My Discriminator.
    pub const MY_DISCRIMINATOR: Field = 4..8;
    /// Your Discriminator.
    pub const YOUR_DISCRIMINATOR: Field = 8..12;
    /// Desired Min TX Interval, microseconds.
    pub const DESIRED_MIN_TX: Field = 12..16;
    /// Required Min RX Interval, microseconds.
    pub const REQUIRED_MIN_RX: Field = 16..20;
    /// Required Min Echo RX Interval, microseconds.
    pub const REQUIRED_MIN_ECHO_RX: Field = 20..24;
    /// Where the authentication section starts when the A bit is set.
    pub const AUTH_START: usize = 24;

    /// Shift of the Version within byte 0.
    pub const VERSION_SHIFT: u8 = 5;
    /// Mask of the Diagnostic within byte 0.
    pub const DIAG_MASK: u8 = 0x1f;
    /// Shift of the State within byte 1.
    pub const STATE_SHIFT: u8 = 6;
    /// Poll (P) bit of byte 1.
    pub const POLL: u8 = 0x20;
    /// Final (F) bit of byte 1.
    pub const FINAL: u8 = 0x10;
    /// Control Plane Independent (C) bit of byte 1.
    pub const CONTROL_PLANE_INDEPENDENT: u8 = 0x08;
    /// Authentication Present (A) bit of byte 1.
    pub const AUTH_PRESENT: u8 = 0x04;
    /// Demand (D) bit of byte 1.
    pub const DEMAND: u8 = 0x02;
    /// Multipoint (M) bit of byte 1.
    pub const MULTIPOINT: u8 = 0x01;
}

/// Length of the mandatory section of a control packet (§4.1), and the
/// minimum Length "if the A bit is clear" (§6.8.6).
pub const HEADER_LEN: usize = 24;

/// Minimum Length when the A bit is set (§6.8.6: "26 if the A bit is
/// set"): the mandatory section plus Auth Type and Auth Len.
pub const MIN_LEN_WITH_AUTH: usize = 26;

/// The State field (§4.1): "The current BFD session state as seen by the
/// transmitting system."
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum State {
    /// "0 -- AdminDown"
    AdminDown = 0,
    /// "1 -- Down"
    Down = 1,
    /// "2 -- Init"
    Init = 2,
    /// "3 -- Up"
    Up = 3,
}

impl State {
    /// The state coded by the low 2 bits of `bits`; the other bits are
    /// ignored, so every value maps to a state.
    pub const fn from_bits(bits: u8) -> State {
        match bits & 0b11 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    /// The RFC's name for the state: "AdminDown", "Down", "Init" or "Up".
    pub const fn as_str(self) -> &'static str {
        match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        }
    }
}

impl From<State> for u8 {
    fn from(state: State) -> u8 {
        state as u8
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Diagnostic field (§4.1): "A diagnostic code specifying the local
/// system's reason for the last change in session state."
///
/// "9-31 -- Reserved for future use" are kept as [`Diagnostic::Reserved`]
/// rather than rejected: the field is informational and §6.8.6 does not
/// discard packets for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Diagnostic {
    /// "0 -- No Diagnostic"
    NoDiagnostic,
    /// "1 -- Control Detection Time Expired"
    ControlDetectionTimeExpired,
    /// "2 -- Echo Function Failed"
    EchoFunctionFailed,
    /// "3 -- Neighbor Signaled Session Down"
    NeighborSignaledSessionDown,
    /// "4 -- Forwarding Plane Reset"
    ForwardingPlaneReset,
    /// "5 -- Path Down"
    PathDown,
    /// "6 -- Concatenated Path Down"
    ConcatenatedPathDown,
    /// "7 -- Administratively Down"
    AdministrativelyDown,
    /// "8 -- Reverse Concatenated Path Down"
    ReverseConcatenatedPathDown,
    /// "9-31 -- Reserved for future use", holding the code. Only 9–31 come
    /// out of [`Diagnostic::from`]; a code outside that range built by hand
    /// is emitted masked to 5 bits and may parse back as another variant.
    Reserved(u8),
}

impl Diagnostic {
    /// FRR's text for the diagnostic (as `show bfd peers` prints it), e.g.
    /// "ok", "control detection time expired", "reserved".
    pub const fn as_str(self) -> &'static str {
        match self {
            Diagnostic::NoDiagnostic => "ok",
            Diagnostic::ControlDetectionTimeExpired => "control detection time expired",
            Diagnostic::EchoFunctionFailed => "echo function failed",
            Diagnostic::NeighborSignaledSessionDown => "neighbor signaled session down",
            Diagnostic::ForwardingPlaneReset => "forwarding plane reset",
            Diagnostic::PathDown => "path down",
            Diagnostic::ConcatenatedPathDown => "concatenated path down",
            Diagnostic::AdministrativelyDown => "administratively down",
            Diagnostic::ReverseConcatenatedPathDown => "reverse concatenated path down",
            Diagnostic::Reserved(_) => "reserved",
        }
    }
}

impl From<u8> for Diagnostic {
    /// Decodes the low 5 bits of `code` (the field's width); the high bits
    /// are ignored.
    fn from(code: u8) -> Diagnostic {
        match code & field::DIAG_MASK {
            0 => Diagnostic::NoDiagnostic,
            1 => Diagnostic::ControlDetectionTimeExpired,
            2 => Diagnostic::EchoFunctionFailed,
            3 => Diagnostic::NeighborSignaledSessionDown,
            4 => Diagnostic::ForwardingPlaneReset,
            5 => Diagnostic::PathDown,
            6 => Diagnostic::ConcatenatedPathDown,
            7 => Diagnostic::AdministrativelyDown,
            8 => Diagnostic::ReverseConcatenatedPathDown,
            reserved => Diagnostic::Reserved(reserved),
        }
    }
}

impl From<Diagnostic> for u8 {
    fn from(diagnostic: Diagnostic) -> u8 {
        match diagnostic {
            Diagnostic::NoDiagnostic => 0,
            Diagnostic::ControlDetectionTimeExpired => 1,
            Diagnostic::EchoFunctionFailed => 2,
            Diagnostic::NeighborSignaledSessionDown => 3,
            Diagnostic::ForwardingPlaneReset => 4,
            Diagnostic::PathDown => 5,
            Diagnostic::ConcatenatedPathDown => 6,
            Diagnostic::AdministrativelyDown => 7,
            Diagnostic::ReverseConcatenatedPathDown => 8,
            Diagnostic::Reserved(code) => code,
        }
    }
}

impl fmt::Display for Diagnostic {
    /// The [`as_str`](Diagnostic::as_str) text, with the code for reserved
    /// values: "reserved(12)".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diagnostic::Reserved(code) => write!(f, "reserved({code})"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// A read/write view of a BFD control packet (RFC 5880 §4.1).
///
/// The buffer is the UDP payload; it may be longer than the Length field
/// (trailing padding is ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPacket<T: AsRef<[u8]>> {
    buffer: T,
}

/// Reads the big-endian `u32` at `field` (4 bytes).
///
/// Panics if `data` is shorter than `field.end`; callers guarantee it, or
/// document the panic.
#[inline]
fn read_u32(data: &[u8], field: field::Field) -> u32 {
    let bytes = &data[field];
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// Writes `value` big-endian into `field` (4 bytes).
///
/// Panics if `data` is shorter than `field.end`.
#[inline]
fn write_u32(data: &mut [u8], field: field::Field, value: u32) {
    data[field].copy_from_slice(&value.to_be_bytes());
}

impl<T: AsRef<[u8]>> ControlPacket<T> {
    /// Imposes the control packet layout on `buffer`, unchecked.
    ///
    /// The getters panic if the buffer is shorter than the field they read
    /// (24 bytes cover them all); use [`new_checked`](Self::new_checked) or
    /// [`check`](Self::check) on untrusted input.
    pub const fn new_unchecked(buffer: T) -> ControlPacket<T> {
        ControlPacket { buffer }
    }

    /// [`new_unchecked`](Self::new_unchecked) followed by
    /// [`check_len`](Self::check_len): afterwards no getter panics.
    pub fn new_checked(buffer: T) -> Result<ControlPacket<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// The minimum Length for this packet's A bit (§6.8.6: "24 if the A
    /// bit is clear, or 26 if the A bit is set").
    fn min_length(&self) -> usize {
        if self.auth_present() { MIN_LEN_WITH_AUTH } else { HEADER_LEN }
    }

    /// Checks the lengths only: the buffer holds the mandatory section and
    /// the Length field is consistent with the A bit and the buffer.
    ///
    /// # Errors
    /// In this order:
    /// - [`Error::Truncated`] if the buffer is shorter than 24 bytes;
    /// - [`Error::LengthTooShort`] if Length is below 24, or below 26 with
    ///   the A bit set;
    /// - [`Error::LengthExceedsPayload`] if Length is greater than the
    ///   buffer.
    ///
    /// The version is not looked at, so a packet that is both of a wrong
    /// version and of a wrong Length fails here with the length error while
    /// [`check`](Self::check) reports [`Error::BadVersion`], the RFC's
    /// first rule: to count drops by their §6.8.6 reason, call `check` (or
    /// [`ControlRepr::parse`], which does).
    pub fn check_len(&self) -> Result<()> {
        let buffer_len = self.buffer.as_ref().len();
        if buffer_len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let length = usize::from(self.length());
        if length < self.min_length() {
            return Err(Error::LengthTooShort);
        }
        if length > buffer_len {
            return Err(Error::LengthExceedsPayload);
        }
        Ok(())
    }

    /// All the packet-level checks of RFC 5880 §6.8.6, "in the order
    /// specified": the first failing rule is the error. Safe on any buffer,
    /// including one from [`new_unchecked`](Self::new_unchecked).
    ///
    /// 1. [`Error::Truncated`]: the buffer is shorter than 24 bytes (not an
    ///    RFC rule: nothing can be read).
    /// 2. [`Error::BadVersion`]: "If the version number is not correct (1),
    ///    the packet MUST be discarded."
    /// 3. [`Error::LengthTooShort`]: "If the Length field is less than the
    ///    minimum correct value (24 if the A bit is clear, or 26 if the A bit
    ///    is set), the packet MUST be discarded."
    /// 4. [`Error::LengthExceedsPayload`]: "If the Length field is greater
    ///    than the payload of the encapsulating protocol, the packet MUST be
    ///    discarded."
    /// 5. [`Error::ZeroDetectMult`]: "If the Detect Mult field is zero, the
    ///    packet MUST be discarded."
    /// 6. [`Error::MultipointSet`]: "If the Multipoint (M) bit is nonzero,
    ///    the packet MUST be discarded."
    /// 7. [`Error::ZeroMyDiscriminator`]: "If the My Discriminator field is
    ///    zero, the packet MUST be discarded."
    /// 8. [`Error::ZeroYourDiscriminator`]: "If the Your Discriminator field
    ///    is zero and the State field is not Down or AdminDown, the packet
    ///    MUST be discarded."
    /// 9. If the A bit is set, the layout of the authentication section
    ///    ([`AuthSection::check`]): [`Error::AuthLengthMismatch`] if Auth
    ///    Len is not Length - 24 (or the section has fewer than 2 bytes,
    ///    which rule 3 already excludes), [`Error::AuthTypeUnknown`],
    ///    [`Error::AuthLengthInvalid`].
    ///
    /// The session-level rules that follow in §6.8.6 (selecting the session
    /// by Your Discriminator, the A bit against the session's
    /// authentication, verifying the digest) need session state and are not
    /// done here.
    ///
    /// A packet with the A bit clear and a Length above 24 passes: the bytes
    /// between 24 and Length are ignored. §6.8.6 only sets a minimum
    /// Length, so such a packet is not to be discarded.
    pub fn check(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != VERSION {
            return Err(Error::BadVersion);
        }
        let length = usize::from(self.length());
        if length < self.min_length() {
            return Err(Error::LengthTooShort);
        }
        if length > data.len() {
            return Err(Error::LengthExceedsPayload);
        }
        if self.detect_mult() == 0 {
            return Err(Error::ZeroDetectMult);
        }
        if self.multipoint() {
            return Err(Error::MultipointSet);
        }
        if self.my_discriminator() == 0 {
            return Err(Error::ZeroMyDiscriminator);
        }
        if self.your_discriminator() == 0 && !matches!(self.state(), State::Down | State::AdminDown) {
            return Err(Error::ZeroYourDiscriminator);
        }
        if self.auth_present() {
            let section = data.get(field::AUTH_START..length).ok_or(Error::AuthLengthMismatch)?;
            match AuthSection::new_unchecked(section).check() {
                Ok(()) => {}
                // Fewer than the 2 header bytes: the section cannot hold
                // its own Auth Len, so it does not match Length.
                Err(Error::Truncated) => return Err(Error::AuthLengthMismatch),
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Consumes the view, returning the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The Version field (§4.1): "The version number of the protocol. This
    /// document defines protocol version 1."
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION_DIAG] >> field::VERSION_SHIFT
    }

    /// The Diagnostic field (§4.1).
    pub fn diagnostic(&self) -> Diagnostic {
        Diagnostic::from(self.buffer.as_ref()[field::VERSION_DIAG])
    }

    /// The State field (§4.1).
    pub fn state(&self) -> State {
        State::from_bits(self.buffer.as_ref()[field::STATE_FLAGS] >> field::STATE_SHIFT)
    }

    fn flag(&self, mask: u8) -> bool {
        self.buffer.as_ref()[field::STATE_FLAGS] & mask != 0
    }

    /// The Poll (P) bit (§4.1): "If set, the transmitting system is
    /// requesting verification of connectivity, or of a parameter change,
    /// and is expecting a packet with the Final (F) bit in reply."
    pub fn poll(&self) -> bool {
        self.flag(field::POLL)
    }

    /// The Final (F) bit (§4.1): "If set, the transmitting system is
    /// responding to a received BFD Control packet that had the Poll (P)
    /// bit set." (`final` is a Rust keyword, hence the underscore.)
    pub fn final_(&self) -> bool {
        self.flag(field::FINAL)
    }

    /// The Control Plane Independent (C) bit (§4.1): "If set, the
    /// transmitting system's BFD implementation does not share fate with its
    /// control plane."
    pub fn control_plane_independent(&self) -> bool {
        self.flag(field::CONTROL_PLANE_INDEPENDENT)
    }

    /// The Authentication Present (A) bit (§4.1): "If set, the
    /// Authentication Section is present and the session is to be
    /// authenticated."
    pub fn auth_present(&self) -> bool {
        self.flag(field::AUTH_PRESENT)
    }

    /// The Demand (D) bit (§4.1): "If set, Demand mode is active in the
    /// transmitting system."
    pub fn demand(&self) -> bool {
        self.flag(field::DEMAND)
    }

    /// The Multipoint (M) bit (§4.1): "This bit is reserved for future
    /// point-to-multipoint extensions to BFD. It MUST be zero on both
    /// transmit and receipt."
    pub fn multipoint(&self) -> bool {
        self.flag(field::MULTIPOINT)
    }

    /// The Detect Mult field (§4.1): "Detection time multiplier. The
    /// negotiated transmit interval, multiplied by this value, provides the
    /// Detection Time for the receiving system in Asynchronous mode."
    pub fn detect_mult(&self) -> u8 {
        self.buffer.as_ref()[field::DETECT_MULT]
    }

    /// The Length field (§4.1): "Length of the BFD Control packet, in
    /// bytes."
    pub fn length(&self) -> u8 {
        self.buffer.as_ref()[field::LENGTH]
    }

    /// The My Discriminator field (§4.1): "A unique, nonzero discriminator
    /// value generated by the transmitting system".
    ///
    /// # Panics
    /// On a buffer shorter than 8 bytes (impossible after `new_checked`).
    pub fn my_discriminator(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::MY_DISCRIMINATOR)
    }

    /// The Your Discriminator field (§4.1): "This field reflects back the
    /// received value of My Discriminator, or is zero if that value is
    /// unknown."
    ///
    /// # Panics
    /// On a buffer shorter than 12 bytes (impossible after `new_checked`).
    pub fn your_discriminator(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::YOUR_DISCRIMINATOR)
    }

    /// The Desired Min TX Interval in microseconds (§4.1): "the minimum
    /// interval, in microseconds, that the local system would like to use
    /// when transmitting BFD Control packets, less any jitter applied".
    ///
    /// # Panics
    /// On a buffer shorter than 16 bytes (impossible after `new_checked`).
    pub fn desired_min_tx(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::DESIRED_MIN_TX)
    }

    /// The Required Min RX Interval in microseconds (§4.1): "the minimum
    /// interval, in microseconds, between received BFD Control packets that
    /// this system is capable of supporting". Zero: "the transmitting
    /// system does not want the remote system to send any periodic BFD
    /// Control packets."
    ///
    /// # Panics
    /// On a buffer shorter than 20 bytes (impossible after `new_checked`).
    pub fn required_min_rx(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::REQUIRED_MIN_RX)
    }

    /// The Required Min Echo RX Interval in microseconds (§4.1): "the
    /// minimum interval, in microseconds, between received BFD Echo packets
    /// that this system is capable of supporting". Zero: "the transmitting
    /// system does not support the receipt of BFD Echo packets."
    ///
    /// # Panics
    /// On a buffer shorter than 24 bytes (impossible after `new_checked`).
    pub fn required_min_echo_rx(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::REQUIRED_MIN_ECHO_RX)
    }

    /// The range of the authentication section, 24 to Length, if the A bit
    /// is set; `None` otherwise (or if the buffer lacks bytes 1 and 3).
    /// Never panics.
    fn auth_section_range(&self) -> Option<field::Field> {
        let data = self.buffer.as_ref();
        let state_flags = *data.get(field::STATE_FLAGS)?;
        if state_flags & field::AUTH_PRESENT == 0 {
            return None;
        }
        let length = usize::from(*data.get(field::LENGTH)?);
        Some(field::AUTH_START..length)
    }

    /// The authentication section, bytes 24 to Length, if the A bit is set
    /// and those bytes are in the buffer; `None` otherwise. Never panics,
    /// even on an unchecked buffer.
    pub fn auth_section(&self) -> Option<&[u8]> {
        let range = self.auth_section_range()?;
        self.buffer.as_ref().get(range)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ControlPacket<T> {
    /// Sets the Version field (its low 3 bits).
    ///
    /// # Panics
    /// This and every setter panic if the buffer is shorter than the field
    /// they write (24 bytes cover them all).
    pub fn set_version(&mut self, version: u8) {
        let byte = &mut self.buffer.as_mut()[field::VERSION_DIAG];
        *byte = (*byte & field::DIAG_MASK) | (version << field::VERSION_SHIFT);
    }

    /// Sets the Diagnostic field (the low 5 bits of its code).
    pub fn set_diagnostic(&mut self, diagnostic: Diagnostic) {
        let byte = &mut self.buffer.as_mut()[field::VERSION_DIAG];
        *byte = (*byte & !field::DIAG_MASK) | (u8::from(diagnostic) & field::DIAG_MASK);
    }

    /// Sets the State field.
    pub fn set_state(&mut self, state: State) {
        let byte = &mut self.buffer.as_mut()[field::STATE_FLAGS];
        let flags_mask = (1 << field::STATE_SHIFT) - 1;
        *byte = (*byte & flags_mask) | ((state as u8) << field::STATE_SHIFT);
    }

    fn set_flag(&mut self, mask: u8, value: bool) {
        let byte = &mut self.buffer.as_mut()[field::STATE_FLAGS];
        if value {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }

    /// Sets the Poll (P) bit.
    pub fn set_poll(&mut self, poll: bool) {
        self.set_flag(field::POLL, poll);
    }

    /// Sets the Final (F) bit.
    pub fn set_final(&mut self, final_: bool) {
        self.set_flag(field::FINAL, final_);
    }

    /// Sets the Control Plane Independent (C) bit.
    pub fn set_control_plane_independent(&mut self, control_plane_independent: bool) {
        self.set_flag(field::CONTROL_PLANE_INDEPENDENT, control_plane_independent);
    }

    /// Sets the Authentication Present (A) bit.
    pub fn set_auth_present(&mut self, auth_present: bool) {
        self.set_flag(field::AUTH_PRESENT, auth_present);
    }

    /// Sets the Demand (D) bit.
    pub fn set_demand(&mut self, demand: bool) {
        self.set_flag(field::DEMAND, demand);
    }

    /// Sets the Multipoint (M) bit (§4.1: "It MUST be zero on both transmit
    /// and receipt"; settable for tests).
    pub fn set_multipoint(&mut self, multipoint: bool) {
        self.set_flag(field::MULTIPOINT, multipoint);
    }

    /// Sets the Detect Mult field.
    pub fn set_detect_mult(&mut self, detect_mult: u8) {
        self.buffer.as_mut()[field::DETECT_MULT] = detect_mult;
    }

    /// Sets the Length field.
    pub fn set_length(&mut self, length: u8) {
        self.buffer.as_mut()[field::LENGTH] = length;
    }

    /// Sets the My Discriminator field.
    pub fn set_my_discriminator(&mut self, discriminator: u32) {
        write_u32(self.buffer.as_mut(), field::MY_DISCRIMINATOR, discriminator);
    }

    /// Sets the Your Discriminator field.
    pub fn set_your_discriminator(&mut self, discriminator: u32) {
        write_u32(self.buffer.as_mut(), field::YOUR_DISCRIMINATOR, discriminator);
    }

    /// Sets the Desired Min TX Interval, in microseconds.
    pub fn set_desired_min_tx(&mut self, interval_us: u32) {
        write_u32(self.buffer.as_mut(), field::DESIRED_MIN_TX, interval_us);
    }

    /// Sets the Required Min RX Interval, in microseconds.
    pub fn set_required_min_rx(&mut self, interval_us: u32) {
        write_u32(self.buffer.as_mut(), field::REQUIRED_MIN_RX, interval_us);
    }

    /// Sets the Required Min Echo RX Interval, in microseconds.
    pub fn set_required_min_echo_rx(&mut self, interval_us: u32) {
        write_u32(self.buffer.as_mut(), field::REQUIRED_MIN_ECHO_RX, interval_us);
    }

    /// The authentication section, bytes 24 to Length, to write into (for
    /// instance to put the key in the digest field before hashing, §6.7.3);
    /// `None` unless the A bit is set and those bytes are in the buffer.
    /// Never panics.
    pub fn auth_section_mut(&mut self) -> Option<&mut [u8]> {
        let range = self.auth_section_range()?;
        self.buffer.as_mut().get_mut(range)
    }
}

/// A parsed BFD control packet (RFC 5880 §4.1).
///
/// The Version (always 1), the M bit (always 0, §4.1: "It MUST be zero on
/// both transmit and receipt"), the A bit (`auth.is_some()`) and the Length
/// (`buffer_len()`) are implied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlRepr {
    /// The local system's reason for the last change in session state.
    pub diagnostic: Diagnostic,
    /// The session state as seen by the transmitting system.
    pub state: State,
    /// Poll (P): the sender requests a packet with the Final bit in reply.
    pub poll: bool,
    /// Final (F): the sender answers a Poll.
    pub final_: bool,
    /// Control Plane Independent (C).
    pub control_plane_independent: bool,
    /// Demand (D): Demand mode is active in the sender.
    pub demand: bool,
    /// Detection time multiplier; never 0 in a valid packet.
    pub detect_mult: u8,
    /// The sender's discriminator; never 0 in a valid packet.
    pub my_discriminator: u32,
    /// The receiver's discriminator as known to the sender, 0 if unknown
    /// (only valid with state Down or AdminDown).
    pub your_discriminator: u32,
    /// Desired Min TX Interval, microseconds.
    pub desired_min_tx: u32,
    /// Required Min RX Interval, microseconds.
    pub required_min_rx: u32,
    /// Required Min Echo RX Interval, microseconds; 0 if the sender does
    /// not loop echo packets back.
    pub required_min_echo_rx: u32,
    /// The authentication section, present iff the A bit is set.
    pub auth: Option<AuthRepr>,
}

impl ControlRepr {
    /// Parses a control packet after running [`ControlPacket::check`] on it
    /// (any buffer is fine, checked or not). With the A bit clear, bytes
    /// between 24 and Length are ignored.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &ControlPacket<&T>) -> Result<ControlRepr> {
        packet.check()?;
        let auth = match packet.auth_section() {
            Some(section) => Some(AuthRepr::parse(&AuthSection::new_unchecked(section))?),
            None => None,
        };
        Ok(ControlRepr {
            diagnostic: packet.diagnostic(),
            state: packet.state(),
            poll: packet.poll(),
            final_: packet.final_(),
            control_plane_independent: packet.control_plane_independent(),
            demand: packet.demand(),
            detect_mult: packet.detect_mult(),
            my_discriminator: packet.my_discriminator(),
            your_discriminator: packet.your_discriminator(),
            desired_min_tx: packet.desired_min_tx(),
            required_min_rx: packet.required_min_rx(),
            required_min_echo_rx: packet.required_min_echo_rx(),
            auth,
        })
    }

    /// The length of the emitted packet, which is also its Length field:
    /// 24, plus the authentication section's length (at most 28).
    pub const fn buffer_len(&self) -> usize {
        match &self.auth {
            Some(auth) => HEADER_LEN + auth.buffer_len(),
            None => HEADER_LEN,
        }
    }

    /// Writes the packet into `packet`: Version 1, M bit clear, A bit set
    /// iff there is an authentication section, Length = `buffer_len()`.
    ///
    /// # Panics
    /// If the buffer is shorter than [`buffer_len`](Self::buffer_len).
    /// Bytes past `buffer_len` are left alone.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut ControlPacket<&mut T>) {
        packet.set_version(VERSION);
        packet.set_diagnostic(self.diagnostic);
        packet.set_state(self.state);
        packet.set_poll(self.poll);
        packet.set_final(self.final_);
        packet.set_control_plane_independent(self.control_plane_independent);
        packet.set_auth_present(self.auth.is_some());
        packet.set_demand(self.demand);
        packet.set_multipoint(false);
        packet.set_detect_mult(self.detect_mult);
        let length = self.buffer_len();
        // At most 24 + 28, so the cast is lossless.
        packet.set_length(length as u8);
        packet.set_my_discriminator(self.my_discriminator);
        packet.set_your_discriminator(self.your_discriminator);
        packet.set_desired_min_tx(self.desired_min_tx);
        packet.set_required_min_rx(self.required_min_rx);
        packet.set_required_min_echo_rx(self.required_min_echo_rx);
        if let Some(auth) = &self.auth {
            let section = &mut packet.buffer.as_mut()[field::AUTH_START..length];
            auth.emit(&mut AuthSection::new_unchecked(section));
        }
    }
}

impl fmt::Display for ControlRepr {
    /// One line, e.g. `BFD v1 Up diag=ok P F mult=3 my=1 your=2 tx=300000
    /// rx=300000 echo=50000`: the flags P, F, C, D appear only when set,
    /// the intervals are in microseconds, and an authentication section
    /// adds ` auth=<type> key=<id>` (and ` seq=<n>`), never the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BFD v{VERSION} {} diag={}", self.state, self.diagnostic)?;
        for (set, name) in [
            (self.poll, " P"),
            (self.final_, " F"),
            (self.control_plane_independent, " C"),
            (self.demand, " D"),
        ] {
            if set {
                f.write_str(name)?;
            }
        }
        write!(
            f,
            " mult={} my={} your={} tx={} rx={} echo={}",
            self.detect_mult,
            self.my_discriminator,
            self.your_discriminator,
            self.desired_min_tx,
            self.required_min_rx,
            self.required_min_echo_rx
        )?;
        if let Some(auth) = &self.auth {
            write!(f, " {auth}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::format;

    use super::*;
    use crate::wire::auth::Password;

    /// Up, diag 0, P F C A D M all clear, mult 3, Length 24, my 0x11223344,
    /// your 0x55667788, tx 1_000_000 (0x000f4240), rx 300_000 (0x000493e0),
    /// echo 50_000 (0x0000c350).
    const UP: [u8; 24] = [
        0x20, 0xc0, 0x03, 0x18, //
        0x11, 0x22, 0x33, 0x44, //
        0x55, 0x66, 0x77, 0x88, //
        0x00, 0x0f, 0x42, 0x40, //
        0x00, 0x04, 0x93, 0xe0, //
        0x00, 0x00, 0xc3, 0x50,
    ];

    /// Like `UP`, with the A bit set, Length 33, and a simple password
    /// section: type 1, len 9, key 1, "secret".
    const UP_WITH_PASSWORD: [u8; 33] = [
        0x20, 0xc4, 0x03, 0x21, //
        0x11, 0x22, 0x33, 0x44, //
        0x55, 0x66, 0x77, 0x88, //
        0x00, 0x0f, 0x42, 0x40, //
        0x00, 0x04, 0x93, 0xe0, //
        0x00, 0x00, 0xc3, 0x50, //
        0x01, 0x09, 0x01, b's', b'e', b'c', b'r', b'e', b't',
    ];

    fn up_repr() -> ControlRepr {
        ControlRepr {
            diagnostic: Diagnostic::NoDiagnostic,
            state: State::Up,
            poll: false,
            final_: false,
            control_plane_independent: false,
            demand: false,
            detect_mult: 3,
            my_discriminator: 0x1122_3344,
            your_discriminator: 0x5566_7788,
            desired_min_tx: 1_000_000,
            required_min_rx: 300_000,
            required_min_echo_rx: 50_000,
            auth: None,
        }
    }

    fn check(bytes: &[u8]) -> Result<()> {
        ControlPacket::new_unchecked(bytes).check()
    }

    #[test]
    fn state_from_bits_and_names() {
        assert_eq!(State::from_bits(0), State::AdminDown);
        assert_eq!(State::from_bits(1), State::Down);
        assert_eq!(State::from_bits(2), State::Init);
        assert_eq!(State::from_bits(3), State::Up);
        // Only the low 2 bits count.
        assert_eq!(State::from_bits(0b1111_1101), State::Down);
        assert_eq!(State::AdminDown.as_str(), "AdminDown");
        assert_eq!(State::Down.as_str(), "Down");
        assert_eq!(State::Init.as_str(), "Init");
        assert_eq!(State::Up.as_str(), "Up");
        assert_eq!(u8::from(State::Init), 2);
        assert_eq!(format!("{}", State::Up), "Up");
    }

    #[test]
    fn diagnostic_codes_and_names() {
        let named = [
            (0, Diagnostic::NoDiagnostic, "ok"),
            (1, Diagnostic::ControlDetectionTimeExpired, "control detection time expired"),
            (2, Diagnostic::EchoFunctionFailed, "echo function failed"),
            (3, Diagnostic::NeighborSignaledSessionDown, "neighbor signaled session down"),
            (4, Diagnostic::ForwardingPlaneReset, "forwarding plane reset"),
            (5, Diagnostic::PathDown, "path down"),
            (6, Diagnostic::ConcatenatedPathDown, "concatenated path down"),
            (7, Diagnostic::AdministrativelyDown, "administratively down"),
            (8, Diagnostic::ReverseConcatenatedPathDown, "reverse concatenated path down"),
        ];
        for (code, diagnostic, name) in named {
            assert_eq!(Diagnostic::from(code), diagnostic);
            assert_eq!(u8::from(diagnostic), code);
            assert_eq!(diagnostic.as_str(), name);
        }
        for code in 9..=31 {
            assert_eq!(Diagnostic::from(code), Diagnostic::Reserved(code));
            assert_eq!(u8::from(Diagnostic::Reserved(code)), code);
            assert_eq!(Diagnostic::Reserved(code).as_str(), "reserved");
        }
        // Masked to the field's 5 bits.
        assert_eq!(Diagnostic::from(0x20 | 5), Diagnostic::PathDown);
        assert_eq!(Diagnostic::from(0xff), Diagnostic::Reserved(31));
        assert_eq!(format!("{}", Diagnostic::Reserved(12)), "reserved(12)");
        assert_eq!(format!("{}", Diagnostic::PathDown), "path down");
    }

    #[test]
    fn getters() {
        let packet = ControlPacket::new_checked(&UP[..]).unwrap();
        assert_eq!(packet.version(), 1);
        assert_eq!(packet.diagnostic(), Diagnostic::NoDiagnostic);
        assert_eq!(packet.state(), State::Up);
        assert!(!packet.poll());
        assert!(!packet.final_());
        assert!(!packet.control_plane_independent());
        assert!(!packet.auth_present());
        assert!(!packet.demand());
        assert!(!packet.multipoint());
        assert_eq!(packet.detect_mult(), 3);
        assert_eq!(packet.length(), 24);
        assert_eq!(packet.my_discriminator(), 0x1122_3344);
        assert_eq!(packet.your_discriminator(), 0x5566_7788);
        assert_eq!(packet.desired_min_tx(), 1_000_000);
        assert_eq!(packet.required_min_rx(), 300_000);
        assert_eq!(packet.required_min_echo_rx(), 50_000);
        assert_eq!(packet.auth_section(), None);
        assert_eq!(packet.into_inner(), &UP[..]);
    }

    #[test]
    fn each_flag_bit_alone() {
        type Getter = fn(&ControlPacket<&[u8]>) -> bool;
        let flags: [(u8, Getter); 6] = [
            (0x20, |p| p.poll()),
            (0x10, |p| p.final_()),
            (0x08, |p| p.control_plane_independent()),
            (0x04, |p| p.auth_present()),
            (0x02, |p| p.demand()),
            (0x01, |p| p.multipoint()),
        ];
        for (bit, _) in flags {
            let mut bytes = UP;
            bytes[1] = 0xc0 | bit;
            let packet = ControlPacket::new_unchecked(&bytes[..]);
            assert_eq!(packet.state(), State::Up);
            for (other_bit, getter) in flags {
                assert_eq!(getter(&packet), bit == other_bit, "bit {bit:#x}");
            }
        }
    }

    #[test]
    fn version_and_diagnostic_share_byte_0() {
        let mut bytes = UP;
        bytes[0] = (7 << 5) | 8;
        let packet = ControlPacket::new_unchecked(&bytes[..]);
        assert_eq!(packet.version(), 7);
        assert_eq!(packet.diagnostic(), Diagnostic::ReverseConcatenatedPathDown);
        bytes[0] = (1 << 5) | 31;
        let packet = ControlPacket::new_unchecked(&bytes[..]);
        assert_eq!(packet.version(), 1);
        assert_eq!(packet.diagnostic(), Diagnostic::Reserved(31));
    }

    #[test]
    fn setters() {
        let mut bytes = [0u8; 24];
        let mut packet = ControlPacket::new_unchecked(&mut bytes[..]);
        packet.set_version(1);
        packet.set_diagnostic(Diagnostic::NoDiagnostic);
        packet.set_state(State::Up);
        packet.set_detect_mult(3);
        packet.set_length(24);
        packet.set_my_discriminator(0x1122_3344);
        packet.set_your_discriminator(0x5566_7788);
        packet.set_desired_min_tx(1_000_000);
        packet.set_required_min_rx(300_000);
        packet.set_required_min_echo_rx(50_000);
        assert_eq!(bytes, UP);

        // Each setter touches only its own bits.
        let mut bytes = UP;
        let mut packet = ControlPacket::new_unchecked(&mut bytes[..]);
        packet.set_diagnostic(Diagnostic::PathDown);
        assert_eq!(packet.version(), 1);
        packet.set_version(2);
        assert_eq!(packet.diagnostic(), Diagnostic::PathDown);
        packet.set_poll(true);
        packet.set_final(true);
        packet.set_control_plane_independent(true);
        packet.set_auth_present(true);
        packet.set_demand(true);
        packet.set_multipoint(true);
        assert_eq!(packet.state(), State::Up);
        packet.set_state(State::Init);
        assert!(packet.poll() && packet.final_() && packet.multipoint());
        assert_eq!(bytes[0], (2 << 5) | 5);
        assert_eq!(bytes[1], 0x80 | 0x3f);

        let mut packet = ControlPacket::new_unchecked(&mut bytes[..]);
        packet.set_poll(false);
        assert_eq!(packet.state_flags(), 0x80 | 0x1f);
        packet.set_final(false);
        assert_eq!(packet.state_flags(), 0x80 | 0x0f);
        packet.set_control_plane_independent(false);
        assert_eq!(packet.state_flags(), 0x80 | 0x07);
        packet.set_auth_present(false);
        assert_eq!(packet.state_flags(), 0x80 | 0x03);
        packet.set_demand(false);
        assert_eq!(packet.state_flags(), 0x80 | 0x01);
        packet.set_multipoint(false);
        assert_eq!(packet.state_flags(), 0x80);
    }

    impl<T: AsRef<[u8]>> ControlPacket<T> {
        fn state_flags(&self) -> u8 {
            self.buffer.as_ref()[field::STATE_FLAGS]
        }
    }

    #[test]
    fn auth_section_accessors() {
        let packet = ControlPacket::new_checked(&UP_WITH_PASSWORD[..]).unwrap();
        assert!(packet.auth_present());
        assert_eq!(packet.auth_section(), Some(&UP_WITH_PASSWORD[24..]));

        let mut bytes = UP_WITH_PASSWORD;
        let mut packet = ControlPacket::new_unchecked(&mut bytes[..]);
        packet.auth_section_mut().unwrap()[3] = b'S';
        assert_eq!(bytes[27], b'S');

        // A clear: no section, whatever Length says.
        let mut bytes = UP_WITH_PASSWORD;
        bytes[1] = 0xc0;
        let mut packet = ControlPacket::new_unchecked(&mut bytes[..]);
        assert_eq!(packet.auth_section(), None);
        assert_eq!(packet.auth_section_mut(), None);

        // A set, Length past the buffer or below 24: no section, no panic.
        let mut bytes = UP_WITH_PASSWORD;
        bytes[3] = 34;
        assert_eq!(ControlPacket::new_unchecked(&bytes[..]).auth_section(), None);
        bytes[3] = 10;
        let mut packet = ControlPacket::new_unchecked(&mut bytes[..]);
        assert_eq!(packet.auth_section(), None);
        assert_eq!(packet.auth_section_mut(), None);
    }

    #[test]
    fn auth_section_never_panics_on_short_buffers() {
        for len in 0..4 {
            let mut bytes = UP_WITH_PASSWORD;
            let short = &mut bytes[..len];
            assert_eq!(ControlPacket::new_unchecked(&*short).auth_section(), None);
            assert_eq!(ControlPacket::new_unchecked(&mut *short).auth_section_mut(), None);
        }
    }

    #[test]
    fn valid_packets_pass() {
        assert_eq!(check(&UP), Ok(()));
        assert_eq!(check(&UP_WITH_PASSWORD), Ok(()));
    }

    #[test]
    fn truncated() {
        for len in [0, 1, 23] {
            assert_eq!(check(&UP[..len]), Err(Error::Truncated));
            assert_eq!(ControlPacket::new_checked(&UP[..len]).err(), Some(Error::Truncated));
            assert_eq!(ControlRepr::parse(&ControlPacket::new_unchecked(&UP[..len])), Err(Error::Truncated));
        }
    }

    #[test]
    fn bad_version() {
        for version in [0, 2, 7] {
            let mut bytes = UP;
            bytes[0] = version << 5;
            assert_eq!(check(&bytes), Err(Error::BadVersion));
        }
    }

    #[test]
    fn length_too_short() {
        let mut bytes = UP;
        bytes[3] = 23;
        assert_eq!(check(&bytes), Err(Error::LengthTooShort));
        assert_eq!(ControlPacket::new_checked(&bytes[..]).err(), Some(Error::LengthTooShort));
        // With the A bit, 24 and 25 are too short.
        for length in [24, 25] {
            let mut bytes = UP_WITH_PASSWORD;
            bytes[3] = length;
            assert_eq!(check(&bytes), Err(Error::LengthTooShort));
        }
    }

    #[test]
    fn length_exceeds_payload() {
        let mut bytes = UP;
        bytes[3] = 25;
        assert_eq!(check(&bytes), Err(Error::LengthExceedsPayload));
        assert_eq!(ControlPacket::new_checked(&bytes[..]).err(), Some(Error::LengthExceedsPayload));
        assert_eq!(check(&UP_WITH_PASSWORD[..32]), Err(Error::LengthExceedsPayload));
    }

    #[test]
    fn zero_detect_mult() {
        let mut bytes = UP;
        bytes[2] = 0;
        assert_eq!(check(&bytes), Err(Error::ZeroDetectMult));
    }

    #[test]
    fn multipoint_set() {
        let mut bytes = UP;
        bytes[1] |= 0x01;
        assert_eq!(check(&bytes), Err(Error::MultipointSet));
    }

    #[test]
    fn zero_my_discriminator() {
        let mut bytes = UP;
        bytes[4..8].fill(0);
        assert_eq!(check(&bytes), Err(Error::ZeroMyDiscriminator));
    }

    #[test]
    fn zero_your_discriminator_only_when_not_down() {
        for (state, expected) in [
            (State::AdminDown, Ok(())),
            (State::Down, Ok(())),
            (State::Init, Err(Error::ZeroYourDiscriminator)),
            (State::Up, Err(Error::ZeroYourDiscriminator)),
        ] {
            let mut bytes = UP;
            bytes[8..12].fill(0);
            bytes[1] = (state as u8) << 6;
            assert_eq!(check(&bytes), expected, "{state:?}");
        }
    }

    #[test]
    fn auth_errors() {
        // Auth Len 8 in a 9-byte section.
        let mut bytes = UP_WITH_PASSWORD;
        bytes[25] = 8;
        assert_eq!(check(&bytes), Err(Error::AuthLengthMismatch));
        // Auth Type 0.
        let mut bytes = UP_WITH_PASSWORD;
        bytes[24] = 0;
        assert_eq!(check(&bytes), Err(Error::AuthTypeUnknown));
        // Auth Type 2 (keyed MD5) with a 9-byte section.
        let mut bytes = UP_WITH_PASSWORD;
        bytes[24] = 2;
        assert_eq!(check(&bytes), Err(Error::AuthLengthInvalid));
        assert_eq!(
            ControlRepr::parse(&ControlPacket::new_unchecked(&bytes[..])),
            Err(Error::AuthLengthInvalid)
        );
    }

    #[test]
    fn check_order() {
        // Bad version and zero Detect Mult: the version is checked first.
        let mut bytes = UP;
        bytes[0] = 2 << 5;
        bytes[2] = 0;
        assert_eq!(check(&bytes), Err(Error::BadVersion));
        // Bad version and short Length: BadVersion, though check_len sees
        // the length first.
        bytes[3] = 20;
        assert_eq!(check(&bytes), Err(Error::BadVersion));
        assert_eq!(ControlPacket::new_checked(&bytes[..]).err(), Some(Error::LengthTooShort));
        // A set, Length 25 > 24-byte buffer: too short (rule 3) before too
        // long (rule 4).
        let mut bytes = UP;
        bytes[1] |= 0x04;
        bytes[3] = 25;
        assert_eq!(check(&bytes), Err(Error::LengthTooShort));
        // Zero mult, M bit, zero discriminators: mult first.
        let mut bytes = UP;
        bytes[2] = 0;
        bytes[1] |= 0x01;
        bytes[4..12].fill(0);
        assert_eq!(check(&bytes), Err(Error::ZeroDetectMult));
        bytes[2] = 3;
        assert_eq!(check(&bytes), Err(Error::MultipointSet));
        bytes[1] &= !0x01;
        assert_eq!(check(&bytes), Err(Error::ZeroMyDiscriminator));
        bytes[4] = 1;
        assert_eq!(check(&bytes), Err(Error::ZeroYourDiscriminator));
        // Zero Your Discriminator in Up and a broken auth section: the
        // discriminator rule comes first.
        let mut bytes = UP_WITH_PASSWORD;
        bytes[8..12].fill(0);
        bytes[24] = 0;
        assert_eq!(check(&bytes), Err(Error::ZeroYourDiscriminator));
        // Truncated before everything, even with a wrong version.
        let mut bytes = UP;
        bytes[0] = 0;
        assert_eq!(check(&bytes[..23]), Err(Error::Truncated));
    }

    #[test]
    fn length_beyond_24_without_auth_is_accepted() {
        // A clear, Length 28, four extra bytes: accepted and ignored.
        let mut bytes = [0u8; 28];
        bytes[..24].copy_from_slice(&UP);
        bytes[3] = 28;
        bytes[24..].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(check(&bytes), Ok(()));
        let repr = ControlRepr::parse(&ControlPacket::new_unchecked(&bytes[..])).unwrap();
        assert_eq!(repr, up_repr());
        assert_eq!(repr.buffer_len(), 24);
    }

    #[test]
    fn buffer_longer_than_length_is_accepted() {
        let mut bytes = [0xffu8; 40];
        bytes[..24].copy_from_slice(&UP);
        let packet = ControlPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.check(), Ok(()));
        assert_eq!(ControlRepr::parse(&packet), Ok(up_repr()));
    }

    #[test]
    fn parse_and_emit() {
        let repr = ControlRepr::parse(&ControlPacket::new_unchecked(&UP[..])).unwrap();
        assert_eq!(repr, up_repr());
        assert_eq!(repr.buffer_len(), 24);
        let mut bytes = [0xffu8; 24];
        repr.emit(&mut ControlPacket::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, UP);

        let repr = ControlRepr::parse(&ControlPacket::new_unchecked(&UP_WITH_PASSWORD[..])).unwrap();
        let expected = ControlRepr {
            auth: Some(AuthRepr::SimplePassword { key_id: 1, password: Password::new(b"secret").unwrap() }),
            ..up_repr()
        };
        assert_eq!(repr, expected);
        assert_eq!(repr.buffer_len(), 33);
        let mut bytes = [0xffu8; 33];
        repr.emit(&mut ControlPacket::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, UP_WITH_PASSWORD);
    }

    #[test]
    fn emit_leaves_bytes_past_buffer_len_alone() {
        let mut bytes = [0xaau8; 30];
        up_repr().emit(&mut ControlPacket::new_unchecked(&mut bytes[..]));
        assert_eq!(&bytes[..24], &UP);
        assert_eq!(&bytes[24..], &[0xaa; 6]);
    }

    #[test]
    fn display() {
        let repr = ControlRepr { poll: true, final_: true, ..up_repr() };
        assert_eq!(
            format!("{repr}"),
            "BFD v1 Up diag=ok P F mult=3 my=287454020 your=1432778632 \
             tx=1000000 rx=300000 echo=50000"
        );
        let repr = ControlRepr {
            state: State::Down,
            diagnostic: Diagnostic::ControlDetectionTimeExpired,
            control_plane_independent: true,
            demand: true,
            auth: Some(AuthRepr::KeyedSha1 { meticulous: false, key_id: 2, sequence: 9, hash: [0; 20] }),
            ..up_repr()
        };
        assert_eq!(
            format!("{repr}"),
            "BFD v1 Down diag=control detection time expired C D mult=3 \
             my=287454020 your=1432778632 tx=1000000 rx=300000 echo=50000 \
             auth=keyed-sha1 key=2 seq=9"
        );
    }
}
