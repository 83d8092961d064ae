//! Building Ethernet frames byte by byte, and sending them raw: for packets
//! the kernel stack cannot make here (VLAN tags: this kernel has no 802.1Q
//! support, so no VLAN interfaces) and for exact bytes in captures.

use std::net::IpAddr;

use anyhow::{Context as _, bail};
use bfd_common::wire::UdpIpRepr;
use bfd_common::wire::ip::{IPV4_HEADER_LEN, TOS_CS6, udp_field};

/// TPID of an 802.1Q (customer) VLAN tag.
pub const TPID_8021Q: u16 = 0x8100;
/// TPID of an 802.1ad (service) VLAN tag.
pub const TPID_8021AD: u16 = 0x88a8;

/// A UDP datagram in an Ethernet frame, optionally VLAN-tagged.
#[derive(Clone, Debug)]
pub struct UdpFrame<'a> {
    /// Destination MAC.
    pub dst_mac: [u8; 6],
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// VLAN tags, outermost first, as (TPID, VLAN id).
    pub vlans: &'a [(u16, u16)],
    /// Source address; both addresses must be of the same family.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// TTL or hop limit.
    pub ttl: u8,
    /// UDP source port.
    pub src_port: u16,
    /// UDP destination port.
    pub dst_port: u16,
    /// UDP payload.
    pub payload: &'a [u8],
}

impl UdpFrame<'_> {
    /// The frame's bytes: the IP and UDP headers as `bfd_common::wire`'s
    /// `UdpIpRepr` writes them (TOS / Traffic Class CS6, as BFD is sent).
    /// The UDP checksum is computed for IPv6 (where it is mandatory) and
    /// left 0 for IPv4 (RFC 768: no checksum), so that a test may alter the
    /// payload of an IPv4 frame afterwards and the kernel still takes it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut frame = Vec::with_capacity(80 + self.payload.len());
        frame.extend_from_slice(&self.dst_mac);
        frame.extend_from_slice(&self.src_mac);
        for (tpid, vid) in self.vlans {
            frame.extend_from_slice(&tpid.to_be_bytes());
            frame.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
        }
        let ethertype: u16 = if self.src.is_ipv6() { 0x86dd } else { 0x0800 };
        frame.extend_from_slice(&ethertype.to_be_bytes());
        let repr = UdpIpRepr {
            source: self.src,
            destination: self.dst,
            source_port: self.src_port,
            destination_port: self.dst_port,
            ttl: self.ttl,
            tos: TOS_CS6,
        };
        let start = frame.len();
        frame.resize(start + repr.header_len() + self.payload.len(), 0);
        repr.emit(&mut frame[start..], self.payload).expect("source and destination of the same IP family");
        if self.src.is_ipv4() {
            let checksum = start + IPV4_HEADER_LEN + udp_field::CHECKSUM;
            frame[checksum..checksum + 2].fill(0);
        }
        frame
    }
}

/// The Internet checksum (RFC 1071) of the concatenation of `parts`:
/// `bfd_common`'s, the one the agent and the XDP program use.
pub fn internet_checksum(parts: &[&[u8]]) -> u16 {
    bfd_common::checksum::compute(parts)
}

/// Sends `frame` as is out of `interface` through an AF_PACKET socket.
/// Call it from a thread in the interface's namespace.
pub fn send_raw(interface: &str, frame: &[u8]) -> anyhow::Result<()> {
    RawSender::open(interface)?.send(frame)
}

/// An AF_PACKET socket bound to one interface, for sending frames as they
/// are (many, when opened once). Open it from a thread in the interface's
/// namespace.
pub struct RawSender {
    socket: std::os::fd::OwnedFd,
    address: libc::sockaddr_ll,
    interface: String,
}

impl RawSender {
    /// A socket sending out of `interface`.
    pub fn open(interface: &str) -> anyhow::Result<RawSender> {
        let name = std::ffi::CString::new(interface)?;
        // SAFETY: `name` is a valid NUL-terminated string.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            bail!("no interface {interface} here");
        }
        // SAFETY: plain socket(2) call; the result is checked and owned below.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).context("socket(AF_PACKET)");
        }
        // SAFETY: `fd` is a fresh socket nobody else owns.
        let socket = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_ifindex = ifindex as i32;
        address.sll_halen = 6;
        Ok(RawSender { socket, address, interface: interface.to_owned() })
    }

    /// Sends one Ethernet frame (its destination MAC addresses the link
    /// layer).
    pub fn send(&self, frame: &[u8]) -> anyhow::Result<()> {
        if frame.len() < 14 {
            bail!("a {}-byte frame is shorter than an Ethernet header", frame.len());
        }
        let mut address = self.address;
        address.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: `frame` and `address` are valid for the lengths given, and
        // the socket is open for the duration of the call.
        let sent = unsafe {
            libc::sendto(
                std::os::fd::AsRawFd::as_raw_fd(&self.socket),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&raw const address).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if sent != frame.len() as isize {
            return Err(std::io::Error::last_os_error())
                .context(format!("sending a raw frame on {}", self.interface));
        }
        Ok(())
    }
}

/// An AF_PACKET socket that receives every frame arriving on one
/// interface (after XDP, as the stack sees them). Open it from a thread in
/// the interface's namespace.
pub struct PacketSocket {
    socket: std::os::fd::OwnedFd,
}

/// `PACKET_OUTGOING` (linux/if_packet.h): a frame this host sent.
const PACKET_OUTGOING: u8 = 4;
/// `ETH_P_ALL` (linux/if_ether.h): every protocol.
const ETH_P_ALL: u16 = 0x0003;

impl PacketSocket {
    /// Binds to `interface`.
    pub fn open(interface: &str) -> anyhow::Result<PacketSocket> {
        let name = std::ffi::CString::new(interface)?;
        // SAFETY: `name` is a valid NUL-terminated string.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            bail!("no interface {interface} here");
        }
        // SAFETY: plain socket(2) call; the result is checked and owned below.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(ETH_P_ALL.to_be())) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).context("socket(AF_PACKET)");
        }
        // SAFETY: `fd` is a fresh socket nobody else owns.
        let socket = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_protocol = ETH_P_ALL.to_be();
        address.sll_ifindex = ifindex as i32;
        // SAFETY: `address` is valid for its size; the socket is open.
        let bound = unsafe {
            libc::bind(
                std::os::fd::AsRawFd::as_raw_fd(&socket),
                (&raw const address).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if bound != 0 {
            return Err(std::io::Error::last_os_error()).context(format!("binding to {interface}"));
        }
        let timeout = libc::timeval { tv_sec: 0, tv_usec: 50_000 };
        nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::ReceiveTimeout, &timeout.into())?;
        Ok(PacketSocket { socket })
    }

    /// The first frame received (not sent) on the interface for which
    /// `wanted` holds, waiting up to `timeout`.
    pub fn receive(
        &self,
        timeout: std::time::Duration,
        mut wanted: impl FnMut(&[u8]) -> bool,
    ) -> anyhow::Result<Option<Vec<u8>>> {
        let deadline = std::time::Instant::now() + timeout;
        let mut buffer = vec![0u8; 65536];
        while std::time::Instant::now() < deadline {
            // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
            let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut from_len = size_of::<libc::sockaddr_ll>() as u32;
            // SAFETY: `buffer` and `from` are valid for the lengths given,
            // and the socket is open for the duration of the call.
            let received = unsafe {
                libc::recvfrom(
                    std::os::fd::AsRawFd::as_raw_fd(&self.socket),
                    buffer.as_mut_ptr().cast(),
                    buffer.len(),
                    0,
                    (&raw mut from).cast(),
                    &mut from_len,
                )
            };
            if received < 0 {
                let error = std::io::Error::last_os_error();
                if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted) {
                    continue;
                }
                return Err(error).context("recvfrom(AF_PACKET)");
            }
            let frame = &buffer[..received as usize];
            if from.sll_pkttype != PACKET_OUTGOING && wanted(frame) {
                return Ok(Some(frame.to_vec()));
            }
        }
        Ok(None)
    }
}

/// The interface index of `interface` in `netns` (`ip -j link show`).
pub fn ifindex(netns: &crate::lab::NetNs, interface: &str) -> anyhow::Result<u32> {
    let output = crate::lab::run_stdout(std::process::Command::new("ip").args([
        "-j",
        "-n",
        netns.name(),
        "link",
        "show",
        "dev",
        interface,
    ]))?;
    let json: serde_json::Value = serde_json::from_str(&output)?;
    let index = json[0]["ifindex"].as_u64().with_context(|| format!("no ifindex in {output}"))?;
    Ok(u32::try_from(index)?)
}

/// The MAC address of `interface` in `netns` (`ip -j link show`).
pub fn mac_address(netns: &crate::lab::NetNs, interface: &str) -> anyhow::Result<[u8; 6]> {
    let output = crate::lab::run_stdout(std::process::Command::new("ip").args([
        "-j",
        "-n",
        netns.name(),
        "link",
        "show",
        "dev",
        interface,
    ]))?;
    let json: serde_json::Value = serde_json::from_str(&output)?;
    let text = json[0]["address"].as_str().with_context(|| format!("no address in {output}"))?;
    let mut mac = [0u8; 6];
    for (byte, part) in mac.iter_mut().zip(text.split(':')) {
        *byte = u8::from_str_radix(part, 16)?;
    }
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_header_checksum_verifies_to_zero() {
        let frame = UdpFrame {
            dst_mac: [2, 0, 0, 0, 0, 1],
            src_mac: [2, 0, 0, 0, 0, 2],
            vlans: &[(TPID_8021AD, 100), (TPID_8021Q, 20)],
            src: "192.0.2.2".parse().unwrap(),
            dst: "192.0.2.1".parse().unwrap(),
            ttl: 255,
            src_port: 49152,
            dst_port: 3784,
            payload: &[0xaa; 24],
        }
        .to_bytes();
        assert_eq!(&frame[12..14], &[0x88, 0xa8]);
        assert_eq!(&frame[16..18], &[0x81, 0x00]);
        assert_eq!(&frame[20..22], &[0x08, 0x00]);
        let ip = &frame[22..42];
        assert_eq!(internet_checksum(&[ip]), 0, "a correct header sums to 0");
        assert_eq!(frame.len(), 22 + 20 + 8 + 24);
    }

    #[test]
    fn ipv6_udp_checksum_verifies_to_zero() {
        let payload = [0x55; 24];
        let frame = UdpFrame {
            dst_mac: [2, 0, 0, 0, 0, 1],
            src_mac: [2, 0, 0, 0, 0, 2],
            vlans: &[],
            src: "2001:db8::2".parse().unwrap(),
            dst: "2001:db8::1".parse().unwrap(),
            ttl: 255,
            src_port: 49152,
            dst_port: 3784,
            payload: &payload,
        }
        .to_bytes();
        let ip = &frame[14..54];
        let udp = &frame[54..];
        let len = (udp.len() as u32).to_be_bytes();
        assert_eq!(internet_checksum(&[&ip[8..40], &len, &[0, 0, 0, 17], udp]), 0);
    }
}
