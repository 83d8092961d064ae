//! `cargo xtask image`: the agent as an OCI image, built without a
//! container engine or registry.
//!
//! One layer: the release `bfd-agent` (XDP program embedded), `bpftool` for
//! inspection inside the container, the shared libraries both load (from
//! `ldd`), their Debian copyright files, and a minimal /etc. Written as an
//! OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/`) in a tar
//! archive, with a Docker `manifest.json` beside it so that `docker load`
//! reads it too; `podman load` and `ctr images import` read the OCI layout.
//!
//! Reproducible: every tar entry has mtime SOURCE_DATE_EPOCH (default: the
//! commit's time), uid/gid 0, fixed modes and sorted order; gzip carries no
//! name or time; JSON keys are sorted. Same inputs, same digest.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail, ensure};
use serde_json::json;
use sha2::{Digest as _, Sha256};

/// The repository part of the image's name (no registry is involved: the
/// image is loaded into each node's runtime).
pub const IMAGE_REPOSITORY: &str = "localhost/bfd-agent";

/// What goes into the image and how it is labelled.
pub struct ImageInputs<'a> {
    /// The release agent.
    pub agent: &'a Path,
    /// The agent's version (bfd-user's Cargo.toml).
    pub version: &'a str,
    /// The git commit built.
    pub revision: &'a str,
    /// Seconds since the epoch for every timestamp.
    pub epoch: i64,
    /// Where to write the archive.
    pub output: &'a Path,
}

/// What was written.
pub struct BuiltImage {
    /// `localhost/bfd-agent:TAG`.
    pub reference: String,
    /// The manifest's digest (what a runtime calls the image's digest).
    pub manifest_digest: String,
    /// The compressed layer's size.
    pub layer_bytes: usize,
    /// The uncompressed layer's size.
    pub rootfs_bytes: usize,
}

/// A file in the image: its path there and its contents and mode.
struct Entry {
    contents: Vec<u8>,
    mode: u32,
}

/// Builds the image archive.
pub fn build(inputs: &ImageInputs) -> anyhow::Result<BuiltImage> {
    let bpftool = which("bpftool")?;
    let mut files: BTreeMap<PathBuf, Entry> = BTreeMap::new();
    add_file(&mut files, "/usr/bin/bfd-agent", inputs.agent, 0o755)?;
    add_file(&mut files, "/usr/sbin/bpftool", &bpftool, 0o755)?;
    let mut libraries = BTreeSet::new();
    for binary in [inputs.agent, bpftool.as_path()] {
        libraries.extend(shared_libraries(binary)?);
    }
    let mut packages = BTreeSet::from(["bpftool".to_owned()]);
    for library in &libraries {
        add_file(&mut files, library, library, 0o755)?;
        packages.insert(debian_package(library)?);
    }
    for package in &packages {
        let copyright = PathBuf::from(format!("/usr/share/doc/{package}/copyright"));
        if copyright.exists() {
            add_file(&mut files, &copyright, &copyright, 0o644)?;
        }
    }
    for (path, text) in [
        ("/etc/passwd", "root:x:0:0:root:/root:/usr/sbin/nologin\n"),
        ("/etc/group", "root:x:0:\n"),
        ("/etc/os-release", "NAME=\"bfd-agent\"\nID=bfd-agent\n"),
    ] {
        files.insert(path.into(), Entry { contents: text.as_bytes().to_vec(), mode: 0o644 });
    }
    // Mount points the runtime and the DaemonSet fill (the runtime creates
    // missing ones, but a read-only root file system cannot).
    let directories = ["/dev", "/proc", "/sys", "/run", "/run/bfd-agent", "/tmp", "/etc/bfd-agent", "/root"];

    let layer = layer_tar(&files, &directories, inputs.epoch)?;
    let layer_gz = gzip(&layer)?;
    let diff_id = sha256(&layer);
    let layer_digest = sha256(&layer_gz);

    let dirty = if inputs.revision.ends_with("-dirty") { "-dirty" } else { "" };
    let tag = format!("{}-{}{dirty}", inputs.version, &inputs.revision[..inputs.revision.len().min(12)]);
    let reference = format!("{IMAGE_REPOSITORY}:{tag}");
    let created = rfc3339(inputs.epoch);
    let labels = json!({
        "org.opencontainers.image.created": created,
        "org.opencontainers.image.description": "BFD (RFC 5880/5881/5883) agent with an XDP fast path",
        "org.opencontainers.image.licenses": "MIT OR Apache-2.0",
        "org.opencontainers.image.revision": inputs.revision,
        "org.opencontainers.image.title": "bfd-agent",
        "org.opencontainers.image.version": inputs.version,
    });
    let config = to_json(&json!({
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {
            "Entrypoint": ["/usr/bin/bfd-agent"],
            "Cmd": ["--help"],
            "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
            "WorkingDir": "/",
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": "cargo xtask image"}],
    }))?;
    let config_digest = sha256(&config);
    let manifest = to_json(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": layer_digest,
            "size": layer_gz.len(),
        }],
        "annotations": labels,
    }))?;
    let manifest_digest = sha256(&manifest);
    let index = to_json(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest.len(),
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {
                // containerd's `ctr images import` names the image from this,
                "io.containerd.image.name": reference,
                // podman and skopeo from this (a full reference is allowed).
                "org.opencontainers.image.ref.name": reference,
            },
        }],
    }))?;
    let blob = |digest: &str| format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"));
    // `docker load` (and tools reading Docker archives) start here.
    let docker_manifest = to_json(&json!([{
        "Config": blob(&config_digest),
        "RepoTags": [reference],
        "Layers": [blob(&layer_digest)],
    }]))?;

    let mut archive: BTreeMap<PathBuf, Entry> = BTreeMap::new();
    let mut put = |path: String, contents: Vec<u8>| {
        archive.insert(PathBuf::from(path), Entry { contents, mode: 0o644 });
    };
    put("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec());
    put("index.json".into(), index);
    put("manifest.json".into(), docker_manifest);
    put(blob(&config_digest), config);
    put(blob(&manifest_digest), manifest);
    put(blob(&layer_digest), layer_gz.clone());
    let outer = layer_tar(&archive, &["blobs", "blobs/sha256"], inputs.epoch)?;
    if let Some(parent) = inputs.output.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    fs::write(inputs.output, outer).with_context(|| format!("writing {}", inputs.output.display()))?;
    Ok(BuiltImage { reference, manifest_digest, layer_bytes: layer_gz.len(), rootfs_bytes: layer.len() })
}

fn add_file(
    files: &mut BTreeMap<PathBuf, Entry>,
    path: impl AsRef<Path>,
    source: &Path,
    mode: u32,
) -> anyhow::Result<()> {
    let contents = fs::read(source).with_context(|| format!("reading {}", source.display()))?;
    files.insert(path.as_ref().to_owned(), Entry { contents, mode });
    Ok(())
}

/// The shared libraries `binary` loads, with the dynamic loader, as the
/// paths `ldd` resolves them to (where the loader will look in the image).
fn shared_libraries(binary: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let output = Command::new("ldd").arg(binary).output().context("running ldd")?;
    ensure!(output.status.success(), "ldd {}: {}", binary.display(), String::from_utf8_lossy(&output.stderr));
    let mut libraries = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
        // "/lib64/ld-linux-x86-64.so.2 (0x...)"; the vDSO has no file.
        let resolved = match line.split_once(" => ") {
            Some((_, rest)) => rest,
            None => line.trim(),
        };
        let path = resolved.split(" (").next().unwrap_or_default().trim();
        if path.starts_with('/') {
            libraries.push(PathBuf::from(path));
        } else if line.contains("not found") {
            bail!("ldd {}: {line}", binary.display());
        }
    }
    Ok(libraries)
}

/// The Debian package owning `path` (for its copyright file).
fn debian_package(path: &Path) -> anyhow::Result<String> {
    let canonical = fs::canonicalize(path).with_context(|| format!("resolving {}", path.display()))?;
    for candidate in [path, canonical.as_path()] {
        let output = Command::new("dpkg").arg("-S").arg(candidate).output().context("running dpkg -S")?;
        if output.status.success() {
            let text = String::from_utf8_lossy(&output.stdout);
            let package = text.split(':').next().unwrap_or_default().trim();
            return Ok(package.to_owned());
        }
    }
    bail!("no Debian package owns {} (dpkg -S)", path.display())
}

fn which(program: &str) -> anyhow::Result<PathBuf> {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let path = Path::new(dir).join(program);
        if path.exists() {
            return Ok(path);
        }
    }
    bail!("{program} not found (install the Debian package: `cargo xtask setup`)")
}

/// A tar of `files` and `directories` (and every parent directory), sorted
/// by path, owned by 0:0, every mtime `epoch`.
fn layer_tar(files: &BTreeMap<PathBuf, Entry>, directories: &[&str], epoch: i64) -> anyhow::Result<Vec<u8>> {
    let mut dirs: BTreeSet<PathBuf> = directories.iter().map(|dir| relative(Path::new(dir))).collect();
    for path in files.keys() {
        dirs.extend(
            relative(path).ancestors().skip(1).filter(|dir| !dir.as_os_str().is_empty()).map(Path::to_owned),
        );
    }
    let mut entries: BTreeMap<PathBuf, Option<&Entry>> = dirs.into_iter().map(|dir| (dir, None)).collect();
    entries.extend(files.iter().map(|(path, entry)| (relative(path), Some(entry))));
    let mut builder = tar::Builder::new(Vec::new());
    for (path, entry) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(epoch.max(0) as u64);
        match entry {
            None => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(if path == Path::new("tmp") { 0o1777 } else { 0o755 });
                header.set_size(0);
                builder.append_data(&mut header, format!("{}/", path.display()), std::io::empty())?;
            }
            Some(entry) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(entry.mode);
                header.set_size(entry.contents.len() as u64);
                builder.append_data(&mut header, &path, entry.contents.as_slice())?;
            }
        }
    }
    Ok(builder.into_inner()?)
}

fn relative(path: &Path) -> PathBuf {
    path.strip_prefix("/").unwrap_or(path).to_owned()
}

/// gzip without a file name or time (GzBuilder's defaults), so that the
/// bytes depend on the input only.
fn gzip(data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut encoder = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::best());
    encoder.write_all(data)?;
    Ok(encoder.finish()?)
}

fn sha256(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256:{hex}")
}

/// Compact JSON with sorted keys (serde_json's map is ordered here).
fn to_json(value: &serde_json::Value) -> anyhow::Result<Vec<u8>> {
    Ok(serde_json::to_vec(value)?)
}

/// `epoch` as RFC 3339 UTC (civil-from-days, Howard Hinnant's algorithm).
pub fn rfc3339(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let seconds = epoch.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}

/// Unpacks `archive` with umoci (as a runtime would: layers applied to a
/// root file system, config.json generated) under `work_dir`, and runs the
/// agent and bpftool from it with `chroot` when root: the libraries found
/// by `ldd` are all there. Returns the bundle.
pub fn check_with_umoci(archive: &Path, reference: &str, work_dir: &Path) -> anyhow::Result<PathBuf> {
    let layout = work_dir.join("check-layout");
    let bundle = work_dir.join("check-bundle");
    for dir in [&layout, &bundle] {
        if dir.exists() {
            fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
        }
    }
    let file = fs::File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    tar::Archive::new(file).unpack(&layout).with_context(|| format!("unpacking {}", archive.display()))?;
    let status = Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:{reference}", layout.display()))
        .arg(&bundle)
        .status()
        .context("running umoci")?;
    ensure!(status.success(), "umoci unpack of {} failed ({status})", archive.display());
    let rootfs = bundle.join("rootfs");
    ensure!(rootfs.join("usr/bin/bfd-agent").exists(), "the unpacked image has no /usr/bin/bfd-agent");
    if crate::prereqs::is_root() {
        for program in [&["/usr/bin/bfd-agent", "--version"][..], &["/usr/sbin/bpftool", "version"][..]] {
            let output =
                Command::new("chroot").arg(&rootfs).args(program).output().context("running chroot")?;
            ensure!(
                output.status.success(),
                "{} does not run in the image: {}",
                program[0],
                String::from_utf8_lossy(&output.stderr)
            );
            print!(
                "in the image: {}",
                String::from_utf8_lossy(&output.stdout).lines().next().unwrap_or_default()
            );
            println!();
        }
    }
    fs::remove_dir_all(&layout).ok();
    Ok(bundle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        // Expected values from `date -u -d @SECONDS +%FT%TZ`.
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_498_698), "2026-12-05T19:24:58Z");
    }

    #[test]
    fn layers_are_byte_identical_whatever_the_insertion_order_and_list_parents_first() {
        let mut a = BTreeMap::new();
        a.insert(PathBuf::from("/usr/bin/x"), Entry { contents: b"x".to_vec(), mode: 0o755 });
        a.insert(PathBuf::from("/etc/y"), Entry { contents: b"y".to_vec(), mode: 0o644 });
        let mut b = BTreeMap::new();
        b.insert(PathBuf::from("/etc/y"), Entry { contents: b"y".to_vec(), mode: 0o644 });
        b.insert(PathBuf::from("/usr/bin/x"), Entry { contents: b"x".to_vec(), mode: 0o755 });
        let (first, second) =
            (layer_tar(&a, &["/tmp"], 1000).unwrap(), layer_tar(&b, &["/tmp"], 1000).unwrap());
        assert_eq!(gzip(&first).unwrap(), gzip(&second).unwrap());
        let mut archive = tar::Archive::new(first.as_slice());
        let listed: Vec<(String, u64, u64)> = archive
            .entries()
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let header = entry.header();
                (entry.path().unwrap().display().to_string(), header.mtime().unwrap(), header.uid().unwrap())
            })
            .collect();
        let names: Vec<&str> = listed.iter().map(|(name, _, _)| name.as_str()).collect();
        assert_eq!(names, ["etc/", "etc/y", "tmp/", "usr/", "usr/bin/", "usr/bin/x"]);
        assert!(listed.iter().all(|(_, mtime, uid)| *mtime == 1000 && *uid == 0));
    }
}
