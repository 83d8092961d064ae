//! The bfd-xdp XDP program.
//!
//! This first version observes: it finds BFD packets (control on UDP 3784
//! and 4784, echo on 3785) behind Ethernet, up to two VLAN tags, and IPv4 or
//! IPv6; validates them with the same `bfd-common` code the agent uses
//! (RFC 5880 §6.8.6); and counts the result in the per-CPU `bfd_stats` map.
//! Every frame is passed on (`XDP_PASS`): absorbing, reflecting and
//! detecting come with the per-session maps.
#![no_std]
#![no_main]

mod packet;

use aya_ebpf::{
    bindings::xdp_action, btf_maps::PerCpuArray, macros::btf_map, macros::xdp, programs::XdpContext,
};
use bfd_common::{
    CONTROL_PORT, ECHO_PORT, MULTIHOP_CONTROL_PORT,
    maps::GlobalStats,
    wire::{ControlPacket, EchoPacket, control, echo},
};

use crate::packet::{Frame, UdpPayload};

/// Per-CPU global counters; the agent sums the CPUs.
#[btf_map(name = "bfd_stats")]
static STATS: PerCpuArray<GlobalStats, 1> = PerCpuArray::new();

/// The largest control packet the kernel program inspects: the header and
/// the largest authentication section (keyed SHA1, RFC 5880 §4.4).
const CONTROL_INSPECT_LEN: usize = control::HEADER_LEN + 28;

#[xdp]
pub fn bfd_xdp(ctx: XdpContext) -> u32 {
    // Per-CPU slot: XDP runs with preemption disabled, so plain increments
    // on this CPU's copy cannot race.
    let Some(stats) = STATS.get_ptr_mut(0) else {
        return xdp_action::XDP_PASS;
    };
    // SAFETY: the kernel returned a valid pointer to this CPU's value,
    // which lives as long as the map, and nothing else on this CPU touches
    // it while the program runs.
    let stats = unsafe { &mut *stats };
    stats.frames += 1;

    let frame = Frame::new(&ctx);
    match frame.udp_payload() {
        Some(payload) => count_bfd(&ctx, &payload, stats),
        None => stats.not_bfd += 1,
    }
    xdp_action::XDP_PASS
}

#[inline(always)]
fn count_bfd(ctx: &XdpContext, payload: &UdpPayload, stats: &mut GlobalStats) {
    match payload.dst_port {
        CONTROL_PORT | MULTIHOP_CONTROL_PORT => count_control(ctx, payload, stats),
        ECHO_PORT => count_echo(ctx, payload, stats),
        _ => stats.not_bfd += 1,
    }
}

#[inline(always)]
fn count_control(ctx: &XdpContext, payload: &UdpPayload, stats: &mut GlobalStats) {
    let mut buffer = [0u8; CONTROL_INSPECT_LEN];
    let Some(len) = payload.load(ctx, &mut buffer) else {
        *stats.control_invalid.counter_mut(bfd_common::wire::Error::Truncated) += 1;
        return;
    };
    // A Length the buffer cannot hold is either a lie (more than the UDP
    // payload: invalid) or a packet too big for the fast path.
    let length = usize::from(buffer[3]);
    if length > CONTROL_INSPECT_LEN && length <= payload.len {
        stats.control_oversize += 1;
        return;
    }
    let Some(bytes) = buffer.get(..len) else {
        return;
    };
    match ControlPacket::new_unchecked(bytes).check() {
        Ok(()) => stats.control_valid += 1,
        Err(error) => *stats.control_invalid.counter_mut(error) += 1,
    }
}

#[inline(always)]
fn count_echo(ctx: &XdpContext, payload: &UdpPayload, stats: &mut GlobalStats) {
    let mut buffer = [0u8; echo::PAYLOAD_LEN];
    if payload.load(ctx, &mut buffer) != Some(echo::PAYLOAD_LEN) {
        // Shorter than our payload: not ours, a peer's echo is opaque.
        stats.echo_foreign += 1;
        return;
    }
    match EchoPacket::new_unchecked(&buffer[..]).check() {
        Ok(()) => stats.echo_own += 1,
        Err(bfd_common::wire::Error::EchoBadMagic) => stats.echo_foreign += 1,
        Err(error) => *stats.echo_invalid.counter_mut(error) += 1,
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // No panic path survives to the verifier (it would reject this loop);
    // this exists only because `no_std` binaries must name a handler.
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
