//! deploy/kubernetes validated against the Kubernetes API types, without a
//! cluster: every document is deserialized into its k8s-openapi type and
//! serialized back, and must come back equal (a misspelt or misplaced field
//! would be dropped by the type and show as a difference). The overlays'
//! patches are applied to the base and the result checked the same way; if
//! `kubectl` is installed, `kubectl kustomize` renders each overlay and every
//! rendered document is checked too. Then what the DaemonSet promises: least
//! privilege, the host's bpffs, no hostPort, every toleration.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use k8s_openapi::{
    api::{
        apps::v1::DaemonSet,
        core::v1::{ConfigMap, Namespace, Service},
    },
    serde::{Serialize, de::DeserializeOwned},
};
use serde_json::Value;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes")
}

fn documents(text: &str, origin: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|document| {
            let value = <serde_yaml::Value as k8s_openapi::serde::Deserialize>::deserialize(document)
                .unwrap_or_else(|error| panic!("{origin}: {error}"));
            serde_json::to_value(value).unwrap_or_else(|error| panic!("{origin}: {error}"))
        })
        .filter(|value| !value.is_null())
        .collect()
}

fn read_documents(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    documents(&text, &path.display().to_string())
}

/// Deserializes `value` as `T` and checks that serializing it back gives
/// the same JSON: nothing unknown, nothing dropped.
fn round_trip<T: DeserializeOwned + Serialize>(value: &Value, origin: &str) -> T {
    let typed: T = serde_json::from_value(value.clone()).unwrap_or_else(|error| panic!("{origin}: {error}"));
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(&back, value, "{origin}: fields were dropped or changed by the API type");
    typed
}

/// Validates one Kubernetes document by its kind; returns the kind.
fn validate(value: &Value, origin: &str) -> String {
    let kind = value["kind"].as_str().unwrap_or_else(|| panic!("{origin}: no kind")).to_owned();
    let origin = format!("{origin} ({kind})");
    match kind.as_str() {
        "Namespace" => drop(round_trip::<Namespace>(value, &origin)),
        "DaemonSet" => check_daemonset(&round_trip::<DaemonSet>(value, &origin), &origin),
        "Service" => drop(round_trip::<Service>(value, &origin)),
        "ConfigMap" => drop(round_trip::<ConfigMap>(value, &origin)),
        // The Prometheus Operator's CRD is not in k8s-openapi: its shape is
        // checked by hand.
        "ServiceMonitor" => {
            assert_eq!(value["apiVersion"], "monitoring.coreos.com/v1", "{origin}");
            assert!(value["spec"]["selector"]["matchLabels"].is_object(), "{origin}: no selector");
            let endpoints = value["spec"]["endpoints"].as_array().expect("endpoints");
            assert!(
                endpoints.iter().all(|endpoint| endpoint["port"] == "metrics"),
                "{origin}: {endpoints:?}"
            );
        }
        other => panic!("{origin}: no check for kind {other}"),
    }
    kind
}

/// What the DaemonSet must be, whatever the overlay.
fn check_daemonset(daemonset: &DaemonSet, origin: &str) {
    let pod = daemonset.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    assert_eq!(pod.host_network, Some(true), "{origin}: hostNetwork");
    assert_eq!(pod.priority_class_name.as_deref(), Some("system-node-critical"), "{origin}");
    let tolerations = pod.tolerations.as_ref().expect("tolerations");
    assert!(
        tolerations.iter().any(|toleration| toleration.operator.as_deref() == Some("Exists")
            && toleration.key.is_none()
            && toleration.effect.is_none()),
        "{origin}: no toleration for every taint"
    );
    assert!(pod.termination_grace_period_seconds.is_some(), "{origin}: terminationGracePeriodSeconds");
    // Upgrades as a surge: the new pod beside the old, which hands its
    // sessions over (README "Restarts and upgrades without a flap").
    let strategy = daemonset.spec.as_ref().unwrap().update_strategy.as_ref().expect("updateStrategy");
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"), "{origin}");
    let rolling = strategy.rolling_update.as_ref().expect("rollingUpdate");
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    assert_eq!(rolling.max_surge, Some(IntOrString::Int(1)), "{origin}: maxSurge");
    assert_eq!(rolling.max_unavailable, Some(IntOrString::Int(0)), "{origin}: maxUnavailable");
    let agent = pod.containers.iter().find(|container| container.name == "bfd-agent").expect("the agent");
    let args = agent.args.as_ref().expect("args");
    assert!(args.windows(2).any(|pair| pair == ["--node-name", "$(NODE_NAME)"]), "{origin}: {args:?}");
    assert!(args.windows(2).any(|pair| pair == ["--on-stop", "auto"]), "{origin}: {args:?}");
    assert!(args.windows(2).any(|pair| pair == ["--instance", "$(POD_UID)"]), "{origin}: {args:?}");
    let pod_uid = agent.env.as_ref().unwrap().iter().find(|env| env.name == "POD_UID").expect("POD_UID");
    let field = pod_uid.value_from.as_ref().unwrap().field_ref.as_ref().unwrap();
    assert_eq!(field.field_path, "metadata.uid", "{origin}");
    let node_name =
        agent.env.as_ref().unwrap().iter().find(|env| env.name == "NODE_NAME").expect("NODE_NAME");
    let field = node_name.value_from.as_ref().unwrap().field_ref.as_ref().unwrap();
    assert_eq!(field.field_path, "spec.nodeName", "{origin}");
    let security = agent.security_context.as_ref().expect("securityContext");
    assert_ne!(security.privileged, Some(true), "{origin}: the agent must not be privileged");
    assert_eq!(security.allow_privilege_escalation, Some(false), "{origin}");
    let capabilities = security.capabilities.as_ref().expect("capabilities");
    assert_eq!(capabilities.drop.as_deref(), Some(&["ALL".to_owned()][..]), "{origin}");
    let mut added = capabilities.add.clone().unwrap_or_default();
    added.sort();
    assert_eq!(added, ["BPF", "IPC_LOCK", "NET_ADMIN", "NET_RAW", "PERFMON", "SYS_NICE"], "{origin}");
    for container in pod.containers.iter().chain(pod.init_containers.iter().flatten()) {
        for port in container.ports.iter().flatten() {
            assert!(
                port.host_port.is_none(),
                "{origin}: {} has a hostPort (it blocks a surge)",
                container.name
            );
        }
        assert!(container.resources.is_some(), "{origin}: {} has no resources", container.name);
    }
    let probe_path = |probe: &Option<k8s_openapi::api::core::v1::Probe>| {
        probe.as_ref().and_then(|p| p.http_get.as_ref()).and_then(|h| h.path.clone())
    };
    assert_eq!(probe_path(&agent.liveness_probe).as_deref(), Some("/healthz"), "{origin}");
    assert_eq!(probe_path(&agent.readiness_probe).as_deref(), Some("/readyz"), "{origin}");

    // The host's bpffs, seen by the agent with HostToContainer; the init
    // container that may mount it on the host is the only privileged one.
    let volumes = pod.volumes.as_ref().expect("volumes");
    let host_path = |name: &str| {
        volumes
            .iter()
            .find(|volume| volume.name == name)
            .and_then(|volume| volume.host_path.as_ref())
            .map(|h| h.path.clone())
    };
    assert_eq!(host_path("bpffs").as_deref(), Some("/sys/fs/bpf"), "{origin}");
    assert_eq!(host_path("control").as_deref(), Some("/run/bfd-agent"), "{origin}");
    let mount = |container: &k8s_openapi::api::core::v1::Container, volume: &str| {
        container.volume_mounts.iter().flatten().find(|mount| mount.name == volume).cloned()
    };
    let bpffs = mount(agent, "bpffs").expect("the agent mounts bpffs");
    assert_eq!(bpffs.mount_path, "/sys/fs/bpf", "{origin}");
    assert_eq!(bpffs.mount_propagation.as_deref(), Some("HostToContainer"), "{origin}");
    assert_eq!(mount(agent, "control").expect("control").mount_path, "/run/bfd-agent", "{origin}");
    let init = pod.init_containers.iter().flatten().find(|c| c.name == "mount-bpffs").expect("mount-bpffs");
    assert_eq!(
        init.args.as_deref().map(|a| a[..2].to_vec()),
        Some(vec!["xdp".to_owned(), "mount-bpffs".to_owned()])
    );
    assert_eq!(mount(init, "bpffs").unwrap().mount_propagation.as_deref(), Some("Bidirectional"), "{origin}");
}

/// Applies an RFC 6902 patch's `replace` and `add` operations (all the
/// overlays use).
fn apply_json_patch(target: &mut Value, patch: &Value, origin: &str) {
    for operation in patch.as_array().unwrap_or_else(|| panic!("{origin}: not a JSON patch")) {
        let path = operation["path"].as_str().expect("path");
        match operation["op"].as_str() {
            Some("replace") => {
                *target.pointer_mut(path).unwrap_or_else(|| panic!("{origin}: {path} is not in the base")) =
                    operation["value"].clone();
            }
            op => panic!("{origin}: unsupported op {op:?}"),
        }
    }
}

#[test]
fn the_base_documents_are_valid_api_objects() {
    let base = deploy_dir().join("base");
    let kustomization = &read_documents(&base.join("kustomization.yaml"))[0];
    let mut kinds = Vec::new();
    for resource in kustomization["resources"].as_array().unwrap() {
        let path = base.join(resource.as_str().unwrap());
        for document in read_documents(&path) {
            kinds.push(validate(&document, &path.display().to_string()));
        }
    }
    kinds.sort();
    assert_eq!(kinds, ["DaemonSet", "Namespace", "Service", "ServiceMonitor"]);
}

#[test]
fn each_overlay_gives_the_daemonset_its_configmap_and_valid_patches() {
    let base = deploy_dir().join("base");
    let daemonset = read_documents(&base.join("daemonset.yaml")).remove(0);
    for overlay in ["standalone", "frr-dataplane"] {
        let dir = deploy_dir().join("overlays").join(overlay);
        let kustomization = &read_documents(&dir.join("kustomization.yaml"))[0];
        let mut patched = daemonset.clone();
        for patch in kustomization["patches"].as_array().into_iter().flatten() {
            let path = dir.join(patch["path"].as_str().unwrap());
            apply_json_patch(&mut patched, &read_documents(&path)[0], &path.display().to_string());
        }
        let origin = format!("{overlay}: the patched DaemonSet");
        let typed: DaemonSet = serde_json::from_value(patched.clone()).unwrap();
        check_daemonset(&typed, &origin);
        validate(&patched, &origin);

        // The ConfigMap holds every file the agent is told to read.
        let configmap = read_documents(&dir.join("configmap.yaml")).remove(0);
        let configmap: ConfigMap = round_trip(&configmap, &format!("{overlay}: configmap.yaml"));
        let data = configmap.data.unwrap();
        let args = typed.spec.unwrap().template.spec.unwrap().containers[0].args.clone().unwrap();
        for pair in args.windows(2).filter(|pair| pair[0] == "--config") {
            let key = pair[1].strip_prefix("/etc/bfd-agent/").expect("config under /etc/bfd-agent");
            let yaml = data.get(key).unwrap_or_else(|| panic!("{overlay}: the ConfigMap has no {key}"));
            assert!(!documents(yaml, key).is_empty(), "{overlay}: {key} is empty");
        }
    }
}

#[test]
fn kubectl_kustomize_renders_valid_overlays() {
    if Command::new("kubectl").arg("version").arg("--client").output().is_err() {
        println!("kubectl is not installed: the overlays were checked piece by piece only");
        return;
    }
    for overlay in ["standalone", "frr-dataplane"] {
        let dir = deploy_dir().join("overlays").join(overlay);
        let output = Command::new("kubectl").arg("kustomize").arg(&dir).output().unwrap();
        assert!(
            output.status.success(),
            "kubectl kustomize {overlay}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut kinds: Vec<String> = documents(&String::from_utf8_lossy(&output.stdout), overlay)
            .iter()
            .map(|document| validate(document, &format!("kubectl kustomize {overlay}")))
            .collect();
        kinds.sort();
        assert_eq!(kinds, ["ConfigMap", "DaemonSet", "Namespace", "Service", "ServiceMonitor"], "{overlay}");
    }
}
