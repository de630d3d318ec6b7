//! The Kustomize manifests in deploy/kustomize, as a cluster would get them:
//! rendered by `kubectl kustomize`, read into the Kubernetes API types (a key
//! the API does not know, or one put at the wrong level, is lost on the way
//! and fails the round trip), the production overlay held to the documented
//! least-privilege set, the ConfigMap checked by Saker's own validators, and
//! every alert's runbook link resolved in docs/runbooks.md.
//!
//! Needs `kubectl` (with its built-in kustomize) and the `saker` binary
//! (`cargo build -p saker`; `cargo xtask test` does both). No API server.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, ResourceQuota, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The capabilities the production overlay adds, after dropping ALL. The one
/// list the overlay, this test and docs/deploy.md ("Capabilities") agree on.
const PRODUCTION_CAPABILITIES: &[&str] = &["BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH"];

/// Syscalls the seccomp profile must allow beyond the runtime's default list.
const SECCOMP_ADDED: &[&str] = &["bpf", "perf_event_open"];

const OVERLAYS: &[&str] = &[
    "base",
    "overlays/production",
    "overlays/privileged",
    "overlays/monitoring",
    "overlays/observe",
];

use common::{kustomize_dir, render, workspace};

fn kind(obj: &Value) -> &str {
    obj["kind"].as_str().unwrap_or("<no kind>")
}

fn name(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or("<no name>")
}

/// Paths where `rendered` and `typed` differ (fields the typed object lost,
/// changed or invented).
fn differences(rendered: &Value, typed: &Value, path: &str, out: &mut Vec<String>) {
    match (rendered, typed) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                let p = format!("{path}.{k}");
                match b.get(k) {
                    Some(vb) => differences(va, vb, &p, out),
                    None => out.push(format!("{p}: lost (unknown or misplaced key)")),
                }
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                out.push(format!("{path}.{k}: added by the API type"));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                differences(va, vb, &format!("{path}[{i}]"), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(format!("{path}: {a} became {b}")),
    }
}

/// Reads `obj` as `T` and writes it back: the two must be equal.
fn round_trip<T: DeserializeOwned + Serialize>(obj: &Value) -> T {
    let typed: T = serde_json::from_value(obj.clone()).unwrap_or_else(|e| {
        panic!(
            "{} {}: not a valid {}: {e}",
            kind(obj),
            name(obj),
            std::any::type_name::<T>()
        )
    });
    let back = serde_json::to_value(&typed).expect("serialize typed object");
    let mut diffs = Vec::new();
    differences(obj, &back, "", &mut diffs);
    assert!(
        diffs.is_empty(),
        "{} {} does not survive the Kubernetes API types:\n  {}",
        kind(obj),
        name(obj),
        diffs.join("\n  ")
    );
    typed
}

/// CRDs have no types in k8s-openapi: check what the operator requires.
fn check_custom(obj: &Value) {
    let what = format!("{} {}", kind(obj), name(obj));
    assert_eq!(
        obj["apiVersion"], "monitoring.coreos.com/v1",
        "{what}: apiVersion"
    );
    assert!(obj["metadata"]["name"].is_string(), "{what}: metadata.name");
    assert!(
        obj["metadata"]["namespace"].is_string(),
        "{what}: metadata.namespace"
    );
    let spec = &obj["spec"];
    match kind(obj) {
        "ServiceMonitor" => {
            let allowed = ["jobLabel", "selector", "namespaceSelector", "endpoints"];
            for k in spec.as_object().expect("spec").keys() {
                assert!(allowed.contains(&k.as_str()), "{what}: unexpected spec.{k}");
            }
            assert!(
                spec["selector"]["matchLabels"].is_object(),
                "{what}: spec.selector"
            );
            let endpoints = spec["endpoints"].as_array().expect("spec.endpoints");
            assert!(!endpoints.is_empty(), "{what}: no endpoint");
            for e in endpoints {
                assert_eq!(e["port"], "metrics", "{what}: endpoint port");
                assert_eq!(e["path"], "/metrics", "{what}: endpoint path");
            }
        }
        "PrometheusRule" => {
            let groups = spec["groups"].as_array().expect("spec.groups");
            assert!(!groups.is_empty(), "{what}: no group");
            for g in groups {
                assert!(g["name"].is_string(), "{what}: group without a name");
                for r in g["rules"].as_array().expect("group rules") {
                    assert!(
                        r["alert"].is_string() || r["record"].is_string(),
                        "{what}: {r}"
                    );
                    assert!(r["expr"].is_string(), "{what}: rule without expr: {r}");
                }
            }
        }
        other => panic!("{what}: no check for kind {other}"),
    }
}

/// Every object of one rendering, through its API type.
fn check_objects(which: &str, docs: &[Value]) {
    for obj in docs {
        match kind(obj) {
            "Namespace" => drop(round_trip::<Namespace>(obj)),
            "ServiceAccount" => drop(round_trip::<ServiceAccount>(obj)),
            "ConfigMap" => drop(round_trip::<ConfigMap>(obj)),
            "Service" => drop(round_trip::<Service>(obj)),
            "ResourceQuota" => drop(round_trip::<ResourceQuota>(obj)),
            "NetworkPolicy" => drop(round_trip::<NetworkPolicy>(obj)),
            "DaemonSet" => drop(round_trip::<DaemonSet>(obj)),
            "ServiceMonitor" | "PrometheusRule" => check_custom(obj),
            other => panic!("{which}: unexpected kind {other} ({})", name(obj)),
        }
        if kind(obj) != "Namespace" {
            assert_eq!(
                obj["metadata"]["namespace"],
                "saker",
                "{which}: {} {}",
                kind(obj),
                name(obj)
            );
        }
    }
}

fn find<'a>(docs: &'a [Value], k: &str, name_prefix: &str) -> &'a Value {
    docs.iter()
        .find(|o| kind(o) == k && name(o).starts_with(name_prefix))
        .unwrap_or_else(|| panic!("no {k} named {name_prefix}*"))
}

fn daemonset(which: &str) -> DaemonSet {
    let docs = render(which);
    round_trip(find(&docs, "DaemonSet", "saker"))
}

fn agent_container(ds: &DaemonSet) -> Container {
    let spec = ds.spec.template.spec.as_ref().expect("pod spec");
    assert_eq!(spec.containers.len(), 1, "one container");
    spec.containers[0].clone()
}

#[test]
fn every_overlay_renders_into_api_types_without_losing_a_field() {
    for which in OVERLAYS {
        let docs = render(which);
        check_objects(which, &docs);
    }
    // The node agent's objects come from the base; monitoring adds its own.
    let kinds = |which: &str| -> BTreeSet<String> {
        render(which).iter().map(|o| kind(o).to_string()).collect()
    };
    let agent: BTreeSet<String> = [
        "ConfigMap",
        "DaemonSet",
        "Namespace",
        "NetworkPolicy",
        "ResourceQuota",
        "Service",
        "ServiceAccount",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    for which in [
        "base",
        "overlays/production",
        "overlays/privileged",
        "overlays/observe",
    ] {
        assert_eq!(kinds(which), agent, "{which}");
    }
    let monitoring: BTreeSet<String> = ["ConfigMap", "PrometheusRule", "ServiceMonitor"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(kinds("overlays/monitoring"), monitoring);
}

#[test]
fn the_pod_sees_the_host_and_names_the_node() {
    let ds = daemonset("base");
    let spec = &ds.spec;
    let pod = spec.template.spec.as_ref().expect("pod spec");
    assert_eq!(pod.host_pid, Some(true), "hostPID");
    assert_eq!(
        pod.priority_class_name.as_deref(),
        Some("system-node-critical")
    );
    assert_eq!(pod.automount_service_account_token, Some(false));
    let grace = pod.termination_grace_period_seconds.expect("grace period");
    assert!(
        grace >= 30,
        "grace period {grace}s: outputs get 5 s, and the spool is synced"
    );

    let strategy = spec.update_strategy.as_ref().expect("updateStrategy");
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
    let max = strategy
        .rolling_update
        .as_ref()
        .and_then(|r| r.max_unavailable.as_ref())
        .expect("maxUnavailable");
    assert_eq!(
        serde_json::to_value(max).expect("int or string"),
        Value::from("10%"),
        "bounded maxUnavailable"
    );

    let tolerations = pod.tolerations.as_ref().expect("tolerations");
    for effect in ["NoSchedule", "NoExecute"] {
        assert!(
            tolerations.iter().any(|t| t.key.is_none()
                && t.operator.as_deref() == Some("Exists")
                && t.effect.as_deref() == Some(effect)),
            "tolerates every {effect} taint"
        );
    }
    assert!(
        tolerations
            .iter()
            .any(|t| t.key.as_deref() == Some("node-role.kubernetes.io/control-plane")),
        "tolerates the control plane"
    );

    let c = agent_container(&ds);
    assert_eq!(c.image.as_deref(), Some("saker:0.1.0"));
    assert_eq!(
        c.args.as_deref().map(|a| &a[..3]),
        Some(
            &[
                "run".to_string(),
                "-c".into(),
                "/etc/saker/saker.yaml".into()
            ][..]
        )
    );
    let env = c.env.as_ref().expect("env");
    let hostname = env
        .iter()
        .find(|e| e.name == "FALCO_HOSTNAME")
        .expect("FALCO_HOSTNAME");
    let field = hostname
        .value_from
        .as_ref()
        .and_then(|v| v.field_ref.as_ref())
        .expect("from the downward API");
    assert_eq!(field.field_path, "spec.nodeName");

    // Host paths, read-only except the spool.
    let volumes = pod.volumes.as_ref().expect("volumes");
    let host_path = |vol: &str| {
        volumes
            .iter()
            .find(|v| v.name == vol)
            .and_then(|v| v.host_path.as_ref())
            .map(|h| h.path.clone())
            .unwrap_or_else(|| panic!("volume {vol} is not a hostPath"))
    };
    let mounts = c.volume_mounts.as_ref().expect("volumeMounts");
    let expected = [
        ("/host/proc", "/proc", true),
        ("/host/etc", "/etc", true),
        ("/sys/kernel/btf", "/sys/kernel/btf", true),
        ("/host/sys/fs/cgroup", "/sys/fs/cgroup", true),
        ("/host/run/containerd", "/run/containerd", true),
        ("/host/run/crio", "/run/crio", true),
        ("/host/run/k3s/containerd", "/run/k3s/containerd", true),
        ("/var/lib/saker", "/var/lib/saker", false),
    ];
    for (at, host, read_only) in expected {
        let m = mounts
            .iter()
            .find(|m| m.mount_path == at)
            .unwrap_or_else(|| panic!("nothing mounted at {at}"));
        assert_eq!(host_path(&m.name), host, "{at}");
        assert_eq!(m.read_only.unwrap_or(false), read_only, "{at} read-only");
    }
}

#[test]
fn probes_and_resources_come_from_the_agent_endpoints_and_measured_figures() {
    for which in ["base", "overlays/production", "overlays/privileged"] {
        let c = agent_container(&daemonset(which));
        let path_of = |p: Option<&k8s_openapi::api::core::v1::Probe>, what: &str| {
            let get = p
                .and_then(|p| p.http_get.as_ref())
                .unwrap_or_else(|| panic!("{which}: {what} is not an HTTP probe"));
            let port = serde_json::to_value(&get.port).expect("port");
            assert!(
                port == "metrics" || port == 8765,
                "{which}: {what} port {port}"
            );
            get.path.clone().unwrap_or_default()
        };
        assert_eq!(
            path_of(c.startup_probe.as_ref(), "startupProbe"),
            "/healthz"
        );
        assert_eq!(
            path_of(c.liveness_probe.as_ref(), "livenessProbe"),
            "/healthz"
        );
        assert_eq!(
            path_of(c.readiness_probe.as_ref(), "readinessProbe"),
            "/readyz"
        );
        let ports = c.ports.as_ref().expect("ports");
        assert!(
            ports
                .iter()
                .any(|p| p.container_port == 8765 && p.name.as_deref() == Some("metrics"))
        );

        let res = c.resources.as_ref().expect("resources");
        for (what, map) in [("requests", &res.requests), ("limits", &res.limits)] {
            let map = map.as_ref().unwrap_or_else(|| panic!("{which}: no {what}"));
            for r in ["cpu", "memory"] {
                assert!(map.contains_key(r), "{which}: {what}.{r}");
            }
        }
    }
}

#[test]
fn production_overlay_is_least_privilege_with_the_documented_capabilities() {
    let c = agent_container(&daemonset("overlays/production"));
    let sc = c.security_context.as_ref().expect("securityContext");
    assert_eq!(sc.privileged, Some(false), "not privileged");
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.read_only_root_filesystem, Some(true), "read-only root");
    let caps = sc.capabilities.as_ref().expect("capabilities");
    assert_eq!(
        caps.drop.as_deref(),
        Some(&["ALL".to_string()][..]),
        "drop ALL"
    );
    let added: BTreeSet<&str> = caps.add.iter().flatten().map(String::as_str).collect();
    let documented: BTreeSet<&str> = PRODUCTION_CAPABILITIES.iter().copied().collect();
    assert_eq!(added, documented, "exactly the documented capabilities");

    // docs/deploy.md justifies each one in a table row `| `CAP_X` | ...`, and
    // no other.
    let doc = std::fs::read_to_string(workspace().join("docs/deploy.md")).expect("docs/deploy.md");
    let in_doc: BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `CAP_"))
        .filter_map(|rest| rest.split('`').next())
        .map(String::from)
        .collect();
    let expected: BTreeSet<String> = documented.iter().map(|s| s.to_string()).collect();
    assert_eq!(in_doc, expected, "docs/deploy.md's capability table");

    // Seccomp: a Localhost profile shipped in the overlay at the same
    // relative path the kubelet resolves under its seccomp directory.
    let sp = sc.seccomp_profile.as_ref().expect("seccompProfile");
    assert_eq!(sp.type_, "Localhost");
    let rel = sp.localhost_profile.as_deref().expect("localhostProfile");
    let file = kustomize_dir("overlays/production").join(rel);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let profile: Value = serde_json::from_str(&text).expect("the seccomp profile is JSON");
    assert_eq!(
        profile["defaultAction"], "SCMP_ACT_ERRNO",
        "deny by default"
    );
    let allowed: BTreeSet<&str> = profile["syscalls"]
        .as_array()
        .expect("syscalls")
        .iter()
        .filter(|s| s["action"] == "SCMP_ACT_ALLOW" && s.get("args").is_none())
        .flat_map(|s| {
            s["names"]
                .as_array()
                .expect("names")
                .iter()
                .filter_map(Value::as_str)
        })
        .collect();
    for name in SECCOMP_ADDED
        .iter()
        .chain(&["read", "openat", "epoll_wait", "mmap", "statx"])
    {
        assert!(allowed.contains(name), "the profile does not allow {name}");
    }
    for name in [
        "mount",
        "unshare",
        "setns",
        "init_module",
        "kexec_load",
        "ptrace",
    ] {
        assert!(!allowed.contains(name), "the profile allows {name}");
    }
    assert!(
        doc.contains("/var/lib/kubelet/seccomp/profiles/saker.json"),
        "install path documented"
    );
    assert_eq!(rel, "profiles/saker.json");

    // Root, but not allowed to become more (see the overlay's comment).
    assert_eq!(sc.run_as_user, Some(0));
    assert_ne!(sc.run_as_non_root, Some(true));

    let privileged = agent_container(&daemonset("overlays/privileged"));
    let psc = privileged
        .security_context
        .as_ref()
        .expect("securityContext");
    assert_eq!(
        psc.privileged,
        Some(true),
        "the privileged overlay is the fallback"
    );
}

/// The config and rules ConfigMaps, written where the container sees them
/// (`/etc/saker/...` mapped to a temporary directory; the image's default
/// ruleset is agent/rules/saker_rules.yaml).
struct ConfigTree {
    dir: tempfile::TempDir,
}

impl ConfigTree {
    fn from_base() -> ConfigTree {
        let docs = render("base");
        let dir = tempfile::tempdir().expect("tempdir");
        let config: ConfigMap = round_trip(find(&docs, "ConfigMap", "saker-config-"));
        let rules: ConfigMap = round_trip(find(&docs, "ConfigMap", "saker-rules-"));
        let data = config.data.expect("config data");
        assert_eq!(data.keys().collect::<Vec<_>>(), ["saker.yaml"]);
        std::fs::write(dir.path().join("saker.yaml"), &data["saker.yaml"]).expect("write config");
        std::fs::create_dir(dir.path().join("rules.d")).expect("rules.d");
        let rules = rules.data.expect("rules data");
        assert!(!rules.is_empty(), "rules.d is empty");
        for (file, text) in &rules {
            assert!(file.ends_with(".yaml"), "{file}: rules files end in .yaml");
            std::fs::write(dir.path().join("rules.d").join(file), text).expect("write rules");
        }
        ConfigTree { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

fn saker(args: &[&str]) -> (bool, String) {
    let out = Command::new(common::saker_bin())
        .args(args)
        .output()
        .expect("run saker");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_configmap_passes_sakers_own_validation() {
    let tree = ConfigTree::from_base();
    let config = tree.path("saker.yaml");
    let config = config.to_str().expect("utf-8 path");

    // As each overlay starts the agent: its args after `run`, with the
    // config at the temporary path; and with the falcosidekick output on,
    // so the disabled section is valid once enabled. Validation reads the
    // rules files the config names: the container's paths, replaced (-o
    // rules_files=[...]) by where they are here.
    let rules_here = format!(
        "rules_files=[{}, {}]",
        workspace().join("agent/rules/saker_rules.yaml").display(),
        tree.path("rules.d").display()
    );
    for which in [
        "base",
        "overlays/production",
        "overlays/privileged",
        "overlays/observe",
    ] {
        let args = agent_container(&daemonset(which)).args.expect("args");
        assert_eq!(args[..3], ["run", "-c", "/etc/saker/saker.yaml"], "{which}");
        let mut cmd: Vec<&str> = vec!["config", "validate", "-c", config, "-o", &rules_here];
        cmd.extend(args[3..].iter().map(String::as_str));
        let (ok, out) = saker(&cmd);
        assert!(ok, "{which}: saker {cmd:?}:\n{out}");
        assert!(!out.contains("warning"), "{which}: {out}");
        cmd.extend(["-o", "http_output.enabled=true"]);
        let (ok, out) = saker(&cmd);
        assert!(ok, "{which} with http_output on: {out}");
    }

    // The rules the config loads, as the container has them.
    let parsed: Value =
        serde_yaml::from_str(&std::fs::read_to_string(tree.path("saker.yaml")).expect("read"))
            .expect("YAML");
    assert_eq!(
        parsed["rules_files"],
        serde_json::json!(["/etc/saker/saker_rules.yaml", "/etc/saker/rules.d"]),
        "the image's default rules, then the local ones"
    );
    let image_rules = workspace().join("agent/rules/saker_rules.yaml");
    let rules_d = tree.path("rules.d");
    for files in [
        vec![rules_d.join("local_rules.yaml")],
        vec![image_rules.clone(), rules_d.clone()],
    ] {
        let mut cmd = vec!["rules".to_string(), "validate".to_string()];
        for f in &files {
            cmd.push("-r".into());
            cmd.push(f.display().to_string());
        }
        let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let (ok, out) = saker(&args);
        assert!(ok, "saker {args:?}:\n{out}");
    }
}

/// GitHub's heading anchors: lowercase, punctuation other than '-' and '_'
/// removed, spaces to '-'.
fn github_anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn every_alert_links_a_runbook_section() {
    let runbooks =
        std::fs::read_to_string(workspace().join("docs/runbooks.md")).expect("docs/runbooks.md");
    let mut in_code = false;
    let mut anchors = BTreeSet::new();
    for line in runbooks.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            anchors.insert(github_anchor(line.trim_start_matches('#')));
        }
    }
    let manifest = std::fs::read_to_string(workspace().join("Cargo.toml")).expect("Cargo.toml");
    let repository = manifest
        .lines()
        .find_map(|l| l.strip_prefix("repository = "))
        .map(|v| v.trim_matches('"').to_string())
        .expect("workspace.package.repository");
    let prefix = format!("{repository}/blob/main/docs/runbooks.md#");

    let rules: Value = serde_yaml::from_str(
        &std::fs::read_to_string(workspace().join("deploy/monitoring/saker.rules.yml"))
            .expect("rules"),
    )
    .expect("YAML");
    let mut alerts = 0;
    for group in rules["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            let Some(alert) = rule["alert"].as_str() else {
                continue;
            };
            alerts += 1;
            let url = rule["annotations"]["runbook_url"]
                .as_str()
                .unwrap_or_else(|| panic!("{alert}: no annotations.runbook_url"));
            let anchor = url.strip_prefix(&prefix).unwrap_or_else(|| {
                panic!("{alert}: runbook_url {url} does not start with {prefix}")
            });
            assert!(
                anchors.contains(anchor),
                "{alert}: #{anchor} is not a heading of docs/runbooks.md"
            );
            assert_eq!(
                anchor,
                github_anchor(alert),
                "{alert}: its section is named after it"
            );
        }
    }
    assert!(alerts >= 12, "only {alerts} alerts");
}

#[test]
fn github_anchors_follow_githubs_rules() {
    assert_eq!(github_anchor(" SakerAgentDown"), "sakeragentdown");
    assert_eq!(
        github_anchor("Routing security alerts to on-call (PagerDuty, Opsgenie)"),
        "routing-security-alerts-to-on-call-pagerduty-opsgenie"
    );
    assert_eq!(github_anchor("Seccomp: `saker.json`"), "seccomp-sakerjson");
}

/// The first rollout phase: the observe overlay is the production one with
/// every rule in observe mode and the observe log on the node's writable
/// hostPath, and that configuration puts every loaded rule in observe mode.
#[test]
fn the_observe_overlay_observes_every_rule_with_production_privileges() {
    let observe = agent_container(&daemonset("overlays/observe"));
    let production = agent_container(&daemonset("overlays/production"));
    assert_eq!(observe.security_context, production.security_context);
    let args = observe.args.expect("args");
    let pairs: Vec<&str> = args
        .windows(2)
        .filter(|w| w[0] == "-o")
        .map(|w| w[1].as_str())
        .collect();
    assert!(
        pairs.contains(&"saker.default_rule_mode=observe"),
        "{args:?}"
    );
    let log = pairs
        .iter()
        .find_map(|p| p.strip_prefix("saker.observe_log="))
        .expect("observe log");
    let mounts = observe.volume_mounts.expect("mounts");
    assert!(
        mounts
            .iter()
            .any(|m| log.starts_with(&m.mount_path) && m.read_only != Some(true)),
        "{log} is on a writable mount: {mounts:?}"
    );
    let out = Command::new(common::saker_bin())
        .args([
            "rules",
            "list",
            "--json",
            "-o",
            "saker.default_rule_mode=observe",
        ])
        .output()
        .expect("run saker");
    assert!(out.status.success());
    let rules: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(!rules.is_empty());
    assert!(rules.iter().all(|r| r["mode"] == "observe"), "{rules:?}");
}
