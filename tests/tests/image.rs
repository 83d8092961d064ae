//! The OCI image run as the kubelet would run the DaemonSet's container
//! (root): `cargo xtask image`'s archive unpacked by umoci into a runtime
//! bundle whose config.json carries what deploy/kubernetes/base/daemonset.yaml
//! asks for (the capabilities and nothing more, not privileged, a read-only
//! root, the host's bpffs with HostToContainer propagation, the control
//! socket's directory from the host, the ConfigMap directory in the
//! kubelet's `..data` layout, the "host" network: a test namespace joined
//! by path), run with runc against FRR's bfdd. Checked: the session comes
//! Up on both sides; bpftool on the host dumps the agent's pinned maps;
//! a ConfigMap update the kubelet's way (a new `..data` symlink renamed
//! over the old) reloads without touching the session; a bad ConfigMap
//! leaves the session Up and the error in the log; SIGTERM (what the
//! kubelet sends) takes the session AdminDown, detaches the program and
//! removes the control socket, as the README documents.

use std::{
    fs,
    os::unix::fs::symlink,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context as _, bail, ensure};
use bfd_lab::{
    e2e::{
        AGENT_V4, Frr, Link, LogLine, PEER_V4, TempDir, bfd_profile, bgp_peer, documents, frr_config,
        frr_peer,
    },
    lab::{PinDir, require_root, run, run_stdout, unique_name, wait_for},
};
use serde_json::{Value, json};

/// The DaemonSet's capabilities (deploy/kubernetes/base/daemonset.yaml;
/// xtask/tests/manifests.rs checks the manifest holds exactly these).
const CAPABILITIES: [&str; 6] =
    ["CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SYS_NICE", "CAP_IPC_LOCK"];

/// The image archive, from `BFD_IMAGE` (set by `cargo xtask test`).
fn image_archive() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("BFD_IMAGE")
        .map(PathBuf::from)
        .context("BFD_IMAGE is not set: run the end-to-end tests through `cargo xtask test`")?;
    ensure!(path.exists(), "BFD_IMAGE={} does not exist; build it with `cargo xtask image`", path.display());
    Ok(path)
}

/// A ConfigMap volume as the kubelet writes it: the data in a timestamped
/// directory, `..data` pointing at it, each key a symlink through `..data`.
struct ConfigMapDir {
    dir: PathBuf,
    version: u32,
}

impl ConfigMapDir {
    const KEY: &str = "metallb.yaml";

    fn new(dir: PathBuf, text: &str) -> anyhow::Result<ConfigMapDir> {
        fs::create_dir_all(&dir)?;
        let mut configmap = ConfigMapDir { dir, version: 0 };
        configmap.update(text)?;
        symlink(format!("..data/{}", Self::KEY), configmap.dir.join(Self::KEY))?;
        Ok(configmap)
    }

    /// The kubelet's AtomicWriter: write the new version's directory, point
    /// `..data_tmp` at it, rename it over `..data`, remove the old version.
    fn update(&mut self, text: &str) -> anyhow::Result<()> {
        let old = format!("..v{}", self.version);
        self.version += 1;
        let new = format!("..v{}", self.version);
        fs::create_dir(self.dir.join(&new))?;
        fs::write(self.dir.join(&new).join(Self::KEY), text)?;
        symlink(&new, self.dir.join("..data_tmp"))?;
        fs::rename(self.dir.join("..data_tmp"), self.dir.join("..data"))?;
        let _ = fs::remove_dir_all(self.dir.join(old));
        Ok(())
    }
}

/// A container run by runc (in the foreground, as a child), deleted on drop.
struct Container {
    id: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Container {
    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn log_lines(&self, message: &str) -> Vec<LogLine> {
        self.log().lines().filter(|line| line.contains(message)).map(LogLine::new).collect()
    }

    /// `runc exec` (what `kubectl exec` does).
    fn exec(&self, args: &[&str]) -> anyhow::Result<String> {
        run_stdout(Command::new("runc").args(["exec", &self.id]).args(args))
    }

    fn peers(&self) -> anyhow::Result<Vec<Value>> {
        let text = self.exec(&["/usr/bin/bfd-agent", "show", "peers", "--json"])?;
        let json: Value =
            serde_json::from_str(&text).with_context(|| format!("show peers --json: {text}"))?;
        json.as_array().cloned().context("show peers --json is not an array")
    }

    fn status(&self, peer: &str) -> anyhow::Result<Option<String>> {
        Ok(self.peers()?.iter().find(|session| session["peer"] == peer).map(|s| s["status"].to_string()))
    }

    fn running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.as_mut().and_then(|child| child.try_wait().ok().flatten()) {
            bail!("the container exited ({status}):\n{}", self.log());
        }
        Ok(())
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("runc").args(["delete", "--force", &self.id]).output();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("container log:\n{}", self.log());
        }
    }
}

/// Turns umoci's generated config.json into the DaemonSet's container.
fn kubelet_config(config: &mut Value, args: &[String], netns: &Path, control: &Path, configmap: &Path) {
    let process = &mut config["process"];
    process["args"] = json!(args);
    process["terminal"] = json!(false);
    process["noNewPrivileges"] = json!(true);
    process["capabilities"] =
        json!({"bounding": CAPABILITIES, "effective": CAPABILITIES, "permitted": CAPABILITIES});
    // Setting rlimits needs CAP_SYS_RESOURCE, which root lacks here (the
    // kubelet's runtimes set none by default either).
    if let Some(process) = process.as_object_mut() {
        process.remove("rlimits");
    }
    config["root"]["readonly"] = json!(true);
    let namespaces = config["linux"]["namespaces"].as_array_mut().expect("namespaces");
    namespaces.retain(|namespace| namespace["type"] != "network" && namespace["type"] != "user");
    namespaces.push(json!({"type": "network", "path": netns}));
    let mounts = config["mounts"].as_array_mut().expect("mounts");
    mounts.extend([
        json!({"destination": "/sys/fs/bpf", "type": "bind", "source": "/sys/fs/bpf",
               "options": ["rbind", "rw", "rslave"]}),
        json!({"destination": "/run/bfd-agent", "type": "bind", "source": control, "options": ["rbind", "rw"]}),
        json!({"destination": "/etc/bfd-agent", "type": "bind", "source": configmap, "options": ["rbind", "ro"]}),
    ]);
}

#[bfd_lab::test]
fn the_image_runs_under_runc_as_the_daemonset_describes() -> anyhow::Result<()> {
    require_root()?;
    let archive = image_archive()?;
    let work = TempDir::new("img")?;
    let link = Link::new("im")?;
    let frr = Frr::start(&link.b, &frr_config(&[frr_peer(AGENT_V4, PEER_V4, false, &[])]))?;
    let pins = PinDir::new("bfdimg");

    // The image, unpacked as a runtime does.
    let layout = work.join("layout");
    fs::create_dir_all(&layout)?;
    run(Command::new("tar").arg("-xf").arg(&archive).arg("-C").arg(&layout))?;
    let index: Value = serde_json::from_str(&fs::read_to_string(layout.join("index.json"))?)?;
    let reference = index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .context("index.json names no image")?
        .to_owned();
    let bundle = work.join("bundle");
    run(Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:{reference}", layout.display()))
        .arg(&bundle))?;

    let profile = bfd_profile("fast", "receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3");
    let peer = bgp_peer("peer", PEER_V4, AGENT_V4, "fast", "");
    let control = work.join("run-bfd-agent");
    fs::create_dir_all(&control)?;
    let mut configmap =
        ConfigMapDir::new(work.join("configmap"), &documents(&[profile.clone(), peer.clone()]))?;
    let args: Vec<String> = [
        "/usr/bin/bfd-agent",
        "run",
        "--config",
        "/etc/bfd-agent/metallb.yaml",
        "--node-name",
        "node-a",
        "--iface",
        &link.a_if,
        "--pin-path",
        &pins.path().display().to_string(),
    ]
    .map(str::to_owned)
    .to_vec();
    let config_path = bundle.join("config.json");
    let mut config: Value = serde_json::from_str(&fs::read_to_string(&config_path)?)?;
    kubelet_config(&mut config, &args, &link.a.path(), &control, &configmap.dir);
    fs::write(&config_path, serde_json::to_vec_pretty(&config)?)?;

    let log = work.join("container.log");
    let log_file = fs::File::create(&log)?;
    let id = unique_name("bfdimg");
    let child = Command::new("runc")
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .context("starting runc")?;
    let mut container = Container { id, child: Some(child), log };

    // Up on both sides; the control socket answers `kubectl exec`-style.
    wait_for("the session Up in the container", Duration::from_secs(10), || {
        container.running()?;
        Ok(container.status(PEER_V4).ok().flatten().filter(|status| status == "\"up\"").map(drop))
    })?;
    frr.wait_status(AGENT_V4, "up", Duration::from_secs(3))?;
    ensure!(control.join("control.sock").exists(), "no control socket in the host's directory");
    // The DaemonSet's probes, on the agent's metrics address (its default,
    // 127.0.0.1:9784, in the "host" network).
    let probe = |path: &'static str| {
        link.a.run_in(move || bfd_lab::prometheus::http_request(("127.0.0.1", 9784), path))
    };
    for path in ["/healthz", "/readyz"] {
        let (status, body) = probe(path)?;
        println!("GET {path}: {status}: {}", body.trim());
        ensure!(status.starts_with("HTTP/1.1 200"), "{path}: {status}: {body}");
    }
    println!(
        "$ runc exec {} bfd-agent show peers\n{}",
        container.id,
        container.exec(&["/usr/bin/bfd-agent", "show", "peers"])?
    );

    // The pins are the host's: bpftool there dumps the agent's session.
    let dump = run_stdout(
        Command::new("bpftool").args(["--json", "map", "dump", "pinned"]).arg(pins.join("bfd_sess_cfg")),
    )?;
    let entries: Value = serde_json::from_str(&dump)?;
    println!("$ bpftool map dump pinned {} (on the host)\n{dump}", pins.join("bfd_sess_cfg").display());
    ensure!(entries.as_array().is_some_and(|entries| entries.len() == 1), "bfd_sess_cfg on the host: {dump}");

    // A ConfigMap update that leaves the session as it is: reloaded, the
    // session untouched.
    let changes = container.log_lines("session state change").len();
    let unused = bfd_profile("slow", "receiveInterval: 1000, transmitInterval: 1000, detectMultiplier: 5");
    configmap.update(&documents(&[unused, profile.clone(), peer.clone()]))?;
    let summary = wait_for("the reload after the ..data swap", Duration::from_secs(5), || {
        Ok(container
            .log_lines("configuration applied")
            .get(1)
            .and_then(|line| line.field("summary").map(str::to_owned)))
    })?;
    ensure!(summary == "0 added, 0 removed, 0 changed, 1 unchanged", "reload summary: {summary}");
    ensure!(
        container.log_lines("session state change").len() == changes,
        "the reload touched the session:\n{}",
        container.log()
    );

    // A bad ConfigMap: not applied, the error logged, the session Up.
    configmap.update("apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: fast}\nspec: {detectMultiplier: 0}\n")?;
    let refused = wait_for("the refused reload in the log", Duration::from_secs(5), || {
        Ok(container.log_lines("configuration not reloaded").first().cloned())
    })
    .with_context(|| format!("container log:\n{}", container.log()))?;
    println!("bad ConfigMap: {refused}");
    ensure!(refused.text.contains("detectMultiplier"), "the error does not name the field: {refused}");
    let (status, body) = probe("/readyz")?;
    println!("GET /readyz after the bad ConfigMap: {status}: {}", body.trim());
    ensure!(
        status.starts_with("HTTP/1.1 503") && body.contains("detectMultiplier"),
        "/readyz does not show the refused reload: {status}: {body}"
    );
    ensure!(probe("/healthz")?.0.starts_with("HTTP/1.1 200"), "/healthz failed after a bad ConfigMap");
    container.running()?;
    ensure!(
        container.status(PEER_V4)?.as_deref() == Some("\"up\""),
        "the session left Up after a bad ConfigMap"
    );
    ensure!(frr.peer(AGENT_V4)?["status"] == "up", "FRR's session left Up after a bad ConfigMap");

    // SIGTERM, as the kubelet stops a pod: AdminDown to the peer, the
    // program detached, the control socket removed, a clean exit.
    run(Command::new("runc").args(["kill", &container.id, "TERM"]))?;
    let status = wait_for("the agent to exit", Duration::from_secs(10), || {
        Ok(container.child.as_mut().and_then(|child| child.try_wait().ok().flatten()))
    })?;
    println!("container log:\n{}", container.log());
    ensure!(status.success(), "the agent exited with {status}");
    let frr_side = frr.wait_status(AGENT_V4, "down", Duration::from_secs(3))?;
    ensure!(frr_side["remote-diagnostic"] == "administratively down", "{frr_side:#}");
    let link_show =
        run_stdout(Command::new("ip").args(["-n", link.a.name(), "-d", "link", "show", &link.a_if]))?;
    ensure!(!link_show.contains("prog/xdp"), "XDP still attached after SIGTERM: {link_show}");
    ensure!(!control.join("control.sock").exists(), "the control socket is left after SIGTERM");
    Ok(())
}
