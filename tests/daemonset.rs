//! The production DaemonSet really runs: the image `cargo xtask image`
//! builds, imported into a real containerd, started through the CRI from the
//! rendered production overlay, mapped to CRI requests as the kubelet maps a
//! pod (tests/common/kubelet.rs): its capabilities, seccomp profile, host
//! PID namespace, read-only root, mounts, env and args as written. It must
//! become ready, detect an action on the host and one in another pod (with
//! container and pod fields), serve /metrics, and stop within its grace
//! period with its outputs flushed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::kubelet::{self, PodContext};
use common::runtimes::{
    BlockingCri, CRI_NAMESPACE, ContainerSpec, Containerd, ContainerdOptions, PodSpec,
    runtimes_available,
};
use common::*;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::Value;

/// The OCI archive `cargo xtask image` wrote (`cargo xtask test` builds it
/// first and passes it in SAKER_IMAGE_ARCHIVE).
fn image_archive() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SAKER_IMAGE_ARCHIVE") {
        return Some(PathBuf::from(p));
    }
    let dir = workspace().join("target/image");
    let found = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(Result::ok)
        .find_map(|e| {
            let p = e.path();
            p.to_string_lossy().ends_with(".oci.tar").then_some(p)
        });
    if found.is_none() {
        let why = format!(
            "no image archive in {} (run `cargo xtask image`, or `cargo xtask test`, which builds it)",
            dir.display()
        );
        assert!(
            std::env::var("SAKER_REQUIRE_BPF").is_err(),
            "{why}; SAKER_REQUIRE_BPF=1 makes this a failure"
        );
        eprintln!("not run: {why}");
    }
    found
}

/// JSON alert lines of a CRI log file (`<time> <stream> <P|F> <line>`).
fn log_alerts(path: &Path) -> (Vec<Value>, String) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut alerts = Vec::new();
    let mut lines = String::new();
    for l in text.lines() {
        let msg = l.splitn(4, ' ').nth(3).unwrap_or("");
        lines.push_str(msg);
        lines.push('\n');
        if msg.starts_with('{')
            && let Ok(v) = serde_json::from_str::<Value>(msg)
        {
            alerts.push(v);
        }
    }
    (alerts, lines)
}

fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    f()
}

#[test]
fn production_daemonset_runs_detects_on_host_and_in_pods_and_stops_within_grace() {
    if !bpf_available() || !runtimes_available() {
        return;
    }
    let Some(archive) = image_archive() else {
        return;
    };
    let objects = render("overlays/production");
    let ds: DaemonSet = serde_json::from_value(
        objects
            .iter()
            .find(|o| o["kind"] == "DaemonSet")
            .expect("DaemonSet")
            .clone(),
    )
    .expect("DaemonSet type");
    let config_maps: Vec<ConfigMap> = objects
        .iter()
        .filter(|o| o["kind"] == "ConfigMap")
        .map(|o| serde_json::from_value(o.clone()).expect("ConfigMap"))
        .collect();
    let template = ds.spec.template.clone();
    let mut spec = template.spec.clone().expect("pod spec");
    let labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();

    let ctd = Containerd::start_with(&ContainerdOptions { pod_network: true });
    let import = ctd.ctr(
        CRI_NAMESPACE,
        &["images", "import", &archive.display().to_string()],
    );
    eprintln!("{}", String::from_utf8_lossy(&import.stdout).trim());
    // This node's runtime socket lives in the test containerd's directory:
    // the manifest's hostPath for /run/containerd points there (a node
    // setting, as k3s' /run/k3s/containerd would be).
    for v in spec.volumes.iter_mut().flatten() {
        if let Some(h) = v.host_path.as_mut()
            && h.path == "/run/containerd"
        {
            h.path = ctd.dir().display().to_string();
        }
    }
    let work = unique_dir();
    // The overlay's seccomp profile, installed where the kubelet looks
    // (`<root-dir>/seccomp/<localhostProfile>`), as docs/deploy.md says.
    let seccomp_root = work.path().join("seccomp");
    let profile_dir = workspace().join("deploy/kustomize/overlays/production");
    for c in &spec.containers {
        if let Some(p) = c
            .security_context
            .as_ref()
            .and_then(|s| s.seccomp_profile.as_ref())
            .and_then(|p| p.localhost_profile.clone())
        {
            let dst = seccomp_root.join(&p);
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::copy(profile_dir.join(&p), &dst).unwrap();
        }
    }
    let node = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let mut cri = BlockingCri::connect(&ctd);
    let uid = common::runtimes::new_uid();
    let log_root = cri.log_root();
    let volumes_dir = work.path().join("volumes");
    let ctx = PodContext {
        name: "saker-test-node",
        namespace: "saker",
        uid: &uid,
        node_name: &node,
        config_maps: &config_maps,
        log_root: &log_root,
        seccomp_root: &seccomp_root,
        volumes_dir: &volumes_dir,
    };
    let pod = cri.run_pod_config(kubelet::sandbox_config(&spec, &labels, &ctx));
    let agent = &spec.containers[0];
    let started = Instant::now();
    let id = cri.create_container_config(&pod, kubelet::container_config(&spec, agent, &ctx));
    cri.start_container(&id);
    let ip = cri.pod_ip(&pod);
    let log = PathBuf::from(&pod.config.log_directory).join(format!("{}/0.log", agent.name));
    let ready = wait_until(Duration::from_secs(90), || {
        http_get_at(&ip, 8765, "/readyz").is_ok_and(|(s, _)| s == 200)
    });
    let cold_start = started.elapsed();
    let (_, lines) = log_alerts(&log);
    assert!(
        ready,
        "the agent did not become ready on {ip}:8765/readyz in 90 s under the production security context; its log:\n{lines}"
    );
    eprintln!("cold start to ready: {cold_start:?}");

    // An action on the host, and one in another pod.
    let shadow = Command::new("cat").arg("/etc/shadow").output().unwrap();
    assert!(shadow.status.success());
    let mut other = PodSpec::new("shop-frontend");
    other.namespace = "shop".into();
    let other_pod = cri.run_pod(&other);
    let mut shell = ContainerSpec::new("debug", &["/bin/sh", "-c", "sleep 2"]);
    shell.tty = true;
    let shell_id = cri.run_container(&other_pod, &shell);

    let found = wait_until(Duration::from_secs(20), || {
        let (alerts, _) = log_alerts(&log);
        alerts
            .iter()
            .any(|a| a["rule"] == "Sensitive credential file opened for reading")
            && alerts
                .iter()
                .any(|a| a["rule"] == "Shell spawned in a container")
    });
    // Metrics are published once a second: poll until they count events.
    let mut metrics = String::new();
    let served = wait_until(Duration::from_secs(10), || {
        match http_get_at(&ip, 8765, "/metrics") {
            Ok((200, body)) => {
                metrics = body;
                metrics.contains("saker_events_total{")
            }
            _ => false,
        }
    });
    assert!(served, "/metrics counts events:\n{metrics}");

    // Stop as the kubelet does on a rollout: SIGTERM, then the grace period.
    let grace = spec.termination_grace_period_seconds.unwrap_or(30) as u64;
    let stop_start = Instant::now();
    cri.stop_container(&id, Duration::from_secs(grace));
    let stopped_in = stop_start.elapsed();
    let (alerts, lines) = log_alerts(&log);
    assert!(found, "alerts missing; agent log:\n{lines}");
    let host = alerts
        .iter()
        .find(|a| a["rule"] == "Sensitive credential file opened for reading")
        .unwrap();
    assert_eq!(
        host["hostname"],
        Value::from(node.as_str()),
        "FALCO_HOSTNAME from spec.nodeName"
    );
    assert_eq!(host["output_fields"]["container.id"], "host");
    let in_pod = alerts
        .iter()
        .find(|a| a["rule"] == "Shell spawned in a container")
        .unwrap();
    assert_eq!(
        in_pod["output_fields"]["container.id"],
        Value::from(&shell_id[..12])
    );
    assert_eq!(in_pod["output_fields"]["k8s.pod.name"], "shop-frontend");
    assert_eq!(in_pod["output_fields"]["k8s.ns.name"], "shop");
    assert_eq!(in_pod["output_fields"]["container.name"], "debug");
    assert!(
        stopped_in < Duration::from_secs(grace),
        "stopped in {stopped_in:?}, grace {grace} s"
    );
    assert!(
        lines.contains("saker run:") && lines.contains("events"),
        "the agent printed its totals on SIGTERM (outputs flushed):\n{lines}"
    );
    eprintln!("stopped in {stopped_in:?} of a {grace} s grace period");
    cri.stop_and_remove_container(&shell_id);
    cri.stop_and_remove_pod(&other_pod);
    cri.remove_container(&id);
    cri.stop_and_remove_pod(&pod);
}
