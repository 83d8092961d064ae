//! Whether pins made under a bpffs directory outlive this process.
//!
//! A pinned link keeps the XDP program attached after the agent exits, but
//! only as long as the bpffs superblock holding the pin exists, and a bpffs
//! superblock exists as long as one of its mounts does. A bpffs mounted in a
//! mount namespace that dies with the process takes the pins, the link and
//! the attachment with it:
//! - `ip netns exec NS CMD` gives CMD a mount namespace of its own with a
//!   fresh /sys, so /sys/fs/bpf is empty there and the bpffs the agent
//!   mounts on it is seen by nobody else;
//! - a container whose /sys/fs/bpf is not the host's (no hostPath volume)
//!   is the same: its mount namespace dies with the container.
//!
//! [`check`] decides from /proc/self/mountinfo, /proc/1/mountinfo and the
//! namespace links whether the bpffs under a pin directory is one that
//! outlives us, so that the agent refuses instead of claiming an
//! attachment that vanishes. The decision itself is [`decide`], a pure
//! function of [`Facts`], tested on captured mountinfo tables.

use std::{
    fs,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
};

/// The inode number of the initial PID namespace's `/proc/*/ns/pid`
/// (`PROC_PID_INIT_INO` in the kernel's include/linux/proc_ns.h, fixed
/// since Linux 3.8). A process in another PID namespace is in a container
/// (or a sandbox), whose PID 1 is not the host's init.
const PROC_PID_INIT_INO: u64 = 0xEFFF_FFFC;

/// One line of /proc/PID/mountinfo (proc(5)): the fields the decision uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// `major:minor` of the superblock: the same for every mount of one
    /// bpffs instance (bind mounts, propagated copies), different between
    /// instances (each `mount -t bpf` makes a new one).
    pub device: String,
    /// Where it is mounted, octal escapes decoded.
    pub mount_point: PathBuf,
    /// Propagation: `shared:N`, `master:N`, `propagate_from:N`, `unbindable`.
    pub optional_fields: Vec<String>,
    /// The file system type (`bpf` for bpffs).
    pub fs_type: String,
}

impl Mount {
    /// Whether this mount receives or shares mount events with a peer
    /// group: a mount made under the host's shared /sys/fs, or the copy in
    /// a slave namespace of a mount outside it.
    fn propagates(&self) -> bool {
        self.optional_fields.iter().any(|field| field.starts_with("shared:") || field.starts_with("master:"))
    }
}

/// Parses a mountinfo table; lines that do not parse are skipped (the
/// format is the kernel's, stable since 2.6.26).
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Mount> {
    let (before, after) = line.split_once(" - ")?;
    let mut fields = before.split(' ');
    let _mount_id = fields.next()?;
    let _parent_id = fields.next()?;
    let device = fields.next()?.to_owned();
    let _root = fields.next()?;
    let mount_point = PathBuf::from(unescape(fields.next()?));
    let _options = fields.next()?;
    let optional_fields = fields.filter(|field| !field.is_empty()).map(str::to_owned).collect();
    let fs_type = after.split(' ').next()?.to_owned();
    Some(Mount { device, mount_point, optional_fields, fs_type })
}

/// Decodes mountinfo's octal escapes (`\040` for a space, and so on).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let octal =
            bytes.get(index + 1..index + 4).filter(|digits| digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match (bytes[index], octal) {
            (b'\\', Some(digits)) => {
                out.push(digits.iter().fold(0u8, |value, digit| value.wrapping_mul(8) + (digit - b'0')));
                index += 4;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount `path` (canonical) lives on: the last listed mount whose mount
/// point is the longest prefix of it (later lines are mounted on top).
pub fn mount_of<'a>(mounts: &'a [Mount], path: &Path) -> Option<&'a Mount> {
    mounts
        .iter()
        .enumerate()
        .filter(|(_, mount)| path.starts_with(&mount.mount_point))
        .max_by_key(|(index, mount)| (mount.mount_point.components().count(), *index))
        .map(|(_, mount)| mount)
}

/// What [`decide`] looks at.
#[derive(Clone, Debug)]
pub struct Facts {
    /// The mount holding the pin directory, from our mountinfo.
    pub pin_mount: Mount,
    /// Whether we mounted that bpffs ourselves, just now.
    pub mounted_by_us: bool,
    /// Whether we are in the initial PID namespace (so PID 1 and the
    /// kernel threads are the host's) and not PID 1 ourselves.
    pub host_pid_namespace: bool,
    /// Whether our mount namespace is the host's: kthreadd's (the initial
    /// one), or PID 1's where kthreadd is not visible.
    pub same_mount_namespace_as_pid1: bool,
    /// The mountinfo of that process, if readable.
    pub pid1_mounts: Option<Vec<Mount>>,
    /// The name under /run/netns of our network namespace, if it has one
    /// (a hint that we run under `ip netns exec NAME`).
    pub netns_name: Option<String>,
}

/// Why the pins would outlive us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outlives {
    /// We run in the host's mount namespace (the initial one, kthreadd's):
    /// it lives as long as the machine.
    HostMountNamespace,
    /// Our mount namespace is not the host's, but the same bpffs instance
    /// is mounted there (we see the host's bpffs, or ours propagated).
    MountedInPid1Namespace,
    /// In a container: the bpffs was there before us (the runtime's bind
    /// mount of the host's /sys/fs/bpf, a hostPath volume) or propagates to
    /// a peer outside.
    ProvidedByContainerRuntime,
}

/// Why the pins would vanish with us, and what to do instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{pin_dir} is on a bpffs that {cause}, so the pins and the attached program would vanish when this \
     process exits; {fix}"
)]
pub struct Vanishes {
    /// The pin directory.
    pub pin_dir: PathBuf,
    /// What makes the bpffs private.
    pub cause: String,
    /// How to run instead.
    pub fix: String,
}

/// Decides whether pins in `pin_dir` outlive this process.
pub fn decide(pin_dir: &Path, facts: &Facts) -> Result<Outlives, Vanishes> {
    let vanishes = |cause: String, fix: String| Vanishes { pin_dir: pin_dir.to_owned(), cause, fix };
    if facts.host_pid_namespace && facts.same_mount_namespace_as_pid1 {
        return Ok(Outlives::HostMountNamespace);
    }
    let in_pid1 = facts.pid1_mounts.as_ref().is_some_and(|mounts| {
        mounts
            .iter()
            .any(|mount| mount.fs_type == facts.pin_mount.fs_type && mount.device == facts.pin_mount.device)
    });
    if !facts.same_mount_namespace_as_pid1 && in_pid1 {
        return Ok(Outlives::MountedInPid1Namespace);
    }
    if facts.host_pid_namespace {
        // Our own mount namespace on the host, and the host's does not see
        // this bpffs (or we cannot read what it sees).
        return Err(match &facts.netns_name {
            Some(name) => vanishes(
                format!(
                    "only this mount namespace sees (`ip netns exec {name}` gives the command a mount \
                     namespace of its own and a fresh /sys)"
                ),
                format!(
                    "run it with `nsenter --net=/run/netns/{name} -- COMMAND` instead, which enters the \
                     network namespace and keeps the host's /sys/fs/bpf"
                ),
            ),
            None => vanishes(
                "only this process's mount namespace sees (it is not the host's, and the host has no \
                 mount of it)"
                    .into(),
                "run it in the host's mount namespace, or bind-mount the host's /sys/fs/bpf into this one \
                 (`mount --rbind /sys/fs/bpf ...` before starting it)"
                    .into(),
            ),
        });
    }
    // In a container: we cannot see the host's mounts, but we know what we
    // did. A bpffs we had to mount ourselves is the container's own.
    if facts.mounted_by_us && !facts.pin_mount.propagates() {
        return Err(vanishes(
            "this process mounted itself inside a container (no bpffs was mounted there), and the \
             container's mount namespace dies with it"
                .into(),
            "mount the host's /sys/fs/bpf into the container (the DaemonSet's hostPath volume with \
             mountPropagation HostToContainer, or `--volume /sys/fs/bpf:/sys/fs/bpf`)"
                .into(),
        ));
    }
    Ok(Outlives::ProvidedByContainerRuntime)
}

/// Gathers the [`Facts`] for `pin_dir` (which must exist) and decides.
pub fn check(pin_dir: &Path, mounted_by_us: bool) -> Result<Outlives, CheckError> {
    let canonical =
        fs::canonicalize(pin_dir).map_err(|source| CheckError::Read { path: pin_dir.into(), source })?;
    let ours = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|source| CheckError::Read { path: "/proc/self/mountinfo".into(), source })?;
    let ours = parse_mountinfo(&ours);
    let pin_mount =
        mount_of(&ours, &canonical).cloned().ok_or_else(|| CheckError::NoMount(canonical.clone()))?;
    let pid_namespace = fs::metadata("/proc/self/ns/pid")
        .map_err(|source| CheckError::Read { path: "/proc/self/ns/pid".into(), source })?;
    let host_pid_namespace = pid_namespace.ino() == PROC_PID_INIT_INO && std::process::id() != 1;
    let host = host_process();
    // An unreadable link (PID 1 may refuse ptrace-mode reads, as under some
    // supervisors) counts as another namespace: the mountinfo decides.
    let same_mount_namespace_as_pid1 = fs::read_link("/proc/self/ns/mnt")
        .is_ok_and(|ours| fs::read_link(format!("/proc/{host}/ns/mnt")).is_ok_and(|theirs| ours == theirs));
    let facts = Facts {
        pin_mount,
        mounted_by_us,
        host_pid_namespace,
        same_mount_namespace_as_pid1,
        pid1_mounts: fs::read_to_string(format!("/proc/{host}/mountinfo"))
            .ok()
            .map(|text| parse_mountinfo(&text)),
        netns_name: netns_name(),
    };
    decide(pin_dir, &facts).map_err(CheckError::Vanishes)
}

/// The process whose mount namespace is the host's: kthreadd (PID 2 in the
/// initial PID namespace; kernel threads keep the initial namespaces, and
/// their /proc entries are readable where a supervisor's PID 1 may not be),
/// else PID 1.
fn host_process() -> u32 {
    match fs::read_to_string("/proc/2/comm") {
        Ok(comm) if comm.trim_end() == "kthreadd" => 2,
        _ => 1,
    }
}

/// The name under /run/netns bound to our network namespace, if any.
fn netns_name() -> Option<String> {
    let ours = fs::metadata("/proc/self/ns/net").ok()?;
    fs::read_dir("/run/netns").ok()?.flatten().find_map(|entry| {
        let meta = fs::metadata(entry.path()).ok()?;
        (meta.dev() == ours.dev() && meta.ino() == ours.ino())
            .then(|| entry.file_name().to_string_lossy().into_owned())
    })
}

/// Why [`check`] refused or could not decide.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The pins would vanish.
    #[error(transparent)]
    Vanishes(Vanishes),
    /// A /proc file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// No mount holds the path (cannot happen for a path that exists).
    #[error("no mount in /proc/self/mountinfo holds {0}")]
    NoMount(PathBuf),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host's table (systemd: everything shared).
    const HOST: &str = "\
22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
23 22 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
30 23 0:27 / /sys/fs/bpf rw,nosuid,nodev,noexec,relatime shared:13 - bpf bpf rw,mode=700
";

    /// Under `ip netns exec`: / made a slave, /sys remounted (fresh, private),
    /// bpffs mounted by the agent on top (private, a new instance).
    const IP_NETNS_EXEC: &str = "\
400 399 254:1 / / rw,relatime master:1 - ext4 /dev/vda1 rw
512 400 0:90 / /sys rw,relatime - sysfs NS rw
513 512 0:91 / /sys/fs/bpf rw,relatime - bpf bpffs rw
";

    /// A container with the host's /sys/fs/bpf bound in (HostToContainer).
    const CONTAINER_HOSTPATH: &str = "\
600 550 0:95 / / rw,relatime - overlay overlay rw
610 600 0:96 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
611 610 0:27 / /sys/fs/bpf rw,relatime master:13 - bpf bpf rw,mode=700
";

    /// A container without it: the agent mounted bpffs on the container's /sys.
    const CONTAINER_OWN: &str = "\
600 550 0:95 / / rw,relatime - overlay overlay rw
610 600 0:96 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw
612 610 0:97 / /sys/fs/bpf rw,relatime - bpf bpffs rw
";

    fn facts(table: &str, mounted_by_us: bool, host_pid_namespace: bool, same: bool) -> Facts {
        let mounts = parse_mountinfo(table);
        Facts {
            pin_mount: mount_of(&mounts, Path::new("/sys/fs/bpf/bfd")).unwrap().clone(),
            mounted_by_us,
            host_pid_namespace,
            same_mount_namespace_as_pid1: same,
            pid1_mounts: Some(parse_mountinfo(HOST)),
            netns_name: Some("lab".into()),
        }
    }

    #[test]
    fn mountinfo_lines_parse_with_propagation_and_escapes() {
        let mounts = parse_mountinfo(
            "30 23 0:27 / /sys/fs/bpf rw shared:13 master:2 - bpf bpf rw\n31 22 0:28 / /mnt/a\\040b rw - tmpfs x rw\n",
        );
        assert_eq!(mounts[0].device, "0:27");
        assert_eq!(mounts[0].optional_fields, ["shared:13", "master:2"]);
        assert_eq!(mounts[0].fs_type, "bpf");
        assert_eq!(mounts[1].mount_point, Path::new("/mnt/a b"));
        assert!(mounts[1].optional_fields.is_empty());
    }

    #[test]
    fn the_deepest_and_topmost_mount_holds_a_path() {
        let mounts = parse_mountinfo(&format!("{HOST}31 30 0:40 / /sys/fs/bpf rw - bpf bpf rw\n"));
        assert_eq!(mount_of(&mounts, Path::new("/sys/fs/bpf/bfd")).unwrap().device, "0:40");
        assert_eq!(mount_of(&mounts, Path::new("/sys/kernel")).unwrap().device, "0:21");
        assert_eq!(mount_of(&mounts, Path::new("/sys/fs/bpffoo")).unwrap().device, "0:21");
    }

    #[test]
    fn the_host_mount_namespace_keeps_pins() {
        assert_eq!(decide(Path::new("/p"), &facts(HOST, true, true, true)), Ok(Outlives::HostMountNamespace));
    }

    #[test]
    fn ip_netns_exec_is_refused_naming_nsenter() {
        let error =
            decide(Path::new("/sys/fs/bpf/bfd"), &facts(IP_NETNS_EXEC, true, true, false)).unwrap_err();
        assert!(error.to_string().contains("ip netns exec lab"), "{error}");
        assert!(error.to_string().contains("nsenter --net=/run/netns/lab"), "{error}");
    }

    #[test]
    fn a_private_mount_namespace_seeing_the_hosts_bpffs_keeps_pins() {
        // `unshare -m` (or ip netns exec before /sys is remounted): the same
        // bpffs instance as PID 1's.
        let table = HOST.replace("shared:13", "master:13");
        assert_eq!(
            decide(Path::new("/p"), &facts(&table, false, true, false)),
            Ok(Outlives::MountedInPid1Namespace)
        );
    }

    #[test]
    fn a_container_with_the_hosts_bpffs_keeps_pins() {
        assert_eq!(
            decide(Path::new("/p"), &facts(CONTAINER_HOSTPATH, false, false, true)),
            Ok(Outlives::ProvidedByContainerRuntime)
        );
    }

    #[test]
    fn a_container_mounting_its_own_bpffs_is_refused_naming_the_host_path() {
        let error = decide(Path::new("/p"), &facts(CONTAINER_OWN, true, false, true)).unwrap_err();
        assert!(error.to_string().contains("hostPath"), "{error}");
    }
}
