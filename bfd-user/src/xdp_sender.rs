//! Frames sent by the XDP sender program (issue 19): one
//! `BPF_PROG_TEST_RUN` in live-frame mode (`BPF_F_TEST_XDP_LIVE_FRAMES`,
//! Linux 5.18) sends a whole batch, each frame handed to the driver's
//! `ndo_xdp_xmit`: no socket, no skb, no IP output, no qdisc. The frames
//! are written into the program's batch map through a shared mapping, so a
//! batch costs one system call and no copy through `sendmmsg`'s message
//! headers. See `bfd_common::maps::XMIT_PROGRAM` for the program's side.
//!
//! What such frames skip is also what would show them: they meet no
//! netfilter hook and no packet socket on the sending host (a capture there
//! sees nothing; one on the far end or the wire does), and the interface
//! must accept XDP frames (`ndo_xdp_xmit`: most 10G+ drivers, and a veth
//! whose peer runs an XDP program).

use std::{io, os::fd::AsFd as _, path::Path};

use aya::{
    Ebpf, EbpfLoader,
    maps::Map,
    programs::{ProgramError, TestRun as _, TestRunAttrs, TestRunOptions},
};
use bfd_common::maps::{
    XMIT_BATCH_FRAMES, XMIT_BATCH_MAP, XMIT_FRAME_LEN, XMIT_PROGRAM, XmitBatch, XmitFrame,
};

use crate::fastpath::{
    EBPF_OBJECT, FastPathError, MappedArray, TestRunOutput, XdpAction, load_program, xdp_md, xdp_program,
};

/// The sender program loaded (not attached), its batch mapped.
pub struct XdpSender {
    ebpf: Ebpf,
    batch: MappedArray<XmitBatch>,
    /// The interface the test run pretends the frames arrived on: it must
    /// exist in the calling thread's network namespace; the frames'
    /// redirects are looked up in that namespace.
    ingress_ifindex: u32,
    /// Frames queued since the last flush.
    queued: usize,
    /// Frames handed to the kernel.
    pub sent: u64,
    /// Runs that failed (their frames are lost, as a full socket buffer
    /// loses them on the other paths).
    pub failed_runs: u64,
}

impl XdpSender {
    /// Loads the sender program and maps its batch. `ingress_ifindex`: any
    /// interface of the calling thread's network namespace (the loopback's
    /// index, 1, always exists).
    pub fn load(ingress_ifindex: u32) -> Result<XdpSender, FastPathError> {
        if EBPF_OBJECT.is_empty() {
            return Err(FastPathError::NoObject);
        }
        let mut ebpf = EbpfLoader::new().load(EBPF_OBJECT)?;
        load_program(&mut ebpf, XMIT_PROGRAM)?;
        let batch = match ebpf.map(XMIT_BATCH_MAP) {
            Some(Map::Array(data)) => MappedArray::new(data.fd().as_fd(), Path::new(XMIT_BATCH_MAP))?,
            _ => {
                return Err(FastPathError::Program {
                    action: format!("finding the array {XMIT_BATCH_MAP} in the object"),
                    source: ProgramError::NotLoaded,
                });
            }
        };
        Ok(XdpSender { ebpf, batch, ingress_ifindex, queued: 0, sent: 0, failed_runs: 0 })
    }

    /// Queues `frame` (from the Ethernet header on, at most
    /// `XMIT_FRAME_LEN` bytes) for interface `ifindex`, sending the batch
    /// first if it is full. A frame too short or too long is refused.
    pub fn queue(&mut self, ifindex: u32, frame: &[u8]) -> Result<(), FastPathError> {
        if frame.len() < 14 || frame.len() > XMIT_FRAME_LEN {
            return Err(FastPathError::Io {
                action: "queueing a frame for",
                path: XMIT_PROGRAM.into(),
                source: io::Error::other(format!(
                    "a frame of {} bytes (14 to {XMIT_FRAME_LEN})",
                    frame.len()
                )),
            });
        }
        if self.queued == XMIT_BATCH_FRAMES {
            self.flush()?;
        }
        // SAFETY: the mapping is live while `self` is, and the kernel reads
        // it only during `flush`'s system call, which this thread makes:
        // the slot is written with no reader.
        let slot: &mut XmitFrame = unsafe { &mut (*self.batch.as_ptr()).frames[self.queued] };
        slot.ifindex = ifindex;
        slot.len = frame.len() as u32;
        slot.bytes[..frame.len()].copy_from_slice(frame);
        self.queued += 1;
        Ok(())
    }

    /// Sends every queued frame: one live-frame test run of the program,
    /// once per frame.
    pub fn flush(&mut self) -> Result<(), FastPathError> {
        if self.queued == 0 {
            return Ok(());
        }
        let count = self.queued;
        self.queued = 0;
        match self.run(0, count as u32, true) {
            Ok(_) => {
                self.sent += count as u64;
                Ok(())
            }
            Err(error) => {
                self.failed_runs += 1;
                Err(error)
            }
        }
    }

    /// Whether this kernel runs the program in live-frame mode: one run on
    /// an empty batch (the program drops its frame; nothing is sent). Some
    /// kernels refuse the mode (`EPERM`, seen on a sandboxed 6.18 where
    /// plain test runs work).
    pub fn probe(&mut self) -> Result<(), FastPathError> {
        let queued = std::mem::take(&mut self.queued);
        let result = self.run(0, 1, true).map(|_| ());
        self.queued = queued;
        result
    }

    /// Runs the program on each queued frame without sending it (a plain
    /// test run per frame) and returns its verdict and the frame it would
    /// have sent; the queue is emptied. For tests: what `flush` hands to
    /// the driver, frame by frame.
    pub fn run_unsent(&mut self) -> Result<Vec<TestRunOutput>, FastPathError> {
        let count = std::mem::take(&mut self.queued) as u32;
        // One run past the batch: the program must refuse to send it.
        (0..=count).map(|index| self.run(index, count, false)).collect()
    }

    /// Runs the program from frame `first` of a batch of `count`: `live`,
    /// `count - first` times on live frames; else once, returning the frame.
    fn run(&mut self, first: u32, count: u32, live: bool) -> Result<TestRunOutput, FastPathError> {
        // SAFETY: as in `queue`: the kernel reads the batch only during the
        // system call below, which this thread makes.
        unsafe {
            let batch = self.batch.as_ptr();
            (*batch).count = count;
            (*batch).first = first;
            (*batch).sequence = (*batch).sequence.wrapping_add(1);
        }
        let program = xdp_program(&self.ebpf, XMIT_PROGRAM)?;
        let ctx = xdp_md(XMIT_FRAME_LEN as u32, self.ingress_ifindex);
        let input = [0u8; XMIT_FRAME_LEN];
        // Live mode takes no output buffer (the frames leave).
        let mut output = [0u8; XMIT_FRAME_LEN];
        let options = if live {
            TestRunOptions {
                data_in: Some(&input),
                ctx_in: Some(&ctx),
                repeat: count.saturating_sub(first).max(1),
                attrs: TestRunAttrs::new().xdp_live_frames(XMIT_BATCH_FRAMES as u32),
                ..TestRunOptions::default()
            }
        } else {
            TestRunOptions {
                data_in: Some(&input),
                data_out: Some(&mut output),
                ctx_in: Some(&ctx),
                ..TestRunOptions::default()
            }
        };
        let result = program.test_run(options).map_err(FastPathError::TestRun)?;
        let len = (result.data_size_out as usize).min(XMIT_FRAME_LEN);
        Ok(TestRunOutput {
            action: XdpAction::from(result.return_value),
            frame: if live { Vec::new() } else { output[..len].to_vec() },
            duration: result.duration,
        })
    }
}
