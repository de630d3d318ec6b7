//! Output configuration, with Falco's key names (`falco.yaml`: `json_output`,
//! `json_include_output_property`, `json_include_tags_property`, `priority`,
//! `stdout_output`, `file_output`, `http_output`, `program_output`) and
//! Falco's defaults. Saker's extensions (filters, queue, retry, spool, dedup,
//! rotation, headers, timeouts) are extra keys inside each output's section;
//! docs/outputs.md lists them all.
//!
//! These are plain serde structs, one per Falco key, each with
//! `deny_unknown_fields`, meant to be embedded in the agent's top-level config.
//! [`OutputsConfig::validate`] turns them into the typed [`OutputSettings`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use hyper::Uri;
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Priority};

/// Every output key, as found at the top level of `falco.yaml`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputsConfig {
    pub json_output: bool,
    pub json_include_output_property: bool,
    pub json_include_tags_property: bool,
    /// Minimum priority; Falco applies it when loading rules, Saker's outputs
    /// also apply it to every alert.
    pub priority: String,
    pub stdout_output: StdoutOutputConfig,
    pub file_output: FileOutputConfig,
    pub http_output: HttpOutputConfig,
    pub program_output: ProgramOutputConfig,
}

impl Default for OutputsConfig {
    fn default() -> Self {
        Self {
            json_output: false,
            json_include_output_property: true,
            json_include_tags_property: true,
            priority: "debug".into(),
            stdout_output: StdoutOutputConfig::default(),
            file_output: FileOutputConfig::default(),
            http_output: HttpOutputConfig::default(),
            program_output: ProgramOutputConfig::default(),
        }
    }
}

/// `stdout_output`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StdoutOutputConfig {
    pub enabled: bool,
    pub filter: FilterConfig,
    pub queue_capacity: usize,
    pub dedup: DedupConfig,
}

impl Default for StdoutOutputConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            filter: FilterConfig::default(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            dedup: DedupConfig::default(),
        }
    }
}

/// `file_output`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileOutputConfig {
    pub enabled: bool,
    /// Falco: `true` keeps the file open; `false` reopens it for each alert.
    /// Saker closes it whenever its queue runs empty, so a file moved away by
    /// logrotate is picked up just as promptly, without a reopen per alert.
    pub keep_alive: bool,
    pub filename: PathBuf,
    pub rotate: RotateConfig,
    pub filter: FilterConfig,
    pub queue_capacity: usize,
    pub retry: RetryConfig,
    pub dedup: DedupConfig,
}

impl Default for FileOutputConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            keep_alive: false,
            filename: PathBuf::from("./events.txt"),
            rotate: RotateConfig::default(),
            filter: FilterConfig::default(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            retry: RetryConfig::default(),
            dedup: DedupConfig::default(),
        }
    }
}

/// `file_output.rotate` (Saker): size-based rotation, logrotate-style names
/// (`events.txt.1` is the newest rotated file).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RotateConfig {
    /// Rotate before a line would take the file past this size; 0 = never.
    pub max_bytes: u64,
    /// Rotated files kept (`filename.1` .. `filename.N`); older are deleted.
    pub keep: u32,
}

impl Default for RotateConfig {
    fn default() -> Self {
        Self {
            max_bytes: 0,
            keep: 5,
        }
    }
}

/// `http_output`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpOutputConfig {
    pub enabled: bool,
    pub url: String,
    pub user_agent: String,
    /// Do not verify the server certificate. Off by default.
    pub insecure: bool,
    /// A PEM file of CA certificates (curl's CAINFO in Falco).
    pub ca_cert: PathBuf,
    /// A PEM bundle file of CA certificates (also CAINFO in Falco).
    pub ca_bundle: PathBuf,
    /// A directory of PEM CA certificates (CAPATH in Falco). A missing
    /// directory is skipped: Falco's default rarely exists.
    pub ca_path: PathBuf,
    /// Present `client_cert`/`client_key` (mutual TLS).
    pub mtls: bool,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// Log the receiver's answer (Falco prints it to stdout).
    pub echo: bool,
    /// gzip the request body (`Content-Encoding: gzip`).
    pub compress_uploads: bool,
    /// TCP keep-alive probes on the connection (curl's TCP_KEEPALIVE in
    /// Falco). Connections are reused between requests either way.
    pub keep_alive: bool,
    /// Accepted for compatibility with Falco's key; Saker's `retry` policy
    /// decides how timeouts are retried.
    pub max_consecutive_timeouts: u32,
    /// Extra request headers, e.g. `Authorization: Bearer ...`.
    pub headers: BTreeMap<String, String>,
    /// Headers read from files, for credentials kept out of the
    /// configuration (a Kubernetes Secret mounted as a volume): a directory
    /// holds one file per header (file name = header name, content = value,
    /// as a Secret's keys appear), a file holds `Name: value` lines. Merged
    /// with `headers`; a name given in both is an error.
    pub headers_file: PathBuf,
    pub connect_timeout_ms: u64,
    /// Whole request: connect, send, and read the answer.
    pub timeout_ms: u64,
    pub filter: FilterConfig,
    pub queue_capacity: usize,
    pub retry: RetryConfig,
    pub spool: SpoolConfig,
    pub dedup: DedupConfig,
}

impl Default for HttpOutputConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            url: String::new(),
            user_agent: "falcosecurity/falco".into(),
            insecure: false,
            ca_cert: PathBuf::new(),
            ca_bundle: PathBuf::new(),
            ca_path: PathBuf::from("/etc/falco/certs/"),
            mtls: false,
            client_cert: PathBuf::from("/etc/falco/certs/client/client.crt"),
            client_key: PathBuf::from("/etc/falco/certs/client/client.key"),
            echo: false,
            compress_uploads: false,
            keep_alive: false,
            max_consecutive_timeouts: 5,
            headers: BTreeMap::new(),
            headers_file: PathBuf::new(),
            connect_timeout_ms: 5_000,
            timeout_ms: 10_000,
            filter: FilterConfig::default(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            retry: RetryConfig::default(),
            spool: SpoolConfig::default(),
            dedup: DedupConfig::default(),
        }
    }
}

/// `program_output`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProgramOutputConfig {
    pub enabled: bool,
    /// Falco: `true` starts the program once and writes one alert per line;
    /// `false` starts it for each alert.
    pub keep_alive: bool,
    /// Run with `/bin/sh -c`, as Falco's `popen` does.
    pub program: String,
    /// With `keep_alive: false`, how long to wait for the program to exit.
    pub timeout_ms: u64,
    pub filter: FilterConfig,
    pub queue_capacity: usize,
    pub retry: RetryConfig,
    pub spool: SpoolConfig,
    pub dedup: DedupConfig,
}

impl Default for ProgramOutputConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            keep_alive: false,
            program: String::new(),
            timeout_ms: 10_000,
            filter: FilterConfig::default(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            retry: RetryConfig::default(),
            spool: SpoolConfig::default(),
            dedup: DedupConfig::default(),
        }
    }
}

/// `<output>.filter` (Saker): which alerts this output takes.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// Minimum priority for this output (on top of the global `priority`).
    pub min_priority: Option<String>,
    /// Rule names or globs (`Read sensitive*`); when set, only these rules.
    pub rules_include: Vec<String>,
    /// Rule names or globs never sent by this output.
    pub rules_exclude: Vec<String>,
    /// When set, only alerts whose rule has at least one of these tags.
    pub tags_include: Vec<String>,
    /// Alerts whose rule has any of these tags are not sent.
    pub tags_exclude: Vec<String>,
}

/// `<output>.retry` (Saker): exponential backoff with jitter.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// Attempts per alert, the first included; 0 = until delivered (or until
    /// shutdown).
    pub max_attempts: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            initial_backoff_ms: 200,
            max_backoff_ms: 30_000,
            max_attempts: 0,
        }
    }
}

/// `<output>.spool` (Saker): on-disk buffer that survives receiver outages
/// and agent restarts.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    pub enabled: bool,
    /// Parent directory; each output uses its own subdirectory (`http`, `program`).
    pub directory: PathBuf,
    /// Upper bound of the spool on disk; alerts beyond it are dropped and counted.
    pub max_bytes: u64,
    /// Size of one segment file; consumed segments are deleted whole.
    pub segment_bytes: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            directory: PathBuf::from("/var/lib/saker/spool"),
            max_bytes: 256 * 1024 * 1024,
            segment_bytes: 8 * 1024 * 1024,
        }
    }
}

/// `<output>.dedup` (Saker): identical alerts within a window are sent once.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupConfig {
    pub enabled: bool,
    pub window_ms: u64,
}

impl Default for DedupConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            window_ms: 10_000,
        }
    }
}

pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;

/// A configuration value that cannot be used, named by its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ConfigError {
    /// Dotted key, e.g. `http_output.url`.
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

// ---------------------------------------------------------------------------
// Typed, validated settings.

/// How alerts are rendered: Falco's `json_output` and its two
/// `json_include_*_property` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    pub json: bool,
    pub include_output: bool,
    pub include_tags: bool,
}

impl Format {
    /// The bytes of one alert, without a trailing newline: Falco's JSON
    /// object, or the formatted output line.
    pub fn render(&self, alert: &Alert) -> Vec<u8> {
        if self.json {
            alert
                .to_json(self.include_output, self.include_tags)
                .into_bytes()
        } else {
            alert.output.clone().into_bytes()
        }
    }

    pub fn content_type(&self) -> &'static str {
        if self.json {
            "application/json"
        } else {
            "text/plain"
        }
    }
}

/// Validated output configuration.
#[derive(Debug, Clone)]
pub struct OutputSettings {
    pub format: Format,
    pub min_priority: Priority,
    pub stdout: Option<StdoutSettings>,
    pub file: Option<FileSettings>,
    pub http: Option<HttpSettings>,
    pub program: Option<ProgramSettings>,
}

/// What every output has: its filter, queue, retry policy, dedup and spool.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    pub filter: Filter,
    pub queue_capacity: usize,
    pub retry: RetryPolicy,
    pub dedup_window: Option<Duration>,
    pub spool: Option<SpoolSettings>,
}

#[derive(Debug, Clone)]
pub struct StdoutSettings {
    pub delivery: DeliverySettings,
}

#[derive(Debug, Clone)]
pub struct FileSettings {
    pub filename: PathBuf,
    pub keep_alive: bool,
    /// `(max_bytes, keep)` when rotation is on.
    pub rotate: Option<(u64, u32)>,
    pub delivery: DeliverySettings,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub url: Uri,
    pub user_agent: String,
    pub insecure: bool,
    pub ca_cert: Option<PathBuf>,
    pub ca_bundle: Option<PathBuf>,
    pub ca_path: Option<PathBuf>,
    /// `(client_cert, client_key)` when `mtls` is on.
    pub client_auth: Option<(PathBuf, PathBuf)>,
    pub echo: bool,
    pub gzip: bool,
    pub tcp_keepalive: bool,
    pub headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub delivery: DeliverySettings,
}

#[derive(Debug, Clone)]
pub struct ProgramSettings {
    pub program: String,
    pub keep_alive: bool,
    pub timeout: Duration,
    pub delivery: DeliverySettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// `None` = until delivered.
    pub max_attempts: Option<u32>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            max_attempts: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolSettings {
    pub directory: PathBuf,
    pub max_bytes: u64,
    pub segment_bytes: u64,
}

/// The compiled per-output filter, evaluated on the hot path.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    min_priority: Option<Priority>,
    rules_include: Option<GlobSet>,
    rules_exclude: Option<GlobSet>,
    tags_include: Vec<String>,
    tags_exclude: Vec<String>,
}

impl Filter {
    /// True when this output should take the alert.
    pub fn accepts(&self, alert: &Alert) -> bool {
        if let Some(min) = self.min_priority
            && !alert.priority.at_least(min)
        {
            return false;
        }
        if let Some(set) = &self.rules_include
            && !set.is_match(alert.rule.as_ref())
        {
            return false;
        }
        if let Some(set) = &self.rules_exclude
            && set.is_match(alert.rule.as_ref())
        {
            return false;
        }
        let has = |wanted: &[String]| {
            alert
                .tags
                .iter()
                .any(|t| wanted.iter().any(|w| w == t.as_ref()))
        };
        if !self.tags_include.is_empty() && !has(&self.tags_include) {
            return false;
        }
        if !self.tags_exclude.is_empty() && has(&self.tags_exclude) {
            return false;
        }
        true
    }
}

fn parse_priority(key: &str, value: &str) -> Result<Priority, ConfigError> {
    value
        .parse::<Priority>()
        .map_err(|e| ConfigError::new(key, e.to_string()))
}

fn glob_set(key: &str, patterns: &[String]) -> Result<Option<GlobSet>, ConfigError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let g = Glob::new(p).map_err(|e| ConfigError::new(key, format!("{p:?}: {e}")))?;
        b.add(g);
    }
    b.build()
        .map(Some)
        .map_err(|e| ConfigError::new(key, e.to_string()))
}

impl FilterConfig {
    fn validate(&self, section: &str) -> Result<Filter, ConfigError> {
        let key = |k: &str| format!("{section}.filter.{k}");
        Ok(Filter {
            min_priority: self
                .min_priority
                .as_deref()
                .map(|p| parse_priority(&key("min_priority"), p))
                .transpose()?,
            rules_include: glob_set(&key("rules_include"), &self.rules_include)?,
            rules_exclude: glob_set(&key("rules_exclude"), &self.rules_exclude)?,
            tags_include: self.tags_include.clone(),
            tags_exclude: self.tags_exclude.clone(),
        })
    }
}

impl RetryConfig {
    fn validate(&self, section: &str) -> Result<RetryPolicy, ConfigError> {
        if self.initial_backoff_ms == 0 {
            return Err(ConfigError::new(
                format!("{section}.retry.initial_backoff_ms"),
                "must be at least 1",
            ));
        }
        if self.max_backoff_ms < self.initial_backoff_ms {
            return Err(ConfigError::new(
                format!("{section}.retry.max_backoff_ms"),
                "must be at least retry.initial_backoff_ms",
            ));
        }
        Ok(RetryPolicy {
            initial_backoff: Duration::from_millis(self.initial_backoff_ms),
            max_backoff: Duration::from_millis(self.max_backoff_ms),
            max_attempts: (self.max_attempts > 0).then_some(self.max_attempts),
        })
    }
}

impl SpoolConfig {
    fn validate(&self, section: &str, subdir: &str) -> Result<Option<SpoolSettings>, ConfigError> {
        if !self.enabled {
            return Ok(None);
        }
        if self.directory.as_os_str().is_empty() {
            return Err(ConfigError::new(
                format!("{section}.spool.directory"),
                "must be set when the spool is enabled",
            ));
        }
        if self.segment_bytes < 4096 {
            return Err(ConfigError::new(
                format!("{section}.spool.segment_bytes"),
                "must be at least 4096",
            ));
        }
        if self.max_bytes < self.segment_bytes.saturating_mul(2) {
            return Err(ConfigError::new(
                format!("{section}.spool.max_bytes"),
                "must be at least twice spool.segment_bytes",
            ));
        }
        Ok(Some(SpoolSettings {
            directory: self.directory.join(subdir),
            max_bytes: self.max_bytes,
            segment_bytes: self.segment_bytes,
        }))
    }
}

impl DedupConfig {
    fn validate(&self, section: &str) -> Result<Option<Duration>, ConfigError> {
        if !self.enabled {
            return Ok(None);
        }
        if self.window_ms == 0 {
            return Err(ConfigError::new(
                format!("{section}.dedup.window_ms"),
                "must be at least 1 when dedup is enabled",
            ));
        }
        Ok(Some(Duration::from_millis(self.window_ms)))
    }
}

fn queue_capacity(section: &str, n: usize) -> Result<usize, ConfigError> {
    if n == 0 {
        return Err(ConfigError::new(
            format!("{section}.queue_capacity"),
            "must be at least 1",
        ));
    }
    Ok(n)
}

fn non_empty_path(p: &std::path::Path) -> Option<PathBuf> {
    (!p.as_os_str().is_empty()).then(|| p.to_path_buf())
}

/// Every error of one validation, not only the first.
#[derive(Debug, Default)]
struct Errors(Vec<ConfigError>);

impl Errors {
    /// The value, or `None` with its error kept.
    fn take<T>(&mut self, r: Result<T, ConfigError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    fn push(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.0.push(ConfigError::new(key, reason));
    }
}

/// The settings every output shares, each key checked (every error kept).
struct DeliveryKeys<'a> {
    section: &'a str,
    filter: &'a FilterConfig,
    queue_capacity: usize,
    retry: Option<&'a RetryConfig>,
    dedup: &'a DedupConfig,
    /// The spool and the output's subdirectory in it.
    spool: Option<(&'a SpoolConfig, &'a str)>,
}

impl DeliveryKeys<'_> {
    fn validate(&self, errs: &mut Errors) -> Option<DeliverySettings> {
        let s = self.section;
        let filter = errs.take(self.filter.validate(s));
        let queue_capacity = errs.take(queue_capacity(s, self.queue_capacity));
        let retry = match self.retry {
            Some(r) => errs.take(r.validate(s)),
            None => Some(RetryPolicy::default()),
        };
        let dedup_window = errs.take(self.dedup.validate(s));
        let spool = match self.spool {
            Some((spool, subdir)) => errs.take(spool.validate(s, subdir)),
            None => Some(None),
        };
        Some(DeliverySettings {
            filter: filter?,
            queue_capacity: queue_capacity?,
            retry: retry?,
            dedup_window: dedup_window?,
            spool: spool?,
        })
    }
}

impl OutputsConfig {
    /// Checks every key and compiles filters; reads no file but
    /// `http_output.headers_file` (certificates and spools are opened by
    /// `Outputs::start`, and checked beforehand by [`super::check_files`]).
    /// The first error; [`Self::validate_all`] gives them all.
    pub fn validate(&self) -> Result<OutputSettings, ConfigError> {
        self.validate_all().map_err(|mut errs| errs.swap_remove(0))
    }

    /// Checks every key; on failure, every error (at least one).
    pub fn validate_all(&self) -> Result<OutputSettings, Vec<ConfigError>> {
        let mut errs = Errors::default();
        let format = Format {
            json: self.json_output,
            include_output: self.json_include_output_property,
            include_tags: self.json_include_tags_property,
        };
        let min_priority = errs.take(parse_priority("priority", &self.priority));

        let stdout = if self.stdout_output.enabled {
            let c = &self.stdout_output;
            DeliveryKeys {
                section: "stdout_output",
                filter: &c.filter,
                queue_capacity: c.queue_capacity,
                retry: None,
                dedup: &c.dedup,
                spool: None,
            }
            .validate(&mut errs)
            .map(|delivery| StdoutSettings { delivery })
        } else {
            None
        };

        let file = if self.file_output.enabled {
            let c = &self.file_output;
            if c.filename.as_os_str().is_empty() {
                errs.push("file_output.filename", "must be set");
            }
            let rotate = if c.rotate.max_bytes > 0 {
                if c.rotate.keep == 0 {
                    errs.push(
                        "file_output.rotate.keep",
                        "must be at least 1 when rotate.max_bytes is set",
                    );
                }
                Some((c.rotate.max_bytes, c.rotate.keep))
            } else {
                None
            };
            DeliveryKeys {
                section: "file_output",
                filter: &c.filter,
                queue_capacity: c.queue_capacity,
                retry: Some(&c.retry),
                dedup: &c.dedup,
                spool: None,
            }
            .validate(&mut errs)
            .map(|delivery| FileSettings {
                filename: c.filename.clone(),
                keep_alive: c.keep_alive,
                rotate,
                delivery,
            })
        } else {
            None
        };

        let http = if self.http_output.enabled {
            self.http_output.validate(&mut errs)
        } else {
            None
        };

        let program = if self.program_output.enabled {
            let c = &self.program_output;
            if c.program.trim().is_empty() {
                errs.push("program_output.program", "must be set");
            }
            if c.timeout_ms == 0 {
                errs.push("program_output.timeout_ms", "must be at least 1");
            }
            DeliveryKeys {
                section: "program_output",
                filter: &c.filter,
                queue_capacity: c.queue_capacity,
                retry: Some(&c.retry),
                dedup: &c.dedup,
                spool: Some((&c.spool, "program")),
            }
            .validate(&mut errs)
            .map(|delivery| ProgramSettings {
                program: c.program.clone(),
                keep_alive: c.keep_alive,
                timeout: Duration::from_millis(c.timeout_ms),
                delivery,
            })
        } else {
            None
        };

        match min_priority {
            Some(min_priority) if errs.0.is_empty() => Ok(OutputSettings {
                format,
                min_priority,
                stdout,
                file,
                http,
                program,
            }),
            _ => Err(errs.0),
        }
    }
}

/// Headers from `http_output.headers_file`: a directory of one file per
/// header (a mounted Kubernetes Secret: `..data` and other dot entries are
/// skipped, symlinks followed), or a file of `Name: value` lines (`#`
/// comments and blank lines skipped). Values are trimmed of surrounding
/// whitespace (a Secret created from a file often ends with a newline).
fn read_headers_file(path: &std::path::Path) -> Result<Vec<(String, String)>, ConfigError> {
    let key = "http_output.headers_file";
    let io = |p: &std::path::Path, e: std::io::Error| {
        ConfigError::new(key, format!("{}: {e}", p.display()))
    };
    let meta = std::fs::metadata(path).map_err(|e| io(path, e))?;
    let mut out = Vec::new();
    if meta.is_dir() {
        let mut entries: Vec<std::path::PathBuf> = std::fs::read_dir(path)
            .map_err(|e| io(path, e))?
            .filter_map(Result::ok)
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        for p in entries {
            let value = std::fs::read_to_string(&p).map_err(|e| io(&p, e))?;
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push((name, value.trim().to_string()));
        }
    } else {
        let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(ConfigError::new(
                    key,
                    format!("{}:{}: expected `Name: value`", path.display(), i + 1),
                ));
            };
            out.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    Ok(out)
}

impl HttpOutputConfig {
    /// The settings, or `None` with every error of the section in `errs`.
    fn validate(&self, errs: &mut Errors) -> Option<HttpSettings> {
        let before = errs.0.len();
        // Falco strips quotes around the URL (outputs_http.cpp); do the same.
        let raw = self.url.trim().trim_matches('"');
        let url = if raw.is_empty() {
            errs.push("http_output.url", "must be set");
            None
        } else {
            match raw.parse::<Uri>() {
                Err(e) => {
                    errs.push("http_output.url", format!("{raw:?}: {e}"));
                    None
                }
                Ok(url) => {
                    if !matches!(url.scheme_str(), Some("http") | Some("https")) {
                        errs.push(
                            "http_output.url",
                            format!("{raw:?}: scheme must be http or https"),
                        );
                    } else if url.host().is_none() {
                        errs.push("http_output.url", format!("{raw:?}: no host"));
                    }
                    Some(url)
                }
            }
        };
        if self.mtls {
            if self.client_cert.as_os_str().is_empty() {
                errs.push("http_output.client_cert", "must be set when mtls is true");
            }
            if self.client_key.as_os_str().is_empty() {
                errs.push("http_output.client_key", "must be set when mtls is true");
            }
        }
        if let Err(e) = hyper::header::HeaderValue::from_str(&self.user_agent) {
            errs.push("http_output.user_agent", e.to_string());
        }
        let mut all: Vec<(String, String, String)> = self
            .headers
            .iter()
            .map(|(k, v)| (format!("http_output.headers.{k}"), k.clone(), v.clone()))
            .collect();
        if !self.headers_file.as_os_str().is_empty()
            && let Some(from_file) = errs.take(read_headers_file(&self.headers_file))
        {
            for (name, value) in from_file {
                if self.headers.keys().any(|k| k.eq_ignore_ascii_case(&name)) {
                    errs.push(
                        "http_output.headers_file",
                        format!(
                            "{}: header {name:?} is also in http_output.headers; give it once",
                            self.headers_file.display()
                        ),
                    );
                    continue;
                }
                let key = format!("http_output.headers_file ({})", self.headers_file.display());
                all.push((key, name, value));
            }
        }
        let mut headers = Vec::with_capacity(all.len());
        for (key, k, v) in &all {
            let name = match hyper::header::HeaderName::from_bytes(k.as_bytes()) {
                Ok(n) => n,
                Err(e) => {
                    errs.push(key.as_str(), format!("{k:?}: {e}"));
                    continue;
                }
            };
            // The value is not repeated in the error: it may be a secret.
            let Ok(mut value) = hyper::header::HeaderValue::from_str(v) else {
                errs.push(
                    key.as_str(),
                    format!("the value of {k:?} is not a valid header value"),
                );
                continue;
            };
            value.set_sensitive(true);
            headers.push((name, value));
        }
        if self.connect_timeout_ms == 0 {
            errs.push("http_output.connect_timeout_ms", "must be at least 1");
        }
        if self.timeout_ms == 0 {
            errs.push("http_output.timeout_ms", "must be at least 1");
        }
        let delivery = DeliveryKeys {
            section: "http_output",
            filter: &self.filter,
            queue_capacity: self.queue_capacity,
            retry: Some(&self.retry),
            dedup: &self.dedup,
            spool: Some((&self.spool, "http")),
        }
        .validate(errs);
        if errs.0.len() > before {
            return None;
        }
        Some(HttpSettings {
            url: url?,
            user_agent: self.user_agent.clone(),
            insecure: self.insecure,
            ca_cert: non_empty_path(&self.ca_cert),
            ca_bundle: non_empty_path(&self.ca_bundle),
            ca_path: non_empty_path(&self.ca_path),
            client_auth: self
                .mtls
                .then(|| (self.client_cert.clone(), self.client_key.clone())),
            echo: self.echo,
            gzip: self.compress_uploads,
            tcp_keepalive: self.keep_alive,
            headers,
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            timeout: Duration::from_millis(self.timeout_ms),
            delivery: delivery?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::alert::FieldOutput;

    fn parse(yaml: &str) -> Result<OutputsConfig, serde_yaml::Error> {
        serde_yaml::from_str(yaml)
    }

    fn alert(rule: &str, priority: Priority, tags: &[&str]) -> Alert {
        Alert {
            time_ns: 1,
            rule: Arc::from(rule),
            priority,
            source: Arc::from("syscall"),
            tags: tags.iter().map(|t| Arc::from(*t)).collect(),
            hostname: Arc::from("h"),
            output: "x".into(),
            output_fields: vec![(Arc::from("proc.name"), FieldOutput::Str("sh".into()))],
        }
    }

    #[test]
    fn defaults_are_falcos() {
        let c = parse("{}").unwrap();
        assert_eq!(c, OutputsConfig::default());
        assert!(c.stdout_output.enabled);
        assert!(!c.file_output.enabled);
        assert_eq!(c.file_output.filename, PathBuf::from("./events.txt"));
        assert_eq!(c.http_output.user_agent, "falcosecurity/falco");
        assert!(!c.http_output.insecure);
        assert!(c.json_include_output_property && c.json_include_tags_property);
        let s = c.validate().unwrap();
        assert_eq!(s.min_priority, Priority::Debug);
        assert!(s.stdout.is_some() && s.http.is_none() && s.file.is_none());
    }

    #[test]
    fn falco_yaml_output_section_is_accepted() {
        let c = parse(
            r#"
json_output: true
priority: info
file_output: {enabled: true, keep_alive: false, filename: ./events.txt}
http_output:
  enabled: true
  url: "http://falcosidekick:2801/"
  user_agent: "falcosecurity/falco"
  insecure: false
  ca_cert: ""
  ca_bundle: ""
  ca_path: "/etc/falco/certs/"
  mtls: false
  client_cert: "/etc/falco/certs/client/client.crt"
  client_key: "/etc/falco/certs/client/client.key"
  echo: false
  compress_uploads: false
  keep_alive: false
  max_consecutive_timeouts: 5
program_output: {enabled: true, keep_alive: true, program: "cat > /dev/null"}
"#,
        )
        .unwrap();
        let s = c.validate().unwrap();
        assert_eq!(s.min_priority, Priority::Informational);
        assert!(s.format.json);
        let http = s.http.unwrap();
        assert_eq!(http.url.port_u16(), Some(2801));
        assert!(http.client_auth.is_none());
        assert!(s.program.unwrap().keep_alive);
    }

    #[test]
    fn headers_come_from_a_mounted_secret_or_a_file_and_never_leak_in_errors() {
        // A Secret volume: key files are symlinks into a `..data` directory.
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("..2026_11_30");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("Authorization"), "Bearer s3cr3t\n").unwrap();
        std::fs::write(data.join("X-Tenant"), "blue").unwrap();
        std::os::unix::fs::symlink(&data, dir.path().join("..data")).unwrap();
        for k in ["Authorization", "X-Tenant"] {
            std::os::unix::fs::symlink(format!("..data/{k}"), dir.path().join(k)).unwrap();
        }
        let yaml = |extra: &str| {
            format!(
                "http_output: {{enabled: true, url: 'http://x/', headers_file: '{}'{extra}}}",
                dir.path().display()
            )
        };
        let h = parse(&yaml("")).unwrap().validate().unwrap().http.unwrap();
        let got: Vec<(String, String)> = h
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("authorization".to_string(), "Bearer s3cr3t".to_string()),
                ("x-tenant".to_string(), "blue".to_string())
            ]
        );
        assert!(h.headers.iter().all(|(_, v)| v.is_sensitive()));
        let e = parse(&yaml(", headers: {authorization: x}"))
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(e.key, "http_output.headers_file");
        // A file of `Name: value` lines; a bad line names its line number.
        let file = dir.path().join("..headers.txt");
        std::fs::write(
            &file,
            "# sidekick token\nAuthorization: Bearer t\nno colon here\n",
        )
        .unwrap();
        let y = format!(
            "http_output: {{enabled: true, url: 'http://x/', headers_file: '{}'}}",
            file.display()
        );
        let e = parse(&y).unwrap().validate().unwrap_err();
        assert_eq!(e.key, "http_output.headers_file");
        assert!(
            e.reason.ends_with(":3: expected `Name: value`"),
            "{}",
            e.reason
        );
        std::fs::write(&file, "Authorization: Bearer t\u{7}x\n").unwrap();
        let e = parse(&y).unwrap().validate().unwrap_err();
        assert!(
            !e.reason.contains("Bearer"),
            "secrets stay out of errors: {}",
            e.reason
        );
        let e =
            parse("http_output: {enabled: true, url: 'http://x/', headers_file: /nonexistent/h}")
                .unwrap()
                .validate()
                .unwrap_err();
        assert_eq!(e.key, "http_output.headers_file");
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let e = parse("http_output: {enabled: true, urll: x}").unwrap_err();
        assert!(e.to_string().contains("urll"), "{e}");
        let e = parse("http_output: {spool: {dir: /x}}").unwrap_err();
        assert!(e.to_string().contains("dir"), "{e}");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let err = |y: &str| parse(y).unwrap().validate().unwrap_err().key;
        assert_eq!(err("priority: severe"), "priority");
        assert_eq!(err("http_output: {enabled: true}"), "http_output.url");
        assert_eq!(
            err("http_output: {enabled: true, url: 'ftp://x/'}"),
            "http_output.url"
        );
        assert_eq!(
            err("http_output: {enabled: true, url: 'http://x/', headers: {'bad header': v}}"),
            "http_output.headers.bad header"
        );
        assert_eq!(
            err("stdout_output: {filter: {min_priority: loud}}"),
            "stdout_output.filter.min_priority"
        );
        assert_eq!(
            err("stdout_output: {filter: {rules_include: ['a[']}}"),
            "stdout_output.filter.rules_include"
        );
        assert_eq!(
            err("file_output: {enabled: true, rotate: {max_bytes: 10, keep: 0}}"),
            "file_output.rotate.keep"
        );
        assert_eq!(
            err("program_output: {enabled: true}"),
            "program_output.program"
        );
        assert_eq!(
            err(
                "http_output: {enabled: true, url: 'http://x/', spool: {enabled: true, max_bytes: 4096}}"
            ),
            "http_output.spool.max_bytes"
        );
        assert_eq!(
            err(
                "http_output: {enabled: true, url: 'http://x/', retry: {initial_backoff_ms: 10, max_backoff_ms: 5}}"
            ),
            "http_output.retry.max_backoff_ms"
        );
        assert_eq!(
            err("stdout_output: {queue_capacity: 0}"),
            "stdout_output.queue_capacity"
        );
    }

    #[test]
    fn filter_selects_by_priority_rule_and_tag() {
        let c = parse(
            r#"
stdout_output:
  filter:
    min_priority: warning
    rules_include: ["Read sensitive*", "Shell in container"]
    rules_exclude: ["Read sensitive file trusted"]
    tags_exclude: [noisy]
"#,
        )
        .unwrap();
        let f = c.validate().unwrap().stdout.unwrap().delivery.filter;
        assert!(f.accepts(&alert(
            "Read sensitive file untrusted",
            Priority::Warning,
            &[]
        )));
        assert!(f.accepts(&alert("Shell in container", Priority::Critical, &["mitre"])));
        assert!(!f.accepts(&alert("Shell in container", Priority::Notice, &[])));
        assert!(!f.accepts(&alert("Read sensitive file trusted", Priority::Error, &[])));
        assert!(!f.accepts(&alert("Other", Priority::Error, &[])));
        assert!(!f.accepts(&alert("Shell in container", Priority::Error, &["noisy"])));

        let c = parse("stdout_output: {filter: {tags_include: [container, T1059]}}").unwrap();
        let f = c.validate().unwrap().stdout.unwrap().delivery.filter;
        assert!(f.accepts(&alert("r", Priority::Debug, &["T1059"])));
        assert!(!f.accepts(&alert("r", Priority::Debug, &["host"])));
        assert!(!f.accepts(&alert("r", Priority::Debug, &[])));
    }

    #[test]
    fn spool_directory_is_per_output() {
        let c = parse(
            "http_output: {enabled: true, url: 'https://h/', spool: {enabled: true, directory: /s}}",
        )
        .unwrap();
        let http = c.validate().unwrap().http.unwrap();
        assert_eq!(
            http.delivery.spool.unwrap().directory,
            PathBuf::from("/s/http")
        );
    }

    #[test]
    fn text_and_json_rendering() {
        let a = alert("r", Priority::Error, &["t"]);
        let text = Format {
            json: false,
            include_output: true,
            include_tags: true,
        };
        assert_eq!(text.render(&a), b"x");
        let json = Format { json: true, ..text };
        let v: serde_json::Value = serde_json::from_slice(&json.render(&a)).unwrap();
        assert_eq!(v["rule"], "r");
        assert_eq!(json.content_type(), "application/json");
    }
}
