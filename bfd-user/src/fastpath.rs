//! The kernel fast path: the XDP program and its pinned maps.
//!
//! Everything is pinned under one bpffs directory per agent instance
//! (default [`DEFAULT_PIN_DIR`]): each map under its own name, and the XDP
//! link as `link_<interface>`. A pinned link keeps the program attached after
//! the process that attached it exits; removing the pin detaches it. That
//! lets operators inspect the maps with `bpftool map dump pinned <dir>/<map>`
//! and lets tests attach in one process and read in another.
//!
//! The agent drives the program through [`FastPath`] (sessions and the echo
//! allowlist, written into the pinned maps) and [`Events`] (the detection
//! events of the kernel's timers, read from the pinned ring buffer).
//! [`load_unattached`] loads the program without attaching it, to run it on
//! crafted frames with `BPF_PROG_TEST_RUN` (tests, benchmarks).

use std::{
    fs, io,
    net::IpAddr,
    os::fd::{AsFd, BorrowedFd},
    path::{Path, PathBuf},
    time::Duration,
};

use aya::{
    Ebpf, EbpfLoader,
    maps::{HashMap, IterableMap as _, Map, MapData, MapError, PerCpuArray, RingBuf},
    programs::{ProgramError, TestRun as _, TestRunOptions, Xdp, XdpMode, links::FdLink},
};
pub use bfd_common::maps::DEFAULT_PIN_DIR;
use bfd_common::maps::{
    DetectEvent, ECHO_PEERS_MAP, ECHO_TIMER_MAP, EVENTS_MAP, EchoPeerKey, EchoTimer, GlobalStats,
    KEEPALIVE_MAP, KEEPALIVE_STATE_MAP, Keepalive, KeepaliveState, LEASE_MAP, Lease, SESSION_CONFIG_MAP,
    SESSION_STATE_MAP, STATS_MAP, SWEEP_PROGRAM, SWEEP_STARTED, SWEEP_TIMER_KEY, SessionConfig, SessionState,
    XDP_PROGRAM, XMIT_BATCH_MAP, XMIT_CURSOR_MAP, address,
};
use nix::{
    mount::{MsFlags, mount},
    poll::{PollFd, PollFlags, PollTimeout, poll},
    sys::statfs::{BPF_FS_MAGIC, statfs},
};

/// The XDP program, compiled for `bpfel-unknown-none` with BTF by the build
/// script. Empty when the agent was built with `AYA_BUILD_SKIP=1`.
pub(crate) static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/bfd-ebpf"));

/// How to attach the XDP program.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AttachMode {
    /// Native (driver) mode, falling back to generic mode if the driver
    /// refuses.
    #[default]
    Auto,
    /// Native (driver) mode only.
    Native,
    /// Generic (SKB) mode only: slower, works on every interface.
    Generic,
}

/// The mode the program actually runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachedMode {
    /// Native (driver) XDP.
    Native,
    /// Generic (SKB) XDP.
    Generic,
}

impl std::fmt::Display for AttachedMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AttachedMode::Native => "native",
            AttachedMode::Generic => "generic",
        })
    }
}

/// Why the fast path could not be set up or read.
#[derive(Debug, thiserror::Error)]
pub enum FastPathError {
    /// The agent was built without its XDP program.
    #[error(
        "this bfd-agent was built without its XDP program (AYA_BUILD_SKIP was set); rebuild it \
         with `cargo xtask build`"
    )]
    NoObject,
    /// bpffs is not mounted where pins go, and mounting it failed.
    #[error("cannot mount bpffs at {path}: {source} (pins need a BPF filesystem; are we root?)")]
    Bpffs {
        /// Mount point tried.
        path: PathBuf,
        /// Why mounting failed.
        source: nix::Error,
    },
    /// The pin directory is not inside a BPF filesystem.
    #[error("{0} is not on a BPF filesystem (bpffs); choose a pin path under /sys/fs/bpf")]
    NotBpffs(PathBuf),
    /// The pins would vanish with this process (see [`crate::bpffs`]).
    #[error(transparent)]
    PinsWouldVanish(crate::bpffs::CheckError),
    /// Something is pinned there already.
    #[error(
        "{0} already holds pinned objects: another bfd-agent uses it, or a previous one was not \
         detached. Run `bfd-agent xdp detach --pin-path {0}` or choose another --pin-path"
    )]
    PinDirInUse(PathBuf),
    /// A file operation in the pin directory failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The object could not be parsed or its maps created.
    #[error("loading the eBPF object failed: {0}")]
    Load(#[from] aya::EbpfError),
    /// The kernel's verifier rejected the program.
    #[error(
        "the kernel's verifier rejected the XDP program (a bug in bfd-xdp, or a kernel older than \
         it supports); the end of the verifier's log:\n{log_tail}"
    )]
    Verifier {
        /// The last lines of the verifier log.
        log_tail: String,
    },
    /// A program operation other than verification failed.
    #[error("{action}: {source}")]
    Program {
        /// What was being done.
        action: String,
        /// The error.
        source: ProgramError,
    },
    /// Attaching to the interface failed in every allowed mode.
    #[error("cannot attach XDP to {iface}: {reason}")]
    Attach {
        /// The interface.
        iface: String,
        /// Every mode tried and why it failed.
        reason: String,
    },
    /// Pinning an object failed.
    #[error("pinning {path}: {source}")]
    Pin {
        /// The pin path.
        path: PathBuf,
        /// The error.
        source: aya::pin::PinError,
    },
    /// A pinned map could not be opened or read.
    #[error("reading map {path}: {source} (is the program attached with this --pin-path?)")]
    Map {
        /// The pin path.
        path: PathBuf,
        /// The error.
        source: aya::maps::MapError,
    },
    /// Writing or deleting an element of a pinned map failed.
    #[error("{action} in map {map}: {source}")]
    MapWrite {
        /// The map's name.
        map: &'static str,
        /// What was being done.
        action: String,
        /// The error.
        source: aya::maps::MapError,
    },
    /// Waiting for the event ring buffer failed.
    #[error("waiting for events: {0}")]
    Poll(nix::Error),
    /// The ring buffer held a record that is not a [`DetectEvent`]: the
    /// program and the agent were built from different sources.
    #[error(
        "an event of {0} bytes in {EVENTS_MAP}, expected {size} (a program from another build?)",
        size = size_of::<DetectEvent>()
    )]
    BadEvent(usize),
    /// Running the program with `BPF_PROG_TEST_RUN` failed.
    #[error("BPF_PROG_TEST_RUN")]
    TestRun(#[source] ProgramError),
    /// The sweep ([`SWEEP_PROGRAM`]) could not be started.
    #[error(
        "starting the kernel's sweep for sessions whose timer does not run failed {tries} times ({outcome})"
    )]
    SweepNotStarted {
        /// How often it was tried.
        tries: u32,
        /// What the last try returned.
        outcome: String,
    },
}

/// The XDP program, attached and pinned.
pub struct Attached {
    /// The interface it is attached to (the first, if several).
    pub iface: String,
    /// The mode it runs in (on the first interface, if several).
    pub mode: AttachedMode,
    /// Every interface it is attached to, with its mode.
    pub interfaces: Vec<(String, AttachedMode)>,
    /// Where its maps and link are pinned.
    pub pin_dir: PathBuf,
    /// The pinned names, maps first, links last.
    pub pinned: Vec<PathBuf>,
}

/// Loads the embedded XDP program, attaches it to `iface` and pins its maps
/// and link under `pin_dir`, which must be empty or absent.
///
/// After this returns, the program stays attached until [`detach`] (or the
/// interface goes away), whether or not this process keeps running.
pub fn attach(iface: &str, pin_dir: &Path, mode: AttachMode) -> Result<Attached, FastPathError> {
    attach_interfaces(&[iface], pin_dir, mode)
}

/// [`attach`] for several interfaces: one program and one set of maps
/// (sessions on every interface share them), a pinned link per interface.
/// All or nothing: if one interface fails, nothing stays attached.
pub fn attach_interfaces(
    ifaces: &[&str],
    pin_dir: &Path,
    mode: AttachMode,
) -> Result<Attached, FastPathError> {
    if EBPF_OBJECT.is_empty() {
        return Err(FastPathError::NoObject);
    }
    let Some(first) = ifaces.first() else {
        return Err(FastPathError::Attach { iface: String::new(), reason: "no interface given".into() });
    };
    let mounted_bpffs = prepare_pin_dir(pin_dir)?;
    // A link pinned where nobody outside this process's mount namespace
    // sees it is detached when that namespace dies: refuse rather than
    // report an attachment that vanishes.
    if let Err(error) = crate::bpffs::check(pin_dir, mounted_bpffs.is_some()) {
        let _ = fs::remove_dir(pin_dir);
        if let Some(mount_point) = mounted_bpffs {
            let _ = nix::mount::umount2(mount_point, nix::mount::MntFlags::MNT_DETACH);
        }
        return Err(FastPathError::PinsWouldVanish(error));
    }
    // Until the links are pinned nothing outlives this process but the map
    // pins; if any step fails, remove what was pinned and the directory, so
    // that a retry with the same pin path does not find it in use.
    let mut pinned = Vec::new();
    match load_attach_and_pin(ifaces, pin_dir, mode, &mut pinned) {
        Ok(interfaces) => Ok(Attached {
            iface: (*first).to_owned(),
            mode: interfaces[0].1,
            interfaces,
            pin_dir: pin_dir.to_owned(),
            pinned,
        }),
        Err(error) => {
            for path in &pinned {
                let _ = fs::remove_file(path);
            }
            let _ = fs::remove_dir(pin_dir);
            Err(error)
        }
    }
}

/// Loads the program, attaches it to each interface, and pins maps and
/// links (recording each pin in `pinned`). Dropping the `Ebpf` at the end
/// closes this process's descriptors; the pins keep everything alive.
fn load_attach_and_pin(
    ifaces: &[&str],
    pin_dir: &Path,
    mode: AttachMode,
    pinned: &mut Vec<PathBuf>,
) -> Result<Vec<(String, AttachedMode)>, FastPathError> {
    let mut ebpf = EbpfLoader::new().load(EBPF_OBJECT)?;
    let program = load_program(&mut ebpf, XDP_PROGRAM)?;
    let mut links = Vec::new();
    let mut interfaces = Vec::new();
    for iface in ifaces {
        let (link_id, attached_mode) = attach_with_fallback(program, iface, mode)?;
        // Owned by this process until pinned: if pinning fails, dropping it
        // detaches the program.
        let link = program
            .take_link(link_id)
            .map_err(|source| FastPathError::Program { action: "taking the XDP link".into(), source })?;
        let link = FdLink::try_from(link).map_err(|error| FastPathError::Attach {
            iface: (*iface).to_owned(),
            reason: format!("the kernel attached without a BPF link, which cannot be pinned: {error}"),
        })?;
        links.push((*iface, link));
        interfaces.push(((*iface).to_owned(), attached_mode));
    }
    pin_maps(&ebpf, pin_dir, pinned)?;
    for (iface, link) in links {
        let link_path = pin_dir.join(link_pin_name(iface));
        link.pin(&link_path).map_err(|source| FastPathError::Pin { path: link_path.clone(), source })?;
        pinned.push(link_path);
    }
    Ok(interfaces)
}

/// The agent's lease (issue 17), written through a shared mapping of the
/// pinned `bfd_lease` array: renewing it is a store to memory, no system
/// call, so the engine renews it on every wake.
pub struct LeaseMap {
    lease: MappedArray<Lease>,
}

impl LeaseMap {
    /// Maps the lease pinned under `pin_dir` and sets how long the kernel
    /// answers for the agent once the lease expires (zero: never).
    pub fn open(pin_dir: &Path, max_absence: Duration) -> Result<LeaseMap, FastPathError> {
        let path = pin_dir.join(LEASE_MAP);
        let data =
            MapData::from_pin(&path).map_err(|source| FastPathError::Map { path: path.clone(), source })?;
        let lease = MappedArray::new(data.fd().as_fd(), &path)?;
        let map = LeaseMap { lease };
        // SAFETY: the mapping is live and page-aligned, so aligned for Lease.
        unsafe {
            (&raw mut (*map.lease.as_ptr()).max_absence_ns)
                .write_volatile(u64::try_from(max_absence.as_nanos()).unwrap_or(u64::MAX));
        }
        Ok(map)
    }

    /// Until when the last agent to renew the lease said it ran
    /// (`CLOCK_MONOTONIC` ns; 0: never).
    pub fn valid_until(&self) -> u64 {
        // SAFETY: the mapping is live while `self` is; one aligned 64-bit
        // load.
        unsafe { (&raw const (*self.lease.as_ptr()).valid_until_ns).read_volatile() }
    }

    /// The agent runs until `valid_until_ns` (`CLOCK_MONOTONIC`).
    pub fn renew(&mut self, valid_until_ns: u64) {
        // SAFETY: the mapping is live while `self` is; one aligned 64-bit
        // store, which the program reads with one load.
        unsafe { (&raw mut (*self.lease.as_ptr()).valid_until_ns).write_volatile(valid_until_ns) };
    }
}

/// A shared, read-write mapping of a `BPF_F_MMAPABLE` array's value area,
/// read as one `T` from its start (a lease, a batch of frames), unmapped on
/// drop. The mapping holds its own reference on the map, so it outlives the
/// descriptor it was made from. Reads and writes through [`as_ptr`] are the
/// holder's `unsafe` (the kernel's program shares the memory).
///
/// [`as_ptr`]: MappedArray::as_ptr
pub(crate) struct MappedArray<T> {
    value: std::ptr::NonNull<T>,
    len: usize,
}

// SAFETY: the mapping is process memory like any other; whoever owns the
// handle owns the mapping (the raw pointer is what keeps the type from
// being Send).
unsafe impl<T: Send> Send for MappedArray<T> {}

impl<T> MappedArray<T> {
    /// Maps the array behind `fd` (`path`: what errors name it by): one `T`
    /// rounded up to whole pages, which the array's value area must cover.
    pub(crate) fn new(fd: std::os::fd::BorrowedFd<'_>, path: &Path) -> Result<MappedArray<T>, FastPathError> {
        use std::os::fd::AsRawFd as _;
        let len = size_of::<T>().next_multiple_of(4096);
        // SAFETY: a new shared mapping (the address is the kernel's choice,
        // so nothing existing is replaced) of a valid descriptor; the result
        // is checked before use.
        let address = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        let mapping_error = |source| FastPathError::Io { action: "mapping", path: path.to_owned(), source };
        if address == libc::MAP_FAILED {
            return Err(mapping_error(io::Error::last_os_error()));
        }
        // Page-aligned, so aligned for any `T` a map value can hold.
        let value = std::ptr::NonNull::new(address.cast::<T>())
            .ok_or_else(|| mapping_error(io::Error::other("null mapping")))?;
        Ok(MappedArray { value, len })
    }

    /// The mapped `T`, valid while `self` is.
    pub(crate) fn as_ptr(&self) -> *mut T {
        self.value.as_ptr()
    }
}

impl<T> Drop for MappedArray<T> {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `new` made, once.
        unsafe { libc::munmap(self.value.as_ptr().cast(), self.len) };
    }
}

/// Replaces the program running behind the links pinned under `pin_dir`
/// for `ifaces` with this build's, atomically (`bpf_link_update`: no
/// packet meets no program), keeping the pinned maps: the sessions' entries
/// and running timers stay. For an agent adopting what an earlier one
/// left, once the map layout is known to be this build's.
pub fn replace_program(pin_dir: &Path, ifaces: &[&str]) -> Result<(), FastPathError> {
    let mut ebpf = load_on_pinned_maps(pin_dir)?;
    let program = load_program(&mut ebpf, XDP_PROGRAM)?;
    for iface in ifaces {
        let path = pin_dir.join(link_pin_name(iface));
        let link =
            aya::programs::links::PinnedLink::from_pin(&path).map_err(|error| FastPathError::Attach {
                iface: (*iface).to_owned(),
                reason: format!("opening the pinned link {}: {error}", path.display()),
            })?;
        let link = aya::programs::xdp::XdpLink::try_from(FdLink::from(link)).map_err(|error| {
            FastPathError::Attach {
                iface: (*iface).to_owned(),
                reason: format!("the pinned link {} is not an XDP link: {error}", path.display()),
            }
        })?;
        program.attach_to_link(link).map_err(|source| FastPathError::Program {
            action: format!("replacing the program on {iface}"),
            source,
        })?;
    }
    // Dropping `ebpf` closes this process's descriptors; the pinned links
    // hold the new program, the pins the maps.
    Ok(())
}

/// The maps a program loaded beside a running one shares with it: the
/// sessions', the timers', the events', the lease's and the statistics'.
const SHARED_MAPS: [&str; 9] = [
    STATS_MAP,
    SESSION_CONFIG_MAP,
    SESSION_STATE_MAP,
    ECHO_TIMER_MAP,
    ECHO_PEERS_MAP,
    EVENTS_MAP,
    LEASE_MAP,
    KEEPALIVE_MAP,
    KEEPALIVE_STATE_MAP,
];

/// The embedded object, its [`SHARED_MAPS`] the ones pinned under
/// `pin_dir` rather than new ones; no program loaded yet.
fn load_on_pinned_maps(pin_dir: &Path) -> Result<Ebpf, FastPathError> {
    if EBPF_OBJECT.is_empty() {
        return Err(FastPathError::NoObject);
    }
    let paths: Vec<PathBuf> = SHARED_MAPS.iter().map(|name| pin_dir.join(name)).collect();
    let mut loader = EbpfLoader::new();
    for (name, path) in SHARED_MAPS.iter().zip(&paths) {
        loader.map_pin_path(name, path.as_path());
    }
    Ok(loader.load(EBPF_OBJECT)?)
}

/// How often [`FastPath::start_sweep`] runs [`SWEEP_PROGRAM`] before
/// giving up.
const SWEEP_TRIES: u32 = 20;

/// The XDP program `name` of `ebpf`, loaded into the kernel (verified).
pub(crate) fn load_program<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut Xdp, FastPathError> {
    let program: &mut Xdp = ebpf
        .program_mut(name)
        .ok_or_else(|| FastPathError::Program {
            action: format!("finding program {name} in the object"),
            source: ProgramError::NotLoaded,
        })?
        .try_into()
        .map_err(|source| FastPathError::Program {
            action: format!("{name} is not an XDP program"),
            source,
        })?;
    program.load().map_err(verifier_error)?;
    Ok(program)
}

/// Pins every map of `ebpf` under `pin_dir` by its name.
fn pin_maps(ebpf: &Ebpf, pin_dir: &Path, pinned: &mut Vec<PathBuf>) -> Result<(), FastPathError> {
    for (name, map) in ebpf.maps() {
        // aya also lists the object's data sections (.rodata, .bss) as maps;
        // only named maps are for operators.
        if name.starts_with('.') {
            continue;
        }
        // The sender's batch and cursor belong to the sender program, which
        // loads the object on its own (`xdp_sender`): this instance's are
        // unused.
        if name == XMIT_BATCH_MAP || name == XMIT_CURSOR_MAP {
            continue;
        }
        let path = pin_dir.join(name);
        map.pin(&path).map_err(|source| FastPathError::Pin { path: path.clone(), source })?;
        pinned.push(path);
    }
    Ok(())
}

/// The XDP program loaded into the kernel (so verified) but attached to no
/// interface, its maps pinned under a pin directory: for running it on
/// crafted frames with `BPF_PROG_TEST_RUN` ([`Unattached::run`]) in tests
/// and benchmarks, while [`FastPath`] configures it through the pins.
/// Dropping it closes the program; the map pins stay until removed.
pub struct Unattached {
    ebpf: Ebpf,
    /// The pins, maps only.
    pub pinned: Vec<PathBuf>,
}

/// What one `BPF_PROG_TEST_RUN` returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRunOutput {
    /// The program's verdict (`xdp_action`): see [`XdpAction`].
    pub action: XdpAction,
    /// The frame as the program left it.
    pub frame: Vec<u8>,
    /// The kernel's measure of one run: the total time of all repeats
    /// divided by their number.
    pub duration: Duration,
}

/// An XDP program's verdict (`enum xdp_action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpAction {
    /// `XDP_ABORTED` (0).
    Aborted,
    /// `XDP_DROP` (1).
    Drop,
    /// `XDP_PASS` (2).
    Pass,
    /// `XDP_TX` (3).
    Tx,
    /// `XDP_REDIRECT` (4).
    Redirect,
    /// Any other value.
    Other(u32),
}

impl From<u32> for XdpAction {
    fn from(value: u32) -> XdpAction {
        match value {
            0 => XdpAction::Aborted,
            1 => XdpAction::Drop,
            2 => XdpAction::Pass,
            3 => XdpAction::Tx,
            4 => XdpAction::Redirect,
            other => XdpAction::Other(other),
        }
    }
}

/// Loads the embedded XDP program without attaching it and pins its maps
/// under `pin_dir`, which must be empty or absent. See [`Unattached`].
pub fn load_unattached(pin_dir: &Path) -> Result<Unattached, FastPathError> {
    if EBPF_OBJECT.is_empty() {
        return Err(FastPathError::NoObject);
    }
    prepare_pin_dir(pin_dir)?;
    let mut pinned = Vec::new();
    let loaded = EbpfLoader::new().load(EBPF_OBJECT).map_err(FastPathError::from).and_then(|mut ebpf| {
        load_program(&mut ebpf, XDP_PROGRAM)?;
        pin_maps(&ebpf, pin_dir, &mut pinned)?;
        Ok(ebpf)
    });
    match loaded {
        Ok(ebpf) => Ok(Unattached { ebpf, pinned }),
        Err(error) => {
            for path in &pinned {
                let _ = fs::remove_file(path);
            }
            let _ = fs::remove_dir(pin_dir);
            Err(error)
        }
    }
}

impl Unattached {
    /// Runs the program `repeat` times (at least once) on `frame` with
    /// `BPF_PROG_TEST_RUN`, as if it had arrived on interface
    /// `ingress_ifindex` (0: none; otherwise it must exist in the calling
    /// thread's network namespace, the kernel looks its receive queue up;
    /// frames shorter than 14 bytes are refused). The repeats of one call
    /// run on the same buffer: a program that rewrites the frame (the echo
    /// reflector) sees its own output from the second repeat on. Map
    /// updates persist.
    pub fn run(
        &self,
        frame: &[u8],
        ingress_ifindex: u32,
        repeat: u32,
    ) -> Result<TestRunOutput, FastPathError> {
        let program = xdp_program(&self.ebpf, XDP_PROGRAM)?;
        let ctx = xdp_md(u32::try_from(frame.len()).unwrap_or(u32::MAX), ingress_ifindex);
        // XDP_TX output is the input frame modified in place; 256 bytes of
        // slack in case a future program grows it.
        let mut output = vec![0u8; frame.len() + 256];
        let result = program
            .test_run(TestRunOptions {
                data_in: Some(frame),
                data_out: Some(&mut output),
                ctx_in: Some(&ctx),
                repeat: repeat.max(1),
                ..TestRunOptions::default()
            })
            .map_err(FastPathError::TestRun)?;
        output.truncate(result.data_size_out as usize);
        Ok(TestRunOutput { action: result.return_value.into(), frame: output, duration: result.duration })
    }
}

/// The loaded XDP program `name` of `ebpf`.
pub(crate) fn xdp_program<'a>(ebpf: &'a Ebpf, name: &str) -> Result<&'a Xdp, FastPathError> {
    ebpf.program(name)
        .ok_or_else(|| FastPathError::Program {
            action: format!("finding program {name}"),
            source: ProgramError::NotLoaded,
        })?
        .try_into()
        .map_err(|source| FastPathError::Program { action: format!("{name} is not XDP"), source })
}

/// `struct xdp_md` as `BPF_PROG_TEST_RUN` takes it (include/uapi/linux/
/// bpf.h): data, data_end, data_meta, ingress_ifindex, rx_queue_index,
/// egress_ifindex, each a u32. The kernel requires data_end to be the input
/// frame's length and data_meta and egress_ifindex to be 0
/// (net/bpf/test_run.c).
pub(crate) fn xdp_md(frame_len: u32, ingress_ifindex: u32) -> [u8; 24] {
    let mut ctx = [0u8; 24];
    ctx[4..8].copy_from_slice(&frame_len.to_ne_bytes());
    ctx[12..16].copy_from_slice(&ingress_ifindex.to_ne_bytes());
    ctx
}

/// Removes every pin under `pin_dir` (detaching the program: the pinned link
/// held the last reference) and the directory itself. Returns what was
/// removed; an absent directory is not an error.
pub fn detach(pin_dir: &Path) -> Result<Vec<PathBuf>, FastPathError> {
    let entries = match fs::read_dir(pin_dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(FastPathError::Io { action: "reading", path: pin_dir.to_owned(), source }),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| FastPathError::Io { action: "reading", path: pin_dir.to_owned(), source })?
            .path();
        fs::remove_file(&path).map_err(|source| FastPathError::Io {
            action: "unpinning",
            path: path.clone(),
            source,
        })?;
        removed.push(path);
    }
    fs::remove_dir(pin_dir).map_err(|source| FastPathError::Io {
        action: "removing",
        path: pin_dir.to_owned(),
        source,
    })?;
    removed.sort();
    Ok(removed)
}

/// Reads the program's global counters from the pinned `bfd_stats` map,
/// summed over CPUs.
pub fn read_stats(pin_dir: &Path) -> Result<GlobalStats, FastPathError> {
    let (path, map) = open_map(pin_dir, STATS_MAP)?;
    let map_error = |source| FastPathError::Map { path: path.clone(), source };
    let array = PerCpuArray::<MapData, GlobalStats>::try_from(map).map_err(map_error)?;
    let per_cpu = array.get(&0, 0).map_err(map_error)?;
    let mut total = GlobalStats::default();
    for value in per_cpu.iter() {
        total.add(value);
    }
    Ok(total)
}

/// Opens the map pinned as `name` under `pin_dir`.
fn open_map(pin_dir: &Path, name: &str) -> Result<(PathBuf, Map), FastPathError> {
    let path = pin_dir.join(name);
    let map_error = |source| FastPathError::Map { path: path.clone(), source };
    let data = MapData::from_pin(&path).map_err(map_error)?;
    let map = Map::from_map_data(data).map_err(map_error)?;
    Ok((path, map))
}

/// Opens the hash map pinned as `name` under `pin_dir`.
fn open_hash<K: aya::Pod, V: aya::Pod>(
    pin_dir: &Path,
    name: &str,
) -> Result<HashMap<MapData, K, V>, FastPathError> {
    let (path, map) = open_map(pin_dir, name)?;
    HashMap::try_from(map).map_err(|source| FastPathError::Map { path, source })
}

/// `bpf_map_update_elem` flag: create, fail if the key exists.
const BPF_NOEXIST: u64 = 1;

/// Whether a map error is the kernel saying the key is not there (delete of
/// an absent key) or already there (`BPF_NOEXIST` on a present one).
fn is_errno(error: &MapError, errno: i32) -> bool {
    matches!(error, MapError::SyscallError(syscall) if syscall.io_error.raw_os_error() == Some(errno))
}

/// The agent's handle on the maps of an attached program, through their
/// pins: it configures sessions and the echo allowlist and reads the
/// kernel's per-session state. See `bfd_common::maps` for what each map
/// holds and who writes it.
pub struct FastPath {
    pin_dir: PathBuf,
    config: HashMap<MapData, u32, SessionConfig>,
    state: HashMap<MapData, u32, SessionState>,
    echo_timers: HashMap<MapData, u32, EchoTimer>,
    echo_peers: HashMap<MapData, EchoPeerKey, u32>,
    keepalive: HashMap<MapData, u32, Keepalive>,
    keepalive_state: HashMap<MapData, u32, KeepaliveState>,
}

impl FastPath {
    /// Opens the maps pinned under `pin_dir` (by [`attach`] or
    /// [`load_unattached`]).
    pub fn open(pin_dir: &Path) -> Result<FastPath, FastPathError> {
        Ok(FastPath {
            pin_dir: pin_dir.to_owned(),
            config: open_hash(pin_dir, SESSION_CONFIG_MAP)?,
            state: open_hash(pin_dir, SESSION_STATE_MAP)?,
            echo_timers: open_hash(pin_dir, ECHO_TIMER_MAP)?,
            echo_peers: open_hash(pin_dir, ECHO_PEERS_MAP)?,
            keepalive: open_hash(pin_dir, KEEPALIVE_MAP)?,
            keepalive_state: open_hash(pin_dir, KEEPALIVE_STATE_MAP)?,
        })
    }

    /// The pin directory.
    pub fn pin_dir(&self) -> &Path {
        &self.pin_dir
    }

    /// Adds the session with local discriminator `discriminator`, or updates
    /// its configuration. The caller bumps `config.generation` on every
    /// call.
    ///
    /// On the first call this creates the session's kernel state and echo
    /// timer, zeroed; later calls leave them alone (`BPF_NOEXIST`): a user
    /// space write would replace the elements and cancel their timers. The
    /// state exists before the configuration, so the kernel never finds a
    /// configured session without state.
    pub fn set_session(&mut self, discriminator: u32, config: &SessionConfig) -> Result<(), FastPathError> {
        let create = |action: &str| format!("creating the {action} of session {discriminator}");
        match self.state.insert(discriminator, SessionState::default(), BPF_NOEXIST) {
            Err(error) if !is_errno(&error, libc_errno::EEXIST) => {
                return Err(FastPathError::MapWrite {
                    map: SESSION_STATE_MAP,
                    action: create("state"),
                    source: error,
                });
            }
            _ => {}
        }
        match self.echo_timers.insert(discriminator, EchoTimer::default(), BPF_NOEXIST) {
            Err(error) if !is_errno(&error, libc_errno::EEXIST) => {
                return Err(FastPathError::MapWrite {
                    map: ECHO_TIMER_MAP,
                    action: create("echo timer"),
                    source: error,
                });
            }
            _ => {}
        }
        self.config.insert(discriminator, config, 0).map_err(|source| FastPathError::MapWrite {
            map: SESSION_CONFIG_MAP,
            action: format!("writing the configuration of session {discriminator}"),
            source,
        })
    }

    /// Removes the session: its configuration first (the kernel stops
    /// matching its packets), then its state and echo timer (deleting them
    /// cancels the timers). Returns whether it was configured.
    pub fn remove_session(&mut self, discriminator: u32) -> Result<bool, FastPathError> {
        let configured = remove(&mut self.config, SESSION_CONFIG_MAP, &discriminator)?;
        remove(&mut self.state, SESSION_STATE_MAP, &discriminator)?;
        remove(&mut self.echo_timers, ECHO_TIMER_MAP, &discriminator)?;
        Ok(configured)
    }

    /// The session's configuration as the kernel sees it.
    pub fn session_config(&self, discriminator: u32) -> Result<Option<SessionConfig>, FastPathError> {
        get(&self.config, &self.pin_dir, SESSION_CONFIG_MAP, &discriminator)
    }

    /// The kernel's state of the session (its timer reads as zeroes).
    pub fn session_state(&self, discriminator: u32) -> Result<Option<SessionState>, FastPathError> {
        get(&self.state, &self.pin_dir, SESSION_STATE_MAP, &discriminator)
    }

    /// The kernel's state of every session, by local discriminator (their
    /// timers read as zeroes): read in batches of [`BATCH_ENTRIES`] by
    /// `BPF_MAP_LOOKUP_BATCH` (Linux 5.6), a dozen system calls for 10,000
    /// sessions where [`FastPath::session_state`] makes one each.
    pub fn session_states(&self) -> Result<std::collections::HashMap<u32, SessionState>, FastPathError> {
        lookup_all(self.state.map().fd().as_fd()).map_err(|source| FastPathError::Io {
            action: "reading every entry (BPF_MAP_LOOKUP_BATCH) of",
            path: self.pin_dir.join(SESSION_STATE_MAP),
            source,
        })
    }

    /// The local discriminators of every configured session.
    pub fn sessions(&self) -> Result<Vec<u32>, FastPathError> {
        let path = self.pin_dir.join(SESSION_CONFIG_MAP);
        let mut keys: Vec<u32> = self
            .config
            .keys()
            .collect::<Result<_, _>>()
            .map_err(|source| FastPathError::Map { path, source })?;
        keys.sort_unstable();
        Ok(keys)
    }

    /// Allows reflecting the echoes that `peer` sends to itself through
    /// interface `ifindex` (RFC 5880 §6.4), counted in session
    /// `discriminator`'s state (0: in no session).
    pub fn add_echo_peer(
        &mut self,
        ifindex: u32,
        peer: IpAddr,
        discriminator: u32,
    ) -> Result<(), FastPathError> {
        let key = EchoPeerKey { ifindex, address: address(peer) };
        self.echo_peers.insert(key, discriminator, 0).map_err(|source| FastPathError::MapWrite {
            map: ECHO_PEERS_MAP,
            action: format!("allowing echoes of {peer} on interface {ifindex}"),
            source,
        })
    }

    /// Stops reflecting `peer`'s echoes on `ifindex`. Returns whether they
    /// were allowed.
    pub fn remove_echo_peer(&mut self, ifindex: u32, peer: IpAddr) -> Result<bool, FastPathError> {
        let key = EchoPeerKey { ifindex, address: address(peer) };
        remove(&mut self.echo_peers, ECHO_PEERS_MAP, &key)
    }

    /// What the kernel answers for session `discriminator` while the agent
    /// is away (issue 17).
    pub fn set_keepalive(&mut self, discriminator: u32, keepalive: &Keepalive) -> Result<(), FastPathError> {
        self.keepalive.insert(discriminator, keepalive, 0).map_err(|source| FastPathError::MapWrite {
            map: KEEPALIVE_MAP,
            action: format!("writing the keepalive of session {discriminator}"),
            source,
        })
    }

    /// When the kernel last answered for session `discriminator` while no
    /// agent ran (`CLOCK_MONOTONIC` ns), if it ever did.
    pub fn keepalive_last_tx(&self, discriminator: u32) -> Option<u64> {
        self.keepalive_state.get(&discriminator, 0).ok().map(|state| state.last_tx_ns).filter(|ns| *ns != 0)
    }

    /// Sets when our last packet for session `discriminator` left
    /// (`CLOCK_MONOTONIC` ns): the kernel paces its first answer from it
    /// when the agent hands the session's steady state over (issue 19).
    pub fn set_keepalive_last_tx(
        &mut self,
        discriminator: u32,
        last_tx_ns: u64,
    ) -> Result<(), FastPathError> {
        let state = self.keepalive_state.get(&discriminator, 0).unwrap_or_default();
        self.keepalive_state.insert(discriminator, KeepaliveState { last_tx_ns, ..state }, 0).map_err(
            |source| FastPathError::MapWrite {
                map: KEEPALIVE_STATE_MAP,
                action: format!("writing when session {discriminator} last sent"),
                source,
            },
        )
    }

    /// The kernel answers nothing for session `discriminator` (absent is
    /// fine).
    pub fn remove_keepalive(&mut self, discriminator: u32) {
        let _ = self.keepalive.remove(&discriminator);
    }

    /// The program's global counters, summed over CPUs.
    pub fn stats(&self) -> Result<GlobalStats, FastPathError> {
        read_stats(&self.pin_dir)
    }
}

/// Deletes `key`; `Ok(false)` if it was not there.
fn remove<K: aya::Pod, V: aya::Pod>(
    map: &mut HashMap<MapData, K, V>,
    name: &'static str,
    key: &K,
) -> Result<bool, FastPathError> {
    match map.remove(key) {
        Ok(()) => Ok(true),
        Err(error) if is_errno(&error, libc_errno::ENOENT) => Ok(false),
        Err(source) => {
            Err(FastPathError::MapWrite { map: name, action: "deleting an element".into(), source })
        }
    }
}

/// Looks `key` up; `Ok(None)` if it is not there.
fn get<K: aya::Pod, V: aya::Pod>(
    map: &HashMap<MapData, K, V>,
    pin_dir: &Path,
    name: &str,
    key: &K,
) -> Result<Option<V>, FastPathError> {
    match map.get(key, 0) {
        Ok(value) => Ok(Some(value)),
        Err(MapError::KeyNotFound) => Ok(None),
        Err(source) => Err(FastPathError::Map { path: pin_dir.join(name), source }),
    }
}

/// The errno values the map wrappers look for (Linux, every architecture).
mod libc_errno {
    pub const ENOENT: i32 = 2;
    pub const EEXIST: i32 = 17;
    pub const ENOSPC: i32 = 28;
}

/// Entries per `BPF_MAP_LOOKUP_BATCH` call of [`FastPath::session_states`]
/// (640 KB of session states).
pub const BATCH_ENTRIES: usize = 1024;

/// The `batch` member of `union bpf_attr` (include/uapi/linux/bpf.h), for
/// the `BPF_MAP_*_BATCH` commands. aya 0.14 has no batch operations.
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// `enum bpf_cmd`'s `BPF_MAP_LOOKUP_BATCH`.
const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;

/// Every entry of the session state map `map`. The kernel walks a hash
/// map bucket by bucket, its position a `u32` bucket index; entries added
/// or removed meanwhile may be missed, as with any walk of a live map.
fn lookup_all(map: BorrowedFd<'_>) -> io::Result<std::collections::HashMap<u32, SessionState>> {
    use std::os::fd::AsRawFd as _;
    let mut entries = std::collections::HashMap::new();
    let mut capacity = BATCH_ENTRIES;
    let mut keys = vec![0u32; capacity];
    let mut values = vec![SessionState::default(); capacity];
    let mut position: Option<u32> = None;
    loop {
        let mut next = 0u32;
        let mut attr = BatchAttr {
            in_batch: position.as_ref().map_or(0, |position| std::ptr::from_ref(position) as u64),
            out_batch: std::ptr::from_mut(&mut next) as u64,
            keys: keys.as_mut_ptr() as u64,
            values: values.as_mut_ptr() as u64,
            count: capacity as u32,
            map_fd: map.as_raw_fd() as u32,
            ..BatchAttr::default()
        };
        // SAFETY: `attr` is a valid `bpf_attr` prefix of its own size (the
        // kernel zero-extends it); `keys` and `values` hold `count`
        // elements of the map's key and value types (`HashMap::try_from`
        // checked their sizes), the kernel writes at most `count` of each,
        // and `next` and `position` are the `u32` a hash map's batch
        // position is. All outlive the call.
        let result = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_MAP_LOOKUP_BATCH,
                std::ptr::from_mut(&mut attr),
                size_of::<BatchAttr>() as u32,
            )
        };
        let error = (result != 0).then(io::Error::last_os_error);
        match error.as_ref().and_then(io::Error::raw_os_error) {
            // ENOENT: the walk is over; `count` holds the last entries.
            None | Some(libc_errno::ENOENT) => {
                let count = (attr.count as usize).min(capacity);
                entries.extend(keys[..count].iter().copied().zip(values[..count].iter().copied()));
                if error.is_some() {
                    return Ok(entries);
                }
                position = Some(next);
            }
            // A bucket holds more entries than fit: larger buffers.
            Some(libc_errno::ENOSPC) if capacity < 1 << 16 => {
                capacity *= 4;
                keys.resize(capacity, 0);
                values.resize(capacity, SessionState::default());
            }
            Some(_) => return Err(error.unwrap_or_else(io::Error::last_os_error)),
        }
    }
}

/// The detection events of the kernel's timers, read from the pinned ring
/// buffer. One reader per pin directory: the ring buffer has one consumer
/// position.
///
/// [`Events::next`] never blocks; [`Events::wait`] blocks in `poll(2)` up
/// to a timeout. The ring buffer's descriptor ([`AsFd`]) becomes readable
/// when events arrive, so an async runtime can wait on it instead (for
/// example tokio's `AsyncFd`) and then drain with [`Events::next`].
pub struct Events {
    ring: RingBuf<MapData>,
}

impl Events {
    /// Opens the ring buffer pinned under `pin_dir`.
    pub fn open(pin_dir: &Path) -> Result<Events, FastPathError> {
        let (path, map) = open_map(pin_dir, EVENTS_MAP)?;
        let ring = RingBuf::try_from(map).map_err(|source| FastPathError::Map { path, source })?;
        Ok(Events { ring })
    }

    /// The next event, if one is waiting.
    #[allow(clippy::should_implement_trait)] // fallible, and not an iterator
    pub fn next(&mut self) -> Result<Option<DetectEvent>, FastPathError> {
        let Some(item) = self.ring.next() else {
            return Ok(None);
        };
        bytemuck::try_pod_read_unaligned::<DetectEvent>(&item)
            .map(Some)
            .map_err(|_| FastPathError::BadEvent(item.len()))
    }

    /// The next event, waiting for up to `timeout` (`None`: forever) for
    /// one to arrive. `Ok(None)` when the time is up.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<Option<DetectEvent>, FastPathError> {
        let deadline = timeout.map(|timeout| std::time::Instant::now() + timeout);
        loop {
            if let Some(event) = self.next()? {
                return Ok(Some(event));
            }
            let poll_timeout = match deadline {
                None => PollTimeout::NONE,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    // Rounded up, so a sub-millisecond remainder still waits.
                    let millis = left.as_micros().div_ceil(1000);
                    PollTimeout::try_from(millis.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
                }
            };
            let mut fds = [PollFd::new(self.ring.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, poll_timeout) {
                Ok(_) | Err(nix::Error::EINTR) => {}
                Err(error) => return Err(FastPathError::Poll(error)),
            }
        }
    }
}

impl AsFd for Events {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.ring.as_fd()
    }
}

/// The pin name of the link attaching the program to `iface`.
pub fn link_pin_name(iface: &str) -> String {
    format!("link_{iface}")
}

fn attach_with_fallback(
    program: &mut Xdp,
    iface: &str,
    mode: AttachMode,
) -> Result<(aya::programs::xdp::XdpLinkId, AttachedMode), FastPathError> {
    let tries: &[(XdpMode, AttachedMode)] = match mode {
        AttachMode::Auto => &[(XdpMode::Driver, AttachedMode::Native), (XdpMode::Skb, AttachedMode::Generic)],
        AttachMode::Native => &[(XdpMode::Driver, AttachedMode::Native)],
        AttachMode::Generic => &[(XdpMode::Skb, AttachedMode::Generic)],
    };
    let mut failures = Vec::new();
    for (xdp_mode, attached) in tries {
        match program.attach(iface, *xdp_mode) {
            Ok(link_id) => return Ok((link_id, *attached)),
            Err(error) => failures.push(format!("{attached} mode: {}", error_chain(&error))),
        }
    }
    Err(FastPathError::Attach { iface: iface.to_owned(), reason: failures.join("; ") })
}

/// Makes sure `pin_dir` exists, is empty, and is on a bpffs, mounting bpffs
/// at its conventional place if nothing is mounted there yet (and then
/// returning that place).
fn prepare_pin_dir(pin_dir: &Path) -> Result<Option<&'static Path>, FastPathError> {
    let bpffs_root = Path::new("/sys/fs/bpf");
    let mut mounted = None;
    if pin_dir.starts_with(bpffs_root) && !is_bpffs(bpffs_root) {
        mount(Some("bpffs"), bpffs_root, Some("bpf"), MsFlags::empty(), None::<&str>)
            .map_err(|source| FastPathError::Bpffs { path: bpffs_root.to_owned(), source })?;
        mounted = Some(bpffs_root);
    }
    fs::create_dir_all(pin_dir).map_err(|source| FastPathError::Io {
        action: "creating",
        path: pin_dir.to_owned(),
        source,
    })?;
    if !is_bpffs(pin_dir) {
        return Err(FastPathError::NotBpffs(pin_dir.to_owned()));
    }
    let mut entries = fs::read_dir(pin_dir).map_err(|source| FastPathError::Io {
        action: "reading",
        path: pin_dir.to_owned(),
        source,
    })?;
    if entries.next().is_some() {
        return Err(FastPathError::PinDirInUse(pin_dir.to_owned()));
    }
    Ok(mounted)
}

/// Mounts bpffs at `path` (creating the directory) unless a bpffs is
/// mounted there already; returns whether it mounted one.
pub fn mount_bpffs(path: &Path) -> Result<bool, FastPathError> {
    if is_bpffs(path) {
        return Ok(false);
    }
    fs::create_dir_all(path).map_err(|source| FastPathError::Io {
        action: "creating",
        path: path.to_owned(),
        source,
    })?;
    mount(Some("bpffs"), path, Some("bpf"), MsFlags::empty(), None::<&str>)
        .map_err(|source| FastPathError::Bpffs { path: path.to_owned(), source })?;
    Ok(true)
}

fn is_bpffs(path: &Path) -> bool {
    statfs(path).is_ok_and(|stat| stat.filesystem_type() == BPF_FS_MAGIC)
}

fn verifier_error(error: ProgramError) -> FastPathError {
    match error {
        ProgramError::LoadError { io_error, verifier_log } => {
            let log = verifier_log.to_string();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(25)..].join("\n");
            FastPathError::Verifier { log_tail: format!("{tail}\n({io_error})") }
        }
        source => FastPathError::Program { action: "loading the XDP program".into(), source },
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Starts the kernel's sweep for sessions whose control timer does not
/// run ([`SWEEP_PROGRAM`]): creates its timer's entry, loads the
/// program on the pinned maps and runs it until the timer runs (its
/// allocation may fail: retried, a millisecond apart). The sweep then
/// runs for as long as the maps are pinned, agent or not; starting it
/// again (a restarted agent) restarts its interval and makes its code
/// this build's.
///
/// The maps are those pinned under `pin_dir`, through handles of its own:
/// it loads and verifies a program, which takes long enough (tens of
/// milliseconds, more on a loaded machine) that an engine must not wait
/// for it (issue 19: an adopting agent that did fell silent for 150 ms
/// right after its handover, and its peer detected that).
pub fn start_sweep(pin_dir: &Path) -> Result<(), FastPathError> {
    let mut echo_timers: HashMap<MapData, u32, EchoTimer> = open_hash(pin_dir, ECHO_TIMER_MAP)?;
    match echo_timers.insert(SWEEP_TIMER_KEY, EchoTimer::default(), BPF_NOEXIST) {
        Err(error) if !is_errno(&error, libc_errno::EEXIST) => {
            return Err(FastPathError::MapWrite {
                map: ECHO_TIMER_MAP,
                action: "creating the sweep's timer".into(),
                source: error,
            });
        }
        _ => {}
    }
    let mut ebpf = load_on_pinned_maps(pin_dir)?;
    let program = load_program(&mut ebpf, SWEEP_PROGRAM)?;
    // The kernel takes no XDP frame shorter than an Ethernet header.
    let frame = [0u8; 14];
    let ctx = xdp_md(frame.len() as u32, 0);
    let mut outcome = String::new();
    for _ in 0..SWEEP_TRIES {
        let result = program
            .test_run(TestRunOptions {
                data_in: Some(&frame),
                ctx_in: Some(&ctx),
                ..TestRunOptions::default()
            })
            .map_err(FastPathError::TestRun)?;
        if result.return_value == SWEEP_STARTED {
            // The running timer holds the program; the pins hold the maps.
            return Ok(());
        }
        outcome = format!("returned {}", result.return_value);
        std::thread::sleep(Duration::from_millis(1));
    }
    Err(FastPathError::SweepNotStarted { tries: SWEEP_TRIES, outcome })
}
