//! The CRI `runtime.v1` RuntimeService client (containerd's CRI plugin,
//! CRI-O, k3s): what the kubelet's runtime knows about a container and its
//! pod.
//!
//! Follows the container plugin's CRI engine
//! (falcosecurity/plugins `plugins/container/go-worker/pkg/container/cri.go`):
//! `ListContainers` filtered by id (a prefix works) gives the full id and the
//! sandbox id; `ContainerStatus` (verbose) gives name, image, labels, mounts
//! and, in its `info` JSON, privileged; `PodSandboxStatus` (verbose) gives the
//! pod's name, namespace, uid, labels, IP, host namespaces and the CNI result.
//! The runtime's name (`Version`) sets `container.type` (`containerd`,
//! `cri-o`, else `cri`).

use std::path::PathBuf;
use std::time::Duration;

use k8s_cri::v1 as cri;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tokio::sync::OnceCell;

use super::{EngineError, GrpcSocket, bounded_labels, with_timeout};
use crate::state::container::{ContainerInfo, ContainerType, Mount, PodInfo, split_image};

/// Longest CNI JSON kept (the plugin's `maxCNILen`).
const MAX_CNI_JSON: usize = 4096;

#[derive(Debug)]
pub struct CriClient {
    sock: GrpcSocket,
    runtime: OnceCell<ContainerType>,
}

impl CriClient {
    pub fn new(path: PathBuf, timeout: Duration) -> Self {
        CriClient {
            sock: GrpcSocket::new(path, timeout),
            runtime: OnceCell::new(),
        }
    }

    pub fn socket(&self) -> String {
        self.sock.name()
    }

    async fn client(&self) -> Result<RuntimeServiceClient<tonic::transport::Channel>, EngineError> {
        Ok(RuntimeServiceClient::new(self.sock.channel().await?))
    }

    /// Whether the runtime answers (`Version`).
    pub async fn ping(&self) -> Result<(), EngineError> {
        with_timeout(&self.sock.path, self.sock.timeout, async {
            let mut c = self.client().await?;
            let r = c
                .version(cri::VersionRequest {
                    version: "v1".into(),
                })
                .await;
            self.sock.status("Version", r).await.map(|_| ())
        })
        .await
    }

    /// containerd -> `containerd`, cri-o -> `cri-o`, anything else `cri`
    /// (libsinsp `cri.hpp`, the plugin's `getRuntime`).
    async fn runtime(&self) -> Result<ContainerType, EngineError> {
        if let Some(t) = self.runtime.get() {
            return Ok(*t);
        }
        let mut c = self.client().await?;
        let r = c
            .version(cri::VersionRequest {
                version: "v1".into(),
            })
            .await;
        let name = self
            .sock
            .status("Version", r)
            .await?
            .map(|v| v.into_inner().runtime_name)
            .unwrap_or_default();
        let t = match name.as_str() {
            "containerd" => ContainerType::Containerd,
            "cri-o" => ContainerType::CriO,
            _ => ContainerType::Cri,
        };
        let _ = self.runtime.set(t);
        Ok(t)
    }

    /// Metadata of container `id` (full or prefix), None if the runtime does not know it.
    pub async fn lookup(
        &self,
        id: &str,
        label_max_len: usize,
    ) -> Result<Option<ContainerInfo>, EngineError> {
        with_timeout(
            &self.sock.path,
            self.sock.timeout,
            self.fetch(id, label_max_len),
        )
        .await
    }

    async fn fetch(
        &self,
        id: &str,
        label_max_len: usize,
    ) -> Result<Option<ContainerInfo>, EngineError> {
        let runtime = self.runtime().await?;
        let mut c = self.client().await?;
        let r = c
            .list_containers(cri::ListContainersRequest {
                filter: Some(cri::ContainerFilter {
                    id: id.to_string(),
                    ..cri::ContainerFilter::default()
                }),
            })
            .await;
        let listed = self
            .sock
            .status("ListContainers", r)
            .await?
            .map(|r| r.into_inner().containers)
            .unwrap_or_default();
        let Some(listed) = listed.into_iter().next() else {
            // Not a container: maybe a pod sandbox (its pause process).
            return self.sandbox_only(id, runtime, label_max_len).await;
        };
        let r = c
            .container_status(cri::ContainerStatusRequest {
                container_id: listed.id.clone(),
                verbose: true,
            })
            .await;
        let Some(status) = self.sock.status("ContainerStatus", r).await? else {
            return Ok(None);
        };
        let status = status.into_inner();
        let Some(ctr) = status.status else {
            return Ok(None);
        };
        let sandbox = self.sandbox(&listed.pod_sandbox_id).await?;
        let verbose = status
            .info
            .get("info")
            .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok());
        Ok(Some(container_info(
            runtime,
            ctr,
            verbose.as_ref(),
            sandbox.as_ref(),
            label_max_len,
        )))
    }

    async fn sandbox(
        &self,
        id: &str,
    ) -> Result<Option<cri::PodSandboxStatusResponse>, EngineError> {
        if id.is_empty() {
            return Ok(None);
        }
        let mut c = self.client().await?;
        let r = c
            .pod_sandbox_status(cri::PodSandboxStatusRequest {
                pod_sandbox_id: id.to_string(),
                verbose: true,
            })
            .await;
        Ok(self
            .sock
            .status("PodSandboxStatus", r)
            .await?
            .map(tonic::Response::into_inner))
    }

    /// A sandbox's own processes (the pause container): pod fields only, as
    /// Falco reports them (`container.id` equals `k8s.pod.sandbox_id`).
    async fn sandbox_only(
        &self,
        id: &str,
        runtime: ContainerType,
        label_max_len: usize,
    ) -> Result<Option<ContainerInfo>, EngineError> {
        let mut c = self.client().await?;
        let r = c
            .list_pod_sandbox(cri::ListPodSandboxRequest {
                filter: Some(cri::PodSandboxFilter {
                    id: id.to_string(),
                    ..cri::PodSandboxFilter::default()
                }),
            })
            .await;
        let found = self
            .sock
            .status("ListPodSandbox", r)
            .await?
            .and_then(|r| r.into_inner().items.into_iter().next());
        let Some(found) = found else {
            return Ok(None);
        };
        let Some(sb) = self.sandbox(&found.id).await? else {
            return Ok(None);
        };
        let pod = pod_info(&sb, label_max_len);
        Ok(Some(ContainerInfo {
            full_id: found.id,
            kind: Some(runtime),
            created_ns: found.created_at,
            host_pid: pod.1.0,
            host_network: pod.1.1,
            host_ipc: pod.1.2,
            ip: pod.0.ip.clone(),
            cni_json: pod.0.cni_json.clone(),
            pod: Some(pod.0),
            ..ContainerInfo::default()
        }))
    }
}

/// Whether a pod shares the host's pid, network and ipc namespaces.
type HostNamespaces = (Option<bool>, Option<bool>, Option<bool>);

/// Pod fields and host namespaces of a sandbox status.
fn pod_info(sb: &cri::PodSandboxStatusResponse, label_max_len: usize) -> (PodInfo, HostNamespaces) {
    let status = sb.status.as_ref();
    let meta = status.and_then(|s| s.metadata.as_ref());
    let node = cri::NamespaceMode::Node as i32;
    let ns = status
        .and_then(|s| s.linux.as_ref())
        .and_then(|l| l.namespaces.as_ref())
        .and_then(|n| n.options.as_ref());
    let hosts = (
        ns.map(|o| o.pid == node),
        ns.map(|o| o.network == node),
        ns.map(|o| o.ipc == node),
    );
    let pod = PodInfo {
        name: meta.map(|m| m.name.clone()).unwrap_or_default(),
        namespace: meta.map(|m| m.namespace.clone()).unwrap_or_default(),
        uid: meta.map(|m| m.uid.clone()).unwrap_or_default(),
        sandbox_id: status.map(|s| s.id.clone()).unwrap_or_default(),
        labels: status
            .map(|s| bounded_labels(&s.labels, label_max_len))
            .unwrap_or_default(),
        ip: status
            .and_then(|s| s.network.as_ref())
            .map(|n| n.ip.clone())
            .unwrap_or_default(),
        cni_json: sb.info.get("info").map(|i| cni_json(i)).unwrap_or_default(),
    };
    (pod, hosts)
}

/// The CNI result's interfaces (without `lo` and host-side `veth`), as the
/// plugin keeps them; CRI-O puts the result in an annotation instead.
fn cni_json(info: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(info) else {
        return String::new();
    };
    let mut out = match v
        .pointer("/cniResult/Interfaces")
        .or(v.pointer("/cniResult/interfaces"))
    {
        Some(serde_json::Value::Object(ifaces)) => {
            let kept: serde_json::Map<String, serde_json::Value> = ifaces
                .iter()
                .filter(|(name, _)| *name != "lo" && !name.starts_with("veth"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            serde_json::Value::Object(kept).to_string()
        }
        Some(serde_json::Value::Array(ifaces)) => {
            serde_json::Value::Array(ifaces.clone()).to_string()
        }
        _ => v
            .pointer("/runtimeSpec/annotations/io.kubernetes.cri-o.CNIResult")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string(),
    };
    if out.len() > MAX_CNI_JSON {
        let mut cut = MAX_CNI_JSON;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

/// `privileged` from the verbose info: the runtime spec's or the CRI
/// config's security context (cri.go `getPrivileged`).
fn privileged(verbose: Option<&serde_json::Value>) -> Option<bool> {
    let v = verbose?;
    [
        "/runtimeSpec/linux/security_context/privileged",
        "/config/linux/security_context/privileged",
        "/privileged",
    ]
    .iter()
    .find_map(|p| v.pointer(p).and_then(serde_json::Value::as_bool))
    .or(Some(false))
}

fn propagation(p: i32) -> &'static str {
    match cri::MountPropagation::try_from(p) {
        Ok(cri::MountPropagation::PropagationPrivate) => "private",
        Ok(cri::MountPropagation::PropagationHostToContainer) => "rslave",
        Ok(cri::MountPropagation::PropagationBidirectional) => "rshared",
        _ => "unknown",
    }
}

/// Image fields from the CRI status: `image_ref` is `repo@sha256:...` or
/// `sha256:...` (cri.go, "image_ref may be one of two forms").
fn image_fields(
    ctr: &cri::ContainerStatus,
    verbose: Option<&serde_json::Value>,
) -> (String, String, String, String, String) {
    let mut name = ctr
        .image
        .as_ref()
        .map(|i| i.image.clone())
        .unwrap_or_default();
    let mut digest = String::new();
    let image_ref = &ctr.image_ref;
    match image_ref.find("sha256:") {
        Some(0) => digest = image_ref.clone(),
        Some(i) if image_ref.as_bytes().get(i - 1) == Some(&b'@') => {
            digest = image_ref[i..].to_string();
            let tag = split_image(&name).1.to_string();
            name = image_ref[..i - 1].to_string();
            if !tag.is_empty() {
                name = format!("{name}:{tag}");
            }
        }
        _ => {}
    }
    if name.is_empty() || name.starts_with("sha256") {
        let ann = |k: &str| ctr.annotations.get(k).cloned();
        if let Some(n) = ann("io.kubernetes.cri.image-name")
            .or_else(|| ann("io.kubernetes.cri-o.Image"))
            .or_else(|| ann("io.kubernetes.cri-o.ImageName"))
            .or_else(|| {
                verbose
                    .and_then(|v| v.pointer("/config/image/image"))
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            })
        {
            name = n;
        }
    }
    let (repo, tag) = split_image(&name);
    let image_id = ctr
        .image_id
        .strip_prefix("sha256:")
        .unwrap_or(&ctr.image_id)
        .to_string();
    (
        name.clone(),
        repo.to_string(),
        tag.to_string(),
        image_id,
        digest,
    )
}

fn container_info(
    runtime: ContainerType,
    ctr: cri::ContainerStatus,
    verbose: Option<&serde_json::Value>,
    sandbox: Option<&cri::PodSandboxStatusResponse>,
    label_max_len: usize,
) -> ContainerInfo {
    let (image, image_repository, image_tag, image_id, image_digest) = image_fields(&ctr, verbose);
    let mounts = ctr
        .mounts
        .iter()
        .map(|m| Mount {
            source: m.host_path.clone(),
            dest: m.container_path.clone(),
            mode: String::new(),
            rw: !m.readonly,
            propagation: propagation(m.propagation).to_string(),
        })
        .collect();
    let (pod, hosts) = match sandbox {
        Some(sb) => {
            let (p, h) = pod_info(sb, label_max_len);
            (Some(p), h)
        }
        None => (None, (None, None, None)),
    };
    ContainerInfo {
        full_id: ctr.id.clone(),
        kind: Some(runtime),
        name: ctr
            .metadata
            .as_ref()
            .map(|m| m.name.clone())
            .unwrap_or_default(),
        image,
        image_id,
        image_repository,
        image_tag,
        image_digest,
        labels: bounded_labels(&ctr.labels, label_max_len),
        privileged: privileged(verbose),
        mounts,
        created_ns: if ctr.started_at > 0 {
            ctr.started_at
        } else {
            ctr.created_at
        },
        ip: pod.as_ref().map(|p| p.ip.clone()).unwrap_or_default(),
        cni_json: pod.as_ref().map(|p| p.cni_json.clone()).unwrap_or_default(),
        host_pid: hosts.0,
        host_network: hosts.1,
        host_ipc: hosts.2,
        pod,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(image: &str, image_ref: &str) -> cri::ContainerStatus {
        cri::ContainerStatus {
            id: "f".repeat(64),
            image: Some(cri::ImageSpec {
                image: image.into(),
                ..cri::ImageSpec::default()
            }),
            image_ref: image_ref.into(),
            image_id: "sha256:0123456789ab".into(),
            ..cri::ContainerStatus::default()
        }
    }

    #[test]
    fn image_ref_forms_give_repository_tag_and_digest() {
        let d = "sha256:".to_string() + &"a".repeat(64);
        let (name, repo, tag, id, digest) = image_fields(
            &status(
                "docker.io/library/nginx:1.27",
                &format!("docker.io/library/nginx@{d}"),
            ),
            None,
        );
        assert_eq!(name, "docker.io/library/nginx:1.27");
        assert_eq!(
            (repo.as_str(), tag.as_str()),
            ("docker.io/library/nginx", "1.27")
        );
        assert_eq!(digest, d);
        assert_eq!(id, "0123456789ab");

        let (name, repo, tag, _, digest) =
            image_fields(&status("saker.test/toolbox:1.0", &d), None);
        assert_eq!(name, "saker.test/toolbox:1.0");
        assert_eq!((repo.as_str(), tag.as_str()), ("saker.test/toolbox", "1.0"));
        assert_eq!(digest, d);
    }

    #[test]
    fn privileged_and_cni_come_from_the_verbose_info() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"config":{"linux":{"security_context":{"privileged":true}}}}"#,
        )
        .unwrap();
        assert_eq!(privileged(Some(&v)), Some(true));
        assert_eq!(privileged(Some(&serde_json::json!({}))), Some(false));
        let info = r#"{"cniResult":{"Interfaces":{"eth0":{"IPConfigs":[{"IP":"10.88.0.5"}]},"lo":{},"veth1":{}}}}"#;
        let j = cni_json(info);
        assert!(
            j.contains("10.88.0.5") && !j.contains("\"lo\"") && !j.contains("veth1"),
            "{j}"
        );
    }
}
