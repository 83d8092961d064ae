//! The sender (issue 19): an XDP program never attached to an interface,
//! run by the agent with `BPF_PROG_TEST_RUN` in live-frame mode
//! (`BPF_F_TEST_XDP_LIVE_FRAMES`, kernel 5.18). The kernel runs it once per
//! frame of a batch on a fresh frame of its own page pool, and sends the
//! frames it redirects through the target driver's `ndo_xdp_xmit`: no
//! socket, no skb, no IP output, no qdisc, one system call a batch.
//!
//! The agent writes the batch's frames into [`XMIT_BATCH`] (a shared
//! mapping, no system call) and runs the program `count` times on an
//! input of [`XMIT_FRAME_LEN`] bytes; each run copies the next frame over
//! the kernel's, trims it to its length and redirects it.

use aya_ebpf::{
    bindings::{BPF_F_MMAPABLE, xdp_action},
    btf_maps::{Array, PerCpuArray},
    helpers::{bpf_redirect, bpf_xdp_adjust_tail},
    macros::{btf_map, xdp},
    programs::XdpContext,
};
use bfd_common::maps::{XMIT_BATCH_FRAMES, XMIT_FRAME_LEN, XmitBatch, XmitCursor};

/// The batch the agent fills before each run.
#[btf_map(name = "bfd_xmit_batch")]
static XMIT_BATCH: Array<XmitBatch, 1, { BPF_F_MMAPABLE as usize }> = Array::new();

/// The program's place in the batch, per CPU (a test run stays on one).
#[btf_map(name = "bfd_xmit_cursor")]
static XMIT_CURSOR: PerCpuArray<XmitCursor, 1> = PerCpuArray::new();

/// The Ethernet header: a frame shorter than this is not one.
const ETHERNET_HEADER_LEN: u32 = 14;

#[xdp]
pub fn bfd_xmit(ctx: XdpContext) -> u32 {
    let (Some(batch), Some(cursor)) = (XMIT_BATCH.get_ptr(0), XMIT_CURSOR.get_ptr_mut(0)) else {
        return xdp_action::XDP_ABORTED;
    };
    // SAFETY: the kernel returned valid pointers to the batch (which the
    // agent does not write while its test run runs: it waits for the system
    // call) and to this CPU's cursor (nothing else runs on this CPU's value
    // meanwhile: test runs disable migration, XDP preemption).
    let (batch, cursor) = unsafe { (&*batch, &mut *cursor) };
    if cursor.sequence != batch.sequence {
        cursor.sequence = batch.sequence;
        cursor.next = batch.first;
    }
    let index = cursor.next as usize;
    cursor.next += 1;
    if index >= batch.count as usize || index >= XMIT_BATCH_FRAMES {
        // More runs than frames: the agent's mistake; nothing to send.
        return xdp_action::XDP_DROP;
    }
    let frame = &batch.frames[index];
    if frame.len < ETHERNET_HEADER_LEN || frame.len as usize > XMIT_FRAME_LEN {
        return xdp_action::XDP_DROP;
    }
    let (start, end) = (ctx.data(), ctx.data_end());
    if start + XMIT_FRAME_LEN > end {
        return xdp_action::XDP_DROP;
    }
    // SAFETY: the kernel's frame holds at least XMIT_FRAME_LEN bytes from
    // `start` (checked just above, which is also what the verifier needs);
    // the source is a whole array inside a live map value. Byte arrays have
    // no alignment.
    unsafe {
        core::ptr::copy_nonoverlapping(frame.bytes.as_ptr(), start as *mut u8, XMIT_FRAME_LEN);
    }
    // The input frame is XMIT_FRAME_LEN long (the agent's contract): trim
    // it to this frame's length. A frame of the full length needs no call.
    let trim = frame.len as i32 - XMIT_FRAME_LEN as i32;
    // SAFETY: `ctx.ctx` is the program's own context.
    if trim != 0 && unsafe { bpf_xdp_adjust_tail(ctx.ctx, trim) } != 0 {
        return xdp_action::XDP_DROP;
    }
    // SAFETY: a helper call on plain values.
    unsafe { bpf_redirect(frame.ifindex, 0) as u32 }
}
