//! The payload of the BFD echo packets we originate.
//!
//! RFC 5880 §5: "The payload of a BFD Echo packet is a local matter, since
//! only the sending system ever processes the content. The only requirement
//! is that sufficient information is included to demultiplex the received
//! packet to the correct BFD session after it is looped back to the
//! sender." §6.4: the peer forwards the echo back without looking at it, so
//! the format below is ours alone. It is 24 bytes, every field big-endian:
//!
//! | offset | size | field           | value                                                        |
//! |--------|------|-----------------|--------------------------------------------------------------|
//! | 0      | 4    | `magic`         | [`MAGIC`], ASCII "BFDX"                                      |
//! | 4      | 1    | `version`       | [`VERSION`] (1), the version of this layout                  |
//! | 5      | 1    | reserved        | 0 on transmit, ignored on receipt                            |
//! | 6      | 2    | reserved        | 0 on transmit, ignored on receipt                            |
//! | 8      | 4    | `discriminator` | the sending session's My Discriminator                       |
//! | 12     | 4    | `sequence`      | incremented for each echo the session sends                  |
//! | 16     | 8    | `tx_time_ns`    | `CLOCK_MONOTONIC` at transmission, in nanoseconds            |
//!
//! The magic tells our echoes from anyone else's: FRR's echo payload starts
//! with a version byte of 1, never with `B` (0x42). `tx_time_ns` is what
//! `bpf_ktime_get_ns` reads, so the kernel program can compute the round
//! trip time of a returning echo without the agent.
//!
//! §5 also says "Some form of authentication SHOULD be included, since Echo
//! packets may be spoofed"; this layout carries no authenticator, so a
//! receiver can only match `discriminator` and `sequence` against the
//! echoes it has recently sent.

use super::{Error, Result};

/// Byte ranges of the echo payload's fields.
mod field {
    /// A range of bytes holding one field.
    pub type Field = core::ops::Range<usize>;

    /// [`super::MAGIC`], big-endian.
    pub const MAGIC: Field = 0..4;
    /// [`super::VERSION`].
    pub const VERSION: usize = 4;
    /// Reserved, zero on transmit.
    pub const RESERVED_1: usize = 5;
    /// Reserved, zero on transmit.
    pub const RESERVED_2: Field = 6..8;
    /// The sending session's My Discriminator.
    pub const DISCRIMINATOR: Field = 8..12;
    /// Per-session sequence number.
    pub const SEQUENCE: Field = 12..16;
    /// `CLOCK_MONOTONIC` nanoseconds at transmission.
    pub const TX_TIME_NS: Field = 16..24;
}

/// The first four bytes of every echo payload we send: ASCII "BFDX".
pub const MAGIC: u32 = 0x4246_4458;

/// The version of the payload layout described in the module docs.
pub const VERSION: u8 = 1;

/// Length of the echo payload (the UDP payload of an echo packet).
pub const PAYLOAD_LEN: usize = 24;

/// A read/write view of an echo payload.
///
/// The buffer may be longer than [`PAYLOAD_LEN`]; the extra bytes are
/// ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EchoPacket<T> {
    /// Imposes the echo payload layout on `buffer`, unchecked.
    ///
    /// The getters panic if the buffer is shorter than the field they read
    /// (24 bytes cover them all); use [`new_checked`](Self::new_checked) or
    /// [`check`](Self::check) on untrusted input.
    pub const fn new_unchecked(buffer: T) -> EchoPacket<T> {
        EchoPacket { buffer }
    }

    /// [`new_unchecked`](Self::new_unchecked) followed by
    /// [`check_len`](Self::check_len): afterwards no getter panics.
    pub fn new_checked(buffer: T) -> Result<EchoPacket<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Fails with [`Error::Truncated`] if the buffer is shorter than
    /// [`PAYLOAD_LEN`].
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < PAYLOAD_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Every check, in this order: [`Error::Truncated`] (see
    /// [`check_len`](Self::check_len)), [`Error::EchoBadMagic`] if the magic
    /// is not [`MAGIC`] (not one of our echoes), [`Error::EchoBadVersion`]
    /// if the layout version is not [`VERSION`]. The reserved bytes are not
    /// checked. Safe on any buffer.
    pub fn check(&self) -> Result<()> {
        self.check_len()?;
        if self.magic() != MAGIC {
            return Err(Error::EchoBadMagic);
        }
        if self.version() != VERSION {
            return Err(Error::EchoBadVersion);
        }
        Ok(())
    }

    /// Consumes the view, returning the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The magic value at offset 0.
    pub fn magic(&self) -> u32 {
        let bytes = &self.buffer.as_ref()[field::MAGIC];
        u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
    }

    /// The layout version at offset 4.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION]
    }

    /// The discriminator at offset 8: the My Discriminator of the session
    /// that sent the echo.
    pub fn discriminator(&self) -> u32 {
        let bytes = &self.buffer.as_ref()[field::DISCRIMINATOR];
        u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
    }

    /// The sequence number at offset 12.
    pub fn sequence(&self) -> u32 {
        let bytes = &self.buffer.as_ref()[field::SEQUENCE];
        u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
    }

    /// The transmission time at offset 16, `CLOCK_MONOTONIC` nanoseconds.
    pub fn tx_time_ns(&self) -> u64 {
        let bytes = &self.buffer.as_ref()[field::TX_TIME_NS];
        u64::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EchoPacket<T> {
    /// Sets the magic value.
    ///
    /// # Panics
    /// This and every setter panic if the buffer is shorter than the field
    /// they write (24 bytes cover them all).
    pub fn set_magic(&mut self, magic: u32) {
        self.buffer.as_mut()[field::MAGIC].copy_from_slice(&magic.to_be_bytes());
    }

    /// Sets the layout version.
    pub fn set_version(&mut self, version: u8) {
        self.buffer.as_mut()[field::VERSION] = version;
    }

    /// Zeroes the three reserved bytes (offsets 5 to 7).
    pub fn clear_reserved(&mut self) {
        let data = self.buffer.as_mut();
        data[field::RESERVED_1] = 0;
        data[field::RESERVED_2].fill(0);
    }

    /// Sets the discriminator.
    pub fn set_discriminator(&mut self, discriminator: u32) {
        self.buffer.as_mut()[field::DISCRIMINATOR].copy_from_slice(&discriminator.to_be_bytes());
    }

    /// Sets the sequence number.
    pub fn set_sequence(&mut self, sequence: u32) {
        self.buffer.as_mut()[field::SEQUENCE].copy_from_slice(&sequence.to_be_bytes());
    }

    /// Sets the transmission time, `CLOCK_MONOTONIC` nanoseconds.
    pub fn set_tx_time_ns(&mut self, tx_time_ns: u64) {
        self.buffer.as_mut()[field::TX_TIME_NS].copy_from_slice(&tx_time_ns.to_be_bytes());
    }
}

/// A parsed echo payload; the magic and version are implied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EchoRepr {
    /// The My Discriminator of the session that sent the echo.
    pub discriminator: u32,
    /// Per-session sequence number.
    pub sequence: u32,
    /// `CLOCK_MONOTONIC` nanoseconds at transmission (`bpf_ktime_get_ns`).
    pub tx_time_ns: u64,
}

impl EchoRepr {
    /// Parses an echo payload after running [`EchoPacket::check`] on it.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &EchoPacket<&T>) -> Result<EchoRepr> {
        packet.check()?;
        Ok(EchoRepr {
            discriminator: packet.discriminator(),
            sequence: packet.sequence(),
            tx_time_ns: packet.tx_time_ns(),
        })
    }

    /// The length of the emitted payload: always [`PAYLOAD_LEN`].
    pub const fn buffer_len(&self) -> usize {
        PAYLOAD_LEN
    }

    /// Writes the payload into `packet`, with [`MAGIC`], [`VERSION`] and
    /// zeroed reserved bytes.
    ///
    /// # Panics
    /// If the buffer is shorter than [`PAYLOAD_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut EchoPacket<&mut T>) {
        packet.set_magic(MAGIC);
        packet.set_version(VERSION);
        packet.clear_reserved();
        packet.set_discriminator(self.discriminator);
        packet.set_sequence(self.sequence);
        packet.set_tx_time_ns(self.tx_time_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// discriminator 0x01020304, sequence 0x0a0b0c0d,
    /// tx_time_ns 0x1122334455667788.
    const ECHO: [u8; 24] = [
        b'B', b'F', b'D', b'X', 0x01, 0x00, 0x00, 0x00, //
        0x01, 0x02, 0x03, 0x04, //
        0x0a, 0x0b, 0x0c, 0x0d, //
        0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
    ];

    const REPR: EchoRepr =
        EchoRepr { discriminator: 0x0102_0304, sequence: 0x0a0b_0c0d, tx_time_ns: 0x1122_3344_5566_7788 };

    #[test]
    fn magic_spells_bfdx() {
        assert_eq!(&MAGIC.to_be_bytes(), b"BFDX");
    }

    #[test]
    fn getters() {
        let packet = EchoPacket::new_checked(&ECHO[..]).unwrap();
        assert_eq!(packet.magic(), MAGIC);
        assert_eq!(packet.version(), 1);
        assert_eq!(packet.discriminator(), 0x0102_0304);
        assert_eq!(packet.sequence(), 0x0a0b_0c0d);
        assert_eq!(packet.tx_time_ns(), 0x1122_3344_5566_7788);
        assert_eq!(packet.into_inner(), &ECHO[..]);
    }

    #[test]
    fn setters() {
        let mut bytes = [0xffu8; 24];
        let mut packet = EchoPacket::new_unchecked(&mut bytes[..]);
        packet.set_magic(MAGIC);
        packet.set_version(1);
        packet.clear_reserved();
        packet.set_discriminator(0x0102_0304);
        packet.set_sequence(0x0a0b_0c0d);
        packet.set_tx_time_ns(0x1122_3344_5566_7788);
        assert_eq!(bytes, ECHO);
    }

    #[test]
    fn truncated() {
        for len in [0, 1, 23] {
            assert_eq!(EchoPacket::new_checked(&ECHO[..len]).err(), Some(Error::Truncated));
            assert_eq!(EchoPacket::new_unchecked(&ECHO[..len]).check(), Err(Error::Truncated));
        }
    }

    #[test]
    fn bad_magic() {
        let mut bytes = ECHO;
        // FRR's echo starts with version 1.
        bytes[0] = 0x01;
        assert_eq!(EchoPacket::new_unchecked(&bytes[..]).check(), Err(Error::EchoBadMagic));
    }

    #[test]
    fn bad_version() {
        let mut bytes = ECHO;
        bytes[4] = 2;
        assert_eq!(EchoPacket::new_unchecked(&bytes[..]).check(), Err(Error::EchoBadVersion));
    }

    #[test]
    fn check_order() {
        // Bad magic and bad version: the magic is checked first.
        let mut bytes = ECHO;
        bytes[3] = b'Y';
        bytes[4] = 0;
        assert_eq!(EchoPacket::new_unchecked(&bytes[..]).check(), Err(Error::EchoBadMagic));
        // Truncated before the magic.
        assert_eq!(EchoPacket::new_unchecked(&bytes[..4]).check(), Err(Error::Truncated));
    }

    #[test]
    fn reserved_bytes_ignored_on_parse() {
        let mut bytes = ECHO;
        bytes[5..8].copy_from_slice(&[1, 2, 3]);
        let packet = EchoPacket::new_unchecked(&bytes[..]);
        assert_eq!(EchoRepr::parse(&packet), Ok(REPR));
    }

    #[test]
    fn longer_buffer_is_accepted() {
        let mut bytes = [0u8; 30];
        bytes[..24].copy_from_slice(&ECHO);
        assert_eq!(EchoRepr::parse(&EchoPacket::new_unchecked(&bytes[..])), Ok(REPR));
    }

    #[test]
    fn parse_and_emit() {
        let repr = EchoRepr::parse(&EchoPacket::new_unchecked(&ECHO[..])).unwrap();
        assert_eq!(repr, REPR);
        assert_eq!(repr.buffer_len(), PAYLOAD_LEN);
        let mut bytes = [0xffu8; 24];
        repr.emit(&mut EchoPacket::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, ECHO);
    }
}
