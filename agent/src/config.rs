//! The agent's configuration: a YAML file with Falco's key names where Falco
//! has them (`falco.yaml`), `-o key=value` overrides, validated once into a
//! typed [`Config`].
//!
//! An unknown key is an error naming the key. Keys Falco knows but Saker does
//! not implement (gRPC, plugins, syslog output, ...) are accepted with a
//! warning, so an existing `falco.yaml` can be used as is. Saker's own
//! settings live under `saker:`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use crate::alert::Priority;
use crate::event::EventType;
use crate::output::config::{
    FileOutputConfig, HttpOutputConfig, OutputSettings, OutputsConfig, ProgramOutputConfig,
    StdoutOutputConfig,
};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Yaml { origin: String, message: String },
    #[error("-o {arg}: {reason}")]
    Override { arg: String, reason: String },
    #[error("{key}: {reason}")]
    Invalid { key: String, reason: String },
    #[error(transparent)]
    Output(#[from] crate::output::config::ConfigError),
}

fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        reason: reason.into(),
    }
}

/// Falco keys Saker accepts and ignores (with a warning), so that a Falco
/// configuration file loads.
const IGNORED_FALCO_KEYS: &[&str] = &[
    "watch_config_files",
    "time_format_iso_8601",
    "buffered_outputs",
    "outputs_queue",
    "output_timeout",
    "outputs",
    "syslog_output",
    "grpc",
    "grpc_output",
    "libs_logger",
    "falco_libs",
    "config_files",
    "plugins",
    "load_plugins",
    "plugins_hostinfo",
    "capture",
    "static_fields",
    "json_include_message_property",
    "json_include_output_fields_property",
    "log_syslog",
    "log_stderr",
    "rule_matching_strategy",
];

/// The file's shape. Every section is optional; defaults follow Falco's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConfigFile {
    #[serde(alias = "rules_file")]
    pub rules_files: Vec<PathBuf>,
    /// Falco's `rules:` selection list: `- disable: {rule: NAME}`, `- enable: {tag: TAG}`.
    pub rules: Vec<RuleSelectionItem>,
    pub rule_matching: String,
    pub json_output: bool,
    pub json_include_output_property: bool,
    pub json_include_tags_property: bool,
    pub priority: String,
    pub stdout_output: StdoutOutputConfig,
    pub file_output: FileOutputConfig,
    pub http_output: HttpOutputConfig,
    pub program_output: ProgramOutputConfig,
    pub webserver: WebserverConfig,
    pub base_syscalls: BaseSyscallsConfig,
    pub syscall_event_drops: DropsConfig,
    pub metrics: MetricsConfig,
    pub engine: EngineConfig,
    pub log_level: String,
    pub saker: SakerConfig,
    /// Falco's `append_output`: text and fields added to rule outputs.
    pub append_output: Vec<AppendOutputItem>,
    /// Container runtimes asked for metadata (the container plugin's `engines`).
    pub container_engines: ContainerEnginesConfig,
    // Falco keys Saker accepts and ignores (IGNORED_FALCO_KEYS, same order).
    #[serde(rename = "watch_config_files")]
    ignored_0: Option<serde::de::IgnoredAny>,
    #[serde(rename = "time_format_iso_8601")]
    ignored_1: Option<serde::de::IgnoredAny>,
    #[serde(rename = "buffered_outputs")]
    ignored_2: Option<serde::de::IgnoredAny>,
    #[serde(rename = "outputs_queue")]
    ignored_3: Option<serde::de::IgnoredAny>,
    #[serde(rename = "output_timeout")]
    ignored_4: Option<serde::de::IgnoredAny>,
    #[serde(rename = "outputs")]
    ignored_5: Option<serde::de::IgnoredAny>,
    #[serde(rename = "syslog_output")]
    ignored_6: Option<serde::de::IgnoredAny>,
    #[serde(rename = "grpc")]
    ignored_7: Option<serde::de::IgnoredAny>,
    #[serde(rename = "grpc_output")]
    ignored_8: Option<serde::de::IgnoredAny>,
    #[serde(rename = "libs_logger")]
    ignored_9: Option<serde::de::IgnoredAny>,
    #[serde(rename = "falco_libs")]
    ignored_10: Option<serde::de::IgnoredAny>,
    #[serde(rename = "config_files")]
    ignored_11: Option<serde::de::IgnoredAny>,
    #[serde(rename = "plugins")]
    ignored_12: Option<serde::de::IgnoredAny>,
    #[serde(rename = "load_plugins")]
    ignored_13: Option<serde::de::IgnoredAny>,
    #[serde(rename = "plugins_hostinfo")]
    ignored_14: Option<serde::de::IgnoredAny>,
    #[serde(rename = "capture")]
    ignored_15: Option<serde::de::IgnoredAny>,
    #[serde(rename = "static_fields")]
    ignored_16: Option<serde::de::IgnoredAny>,
    #[serde(rename = "json_include_message_property")]
    ignored_17: Option<serde::de::IgnoredAny>,
    #[serde(rename = "json_include_output_fields_property")]
    ignored_18: Option<serde::de::IgnoredAny>,
    #[serde(rename = "log_syslog")]
    ignored_19: Option<serde::de::IgnoredAny>,
    #[serde(rename = "log_stderr")]
    ignored_20: Option<serde::de::IgnoredAny>,
    #[serde(rename = "rule_matching_strategy")]
    ignored_21: Option<serde::de::IgnoredAny>,
}

impl ConfigFile {
    /// The Falco-only keys present in the file, in IGNORED_FALCO_KEYS order.
    fn ignored_present(&self) -> Vec<String> {
        let present = [
            self.ignored_0.is_some(),
            self.ignored_1.is_some(),
            self.ignored_2.is_some(),
            self.ignored_3.is_some(),
            self.ignored_4.is_some(),
            self.ignored_5.is_some(),
            self.ignored_6.is_some(),
            self.ignored_7.is_some(),
            self.ignored_8.is_some(),
            self.ignored_9.is_some(),
            self.ignored_10.is_some(),
            self.ignored_11.is_some(),
            self.ignored_12.is_some(),
            self.ignored_13.is_some(),
            self.ignored_14.is_some(),
            self.ignored_15.is_some(),
            self.ignored_16.is_some(),
            self.ignored_17.is_some(),
            self.ignored_18.is_some(),
            self.ignored_19.is_some(),
            self.ignored_20.is_some(),
            self.ignored_21.is_some(),
        ];
        IGNORED_FALCO_KEYS
            .iter()
            .zip(present)
            .filter(|(_, p)| *p)
            .map(|(k, _)| (*k).to_string())
            .collect()
    }
}

impl Default for ConfigFile {
    fn default() -> Self {
        let o = OutputsConfig::default();
        ConfigFile {
            rules_files: Vec::new(),
            rules: Vec::new(),
            rule_matching: "first".into(),
            json_output: o.json_output,
            json_include_output_property: o.json_include_output_property,
            json_include_tags_property: o.json_include_tags_property,
            priority: o.priority,
            stdout_output: o.stdout_output,
            file_output: o.file_output,
            http_output: o.http_output,
            program_output: o.program_output,
            webserver: WebserverConfig::default(),
            base_syscalls: BaseSyscallsConfig::default(),
            syscall_event_drops: DropsConfig::default(),
            metrics: MetricsConfig::default(),
            engine: EngineConfig::default(),
            log_level: "info".into(),
            saker: SakerConfig::default(),
            append_output: vec![AppendOutputItem {
                suggested_output: Some(true),
                ..AppendOutputItem::default()
            }],
            container_engines: ContainerEnginesConfig::default(),
            ignored_0: None,
            ignored_1: None,
            ignored_2: None,
            ignored_3: None,
            ignored_4: None,
            ignored_5: None,
            ignored_6: None,
            ignored_7: None,
            ignored_8: None,
            ignored_9: None,
            ignored_10: None,
            ignored_11: None,
            ignored_12: None,
            ignored_13: None,
            ignored_14: None,
            ignored_15: None,
            ignored_16: None,
            ignored_17: None,
            ignored_18: None,
            ignored_19: None,
            ignored_20: None,
            ignored_21: None,
        }
    }
}

/// One item of `rules:`: exactly one of `enable` or `disable`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSelectionItem {
    pub enable: Option<RuleSelector>,
    pub disable: Option<RuleSelector>,
}

/// A validated `rules:` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSelection {
    Enable(RuleSelector),
    Disable(RuleSelector),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSelector {
    /// A rule name; `*` matches any characters.
    pub rule: Option<String>,
    pub tag: Option<String>,
}

/// Falco's `webserver`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebserverConfig {
    pub enabled: bool,
    pub threadiness: u32,
    pub listen_address: String,
    pub listen_port: u16,
    pub k8s_healthz_endpoint: String,
    pub prometheus_metrics_enabled: bool,
    pub ssl_enabled: bool,
    pub ssl_certificate: PathBuf,
}

impl Default for WebserverConfig {
    fn default() -> Self {
        WebserverConfig {
            enabled: true,
            threadiness: 0,
            listen_address: "0.0.0.0".into(),
            listen_port: 8765,
            k8s_healthz_endpoint: "/healthz".into(),
            prometheus_metrics_enabled: true,
            ssl_enabled: false,
            ssl_certificate: PathBuf::from("/etc/falco/falco.pem"),
        }
    }
}

/// Falco's `base_syscalls`: syscalls captured regardless of the rules.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BaseSyscallsConfig {
    pub custom_set: Vec<String>,
    pub repair: bool,
    pub all: bool,
}

/// Falco's `syscall_event_drops`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DropsConfig {
    pub threshold: f64,
    pub actions: Vec<String>,
    pub rate: f64,
    pub max_burst: u32,
    pub simulate_drops: bool,
}

impl Default for DropsConfig {
    fn default() -> Self {
        DropsConfig {
            threshold: 0.1,
            actions: vec!["log".into(), "alert".into()],
            rate: 0.033_333_33,
            max_burst: 1,
            simulate_drops: false,
        }
    }
}

/// Falco's `metrics`. `libbpf_stats_enabled` turns on kernel BPF run-time stats.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub enabled: bool,
    pub interval: String,
    pub output_rule: bool,
    pub output_file: Option<PathBuf>,
    pub rules_counters_enabled: bool,
    pub resource_utilization_enabled: bool,
    pub state_counters_enabled: bool,
    pub kernel_event_counters_enabled: bool,
    pub kernel_event_counters_per_cpu_enabled: bool,
    pub libbpf_stats_enabled: bool,
    pub plugins_metrics_enabled: bool,
    pub jemalloc_stats_enabled: bool,
    pub convert_memory_to_mb: bool,
    pub include_empty_values: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            interval: "15s".into(),
            output_rule: false,
            output_file: None,
            rules_counters_enabled: true,
            resource_utilization_enabled: true,
            state_counters_enabled: true,
            kernel_event_counters_enabled: true,
            kernel_event_counters_per_cpu_enabled: true,
            libbpf_stats_enabled: true,
            plugins_metrics_enabled: false,
            jemalloc_stats_enabled: false,
            convert_memory_to_mb: true,
            include_empty_values: false,
        }
    }
}

/// Falco's `engine`: only `modern_ebpf` exists in Saker; its buffer preset sizes the ring.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    pub kind: String,
    pub modern_ebpf: ModernEbpfConfig,
    pub ebpf: Option<Value>,
    pub kmod: Option<Value>,
    pub replay: Option<Value>,
    pub gvisor: Option<Value>,
    pub nodriver: Option<Value>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            kind: "modern_ebpf".into(),
            modern_ebpf: ModernEbpfConfig::default(),
            ebpf: None,
            kmod: None,
            replay: None,
            gvisor: None,
            nodriver: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModernEbpfConfig {
    pub cpus_for_each_buffer: u32,
    /// Falco's presets: 1 = 1 MiB ... 4 = 8 MiB (default) ... 10 = 512 MiB.
    pub buf_size_preset: u32,
    pub drop_failed_exit: bool,
}

impl Default for ModernEbpfConfig {
    fn default() -> Self {
        ModernEbpfConfig {
            cpus_for_each_buffer: 2,
            buf_size_preset: 4,
            drop_failed_exit: false,
        }
    }
}

/// One `append_output` item (Falco's `falco.yaml`): `match` selects rules;
/// `extra_output` is appended to the output text; `extra_fields` go to
/// `output_fields` only (a field name, or `{key: "%field"}`);
/// `suggested_output: true` appends the container plugin's suggested fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppendOutputItem {
    #[serde(rename = "match")]
    pub matching: AppendOutputMatch,
    pub extra_output: String,
    pub extra_fields: Vec<Value>,
    pub suggested_output: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppendOutputMatch {
    pub source: String,
    pub tags: Vec<String>,
    pub rule: String,
}

/// One engine of `container_engines` (the container plugin's `engines.<name>`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContainerEngineConfig {
    pub enabled: bool,
    /// Host paths of the runtime's sockets (looked up under `saker.host_root`).
    pub sockets: Vec<PathBuf>,
    /// Falco's old `container_engines.cri.disable_async`: accepted, ignored
    /// (lookups are always asynchronous; alerts wait, bounded, instead).
    pub disable_async: Option<bool>,
}

impl ContainerEngineConfig {
    fn with_defaults(kind: crate::runtime::EngineKind) -> Self {
        ContainerEngineConfig {
            enabled: true,
            sockets: kind.default_sockets().iter().map(PathBuf::from).collect(),
            disable_async: None,
        }
    }
}

impl Default for ContainerEngineConfig {
    fn default() -> Self {
        ContainerEngineConfig {
            enabled: true,
            sockets: Vec::new(),
            disable_async: None,
        }
    }
}

/// `container_engines`: Falco's key (0.37-0.40) with the container plugin's
/// engine names and settings (`init_config.engines`, `label_max_len`).
/// An engine given without `sockets` uses the plugin's default sockets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContainerEnginesConfig {
    pub docker: ContainerEngineConfig,
    pub podman: ContainerEngineConfig,
    pub containerd: ContainerEngineConfig,
    pub cri: ContainerEngineConfig,
    /// Engines of Falco that Saker does not query; accepted when disabled.
    pub lxc: Option<Value>,
    pub libvirt_lxc: Option<Value>,
    pub bpm: Option<Value>,
    pub label_max_len: usize,
}

impl Default for ContainerEnginesConfig {
    fn default() -> Self {
        use crate::runtime::EngineKind as E;
        ContainerEnginesConfig {
            docker: ContainerEngineConfig::with_defaults(E::Docker),
            podman: ContainerEngineConfig::with_defaults(E::Podman),
            containerd: ContainerEngineConfig::with_defaults(E::Containerd),
            cri: ContainerEngineConfig::with_defaults(E::Cri),
            lxc: None,
            libvirt_lxc: None,
            bpm: None,
            label_max_len: 100,
        }
    }
}

/// `saker.containers`: the container table and alert holding.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContainersConfig {
    /// Containers kept at most (oldest without processes evicted first).
    pub max_entries: usize,
    /// How long a container outlives its last process, in ms.
    pub grace_ms: u64,
    /// Longest wait of an alert for its container's metadata, in ms (0: never wait).
    pub hold_max_wait_ms: u64,
    /// Alerts waiting at most; beyond, the oldest goes out with what is known.
    pub hold_max_alerts: usize,
    /// Time one runtime has to answer one lookup, in ms.
    pub lookup_timeout_ms: u64,
    /// A failed lookup is retried after this long, in ms.
    pub retry_ms: u64,
    /// Lookups in flight at most.
    pub lookup_concurrency: usize,
}

impl Default for ContainersConfig {
    fn default() -> Self {
        ContainersConfig {
            max_entries: 4096,
            grace_ms: 30_000,
            hold_max_wait_ms: 2_000,
            hold_max_alerts: 10_000,
            lookup_timeout_ms: 2_000,
            retry_ms: 10_000,
            lookup_concurrency: 16,
        }
    }
}

/// `saker.hostnames`: host names of socket addresses (`fd.*ip.name`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostNamesConfig {
    /// Look up the reverse name of addresses that alerts print.
    pub reverse_lookups: bool,
    /// Reverse answers kept at most (least recently used evicted first).
    pub max_entries: usize,
    /// Seconds a reverse answer is used before it is asked again.
    pub ttl_s: u64,
    /// The same for addresses without a name.
    pub failed_ttl_s: u64,
    /// Resolver threads.
    pub resolvers: usize,
    /// Lookups waiting for a resolver at most; beyond, they are dropped.
    pub max_pending: usize,
}

impl Default for HostNamesConfig {
    fn default() -> Self {
        let d = crate::state::hostnames::HostNameLimits::default();
        HostNamesConfig {
            reverse_lookups: d.reverse_lookups,
            max_entries: d.max_entries,
            ttl_s: d.ttl.as_secs(),
            failed_ttl_s: d.failed_ttl.as_secs(),
            resolvers: d.resolvers,
            max_pending: d.max_pending,
        }
    }
}

/// Saker's own settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SakerConfig {
    /// Where the host's /proc and /etc are (`/host` when running in a container).
    pub host_root: PathBuf,
    /// The hostname put in alerts (default: the host's, or `$FALCO_HOSTNAME`).
    pub hostname: Option<String>,
    /// Ring buffer size in bytes; overrides `engine.modern_ebpf.buf_size_preset`.
    pub ring_buffer_bytes: Option<u32>,
    /// Milliseconds between ring-buffer drains when the kernel has not woken the reader.
    pub drain_interval_ms: u64,
    /// Syscall records per CPU that share one kernel clock reading (1, the
    /// default: exact time on every record; more is an opt-in approximation,
    /// early by at most one scheduler tick).
    pub timestamp_every: u32,
    /// BPF statistics are on for one second in this many (1: always).
    pub bpf_stats_every: u32,
    /// Grace period for outputs to deliver queued alerts on shutdown.
    pub shutdown_timeout_ms: u64,
    /// Node overhead budget for the overhead gauge's alert threshold (fraction of the node's CPU).
    pub overhead_budget: f64,
    /// The container table and alert holding.
    pub containers: ContainersConfig,
    /// Host names of socket addresses (`fd.*ip.name`).
    pub hostnames: HostNamesConfig,
}

impl Default for SakerConfig {
    fn default() -> Self {
        SakerConfig {
            host_root: PathBuf::from("/"),
            hostname: None,
            ring_buffer_bytes: None,
            drain_interval_ms: 20,
            timestamp_every: crate::probe::DEFAULT_TIMESTAMP_EVERY,
            bpf_stats_every: 10,
            shutdown_timeout_ms: 5_000,
            overhead_budget: 0.05,
            containers: ContainersConfig::default(),
            hostnames: HostNamesConfig::default(),
        }
    }
}

/// What rules matching does when several rules match one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleMatching {
    First,
    All,
}

/// Actions on kernel drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DropActions {
    pub log: bool,
    pub alert: bool,
    pub exit: bool,
}

#[derive(Debug, Clone)]
pub struct DropPolicy {
    /// Ratio of dropped to total events over an interval that triggers the actions.
    pub threshold: f64,
    pub actions: DropActions,
    /// Alerts per second allowed (token bucket), and the bucket size.
    pub rate: f64,
    pub max_burst: u32,
}

#[derive(Debug, Clone)]
pub struct WebserverSettings {
    pub enabled: bool,
    pub addr: SocketAddr,
    pub healthz_path: String,
    pub prometheus_metrics: bool,
    pub tls_pem: Option<PathBuf>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub rules_files: Vec<PathBuf>,
    pub rule_selection: Vec<RuleSelection>,
    pub rule_matching: RuleMatching,
    pub min_priority: Priority,
    pub outputs: OutputSettings,
    pub webserver: WebserverSettings,
    /// Event types captured whatever the rules need (`base_syscalls.custom_set`).
    pub base_syscalls: Vec<EventType>,
    pub base_syscalls_all: bool,
    pub drops: DropPolicy,
    pub metrics_enabled: bool,
    pub metrics_interval: Duration,
    pub bpf_stats: bool,
    pub ring_bytes: u32,
    pub drain_interval: Duration,
    /// Syscall records per CPU that share one kernel clock reading.
    pub timestamp_every: u32,
    /// BPF statistics are on for one second in this many.
    pub bpf_stats_every: u32,
    pub shutdown_timeout: Duration,
    pub host_root: PathBuf,
    pub hostname: String,
    pub overhead_budget: f64,
    pub log_level: String,
    /// `append_output`, resolved.
    pub append_output: Vec<crate::rules::AppendOutput>,
    /// Container runtimes to ask for metadata.
    pub runtime: crate::runtime::RuntimeSettings,
    /// The container table's limits.
    pub containers: crate::state::container::ContainerLimits,
    /// How alerts wait for container metadata.
    pub hold: crate::engine::HoldPolicy,
    /// The host name cache (`saker.hostnames`).
    pub hostnames: crate::state::hostnames::HostNameLimits,
    /// Falco keys that were present but are not implemented.
    pub ignored_keys: Vec<String>,
}

/// Parses Falco-style durations: `15s`, `500ms`, `1m`, `2h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, ""), |i| s.split_at(i));
    let v: f64 = num.parse().ok()?;
    let secs = match unit {
        "" | "s" => v,
        "ms" => v / 1000.0,
        "m" => v * 60.0,
        "h" => v * 3600.0,
        "d" => v * 86400.0,
        _ => return None,
    };
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// Applies one `-o key=value`: dotted keys walk mappings (created as needed);
/// `key[]=value` appends to a list. The value is parsed as YAML.
pub fn apply_override(root: &mut Value, arg: &str) -> Result<(), ConfigError> {
    let bad = |reason: &str| ConfigError::Override {
        arg: arg.to_string(),
        reason: reason.to_string(),
    };
    let (key, raw) = arg
        .split_once('=')
        .ok_or_else(|| bad("expected KEY=VALUE"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(bad("empty key"));
    }
    let value: Value = serde_yaml::from_str(raw).map_err(|e| bad(&format!("value: {e}")))?;
    let (path, append) = match key.strip_suffix("[]") {
        Some(k) => (k, true),
        None => (key, false),
    };
    let parts: Vec<&str> = path.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(bad("empty key component"));
    }
    let mut cur = root;
    for (i, part) in parts.iter().enumerate() {
        if !cur.is_mapping() {
            if cur.is_null() {
                *cur = Value::Mapping(Mapping::new());
            } else {
                return Err(bad(&format!("{} is not a mapping", parts[..i].join("."))));
            }
        }
        let map = cur.as_mapping_mut().ok_or_else(|| bad("not a mapping"))?;
        let k = Value::String((*part).to_string());
        if i + 1 == parts.len() {
            if append {
                let entry = map.entry(k).or_insert(Value::Sequence(Vec::new()));
                match entry {
                    Value::Sequence(seq) => seq.push(value),
                    Value::Null => *entry = Value::Sequence(vec![value]),
                    _ => return Err(bad(&format!("{path} is not a list"))),
                }
            } else {
                map.insert(k, value);
            }
            return Ok(());
        }
        cur = map.entry(k).or_insert(Value::Null);
    }
    Ok(())
}

fn yaml_error(origin: &str, e: &serde_yaml::Error) -> ConfigError {
    let message = match e.location() {
        Some(l) => format!("line {} column {}: {e}", l.line(), l.column()),
        None => e.to_string(),
    };
    ConfigError::Yaml {
        origin: origin.to_string(),
        message,
    }
}

/// Reads the config file (if any), applies overrides, and validates.
///
/// The file is first checked on its own, so that errors carry its line and
/// column; overrides are then applied to the parsed tree and checked again.
pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<Config, ConfigError> {
    let (origin, text) = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.to_path_buf(),
                source,
            })?;
            (p.display().to_string(), text)
        }
        None => ("defaults".to_string(), String::new()),
    };
    let empty = text.trim().is_empty();
    let mut file: ConfigFile = if empty {
        ConfigFile::default()
    } else {
        serde_yaml::from_str(&text).map_err(|e| yaml_error(&origin, &e))?
    };
    if !overrides.is_empty() {
        let mut root: Value = if empty {
            Value::Mapping(Mapping::new())
        } else {
            serde_yaml::from_str(&text).map_err(|e| yaml_error(&origin, &e))?
        };
        if root.is_null() {
            root = Value::Mapping(Mapping::new());
        }
        for o in overrides {
            apply_override(&mut root, o)?;
        }
        file = serde_yaml::from_value(root)
            .map_err(|e| yaml_error(&format!("{origin} with -o overrides"), &e))?;
    }
    let mut ignored = file.ignored_present();
    let e = &file.container_engines;
    for (name, cfg) in [
        ("cri", &e.cri),
        ("containerd", &e.containerd),
        ("docker", &e.docker),
        ("podman", &e.podman),
    ] {
        if cfg.disable_async.is_some() {
            ignored.push(format!("container_engines.{name}.disable_async"));
        }
    }
    let mut cfg = validate(file)?;
    cfg.ignored_keys = ignored;
    Ok(cfg)
}

fn host_name(configured: Option<&str>, host_root: &Path) -> String {
    if let Some(h) = configured.filter(|h| !h.is_empty()) {
        return h.to_string();
    }
    if let Ok(h) = std::env::var("FALCO_HOSTNAME")
        && !h.is_empty()
    {
        return h;
    }
    for p in [
        host_root.join("proc/sys/kernel/hostname"),
        PathBuf::from("/proc/sys/kernel/hostname"),
    ] {
        if let Ok(h) = std::fs::read_to_string(p) {
            let h = h.trim();
            if !h.is_empty() {
                return h.to_string();
            }
        }
    }
    "localhost".to_string()
}

fn validate(f: ConfigFile) -> Result<Config, ConfigError> {
    let rule_matching = match f.rule_matching.as_str() {
        "first" => RuleMatching::First,
        "all" => RuleMatching::All,
        other => {
            return Err(invalid(
                "rule_matching",
                format!("{other:?} is not one of first, all"),
            ));
        }
    };
    let min_priority: Priority = f
        .priority
        .parse()
        .map_err(|e: crate::alert::UnknownPriority| invalid("priority", e.to_string()))?;
    let mut rule_selection = Vec::new();
    for (i, item) in f.rules.iter().enumerate() {
        let key = format!("rules[{i}]");
        let sel = match (&item.enable, &item.disable) {
            (Some(s), None) => RuleSelection::Enable(s.clone()),
            (None, Some(s)) => RuleSelection::Disable(s.clone()),
            _ => return Err(invalid(&key, "give exactly one of `enable` or `disable`")),
        };
        let s = match &sel {
            RuleSelection::Enable(s) | RuleSelection::Disable(s) => s,
        };
        if s.rule.is_none() == s.tag.is_none() {
            return Err(invalid(&key, "give exactly one of `rule` or `tag`"));
        }
        rule_selection.push(sel);
    }
    let outputs = OutputsConfig {
        json_output: f.json_output,
        json_include_output_property: f.json_include_output_property,
        json_include_tags_property: f.json_include_tags_property,
        priority: f.priority.clone(),
        stdout_output: f.stdout_output,
        file_output: f.file_output,
        http_output: f.http_output,
        program_output: f.program_output,
    }
    .validate()?;

    let ip: IpAddr = f.webserver.listen_address.parse().map_err(|e| {
        invalid(
            "webserver.listen_address",
            format!("{:?}: {e}", f.webserver.listen_address),
        )
    })?;
    if !f.webserver.k8s_healthz_endpoint.starts_with('/') {
        return Err(invalid(
            "webserver.k8s_healthz_endpoint",
            "must start with /",
        ));
    }
    let webserver = WebserverSettings {
        enabled: f.webserver.enabled,
        addr: SocketAddr::new(ip, f.webserver.listen_port),
        healthz_path: f.webserver.k8s_healthz_endpoint.clone(),
        prometheus_metrics: f.webserver.prometheus_metrics_enabled,
        tls_pem: f
            .webserver
            .ssl_enabled
            .then(|| f.webserver.ssl_certificate.clone()),
    };

    let mut base_syscalls = Vec::new();
    for (i, name) in f.base_syscalls.custom_set.iter().enumerate() {
        // Falco allows `!name` to remove a syscall from the set; Saker only adds.
        if name.starts_with('!') {
            continue;
        }
        let t = EventType::from_name(name).ok_or_else(|| {
            invalid(
                &format!("base_syscalls.custom_set[{i}]"),
                format!("unknown syscall {name:?}"),
            )
        })?;
        base_syscalls.push(t);
    }

    let d = &f.syscall_event_drops;
    if !(0.0..=1.0).contains(&d.threshold) {
        return Err(invalid(
            "syscall_event_drops.threshold",
            "must be between 0 and 1",
        ));
    }
    if d.rate <= 0.0 || !d.rate.is_finite() {
        return Err(invalid(
            "syscall_event_drops.rate",
            "must be a positive number",
        ));
    }
    let mut actions = DropActions::default();
    for (i, a) in d.actions.iter().enumerate() {
        match a.as_str() {
            "ignore" => {}
            "log" => actions.log = true,
            "alert" => actions.alert = true,
            "exit" => actions.exit = true,
            other => {
                return Err(invalid(
                    &format!("syscall_event_drops.actions[{i}]"),
                    format!("{other:?} is not one of ignore, log, alert, exit"),
                ));
            }
        }
    }
    let drops = DropPolicy {
        threshold: d.threshold,
        actions,
        rate: d.rate,
        max_burst: d.max_burst.max(1),
    };

    if f.engine.kind != "modern_ebpf" {
        return Err(invalid(
            "engine.kind",
            format!("{:?}: Saker has one engine, modern_ebpf", f.engine.kind),
        ));
    }
    let preset = f.engine.modern_ebpf.buf_size_preset;
    let ring_bytes = match f.saker.ring_buffer_bytes {
        Some(b) => {
            if !b.is_power_of_two() || b < 4096 {
                return Err(invalid(
                    "saker.ring_buffer_bytes",
                    "must be a power of two of at least 4096",
                ));
            }
            b
        }
        None => {
            if !(1..=10).contains(&preset) {
                return Err(invalid(
                    "engine.modern_ebpf.buf_size_preset",
                    "must be between 1 (1 MiB) and 10 (512 MiB)",
                ));
            }
            (1u32 << 20) << (preset - 1)
        }
    };
    let metrics_interval = parse_duration(&f.metrics.interval)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            invalid(
                "metrics.interval",
                format!("{:?} is not a duration", f.metrics.interval),
            )
        })?;
    if f.saker.drain_interval_ms == 0 || f.saker.drain_interval_ms > 10_000 {
        return Err(invalid(
            "saker.drain_interval_ms",
            "must be between 1 and 10000",
        ));
    }
    if !(1..=1024).contains(&f.saker.timestamp_every) {
        return Err(invalid(
            "saker.timestamp_every",
            "must be between 1 (read the clock for every event) and 1024",
        ));
    }
    if !(1..=3600).contains(&f.saker.bpf_stats_every) {
        return Err(invalid(
            "saker.bpf_stats_every",
            "must be between 1 (statistics always on) and 3600",
        ));
    }
    if !(f.saker.overhead_budget > 0.0 && f.saker.overhead_budget <= 1.0) {
        return Err(invalid("saker.overhead_budget", "must be in (0, 1]"));
    }
    let host_root = f.saker.host_root.clone();
    let append_output = validate_append_output(&f.append_output)?;
    let runtime = validate_engines(&f.container_engines, &f.saker.containers, &host_root)?;
    let c = &f.saker.containers;
    if c.max_entries == 0 {
        return Err(invalid(
            "saker.containers.max_entries",
            "must be at least 1",
        ));
    }
    if c.lookup_timeout_ms == 0 || c.lookup_concurrency == 0 {
        return Err(invalid(
            "saker.containers",
            "lookup_timeout_ms and lookup_concurrency must be at least 1",
        ));
    }
    let containers = crate::state::container::ContainerLimits {
        max_entries: c.max_entries,
        grace: Duration::from_millis(c.grace_ms),
        retry_after: Duration::from_millis(c.retry_ms),
    };
    if c.hold_max_wait_ms > 60_000 {
        return Err(invalid(
            "saker.containers.hold_max_wait_ms",
            "must be at most 60000 (a minute); 0 disables holding",
        ));
    }
    if c.hold_max_alerts == 0 {
        return Err(invalid(
            "saker.containers.hold_max_alerts",
            "must be at least 1 (hold_max_wait_ms: 0 disables holding)",
        ));
    }
    let hold = crate::engine::HoldPolicy {
        max_wait: Duration::from_millis(c.hold_max_wait_ms),
        max_alerts: c.hold_max_alerts,
    };
    let h = &f.saker.hostnames;
    if h.max_entries == 0 || h.resolvers == 0 || h.max_pending == 0 {
        return Err(invalid(
            "saker.hostnames",
            "max_entries, resolvers and max_pending must be at least 1",
        ));
    }
    if h.resolvers > 64 {
        return Err(invalid("saker.hostnames.resolvers", "must be at most 64"));
    }
    let hostnames = crate::state::hostnames::HostNameLimits {
        reverse_lookups: h.reverse_lookups,
        max_entries: h.max_entries,
        ttl: Duration::from_secs(h.ttl_s),
        failed_ttl: Duration::from_secs(h.failed_ttl_s),
        resolvers: h.resolvers,
        max_pending: h.max_pending,
    };
    Ok(Config {
        rules_files: f.rules_files,
        rule_selection,
        rule_matching,
        min_priority,
        outputs,
        webserver,
        base_syscalls,
        base_syscalls_all: f.base_syscalls.all,
        drops,
        metrics_enabled: f.metrics.enabled,
        metrics_interval,
        bpf_stats: f.metrics.enabled && f.metrics.libbpf_stats_enabled,
        ring_bytes,
        drain_interval: Duration::from_millis(f.saker.drain_interval_ms),
        timestamp_every: f.saker.timestamp_every,
        bpf_stats_every: f.saker.bpf_stats_every,
        shutdown_timeout: Duration::from_millis(f.saker.shutdown_timeout_ms),
        hostname: host_name(f.saker.hostname.as_deref(), &host_root),
        host_root,
        overhead_budget: f.saker.overhead_budget,
        log_level: f.log_level,
        append_output,
        runtime,
        containers,
        hold,
        hostnames,
        ignored_keys: Vec::new(),
    })
}

fn validate_append_output(
    items: &[AppendOutputItem],
) -> Result<Vec<crate::rules::AppendOutput>, ConfigError> {
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let key = format!("append_output[{i}]");
        let mut text = item.extra_output.trim().to_string();
        let mut fields = Vec::new();
        for (j, f) in item.extra_fields.iter().enumerate() {
            let fkey = format!("{key}.extra_fields[{j}]");
            match f {
                Value::String(name) => fields.push((name.clone(), name.clone())),
                Value::Mapping(m) if m.len() == 1 => {
                    for (k, v) in m {
                        let (Some(k), Some(v)) = (k.as_str(), v.as_str()) else {
                            return Err(invalid(&fkey, "expected `key: \"%field\"`"));
                        };
                        let field = v.trim().strip_prefix('%').unwrap_or(v.trim());
                        fields.push((k.to_string(), field.to_string()));
                    }
                }
                _ => return Err(invalid(&fkey, "expected a field name or `key: \"%field\"`")),
            }
        }
        if item.suggested_output == Some(true) {
            let suggested = crate::rules::suggested_output_text();
            if text.is_empty() {
                text = suggested;
            } else {
                text = format!("{text} {suggested}");
            }
        }
        let a = crate::rules::AppendOutput {
            source: item.matching.source.clone(),
            tags: item.matching.tags.clone(),
            rule: item.matching.rule.clone(),
            text,
            fields,
        };
        // Check now that the text and fields compile, so a typo is a config error.
        let mut probe = crate::rules::format::OutputFormat::default();
        probe
            .append_text(&a.text)
            .map_err(|e| invalid(&format!("{key}.extra_output"), e.message))?;
        for (k, f) in &a.fields {
            probe
                .add_extra_field(k, f)
                .map_err(|e| invalid(&format!("{key}.extra_fields"), e.message))?;
        }
        out.push(a);
    }
    Ok(out)
}

fn validate_engines(
    e: &ContainerEnginesConfig,
    c: &ContainersConfig,
    host_root: &Path,
) -> Result<crate::runtime::RuntimeSettings, ConfigError> {
    use crate::runtime::{EngineKind, EngineSettings};
    for (name, v) in [
        ("lxc", &e.lxc),
        ("libvirt_lxc", &e.libvirt_lxc),
        ("bpm", &e.bpm),
    ] {
        let enabled = v
            .as_ref()
            .and_then(|v| v.get("enabled"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if enabled {
            return Err(invalid(
                &format!("container_engines.{name}"),
                "this engine is not supported by Saker; set enabled: false",
            ));
        }
    }
    let engines = [
        (EngineKind::Cri, &e.cri),
        (EngineKind::Containerd, &e.containerd),
        (EngineKind::Docker, &e.docker),
        (EngineKind::Podman, &e.podman),
    ]
    .into_iter()
    .map(|(kind, cfg)| {
        for (i, s) in cfg.sockets.iter().enumerate() {
            if !s.is_absolute() {
                return Err(invalid(
                    &format!("container_engines.{}.sockets[{i}]", kind.as_str()),
                    format!("{} is not an absolute path", s.display()),
                ));
            }
        }
        Ok(EngineSettings {
            kind,
            enabled: cfg.enabled,
            sockets: if cfg.sockets.is_empty() {
                kind.default_sockets().iter().map(PathBuf::from).collect()
            } else {
                cfg.sockets.clone()
            },
        })
    })
    .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::runtime::RuntimeSettings {
        engines,
        host_root: host_root.to_path_buf(),
        label_max_len: e.label_max_len,
        timeout: Duration::from_millis(c.lookup_timeout_ms),
        concurrency: c.lookup_concurrency,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(yaml: &str, overrides: &[&str]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("saker.yaml");
        std::fs::write(&p, yaml).unwrap();
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        load(Some(&p), &o)
    }

    #[test]
    fn defaults_follow_falco() {
        let c = load(None, &[]).unwrap();
        assert_eq!(c.rule_matching, RuleMatching::First);
        assert_eq!(c.min_priority, Priority::Debug);
        assert_eq!(c.webserver.addr.port(), 8765);
        assert_eq!(c.ring_bytes, 8 << 20);
        assert!(c.drops.actions.log && c.drops.actions.alert && !c.drops.actions.exit);
        assert!(c.outputs.stdout.is_some());
        // Exact event times, as Falco: every syscall record reads the clock.
        assert_eq!(c.timestamp_every, 1);
        let c = load_str("saker:\n  timestamp_every: 16\n", &[]).unwrap();
        assert_eq!(c.timestamp_every, 16);
    }

    #[test]
    fn hostnames_settings_are_validated() {
        let c = load(None, &[]).unwrap();
        assert_eq!(
            c.hostnames,
            crate::state::hostnames::HostNameLimits::default()
        );
        assert!(c.hostnames.reverse_lookups);
        let c = load_str(
            "saker:\n  hostnames:\n    reverse_lookups: false\n    max_entries: 10\n    ttl_s: 5\n",
            &[],
        )
        .unwrap();
        assert!(!c.hostnames.reverse_lookups);
        assert_eq!(c.hostnames.max_entries, 10);
        assert_eq!(c.hostnames.ttl, Duration::from_secs(5));
        let e = load_str("saker:\n  hostnames:\n    resolvers: 0\n", &[]).unwrap_err();
        assert!(e.to_string().contains("saker.hostnames"), "{e}");
        assert!(load_str("saker:\n  hostnames:\n    ttl: 5\n", &[]).is_err());
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key() {
        let e = load_str("json_output: true\nbogus_key: 1\n", &[]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("bogus_key"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
        let e = load_str("http_output:\n  enabled: true\n  urll: x\n", &[]).unwrap_err();
        assert!(e.to_string().contains("urll"), "{e}");
    }

    #[test]
    fn falco_only_keys_are_accepted_and_reported() {
        let c = load_str(
            "grpc:\n  enabled: false\nsyslog_output:\n  enabled: true\npriority: warning\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.min_priority, Priority::Warning);
        assert_eq!(c.ignored_keys, vec!["syslog_output", "grpc"]);
    }

    #[test]
    fn overrides_set_nested_keys_and_append_lists() {
        let c = load_str(
            "rules_files: [/a.yaml]\n",
            &[
                "json_output=true",
                "rules_files[]=/b.yaml",
                "webserver.listen_port=9999",
                "rule_matching=all",
                "engine.modern_ebpf.buf_size_preset=6",
            ],
        )
        .unwrap();
        assert!(c.outputs.format.json);
        assert_eq!(
            c.rules_files,
            vec![PathBuf::from("/a.yaml"), PathBuf::from("/b.yaml")]
        );
        assert_eq!(c.webserver.addr.port(), 9999);
        assert_eq!(c.rule_matching, RuleMatching::All);
        assert_eq!(c.ring_bytes, 32 << 20);
        let e = load_str("", &["json_output"]).unwrap_err();
        assert!(e.to_string().contains("KEY=VALUE"));
        let e = load_str("", &["nope.deep=1"]).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }

    #[test]
    fn bad_values_name_their_key() {
        for (yaml, key) in [
            ("rule_matching: best\n", "rule_matching"),
            ("priority: severe\n", "priority"),
            (
                "webserver:\n  listen_address: nowhere\n",
                "webserver.listen_address",
            ),
            (
                "base_syscalls:\n  custom_set: [openat, nosuchcall]\n",
                "base_syscalls.custom_set[1]",
            ),
            (
                "syscall_event_drops:\n  actions: [log, panic]\n",
                "syscall_event_drops.actions[1]",
            ),
            ("engine:\n  kind: kmod\n", "engine.kind"),
            (
                "saker:\n  ring_buffer_bytes: 5000\n",
                "saker.ring_buffer_bytes",
            ),
            ("metrics:\n  interval: soon\n", "metrics.interval"),
            ("saker:\n  timestamp_every: 0\n", "saker.timestamp_every"),
            ("saker:\n  bpf_stats_every: 0\n", "saker.bpf_stats_every"),
            ("rules:\n  - disable: {}\n", "rules[0]"),
        ] {
            let e = load_str(yaml, &[]).unwrap_err().to_string();
            assert!(e.starts_with(key), "{yaml:?} -> {e}");
        }
    }

    #[test]
    fn the_documented_example_is_valid() {
        let doc = include_str!("../../docs/configuration.md");
        let start = doc.find("```yaml\n").unwrap() + "```yaml\n".len();
        let len = doc[start..].find("```").unwrap();
        let c = load_str(&doc[start..start + len], &[]).unwrap();
        assert_eq!(c.min_priority, Priority::Notice);
        assert!(c.outputs.http.is_some());
        assert_eq!(c.host_root, PathBuf::from("/host"));
        // Sockets are host paths, found under the host root in a container.
        let cri = c
            .runtime
            .engines
            .iter()
            .find(|e| e.kind == crate::runtime::EngineKind::Cri)
            .unwrap();
        assert_eq!(
            c.runtime.socket_path(&cri.sockets[0]),
            PathBuf::from("/host/run/containerd/containerd.sock")
        );
        assert!(
            !c.runtime
                .engines
                .iter()
                .any(|e| e.kind == crate::runtime::EngineKind::Docker && e.enabled)
        );
        assert_eq!(c.hold.max_wait, Duration::from_millis(1000));
        assert_eq!(c.append_output.len(), 2);
        assert_eq!(
            c.append_output[1].fields,
            vec![("fd.name".into(), "fd.name".into())]
        );
    }

    #[test]
    fn container_engines_and_append_output_defaults_and_errors() {
        let c = load_str("", &[]).unwrap();
        assert!(c.runtime.any_enabled());
        let podman = c
            .runtime
            .engines
            .iter()
            .find(|e| e.kind == crate::runtime::EngineKind::Podman)
            .unwrap();
        assert_eq!(
            podman.sockets,
            vec![PathBuf::from("/run/podman/podman.sock")]
        );
        assert_eq!(c.append_output.len(), 1);
        assert!(
            c.append_output[0]
                .text
                .contains("k8s_pod_name=%k8s.pod.name")
        );
        let off = load_str("", &["append_output=[]"]).unwrap();
        assert!(off.append_output.is_empty());
        let old = load_str("container_engines:\n  cri:\n    disable_async: true\n", &[]).unwrap();
        assert_eq!(
            old.ignored_keys,
            vec!["container_engines.cri.disable_async"]
        );
        for (yaml, key) in [
            (
                "container_engines:\n  cri:\n    sockets: [run/x.sock]\n",
                "container_engines.cri.sockets[0]",
            ),
            (
                "container_engines:\n  lxc:\n    enabled: true\n",
                "container_engines.lxc",
            ),
            (
                "append_output:\n  - extra_output: \"%proc.nosuch\"\n",
                "append_output[0].extra_output",
            ),
            (
                "append_output:\n  - extra_fields: [{a: 1}]\n",
                "append_output[0].extra_fields[0]",
            ),
            (
                "saker:\n  containers:\n    max_entries: 0\n",
                "saker.containers.max_entries",
            ),
        ] {
            let e = load_str(yaml, &[]).unwrap_err().to_string();
            assert!(e.starts_with(key), "{yaml:?} -> {e}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15s"), Some(Duration::from_secs(15)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("10"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("x"), None);
    }

    #[test]
    fn rule_selection_parses() {
        let c = load_str(
            "rules:\n  - disable:\n      rule: \"Read sensitive*\"\n  - enable:\n      tag: network\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.rule_selection.len(), 2);
        assert!(
            matches!(&c.rule_selection[0], RuleSelection::Disable(s) if s.rule.as_deref() == Some("Read sensitive*"))
        );
    }
}
