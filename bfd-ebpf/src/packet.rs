//! Header parsing for the XDP program: Ethernet, up to two VLAN tags
//! (802.1Q, 802.1ad), IPv4 with options or IPv6 without extension headers,
//! and UDP. Every read of packet memory goes through [`Frame::bytes`], the
//! one bounds check the verifier needs to see.

use aya_ebpf::{helpers::bpf_xdp_load_bytes, programs::XdpContext};

const ETH_HEADER_LEN: usize = 14;
const VLAN_TAG_LEN: usize = 4;
const ETH_P_IPV4: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
const IPV6_HEADER_LEN: usize = 40;
const UDP_HEADER_LEN: usize = 8;
const IPPROTO_UDP: u8 = 17;

/// A received frame, between `data` and `data_end`.
pub struct Frame {
    start: usize,
    end: usize,
}

/// Where a UDP payload is and what it is for.
pub struct UdpPayload {
    /// UDP destination port.
    pub dst_port: u16,
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

    /// The `N` bytes at `offset`, or `None` if the frame is shorter.
    #[inline(always)]
    fn bytes<const N: usize>(&self, offset: usize) -> Option<&[u8; N]> {
        // The one comparison of a packet pointer against `data_end` that the
        // verifier needs before any read; offsets are bounded (at most a few
        // hundred bytes), so the additions cannot wrap.
        let at = self.start + offset;
        if at + N > self.end {
            return None;
        }
        // SAFETY: `at..at + N` lies inside the packet, which the kernel keeps
        // mapped while the program runs; `[u8; N]` has alignment 1.
        Some(unsafe { &*(at as *const [u8; N]) })
    }

    #[inline(always)]
    fn u16_at(&self, offset: usize) -> Option<u16> {
        self.bytes::<2>(offset).map(|bytes| u16::from_be_bytes(*bytes))
    }

    /// The UDP payload of an IPv4 or IPv6 UDP packet that is not a
    /// fragment, or `None` for anything else.
    #[inline(always)]
    pub fn udp_payload(&self) -> Option<UdpPayload> {
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
        let udp = match ethertype {
            ETH_P_IPV4 => {
                let ip = self.bytes::<20>(offset)?;
                let header_len = usize::from(ip[0] & 0x0f) * 4;
                let fragment = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff; // MF + offset
                if ip[0] >> 4 != 4 || header_len < 20 || fragment != 0 || ip[9] != IPPROTO_UDP {
                    return None;
                }
                offset + header_len
            }
            ETH_P_IPV6 => {
                let ip = self.bytes::<IPV6_HEADER_LEN>(offset)?;
                if ip[0] >> 4 != 6 || ip[6] != IPPROTO_UDP {
                    return None;
                }
                offset + IPV6_HEADER_LEN
            }
            _ => return None,
        };
        let header = self.bytes::<UDP_HEADER_LEN>(udp)?;
        let udp_len = usize::from(u16::from_be_bytes([header[4], header[5]]));
        let payload_offset = udp + UDP_HEADER_LEN;
        let in_frame = (self.end - self.start).saturating_sub(payload_offset);
        Some(UdpPayload {
            dst_port: u16::from_be_bytes([header[2], header[3]]),
            offset: payload_offset,
            len: udp_len.saturating_sub(UDP_HEADER_LEN).min(in_frame),
        })
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
