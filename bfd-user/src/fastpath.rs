//! The kernel fast path: the XDP program and its pinned maps.
//!
//! Everything is pinned under one bpffs directory per agent instance
//! (default [`DEFAULT_PIN_DIR`]): each map under its own name, and the XDP
//! link as `link_<interface>`. A pinned link keeps the program attached after
//! the process that attached it exits; removing the pin detaches it. That
//! lets operators inspect the maps with `bpftool map dump pinned <dir>/<map>`
//! and lets tests attach in one process and read in another.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use aya::{
    EbpfLoader,
    maps::{Map, MapData, PerCpuArray},
    programs::{ProgramError, Xdp, XdpMode, links::FdLink},
};
pub use bfd_common::maps::DEFAULT_PIN_DIR;
use bfd_common::maps::{GlobalStats, STATS_MAP, XDP_PROGRAM};
use nix::{
    mount::{MsFlags, mount},
    sys::statfs::{BPF_FS_MAGIC, statfs},
};

/// The XDP program, compiled for `bpfel-unknown-none` with BTF by the build
/// script. Empty when the agent was built with `AYA_BUILD_SKIP=1`.
static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/bfd-ebpf"));

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
}

/// The XDP program, attached and pinned.
pub struct Attached {
    /// The interface it is attached to.
    pub iface: String,
    /// The mode it runs in.
    pub mode: AttachedMode,
    /// Where its maps and link are pinned.
    pub pin_dir: PathBuf,
    /// The pinned names, maps first, link last.
    pub pinned: Vec<PathBuf>,
}

/// Loads the embedded XDP program, attaches it to `iface` and pins its maps
/// and link under `pin_dir`, which must be empty or absent.
///
/// After this returns, the program stays attached until [`detach`] (or the
/// interface goes away), whether or not this process keeps running.
pub fn attach(iface: &str, pin_dir: &Path, mode: AttachMode) -> Result<Attached, FastPathError> {
    if EBPF_OBJECT.is_empty() {
        return Err(FastPathError::NoObject);
    }
    prepare_pin_dir(pin_dir)?;
    // Until the link is pinned nothing outlives this process but the map
    // pins; if any step fails, remove what was pinned and the directory, so
    // that a retry with the same pin path does not find it in use.
    let mut pinned = Vec::new();
    match load_attach_and_pin(iface, pin_dir, mode, &mut pinned) {
        Ok(mode) => Ok(Attached { iface: iface.to_owned(), mode, pin_dir: pin_dir.to_owned(), pinned }),
        Err(error) => {
            for path in &pinned {
                let _ = fs::remove_file(path);
            }
            let _ = fs::remove_dir(pin_dir);
            Err(error)
        }
    }
}

/// Loads the program, attaches it, and pins maps and link (recording each
/// pin in `pinned`). Dropping the `Ebpf` at the end closes this process's
/// descriptors; the pins keep everything alive.
fn load_attach_and_pin(
    iface: &str,
    pin_dir: &Path,
    mode: AttachMode,
    pinned: &mut Vec<PathBuf>,
) -> Result<AttachedMode, FastPathError> {
    let mut ebpf = EbpfLoader::new().load(EBPF_OBJECT)?;
    let program: &mut Xdp = ebpf
        .program_mut(XDP_PROGRAM)
        .ok_or_else(|| FastPathError::Program {
            action: format!("finding program {XDP_PROGRAM} in the object"),
            source: ProgramError::NotLoaded,
        })?
        .try_into()
        .map_err(|source| FastPathError::Program {
            action: format!("{XDP_PROGRAM} is not an XDP program"),
            source,
        })?;
    program.load().map_err(verifier_error)?;
    let (link_id, attached_mode) = attach_with_fallback(program, iface, mode)?;
    // Owned by this process until pinned: if pinning fails, dropping it
    // detaches the program.
    let link = program
        .take_link(link_id)
        .map_err(|source| FastPathError::Program { action: "taking the XDP link".into(), source })?;
    let link = FdLink::try_from(link).map_err(|error| FastPathError::Attach {
        iface: iface.to_owned(),
        reason: format!("the kernel attached without a BPF link, which cannot be pinned: {error}"),
    })?;

    for (name, map) in ebpf.maps() {
        // aya also lists the object's data sections (.rodata, .bss) as maps;
        // only named maps are for operators.
        if name.starts_with('.') {
            continue;
        }
        let path = pin_dir.join(name);
        map.pin(&path).map_err(|source| FastPathError::Pin { path: path.clone(), source })?;
        pinned.push(path);
    }
    let link_path = pin_dir.join(link_pin_name(iface));
    link.pin(&link_path).map_err(|source| FastPathError::Pin { path: link_path.clone(), source })?;
    pinned.push(link_path);
    Ok(attached_mode)
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
    let path = pin_dir.join(STATS_MAP);
    let map_error = |source| FastPathError::Map { path: path.clone(), source };
    let data = MapData::from_pin(&path).map_err(map_error)?;
    let map = Map::from_map_data(data).map_err(map_error)?;
    let array = PerCpuArray::<MapData, GlobalStats>::try_from(map).map_err(map_error)?;
    let per_cpu = array.get(&0, 0).map_err(map_error)?;
    let mut total = GlobalStats::default();
    for value in per_cpu.iter() {
        total.add(value);
    }
    Ok(total)
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
/// at its conventional place if nothing is mounted there yet.
fn prepare_pin_dir(pin_dir: &Path) -> Result<(), FastPathError> {
    let bpffs_root = Path::new("/sys/fs/bpf");
    if pin_dir.starts_with(bpffs_root) && !is_bpffs(bpffs_root) {
        mount(Some("bpffs"), bpffs_root, Some("bpf"), MsFlags::empty(), None::<&str>)
            .map_err(|source| FastPathError::Bpffs { path: bpffs_root.to_owned(), source })?;
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
    Ok(())
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
