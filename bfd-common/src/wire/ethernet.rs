//! The Ethernet II header (IEEE 802.3 with an EtherType), as the agent's
//! packet-socket transmit path writes it in front of a [`UdpIpRepr`]
//! datagram: a typed view ([`EthernetFrame`]) and a `Repr`
//! ([`EthernetRepr`]) with `parse` and `emit`, in the style of the rest of
//! [`crate::wire`].
//!
//! [`UdpIpRepr`]: super::UdpIpRepr

use super::ip::Error;

/// The header: destination, source, EtherType (no 802.1Q tag: a VLAN
/// device adds its own).
pub const HEADER_LEN: usize = 14;
/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

/// Where the header's fields are.
pub mod field {
    /// Destination MAC address.
    pub const DESTINATION: usize = 0;
    /// Source MAC address.
    pub const SOURCE: usize = 6;
    /// EtherType.
    pub const ETHERTYPE: usize = 12;
}

/// A view of an Ethernet II frame.
#[derive(Debug, Clone)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// A view of `buffer`, unchecked: accessors panic if it is shorter than
    /// [`HEADER_LEN`].
    pub const fn new_unchecked(buffer: T) -> EthernetFrame<T> {
        EthernetFrame { buffer }
    }

    /// A view of `buffer` if it holds the header.
    pub fn new_checked(buffer: T) -> Result<EthernetFrame<T>, Error> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(EthernetFrame { buffer })
    }

    /// Destination MAC address.
    pub fn destination(&self) -> [u8; 6] {
        mac_at(self.buffer.as_ref(), field::DESTINATION)
    }

    /// Source MAC address.
    pub fn source(&self) -> [u8; 6] {
        mac_at(self.buffer.as_ref(), field::SOURCE)
    }

    /// EtherType.
    pub fn ethertype(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[field::ETHERTYPE], b[field::ETHERTYPE + 1]])
    }

    /// What follows the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

fn mac_at(buffer: &[u8], offset: usize) -> [u8; 6] {
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&buffer[offset..offset + 6]);
    mac
}

/// An Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    /// Destination MAC address (the next hop's).
    pub destination: [u8; 6],
    /// Source MAC address (the sending interface's).
    pub source: [u8; 6],
    /// EtherType.
    pub ethertype: u16,
}

impl EthernetRepr {
    /// The header of a frame carrying an IPv4 (`v6` false) or IPv6 packet.
    pub const fn ip(destination: [u8; 6], source: [u8; 6], v6: bool) -> EthernetRepr {
        EthernetRepr { destination, source, ethertype: if v6 { ETHERTYPE_IPV6 } else { ETHERTYPE_IPV4 } }
    }

    /// Reads the header of `frame`.
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> EthernetRepr {
        EthernetRepr {
            destination: frame.destination(),
            source: frame.source(),
            ethertype: frame.ethertype(),
        }
    }

    /// Writes the header at the start of `buffer`; returns its length.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize, Error> {
        let header = buffer.get_mut(..HEADER_LEN).ok_or(Error::Truncated)?;
        header[field::DESTINATION..field::DESTINATION + 6].copy_from_slice(&self.destination);
        header[field::SOURCE..field::SOURCE + 6].copy_from_slice(&self.source);
        header[field::ETHERTYPE..field::ETHERTYPE + 2].copy_from_slice(&self.ethertype.to_be_bytes());
        Ok(HEADER_LEN)
    }

    /// Writes this header, then `datagram`'s IP and UDP headers and
    /// `payload`, at the start of `buffer`: a whole frame; returns its
    /// length.
    pub fn emit_udp(
        &self,
        datagram: &super::UdpIpRepr,
        buffer: &mut [u8],
        payload: &[u8],
    ) -> Result<usize, Error> {
        let header = self.emit(buffer)?;
        Ok(header + datagram.emit(&mut buffer[header..], payload)?)
    }
}

#[cfg(test)]
mod tests {
    use core::net::IpAddr;

    use super::*;
    use crate::wire::UdpIpRepr;

    const PEER: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
    const OURS: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

    #[test]
    fn header_round_trips() {
        let repr = EthernetRepr::ip(PEER, OURS, true);
        let mut buffer = [0u8; HEADER_LEN];
        assert_eq!(repr.emit(&mut buffer), Ok(HEADER_LEN));
        assert_eq!(buffer, [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd]);
        let frame = EthernetFrame::new_checked(&buffer[..]).unwrap();
        assert_eq!(EthernetRepr::parse(&frame), repr);
        assert_eq!(repr.emit(&mut [0u8; 13]), Err(Error::Truncated));
        assert!(EthernetFrame::new_checked(&buffer[..13]).is_err());
    }

    #[test]
    fn a_frame_carries_the_same_datagram_as_the_ip_path() {
        // The frame's IP packet is byte for byte what UdpIpRepr writes for
        // the socket paths.
        for (source, destination, v6) in [("10.0.0.2", "10.0.0.1", false), ("fe80::2", "fe80::1", true)] {
            let datagram = UdpIpRepr::bfd(
                source.parse::<IpAddr>().unwrap(),
                destination.parse::<IpAddr>().unwrap(),
                49152,
                3784,
            );
            let payload = [0x20u8; 24];
            let mut ip = [0u8; 80];
            let ip_len = datagram.emit(&mut ip, &payload).unwrap();
            let mut frame = [0u8; 100];
            let len = EthernetRepr::ip(PEER, OURS, v6).emit_udp(&datagram, &mut frame, &payload).unwrap();
            assert_eq!(len, HEADER_LEN + ip_len);
            let view = EthernetFrame::new_checked(&frame[..len]).unwrap();
            assert_eq!(view.ethertype(), if v6 { ETHERTYPE_IPV6 } else { ETHERTYPE_IPV4 });
            assert_eq!(view.payload(), &ip[..ip_len]);
        }
    }
}
