//! The XDP sender program (`bfd_user::xdp_sender`, issue 19), run on each
//! queued frame with plain `BPF_PROG_TEST_RUN`s (root): what it would hand
//! the driver in a live-frame run, frame by frame. Live-frame runs
//! themselves are the bench's (`txpath`), where the kernel allows them.

use bfd_common::maps::XMIT_FRAME_LEN;
use bfd_lab::{
    lab::require_root,
    scenario::{Crafted, LOOPBACK_IFINDEX, control_bytes, steady_repr},
};
use bfd_user::{fastpath::XdpAction, xdp_sender::XdpSender};

/// A frame of `len` bytes none of which is zero or equal to its neighbour,
/// so that a shifted, truncated or stale copy shows.
fn patterned(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|index| (index as u8).wrapping_mul(7).wrapping_add(seed) | 1).collect()
}

#[bfd_lab::test]
fn each_queued_frame_leaves_byte_for_byte_at_its_own_length_and_nothing_after_the_batch() -> anyhow::Result<()>
{
    require_root()?;
    let mut sender = XdpSender::load(LOOPBACK_IFINDEX)?;
    let frames = [
        Crafted::control(control_bytes(&steady_repr())).bytes(),
        patterned(XMIT_FRAME_LEN, 3),
        patterned(14, 5),
        patterned(90, 9),
    ];
    for frame in &frames {
        sender.queue(LOOPBACK_IFINDEX, frame)?;
    }
    let outputs = sender.run_unsent()?;
    assert_eq!(outputs.len(), frames.len() + 1);
    for (index, (frame, output)) in frames.iter().zip(&outputs).enumerate() {
        assert_eq!(output.action, XdpAction::Redirect, "frame {index}");
        assert_eq!(&output.frame, frame, "frame {index} ({} bytes)", frame.len());
    }
    // A run past the batch (the kernel ran the program once too often) has
    // nothing to send.
    assert_eq!(outputs[frames.len()].action, XdpAction::Drop);
    assert_eq!(sender.sent, 0, "nothing was sent");
    Ok(())
}

#[bfd_lab::test]
fn a_frame_shorter_than_ethernet_or_longer_than_a_slot_is_refused() -> anyhow::Result<()> {
    require_root()?;
    let mut sender = XdpSender::load(LOOPBACK_IFINDEX)?;
    assert!(sender.queue(LOOPBACK_IFINDEX, &patterned(13, 1)).is_err());
    assert!(sender.queue(LOOPBACK_IFINDEX, &patterned(XMIT_FRAME_LEN + 1, 1)).is_err());
    // Refused frames take no slot: the next frame is the batch's first.
    let frame = patterned(60, 2);
    sender.queue(LOOPBACK_IFINDEX, &frame)?;
    let outputs = sender.run_unsent()?;
    assert_eq!(outputs.len(), 2);
    assert_eq!((outputs[0].action, &outputs[0].frame), (XdpAction::Redirect, &frame));
    assert_eq!(outputs[1].action, XdpAction::Drop);
    Ok(())
}
