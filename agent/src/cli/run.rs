//! `saker run`: live detection (or `--replay FILE`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use saker::alert::Alert;
use saker::config::{Config, ConfigIssue};
use saker::drops::DropMonitor;
use saker::engine::{self, Engine};
use saker::exceptions::{Clock, OffsetClock, SystemClock};
use saker::metrics::{BpfStatsSampler, Metrics, OverheadMeter, SelfUsage, Snapshot};
use saker::observe::ObserveLog;
use saker::output::Outputs;
use saker::preflight::LoadedRules;
use saker::probe::privileges;
use saker::probe::{Probe, ProbeOptions, RingReader};
use saker::recording::{FRAME_PROCESS, Frame, RecordingMeta, RecordingReader, RecordingWriter};
use saker::reload;
use saker::rules::RuleSet;
use saker::runtime::{Answer, RuntimeService};
use saker::state::State;
use saker::state::container::{ContainerTable, LookupResult};
use saker::state::hostnames::{self, HostNames, SystemResolver};
use saker::state::process::Process;
use saker::state::users::UserDb;
use tokio::signal::unix::{SignalKind, signal};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    files: super::ConfigArgs,
    /// Print alerts as Falco JSON (same as `-o json_output=true`).
    #[arg(long)]
    json: bool,
    /// Evaluate a recording made by `saker capture --write` or `saker run --write`
    /// instead of the live kernel (no root needed).
    #[arg(long, value_name = "FILE")]
    replay: Option<PathBuf>,
    /// Record the processed event stream (and the initial process table) to FILE.
    #[arg(long, value_name = "FILE")]
    write: Option<PathBuf>,
    /// Seconds added to the wall clock when judging exceptions' expiry
    /// (tests move the agent's time without waiting).
    #[arg(long, hide = true, value_name = "SECONDS", allow_hyphen_values = true)]
    clock_offset: Option<i64>,
}

impl RunArgs {
    /// The clock exceptions expire by.
    fn clock(&self) -> Arc<dyn Clock> {
        match self.clock_offset {
            Some(s) => Arc::new(OffsetClock(time::Duration::seconds(s))),
            None => Arc::new(SystemClock),
        }
    }
}

/// Totals printed on exit.
#[derive(Debug, Default, serde::Serialize)]
struct Totals {
    events: u64,
    alerts: u64,
    decode_errors: u64,
    kernel_emitted: u64,
    kernel_dropped: u64,
    kernel_read_failures: u64,
}

/// The configuration and rules through the one validation path that
/// `saker config validate` and `saker rules validate` share: every error is
/// printed (exit status 2) before anything starts; warnings are logged.
fn checked_config(args: &RunArgs) -> Result<(Config, LoadedRules), ExitCode> {
    let mut overrides = args.files.options.clone();
    if args.json {
        overrides.push("json_output=true".into());
    }
    let mut inputs = args.files.inputs(&overrides);
    inputs.now = Some(args.clock().now());
    let report = saker::preflight::check(&inputs);
    if let Some(r) = &report.rules {
        for d in r.diagnostics.iter().filter(|d| !d.is_error()) {
            log::warn!("{d}");
        }
    }
    for w in &report.warnings {
        log::warn!("{w}");
    }
    let errors = report.error_count();
    for e in &report.errors {
        eprintln!("{}", e.render("error"));
    }
    if let Some(r) = &report.rules {
        for d in r.diagnostics.iter().filter(|d| d.is_error()) {
            eprintln!("{d}");
        }
    }
    match report.into_valid() {
        Some(valid) => Ok(valid),
        None => {
            eprintln!(
                "saker: {errors} error(s) in the configuration or rules; nothing started (`saker config validate` checks the same)"
            );
            Err(super::exit_invalid())
        }
    }
}

/// What `saker run` was started with, to load the configuration and rules
/// again on a reload exactly as at start (same file, `-o`, `-r`).
#[derive(Debug, Clone)]
struct ReloadInputs {
    config: Option<PathBuf>,
    overrides: Vec<String>,
    rules: Vec<PathBuf>,
    exceptions: Vec<PathBuf>,
    clock: Arc<dyn Clock>,
}

impl ReloadInputs {
    fn new(args: &RunArgs) -> Self {
        let mut overrides = args.files.options.clone();
        if args.json {
            overrides.push("json_output=true".into());
        }
        ReloadInputs {
            config: args.files.config.clone(),
            overrides,
            rules: args.files.rules.clone(),
            exceptions: args.files.exceptions.clone(),
            clock: args.clock(),
        }
    }

    /// Loads and checks everything again (blocking: call off the hot path).
    /// Errors: every configuration and rules error, one per line.
    fn load(&self) -> std::result::Result<(Config, LoadedRules), String> {
        let report = saker::preflight::check(&saker::preflight::Inputs {
            config: self.config.as_deref(),
            overrides: &self.overrides,
            rules: &self.rules,
            exceptions: &self.exceptions,
            now: Some(self.clock.now()),
        });
        let mut errors: Vec<String> = report.errors.iter().map(|e| e.render("error")).collect();
        if let Some(r) = &report.rules {
            errors.extend(
                r.diagnostics
                    .iter()
                    .filter(|d| d.is_error())
                    .map(|d| d.to_string()),
            );
            for d in r.diagnostics.iter().filter(|d| !d.is_error()) {
                log::warn!("reload: {d}");
            }
        }
        match report.into_valid() {
            Some(valid) if errors.is_empty() => Ok(valid),
            _ if errors.is_empty() => Err("the configuration or rules are invalid".into()),
            _ => Err(errors.join("\n")),
        }
    }
}

/// The kernel interest set for a configuration and ruleset.
fn interest_of(cfg: &Config, rules: &RuleSet) -> saker::probe::InterestSet {
    let interest = engine::interest_for(rules, &cfg.base_syscalls);
    if cfg.base_syscalls_all {
        let mut all = saker::probe::InterestSet::all_decoded();
        all.union(&interest);
        all
    } else {
        interest
    }
}

/// While kernel drops go on, the state is read again from /proc this often.
const RESCAN_DURING_DROPS: Duration = Duration::from_secs(10);

/// Reads again from /proc what kernel drops hid, and says what it found.
fn rescan_after_drops(state: &mut saker::state::State) {
    let r = state.rescan();
    log::info!(
        "after kernel drops: from /proc, {} processes added, {} whose exec was lost read again, {} fds added or corrected",
        r.added,
        r.refreshed,
        r.fds
    );
}

/// The rule-derived open filter the probe applies (`saker.kernel_filter`),
/// off when a recording is written (it keeps every event for later rules)
/// or `base_syscalls.all` asks for everything. `None`: nothing filtered.
fn open_filter_of(
    cfg: &Config,
    rules: &RuleSet,
    writing: bool,
) -> saker::rules::pushdown::OpenFilter {
    if !cfg.kernel_filter || writing || cfg.base_syscalls_all {
        return saker::rules::pushdown::OpenFilter::default();
    }
    saker::rules::pushdown::open_filter(rules)
}

/// Loads `filter` into the probe and says what it does. Returns how many
/// path patterns the probe filters with (0: opens are not filtered).
fn apply_open_filter(
    probe: &mut Probe,
    filter: &saker::rules::pushdown::OpenFilter,
) -> Result<u64, saker::probe::ProbeError> {
    if let Err(e) = probe.set_open_filter(filter.patterns.as_deref()) {
        // More patterns than the tries hold, or a refused write: every open
        // is emitted, which loses nothing.
        log::warn!("kernel filter: {e}; opens are not filtered");
        return probe.set_open_filter(None).map(|()| 0);
    }
    match &filter.patterns {
        Some(p) => log::info!(
            "kernel filter: opens of paths no enabled rule can match are left out in the kernel ({} path patterns; saker.kernel_filter=false turns it off)",
            p.len()
        ),
        None if !filter.unreduced.is_empty() => log::info!(
            "kernel filter: opens are not filtered: {} enabled rules need opens of any path ({}{})",
            filter.unreduced.len(),
            filter
                .unreduced
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            if filter.unreduced.len() > 3 {
                ", ..."
            } else {
                ""
            }
        ),
        None => {}
    }
    Ok(filter.patterns.as_ref().map_or(0, |p| p.len() as u64))
}

/// The kernel filter's metrics for `rules` with `patterns` loaded.
fn kernel_filter_info(rules: &RuleSet, patterns: u64) -> saker::metrics::KernelFilterInfo {
    saker::metrics::KernelFilterInfo {
        rule_opens: Arc::new(
            rules
                .rules()
                .iter()
                .filter(|r| r.enabled)
                .map(|r| {
                    (
                        r.name.to_string(),
                        saker::rules::pushdown::rule_opens(r).as_str(),
                    )
                })
                .collect(),
        ),
        patterns,
    }
}

/// Configuration keys whose new value a reload cannot apply (they take
/// effect at the next start), compared by value.
fn restart_keys(running: &Config, new: &Config) -> Vec<&'static str> {
    let pairs: [(&'static str, String, String); 13] = [
        (
            "stdout_output",
            format!("{:?}", running.outputs.stdout),
            format!("{:?}", new.outputs.stdout),
        ),
        (
            "file_output",
            format!("{:?}", running.outputs.file),
            format!("{:?}", new.outputs.file),
        ),
        (
            "http_output",
            format!("{:?}", running.outputs.http),
            format!("{:?}", new.outputs.http),
        ),
        (
            "program_output",
            format!("{:?}", running.outputs.program),
            format!("{:?}", new.outputs.program),
        ),
        (
            "json_output",
            format!("{:?}", running.outputs.format),
            format!("{:?}", new.outputs.format),
        ),
        (
            "webserver",
            format!("{:?}", running.webserver),
            format!("{:?}", new.webserver),
        ),
        (
            "syscall_event_drops",
            format!("{:?}", running.drops),
            format!("{:?}", new.drops),
        ),
        (
            "engine",
            format!(
                "{:?}",
                (
                    running.ring_bytes,
                    running.drain_interval,
                    running.timestamp_every
                )
            ),
            format!(
                "{:?}",
                (new.ring_bytes, new.drain_interval, new.timestamp_every)
            ),
        ),
        (
            "metrics",
            format!(
                "{:?}",
                (
                    running.metrics_enabled,
                    running.metrics_interval,
                    running.bpf_stats,
                    running.bpf_stats_every
                )
            ),
            format!(
                "{:?}",
                (
                    new.metrics_enabled,
                    new.metrics_interval,
                    new.bpf_stats,
                    new.bpf_stats_every
                )
            ),
        ),
        (
            "container_engines",
            format!("{:?}", running.runtime),
            format!("{:?}", new.runtime),
        ),
        (
            "saker.containers",
            format!("{:?}", (&running.containers, &running.hold)),
            format!("{:?}", (&new.containers, &new.hold)),
        ),
        (
            "saker.hostnames",
            format!("{:?}", running.hostnames),
            format!("{:?}", new.hostnames),
        ),
        (
            "saker (host_root, hostname, shutdown, overhead budget, lock_file, state)",
            format!(
                "{:?}",
                (
                    &running.host_root,
                    &running.hostname,
                    running.shutdown_timeout,
                    running.overhead_budget,
                    &running.lock_file,
                    &running.state_limits
                )
            ),
            format!(
                "{:?}",
                (
                    &new.host_root,
                    &new.hostname,
                    new.shutdown_timeout,
                    new.overhead_budget,
                    &new.lock_file,
                    &new.state_limits
                )
            ),
        ),
    ];
    pairs
        .into_iter()
        .filter(|(_, a, b)| a != b)
        .map(|(k, _, _)| k)
        .collect()
}

/// The alert Falco sends when a hot restart fails ("Falco internal: hot
/// restart failure", CRITICAL, create_signal_handlers.cpp), for a reload.
fn reload_failure_alert(hostname: &Arc<str>, errors: &str) -> Alert {
    const RULE: &str = "Saker internal: hot reload failure";
    let now = engine::wall_now_ns();
    let one_line = saker::rules::format::escape_controls(errors.to_string());
    Alert {
        time_ns: now,
        rule: Arc::from(RULE),
        priority: saker::alert::Priority::Critical,
        source: Arc::from("internal"),
        tags: Arc::from(Vec::<Arc<str>>::new()),
        hostname: hostname.clone(),
        output: format!(
            "{}: Critical {RULE}: the previous rules keep running: {one_line}",
            saker::alert::format_clock_nanos(now)
        ),
        output_fields: vec![(
            Arc::from("errors"),
            saker::alert::FieldOutput::Str(errors.to_string()),
        )],
    }
}

/// Where the alerts go, for the start banner.
fn outputs_text(cfg: &Config) -> String {
    let o = &cfg.outputs;
    let mut list = Vec::new();
    if o.stdout.is_some() {
        list.push("stdout".to_string());
    }
    if let Some(f) = &o.file {
        list.push(f.filename.display().to_string());
    }
    if let Some(h) = &o.http {
        list.push(h.url.to_string());
    }
    if o.program.is_some() {
        list.push("program_output".to_string());
    }
    if list.is_empty() {
        return "no output".into();
    }
    format!(
        "alerts ({}) to {}",
        if o.format.json { "JSON" } else { "text" },
        list.join(", ")
    )
}

fn recording_meta(cfg: &Config, event_types: Vec<String>) -> RecordingMeta {
    RecordingMeta {
        hostname: cfg.hostname.clone(),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        saker_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at_ns: engine::wall_now_ns(),
        boot_to_wall_offset_ns: saker::probe::boot_to_wall_offset_ns(),
        event_types,
    }
}

/// Writes the seeded process table, so that a replay starts from it.
pub fn write_seed(rec: &mut RecordingWriter, state: &State) -> Result<()> {
    let mut procs: Vec<&Process> = state.procs.iter().collect();
    procs.sort_by_key(|p| p.tgid);
    for p in procs {
        rec.write_json(FRAME_PROCESS, p)?;
    }
    Ok(())
}

/// The live hot path's state: the engine plus where its results go.
struct Pipeline {
    engine: Engine,
    recording: Option<RecordingWriter>,
    outputs: Arc<Outputs>,
    write_error: Option<anyhow::Error>,
    /// Container metadata lookups (None: no runtime configured).
    runtime: Option<RuntimeService>,
}

impl Pipeline {
    /// Hands the containers the hot path discovered to the runtime clients.
    fn send_lookups(&mut self) {
        let Some(rt) = &self.runtime else { return };
        for req in self.engine.state.containers.take_requests() {
            if !rt.request(req.clone()) {
                let outputs = &self.outputs;
                self.engine.container_answer(
                    &req.id,
                    LookupResult::Failed("lookup queue full".into()),
                    &mut |a: Alert| outputs.send(a),
                );
            }
        }
    }

    /// A runtime's answer: the container's metadata, and its held alerts out.
    fn on_answer(&mut self, a: Answer) {
        let outputs = &self.outputs;
        let mut send = |al: Alert| outputs.send(al);
        match (a.prefill, a.result) {
            (Some((cgroup_id, kind)), LookupResult::Found(info)) => {
                self.engine
                    .container_prefill(&cgroup_id, kind, *info, &mut send);
            }
            (_, result) => self.engine.container_answer(&a.id, result, &mut send),
        }
    }

    /// Sends the alerts that waited long enough (all of them with `all`).
    fn release_held(&mut self, all: bool) {
        let outputs = &self.outputs;
        self.engine
            .release_held(all, &mut |a: Alert| outputs.send(a));
    }

    fn on_record(&mut self, raw: &[u8]) {
        let outputs = &self.outputs;
        let mut send = |a: Alert| outputs.send(a);
        match self.engine.process_record(raw, &mut send) {
            Ok(()) => {
                if let Some(rec) = &mut self.recording
                    && let Err(e) = rec.write_event(raw)
                {
                    self.write_error.get_or_insert(e.into());
                }
            }
            Err(e) => {
                if self.engine.stats.decode_errors <= 10 {
                    log::warn!("malformed kernel record ({} bytes): {e}", raw.len());
                }
            }
        }
    }
}

/// SIGINT and SIGTERM, installed before anything slow so that a stop
/// request during startup still ends in a clean shutdown.
/// SIGHUP (reload) is installed with them: its default action would end
/// the agent.
struct StopSignals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    /// Taken by the live loop (SIGHUP stays handled, and ignored, before).
    hup: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn install() -> Result<Self> {
        Ok(StopSignals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: Some(signal(SignalKind::hangup())?),
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}

pub async fn run(args: RunArgs) -> Result<ExitCode> {
    let signals = StopSignals::install()?;
    let (cfg, rules) = match checked_config(&args) {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let summary = format!(
        "{} rules enabled from {}",
        rules.enabled(),
        if rules.files.is_empty() {
            "no rules files".to_string()
        } else {
            rules.files.join(", ")
        }
    );
    // With none enabled, the warning of the check said so.
    if rules.enabled() > 0 {
        log::info!(
            "{} rules enabled of {} loaded",
            rules.enabled(),
            rules.loaded()
        );
    }
    let rules_warnings = rules.warnings() as u64;
    let ruleset = rules.ruleset;
    let exceptions = rules.exceptions;
    let observe_log = match open_observe_log(&cfg) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    if let Some(path) = &args.replay {
        eprintln!(
            "saker {}: replaying {} with {summary}",
            env!("CARGO_PKG_VERSION"),
            path.display()
        );
        return replay(&cfg, ruleset, path, observe_log).await;
    }
    // Missing mandatory privileges are named before anything starts.
    let privileges = match super::require_privileges() {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    // One agent per node (saker.lock_file), checked before the web server
    // so that a second agent hears about the first, not about its port.
    let _instance = match saker::instance::InstanceLock::acquire(&cfg.lock_file) {
        Ok(l) => Some(l),
        Err(e @ saker::instance::InstanceLockError::Held { .. }) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => {
            log::warn!(
                "cannot take the one-agent-per-node lock ({e}); a second agent on this node would not be refused"
            );
            None
        }
    };
    let metrics = Metrics::new();
    for f in privileges.features(cfg.bpf_stats) {
        metrics.set_feature(f.name, f.enabled);
        if !f.enabled && !f.warning.is_empty() {
            log::warn!("{}", f.warning);
        }
    }
    let (rules_enabled, rules_disabled) = rule_counts(&ruleset);
    metrics.publish(Snapshot {
        rules_enabled,
        rules_disabled,
        rules_warnings,
        ..Snapshot::default()
    });
    metrics
        .health
        .no_rules
        .store(rules_enabled == 0 && !cfg.allow_no_rules, Ordering::Relaxed);
    metrics.health.rules_loaded.store(true, Ordering::Relaxed);
    // The web server comes up before the probe, so /healthz answers and
    // /readyz says what is still missing while the probe loads.
    if cfg.webserver.enabled {
        match saker::webserver::start(cfg.webserver.clone(), metrics.clone()).await {
            Ok(addr) => log::info!(
                "webserver listening on {addr} (/metrics, {}, /readyz)",
                cfg.webserver.healthz_path
            ),
            Err(e) => {
                let mut issue = ConfigIssue::new(e.key(), e.to_string());
                issue.hint = e.hint();
                let issue = cfg
                    .sources
                    .locate(issue.with_related("webserver.listen_address"));
                eprintln!("{}", issue.render("error"));
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    let started = Started {
        summary,
        reload: ReloadInputs::new(&args),
        exceptions,
        observe_log,
        rules_warnings,
        bpf_stats_sysctl: privileges.bpf_stats_sysctl,
        bpf_stats_allowed: privileges.has(privileges::CAP_SYS_ADMIN),
    };
    live(
        &cfg,
        ruleset,
        args.write.as_deref(),
        metrics,
        signals,
        started,
    )
    .await
}

/// What `run` found out before the probe, for `live`.
struct Started {
    /// "N rules enabled from FILES".
    summary: String,
    /// How to load the configuration and rules again.
    reload: ReloadInputs,
    /// The exceptions files, to stop applying each at its expiry.
    exceptions: Vec<saker::exceptions::Loaded>,
    observe_log: Option<Arc<ObserveLog>>,
    rules_warnings: u64,
    /// kernel.bpf_stats_enabled=1 keeps statistics on node-wide.
    bpf_stats_sysctl: bool,
    /// BPF_ENABLE_STATS may be asked for (CAP_SYS_ADMIN).
    bpf_stats_allowed: bool,
}

/// Loading the probe failed: the error once, and what to do when the
/// kernel said no although the capabilities looked sufficient.
fn probe_failed(e: saker::probe::ProbeError) -> ExitCode {
    let denied = e.permission_denied();
    let text = super::error_text(&anyhow::Error::new(e));
    eprintln!("error: loading the eBPF probe: {text}");
    if denied {
        eprintln!(
            "    hint: the kernel refused although the capabilities look sufficient: a seccomp profile, \
             an LSM policy (AppArmor, SELinux) or a container runtime may forbid bpf(); run as root to compare"
        );
    }
    ExitCode::FAILURE
}

/// Rule counts for the metrics: enabled, disabled.
fn rule_counts(rules: &RuleSet) -> (u64, u64) {
    let enabled = rules.rules().iter().filter(|r| r.enabled).count() as u64;
    (enabled, rules.rules().len() as u64 - enabled)
}

/// Hands freed heap back to the system after the tables shrank: glibc keeps
/// freed memory of a burst (200,000 short-lived processes, a million fds)
/// resident otherwise, and the agent's RSS would stay at its peak.
#[derive(Debug, Default)]
struct HeapTrim {
    /// Largest table size (threads + fds) since the last trim.
    peak: usize,
    last: Option<Instant>,
}

impl HeapTrim {
    fn after_tick(&mut self, size: usize) {
        self.peak = self.peak.max(size);
        let shrunk = size + 1024 < self.peak && size < self.peak / 4 * 3;
        if shrunk
            && self
                .last
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(5))
        {
            // SAFETY: malloc_trim only releases free memory of glibc's allocator.
            unsafe { libc::malloc_trim(0) };
            self.last = Some(Instant::now());
            self.peak = size;
        }
    }
}

/// Copies what the hot path counted into the metrics snapshot.
struct MetricsSampler {
    overhead: OverheadMeter,
    ncpus: usize,
    overhead_budget: f64,
    rules_warnings: u64,
    kernel_filter: saker::metrics::KernelFilterInfo,
    /// None when BPF statistics are off (`metrics.libbpf_stats_enabled`).
    bpf_stats: Option<BpfStatsSampler>,
    reloads_applied: u64,
    reloads_failed: u64,
    reload_ts_ns: i64,
}

impl MetricsSampler {
    fn sample(&mut self, engine: &Engine, probe: &mut Probe, reader: &RingReader) -> Snapshot {
        let kernel = probe.counters().unwrap_or_default();
        let raw = probe.program_stats();
        let programs = match &mut self.bpf_stats {
            Some(s) => {
                let on = s.update(Instant::now(), raw, probe.bpf_stats_on());
                let totals = s.totals().to_vec();
                // Only turning statistics on can fail.
                if let Err(e) = probe.set_bpf_stats(on) {
                    log::warn!("BPF statistics: {e}; BPF run time is no longer measured");
                    self.bpf_stats = None;
                }
                totals
            }
            None => raw,
        };
        let usage = SelfUsage::sample();
        let bpf_ns: u64 = programs.iter().map(|p| p.run_time_ns).sum();
        let overhead = self
            .overhead
            .update(Instant::now(), usage.cpu_seconds(), bpf_ns, self.ncpus)
            .unwrap_or_default();
        let procs = &engine.state.procs;
        let (rules_enabled, rules_disabled) = rule_counts(&engine.rules);
        Snapshot {
            engine: Some(engine.stats.clone()),
            state: engine.state.stats.clone(),
            processes: procs.len() as u64,
            threads: procs.thread_count() as u64,
            fds: procs.fd_count() as u64,
            containers: engine.state.containers.len() as u64,
            container_stats: engine.state.containers.stats.clone(),
            runtime: Vec::new(),
            runtime_queue_full: 0,
            hostnames: engine.state.hostnames.stats(),
            kernel,
            programs,
            ring_fill_ratio: reader.fill_ratio(),
            usage,
            overhead,
            overhead_budget: self.overhead_budget,
            rules_enabled,
            rules_disabled,
            rules_warnings: self.rules_warnings,
            kernel_filter: self.kernel_filter.clone(),
            reloads_applied: self.reloads_applied,
            reloads_failed: self.reloads_failed,
            reload_ts_ns: self.reload_ts_ns,
            // Filled in by the loop, which tracks them.
            exceptions_expired: Vec::new(),
            observe_log_written: 0,
            observe_log_dropped: 0,
        }
    }
}

/// The observe log (`saker.observe_log`), when configured.
fn open_observe_log(
    cfg: &Config,
) -> Result<Option<Arc<ObserveLog>>, saker::observe::ObserveLogError> {
    let Some(path) = &cfg.observe_log else {
        return Ok(None);
    };
    let log = ObserveLog::open(path)?;
    log::info!(
        "matches of rules in observe mode go to {} (default mode: {})",
        path.display(),
        cfg.rule_modes.default.as_str()
    );
    Ok(Some(Arc::new(log)))
}

/// The INFO alert of an exception that stopped applying at its expiry.
fn exception_expired_alert(hostname: &Arc<str>, e: &saker::exceptions::ExceptionEntry) -> Alert {
    use saker::alert::FieldOutput;
    const RULE: &str = "Saker internal: exception expired";
    let now = engine::wall_now_ns();
    let output = format!(
        "{}: Informational {RULE}: exception {:?} of rule {:?} expired at {} and no longer applies (category={} owner={} ticket={})",
        saker::alert::format_clock_nanos(now),
        e.name,
        e.rule,
        e.expires.as_deref().unwrap_or(""),
        e.category.map_or("", |c| c.as_str()),
        e.owner.as_deref().unwrap_or(""),
        e.ticket.as_deref().unwrap_or(""),
    );
    let s = |v: &str| FieldOutput::Str(v.to_string());
    Alert {
        time_ns: now,
        rule: Arc::from(RULE),
        priority: saker::alert::Priority::Informational,
        source: Arc::from("internal"),
        tags: Arc::from(vec![Arc::from("saker_internal")]),
        hostname: hostname.clone(),
        output,
        output_fields: vec![
            (Arc::from("exception.rule"), s(&e.rule)),
            (Arc::from("exception.name"), s(&e.name)),
            (
                Arc::from("exception.owner"),
                s(e.owner.as_deref().unwrap_or("")),
            ),
            (
                Arc::from("exception.expires"),
                s(e.expires.as_deref().unwrap_or("")),
            ),
        ],
    }
}

fn start_outputs(cfg: &Config) -> Result<Arc<Outputs>> {
    let outputs = Outputs::start(&cfg.outputs, &tokio::runtime::Handle::current())
        .context("starting outputs")?;
    Ok(Arc::new(outputs))
}

/// The host name cache (`fd.*ip.name`), with the host names the enabled
/// rules compare with resolving in the background.
fn start_hostnames(cfg: &Config, ruleset: &RuleSet) -> HostNames {
    let names = HostNames::start(cfg.hostnames.clone(), Arc::new(SystemResolver));
    let watched = hostnames::names_in_rules(ruleset);
    if !watched.is_empty() {
        log::info!(
            "resolving {} host names that rules compare fd.*ip.name with",
            watched.len()
        );
    }
    names.watch(watched);
    names
}

async fn replay(
    cfg: &Config,
    ruleset: RuleSet,
    path: &Path,
    observe_log: Option<Arc<ObserveLog>>,
) -> Result<ExitCode> {
    let mut reader = RecordingReader::open(path)?;
    let users = UserDb::load(&cfg.host_root);
    let mut state = State::detached(users);
    state.hostnames = start_hostnames(cfg, &ruleset);
    // A replay runs far faster than the events happened: resolve the rules'
    // host names before the first event, so its alerts do not depend on the
    // resolver's speed.
    state.hostnames.resolve_watched_now();
    let mut engine = Engine::new(state, ruleset, Arc::from(cfg.hostname.as_str()));
    if let Some(log) = &observe_log {
        engine.set_observe_log(log.clone());
    }
    let outputs = start_outputs(cfg)?;
    let started = Instant::now();
    let mut totals = Totals::default();
    let mut send = |a: Alert| outputs.send(a);
    while let Some((offset, frame)) = reader.next_frame()? {
        match frame {
            Frame::Process(v) => {
                let p: Process = serde_json::from_value(v)
                    .with_context(|| format!("{}: byte {offset}: process frame", path.display()))?;
                engine.state.insert_seed(p);
            }
            Frame::Event(raw) => {
                if let Err(e) = engine.process_record(&raw, &mut send) {
                    log::warn!("{}: byte {offset}: {e}", path.display());
                }
            }
            Frame::Trailer(v) => log::info!("recording trailer: {v}"),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    outputs
        .shutdown(tokio::time::Instant::now() + cfg.shutdown_timeout)
        .await;
    totals.events = engine.stats.events;
    totals.alerts = engine.stats.alerts;
    totals.decode_errors = engine.stats.decode_errors;
    eprintln!(
        "saker run --replay: {} events, {} alerts, {} malformed, {:.0} events/s",
        totals.events,
        totals.alerts,
        totals.decode_errors,
        totals.events as f64 / secs.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}

async fn live(
    cfg: &Config,
    ruleset: RuleSet,
    write: Option<&Path>,
    metrics: Arc<Metrics>,
    mut signals: StopSignals,
    started: Started,
) -> Result<ExitCode> {
    let interest = interest_of(cfg, &ruleset);
    let writing = write.is_some();
    let opts = ProbeOptions {
        ring_bytes: cfg.ring_bytes,
        // Without CAP_SYS_ADMIN the kernel refuses BPF_ENABLE_STATS (warned
        // with the privileges); the sysctl may still keep them on.
        bpf_stats: cfg.bpf_stats && started.bpf_stats_allowed,
        timestamp_every: cfg.timestamp_every,
        ..ProbeOptions::default()
    };
    let mut probe = match Probe::load(&opts) {
        Ok(p) => p,
        Err(e) => return Ok(probe_failed(e)),
    };
    probe.set_interest(&interest)?;
    let patterns = apply_open_filter(&mut probe, &open_filter_of(cfg, &ruleset, writing))?;
    let kernel_filter = kernel_filter_info(&ruleset, patterns);
    let mut reader = RingReader::new(probe.take_ring()?, cfg.drain_interval)?;
    let outputs = start_outputs(cfg)?;
    metrics.set_outputs(outputs.clone());
    saker::output::reopen_on_sigusr1(outputs.clone(), &tokio::runtime::Handle::current())
        .context("installing the SIGUSR1 handler")?;

    // Attach first, then read /proc: processes that start in between are
    // seen by both, and events wait in the ring until the seed is done.
    if let Err(e) = probe.attach() {
        return Ok(probe_failed(e));
    }
    metrics
        .health
        .attached
        .store(true, std::sync::atomic::Ordering::Relaxed);
    // Container metadata: a task asking the runtimes, fed by the hot path.
    let (answer_tx, mut answers) = tokio::sync::mpsc::unbounded_channel::<Answer>();
    let (ns_tx, mut namespaces) = tokio::sync::mpsc::unbounded_channel::<Vec<String>>();
    let runtime = cfg.runtime.any_enabled().then(|| {
        RuntimeService::start(
            cfg.runtime.clone(),
            &tokio::runtime::Handle::current(),
            answer_tx,
            ns_tx,
        )
    });
    let runtime_stats = runtime.as_ref().map(|r| r.stats.clone());
    let containers = ContainerTable::new(cfg.containers.clone(), runtime.is_some());
    let mut state = State::live(
        &cfg.host_root,
        saker::probe::boot_to_wall_offset_ns(),
        containers,
    );
    state.hostnames = start_hostnames(cfg, &ruleset);
    state.set_limits(cfg.state_limits.clone());
    log::info!(
        "watching {} event types; {} processes, {} threads, {} fds seeded from {}",
        interest.names().len(),
        state.procs.len(),
        state.procs.thread_count(),
        state.procs.fd_count(),
        cfg.host_root.join("proc").display()
    );
    let hostname: Arc<str> = Arc::from(cfg.hostname.as_str());
    let mut engine = Engine::new(state, ruleset, hostname.clone());
    if let Some(log) = &started.observe_log {
        engine.set_observe_log(log.clone());
    }
    // Loading parsed the kernel's whole BTF and the rules' YAML: hand the
    // freed heap back to the system instead of keeping it resident.
    // SAFETY: malloc_trim only releases free memory of glibc's allocator.
    unsafe { libc::malloc_trim(0) };
    engine.measure_latency();
    if runtime.is_some() {
        engine.hold_alerts(cfg.hold);
    }

    let recording = match write {
        Some(path) => {
            let names = interest.names().iter().map(|s| s.to_string()).collect();
            let mut rec = RecordingWriter::create(path, &recording_meta(cfg, names))?;
            write_seed(&mut rec, &engine.state)?;
            Some(rec)
        }
        None => None,
    };
    let mut drops = DropMonitor::new(cfg.drops.clone(), hostname);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pipe = Pipeline {
        engine,
        recording,
        outputs: outputs.clone(),
        write_error: None,
        runtime,
    };
    pipe.send_lookups();
    let mut exit_on_drops = false;
    // Since when drops have left the state out of date (None: in sync).
    let mut rescan_since: Option<Instant> = None;
    let mut trim = HeapTrim::default();
    let mut sampler = MetricsSampler {
        overhead: OverheadMeter::default(),
        // SAFETY: sysconf has no preconditions.
        ncpus: usize::try_from(unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) })
            .unwrap_or(1)
            .max(1),
        overhead_budget: cfg.overhead_budget,
        rules_warnings: started.rules_warnings,
        kernel_filter,
        // Not when the kernel refused statistics at load (warned there).
        bpf_stats: (cfg.bpf_stats && probe.bpf_stats_on())
            .then(|| BpfStatsSampler::new(cfg.bpf_stats_every)),
        reloads_applied: 0,
        reloads_failed: 0,
        reload_ts_ns: 0,
    };
    let bpf_stats_feature = |sampler: &MetricsSampler| {
        cfg.bpf_stats && (sampler.bpf_stats.is_some() || started.bpf_stats_sysctl)
    };
    metrics.set_feature(privileges::FEATURE_BPF_STATS, bpf_stats_feature(&sampler));
    metrics.health.mark_read();
    eprintln!(
        "saker {}: {}; {}; Ctrl-C to stop",
        env!("CARGO_PKG_VERSION"),
        started.summary,
        outputs_text(cfg)
    );
    // Hot reload (agent/src/reload.rs): SIGHUP, and changes of the files
    // the configuration came from (watch_config_files).
    let (trigger_tx, mut triggers) = tokio::sync::mpsc::unbounded_channel::<reload::Trigger>();
    // The files a configuration came from: its file, its rules files and
    // folders (`-r`, which replaces `rules_files`, or the configuration's),
    // the exceptions files. Rebuilt after each applied reload, so a rules
    // file the new configuration names is watched too.
    let watch_paths = |c: &Config| -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = c
            .sources
            .file()
            .map(Path::to_path_buf)
            .into_iter()
            .collect();
        if started.reload.rules.is_empty() {
            paths.extend(c.rules_paths_on_disk().map(Path::to_path_buf));
        } else {
            let embedded = Path::new(saker::rules::DEFAULT_RULES_NAME);
            paths.extend(
                started
                    .reload
                    .rules
                    .iter()
                    .filter(|p| *p != embedded)
                    .cloned(),
            );
        }
        paths.extend(started.reload.exceptions.iter().cloned());
        paths
    };
    let start_watch = |paths: &[PathBuf], announce: bool| -> Option<reload::FileWatch> {
        match reload::FileWatch::start(paths, trigger_tx.clone()) {
            Ok(w) => {
                if announce && !w.watched.is_empty() {
                    log::info!(
                        "watching {} for changes (watch_config_files); SIGHUP also reloads",
                        w.watched
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                Some(w)
            }
            Err(e) => {
                log::warn!("{e}; only SIGHUP reloads");
                None
            }
        }
    };
    let mut watched_paths = watch_paths(cfg);
    let mut watch = if cfg.watch_config_files {
        start_watch(&watched_paths, true)
    } else {
        None
    };
    let (loaded_tx, mut loaded) = tokio::sync::mpsc::unbounded_channel::<
        std::result::Result<(Config, LoadedRules), String>,
    >();
    let mut reload_due: Option<tokio::time::Instant> = None;
    let mut reloading = false;
    let mut hup = signals.hup.take().context("SIGHUP handler")?;
    // Exceptions stop applying at their expiry: checked every tick against
    // the exceptions clock, which then reloads the rules without them.
    let mut exceptions = started.exceptions.clone();
    let mut expiry_checked = started.reload.clock.now();
    let mut expired_by_category: Vec<(&'static str, u64)> = Vec::new();
    sampler.reload_ts_ns = engine::wall_now_ns();
    loop {
        let due = reload_due.filter(|_| !reloading);
        tokio::select! {
            biased;
            () = signals.recv() => break,
            _ = hup.recv() => {
                log::info!("SIGHUP: reloading the configuration and rules");
                reload_due = Some(tokio::time::Instant::now());
            }
            Some(t) = triggers.recv() => {
                if let reload::Trigger::FileChanged(p) = &t {
                    log::info!("{} changed: reloading", p.display());
                }
                // Editors and ConfigMap updates write in several steps:
                // reload once they are done.
                reload_due = Some(tokio::time::Instant::now() + reload::SETTLE);
            }
            () = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {
                reload_due = None;
                reloading = true;
                let inputs = started.reload.clone();
                let tx = loaded_tx.clone();
                tokio::task::spawn_blocking(move || {
                    let _ = tx.send(inputs.load());
                });
            }
            Some(result) = loaded.recv() => {
                reloading = false;
                match result {
                    Ok((new_cfg, rules)) => {
                        let interest = interest_of(&new_cfg, &rules.ruleset);
                        // The kernel sends the new rules' event types before
                        // they are swapped in: no event they need is missed.
                        if let Err(e) = probe.set_interest(&interest) {
                            let text = format!("updating the kernel's event types: {e}");
                            log::error!("reload failed; the previous rules keep running: {text}");
                            sampler.reloads_failed += 1;
                            outputs.send(reload_failure_alert(pipe.engine.hostname(), &text));
                            continue;
                        }
                        // Likewise the open filter: the new patterns are in
                        // before the swap (the old ones leave with it).
                        let filter = open_filter_of(&new_cfg, &rules.ruleset, writing);
                        match apply_open_filter(&mut probe, &filter) {
                            Ok(patterns) => {
                                sampler.kernel_filter = kernel_filter_info(&rules.ruleset, patterns);
                            }
                            Err(e) => {
                                let text = format!("updating the kernel filter: {e}");
                                log::error!("reload failed; the previous rules keep running: {text}");
                                sampler.reloads_failed += 1;
                                outputs.send(reload_failure_alert(pipe.engine.hostname(), &text));
                                continue;
                            }
                        }
                        let enabled = rules.enabled();
                        let files = rules.files.join(", ");
                        exceptions = rules.exceptions;
                        pipe.engine.rules = rules.ruleset;
                        pipe.engine.state.hostnames = start_hostnames(&new_cfg, &pipe.engine.rules);
                        sampler.rules_warnings = rules.diagnostics.iter().filter(|d| !d.is_error()).count() as u64;
                        sampler.reloads_applied += 1;
                        sampler.reload_ts_ns = engine::wall_now_ns();
                        metrics.health.no_rules.store(enabled == 0 && !new_cfg.allow_no_rules, Ordering::Relaxed);
                        log::info!(
                            "reloaded: {enabled} rules enabled from {files}; watching {} event types",
                            interest.names().len()
                        );
                        let paths = watch_paths(&new_cfg);
                        if watch.is_some() && paths != watched_paths {
                            // Drop the old watch first: one inotify watch per folder.
                            drop(watch.take());
                            watch = start_watch(&paths, true);
                            watched_paths = paths;
                        }
                        let keys = restart_keys(cfg, &new_cfg);
                        if !keys.is_empty() {
                            log::warn!(
                                "reload: changes to {} take effect at the next start; the running values stay",
                                keys.join(", ")
                            );
                        }
                    }
                    Err(errors) => {
                        log::error!("reload failed; the previous rules keep running:\n{errors}");
                        sampler.reloads_failed += 1;
                        outputs.send(reload_failure_alert(pipe.engine.hostname(), &errors));
                    }
                }
            }
            _ = tick.tick() => {
                let now = started.reload.clock.now();
                let expired = saker::exceptions::expired_between(&exceptions, expiry_checked, now);
                expiry_checked = now;
                for e in &expired {
                    log::warn!(
                        "exception {:?} of rule {:?} (owner {}) expired at {}: it no longer applies; reloading the rules",
                        e.name,
                        e.rule,
                        e.owner.as_deref().unwrap_or("unknown"),
                        e.expires.as_deref().unwrap_or("")
                    );
                    let cat = e.category.map_or("unknown", |c| c.as_str());
                    match expired_by_category.iter_mut().find(|(c, _)| *c == cat) {
                        Some((_, n)) => *n += 1,
                        None => expired_by_category.push((cat, 1)),
                    }
                    outputs.send(exception_expired_alert(pipe.engine.hostname(), e));
                }
                if !expired.is_empty() {
                    reload_due = Some(tokio::time::Instant::now());
                }
                probe.update_clock()?;
                if let Ok(k) = probe.counters()
                    && let Some(r) = drops.check(&k, Instant::now(), engine::wall_now_ns(), &pipe.engine.rules)
                {
                    if r.log {
                        log::warn!(
                            "kernel dropped {} events in the last interval ({:.2}%; ring full {}, no scratch {}); by type: {}; {} enabled rules blind meanwhile",
                            r.dropped, r.ratio * 100.0, r.dropped_ring_full, r.dropped_no_scratch,
                            r.by_type.iter().map(|(t, n)| format!("{}={n}", t.name())).collect::<Vec<_>>().join(","),
                            r.blind_rules.len()
                        );
                    }
                    if let Some(a) = r.alert {
                        outputs.send(a);
                    }
                    if r.exit {
                        exit_on_drops = true;
                        break;
                    }
                    // Lost forks and execs: read what /proc knows once the
                    // drops stop (a rescan per second of overload would add
                    // to it), or every RESCAN_DURING_DROPS while they go on
                    // (a steady trickle of drops must not leave the state
                    // out of date for good).
                    let since = *rescan_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= RESCAN_DURING_DROPS {
                        rescan_after_drops(&mut pipe.engine.state);
                        rescan_since = Some(Instant::now());
                    }
                } else if rescan_since.take().is_some() {
                    rescan_after_drops(&mut pipe.engine.state);
                }
                pipe.engine.state.sweep();
                pipe.engine.state.enforce_limits();
                trim.after_tick(pipe.engine.state.procs.thread_count() + pipe.engine.state.procs.fd_count());
                pipe.engine.state.sweep_containers(Instant::now());
                pipe.release_held(false);
                pipe.send_lookups();
                let mut snap = sampler.sample(&pipe.engine, &mut probe, &reader);
                metrics.set_feature(privileges::FEATURE_BPF_STATS, bpf_stats_feature(&sampler));
                if let Some(rs) = &runtime_stats {
                    snap.runtime = rs.snapshot();
                    snap.runtime_queue_full =
                        rs.queue_full.load(std::sync::atomic::Ordering::Relaxed);
                }
                snap.exceptions_expired.clone_from(&expired_by_category);
                if let Some(log) = &started.observe_log {
                    snap.observe_log_written = log.written.load(Ordering::Relaxed);
                    snap.observe_log_dropped = log.dropped.load(Ordering::Relaxed);
                }
                metrics.publish(snap);
                if pipe.write_error.is_some() {
                    break;
                }
            }
            Some(a) = answers.recv() => pipe.on_answer(a),
            Some(ns) = namespaces.recv() => {
                pipe.engine
                    .state
                    .containers
                    .matcher
                    .add_containerd_namespaces(ns.iter().map(String::as_str));
            }
            r = reader.wait() => {
                r?;
                reader.drain(&mut |raw: &[u8]| pipe.on_record(raw));
                pipe.send_lookups();
                metrics.health.mark_read();
            }
        }
    }
    probe.detach();
    reader.drain(&mut |raw: &[u8]| pipe.on_record(raw));
    // Alerts still waiting for metadata: a last chance for answers in
    // flight, then out with what is known.
    if pipe.engine.stats.hold.waiting > 0 {
        pipe.send_lookups();
        let until = tokio::time::Instant::now() + cfg.hold.max_wait.min(Duration::from_secs(2));
        while pipe.engine.stats.hold.waiting > 0 {
            match tokio::time::timeout_at(until, answers.recv()).await {
                Ok(Some(a)) => pipe.on_answer(a),
                _ => break,
            }
        }
        pipe.release_held(true);
    }
    let Pipeline {
        engine,
        mut recording,
        write_error,
        ..
    } = pipe;
    let k = probe.counters().unwrap_or_default();
    if let Some(rec) = recording.take() {
        let totals = serde_json::json!({
            "events": engine.stats.events,
            "kernel_emitted": k.total.emitted,
            "kernel_dropped": k.dropped(),
        });
        rec.finish(&totals)?;
    }
    outputs
        .shutdown(tokio::time::Instant::now() + cfg.shutdown_timeout)
        .await;
    let t = Totals {
        events: engine.stats.events,
        alerts: engine.stats.alerts,
        decode_errors: engine.stats.decode_errors,
        kernel_emitted: k.total.emitted,
        kernel_dropped: k.dropped(),
        kernel_read_failures: k.total.read_failures,
    };
    eprintln!(
        "saker run: {} events, {} alerts, {} dropped by the kernel, {} read failures, {} malformed",
        t.events, t.alerts, t.kernel_dropped, t.kernel_read_failures, t.decode_errors
    );
    for (kind, s) in outputs.stats() {
        let snap = s.snapshot();
        if snap.dropped() > 0 || snap.failed > 0 {
            eprintln!(
                "saker run: output {}: {} sent, {} failed, {} dropped",
                kind.as_str(),
                snap.sent,
                snap.failed,
                snap.dropped()
            );
        }
    }
    if let Some(e) = write_error {
        return Err(e.context("writing the recording"));
    }
    if exit_on_drops {
        eprintln!("saker run: exiting on kernel drops (syscall_event_drops.actions: exit)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
