//! Container runtime clients: metadata for the containers the kernel names.
//!
//! The hot path identifies containers from cgroup paths and queues a
//! [`LookupRequest`] per new container (`state::container::ContainerTable`).
//! The run loop hands the requests to [`RuntimeService::request`]; a task on
//! the tokio runtime asks the configured engines, in an order that fits the
//! cgroup layout, and sends back one [`Answer`] per request. Nothing here is
//! called from the hot path, and nothing here blocks it: lookups run
//! concurrently (bounded), each with a timeout, and the request queue is
//! bounded (a full queue fails the lookup instead of waiting).
//!
//! Engines and their sockets follow the configuration of Falco's container
//! plugin (falcosecurity/plugins `plugins/container/README.md`, `engines:`):
//! - `cri`: the CRI `runtime.v1` RuntimeService (containerd, CRI-O, k3s):
//!   `ListContainers` (by id), `ContainerStatus` and `PodSandboxStatus`
//!   (verbose) give name, image, labels, mounts, privileged, pod name,
//!   namespace, uid, labels and IP ([`cri`]);
//! - `containerd`: containerd's own API for containers outside Kubernetes
//!   (`ctr`, nerdctl; namespaces `default`, `moby`, ...) ([`containerd`]);
//! - `docker` and `podman`: the Docker Engine API ([`docker`]).
//!
//! A socket that is missing, refuses, or times out makes its engine
//! unavailable for that lookup: the lookup tries the other engines, and if
//! none could answer it fails (the table retries it later). Each transition of
//! an engine between up and down is logged once, and counted.

pub mod containerd;
pub mod cri;
pub mod docker;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc};

use crate::state::container::{
    ContainerInfo, ContainerType, LookupRequest, LookupResult, short_id,
};

/// An engine kind, as the configuration names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EngineKind {
    Cri,
    Containerd,
    Docker,
    Podman,
}

impl EngineKind {
    pub const ALL: [EngineKind; 4] = [
        EngineKind::Cri,
        EngineKind::Containerd,
        EngineKind::Docker,
        EngineKind::Podman,
    ];

    /// The configuration key and metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Cri => "cri",
            EngineKind::Containerd => "containerd",
            EngineKind::Docker => "docker",
            EngineKind::Podman => "podman",
        }
    }

    /// Falco's container plugin defaults (README, "default sockets").
    pub fn default_sockets(self) -> &'static [&'static str] {
        match self {
            EngineKind::Cri => &[
                "/run/containerd/containerd.sock",
                "/run/crio/crio.sock",
                "/run/k3s/containerd/containerd.sock",
            ],
            EngineKind::Containerd => &[
                "/run/containerd/containerd.sock",
                "/run/k3s/containerd/containerd.sock",
            ],
            EngineKind::Docker => &["/var/run/docker.sock"],
            EngineKind::Podman => &["/run/podman/podman.sock"],
        }
    }
}

/// One engine's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSettings {
    pub kind: EngineKind,
    pub enabled: bool,
    /// Socket paths as configured (host paths).
    pub sockets: Vec<PathBuf>,
}

/// The validated runtime configuration.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    pub engines: Vec<EngineSettings>,
    /// Where the host's filesystem is (`saker.host_root`): sockets are looked
    /// up under it when the agent runs in a container.
    pub host_root: PathBuf,
    /// Labels longer than this are left out (the plugin's `label_max_len`).
    pub label_max_len: usize,
    /// Time allowed for one engine to answer one lookup.
    pub timeout: Duration,
    /// Lookups in flight at most.
    pub concurrency: usize,
}

impl RuntimeSettings {
    /// True when some engine is enabled.
    pub fn any_enabled(&self) -> bool {
        self.engines
            .iter()
            .any(|e| e.enabled && !e.sockets.is_empty())
    }

    /// A configured socket path as seen from the agent: under `host_root`.
    pub fn socket_path(&self, configured: &Path) -> PathBuf {
        host_path(&self.host_root, configured)
    }
}

/// `path` (a host path) as seen from an agent whose host root is `root`.
pub fn host_path(root: &Path, path: &Path) -> PathBuf {
    if root == Path::new("/") || path.starts_with(root) {
        return path.to_path_buf();
    }
    root.join(path.strip_prefix("/").unwrap_or(path))
}

/// Why an engine could not answer.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{socket}: socket missing")]
    SocketMissing { socket: String },
    #[error("{socket}: not a unix socket")]
    NotASocket { socket: String },
    #[error("{socket}: connecting: {message}")]
    Connect { socket: String, message: String },
    #[error("{socket}: {call}: {message}")]
    Call {
        socket: String,
        call: &'static str,
        message: String,
    },
    #[error("{socket}: no answer within {timeout_ms} ms")]
    Timeout { socket: String, timeout_ms: u128 },
}

/// A runtime's answer to one lookup, with its cost.
#[derive(Debug, Clone)]
pub struct Answer {
    pub id: Arc<str>,
    pub result: LookupResult,
    /// The engine that found the container (None: not found or failed).
    pub engine: Option<EngineKind>,
    /// From the request to the answer.
    pub latency: Duration,
    /// Learnt from a runtime event before the container's first process ran
    /// (not asked for by the table): the id as its cgroup will spell it, and
    /// the type, to create the table entry with.
    pub prefill: Option<(String, ContainerType)>,
}

/// Upper bounds (seconds) of the lookup latency histogram buckets.
pub const LOOKUP_BUCKETS_S: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// How often every endpoint is probed (its `Version` or `/_ping`), so that
/// `saker_container_runtime_up` follows the runtime, not the last lookup.
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(5);

/// How long lookups skip an endpoint after it failed (the health probe
/// brings it back sooner when it answers): a hung socket must not cost every
/// lookup its timeout.
const DOWN_BACKOFF: Duration = Duration::from_secs(5);

/// Counters of one engine, for the metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineStats {
    /// Lookups this engine answered with metadata.
    pub found: u64,
    /// Lookups this engine answered "no such container".
    pub not_found: u64,
    /// Calls that failed (socket missing, refused, timeout, error).
    pub errors: u64,
    /// Up: some socket of the engine answered its last call (lookup or probe).
    pub up: bool,
    /// Latency of answered lookups: per-bucket counts over [`LOOKUP_BUCKETS_S`]
    /// plus one for +Inf, and the sum in seconds.
    pub latency_buckets: Vec<u64>,
    pub latency_sum_s: f64,
}

/// Counters of every engine, shared with the metrics sampler.
#[derive(Debug, Default)]
pub struct RuntimeStats {
    engines: Mutex<Vec<(EngineKind, EngineStats)>>,
    /// Requests refused because the queue was full.
    pub queue_full: std::sync::atomic::AtomicU64,
}

impl RuntimeStats {
    fn with<R>(&self, kind: EngineKind, f: impl FnOnce(&mut EngineStats) -> R) -> Option<R> {
        let mut g = self.engines.lock().ok()?;
        let i = match g.iter().position(|(k, _)| *k == kind) {
            Some(i) => i,
            None => {
                g.push((
                    kind,
                    EngineStats {
                        latency_buckets: vec![0; LOOKUP_BUCKETS_S.len() + 1],
                        ..EngineStats::default()
                    },
                ));
                g.len() - 1
            }
        };
        g.get_mut(i).map(|(_, s)| f(s))
    }

    /// A copy of every engine's counters.
    pub fn snapshot(&self) -> Vec<(EngineKind, EngineStats)> {
        self.engines.lock().map(|g| g.clone()).unwrap_or_default()
    }

    fn record_lookup(&self, kind: EngineKind, found: bool, took: Duration) {
        self.with(kind, |s| {
            if found {
                s.found += 1;
            } else {
                s.not_found += 1;
            }
            let secs = took.as_secs_f64();
            let i = LOOKUP_BUCKETS_S
                .iter()
                .position(|b| secs <= *b)
                .unwrap_or(LOOKUP_BUCKETS_S.len());
            if let Some(b) = s.latency_buckets.get_mut(i) {
                *b += 1;
            }
            s.latency_sum_s += secs;
        });
    }

    fn record_error(&self, kind: EngineKind) {
        self.with(kind, |s| s.errors += 1);
    }

    fn set_up(&self, kind: EngineKind, up: bool) {
        self.with(kind, |s| s.up = up);
    }
}

/// A connected (or connectable) engine endpoint.
#[derive(Debug)]
enum Client {
    Cri(cri::CriClient),
    Containerd(containerd::ContainerdClient),
    Docker(docker::DockerClient),
}

/// What is known of an endpoint's reachability.
#[derive(Debug, Default)]
struct Health {
    /// None until the first call.
    up: Option<bool>,
    failed_at: Option<Instant>,
}

#[derive(Debug)]
struct Endpoint {
    kind: EngineKind,
    client: Client,
    health: Mutex<Health>,
}

impl Endpoint {
    async fn lookup(
        &self,
        req: &LookupRequest,
        label_max_len: usize,
    ) -> Result<Option<ContainerInfo>, EngineError> {
        match &self.client {
            Client::Cri(c) => c.lookup(&req.cgroup_id, label_max_len).await,
            Client::Containerd(c) => {
                c.lookup(&req.cgroup_id, req.namespace.as_deref(), label_max_len)
                    .await
            }
            Client::Docker(c) => c.lookup(&req.cgroup_id, label_max_len).await,
        }
    }

    /// A cheap call that tells whether the runtime answers.
    async fn ping(&self) -> Result<(), EngineError> {
        match &self.client {
            Client::Cri(c) => c.ping().await,
            Client::Containerd(c) => c.ping().await,
            Client::Docker(c) => c.ping().await,
        }
    }

    fn socket(&self) -> String {
        match &self.client {
            Client::Cri(c) => c.socket(),
            Client::Containerd(c) => c.socket(),
            Client::Docker(c) => c.socket(),
        }
    }

    /// False while the endpoint is down and within its backoff.
    fn available(&self, now: Instant) -> bool {
        self.health.lock().map_or(true, |h| {
            h.up != Some(false)
                || h.failed_at
                    .is_none_or(|t| now.saturating_duration_since(t) >= DOWN_BACKOFF)
        })
    }

    /// Records a call's outcome; logs the endpoint's transitions (once each)
    /// and keeps the engine's `up` and error count current.
    fn mark<T>(
        &self,
        r: &Result<T, EngineError>,
        stats: &RuntimeStats,
        endpoints: &[Arc<Endpoint>],
    ) {
        let now_up = r.is_ok();
        let before = {
            let Ok(mut h) = self.health.lock() else {
                return;
            };
            let before = h.up;
            h.up = Some(now_up);
            h.failed_at = (!now_up).then(Instant::now);
            before
        };
        if let Err(e) = r {
            stats.record_error(self.kind);
            match (before, e) {
                (Some(false), _) => {}
                // A default socket of a runtime this node does not run.
                (None, EngineError::SocketMissing { .. }) => log::info!(
                    "container runtime {}: {} not present",
                    self.kind.as_str(),
                    self.socket()
                ),
                _ => log::warn!(
                    "container runtime {} unavailable ({e}); its containers get ids only until it is back",
                    self.kind.as_str()
                ),
            }
        } else if before != Some(true) {
            log::info!(
                "container runtime {} on {} is reachable{}",
                self.kind.as_str(),
                self.socket(),
                if before == Some(false) {
                    "; metadata lookups resume"
                } else {
                    ""
                }
            );
        }
        let engine_up = endpoints
            .iter()
            .filter(|e| e.kind == self.kind)
            .any(|e| e.health.lock().map(|h| h.up == Some(true)).unwrap_or(false));
        stats.set_up(self.kind, engine_up);
    }
}

/// The engines worth asking first for a cgroup layout.
fn preferred(kind: ContainerType, namespace: bool) -> [EngineKind; 4] {
    use EngineKind as E;
    match kind {
        ContainerType::Containerd if namespace => [E::Containerd, E::Cri, E::Docker, E::Podman],
        ContainerType::Cri | ContainerType::Containerd | ContainerType::CriO => {
            [E::Cri, E::Containerd, E::Docker, E::Podman]
        }
        ContainerType::Docker => [E::Docker, E::Cri, E::Podman, E::Containerd],
        ContainerType::Podman => [E::Podman, E::Docker, E::Cri, E::Containerd],
    }
}

/// Handle of the lookup task.
#[derive(Debug)]
pub struct RuntimeService {
    requests: mpsc::Sender<(LookupRequest, Instant)>,
    pub stats: Arc<RuntimeStats>,
}

/// Where the tasks send what they learn.
#[derive(Debug, Clone)]
struct Sinks {
    answers: mpsc::UnboundedSender<Answer>,
    namespaces: mpsc::UnboundedSender<Vec<String>>,
}

impl RuntimeService {
    /// Starts the lookup task, the health probe and the containerd event
    /// watchers on `handle`. Answers (and prefilled metadata) go to
    /// `answers`; containerd namespaces (for the cgroup matcher), at start and
    /// as they are created, to `namespaces`.
    pub fn start(
        settings: RuntimeSettings,
        handle: &tokio::runtime::Handle,
        answers: mpsc::UnboundedSender<Answer>,
        namespaces: mpsc::UnboundedSender<Vec<String>>,
    ) -> RuntimeService {
        let (tx, mut rx) = mpsc::channel::<(LookupRequest, Instant)>(1024);
        let stats = Arc::new(RuntimeStats::default());
        let endpoints: Arc<Vec<Arc<Endpoint>>> = Arc::new(build_endpoints(&settings));
        for e in endpoints.iter() {
            log::info!(
                "container metadata: {} engine on {}",
                e.kind.as_str(),
                e.socket()
            );
        }
        let sinks = Sinks {
            answers,
            namespaces,
        };
        handle.spawn(health_loop(endpoints.clone(), stats.clone(), sinks.clone()));
        for ep in endpoints
            .iter()
            .filter(|e| e.kind == EngineKind::Containerd)
        {
            handle.spawn(watch_containerd_events(
                ep.clone(),
                endpoints.clone(),
                settings.clone(),
                stats.clone(),
                sinks.clone(),
            ));
        }
        let stats2 = stats.clone();
        let limit = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        handle.spawn(async move {
            while let Some((req, asked)) = rx.recv().await {
                let Ok(permit) = limit.clone().acquire_owned().await else {
                    break;
                };
                let endpoints = endpoints.clone();
                let stats = stats2.clone();
                let answers = sinks.answers.clone();
                let settings = settings.clone();
                tokio::spawn(async move {
                    let (result, engine) = lookup(&endpoints, &req, &settings, &stats).await;
                    let _ = answers.send(Answer {
                        id: req.id.clone(),
                        result,
                        engine,
                        latency: asked.elapsed(),
                        prefill: None,
                    });
                    drop(permit);
                });
            }
        });
        RuntimeService {
            requests: tx,
            stats,
        }
    }

    /// Queues a lookup; false (and counted) when the queue is full.
    pub fn request(&self, req: LookupRequest) -> bool {
        match self.requests.try_send((req, Instant::now())) {
            Ok(()) => true,
            Err(_) => {
                self.stats
                    .queue_full
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                false
            }
        }
    }
}

fn build_endpoints(settings: &RuntimeSettings) -> Vec<Arc<Endpoint>> {
    let mut out = Vec::new();
    let timeout = settings.timeout;
    for e in settings.engines.iter().filter(|e| e.enabled) {
        for s in &e.sockets {
            let path = settings.socket_path(s);
            let client = match e.kind {
                EngineKind::Cri => Client::Cri(cri::CriClient::new(path, timeout)),
                EngineKind::Containerd => {
                    Client::Containerd(containerd::ContainerdClient::new(path, timeout))
                }
                EngineKind::Docker | EngineKind::Podman => {
                    Client::Docker(docker::DockerClient::new(path, timeout, e.kind))
                }
            };
            out.push(Arc::new(Endpoint {
                kind: e.kind,
                client,
                health: Mutex::new(Health::default()),
            }));
        }
    }
    out
}

/// Probes every endpoint now and every [`HEALTH_INTERVAL`]; after the first
/// round, warns once if no runtime at all is reachable. containerd's
/// namespaces are listed on each round (new namespaces also arrive as events).
async fn health_loop(endpoints: Arc<Vec<Arc<Endpoint>>>, stats: Arc<RuntimeStats>, sinks: Sinks) {
    let mut first = true;
    let mut tick = tokio::time::interval(HEALTH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for ep in endpoints.iter() {
            let r = ep.ping().await;
            ep.mark(&r, &stats, &endpoints);
            if r.is_ok()
                && let Client::Containerd(c) = &ep.client
                && let Ok(ns) = c.namespaces().await
                && !ns.is_empty()
                && sinks.namespaces.send(ns).is_err()
            {
                return;
            }
        }
        if first {
            first = false;
            let up = endpoints
                .iter()
                .any(|e| e.health.lock().map(|h| h.up == Some(true)).unwrap_or(false));
            if !up && !endpoints.is_empty() {
                let socks: Vec<String> = endpoints.iter().map(|e| e.socket()).collect();
                log::warn!(
                    "no container runtime reachable (tried {}); alerts from containers carry container ids only until one is (container_engines)",
                    socks.join(", ")
                );
            }
        }
        if sinks.answers.is_closed() {
            return;
        }
    }
}

/// Follows containerd's event stream: a new namespace makes its
/// `/<namespace>/<id>` cgroups containers at once; a container created
/// outside Kubernetes and Docker (`ctr run`, nerdctl) is looked up as it is
/// created, before its first process runs, so that a container that exits
/// and is deleted within milliseconds (`ctr run --rm`) still has its
/// metadata (the container plugin's `create` hook does the same).
async fn watch_containerd_events(
    ep: Arc<Endpoint>,
    endpoints: Arc<Vec<Arc<Endpoint>>>,
    settings: RuntimeSettings,
    stats: Arc<RuntimeStats>,
    sinks: Sinks,
) {
    let Client::Containerd(c) = &ep.client else {
        return;
    };
    loop {
        if sinks.answers.is_closed() {
            return;
        }
        let r = c
            .watch(|ev| match ev {
                containerd::Event::NamespaceCreated(ns) => {
                    let _ = sinks.namespaces.send(vec![ns]);
                }
                containerd::Event::ContainerCreated { namespace, id } => {
                    // CRI containers are looked up through the CRI on their
                    // first exec (the CRI lists them only once created), and
                    // Docker's through the Docker API.
                    if namespace == "k8s.io" || namespace == "moby" {
                        return;
                    }
                    let _ = sinks.namespaces.send(vec![namespace.clone()]);
                    let req = LookupRequest {
                        id: Arc::from(short_id(&id)),
                        cgroup_id: id.clone(),
                        kind: ContainerType::Containerd,
                        namespace: Some(namespace),
                    };
                    let endpoints = endpoints.clone();
                    let settings = settings.clone();
                    let stats = stats.clone();
                    let answers = sinks.answers.clone();
                    tokio::spawn(async move {
                        let asked = Instant::now();
                        if let (LookupResult::Found(info), engine) =
                            lookup(&endpoints, &req, &settings, &stats).await
                        {
                            let _ = answers.send(Answer {
                                id: req.id.clone(),
                                result: LookupResult::Found(info),
                                engine,
                                latency: asked.elapsed(),
                                prefill: Some((req.cgroup_id.clone(), ContainerType::Containerd)),
                            });
                        }
                    });
                }
            })
            .await;
        // A stream that ended resubscribes at once; a socket that is absent
        // or failing is tried again at the health probe's pace.
        let pause = match r {
            Ok(()) => Duration::from_millis(100),
            Err(e) => {
                log::debug!("containerd events on {}: {e}; resubscribing", ep.socket());
                HEALTH_INTERVAL
            }
        };
        tokio::time::sleep(pause).await;
    }
}

/// Asks the endpoints in the preferred order until one knows the container.
/// Endpoints that are down (and within their backoff) are skipped.
async fn lookup(
    endpoints: &[Arc<Endpoint>],
    req: &LookupRequest,
    settings: &RuntimeSettings,
    stats: &RuntimeStats,
) -> (LookupResult, Option<EngineKind>) {
    let order = preferred(req.kind, req.namespace.is_some());
    let mut answered = false;
    let mut errors: Vec<String> = Vec::new();
    let now = Instant::now();
    for kind in order {
        for ep in endpoints.iter().filter(|e| e.kind == kind) {
            if !ep.available(now) {
                errors.push(format!("{}: down", ep.socket()));
                continue;
            }
            let started = Instant::now();
            let r = ep.lookup(req, settings.label_max_len).await;
            ep.mark(&r, stats, endpoints);
            match r {
                Ok(Some(mut info)) => {
                    stats.record_lookup(kind, true, started.elapsed());
                    if info.kind.is_none() {
                        info.kind = Some(match kind {
                            EngineKind::Docker => ContainerType::Docker,
                            EngineKind::Podman => ContainerType::Podman,
                            EngineKind::Containerd => ContainerType::Containerd,
                            EngineKind::Cri => ContainerType::Cri,
                        });
                    }
                    return (LookupResult::Found(Box::new(info)), Some(kind));
                }
                Ok(None) => {
                    stats.record_lookup(kind, false, started.elapsed());
                    answered = true;
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
    }
    if answered {
        (LookupResult::NotFound, None)
    } else if errors.is_empty() {
        (
            LookupResult::Failed("no container runtime enabled".into()),
            None,
        )
    } else {
        (LookupResult::Failed(errors.join("; ")), None)
    }
}

/// Keeps labels no longer than `max` (the plugin's `label_max_len`).
pub(crate) fn bounded_labels<'a>(
    labels: impl IntoIterator<Item = (&'a String, &'a String)>,
    max: usize,
) -> std::collections::BTreeMap<String, String> {
    labels
        .into_iter()
        .filter(|(_, v)| v.len() <= max)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Seconds-and-nanos or RFC 3339 timestamps to ns since the epoch (0 if unparsable).
pub(crate) fn rfc3339_ns(s: &str) -> i64 {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| i64::try_from(t.unix_timestamp_nanos()).unwrap_or(0))
        .unwrap_or(0)
}

/// Runs `f` with the engine timeout, mapping a timeout to [`EngineError::Timeout`].
pub(crate) async fn with_timeout<T>(
    socket: &Path,
    timeout: Duration,
    f: impl std::future::Future<Output = Result<T, EngineError>>,
) -> Result<T, EngineError> {
    match tokio::time::timeout(timeout, f).await {
        Ok(r) => r,
        Err(_) => Err(EngineError::Timeout {
            socket: socket.display().to_string(),
            timeout_ms: timeout.as_millis(),
        }),
    }
}

/// A gRPC endpoint on a unix socket (CRI, containerd), connected on first
/// use and reconnected after a transport error (a restarted runtime).
#[derive(Debug)]
pub(crate) struct GrpcSocket {
    pub path: PathBuf,
    pub timeout: Duration,
    channel: tokio::sync::Mutex<Option<tonic::transport::Channel>>,
}

impl GrpcSocket {
    pub fn new(path: PathBuf, timeout: Duration) -> Self {
        GrpcSocket {
            path,
            timeout,
            channel: tokio::sync::Mutex::new(None),
        }
    }

    pub fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// The channel, connecting if needed.
    pub async fn channel(&self) -> Result<tonic::transport::Channel, EngineError> {
        let mut g = self.channel.lock().await;
        if let Some(c) = g.as_ref() {
            return Ok(c.clone());
        }
        if !self.path.exists() {
            return Err(EngineError::SocketMissing {
                socket: self.name(),
            });
        }
        let c = with_timeout(&self.path, self.timeout, async {
            containerd_client::connect(&self.path)
                .await
                .map_err(|e| EngineError::Connect {
                    socket: self.name(),
                    message: error_chain(&e),
                })
        })
        .await?;
        *g = Some(c.clone());
        Ok(c)
    }

    /// Forgets the channel after a failed call: the next call reconnects.
    pub async fn reset(&self) {
        *self.channel.lock().await = None;
    }

    /// Maps a failed call: NotFound is an answer (None), anything else an
    /// error that also drops the channel.
    pub async fn status<T>(
        &self,
        call: &'static str,
        r: Result<T, tonic::Status>,
    ) -> Result<Option<T>, EngineError> {
        match r {
            Ok(v) => Ok(Some(v)),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => {
                if matches!(
                    s.code(),
                    tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
                ) {
                    self.reset().await;
                }
                Err(EngineError::Call {
                    socket: self.name(),
                    call,
                    message: s.message().to_string(),
                })
            }
        }
    }
}

/// The path exists and is a unix socket.
pub(crate) fn check_socket(path: &Path) -> Result<(), EngineError> {
    use std::os::unix::fs::FileTypeExt;
    let socket = || path.display().to_string();
    match std::fs::metadata(path) {
        Err(_) => Err(EngineError::SocketMissing { socket: socket() }),
        Ok(m) if !m.file_type().is_socket() => Err(EngineError::NotASocket { socket: socket() }),
        Ok(_) => Ok(()),
    }
}

/// An error and its sources, one line ("a: b: c").
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let m = s.to_string();
        if !out.contains(&m) {
            out.push_str(": ");
            out.push_str(&m);
        }
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_are_found_under_the_host_root() {
        assert_eq!(
            host_path(
                Path::new("/host"),
                Path::new("/run/containerd/containerd.sock")
            ),
            PathBuf::from("/host/run/containerd/containerd.sock")
        );
        assert_eq!(
            host_path(Path::new("/"), Path::new("/run/crio/crio.sock")),
            PathBuf::from("/run/crio/crio.sock")
        );
        assert_eq!(
            host_path(Path::new("/host"), Path::new("/host/run/x.sock")),
            PathBuf::from("/host/run/x.sock")
        );
    }

    #[test]
    fn layouts_ask_their_own_runtime_first() {
        assert_eq!(
            preferred(ContainerType::Containerd, true)[0],
            EngineKind::Containerd
        );
        assert_eq!(preferred(ContainerType::Cri, false)[0], EngineKind::Cri);
        assert_eq!(
            preferred(ContainerType::Podman, false)[0],
            EngineKind::Podman
        );
        assert_eq!(
            preferred(ContainerType::Docker, false)[0],
            EngineKind::Docker
        );
    }

    #[test]
    fn labels_over_the_limit_are_left_out() {
        let mut m = std::collections::HashMap::new();
        m.insert("a".to_string(), "short".to_string());
        m.insert("b".to_string(), "x".repeat(200));
        let kept = bounded_labels(&m, 100);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept["a"], "short");
        assert_eq!(rfc3339_ns("1970-01-01T00:00:01.5Z"), 1_500_000_000);
        assert_eq!(rfc3339_ns("not a time"), 0);
    }

    #[tokio::test]
    async fn a_missing_socket_fails_the_lookup_and_marks_the_engine_down() {
        let dir = tempfile::tempdir().unwrap();
        let settings = RuntimeSettings {
            engines: EngineKind::ALL
                .iter()
                .map(|k| EngineSettings {
                    kind: *k,
                    enabled: true,
                    sockets: vec![dir.path().join(format!("{}.sock", k.as_str()))],
                })
                .collect(),
            host_root: PathBuf::from("/"),
            label_max_len: 100,
            timeout: Duration::from_millis(500),
            concurrency: 4,
        };
        let endpoints = build_endpoints(&settings);
        let stats = RuntimeStats::default();
        // A regular file where a socket should be says so.
        std::fs::write(dir.path().join("docker.sock"), "").unwrap();
        let req = LookupRequest {
            id: Arc::from("3f4e1b2c9d8a"),
            cgroup_id: "3f4e1b2c9d8a".into(),
            kind: ContainerType::Cri,
            namespace: None,
        };
        let (r, engine) = lookup(&endpoints, &req, &settings, &stats).await;
        assert!(engine.is_none());
        match r {
            LookupResult::Failed(why) => {
                assert!(why.contains("socket missing"), "{why}");
                assert!(why.contains("docker.sock: not a unix socket"), "{why}");
            }
            other => panic!("expected a failure, got {other:?}"),
        }
        let snap = stats.snapshot();
        assert_eq!(snap.len(), 4);
        assert!(snap.iter().all(|(_, s)| s.errors == 1 && !s.up));
        // Down endpoints are skipped (no new error) within their backoff.
        let (r, _) = lookup(&endpoints, &req, &settings, &stats).await;
        assert!(
            matches!(r, LookupResult::Failed(ref w) if w.contains("down")),
            "{r:?}"
        );
        assert!(stats.snapshot().iter().all(|(_, s)| s.errors == 1));
    }
}
