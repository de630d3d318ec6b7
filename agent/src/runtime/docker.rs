//! The Docker Engine API (Docker, and podman's compatible service):
//! `GET /containers/{id}/json` and `GET /images/{id}/json` over the unix
//! socket, as the container plugin's docker and podman engines
//! (falcosecurity/plugins `plugins/container/go-worker/pkg/container/docker.go`)
//! read them. HTTP is hyper's (through `hyperlocal`); the replies are read as
//! untyped JSON, field by field, because runtimes differ in what they put in
//! them (podman 4 reports container states such as `stopped` that Docker's
//! schema does not have, and a typed client rejects the whole reply).

use std::path::PathBuf;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyperlocal::{UnixClientExt, UnixConnector, Uri};
use serde_json::Value;

use super::{EngineError, EngineKind, rfc3339_ns, with_timeout};
use crate::state::container::{ContainerInfo, ContainerType, Mount, split_image};

/// Largest reply read (an inspect of a container with many mounts and labels
/// is tens of KiB).
const MAX_REPLY: usize = 4 << 20;

#[derive(Debug)]
pub struct DockerClient {
    path: PathBuf,
    timeout: Duration,
    kind: EngineKind,
    client: Client<UnixConnector, Full<Bytes>>,
}

impl DockerClient {
    pub fn new(path: PathBuf, timeout: Duration, kind: EngineKind) -> Self {
        DockerClient {
            path,
            timeout,
            kind,
            client: Client::unix(),
        }
    }

    pub fn socket(&self) -> String {
        self.path.display().to_string()
    }

    /// GET `api_path`: the status and the body (at most [`MAX_REPLY`] bytes).
    async fn get_raw(
        &self,
        api_path: &str,
        call: &'static str,
    ) -> Result<(hyper::StatusCode, Bytes), EngineError> {
        super::check_socket(&self.path)?;
        let err = |message: String| EngineError::Call {
            socket: self.socket(),
            call,
            message,
        };
        let uri: hyper::Uri = Uri::new(&self.path, api_path).into();
        let resp = self
            .client
            .get(uri)
            .await
            .map_err(|e| err(super::error_chain(&e)))?;
        let status = resp.status();
        let body = http_body_util::Limited::new(resp.into_body(), MAX_REPLY)
            .collect()
            .await
            .map_err(|e| err(format!("reading the reply: {e}")))?
            .to_bytes();
        Ok((status, body))
    }

    /// GET `api_path` as JSON: Ok(None) when the object does not exist (404,
    /// or podman's 500 "no such container" for a container being removed).
    async fn get(&self, api_path: &str, call: &'static str) -> Result<Option<Value>, EngineError> {
        let (status, body) = self.get_raw(api_path, call).await?;
        let text = || String::from_utf8_lossy(&body).trim().to_string();
        if status == hyper::StatusCode::NOT_FOUND
            || (status.is_server_error() && text().to_ascii_lowercase().contains("no such"))
        {
            return Ok(None);
        }
        let err = |message: String| EngineError::Call {
            socket: self.socket(),
            call,
            message,
        };
        if !status.is_success() {
            return Err(err(format!("HTTP {status}: {}", text())));
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| err(format!("reply is not JSON: {e}")))
    }

    /// Whether the daemon answers (`GET /_ping`).
    pub async fn ping(&self) -> Result<(), EngineError> {
        with_timeout(&self.path, self.timeout, async {
            let (status, body) = self.get_raw("/_ping", "GET /_ping").await?;
            if status.is_success() {
                Ok(())
            } else {
                Err(EngineError::Call {
                    socket: self.socket(),
                    call: "GET /_ping",
                    message: format!("HTTP {status}: {}", String::from_utf8_lossy(&body).trim()),
                })
            }
        })
        .await
    }

    /// Metadata of container `id` (full or prefix); None if unknown.
    pub async fn lookup(
        &self,
        id: &str,
        label_max_len: usize,
    ) -> Result<Option<ContainerInfo>, EngineError> {
        with_timeout(&self.path, self.timeout, async {
            let Some(c) = self
                .get(
                    &format!("/containers/{id}/json"),
                    "GET /containers/{id}/json",
                )
                .await?
            else {
                return Ok(None);
            };
            let image_id = str_at(&c, "/Image");
            let digest = if image_id.is_empty() {
                String::new()
            } else {
                // The digest is best effort: an image removed since is no error.
                match self
                    .get(&format!("/images/{image_id}/json"), "GET /images/{id}/json")
                    .await
                {
                    Ok(Some(img)) => img
                        .get("RepoDigests")
                        .and_then(Value::as_array)
                        .and_then(|d| {
                            d.iter()
                                .filter_map(Value::as_str)
                                .find_map(|d| d.split_once('@').map(|(_, d)| d.to_string()))
                        })
                        .unwrap_or_default(),
                    _ => String::new(),
                }
            };
            Ok(Some(container_info(&c, self.kind, digest, label_max_len)))
        })
        .await
    }
}

fn str_at(v: &Value, ptr: &str) -> String {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// `ContainerInfo` from an inspect reply.
fn container_info(
    c: &Value,
    kind: EngineKind,
    image_digest: String,
    label_max_len: usize,
) -> ContainerInfo {
    let image = str_at(c, "/Config/Image");
    let (repo, tag) = split_image(&image);
    let image_id = str_at(c, "/Image");
    let mode_is_host = |ptr: &str| c.pointer(ptr).and_then(Value::as_str).map(|m| m == "host");
    let started = [str_at(c, "/State/StartedAt"), str_at(c, "/Created")]
        .iter()
        .map(|t| rfc3339_ns(t))
        .find(|t| *t > 0)
        .unwrap_or(0);
    let ip = c
        .pointer("/NetworkSettings/Networks")
        .and_then(Value::as_object)
        .and_then(|n| {
            n.values()
                .filter_map(|e| e.get("IPAddress").and_then(Value::as_str))
                .find(|ip| !ip.is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| str_at(c, "/NetworkSettings/IPAddress"));
    let labels = c
        .pointer("/Config/Labels")
        .and_then(Value::as_object)
        .map(|l| {
            l.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .filter(|(_, v)| v.len() <= label_max_len)
                .collect()
        })
        .unwrap_or_default();
    let mounts = c
        .get("Mounts")
        .and_then(Value::as_array)
        .map(|ms| {
            ms.iter()
                .map(|m| Mount {
                    source: str_at(m, "/Source"),
                    dest: str_at(m, "/Destination"),
                    mode: str_at(m, "/Mode"),
                    rw: m.get("RW").and_then(Value::as_bool).unwrap_or(false),
                    propagation: str_at(m, "/Propagation"),
                })
                .collect()
        })
        .unwrap_or_default();
    ContainerInfo {
        full_id: str_at(c, "/Id"),
        kind: Some(match kind {
            EngineKind::Podman => ContainerType::Podman,
            _ => ContainerType::Docker,
        }),
        name: str_at(c, "/Name").trim_start_matches('/').to_string(),
        image: image.clone(),
        image_id: image_id
            .strip_prefix("sha256:")
            .unwrap_or(&image_id)
            .chars()
            .take(12)
            .collect(),
        image_repository: repo.to_string(),
        image_tag: tag.to_string(),
        image_digest,
        labels,
        privileged: c.pointer("/HostConfig/Privileged").and_then(Value::as_bool),
        mounts,
        created_ns: started,
        ip,
        host_pid: mode_is_host("/HostConfig/PidMode"),
        host_network: mode_is_host("/HostConfig/NetworkMode"),
        host_ipc: mode_is_host("/HostConfig/IpcMode"),
        ..ContainerInfo::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_replies_are_read_leniently() {
        // A podman 4 reply (abridged): a state Docker's schema does not know.
        let c: Value = serde_json::from_str(
            r#"{"Id":"4305a3556e5f7f3b4cda4f5cb162ae7d2383eb7f135d2207925fe5b45b1434c8",
                "Name":"/web","Image":"sha256:91e6ab1f35f9bb74946a2c616e89",
                "State":{"Status":"stopped","StartedAt":"2026-11-30T08:34:39.5Z"},
                "Config":{"Image":"saker.test/toolbox:1.0","Labels":{"team":"pay","big":"xxxxxxxxxx"}},
                "HostConfig":{"Privileged":true,"NetworkMode":"host","PidMode":""},
                "Mounts":[{"Source":"/srv","Destination":"/data","Mode":"z","RW":false,"Propagation":"rprivate"}]}"#,
        )
        .unwrap();
        let i = container_info(&c, EngineKind::Podman, "sha256:ab".into(), 5);
        assert_eq!(i.name, "web");
        assert_eq!(i.kind, Some(ContainerType::Podman));
        assert_eq!(
            (i.image_repository.as_str(), i.image_tag.as_str()),
            ("saker.test/toolbox", "1.0")
        );
        assert_eq!(i.image_id, "91e6ab1f35f9");
        assert_eq!(i.privileged, Some(true));
        assert_eq!(i.host_network, Some(true));
        assert_eq!(i.host_pid, Some(false));
        assert_eq!(i.labels.len(), 1, "labels over label_max_len are left out");
        assert_eq!(i.mounts[0].dest, "/data");
        assert!(!i.mounts[0].rw);
        assert!(i.created_ns > 0);
    }
}
