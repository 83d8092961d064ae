//! IPv4, IPv6 and UDP headers, as BFD's packets carry them (RFC 5881 §4:
//! UDP, TTL / Hop Limit 255; DSCP CS6 as routers expect of network
//! control). Typed views over a buffer ([`Ipv4Header`], [`Ipv6Header`],
//! [`UdpHeader`]) and one `Repr` for a UDP datagram in either family,
//! [`UdpIpRepr`], with `parse` and `emit`: the agent's batched control
//! packets and echo packets, and the tests' crafted frames, are all written
//! by it. The XDP program reads the same fields through the offsets in
//! [`ipv4_field`], [`ipv6_field`] and [`udp_field`] (its verifier wants one
//! bounds check per access, on fixed-size arrays).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::checksum;

/// DSCP CS6 (class selector 6, network control, RFC 4594) in the IPv4 TOS
/// or IPv6 Traffic Class byte: how FRR and routers mark BFD.
pub const TOS_CS6: u8 = 0xc0;
/// IP protocol number of UDP.
pub const PROTOCOL_UDP: u8 = 17;
/// An IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = 20;
/// The IPv6 fixed header.
pub const IPV6_HEADER_LEN: usize = 40;
/// The UDP header.
pub const UDP_HEADER_LEN: usize = 8;

/// Where IPv4's fields are (RFC 791 §3.1).
pub mod ipv4_field {
    /// Version (high nibble) and IHL (low nibble, in 32-bit words).
    pub const VERSION_IHL: usize = 0;
    /// Type of Service: DSCP and ECN.
    pub const TOS: usize = 1;
    /// Total Length, bytes, header included.
    pub const TOTAL_LEN: usize = 2;
    /// Flags (Don't Fragment, More Fragments) and Fragment Offset.
    pub const FLAGS_FRAGMENT: usize = 6;
    /// Time to Live.
    pub const TTL: usize = 8;
    /// Protocol.
    pub const PROTOCOL: usize = 9;
    /// Header Checksum.
    pub const CHECKSUM: usize = 10;
    /// Source Address.
    pub const SOURCE: usize = 12;
    /// Destination Address.
    pub const DESTINATION: usize = 16;
}

/// Where IPv6's fields are (RFC 8200 §3).
pub mod ipv6_field {
    /// Version (high nibble) and the high nibble of the Traffic Class.
    pub const VERSION_CLASS: usize = 0;
    /// Payload Length.
    pub const PAYLOAD_LEN: usize = 4;
    /// Next Header.
    pub const NEXT_HEADER: usize = 6;
    /// Hop Limit.
    pub const HOP_LIMIT: usize = 7;
    /// Source Address.
    pub const SOURCE: usize = 8;
    /// Destination Address.
    pub const DESTINATION: usize = 24;
}

/// Where UDP's fields are (RFC 768).
pub mod udp_field {
    /// Source Port.
    pub const SOURCE_PORT: usize = 0;
    /// Destination Port.
    pub const DESTINATION_PORT: usize = 2;
    /// Length, header included.
    pub const LENGTH: usize = 4;
    /// Checksum.
    pub const CHECKSUM: usize = 6;
}

/// Why a buffer is not the datagram asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Shorter than its headers, or than its length fields say.
    Truncated,
    /// Not version 4 or 6, or a header length below the minimum.
    BadHeader,
    /// Not UDP, or an IPv4 fragment, or IPv6 extension headers.
    NotUdp,
    /// A checksum does not verify.
    BadChecksum,
    /// Source and destination of different families.
    MixedFamilies,
}

fn u16_at(buffer: &[u8], offset: usize) -> u16 {
    u16::from_be_bytes([buffer[offset], buffer[offset + 1]])
}

fn set_u16(buffer: &mut [u8], offset: usize, value: u16) {
    buffer[offset..offset + 2].copy_from_slice(&value.to_be_bytes());
}

/// A view of an IPv4 header.
#[derive(Debug, Clone)]
pub struct Ipv4Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Header<T> {
    /// A view of `buffer`, unchecked: accessors panic if it is shorter than
    /// [`IPV4_HEADER_LEN`].
    pub const fn new_unchecked(buffer: T) -> Ipv4Header<T> {
        Ipv4Header { buffer }
    }

    /// A view of `buffer` if it holds a version 4 header whose IHL fits.
    pub fn new_checked(buffer: T) -> Result<Ipv4Header<T>, Error> {
        let header = Ipv4Header::new_unchecked(buffer);
        let bytes = header.buffer.as_ref();
        if bytes.len() < IPV4_HEADER_LEN {
            return Err(Error::Truncated);
        }
        if header.version() != 4 || header.header_len() < IPV4_HEADER_LEN {
            return Err(Error::BadHeader);
        }
        if bytes.len() < header.header_len() {
            return Err(Error::Truncated);
        }
        Ok(header)
    }

    /// The version field.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[ipv4_field::VERSION_IHL] >> 4
    }

    /// The header's length in bytes (IHL x 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[ipv4_field::VERSION_IHL] & 0x0f) * 4
    }

    /// The TOS byte.
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[ipv4_field::TOS]
    }

    /// Total Length.
    pub fn total_len(&self) -> u16 {
        u16_at(self.buffer.as_ref(), ipv4_field::TOTAL_LEN)
    }

    /// More Fragments set or a nonzero Fragment Offset.
    pub fn is_fragment(&self) -> bool {
        u16_at(self.buffer.as_ref(), ipv4_field::FLAGS_FRAGMENT) & 0x3fff != 0
    }

    /// Time to Live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[ipv4_field::TTL]
    }

    /// Protocol.
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[ipv4_field::PROTOCOL]
    }

    /// Source Address.
    pub fn source(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        let s = ipv4_field::SOURCE;
        Ipv4Addr::new(b[s], b[s + 1], b[s + 2], b[s + 3])
    }

    /// Destination Address.
    pub fn destination(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        let d = ipv4_field::DESTINATION;
        Ipv4Addr::new(b[d], b[d + 1], b[d + 2], b[d + 3])
    }

    /// Whether the header checksum verifies (RFC 1071: the sum over the
    /// header, checksum included, is zero).
    pub fn checksum_ok(&self) -> bool {
        checksum::compute(&[&self.buffer.as_ref()[..self.header_len()]]) == 0
    }
}

/// A view of an IPv6 fixed header.
#[derive(Debug, Clone)]
pub struct Ipv6Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Header<T> {
    /// A view of `buffer`, unchecked: accessors panic if it is shorter than
    /// [`IPV6_HEADER_LEN`].
    pub const fn new_unchecked(buffer: T) -> Ipv6Header<T> {
        Ipv6Header { buffer }
    }

    /// A view of `buffer` if it holds a version 6 fixed header.
    pub fn new_checked(buffer: T) -> Result<Ipv6Header<T>, Error> {
        let header = Ipv6Header::new_unchecked(buffer);
        if header.buffer.as_ref().len() < IPV6_HEADER_LEN {
            return Err(Error::Truncated);
        }
        if header.version() != 6 {
            return Err(Error::BadHeader);
        }
        Ok(header)
    }

    /// The version field.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[ipv6_field::VERSION_CLASS] >> 4
    }

    /// The Traffic Class byte.
    pub fn traffic_class(&self) -> u8 {
        let b = self.buffer.as_ref();
        (b[0] << 4) | (b[1] >> 4)
    }

    /// Payload Length.
    pub fn payload_len(&self) -> u16 {
        u16_at(self.buffer.as_ref(), ipv6_field::PAYLOAD_LEN)
    }

    /// Next Header.
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[ipv6_field::NEXT_HEADER]
    }

    /// Hop Limit.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[ipv6_field::HOP_LIMIT]
    }

    /// Source Address.
    pub fn source(&self) -> Ipv6Addr {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&self.buffer.as_ref()[ipv6_field::SOURCE..ipv6_field::SOURCE + 16]);
        Ipv6Addr::from(octets)
    }

    /// Destination Address.
    pub fn destination(&self) -> Ipv6Addr {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&self.buffer.as_ref()[ipv6_field::DESTINATION..ipv6_field::DESTINATION + 16]);
        Ipv6Addr::from(octets)
    }
}

/// A view of a UDP header and what follows it.
#[derive(Debug, Clone)]
pub struct UdpHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpHeader<T> {
    /// A view of `buffer`, unchecked: accessors panic if it is shorter than
    /// [`UDP_HEADER_LEN`].
    pub const fn new_unchecked(buffer: T) -> UdpHeader<T> {
        UdpHeader { buffer }
    }

    /// A view of `buffer` if it holds the header and the length it gives.
    pub fn new_checked(buffer: T) -> Result<UdpHeader<T>, Error> {
        let header = UdpHeader::new_unchecked(buffer);
        let len = header.buffer.as_ref().len();
        if len < UDP_HEADER_LEN {
            return Err(Error::Truncated);
        }
        let length = usize::from(header.length());
        if length < UDP_HEADER_LEN || length > len {
            return Err(Error::Truncated);
        }
        Ok(header)
    }

    /// Source Port.
    pub fn source_port(&self) -> u16 {
        u16_at(self.buffer.as_ref(), udp_field::SOURCE_PORT)
    }

    /// Destination Port.
    pub fn destination_port(&self) -> u16 {
        u16_at(self.buffer.as_ref(), udp_field::DESTINATION_PORT)
    }

    /// Length, header included.
    pub fn length(&self) -> u16 {
        u16_at(self.buffer.as_ref(), udp_field::LENGTH)
    }

    /// Checksum (0: none, IPv4 only).
    pub fn checksum(&self) -> u16 {
        u16_at(self.buffer.as_ref(), udp_field::CHECKSUM)
    }

    /// The payload, as long as the Length field says.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[UDP_HEADER_LEN..usize::from(self.length())]
    }
}

/// A UDP datagram in IPv4 or IPv6 without options or extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpIpRepr {
    /// Source address; the same family as `destination`.
    pub source: IpAddr,
    /// Destination address.
    pub destination: IpAddr,
    /// UDP source port.
    pub source_port: u16,
    /// UDP destination port.
    pub destination_port: u16,
    /// TTL or Hop Limit.
    pub ttl: u8,
    /// TOS or Traffic Class.
    pub tos: u8,
}

impl UdpIpRepr {
    /// A BFD datagram: TTL / Hop Limit 255 (RFC 5881 §5, RFC 5883 §5) and
    /// DSCP CS6.
    pub const fn bfd(
        source: IpAddr,
        destination: IpAddr,
        source_port: u16,
        destination_port: u16,
    ) -> UdpIpRepr {
        UdpIpRepr { source, destination, source_port, destination_port, ttl: crate::TTL, tos: TOS_CS6 }
    }

    /// The IP and UDP headers' length.
    pub const fn header_len(&self) -> usize {
        match self.source {
            IpAddr::V4(_) => IPV4_HEADER_LEN + UDP_HEADER_LEN,
            IpAddr::V6(_) => IPV6_HEADER_LEN + UDP_HEADER_LEN,
        }
    }

    /// Writes the headers and `payload` at the start of `buffer`; returns
    /// the datagram's length. IPv4 gets Don't Fragment (as the kernel sets
    /// for UDP, for path MTU discovery), an ID of 0 and its header
    /// checksum; both families get the UDP checksum over the pseudo-header
    /// (mandatory for IPv6, RFC 8200 §8.1; a computed zero is sent as all
    /// ones, RFC 768).
    pub fn emit(&self, buffer: &mut [u8], payload: &[u8]) -> Result<usize, Error> {
        let total = self.header_len() + payload.len();
        let udp_len = UDP_HEADER_LEN + payload.len();
        if buffer.len() < total || total > usize::from(u16::MAX) {
            return Err(Error::Truncated);
        }
        let buffer = &mut buffer[..total];
        buffer.fill(0);
        let ip_len = self.header_len() - UDP_HEADER_LEN;
        let (ip, udp) = buffer.split_at_mut(ip_len);
        udp[UDP_HEADER_LEN..].copy_from_slice(payload);
        set_u16(udp, udp_field::SOURCE_PORT, self.source_port);
        set_u16(udp, udp_field::DESTINATION_PORT, self.destination_port);
        set_u16(udp, udp_field::LENGTH, udp_len as u16);
        let udp_checksum = match (self.source, self.destination) {
            (IpAddr::V4(source), IpAddr::V4(destination)) => {
                ip[ipv4_field::VERSION_IHL] = 0x45;
                ip[ipv4_field::TOS] = self.tos;
                set_u16(ip, ipv4_field::TOTAL_LEN, total as u16);
                set_u16(ip, ipv4_field::FLAGS_FRAGMENT, 0x4000);
                ip[ipv4_field::TTL] = self.ttl;
                ip[ipv4_field::PROTOCOL] = PROTOCOL_UDP;
                ip[ipv4_field::SOURCE..ipv4_field::SOURCE + 4].copy_from_slice(&source.octets());
                ip[ipv4_field::DESTINATION..ipv4_field::DESTINATION + 4]
                    .copy_from_slice(&destination.octets());
                let header = checksum::compute(&[ip]);
                set_u16(ip, ipv4_field::CHECKSUM, header);
                let pseudo_tail = [0, PROTOCOL_UDP, (udp_len >> 8) as u8, udp_len as u8];
                checksum::compute(&[&source.octets(), &destination.octets(), &pseudo_tail, udp])
            }
            (IpAddr::V6(source), IpAddr::V6(destination)) => {
                ip[0] = 0x60 | (self.tos >> 4);
                ip[1] = (self.tos & 0x0f) << 4;
                set_u16(ip, ipv6_field::PAYLOAD_LEN, udp_len as u16);
                ip[ipv6_field::NEXT_HEADER] = PROTOCOL_UDP;
                ip[ipv6_field::HOP_LIMIT] = self.ttl;
                ip[ipv6_field::SOURCE..ipv6_field::SOURCE + 16].copy_from_slice(&source.octets());
                ip[ipv6_field::DESTINATION..ipv6_field::DESTINATION + 16]
                    .copy_from_slice(&destination.octets());
                let len = (udp_len as u32).to_be_bytes();
                checksum::compute(&[
                    &source.octets(),
                    &destination.octets(),
                    &len,
                    &[0, 0, 0, PROTOCOL_UDP],
                    udp,
                ])
            }
            _ => return Err(Error::MixedFamilies),
        };
        set_u16(udp, udp_field::CHECKSUM, if udp_checksum == 0 { 0xffff } else { udp_checksum });
        Ok(total)
    }

    /// Parses an IPv4 or IPv6 UDP datagram (by its version nibble) and
    /// checks its checksums (a zero IPv4 UDP checksum means none, RFC 768);
    /// returns it and its payload.
    pub fn parse(buffer: &[u8]) -> Result<(UdpIpRepr, &[u8]), Error> {
        let version = buffer.first().ok_or(Error::Truncated)? >> 4;
        let (repr, udp, pseudo_ok) = match version {
            4 => {
                let ip = Ipv4Header::new_checked(buffer)?;
                if ip.protocol() != PROTOCOL_UDP || ip.is_fragment() {
                    return Err(Error::NotUdp);
                }
                if !ip.checksum_ok() {
                    return Err(Error::BadChecksum);
                }
                let end = usize::from(ip.total_len());
                let udp = buffer.get(ip.header_len()..end).ok_or(Error::Truncated)?;
                let header = UdpHeader::new_checked(udp)?;
                let (source, destination) = (ip.source(), ip.destination());
                let tail = [0, PROTOCOL_UDP, (udp.len() >> 8) as u8, udp.len() as u8];
                let ok = header.checksum() == 0
                    || checksum::compute(&[&source.octets(), &destination.octets(), &tail, udp]) == 0;
                let repr = UdpIpRepr {
                    source: IpAddr::V4(source),
                    destination: IpAddr::V4(destination),
                    source_port: header.source_port(),
                    destination_port: header.destination_port(),
                    ttl: ip.ttl(),
                    tos: ip.tos(),
                };
                (repr, udp, ok)
            }
            6 => {
                let ip = Ipv6Header::new_checked(buffer)?;
                if ip.next_header() != PROTOCOL_UDP {
                    return Err(Error::NotUdp);
                }
                let end = IPV6_HEADER_LEN + usize::from(ip.payload_len());
                let udp = buffer.get(IPV6_HEADER_LEN..end).ok_or(Error::Truncated)?;
                let header = UdpHeader::new_checked(udp)?;
                let (source, destination) = (ip.source(), ip.destination());
                let len = (udp.len() as u32).to_be_bytes();
                let ok = checksum::compute(&[
                    &source.octets(),
                    &destination.octets(),
                    &len,
                    &[0, 0, 0, PROTOCOL_UDP],
                    udp,
                ]) == 0;
                let repr = UdpIpRepr {
                    source: IpAddr::V6(source),
                    destination: IpAddr::V6(destination),
                    source_port: header.source_port(),
                    destination_port: header.destination_port(),
                    ttl: ip.hop_limit(),
                    tos: ip.traffic_class(),
                };
                (repr, udp, ok)
            }
            _ => return Err(Error::BadHeader),
        };
        if !pseudo_ok {
            return Err(Error::BadChecksum);
        }
        let length = usize::from(UdpHeader::new_unchecked(udp).length());
        Ok((repr, &udp[UDP_HEADER_LEN..length]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOAD: [u8; 24] = [0x20; 24];

    #[test]
    fn ipv4_bfd_datagram_round_trips_with_both_checksums() {
        let repr = UdpIpRepr::bfd(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            49152,
            3784,
        );
        let mut buffer = [0u8; 64];
        let len = repr.emit(&mut buffer, &PAYLOAD).unwrap();
        assert_eq!(len, 52);
        // Version/IHL, CS6, length; DF; TTL 255, UDP; ports.
        assert_eq!(&buffer[..4], &[0x45, 0xc0, 0x00, 52]);
        assert_eq!((buffer[6], buffer[8], buffer[9]), (0x40, 255, 17));
        assert_eq!(&buffer[20..24], &[0xc0, 0x00, 0x0e, 0xc8]);
        assert!(Ipv4Header::new_checked(&buffer[..]).unwrap().checksum_ok());
        let (parsed, payload) = UdpIpRepr::parse(&buffer[..len]).unwrap();
        assert_eq!((parsed, payload), (repr, &PAYLOAD[..]));
    }

    #[test]
    fn ipv6_datagram_round_trips_with_traffic_class_and_checksum() {
        let repr = UdpIpRepr::bfd(
            IpAddr::V6("2001:db8::2".parse().unwrap()),
            IpAddr::V6("2001:db8::1".parse().unwrap()),
            49153,
            4784,
        );
        let mut buffer = [0u8; 80];
        let len = repr.emit(&mut buffer, &PAYLOAD).unwrap();
        assert_eq!(len, 72);
        assert_eq!((buffer[0] >> 4, buffer[6], buffer[7]), (6, 17, 255));
        assert_eq!(Ipv6Header::new_unchecked(&buffer[..]).traffic_class(), TOS_CS6);
        assert_eq!(UdpIpRepr::parse(&buffer[..len]).unwrap(), (repr, &PAYLOAD[..]));
    }

    #[test]
    fn damaged_datagrams_are_refused_by_reason() {
        let repr = UdpIpRepr::bfd(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            49152,
            3784,
        );
        let mut buffer = [0u8; 64];
        let len = repr.emit(&mut buffer, &PAYLOAD).unwrap();
        let mut bad = buffer;
        bad[8] = 254; // TTL changed, header checksum not
        assert_eq!(UdpIpRepr::parse(&bad[..len]), Err(Error::BadChecksum));
        let mut bad = buffer;
        bad[len - 1] ^= 1; // payload changed, UDP checksum not
        assert_eq!(UdpIpRepr::parse(&bad[..len]), Err(Error::BadChecksum));
        assert_eq!(UdpIpRepr::parse(&buffer[..len - 1]), Err(Error::Truncated));
        assert_eq!(repr.emit(&mut [0u8; 40], &PAYLOAD), Err(Error::Truncated));
        let mixed = UdpIpRepr { destination: IpAddr::V6(Ipv6Addr::LOCALHOST), ..repr };
        assert_eq!(mixed.emit(&mut buffer, &PAYLOAD), Err(Error::MixedFamilies));
        for cut in 0..len {
            let _ = UdpIpRepr::parse(&buffer[..cut]);
        }
    }
}
