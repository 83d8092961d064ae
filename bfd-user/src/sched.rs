//! Real-time scheduling of the calling thread: SCHED_FIFO or
//! SCHED_DEADLINE (with locked memory for the agent's engine), so that on
//! a starved node the thread that sends BFD packets and reads the kernel's
//! detection events still runs on time. The benchmarks' stall probe uses
//! the same calls.

use crate::config::{DeadlineBudget, EngineScheduling};
use tracing::{info, warn};

/// `SCHED_DEADLINE` (include/uapi/linux/sched.h); libc has no constant.
const SCHED_DEADLINE: u32 = 6;
/// `SCHED_FLAG_RESET_ON_FORK`: a thread or process started from the
/// engine thread gets normal scheduling. Without it the kernel refuses to
/// clone a SCHED_DEADLINE task at all (EAGAIN).
const SCHED_FLAG_RESET_ON_FORK: u64 = 0x01;

/// `struct sched_attr` as of its first version (SCHED_ATTR_SIZE_VER0, 48
/// bytes), the fields SCHED_DEADLINE needs; times in ns.
#[repr(C)]
struct SchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
}

/// Applies `scheduling` to the calling thread. A policy the kernel
/// refuses (no CAP_SYS_NICE; for SCHED_DEADLINE also EBUSY, when admission
/// control finds no bandwidth left) is logged and the thread runs
/// normally: BFD still works, less precisely under load.
pub fn apply_to_current_thread(scheduling: EngineScheduling) {
    // Wake up when asked, not up to 50 µs later (the default timer slack).
    // SAFETY: prctl(PR_SET_TIMERSLACK) takes an integer and touches no memory.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1, 0, 0, 0) };
    let result = match scheduling {
        EngineScheduling::Normal => return,
        EngineScheduling::Fifo(priority) => set_fifo(priority),
        EngineScheduling::Deadline(budget) => set_deadline(budget),
    };
    match result {
        Ok(()) => info!(%scheduling, "engine thread scheduling"),
        Err(error) => {
            warn!(%scheduling, %error, "the kernel refused the engine thread's scheduling; it runs normally");
            return;
        }
    }
    // SAFETY: mlockall takes flags and touches no memory of ours.
    if unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } != 0 {
        warn!(error = %std::io::Error::last_os_error(), "mlockall refused; memory may be paged out");
    }
}

/// Runs the calling thread SCHED_FIFO at `priority` (1 to 99).
pub fn set_fifo(priority: u8) -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: i32::from(priority) };
    // SAFETY: sched_setscheduler on the calling thread (pid 0) with a valid
    // sched_param that outlives the call.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Runs the calling thread SCHED_DEADLINE with `budget` (its deadline is
/// its period); threads and processes it starts get normal scheduling.
pub fn set_deadline(budget: DeadlineBudget) -> std::io::Result<()> {
    let period_ns = budget.period.as_nanos() as u64;
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        sched_policy: SCHED_DEADLINE,
        sched_flags: SCHED_FLAG_RESET_ON_FORK,
        sched_nice: 0,
        sched_priority: 0,
        sched_runtime: budget.runtime.as_nanos() as u64,
        // The deadline is the period: a wake-up's work is due before the
        // next one's.
        sched_deadline: period_ns,
        sched_period: period_ns,
    };
    // SAFETY: sched_setattr(2) on the calling thread (pid 0) reads `size`
    // bytes of `attr`, which is a complete, initialised SCHED_ATTR_SIZE_VER0
    // struct that outlives the call; flags 0.
    let result = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    if result != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sched_attr_is_the_kernels_first_version() {
        // SCHED_ATTR_SIZE_VER0 in include/uapi/linux/sched/types.h.
        assert_eq!(std::mem::size_of::<SchedAttr>(), 48);
    }
}
