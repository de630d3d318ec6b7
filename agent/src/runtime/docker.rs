//! The Docker Engine API (Docker, and podman's compatible service) through
//! the `bollard` client: `GET /containers/{id}/json` and `GET /images/{id}/json`,
//! as the container plugin's docker and podman engines
//! (falcosecurity/plugins `plugins/container/go-worker/pkg/container/docker.go`)
//! read them.

use std::path::PathBuf;
use std::time::Duration;

use bollard::Docker;
use tokio::sync::Mutex;

use super::{EngineError, EngineKind, bounded_labels, rfc3339_ns, with_timeout};
use crate::state::container::{ContainerInfo, ContainerType, Mount, split_image};

#[derive(Debug)]
pub struct DockerClient {
    path: PathBuf,
    timeout: Duration,
    kind: EngineKind,
    client: Mutex<Option<Docker>>,
}

impl DockerClient {
    pub fn new(path: PathBuf, timeout: Duration, kind: EngineKind) -> Self {
        DockerClient {
            path,
            timeout,
            kind,
            client: Mutex::new(None),
        }
    }

    pub fn socket(&self) -> String {
        self.path.display().to_string()
    }

    async fn client(&self) -> Result<Docker, EngineError> {
        let mut g = self.client.lock().await;
        if let Some(c) = g.as_ref() {
            return Ok(c.clone());
        }
        if !self.path.exists() {
            return Err(EngineError::SocketMissing {
                socket: self.socket(),
            });
        }
        let c = Docker::connect_with_unix(
            &self.socket(),
            self.timeout.as_secs().max(1),
            bollard::API_DEFAULT_VERSION,
        )
        .map_err(|e| EngineError::Connect {
            socket: self.socket(),
            message: e.to_string(),
        })?;
        *g = Some(c.clone());
        Ok(c)
    }

    /// Metadata of container `id` (full or prefix); None if unknown.
    pub async fn lookup(
        &self,
        id: &str,
        label_max_len: usize,
    ) -> Result<Option<ContainerInfo>, EngineError> {
        with_timeout(&self.path, self.timeout, self.fetch(id, label_max_len)).await
    }

    async fn fetch(
        &self,
        id: &str,
        label_max_len: usize,
    ) -> Result<Option<ContainerInfo>, EngineError> {
        let docker = self.client().await?;
        let c = match docker.inspect_container(id, None).await {
            Ok(c) => c,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                return Ok(None);
            }
            Err(e) => {
                // A restarted daemon gets a new connection next time.
                *self.client.lock().await = None;
                return Err(EngineError::Call {
                    socket: self.socket(),
                    call: "GET /containers/{id}/json",
                    message: e.to_string(),
                });
            }
        };
        let config = c.config.as_ref();
        let image = config.and_then(|c| c.image.clone()).unwrap_or_default();
        let image_id_full = c.image.clone().unwrap_or_default();
        let digest = match docker.inspect_image(&image_id_full).await {
            Ok(i) => i
                .repo_digests
                .unwrap_or_default()
                .into_iter()
                .find_map(|d| d.split_once('@').map(|(_, d)| d.to_string()))
                .unwrap_or_default(),
            Err(_) => String::new(),
        };
        let (repo, tag) = split_image(&image);
        let host = c.host_config.as_ref();
        let mode_is_host = |m: Option<&String>| m.map(|m| m == "host");
        let started = c
            .state
            .as_ref()
            .and_then(|s| s.started_at.as_deref())
            .map(rfc3339_ns)
            .filter(|t| *t > 0)
            .or_else(|| c.created.as_deref().map(rfc3339_ns))
            .unwrap_or(0);
        let ip = c
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.as_ref())
            .and_then(|n| {
                n.values()
                    .filter_map(|e| e.ip_address.clone())
                    .find(|ip| !ip.is_empty())
            })
            .unwrap_or_default();
        Ok(Some(ContainerInfo {
            full_id: c.id.clone().unwrap_or_default(),
            kind: Some(match self.kind {
                EngineKind::Podman => ContainerType::Podman,
                _ => ContainerType::Docker,
            }),
            name: c
                .name
                .as_deref()
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_default(),
            image: image.clone(),
            image_id: image_id_full
                .strip_prefix("sha256:")
                .unwrap_or(&image_id_full)
                .chars()
                .take(12)
                .collect(),
            image_repository: repo.to_string(),
            image_tag: tag.to_string(),
            image_digest: digest,
            labels: config
                .and_then(|c| c.labels.as_ref())
                .map(|l| bounded_labels(l, label_max_len))
                .unwrap_or_default(),
            privileged: host.and_then(|h| h.privileged),
            mounts: c
                .mounts
                .unwrap_or_default()
                .into_iter()
                .map(|m| Mount {
                    source: m.source.unwrap_or_default(),
                    dest: m.destination.unwrap_or_default(),
                    mode: m.mode.unwrap_or_default(),
                    rw: m.rw.unwrap_or(false),
                    propagation: m.propagation.unwrap_or_default(),
                })
                .collect(),
            created_ns: started,
            ip,
            host_pid: host.and_then(|h| mode_is_host(h.pid_mode.as_ref())),
            host_network: host.and_then(|h| mode_is_host(h.network_mode.as_ref())),
            host_ipc: host.and_then(|h| mode_is_host(h.ipc_mode.as_ref())),
            ..ContainerInfo::default()
        }))
    }
}
