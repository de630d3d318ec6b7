//! Container ids from cgroup paths, as Falco's container engines parse them.
//!
//! Runtimes name a container's cgroup after its 64-hex-digit id, with a
//! runtime-specific prefix: `/docker/<id>`, `/system.slice/docker-<id>.scope`,
//! `/kubepods/.../cri-containerd-<id>.scope`, `/kubepods/.../<id>`,
//! `crio-<id>.scope`, `libpod-<id>.scope`, containerd's `/<namespace>/<id>`.
//! Falco reports the first 12 digits. Anything else (including cgroups such as
//! `/process_api/<32 hex>` or `/user.slice/...`) is the host.

pub const HOST: &str = "host";

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The container id for a cgroup path, if it is a container's cgroup.
pub fn container_id_from_cgroup(path: &str) -> Option<&str> {
    // The innermost component naming a container wins (nested cgroups).
    for comp in path.rsplit('/') {
        let mut s = comp;
        for suffix in [".scope", ".slice"] {
            if let Some(x) = s.strip_suffix(suffix) {
                s = x;
            }
        }
        for prefix in [
            "docker-",
            "cri-containerd-",
            "crio-",
            "libpod-",
            "containerd-",
        ] {
            if let Some(x) = s.strip_prefix(prefix) {
                s = x;
                break;
            }
        }
        if is_hex64(s) {
            return Some(&s[..12]);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f4e1b2c9d8a7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";

    #[test]
    fn runtime_layouts() {
        for path in [
            format!("/docker/{ID}"),
            format!("/system.slice/docker-{ID}.scope"),
            format!("/kubepods/burstable/pod1234/{ID}"),
            format!("/kubepods.slice/kubepods-burstable.slice/cri-containerd-{ID}.scope"),
            format!("/machine.slice/libpod-{ID}.scope/container"),
            format!("/k8s.io/{ID}"),
            format!("/default/{ID}"),
            format!("/crio-{ID}.scope"),
        ] {
            assert_eq!(container_id_from_cgroup(&path), Some(&ID[..12]), "{path}");
        }
    }

    #[test]
    fn host_cgroups_are_not_containers() {
        for path in [
            "/",
            "/user.slice/user-0.slice/session-1.scope",
            "/process_api/394c60173d0871db99060d8dd55cb848",
            "/system.slice/containerd.service",
            "/kubepods/burstable/pod1234",
        ] {
            assert_eq!(container_id_from_cgroup(path), None, "{path}");
        }
    }
}
