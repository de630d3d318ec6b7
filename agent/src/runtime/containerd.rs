//! containerd's native API: containers created outside Kubernetes (`ctr run`,
//! nerdctl, Docker's `moby` namespace), which the CRI API does not list.
//!
//! As the container plugin's containerd engine
//! (falcosecurity/plugins `plugins/container/go-worker/pkg/container/containerd.go`):
//! `Containers.Get` in the container's namespace (from its cgroup
//! `/<namespace>/<id>`; else the usual namespaces are tried) gives the image,
//! labels, creation time and the OCI runtime spec (mounts, capabilities);
//! `Images.Get` gives the image digest. `Namespaces.List` tells the cgroup
//! matcher which `/<namespace>/<id>` paths are containerd's.

use std::path::PathBuf;
use std::time::Duration;

use containerd_client::services::v1 as api;
use containerd_client::services::v1::containers_client::ContainersClient;
use containerd_client::services::v1::events_client::EventsClient;
use containerd_client::services::v1::images_client::ImagesClient;
use containerd_client::services::v1::namespaces_client::NamespacesClient;
use containerd_client::services::v1::version_client::VersionClient;
use prost::Message;

use super::{EngineError, GrpcSocket, bounded_labels, with_timeout};
use crate::state::container::{
    ContainerInfo, ContainerType, DEFAULT_CONTAINERD_NAMESPACES, Mount, split_image,
};

#[derive(Debug)]
pub struct ContainerdClient {
    sock: GrpcSocket,
}

/// What the event stream reports that Saker acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `/namespaces/create`.
    NamespaceCreated(String),
    /// `/containers/create`: a container, before any of its processes ran.
    ContainerCreated { namespace: String, id: String },
}

/// Topics subscribed to (containerd's filter syntax, `events.proto`).
const EVENT_FILTERS: [&str; 2] = [
    r#"topic=="/namespaces/create""#,
    r#"topic=="/containers/create""#,
];

fn in_namespace<T>(msg: T, ns: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    if let Ok(v) = ns.parse() {
        // containerd/pkg/namespaces/grpc.go: the namespace travels in this header.
        req.metadata_mut().insert("containerd-namespace", v);
    }
    req
}

impl ContainerdClient {
    pub fn new(path: PathBuf, timeout: Duration) -> Self {
        ContainerdClient {
            sock: GrpcSocket::new(path, timeout),
        }
    }

    pub fn socket(&self) -> String {
        self.sock.name()
    }

    /// Whether containerd answers (`Version`).
    pub async fn ping(&self) -> Result<(), EngineError> {
        with_timeout(&self.sock.path, self.sock.timeout, async {
            let mut c = VersionClient::new(self.sock.channel().await?);
            let r = c.version(()).await;
            self.sock.status("Version", r).await.map(|_| ())
        })
        .await
    }

    /// Subscribes to namespace and container creation and calls `on_event`
    /// for each, until the stream ends or fails (the caller resubscribes).
    /// Undecodable events are skipped.
    pub async fn watch(&self, mut on_event: impl FnMut(Event)) -> Result<(), EngineError> {
        let channel = with_timeout(&self.sock.path, self.sock.timeout, self.sock.channel()).await?;
        let mut c = EventsClient::new(channel);
        let r = c
            .subscribe(api::SubscribeRequest {
                filters: EVENT_FILTERS.iter().map(|f| (*f).to_string()).collect(),
            })
            .await;
        let Some(stream) = self.sock.status("Events.Subscribe", r).await? else {
            return Ok(());
        };
        let mut stream = stream.into_inner();
        loop {
            let msg = stream.message().await;
            let Some(env) = self.sock.status("Events.Subscribe", msg).await?.flatten() else {
                return Ok(());
            };
            let Some(any) = env.event else { continue };
            match env.topic.as_str() {
                "/namespaces/create" => {
                    if let Ok(ns) = containerd_client::events::NamespaceCreate::decode(&*any.value)
                    {
                        on_event(Event::NamespaceCreated(ns.name));
                    }
                }
                "/containers/create" => {
                    if let Ok(c) = containerd_client::events::ContainerCreate::decode(&*any.value) {
                        on_event(Event::ContainerCreated {
                            namespace: env.namespace,
                            id: c.id,
                        });
                    }
                }
                _ => {}
            }
        }
    }

    /// containerd's namespaces.
    pub async fn namespaces(&self) -> Result<Vec<String>, EngineError> {
        with_timeout(&self.sock.path, self.sock.timeout, async {
            let mut c = NamespacesClient::new(self.sock.channel().await?);
            let r = c
                .list(api::ListNamespacesRequest {
                    filter: String::new(),
                })
                .await;
            Ok(self
                .sock
                .status("Namespaces.List", r)
                .await?
                .map(|r| {
                    r.into_inner()
                        .namespaces
                        .into_iter()
                        .map(|n| n.name)
                        .collect()
                })
                .unwrap_or_default())
        })
        .await
    }

    /// Metadata of container `id` in `namespace` (or the usual namespaces).
    pub async fn lookup(
        &self,
        id: &str,
        namespace: Option<&str>,
        label_max_len: usize,
    ) -> Result<Option<ContainerInfo>, EngineError> {
        with_timeout(&self.sock.path, self.sock.timeout, async {
            let namespaces: Vec<&str> = match namespace {
                Some(ns) => vec![ns],
                None => DEFAULT_CONTAINERD_NAMESPACES.to_vec(),
            };
            for ns in namespaces {
                if let Some(info) = self.get(id, ns, label_max_len).await? {
                    return Ok(Some(info));
                }
            }
            Ok(None)
        })
        .await
    }

    async fn get(
        &self,
        id: &str,
        ns: &str,
        label_max_len: usize,
    ) -> Result<Option<ContainerInfo>, EngineError> {
        let channel = self.sock.channel().await?;
        let mut c = ContainersClient::new(channel.clone());
        let r = c
            .get(in_namespace(
                api::GetContainerRequest { id: id.to_string() },
                ns,
            ))
            .await;
        let Some(ctr) = self
            .sock
            .status("Containers.Get", r)
            .await?
            .and_then(|r| r.into_inner().container)
        else {
            return Ok(None);
        };
        let mut images = ImagesClient::new(channel);
        let digest = if ctr.image.is_empty() {
            None
        } else {
            let r = images
                .get(in_namespace(
                    api::GetImageRequest {
                        name: ctr.image.clone(),
                    },
                    ns,
                ))
                .await;
            self.sock
                .status("Images.Get", r)
                .await?
                .and_then(|r| r.into_inner().image)
                .and_then(|i| i.target)
                .map(|t| t.digest)
        };
        let spec = ctr
            .spec
            .as_ref()
            .and_then(|a| serde_json::from_slice::<serde_json::Value>(&a.value).ok());
        let (repo, tag) = split_image(&ctr.image);
        let created_ns = ctr
            .created_at
            .as_ref()
            .map_or(0, |t| t.seconds * 1_000_000_000 + i64::from(t.nanos));
        Ok(Some(ContainerInfo {
            full_id: ctr.id.clone(),
            kind: Some(ContainerType::Containerd),
            // containerd has no container names: the id is the name, as
            // `ctr` shows it (the plugin does the same).
            name: ctr.id.clone(),
            image: ctr.image.clone(),
            image_id: digest
                .as_deref()
                .map(|d| {
                    d.strip_prefix("sha256:")
                        .unwrap_or(d)
                        .chars()
                        .take(12)
                        .collect()
                })
                .unwrap_or_default(),
            image_repository: repo.to_string(),
            image_tag: tag.to_string(),
            image_digest: digest.unwrap_or_default(),
            labels: bounded_labels(&ctr.labels, label_max_len),
            privileged: spec.as_ref().map(privileged),
            mounts: spec.as_ref().map(mounts).unwrap_or_default(),
            created_ns,
            host_pid: spec.as_ref().map(|s| !has_namespace(s, "pid")),
            host_network: spec.as_ref().map(|s| !has_namespace(s, "network")),
            host_ipc: spec.as_ref().map(|s| !has_namespace(s, "ipc")),
            ..ContainerInfo::default()
        }))
    }
}

/// The OCI spec creates its own namespace of `kind` (no `path` joins another).
fn has_namespace(spec: &serde_json::Value, kind: &str) -> bool {
    spec.pointer("/linux/namespaces")
        .and_then(|n| n.as_array())
        .is_some_and(|ns| {
            ns.iter().any(|n| {
                n.get("type").and_then(|t| t.as_str()) == Some(kind)
                    && n.get("path")
                        .and_then(|p| p.as_str())
                        .is_none_or(str::is_empty)
            })
        })
}

/// A privileged container (`ctr run --privileged`, Docker/CRI `privileged`)
/// keeps every capability in its bounding set, CAP_SYS_ADMIN and
/// CAP_SYS_MODULE included, which no default profile grants.
fn privileged(spec: &serde_json::Value) -> bool {
    spec.pointer("/process/capabilities/bounding")
        .and_then(|b| b.as_array())
        .is_some_and(|caps| {
            let has = |c: &str| caps.iter().any(|x| x.as_str() == Some(c));
            has("CAP_SYS_ADMIN") && has("CAP_SYS_MODULE")
        })
}

fn mounts(spec: &serde_json::Value) -> Vec<Mount> {
    let Some(list) = spec.get("mounts").and_then(|m| m.as_array()) else {
        return Vec::new();
    };
    list.iter()
        .map(|m| {
            let opts: Vec<&str> = m
                .get("options")
                .and_then(|o| o.as_array())
                .map(|o| o.iter().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            let propagation = opts
                .iter()
                .find(|o| {
                    matches!(
                        **o,
                        "private" | "rprivate" | "slave" | "rslave" | "shared" | "rshared"
                    )
                })
                .copied()
                .unwrap_or("");
            Mount {
                source: m
                    .get("source")
                    .and_then(|s| s.as_str())
                    .unwrap_or("")
                    .to_string(),
                dest: m
                    .get("destination")
                    .and_then(|s| s.as_str())
                    .unwrap_or("")
                    .to_string(),
                mode: String::new(),
                rw: !opts.contains(&"ro"),
                propagation: propagation.to_string(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_spec_gives_privileged_mounts_and_namespaces() {
        let spec = serde_json::json!({
            "process": {"capabilities": {"bounding": ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_SYS_MODULE"]}},
            "mounts": [
                {"destination": "/data", "source": "/srv/data", "options": ["rbind", "ro", "rprivate"]},
                {"destination": "/proc", "source": "proc", "type": "proc"}
            ],
            "linux": {"namespaces": [{"type": "pid"}, {"type": "network", "path": "/proc/1/ns/net"}]}
        });
        assert!(privileged(&spec));
        assert!(!privileged(
            &serde_json::json!({"process": {"capabilities": {"bounding": ["CAP_CHOWN"]}}})
        ));
        let m = mounts(&spec);
        assert_eq!(m[0].dest, "/data");
        assert!(!m[0].rw);
        assert_eq!(m[0].propagation, "rprivate");
        assert!(m[1].rw);
        assert!(has_namespace(&spec, "pid"));
        assert!(!has_namespace(&spec, "network"), "joins the host's");
        assert!(!has_namespace(&spec, "ipc"));
    }
}
