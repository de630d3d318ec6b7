//! The kubelet's part, for tests: a rendered pod template turned into the
//! CRI requests the kubelet sends for it (kubernetes `pkg/kubelet/kuberuntime`:
//! `kuberuntime_sandbox.go` generatePodSandboxConfig,
//! `kuberuntime_container.go` generateContainerConfig, `security_context.go`,
//! and the volume plugins for hostPath, configMap and emptyDir), so that a
//! manifest's security context, capabilities, seccomp profile, host
//! namespaces, mounts, env and args reach a real runtime exactly as written,
//! not hand-copied into the test.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use k8s_cri::v1 as cri;
use k8s_openapi::api::core::v1::{ConfigMap, Container, PodSpec as K8sPodSpec, Volume};

use super::runtimes::{MASKED_PATHS, POD_CGROUP_ROOT, READONLY_PATHS};

/// What the kubelet knows besides the template.
pub struct PodContext<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub uid: &'a str,
    pub node_name: &'a str,
    /// ConfigMaps the pod's volumes may name.
    pub config_maps: &'a [ConfigMap],
    /// The pod log directory's parent.
    pub log_root: &'a Path,
    /// The kubelet's seccomp profile root (`<root-dir>/seccomp`): Localhost
    /// profiles are paths below it.
    pub seccomp_root: &'a Path,
    /// Where volumes are materialised (configMap files, emptyDirs).
    pub volumes_dir: &'a Path,
}

fn node(on: bool) -> i32 {
    if on {
        cri::NamespaceMode::Node as i32
    } else {
        cri::NamespaceMode::Pod as i32
    }
}

fn namespace_options(spec: &K8sPodSpec) -> cri::NamespaceOption {
    cri::NamespaceOption {
        network: node(spec.host_network == Some(true)),
        // Without hostPID each container has its own pid namespace
        // (shareProcessNamespace unset).
        pid: if spec.host_pid == Some(true) {
            cri::NamespaceMode::Node as i32
        } else {
            cri::NamespaceMode::Container as i32
        },
        ipc: node(spec.host_ipc == Some(true)),
        ..Default::default()
    }
}

/// The pod's sandbox config.
pub fn sandbox_config(
    spec: &K8sPodSpec,
    labels: &BTreeMap<String, String>,
    ctx: &PodContext,
) -> cri::PodSandboxConfig {
    let log_directory = ctx
        .log_root
        .join(format!("{}_{}_{}", ctx.namespace, ctx.name, ctx.uid));
    std::fs::create_dir_all(&log_directory).expect("pod log dir");
    let mut labels: HashMap<String, String> = labels.clone().into_iter().collect();
    labels.insert("io.kubernetes.pod.name".into(), ctx.name.into());
    labels.insert("io.kubernetes.pod.namespace".into(), ctx.namespace.into());
    labels.insert("io.kubernetes.pod.uid".into(), ctx.uid.into());
    let host_network = spec.host_network == Some(true);
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: ctx.name.into(),
            uid: ctx.uid.into(),
            namespace: ctx.namespace.into(),
            attempt: 0,
        }),
        // The kubelet leaves the hostname empty for host-network pods.
        hostname: if host_network {
            String::new()
        } else {
            ctx.name.into()
        },
        log_directory: log_directory.display().to_string(),
        labels,
        annotations: HashMap::from([("kubernetes.io/config.source".into(), "api".into())]),
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: format!("{POD_CGROUP_ROOT}/pod{}", ctx.uid),
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(namespace_options(spec)),
                privileged: spec.containers.iter().any(|c| {
                    c.security_context
                        .as_ref()
                        .and_then(|s| s.privileged)
                        .unwrap_or(false)
                }),
                seccomp: Some(cri::SecurityProfile {
                    profile_type: cri::security_profile::ProfileType::RuntimeDefault as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A volume's host path: hostPath as is; a configMap's keys written to files
/// (the kubelet's atomic writer, without its `..data` indirection); an
/// emptyDir a fresh directory.
fn volume_path(v: &Volume, ctx: &PodContext) -> PathBuf {
    if let Some(h) = &v.host_path {
        let p = PathBuf::from(&h.path);
        if h.type_.as_deref() == Some("DirectoryOrCreate") {
            std::fs::create_dir_all(&p).expect("hostPath DirectoryOrCreate");
        }
        return p;
    }
    let dir = ctx.volumes_dir.join(&v.name);
    std::fs::create_dir_all(&dir).expect("volume dir");
    if let Some(cm) = &v.config_map {
        let found = ctx
            .config_maps
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(cm.name.as_str()))
            .unwrap_or_else(|| panic!("ConfigMap {} of volume {} not rendered", cm.name, v.name));
        for (k, val) in found.data.clone().unwrap_or_default() {
            std::fs::write(dir.join(&k), val).expect("configMap file");
        }
    } else {
        assert!(
            v.empty_dir.is_some(),
            "volume {}: unsupported kind in this test kubelet",
            v.name
        );
    }
    dir
}

/// A container's config, as generateContainerConfig builds it.
pub fn container_config(
    spec: &K8sPodSpec,
    c: &Container,
    ctx: &PodContext,
) -> cri::ContainerConfig {
    let envs = c
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            let value = match (e.value, e.value_from.and_then(|f| f.field_ref)) {
                (Some(v), _) => v,
                (None, Some(f)) => match f.field_path.as_str() {
                    "spec.nodeName" => ctx.node_name.to_string(),
                    "metadata.name" => ctx.name.to_string(),
                    "metadata.namespace" => ctx.namespace.to_string(),
                    "metadata.uid" => ctx.uid.to_string(),
                    other => panic!("fieldRef {other} not supported by this test kubelet"),
                },
                (None, None) => String::new(),
            };
            cri::KeyValue { key: e.name, value }
        })
        .collect();
    let volumes = spec.volumes.clone().unwrap_or_default();
    let mounts = c
        .volume_mounts
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            let v = volumes
                .iter()
                .find(|v| v.name == m.name)
                .unwrap_or_else(|| panic!("volumeMount {} has no volume", m.name));
            let mut host = volume_path(v, ctx);
            if let Some(sub) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
                host = host.join(sub);
            }
            cri::Mount {
                container_path: m.mount_path,
                host_path: host.display().to_string(),
                readonly: m.read_only == Some(true),
                propagation: match m.mount_propagation.as_deref() {
                    Some("HostToContainer") => {
                        cri::MountPropagation::PropagationHostToContainer as i32
                    }
                    Some("Bidirectional") => cri::MountPropagation::PropagationBidirectional as i32,
                    _ => cri::MountPropagation::PropagationPrivate as i32,
                },
                ..Default::default()
            }
        })
        .collect();
    let sc = c.security_context.clone().unwrap_or_default();
    let privileged = sc.privileged == Some(true);
    let caps = sc.capabilities.clone().unwrap_or_default();
    let seccomp = sc.seccomp_profile.clone().or_else(|| {
        spec.security_context
            .as_ref()
            .and_then(|s| s.seccomp_profile.clone())
    });
    let seccomp = match seccomp
        .as_ref()
        .map(|p| (p.type_.as_str(), p.localhost_profile.clone()))
    {
        Some(("Localhost", Some(path))) => cri::SecurityProfile {
            profile_type: cri::security_profile::ProfileType::Localhost as i32,
            localhost_ref: ctx.seccomp_root.join(path).display().to_string(),
        },
        Some(("Unconfined", _)) => cri::SecurityProfile {
            profile_type: cri::security_profile::ProfileType::Unconfined as i32,
            ..Default::default()
        },
        _ => cri::SecurityProfile {
            profile_type: cri::security_profile::ProfileType::RuntimeDefault as i32,
            ..Default::default()
        },
    };
    let (masked, readonly) = if privileged {
        (Vec::new(), Vec::new())
    } else {
        (
            MASKED_PATHS.iter().map(|s| s.to_string()).collect(),
            READONLY_PATHS.iter().map(|s| s.to_string()).collect(),
        )
    };
    let limits = c
        .resources
        .as_ref()
        .and_then(|r| r.limits.clone())
        .unwrap_or_default();
    let memory_limit = limits.get("memory").map_or(0, |q| parse_memory(&q.0));
    let cpu_quota = limits
        .get("cpu")
        .map_or(0, |q| parse_cpu_millis(&q.0) * 100);
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: c.name.clone(),
            attempt: 0,
        }),
        image: Some(cri::ImageSpec {
            image: c.image.clone().unwrap_or_default(),
            ..Default::default()
        }),
        command: c.command.clone().unwrap_or_default(),
        args: c.args.clone().unwrap_or_default(),
        working_dir: c.working_dir.clone().unwrap_or_default(),
        envs,
        mounts,
        labels: HashMap::from([
            ("io.kubernetes.container.name".into(), c.name.clone()),
            ("io.kubernetes.pod.name".into(), ctx.name.into()),
            ("io.kubernetes.pod.namespace".into(), ctx.namespace.into()),
            ("io.kubernetes.pod.uid".into(), ctx.uid.into()),
        ]),
        annotations: HashMap::from([(
            "io.kubernetes.pod.terminationGracePeriod".into(),
            spec.termination_grace_period_seconds
                .unwrap_or(30)
                .to_string(),
        )]),
        log_path: format!("{}/0.log", c.name),
        linux: Some(cri::LinuxContainerConfig {
            resources: Some(cri::LinuxContainerResources {
                cpu_period: 100_000,
                cpu_quota,
                cpu_shares: 102,
                memory_limit_in_bytes: memory_limit,
                ..Default::default()
            }),
            security_context: Some(cri::LinuxContainerSecurityContext {
                capabilities: Some(cri::Capability {
                    add_capabilities: caps.add.unwrap_or_default(),
                    drop_capabilities: caps.drop.unwrap_or_default(),
                    ..Default::default()
                }),
                privileged,
                namespace_options: Some(namespace_options(spec)),
                run_as_user: sc.run_as_user.map(|u| cri::Int64Value { value: u }),
                run_as_group: sc.run_as_group.map(|g| cri::Int64Value { value: g }),
                readonly_rootfs: sc.read_only_root_filesystem == Some(true),
                no_new_privs: sc.allow_privilege_escalation == Some(false),
                masked_paths: masked,
                readonly_paths: readonly,
                seccomp: Some(seccomp),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

/// `512Mi`, `128M`, `1Gi`, plain bytes.
fn parse_memory(q: &str) -> i64 {
    let (num, unit) = q.split_at(q.find(|c: char| !c.is_ascii_digit()).unwrap_or(q.len()));
    let n: i64 = num.parse().unwrap_or(0);
    n * match unit {
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "K" | "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        _ => 1,
    }
}

/// `1000m`, `1`, `0.5` in millicores.
fn parse_cpu_millis(q: &str) -> i64 {
    match q.strip_suffix('m') {
        Some(m) => m.parse().unwrap_or(0),
        None => (q.parse::<f64>().unwrap_or(0.0) * 1000.0) as i64,
    }
}
