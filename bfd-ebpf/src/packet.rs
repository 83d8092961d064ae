//! Header parsing and rewriting for the XDP program: Ethernet, up to two
//! VLAN tags (802.1Q, 802.1ad), IPv4 with options or IPv6 without extension
//! headers, and UDP.
//!
//! Every direct access to packet memory goes through [`Frame::at`], the one
//! bounds check the verifier needs to see; the UDP payload is copied out
//! with `bpf_xdp_load_bytes`, which the kernel bounds-checks itself.

use aya_ebpf::{helpers::bpf_xdp_load_bytes, programs::XdpContext};
use bfd_common::maps::{Address, address_v4};
use bfd_common::wire::ip::{
    IPV4_HEADER_LEN as IPV4_MIN_HEADER_LEN, IPV6_HEADER_LEN, PROTOCOL_UDP as IPPROTO_UDP, UDP_HEADER_LEN,
    ipv4_field, ipv6_field, udp_field,
};

const ETH_HEADER_LEN: usize = 14;
const VLAN_TAG_LEN: usize = 4;
const ETH_P_IPV4: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;

/// A received frame, between `data` and `data_end`.
pub struct Frame {
    start: usize,
    end: usize,
}

/// An IPv4 or IPv6 UDP packet that is not a fragment, as far as the
/// program needs it.
pub struct UdpPacket {
    /// Offset of the IP header from the start of the frame.
    pub ip_offset: usize,
    /// IPv6 (else IPv4).
    pub ipv6: bool,
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// UDP destination port.
    pub dst_port: u16,
    /// The UDP payload.
    pub payload: UdpPayload,
}

/// Where a UDP payload is.
pub struct UdpPayload {
    /// Offset of the payload from the start of the frame.
    pub offset: usize,
    /// Payload length: the UDP length less its header, cut to the frame.
    pub len: usize,
}

impl Frame {
    #[inline(always)]
    pub fn new(ctx: &XdpContext) -> Frame {
        Frame { start: ctx.data(), end: ctx.data_end() }
    }

    /// A pointer to the `N` bytes at `offset`, or `None` if the frame is
    /// shorter: the one bounds check of every direct packet access.
    #[inline(always)]
    fn at<const N: usize>(&self, offset: usize) -> Option<*mut [u8; N]> {
        // The comparison of a packet pointer against `data_end` that the
        // verifier needs before any access; offsets are bounded (at most a
        // few hundred bytes), so the additions cannot wrap.
        let at = self.start + offset;
        if at + N > self.end {
            return None;
        }
        Some(at as *mut [u8; N])
    }

    /// The `N` bytes at `offset`, or `None` if the frame is shorter.
    #[inline(always)]
    fn bytes<const N: usize>(&self, offset: usize) -> Option<&[u8; N]> {
        // SAFETY: `at` checked that the range lies inside the packet, which
        // the kernel keeps mapped while the program runs; `[u8; N]` has
        // alignment 1.
        self.at::<N>(offset).map(|pointer| unsafe { &*pointer })
    }

    /// The `N` bytes at `offset` for writing, or `None` if the frame is
    /// shorter.
    #[inline(always)]
    fn bytes_mut<const N: usize>(&mut self, offset: usize) -> Option<&mut [u8; N]> {
        // SAFETY: as in `bytes`; XDP packet data is writable, and `&mut
        // self` keeps this the only reference into the frame.
        self.at::<N>(offset).map(|pointer| unsafe { &mut *pointer })
    }

    #[inline(always)]
    fn u16_at(&self, offset: usize) -> Option<u16> {
        self.bytes::<2>(offset).map(|bytes| u16::from_be_bytes(*bytes))
    }

    /// The IPv4 or IPv6 UDP packet in the frame, or `None` for anything
    /// else: other protocols, IP fragments, IPv6 extension headers (left to
    /// the kernel's stack), headers cut short.
    #[inline(always)]
    pub fn udp(&self) -> Option<UdpPacket> {
        let mut offset = ETH_HEADER_LEN;
        let mut ethertype = self.u16_at(12)?;
        // Up to two tags (802.1ad outer, 802.1Q inner), unrolled.
        if ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD {
            ethertype = self.u16_at(offset + 2)?;
            offset += VLAN_TAG_LEN;
            if ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD {
                ethertype = self.u16_at(offset + 2)?;
                offset += VLAN_TAG_LEN;
            }
        }
        let (udp, ipv6, ttl) = match ethertype {
            ETH_P_IPV4 => {
                let ip = self.bytes::<IPV4_MIN_HEADER_LEN>(offset)?;
                let version_ihl = ip[ipv4_field::VERSION_IHL];
                let header_len = usize::from(version_ihl & 0x0f) * 4;
                let flags = ipv4_field::FLAGS_FRAGMENT;
                let fragment = u16::from_be_bytes([ip[flags], ip[flags + 1]]) & 0x3fff; // MF + offset
                if version_ihl >> 4 != 4
                    || header_len < IPV4_MIN_HEADER_LEN
                    || fragment != 0
                    || ip[ipv4_field::PROTOCOL] != IPPROTO_UDP
                {
                    return None;
                }
                (offset + header_len, false, ip[ipv4_field::TTL])
            }
            ETH_P_IPV6 => {
                let ip = self.bytes::<IPV6_HEADER_LEN>(offset)?;
                // Next Header must be UDP: extension headers go to the slow
                // path (RFC 5881 does not need them).
                if ip[ipv6_field::VERSION_CLASS] >> 4 != 6 || ip[ipv6_field::NEXT_HEADER] != IPPROTO_UDP {
                    return None;
                }
                (offset + IPV6_HEADER_LEN, true, ip[ipv6_field::HOP_LIMIT])
            }
            _ => return None,
        };
        let header = self.bytes::<UDP_HEADER_LEN>(udp)?;
        let length = udp_field::LENGTH;
        let udp_len = usize::from(u16::from_be_bytes([header[length], header[length + 1]]));
        let payload_offset = udp + UDP_HEADER_LEN;
        let in_frame = (self.end - self.start).saturating_sub(payload_offset);
        Some(UdpPacket {
            ip_offset: offset,
            ipv6,
            ttl,
            dst_port: u16::from_be_bytes([
                header[udp_field::DESTINATION_PORT],
                header[udp_field::DESTINATION_PORT + 1],
            ]),
            payload: UdpPayload {
                offset: payload_offset,
                len: udp_len.saturating_sub(UDP_HEADER_LEN).min(in_frame),
            },
        })
    }

    /// The packet's source and destination addresses, IPv4 ones mapped
    /// into IPv6 as the maps store them.
    #[inline(always)]
    pub fn addresses(&self, packet: &UdpPacket) -> Option<(Address, Address)> {
        if packet.ipv6 {
            // RFC 8200 §3: source, then destination.
            let addresses = self.bytes::<32>(packet.ip_offset + ipv6_field::SOURCE)?;
            let mut src = [0u8; 16];
            let mut dst = [0u8; 16];
            src.copy_from_slice(&addresses[..16]);
            dst.copy_from_slice(&addresses[16..]);
            Some((src, dst))
        } else {
            // RFC 791: source, then destination.
            let addresses = self.bytes::<8>(packet.ip_offset + ipv4_field::SOURCE)?;
            Some((
                address_v4([addresses[0], addresses[1], addresses[2], addresses[3]]),
                address_v4([addresses[4], addresses[5], addresses[6], addresses[7]]),
            ))
        }
    }

    /// Turns a received echo into the one to send back out of the same
    /// interface (RFC 5880 §6.4: the peer's echo is looped back to it):
    /// swaps the MAC addresses, and decrements the TTL / hop limit from 255
    /// to 254, fixing the IPv4 header checksum (RFC 1624) as a router
    /// forwarding it would. The IP addresses stay: the echo is addressed to
    /// its sender. The UDP checksum does not cover the TTL and is left
    /// alone. `false` if the headers are not there (they were parsed, so
    /// never in practice).
    #[inline(always)]
    pub fn turn_echo_around(&mut self, packet: &UdpPacket) -> bool {
        let Some(macs) = self.bytes_mut::<12>(0) else {
            return false;
        };
        for index in 0..6 {
            macs.swap(index, index + 6);
        }
        if packet.ipv6 {
            // No header checksum in IPv6 (RFC 8200 §3).
            let Some(hop_limit) = self.bytes_mut::<1>(packet.ip_offset + ipv6_field::HOP_LIMIT) else {
                return false;
            };
            hop_limit[0] = packet.ttl.saturating_sub(1);
        } else {
            // TTL, protocol, header checksum (RFC 791).
            let Some(words) = self.bytes_mut::<4>(packet.ip_offset + ipv4_field::TTL) else {
                return false;
            };
            let old = u16::from_be_bytes([words[0], words[1]]);
            words[0] = packet.ttl.saturating_sub(1);
            let new = u16::from_be_bytes([words[0], words[1]]);
            let checksum = bfd_common::checksum::update(u16::from_be_bytes([words[2], words[3]]), old, new);
            words[2..4].copy_from_slice(&checksum.to_be_bytes());
        }
        true
    }
}

impl Frame {
    /// Turns a received control packet (Length 24, valid for its session)
    /// into our answer out of the same interface: MAC and IP addresses
    /// swapped (a multihop peer's packet came from the router on this link,
    /// which thus receives ours), UDP from `source_port` to `dest_port`
    /// (3784 single-hop, RFC 5881 §4; 4784 multihop, RFC 5883 §5), the TTL
    /// / hop limit 255 as the agent sends (RFC 5881 §5 requires it single
    /// hop, where it already is; a multihop packet arrived decremented),
    /// the IPv4 header checksum and the UDP checksum updated word by word
    /// (RFC 1624; a zero IPv4 UDP checksum, "none", stays zero). `false` if
    /// the headers are not there (they were parsed, so never in practice).
    #[inline(always)]
    pub fn turn_control_around(
        &mut self,
        packet: &UdpPacket,
        source_port: u16,
        dest_port: u16,
        payload: &[u8; bfd_common::wire::control::HEADER_LEN],
    ) -> bool {
        let Some(macs) = self.bytes_mut::<12>(0) else {
            return false;
        };
        for index in 0..6 {
            macs.swap(index, index + 6);
        }
        if packet.ipv6 {
            let Some(hop_limit) = self.bytes_mut::<1>(packet.ip_offset + ipv6_field::HOP_LIMIT) else {
                return false;
            };
            hop_limit[0] = bfd_common::TTL;
            let Some(addresses) = self.bytes_mut::<32>(packet.ip_offset + 8) else {
                return false;
            };
            for index in 0..16 {
                addresses.swap(index, index + 16);
            }
        } else {
            // TTL, protocol, header checksum (RFC 791); the address swap
            // leaves the checksum as it is.
            let Some(words) = self.bytes_mut::<4>(packet.ip_offset + ipv4_field::TTL) else {
                return false;
            };
            let old = u16::from_be_bytes([words[0], words[1]]);
            words[0] = bfd_common::TTL;
            let new = u16::from_be_bytes([words[0], words[1]]);
            let checksum = bfd_common::checksum::update(u16::from_be_bytes([words[2], words[3]]), old, new);
            words[2..4].copy_from_slice(&checksum.to_be_bytes());
            let Some(addresses) = self.bytes_mut::<8>(packet.ip_offset + 12) else {
                return false;
            };
            for index in 0..4 {
                addresses.swap(index, index + 4);
            }
        }
        let udp_offset = packet.payload.offset - UDP_HEADER_LEN;
        let Some(udp) = self.bytes_mut::<UDP_HEADER_LEN>(udp_offset) else {
            return false;
        };
        let mut checksum = u16::from_be_bytes([udp[6], udp[7]]);
        let keep_zero = !packet.ipv6 && checksum == 0;
        let old_ports = [u16::from_be_bytes([udp[0], udp[1]]), u16::from_be_bytes([udp[2], udp[3]])];
        let new_ports = [source_port, dest_port];
        udp[0..2].copy_from_slice(&source_port.to_be_bytes());
        udp[2..4].copy_from_slice(&dest_port.to_be_bytes());
        for index in 0..2 {
            checksum = bfd_common::checksum::update(checksum, old_ports[index], new_ports[index]);
        }
        let Some(body) = self.bytes_mut::<{ bfd_common::wire::control::HEADER_LEN }>(packet.payload.offset)
        else {
            return false;
        };
        for index in 0..bfd_common::wire::control::HEADER_LEN / 2 {
            let old = u16::from_be_bytes([body[2 * index], body[2 * index + 1]]);
            let new = u16::from_be_bytes([payload[2 * index], payload[2 * index + 1]]);
            checksum = bfd_common::checksum::update(checksum, old, new);
        }
        body.copy_from_slice(payload);
        if keep_zero {
            checksum = 0;
        } else if checksum == 0 {
            // RFC 768: a computed zero is sent as all ones.
            checksum = 0xffff;
        }
        let Some(udp) = self.bytes_mut::<UDP_HEADER_LEN>(udp_offset) else {
            return false;
        };
        udp[6..8].copy_from_slice(&checksum.to_be_bytes());
        true
    }
}

impl UdpPayload {
    /// Copies the start of the payload into `buffer`; returns how many bytes
    /// were copied (the smaller of the payload and the buffer), or `None` if
    /// the payload is empty or the kernel refused.
    #[inline(always)]
    pub fn load<const N: usize>(&self, ctx: &XdpContext, buffer: &mut [u8; N]) -> Option<usize> {
        let len = self.len.min(N);
        if len == 0 {
            return None;
        }
        // SAFETY: `buffer` is valid for `N >= len` bytes; the helper checks
        // `offset + len` against the packet itself.
        let ret = unsafe {
            bpf_xdp_load_bytes(ctx.ctx, self.offset as u32, buffer.as_mut_ptr().cast(), len as u32)
        };
        (ret == 0).then_some(len)
    }
}
