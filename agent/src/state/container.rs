//! Containers: ids from cgroup paths (as Falco's container plugin matches
//! them), the table of containers seen on this node, and the metadata the
//! runtime clients (`crate::runtime`) look up for them.
//!
//! Identity comes from the kernel: every exec record carries the task's cgroup
//! path (the cgroup v2 path, else a v1 controller's; see
//! `agent-ebpf/bpf/lib/path.h`), so a process that lives a millisecond still
//! gets its container id. Metadata (name, image, pod) comes later, from the
//! runtime, through [`ContainerTable::take_requests`] and
//! [`ContainerTable::resolve`]; the hot path never waits for it.
//!
//! Matching follows falcosecurity/plugins `plugins/container/src/matchers/`
//! (`runc.cpp`, `podman.cpp`, `docker.cpp`, `cri.cpp`, `containerd.cpp`), in
//! the plugin's order: podman, docker, CRI, containerd. Two deliberate
//! differences: a 64-hex id under `kubepods` is typed `cri` (Falco says
//! `docker` until the runtime answers), and containerd's native layout
//! `/<namespace>/<id>` (ids chosen by the user, e.g. `ctr run ... web`) is a
//! container only when `<namespace>` is a containerd namespace (configured, or
//! listed by containerd), so that a host cgroup such as
//! `/process_api/<hex>` is not taken for one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::process::FastMap;

/// `container.id` (and name and type) of host processes.
pub const HOST: &str = "host";

/// Length of the short container id Falco reports (`container.id`).
pub const SHORT_ID_LEN: usize = 12;
const FULL_ID_LEN: usize = 64;

/// Falco's container types (`container_type.h` in the container plugin), as
/// `container.type` prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ContainerType {
    Docker,
    /// A CRI runtime that is neither containerd nor CRI-O.
    Cri,
    Containerd,
    CriO,
    Podman,
}

impl ContainerType {
    /// The `container.type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerType::Docker => "docker",
            ContainerType::Cri => "cri",
            ContainerType::Containerd => "containerd",
            ContainerType::CriO => "cri-o",
            ContainerType::Podman => "podman",
        }
    }
}

/// What a cgroup path says about its container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMatch<'a> {
    /// The id as it appears in the path: 64 hex digits, or a user-chosen
    /// containerd id.
    pub id: &'a str,
    /// The runtime the layout belongs to (refined by the runtime's answer).
    pub kind: ContainerType,
    /// containerd's namespace, for the native `/<namespace>/<id>` layout.
    pub namespace: Option<&'a str>,
}

/// The short id Falco reports for a full id: its first 12 characters.
pub fn short_id(id: &str) -> &str {
    id.get(..SHORT_ID_LEN).unwrap_or(id)
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// runc.cpp's `match_one_container_id`: the text between the last `prefix`
/// and the last `suffix` (or the end), if it is a 64-hex id.
fn match_layout<'a>(path: &'a str, prefix: &str, suffix: &str) -> Option<&'a str> {
    let start = path.rfind(prefix)? + prefix.len();
    let end = if suffix.is_empty() {
        path.len()
    } else {
        path.rfind(suffix)?
    };
    let id = path.get(start..end)?;
    (id.len() == FULL_ID_LEN && is_hex(id)).then_some(id)
}

/// Layouts of runtimes with 64-hex ids: (prefix, suffix, type), in Falco's
/// matcher order (podman, docker, CRI).
const HEX_LAYOUTS: &[(&str, &str, ContainerType)] = &[
    ("/libpod-", ".scope", ContainerType::Podman),
    ("/libpod-", ".scope/container", ContainerType::Podman),
    ("/libpod-", "", ContainerType::Podman),
    ("/libpod-payload-", ".scope", ContainerType::Podman),
    (
        "/libpod-payload-",
        ".scope/container",
        ContainerType::Podman,
    ),
    ("/libpod-payload-", "", ContainerType::Podman),
    ("/docker-", ".scope", ContainerType::Docker),
    // `/docker/<id>`, and kubelet's cgroupfs driver `/kubepods/<qos>/pod<uid>/<id>`
    // (typed below by the path).
    ("/", "", ContainerType::Docker),
    ("/crio-", "", ContainerType::CriO),
    ("/cri-containerd-", ".scope", ContainerType::Containerd),
    ("/crio-", ".scope", ContainerType::CriO),
    (":cri-containerd:", "", ContainerType::Containerd),
    ("/nerdctl-", ".scope", ContainerType::Containerd),
];

/// containerd namespaces assumed to exist before containerd is asked.
pub const DEFAULT_CONTAINERD_NAMESPACES: &[&str] = &["default", "moby", "k8s.io"];

/// Matches cgroup paths to containers.
#[derive(Debug, Clone)]
pub struct CgroupMatcher {
    containerd_namespaces: Vec<String>,
}

impl Default for CgroupMatcher {
    fn default() -> Self {
        CgroupMatcher {
            containerd_namespaces: DEFAULT_CONTAINERD_NAMESPACES
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
        }
    }
}

impl CgroupMatcher {
    /// Adds containerd namespaces whose `/<namespace>/<id>` cgroups are containers.
    pub fn add_containerd_namespaces<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) {
        for n in names {
            if !n.is_empty() && !self.containerd_namespaces.iter().any(|x| x == n) {
                self.containerd_namespaces.push(n.to_string());
            }
        }
    }

    /// The container a cgroup path belongs to, or None for the host.
    pub fn match_cgroup<'a>(&self, path: &'a str) -> Option<CgroupMatch<'a>> {
        for (prefix, suffix, kind) in HEX_LAYOUTS {
            if let Some(id) = match_layout(path, prefix, suffix) {
                let kind = if *prefix == "/" && path.contains("kubepods") {
                    ContainerType::Cri
                } else {
                    *kind
                };
                return Some(CgroupMatch {
                    id,
                    kind,
                    namespace: None,
                });
            }
        }
        // containerd.cpp: `/<namespace>/<id>`, any id up to 64 characters, not
        // a systemd unit.
        let rest = path.strip_prefix('/')?;
        let (ns, id) = rest.split_once('/')?;
        if id.is_empty()
            || id.len() > FULL_ID_LEN
            || id.contains('/')
            || [".service", ".slice", ".scope"]
                .iter()
                .any(|s| id.ends_with(s))
            || !self.containerd_namespaces.iter().any(|n| n == ns)
        {
            return None;
        }
        Some(CgroupMatch {
            id,
            kind: ContainerType::Containerd,
            namespace: Some(ns),
        })
    }
}

/// One mount, as `container.mount*` fields print it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub source: String,
    pub dest: String,
    /// Mount mode (Docker's `Mode`, e.g. `z`); empty where the runtime has none.
    pub mode: String,
    pub rw: bool,
    /// `private`, `rslave`, `rshared`, ... as the runtime reports it.
    pub propagation: String,
}

/// The Kubernetes pod of a CRI container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodInfo {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    /// Full pod sandbox id.
    pub sandbox_id: String,
    pub labels: BTreeMap<String, String>,
    /// Primary IP (`PodSandboxStatus.network.ip`); empty with host networking.
    pub ip: String,
    /// The CNI result's interfaces as JSON (containerd's verbose sandbox info).
    pub cni_json: String,
}

/// What a runtime says about a container (the container plugin's
/// `event.Container`, `go-worker/pkg/event/event.go`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    pub full_id: String,
    /// The runtime that answered (`container.type`).
    pub kind: Option<ContainerType>,
    pub name: String,
    /// The image reference as the container was created (`repo:tag`).
    pub image: String,
    pub image_id: String,
    pub image_repository: String,
    pub image_tag: String,
    pub image_digest: String,
    pub labels: BTreeMap<String, String>,
    pub privileged: Option<bool>,
    pub mounts: Vec<Mount>,
    /// Creation (or start) time, ns since the Unix epoch; 0 if unknown.
    pub created_ns: i64,
    pub ip: String,
    pub cni_json: String,
    pub host_pid: Option<bool>,
    pub host_network: Option<bool>,
    pub host_ipc: Option<bool>,
    pub pod: Option<PodInfo>,
}

/// Splits an image reference into repository and tag (`docker.io/library/nginx:1.27`
/// -> (`docker.io/library/nginx`, `1.27`)); a digest (`@sha256:...`) is dropped. The
/// tag is what follows the last `:` after the last `/` (a registry port is not a tag).
pub fn split_image(image: &str) -> (&str, &str) {
    let name = image.split_once('@').map_or(image, |(n, _)| n);
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[slash..].rfind(':') {
        Some(i) => (&name[..slash + i], &name[slash + i + 1..]),
        None => (name, ""),
    }
}

/// How far the metadata lookup of a container has got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupState {
    /// Asked; no answer yet.
    Pending,
    /// A runtime answered with metadata.
    Found,
    /// Every configured runtime was asked and none knows the container.
    NotFound,
    /// No runtime could be asked (sockets missing, timeouts, errors), at `at`.
    Failed { reason: String, at: Instant },
}

/// One container seen on this node.
#[derive(Debug, Clone)]
pub struct ContainerEntry {
    /// `container.id`: 12 characters (a shorter user-chosen containerd id as is).
    pub id: Arc<str>,
    /// The id as the cgroup spells it (64 hex digits, or the containerd id).
    pub cgroup_id: String,
    /// Type from the cgroup layout; the runtime's answer overrides it.
    pub kind: ContainerType,
    /// containerd namespace of a native containerd container.
    pub namespace: Option<String>,
    pub info: Option<Arc<ContainerInfo>>,
    pub lookup: LookupState,
    /// Start of the container's pid-namespace init, or of its first process
    /// seen (ns since the epoch): `container.start_ts` (Falco takes it from
    /// `proc.pidns_init_start_ts`).
    pub start_ns: i64,
    /// When the last process of the container was seen gone.
    orphan_since: Option<Instant>,
    /// Lookups asked for this container (first one plus retries).
    pub attempts: u32,
}

impl ContainerEntry {
    /// `container.type`: the runtime's answer, else what the cgroup layout says.
    pub fn kind(&self) -> ContainerType {
        self.info.as_ref().and_then(|i| i.kind).unwrap_or(self.kind)
    }

    pub fn is_pending(&self) -> bool {
        matches!(self.lookup, LookupState::Pending)
    }

    /// The lookup that asks the runtimes about this container.
    fn request(&self) -> LookupRequest {
        LookupRequest {
            id: self.id.clone(),
            cgroup_id: self.cgroup_id.clone(),
            kind: self.kind,
            namespace: self.namespace.clone(),
        }
    }
}

/// A metadata lookup for the runtime clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupRequest {
    /// The table key (`container.id`).
    pub id: Arc<str>,
    /// The id as the cgroup spells it (full id where the layout has it).
    pub cgroup_id: String,
    pub kind: ContainerType,
    pub namespace: Option<String>,
}

/// The answer to a [`LookupRequest`].
#[derive(Debug, Clone)]
pub enum LookupResult {
    Found(Box<ContainerInfo>),
    NotFound,
    Failed(String),
}

/// Counters the metrics export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerStats {
    /// Containers added to the table.
    pub added: u64,
    /// Containers removed after their last process exited (plus the grace period).
    pub removed: u64,
    /// Containers evicted because the table was full.
    pub evicted: u64,
    /// Lookups requested, and answered by outcome.
    pub lookups: u64,
    pub found: u64,
    pub not_found: u64,
    pub failed: u64,
}

/// Limits of the container table.
#[derive(Debug, Clone)]
pub struct ContainerLimits {
    /// Entries kept at most; the oldest orphan (else the oldest entry) makes room.
    pub max_entries: usize,
    /// How long an entry outlives its last process (a restarted process, `exec`
    /// into the container, or a held alert may still need it).
    pub grace: Duration,
    /// A failed lookup is retried after this long when the container is seen again.
    pub retry_after: Duration,
}

impl Default for ContainerLimits {
    fn default() -> Self {
        ContainerLimits {
            max_entries: 4096,
            grace: Duration::from_secs(30),
            retry_after: Duration::from_secs(10),
        }
    }
}

/// Containers by `container.id`.
#[derive(Debug, Default)]
pub struct ContainerTable {
    entries: FastMap<Arc<str>, ContainerEntry>,
    pub matcher: CgroupMatcher,
    pub limits: ContainerLimits,
    requests: Vec<LookupRequest>,
    /// Whether lookups are wanted at all (no runtime configured: ids only).
    pub lookups_enabled: bool,
    pub stats: ContainerStats,
    /// The "table full" warning was given (once per run).
    warned_full: bool,
}

impl ContainerTable {
    pub fn new(limits: ContainerLimits, lookups_enabled: bool) -> Self {
        ContainerTable {
            limits,
            lookups_enabled,
            ..ContainerTable::default()
        }
    }

    pub fn get(&self, id: &str) -> Option<&ContainerEntry> {
        self.entries.get(id)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &ContainerEntry> {
        self.entries.values()
    }

    /// True when the container's metadata is still being looked up.
    pub fn is_pending(&self, id: &str) -> bool {
        self.entries.get(id).is_some_and(ContainerEntry::is_pending)
    }

    /// The `container.id` of a cgroup path (`None`: the host), adding the
    /// container to the table (and queueing its lookup) when it is new.
    /// `start_ns` is the start of the process seen in it.
    pub fn identify(&mut self, cgroup: &str, start_ns: i64, now: Instant) -> Option<Arc<str>> {
        let m = self.matcher.match_cgroup(cgroup)?;
        let key = short_id(m.id);
        let retry_after = self.limits.retry_after;
        let lookups = self.lookups_enabled;
        if let Some(e) = self.entries.get_mut(key) {
            e.orphan_since = None;
            if e.start_ns == 0 || (start_ns != 0 && start_ns < e.start_ns) {
                e.start_ns = start_ns;
            }
            let retry = lookups
                && matches!(&e.lookup, LookupState::Failed { at, .. }
                    if now.saturating_duration_since(*at) >= retry_after);
            if retry {
                e.lookup = LookupState::Pending;
                e.attempts += 1;
                self.requests.push(e.request());
                self.stats.lookups += 1;
            }
            return Some(e.id.clone());
        }
        let id: Arc<str> = Arc::from(key);
        let entry = ContainerEntry {
            id: id.clone(),
            cgroup_id: m.id.to_string(),
            kind: m.kind,
            namespace: m.namespace.map(str::to_string),
            info: None,
            lookup: if self.lookups_enabled {
                LookupState::Pending
            } else {
                LookupState::Failed {
                    reason: "no container runtime configured".into(),
                    at: now,
                }
            },
            start_ns,
            orphan_since: None,
            attempts: u32::from(self.lookups_enabled),
        };
        if self.lookups_enabled {
            self.requests.push(entry.request());
            self.stats.lookups += 1;
        }
        self.make_room();
        self.entries.insert(id.clone(), entry);
        self.stats.added += 1;
        Some(id)
    }

    fn make_room(&mut self) {
        if self.entries.len() < self.limits.max_entries.max(1) {
            return;
        }
        let victim = self
            .entries
            .values()
            .filter_map(|e| e.orphan_since.map(|t| (t, e.id.clone())))
            .min_by_key(|(t, _)| *t)
            .map(|(_, id)| id)
            .or_else(|| {
                self.entries
                    .values()
                    .min_by_key(|e| e.start_ns)
                    .map(|e| e.id.clone())
            });
        if let Some(id) = victim {
            if let Some(e) = self.entries.remove(&id)
                && e.orphan_since.is_none()
                && !std::mem::replace(&mut self.warned_full, true)
            {
                log::warn!(
                    "container table full ({} entries): evicting containers that still run; their alerts lose container metadata until seen again; raise saker.containers.max_entries",
                    self.limits.max_entries
                );
            }
            self.stats.evicted += 1;
        }
    }

    /// Lookups queued since the last call, for the runtime clients.
    pub fn take_requests(&mut self) -> Vec<LookupRequest> {
        std::mem::take(&mut self.requests)
    }

    /// Records a runtime's answer. Returns false when the container is no
    /// longer in the table.
    pub fn resolve(&mut self, id: &str, result: LookupResult) -> bool {
        let Some(e) = self.entries.get_mut(id) else {
            return false;
        };
        // Metadata already learnt (from a runtime event, say) is not lost to
        // a later lookup that finds the container deleted.
        if e.info.is_some() && !matches!(result, LookupResult::Found(_)) {
            e.lookup = LookupState::Found;
            return true;
        }
        match result {
            LookupResult::Found(info) => {
                self.stats.found += 1;
                e.info = Some(Arc::from(info));
                e.lookup = LookupState::Found;
            }
            LookupResult::NotFound => {
                self.stats.not_found += 1;
                e.lookup = LookupState::NotFound;
            }
            LookupResult::Failed(reason) => {
                self.stats.failed += 1;
                e.lookup = LookupState::Failed {
                    reason,
                    at: Instant::now(),
                };
            }
        }
        true
    }

    /// Adds metadata learnt from a runtime event (a container created before
    /// any of its processes ran): the entry is created if needed, so the first
    /// process finds its metadata already there.
    pub fn prefill(&mut self, cgroup_id: &str, kind: ContainerType, info: ContainerInfo) {
        let key = short_id(cgroup_id);
        let now = Instant::now();
        if !self.entries.contains_key(key) {
            self.make_room();
            let id: Arc<str> = Arc::from(key);
            self.entries.insert(
                id.clone(),
                ContainerEntry {
                    id,
                    cgroup_id: cgroup_id.to_string(),
                    kind,
                    namespace: None,
                    info: None,
                    lookup: LookupState::Found,
                    start_ns: 0,
                    // No process yet: removed after the grace period unless one appears.
                    orphan_since: Some(now),
                    attempts: 0,
                },
            );
            self.stats.added += 1;
        }
        if let Some(e) = self.entries.get_mut(key) {
            e.info = Some(Arc::new(info));
            e.lookup = LookupState::Found;
        }
    }

    /// Removes containers that no live process references, once they have
    /// had none for the grace period. `live` yields the `container.id` of
    /// every known process. Returns the ids removed.
    pub fn sweep<'a>(
        &mut self,
        live: impl Iterator<Item = &'a str>,
        now: Instant,
    ) -> Vec<Arc<str>> {
        let mut referenced: foldhash::HashSet<&str> = foldhash::HashSet::default();
        for id in live {
            if id != HOST {
                referenced.insert(id);
            }
        }
        let grace = self.limits.grace;
        let mut removed = Vec::new();
        for e in self.entries.values_mut() {
            if referenced.contains(&*e.id) {
                e.orphan_since = None;
            } else if e.orphan_since.is_none() {
                e.orphan_since = Some(now);
            }
        }
        self.entries.retain(|id, e| {
            let keep = e
                .orphan_since
                .is_none_or(|t| now.saturating_duration_since(t) < grace);
            if !keep {
                removed.push(id.clone());
            }
            keep
        });
        self.stats.removed += removed.len() as u64;
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f4e1b2c9d8a7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";

    fn m(path: &str) -> Option<(String, ContainerType, Option<String>)> {
        CgroupMatcher::default()
            .match_cgroup(path)
            .map(|m| (m.id.to_string(), m.kind, m.namespace.map(str::to_string)))
    }

    #[test]
    fn runtime_layouts_give_ids_and_types() {
        use ContainerType::*;
        for (path, kind) in [
            (format!("/docker/{ID}"), Docker),
            (format!("/system.slice/docker-{ID}.scope"), Docker),
            (format!("/kubepods/burstable/pod1234/{ID}"), Cri),
            (
                format!("/kubepods.slice/kubepods-burstable.slice/cri-containerd-{ID}.scope"),
                Containerd,
            ),
            (
                format!("/kubepods.slice/kubepods-pod1.slice/crio-{ID}.scope"),
                CriO,
            ),
            (format!("/crio-{ID}"), CriO),
            (
                format!("/machine.slice/libpod-{ID}.scope/container"),
                Podman,
            ),
            (format!("/machine.slice/libpod-{ID}.scope"), Podman),
            (format!("/libpod_parent/libpod-{ID}"), Podman),
            (format!("/k8s.io/{ID}"), Docker),
            (format!("/system.slice/nerdctl-{ID}.scope"), Containerd),
            (
                format!("/kubepods-besteffort-pod1.slice:cri-containerd:{ID}"),
                Containerd,
            ),
        ] {
            let got = m(&path).unwrap_or_else(|| panic!("{path}"));
            assert_eq!(got.0, ID, "{path}");
            assert_eq!(got.1, kind, "{path}");
        }
        assert_eq!(short_id(ID), &ID[..12]);
    }

    #[test]
    fn containerd_native_ids_need_a_containerd_namespace() {
        assert_eq!(
            m("/default/web-1"),
            Some((
                "web-1".into(),
                ContainerType::Containerd,
                Some("default".into())
            ))
        );
        let mut matcher = CgroupMatcher::default();
        assert!(matcher.match_cgroup("/buildkit/x1").is_none());
        matcher.add_containerd_namespaces(["buildkit"]);
        assert_eq!(matcher.match_cgroup("/buildkit/x1").unwrap().id, "x1");
    }

    #[test]
    fn host_cgroups_are_not_containers() {
        for path in [
            "",
            "/",
            "/user.slice/user-0.slice/session-1.scope",
            // This machine's memory cgroup of every process (not a container).
            "/process_api/394c60173d0871db99060d8dd55cb848",
            "/system.slice/containerd.service",
            "/default/containerd.service",
            "/kubepods/burstable/pod1234",
            "/kubepods.slice/kubepods-burstable.slice",
        ] {
            assert_eq!(m(path), None, "{path}");
        }
    }

    #[test]
    fn image_references_split_like_the_container_plugin() {
        assert_eq!(
            split_image("docker.io/library/nginx:1.27"),
            ("docker.io/library/nginx", "1.27")
        );
        assert_eq!(
            split_image("localhost:5000/app"),
            ("localhost:5000/app", "")
        );
        assert_eq!(
            split_image("localhost:5000/app:v2@sha256:abcd"),
            ("localhost:5000/app", "v2")
        );
        assert_eq!(split_image("busybox"), ("busybox", ""));
    }

    #[test]
    fn table_queues_one_lookup_per_container_and_forgets_orphans_after_grace() {
        let mut t = ContainerTable::new(
            ContainerLimits {
                max_entries: 2,
                grace: Duration::from_secs(5),
                retry_after: Duration::from_secs(1),
            },
            true,
        );
        let now = Instant::now();
        let a = format!("/kubepods/besteffort/pod1/{ID}");
        let id = t.identify(&a, 10, now).unwrap();
        assert_eq!(&*id, &ID[..12]);
        assert!(t.is_pending(&id));
        assert_eq!(t.identify(&a, 5, now).unwrap(), id);
        let reqs = t.take_requests();
        assert_eq!(reqs.len(), 1, "one lookup per container");
        assert_eq!(reqs[0].cgroup_id, ID);
        assert_eq!(t.get(&id).unwrap().start_ns, 5);
        assert!(t.identify("/process_api/abc", 0, now).is_none());

        let info = ContainerInfo {
            name: "web".into(),
            ..ContainerInfo::default()
        };
        assert!(t.resolve(&id, LookupResult::Found(Box::new(info))));
        assert!(!t.is_pending(&id));

        // Referenced: kept. Unreferenced: kept through the grace period, then removed.
        assert!(t.sweep([&*id].into_iter(), now).is_empty());
        assert!(t.sweep(std::iter::empty(), now).is_empty());
        assert!(
            t.sweep(std::iter::empty(), now + Duration::from_secs(4))
                .is_empty()
        );
        let gone = t.sweep(std::iter::empty(), now + Duration::from_secs(6));
        assert_eq!(gone, vec![id.clone()]);
        assert!(t.is_empty());
        assert_eq!(t.stats.removed, 1);

        // A full table evicts (and counts) to make room.
        for i in 0..3 {
            t.identify(&format!("/default/c{i}"), i, now);
        }
        assert_eq!(t.len(), 2);
        assert_eq!(t.stats.evicted, 1);
    }

    #[test]
    fn failed_lookups_are_retried_when_the_container_is_seen_again() {
        let mut t = ContainerTable::new(ContainerLimits::default(), true);
        let now = Instant::now();
        let id = t.identify("/default/web", 0, now).unwrap();
        t.take_requests();
        t.resolve(&id, LookupResult::Failed("socket missing".into()));
        assert!(!t.is_pending(&id));
        t.identify("/default/web", 0, Instant::now());
        assert!(t.take_requests().is_empty(), "not before retry_after");
        t.identify("/default/web", 0, Instant::now() + Duration::from_secs(11));
        assert_eq!(t.take_requests().len(), 1);
        assert!(t.is_pending(&id));
        assert_eq!(t.get(&id).unwrap().attempts, 2);
    }
}
