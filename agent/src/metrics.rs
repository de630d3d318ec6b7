//! Every metric the agent exports, in one registry.
//!
//! The hot path never touches shared counters: it counts in plain fields of
//! its own (`EngineStats`), and the run loop copies them into a [`Snapshot`]
//! once per second. A scrape encodes the latest snapshot plus the outputs'
//! atomic counters. Names are `saker_<what>[_<unit>]` (the encoder adds
//! `_total` to counters); labels come from bounded sets (event types, rule
//! names, CPUs, outputs, BPF programs), never pids, paths or alert text.
//! docs/metrics.md describes each metric and its Falco counterpart.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::engine::{EngineStats, LATENCY_BUCKETS_NS};
use crate::event::EventType;
use crate::output::Outputs;
use crate::probe::{KernelCounters, ProgramStats};
use crate::state::StateStats;

/// The agent's own resource use, sampled from /proc/self.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SelfUsage {
    pub cpu_user_seconds: f64,
    pub cpu_system_seconds: f64,
    pub rss_bytes: u64,
    pub pss_bytes: u64,
    pub open_fds: u64,
}

impl SelfUsage {
    /// Reads /proc/self/{stat,status,smaps_rollup,fd}. Missing files give zeros.
    pub fn sample() -> Self {
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let mut u = SelfUsage::default();
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
            && let Some(close) = stat.rfind(')')
        {
            let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
            // After the comm: state(0) ... utime(11) stime(12)
            let n = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            u.cpu_user_seconds = n(11) / ticks;
            u.cpu_system_seconds = n(12) / ticks;
        }
        let kib = |text: &str, key: &str| -> u64 {
            text.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
                * 1024
        };
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            u.rss_bytes = kib(&status, "VmRSS:");
        }
        if let Ok(rollup) = std::fs::read_to_string("/proc/self/smaps_rollup") {
            u.pss_bytes = kib(&rollup, "Pss:");
        }
        u.open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
        u
    }

    pub fn cpu_seconds(&self) -> f64 {
        self.cpu_user_seconds + self.cpu_system_seconds
    }
}

/// Node overhead over the last interval: (BPF run time + agent CPU) / node CPU.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Overhead {
    pub total: f64,
    pub bpf: f64,
    pub agent: f64,
}

/// Keeps kernel BPF statistics on for one interval in `every` and turns the
/// kernel's raw per-program figures into totals over the whole run.
///
/// With statistics on, every run of every BPF program on the node pays two
/// clock reads (about 120 ns on a KVM guest), so by default they are only
/// sampled. An interval during which Saker held them on adds the kernel's
/// exact deltas and sets the current rates; any other interval adds the last
/// measured rates times its length. With `every == 1` statistics stay on and
/// the totals are exact.
#[derive(Debug)]
pub struct BpfStatsSampler {
    every: u32,
    ticks: u32,
    last: Option<Reading>,
    /// Per program: run time (ns) and runs per second in the last exact interval.
    rates: Vec<(f64, f64)>,
    totals: Vec<ProgramStats>,
}

#[derive(Debug)]
struct Reading {
    at: Instant,
    raw: Vec<ProgramStats>,
}

impl BpfStatsSampler {
    pub fn new(every: u32) -> Self {
        BpfStatsSampler {
            every: every.max(1),
            ticks: 0,
            last: None,
            rates: Vec::new(),
            totals: Vec::new(),
        }
    }

    /// Takes the kernel's cumulative figures read at `now` and whether Saker
    /// held statistics on since the previous call; returns whether they
    /// should be on until the next call, and updates [`Self::totals`].
    pub fn update(&mut self, now: Instant, raw: Vec<ProgramStats>, held: bool) -> bool {
        if self.totals.is_empty() {
            self.totals = raw
                .iter()
                .map(|p| ProgramStats {
                    name: p.name,
                    run_time_ns: 0,
                    run_count: 0,
                })
                .collect();
            self.rates = vec![(0.0, 0.0); raw.len()];
        }
        if let Some(prev) = self.last.take() {
            let secs = now.duration_since(prev.at).as_secs_f64();
            // Another tool may keep statistics on while we do not; the runs
            // it lets the kernel count are not known to cover the interval,
            // so only our own windows count as exact.
            let exact = held && secs > 0.0;
            for (i, r) in raw.iter().enumerate() {
                let (Some(p), Some(t), Some(rate)) = (
                    prev.raw.get(i),
                    self.totals.get_mut(i),
                    self.rates.get_mut(i),
                ) else {
                    continue;
                };
                if exact {
                    let dt = r.run_time_ns.saturating_sub(p.run_time_ns);
                    let dn = r.run_count.saturating_sub(p.run_count);
                    t.run_time_ns += dt;
                    t.run_count += dn;
                    *rate = (dt as f64 / secs, dn as f64 / secs);
                } else {
                    t.run_time_ns += (rate.0 * secs) as u64;
                    t.run_count += (rate.1 * secs) as u64;
                }
            }
        }
        let on = self.ticks.is_multiple_of(self.every);
        self.ticks = self.ticks.wrapping_add(1);
        self.last = Some(Reading { at: now, raw });
        on
    }

    /// Runs and run time per program since the first update (estimated
    /// between samples).
    pub fn totals(&self) -> &[ProgramStats] {
        &self.totals
    }
}

/// Computes [`Overhead`] between two readings.
#[derive(Debug, Default)]
pub struct OverheadMeter {
    last: Option<(Instant, f64, u64)>,
}

impl OverheadMeter {
    /// `agent_cpu` in seconds, `bpf_ns` summed over the agent's programs.
    pub fn update(
        &mut self,
        now: Instant,
        agent_cpu: f64,
        bpf_ns: u64,
        ncpus: usize,
    ) -> Option<Overhead> {
        let prev = self.last.replace((now, agent_cpu, bpf_ns))?;
        let wall = now.duration_since(prev.0).as_secs_f64();
        if wall <= 0.0 || ncpus == 0 {
            return None;
        }
        let available = wall * ncpus as f64;
        let agent = ((agent_cpu - prev.1).max(0.0) / available).clamp(0.0, 1.0);
        let bpf = (bpf_ns.saturating_sub(prev.2) as f64 / 1e9 / available).clamp(0.0, 1.0);
        Some(Overhead {
            total: (agent + bpf).min(1.0),
            bpf,
            agent,
        })
    }
}

/// Everything a scrape reports, copied from the hot path once per interval.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub engine: Option<EngineStats>,
    pub state: StateStats,
    pub processes: u64,
    pub threads: u64,
    pub fds: u64,
    /// Entries of the container table.
    pub containers: u64,
    pub container_stats: crate::state::container::ContainerStats,
    /// Per container runtime engine: lookups, errors, latency.
    pub runtime: Vec<(crate::runtime::EngineKind, crate::runtime::EngineStats)>,
    /// Lookups refused because the runtime queue was full.
    pub runtime_queue_full: u64,
    /// The host name cache (`fd.*ip.name`).
    pub hostnames: crate::state::hostnames::HostNameStats,
    pub kernel: KernelCounters,
    pub programs: Vec<ProgramStats>,
    pub ring_fill_ratio: f64,
    pub usage: SelfUsage,
    pub overhead: Overhead,
    /// `saker.overhead_budget`, exported so that alerts and dashboards
    /// compare the overhead with each node's own budget.
    pub overhead_budget: f64,
    pub rules_enabled: u64,
    pub rules_disabled: u64,
    pub rules_warnings: u64,
    /// The rule-derived kernel filter (`saker.kernel_filter`,
    /// agent/src/rules/pushdown.rs): per enabled rule, what it needs of the
    /// open family (`none`, `paths` or `all`, as `saker rules list`), and
    /// the path patterns loaded into the probe (0: opens are not filtered).
    pub kernel_filter: KernelFilterInfo,
    /// Hot reloads applied and refused (saker run, agent/src/reload.rs).
    pub reloads_applied: u64,
    pub reloads_failed: u64,
    /// When the running rules were loaded (start or last applied reload), ns
    /// since the Unix epoch (Falco: `falcosecurity_falco_reload_timestamp_nanoseconds`).
    pub reload_ts_ns: i64,
    /// Exceptions that stopped applying at their expiry while running, by category.
    pub exceptions_expired: Vec<(&'static str, u64)>,
    /// Matches of observed rules written to the observe log, and dropped
    /// (writer behind).
    pub observe_log_written: u64,
    pub observe_log_dropped: u64,
}

/// What the kernel filter does for the loaded rules; shared, as it only
/// changes when rules load.
#[derive(Debug, Clone, Default)]
pub struct KernelFilterInfo {
    /// (rule name, `none` | `paths` | `all`), enabled rules only.
    pub rule_opens: std::sync::Arc<Vec<(String, &'static str)>>,
    /// Path patterns in the probe's tries; 0 when opens are not filtered.
    pub patterns: u64,
}

/// Liveness and readiness, for /healthz and /readyz.
#[derive(Debug, Default)]
pub struct Health {
    pub rules_loaded: AtomicBool,
    /// No rule is enabled and `saker.allow_no_rules` is off: the agent runs
    /// but detects nothing, so it is not ready.
    pub no_rules: AtomicBool,
    pub attached: AtomicBool,
    /// Milliseconds since `Health::epoch` of the last ring-buffer drain.
    last_read_ms: AtomicU64,
    epoch: Option<Instant>,
}

impl Health {
    pub fn new() -> Self {
        Health {
            epoch: Some(Instant::now()),
            ..Health::default()
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.map_or(0, |e| {
            u64::try_from(e.elapsed().as_millis()).unwrap_or(u64::MAX)
        })
    }

    /// Called after each drain of the ring buffer (a relaxed store).
    pub fn mark_read(&self) {
        self.last_read_ms
            .store(self.now_ms().max(1), Ordering::Relaxed);
    }

    /// `None` when ready, else why not.
    pub fn not_ready_reason(&self) -> Option<&'static str> {
        if !self.rules_loaded.load(Ordering::Relaxed) {
            return Some("rules not loaded");
        }
        if self.no_rules.load(Ordering::Relaxed) {
            return Some("no rules enabled (saker.allow_no_rules: true to run without)");
        }
        if !self.attached.load(Ordering::Relaxed) {
            return Some("probes not attached");
        }
        let last = self.last_read_ms.load(Ordering::Relaxed);
        if last == 0 || self.now_ms().saturating_sub(last) > 5_000 {
            return Some("ring buffer not read in the last 5 s");
        }
        None
    }
}

/// The registry's one collector: encodes the snapshot and output counters.
#[derive(Debug)]
pub struct Metrics {
    snapshot: Mutex<Snapshot>,
    outputs: Mutex<Option<Arc<Outputs>>>,
    /// The optional features and whether each is on
    /// (`crate::probe::privileges::FEATURES`).
    features: Mutex<Vec<(&'static str, bool)>>,
    pub health: Health,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        Arc::new(Metrics {
            snapshot: Mutex::new(Snapshot::default()),
            outputs: Mutex::new(None),
            features: Mutex::new(Vec::new()),
            health: Health::new(),
        })
    }

    pub fn set_outputs(&self, outputs: Arc<Outputs>) {
        if let Ok(mut o) = self.outputs.lock() {
            *o = Some(outputs);
        }
    }

    /// Records whether an optional feature is on (set at start, and again
    /// when one turns off while running).
    pub fn set_feature(&self, name: &'static str, enabled: bool) {
        if let Ok(mut f) = self.features.lock() {
            match f.iter_mut().find(|(n, _)| *n == name) {
                Some(entry) => entry.1 = enabled,
                None => f.push((name, enabled)),
            }
        }
    }

    pub fn publish(&self, s: Snapshot) {
        if let Ok(mut cur) = self.snapshot.lock() {
            *cur = s;
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// A registry holding this collector, ready to encode.
    pub fn registry(self: &Arc<Self>) -> Registry {
        let mut r = Registry::with_prefix("saker");
        r.register_collector(Box::new(Arc::clone(self)));
        r
    }

    /// The OpenMetrics text of a scrape.
    pub fn encode_text(self: &Arc<Self>) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry())?;
        Ok(out)
    }
}

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

struct Enc<'a, 'b>(&'a mut DescriptorEncoder<'b>);

impl Enc<'_, '_> {
    /// One metric family: a single unlabelled sample, or one per label set.
    fn family<V: Copy, M: EncodeMetric>(
        &mut self,
        name: &str,
        help: &str,
        ty: MetricType,
        values: &[(Labels, V)],
        make: impl Fn(V) -> M,
    ) -> std::fmt::Result {
        let mut m = self.0.encode_descriptor(name, help, None, ty)?;
        if let [(l, v)] = values
            && l.is_empty()
        {
            return make(*v).encode(m);
        }
        for (l, v) in values {
            make(*v).encode(m.encode_family(l)?)?;
        }
        Ok(())
    }

    fn counter(&mut self, name: &str, help: &str, values: &[(Labels, u64)]) -> std::fmt::Result {
        self.family(name, help, MetricType::Counter, values, ConstCounter::new)
    }

    fn counter_f(&mut self, name: &str, help: &str, values: &[(Labels, f64)]) -> std::fmt::Result {
        self.family(name, help, MetricType::Counter, values, ConstCounter::new)
    }

    fn gauge(&mut self, name: &str, help: &str, values: &[(Labels, i64)]) -> std::fmt::Result {
        self.family(name, help, MetricType::Gauge, values, ConstGauge::new)
    }

    fn gauge_f(&mut self, name: &str, help: &str, values: &[(Labels, f64)]) -> std::fmt::Result {
        self.family(name, help, MetricType::Gauge, values, ConstGauge::new)
    }

    /// A histogram family: per series, per-bucket counts over `bounds` (one
    /// more for +Inf) and the sum. `encode_histogram` accumulates the counts
    /// itself and writes the f64::INFINITY bound as le="+Inf", the bucket
    /// histogram_quantile needs.
    fn histogram(
        &mut self,
        name: &str,
        help: &str,
        bounds: &[f64],
        series: &[(Labels, &[u64], f64)],
    ) -> std::fmt::Result {
        let mut m = self
            .0
            .encode_descriptor(name, help, None, MetricType::Histogram)?;
        for (l, per_bucket, sum) in series {
            let at = |i: usize| per_bucket.get(i).copied().unwrap_or(0);
            let mut buckets: Vec<(f64, u64)> = bounds
                .iter()
                .enumerate()
                .map(|(i, ub)| (*ub, at(i)))
                .collect();
            buckets.push((f64::INFINITY, at(bounds.len())));
            let count = buckets.iter().map(|(_, n)| n).sum();
            if l.is_empty() {
                m.encode_histogram::<Labels>(*sum, count, &buckets, None)?;
            } else {
                m.encode_family(l)?
                    .encode_histogram::<Labels>(*sum, count, &buckets, None)?;
            }
        }
        Ok(())
    }
}

fn one<T: Copy>(v: T) -> Vec<(Labels, T)> {
    vec![(Vec::new(), v)]
}

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Collector for Metrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.snapshot();
        let mut e = Enc(&mut encoder);
        let engine = s.engine.clone().unwrap_or_default();

        // ---- events and the hot path ----
        let by_type: Vec<(Labels, u64)> = engine
            .by_type
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .filter_map(|(i, n)| {
                EventType::from_index(i).map(|t| (labels(&[("type", t.name())]), *n))
            })
            .collect();
        e.counter(
            "events",
            "Events processed by the rules engine, by event type.",
            &by_type,
        )?;
        e.counter(
            "decode_errors",
            "Kernel records that failed validation and were discarded.",
            &one(engine.decode_errors),
        )?;
        e.counter("alerts", "Alerts raised by rules.", &one(engine.alerts))?;
        // Rule names are a bounded set (the loaded rules); mode is alert
        // (sent to the outputs) or observe (counted and logged only).
        let matches: Vec<(Labels, u64)> = engine
            .rule_matches
            .iter()
            .flat_map(|(rule, m)| {
                [("alert", m.count), ("observe", m.observed)]
                    .into_iter()
                    .filter(|(mode, n)| *n > 0 || *mode == "alert")
                    .map(move |(mode, n)| {
                        (
                            labels(&[
                                ("rule", rule),
                                ("priority", m.priority.as_str()),
                                ("source", &m.source),
                                ("mode", mode),
                            ]),
                            n,
                        )
                    })
            })
            .collect();
        e.counter(
            "rule_matches",
            "Rule matches, by rule and mode (alert: sent to the outputs; observe: counted and written to the observe log only).",
            &matches,
        )?;

        // Event latency histogram: kernel timestamp -> rules evaluated.
        let bounds: Vec<f64> = LATENCY_BUCKETS_NS
            .iter()
            .map(|ub| *ub as f64 / 1e9)
            .collect();
        e.histogram(
            "event_latency_seconds",
            "Delay from the kernel timestamp of an event to the end of its rule evaluation.",
            &bounds,
            &[(
                Vec::new(),
                &engine.latency_buckets,
                engine.latency_sum_ns as f64 / 1e9,
            )],
        )?;

        // ---- kernel side ----
        let mut drops: Vec<(Labels, u64)> = Vec::new();
        for (cpu, c) in s.kernel.per_cpu.iter().enumerate() {
            let cpu = cpu.to_string();
            drops.push((
                labels(&[("reason", "ring_full"), ("cpu", &cpu)]),
                c.dropped_full,
            ));
            drops.push((
                labels(&[("reason", "no_scratch"), ("cpu", &cpu)]),
                c.scratch_busy,
            ));
        }
        e.counter(
            "kernel_drops",
            "Events the kernel side could not deliver, by reason and CPU.",
            &drops,
        )?;
        // Only the types that lost something: the label set stays the
        // (bounded) set of event types.
        let by_type: Vec<(Labels, u64)> = s
            .kernel
            .dropped_by_type()
            .into_iter()
            .map(|(t, n)| (labels(&[("evt_type", t.name())]), n))
            .collect();
        let filtered: Vec<(Labels, u64)> = s
            .kernel
            .filtered_by_type()
            .into_iter()
            .map(|(t, n)| (labels(&[("evt_type", t.name())]), n))
            .collect();
        e.counter(
            "kernel_filtered_by_event",
            "Events the probe left out because no enabled rule can match them (the rule-derived kernel filter, saker.kernel_filter), by event type.",
            &filtered,
        )?;
        e.counter(
            "kernel_drops_by_event",
            "Events the kernel side could not deliver, by event type (exec records count as execve, fork records as clone).",
            &by_type,
        )?;
        let per_cpu = |f: fn(&saker_ebpf::abi::Counters) -> u64| -> Vec<(Labels, u64)> {
            s.kernel
                .per_cpu
                .iter()
                .enumerate()
                .map(|(cpu, c)| (labels(&[("cpu", &cpu.to_string())]), f(c)))
                .collect()
        };
        e.counter(
            "kernel_events",
            "Events the kernel side wrote to the ring buffer, by CPU.",
            &per_cpu(|c| c.emitted),
        )?;
        e.counter(
            "kernel_read_failures",
            "Kernel reads of event arguments that failed (the argument was sent empty).",
            &one(s.kernel.total.read_failures),
        )?;
        e.counter(
            "kernel_truncated",
            "Events with an argument cut at its size bound.",
            &one(s.kernel.total.truncated),
        )?;
        e.counter(
            "kernel_compat_skipped",
            "32-bit (ia32 compat) system calls the kernel side ignored.",
            &one(s.kernel.total.compat_skipped),
        )?;
        e.gauge_f(
            "ring_buffer_fill_ratio",
            "Share of the ring buffer holding events not yet read.",
            &one(s.ring_fill_ratio),
        )?;
        let runs: Vec<(Labels, u64)> = s
            .programs
            .iter()
            .map(|p| (labels(&[("program", p.name)]), p.run_count))
            .collect();
        let run_ns: Vec<(Labels, u64)> = s
            .programs
            .iter()
            .map(|p| (labels(&[("program", p.name)]), p.run_time_ns))
            .collect();
        e.counter(
            "bpf_program_runs",
            "Runs of each BPF program (kernel bpf stats).",
            &runs,
        )?;
        e.counter(
            "bpf_program_run_time_ns",
            "Time spent in each BPF program, in nanoseconds (kernel bpf stats).",
            &run_ns,
        )?;

        // ---- state ----
        e.gauge(
            "processes",
            "Processes in the process table.",
            &one(clamp_i64(s.processes)),
        )?;
        e.gauge(
            "threads",
            "Threads in the process table.",
            &one(clamp_i64(s.threads)),
        )?;
        e.gauge(
            "fds",
            "Open file descriptors tracked.",
            &one(clamp_i64(s.fds)),
        )?;
        e.gauge(
            "containers",
            "Containers in the container table (with processes, or within their grace period).",
            &one(clamp_i64(s.containers)),
        )?;
        let cs = &s.container_stats;
        e.counter(
            "containers_added",
            "Containers added to the container table.",
            &one(cs.added),
        )?;
        e.counter(
            "containers_removed",
            "Containers removed after their last process exited (plus the grace period).",
            &one(cs.removed),
        )?;
        e.counter(
            "containers_evicted",
            "Containers evicted because the table was full (saker.containers.max_entries).",
            &one(cs.evicted),
        )?;
        e.counter(
            "container_lookups",
            "Container metadata lookups, by outcome (requested, found, not_found, failed, queue_full).",
            &[
                (labels(&[("outcome", "requested")]), cs.lookups),
                (labels(&[("outcome", "found")]), cs.found),
                (labels(&[("outcome", "not_found")]), cs.not_found),
                (labels(&[("outcome", "failed")]), cs.failed),
                (labels(&[("outcome", "queue_full")]), s.runtime_queue_full),
            ],
        )?;
        let per_engine = |f: fn(&crate::runtime::EngineStats) -> u64| -> Vec<(Labels, u64)> {
            s.runtime
                .iter()
                .map(|(k, st)| (labels(&[("engine", k.as_str())]), f(st)))
                .collect()
        };
        e.counter(
            "container_runtime_errors",
            "Calls to a container runtime that failed (socket missing, refused, timeout, error), by engine.",
            &per_engine(|st| st.errors),
        )?;
        e.gauge(
            "container_runtime_up",
            "1 when the last call to the engine reached the runtime, else 0.",
            &s.runtime
                .iter()
                .map(|(k, st)| (labels(&[("engine", k.as_str())]), i64::from(st.up)))
                .collect::<Vec<_>>(),
        )?;
        let lookups: Vec<(Labels, &[u64], f64)> = s
            .runtime
            .iter()
            .map(|(k, st)| {
                (
                    labels(&[("engine", k.as_str())]),
                    st.latency_buckets.as_slice(),
                    st.latency_sum_s,
                )
            })
            .collect();
        e.histogram(
            "container_lookup_seconds",
            "Time a container runtime took to answer a metadata lookup, by engine.",
            &crate::runtime::LOOKUP_BUCKETS_S,
            &lookups,
        )?;
        let hold = &engine.hold;
        e.counter(
            "alerts_held",
            "Alerts held while their container's metadata was looked up.",
            &one(hold.held),
        )?;
        e.counter(
            "alerts_held_released",
            "Held alerts sent, by reason: answered (metadata or not-found arrived), timeout (sent without metadata), overflow (too many waiting).",
            &[
                (labels(&[("reason", "answered")]), hold.released_answered),
                (labels(&[("reason", "timeout")]), hold.released_timeout),
                (labels(&[("reason", "overflow")]), hold.released_overflow),
            ],
        )?;
        e.gauge(
            "alerts_held_waiting",
            "Alerts waiting for container metadata now.",
            &one(clamp_i64(hold.waiting)),
        )?;
        e.histogram(
            "alert_hold_seconds",
            "How long held alerts waited for their container's metadata.",
            &crate::engine::HOLD_BUCKETS_S,
            &[(Vec::new(), &hold.wait_buckets, hold.wait_sum_s)],
        )?;
        let hn = &s.hostnames;
        e.counter(
            "hostname_cache_hits",
            "Reverse host name look-ups answered from the cache (fd.*ip.name in alert outputs).",
            &one(hn.hits),
        )?;
        e.counter(
            "hostname_cache_misses",
            "Reverse host name look-ups not (yet) in the cache; the field was missing and a lookup was asked for.",
            &one(hn.misses),
        )?;
        e.counter(
            "hostname_cache_evictions",
            "Reverse host name entries evicted because the cache was full (saker.hostnames.max_entries).",
            &one(hn.evictions),
        )?;
        e.counter(
            "hostname_lookups",
            "Host name lookups done by the resolver threads, by kind (reverse: address to name for outputs; forward: rule-named host to addresses) and outcome (found, not_found).",
            &[
                (
                    labels(&[("kind", "reverse"), ("outcome", "found")]),
                    hn.reverse_found,
                ),
                (
                    labels(&[("kind", "reverse"), ("outcome", "not_found")]),
                    hn.reverse_not_found,
                ),
                (
                    labels(&[("kind", "forward"), ("outcome", "found")]),
                    hn.forward_found,
                ),
                (
                    labels(&[("kind", "forward"), ("outcome", "not_found")]),
                    hn.forward_not_found,
                ),
            ],
        )?;
        e.counter(
            "hostname_lookups_dropped",
            "Host name lookups not done because saker.hostnames.max_pending were already waiting.",
            &one(hn.dropped),
        )?;
        e.gauge(
            "hostname_cache_entries",
            "Reverse host name entries in the cache.",
            &one(clamp_i64(hn.entries)),
        )?;
        e.gauge(
            "hostnames_watched",
            "Host names that rules compare fd.*ip.name with, resolved and refreshed in the background.",
            &one(clamp_i64(hn.watched)),
        )?;
        e.counter(
            "proc_lookups",
            "Processes read from /proc because an event named an unknown one.",
            &one(s.state.proc_lookups),
        )?;
        e.counter(
            "proc_lookup_misses",
            "Unknown processes that could not be read from /proc (gone, or rate limited).",
            &one(s.state.proc_lookup_misses),
        )?;
        e.counter(
            "proc_swept",
            "Processes removed because their exit was never seen.",
            &one(s.state.swept),
        )?;
        e.counter(
            "proc_rescans",
            "Full /proc rescans done to recover the processes that kernel drops hid.",
            &one(s.state.proc_rescans),
        )?;
        e.counter(
            "fds_recovered",
            "File descriptors read back from /proc: opens and closes that kernel drops hid (found by rescans), and evicted fds that an event used again.",
            &one(s.state.fds_recovered),
        )?;
        e.counter(
            "state_evictions",
            "Entries evicted because a state table was full, by table (processes, threads, fds, users; bounds under saker.state).",
            &[
                (labels(&[("table", "processes")]), s.state.processes_evicted),
                (labels(&[("table", "threads")]), s.state.threads_evicted),
                (labels(&[("table", "fds")]), s.state.fds_evicted),
                (labels(&[("table", "users")]), s.state.users_evicted),
            ],
        )?;

        // ---- rules ----
        e.gauge(
            "rules",
            "Rules loaded, by state.",
            &[
                (labels(&[("state", "enabled")]), clamp_i64(s.rules_enabled)),
                (
                    labels(&[("state", "disabled")]),
                    clamp_i64(s.rules_disabled),
                ),
            ],
        )?;
        let rule_opens: Vec<(Labels, i64)> = s
            .kernel_filter
            .rule_opens
            .iter()
            .map(|(rule, opens)| (labels(&[("rule", rule), ("opens", opens)]), 1))
            .collect();
        e.gauge(
            "rule_kernel_filter",
            "Per enabled rule, what it needs of opens (label opens): none (no open event), paths (opens of the path patterns it names: pushed down to the kernel filter) or all (not reducible: while it is enabled, opens are not filtered). Always 1.",
            &rule_opens,
        )?;
        e.gauge(
            "kernel_filter_patterns",
            "Path patterns of the rule-derived open filter loaded into the probe; 0 when opens are not filtered (saker.kernel_filter off, a rule needs any path, or too many patterns).",
            &one(clamp_i64(s.kernel_filter.patterns)),
        )?;
        e.gauge(
            "rules_warnings",
            "Warnings reported when the rules were loaded.",
            &one(clamp_i64(s.rules_warnings)),
        )?;
        e.counter(
            "reloads",
            "Hot reloads (SIGHUP, watched file changes), by result: applied, or failed (the previous rules keep running).",
            &[
                (labels(&[("result", "applied")]), s.reloads_applied),
                (labels(&[("result", "failed")]), s.reloads_failed),
            ],
        )?;
        e.gauge(
            "reload_timestamp_nanoseconds",
            "When the running rules were loaded (start or last applied reload), ns since the Unix epoch.",
            &one(s.reload_ts_ns),
        )?;
        // Every category from the start (0), so that rates and alerts on
        // the series work before the first expiry.
        let expired: Vec<(Labels, u64)> = ["permanent", "temporary", "emergency", "unknown"]
            .into_iter()
            .filter_map(|c| {
                let n = s
                    .exceptions_expired
                    .iter()
                    .find(|(k, _)| *k == c)
                    .map_or(0, |(_, n)| *n);
                (c != "unknown" || n > 0).then(|| (labels(&[("category", c)]), n))
            })
            .collect();
        e.counter(
            "exceptions_expired",
            "Exceptions that stopped applying at their expiry while the agent ran, by category.",
            &expired,
        )?;
        e.counter(
            "observe_log_lines",
            "Matches of rules in observe mode written to the observe log (saker.observe_log), by result: written, or dropped (writer behind).",
            &[
                (labels(&[("result", "written")]), s.observe_log_written),
                (labels(&[("result", "dropped")]), s.observe_log_dropped),
            ],
        )?;

        let features: Vec<(Labels, i64)> = self
            .features
            .lock()
            .map(|f| {
                f.iter()
                    .map(|(name, on)| (labels(&[("feature", name)]), i64::from(*on)))
                    .collect()
            })
            .unwrap_or_default();
        e.gauge(
            "feature_enabled",
            "1 when an optional feature is on, 0 when the agent runs without it (a missing privilege, or turned off), by feature.",
            &features,
        )?;

        // ---- the agent's own cost ----
        e.counter_f(
            "cpu_seconds",
            "CPU time used by the agent process.",
            &[
                (labels(&[("mode", "user")]), s.usage.cpu_user_seconds),
                (labels(&[("mode", "system")]), s.usage.cpu_system_seconds),
            ],
        )?;
        e.gauge(
            "memory_rss_bytes",
            "Resident memory of the agent.",
            &one(clamp_i64(s.usage.rss_bytes)),
        )?;
        e.gauge(
            "memory_pss_bytes",
            "Proportional set size of the agent (shared pages split between users).",
            &one(clamp_i64(s.usage.pss_bytes)),
        )?;
        e.gauge(
            "open_fds",
            "File descriptors open in the agent.",
            &one(clamp_i64(s.usage.open_fds)),
        )?;
        e.gauge_f(
            "node_overhead_ratio",
            "Share of the node's CPU spent on Saker over the last interval: BPF run time plus agent CPU time.",
            &one(s.overhead.total),
        )?;
        e.gauge_f(
            "node_overhead_bpf_ratio",
            "Share of the node's CPU spent in Saker's BPF programs over the last interval.",
            &one(s.overhead.bpf),
        )?;
        e.gauge_f(
            "node_overhead_agent_ratio",
            "Share of the node's CPU used by the agent process over the last interval.",
            &one(s.overhead.agent),
        )?;
        e.gauge_f(
            "node_overhead_budget_ratio",
            "The node overhead budget (saker.overhead_budget), for alerts and dashboards.",
            &one(s.overhead_budget),
        )?;

        // ---- outputs (live atomics) ----
        let outputs = self.outputs.lock().ok().and_then(|o| o.clone());
        if let Some(outputs) = outputs {
            let mut sent = Vec::new();
            let mut failed = Vec::new();
            let mut retried = Vec::new();
            let mut spooled = Vec::new();
            let mut dropped = Vec::new();
            let mut depth = Vec::new();
            for (kind, st) in outputs.stats() {
                let n = st.snapshot();
                let o = kind.as_str();
                sent.push((labels(&[("output", o)]), n.sent));
                failed.push((labels(&[("output", o)]), n.failed));
                retried.push((labels(&[("output", o)]), n.retried));
                spooled.push((labels(&[("output", o)]), n.spooled));
                for (reason, v) in [
                    ("queue_full", n.dropped_queue_full),
                    ("spool_full", n.dropped_spool_full),
                    ("undeliverable", n.dropped_undeliverable),
                    ("shutdown", n.dropped_shutdown),
                ] {
                    dropped.push((labels(&[("output", o), ("reason", reason)]), v));
                }
                depth.push((labels(&[("output", o)]), clamp_i64(n.queue_depth)));
            }
            e.counter("output_sent", "Alerts delivered, by output.", &sent)?;
            e.counter(
                "output_failed",
                "Delivery attempts that failed, by output.",
                &failed,
            )?;
            e.counter("output_retried", "Delivery retries, by output.", &retried)?;
            e.counter(
                "output_spooled",
                "Alerts written to the on-disk spool, by output.",
                &spooled,
            )?;
            e.counter(
                "output_dropped",
                "Alerts dropped, by output and reason.",
                &dropped,
            )?;
            e.gauge(
                "output_queue_depth",
                "Alerts waiting in each output's queue.",
                &depth,
            )?;
        }
        Ok(())
    }
}

/// Histogram families (exported as `_bucket`, `_sum`, `_count`).
pub const HISTOGRAMS: [&str; 3] = [
    "event_latency_seconds",
    "container_lookup_seconds",
    "alert_hold_seconds",
];

/// Every metric name this module can export, as they appear on /metrics
/// (counters with their `_total`); docs and dashboards are checked against it.
pub fn exported_names() -> Vec<String> {
    let counters = [
        "events",
        "decode_errors",
        "alerts",
        "rule_matches",
        "kernel_drops",
        "kernel_drops_by_event",
        "kernel_events",
        "kernel_read_failures",
        "kernel_truncated",
        "kernel_compat_skipped",
        "bpf_program_runs",
        "bpf_program_run_time_ns",
        "proc_lookups",
        "proc_lookup_misses",
        "proc_swept",
        "proc_rescans",
        "kernel_filtered_by_event",
        "fds_recovered",
        "state_evictions",
        "cpu_seconds",
        "output_sent",
        "output_failed",
        "output_retried",
        "output_spooled",
        "output_dropped",
        "containers_added",
        "containers_removed",
        "containers_evicted",
        "container_lookups",
        "container_runtime_errors",
        "alerts_held",
        "alerts_held_released",
        "hostname_cache_hits",
        "hostname_cache_misses",
        "hostname_cache_evictions",
        "hostname_lookups",
        "hostname_lookups_dropped",
        "reloads",
        "exceptions_expired",
        "observe_log_lines",
    ];
    let gauges = [
        "ring_buffer_fill_ratio",
        "processes",
        "threads",
        "fds",
        "containers",
        "rules",
        "rules_warnings",
        "rule_kernel_filter",
        "kernel_filter_patterns",
        "reload_timestamp_nanoseconds",
        "feature_enabled",
        "memory_rss_bytes",
        "memory_pss_bytes",
        "open_fds",
        "node_overhead_ratio",
        "node_overhead_bpf_ratio",
        "node_overhead_agent_ratio",
        "node_overhead_budget_ratio",
        "output_queue_depth",
        "container_runtime_up",
        "alerts_held_waiting",
        "hostname_cache_entries",
        "hostnames_watched",
    ];
    let mut out = Vec::new();
    for c in counters {
        out.push(format!("saker_{c}_total"));
    }
    for g in gauges {
        out.push(format!("saker_{g}"));
    }
    for h in HISTOGRAMS {
        for suffix in ["_bucket", "_sum", "_count"] {
            out.push(format!("saker_{h}{suffix}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prog(run_time_ns: u64, run_count: u64) -> Vec<ProgramStats> {
        vec![ProgramStats {
            name: "saker_sys_exit",
            run_time_ns,
            run_count,
        }]
    }

    #[test]
    fn sampled_bpf_stats_are_on_one_interval_in_n_and_extrapolated_between() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + std::time::Duration::from_secs(n);
        let mut b = BpfStatsSampler::new(3);
        // Tick 0: turn statistics on for the first interval.
        assert!(b.update(s(0), prog(0, 0), false));
        // Held for one second: 1000 runs of 500 ns, exact.
        assert!(!b.update(s(1), prog(500_000, 1000), true));
        assert_eq!(b.totals(), prog(500_000, 1000));
        // Off for two seconds: the kernel counts nothing, the totals grow at
        // the last measured rates.
        assert!(!b.update(s(2), prog(500_000, 1000), false));
        assert_eq!(b.totals(), prog(1_000_000, 2000));
        assert!(b.update(s(3), prog(500_000, 1000), false));
        assert_eq!(b.totals(), prog(1_500_000, 3000));
        // On again: the load has doubled; exact deltas and new rates.
        assert!(!b.update(s(4), prog(1_500_000, 3000), true));
        assert_eq!(b.totals(), prog(2_500_000, 5000));
        assert!(!b.update(s(5), prog(1_500_000, 3000), false));
        assert_eq!(b.totals(), prog(3_500_000, 7000));
    }

    #[test]
    fn bpf_stats_every_one_keeps_them_on_and_exact() {
        let t0 = Instant::now();
        let mut b = BpfStatsSampler::new(1);
        for i in 0..5u64 {
            let at = t0 + std::time::Duration::from_secs(i);
            assert!(b.update(at, prog(i * i * 100, i * i), i > 0));
        }
        assert_eq!(b.totals(), prog(1600, 16));
    }

    #[test]
    fn no_enabled_rule_keeps_the_agent_not_ready() {
        let h = Health::new();
        h.rules_loaded.store(true, Ordering::Relaxed);
        h.no_rules.store(true, Ordering::Relaxed);
        h.attached.store(true, Ordering::Relaxed);
        h.mark_read();
        assert_eq!(
            h.not_ready_reason(),
            Some("no rules enabled (saker.allow_no_rules: true to run without)")
        );
        h.no_rules.store(false, Ordering::Relaxed);
        assert_eq!(h.not_ready_reason(), None);
    }

    #[test]
    fn overhead_is_the_share_of_node_cpu() {
        let mut m = OverheadMeter::default();
        let t0 = Instant::now();
        assert!(m.update(t0, 1.0, 0, 2).is_none());
        // Over 10 s on 2 CPUs: agent used 1 s, BPF 0.5 s -> 5% + 2.5%.
        let o = m
            .update(t0 + std::time::Duration::from_secs(10), 2.0, 500_000_000, 2)
            .unwrap();
        assert!((o.agent - 0.05).abs() < 1e-9, "{o:?}");
        assert!((o.bpf - 0.025).abs() < 1e-9, "{o:?}");
        assert!((o.total - 0.075).abs() < 1e-9, "{o:?}");
    }

    #[test]
    fn self_usage_reads_this_process() {
        let u = SelfUsage::sample();
        assert!(
            u.rss_bytes > 0 && u.pss_bytes > 0 && u.open_fds > 0,
            "{u:?}"
        );
    }

    #[test]
    fn every_exported_name_appears_in_a_scrape() {
        let m = Metrics::new();
        let mut s = Snapshot::default();
        let mut engine = EngineStats::default();
        engine.by_type[EventType::from_name("openat").unwrap().index()] = 5;
        // 1 event under 100 us, 3 in (100 us, 250 us], 3 over 1 s.
        engine.latency_buckets[0] = 1;
        engine.latency_buckets[1] = 3;
        engine.latency_buckets[LATENCY_BUCKETS_NS.len()] = 3;
        engine.rule_matches.insert(
            Arc::from("Read sensitive file untrusted"),
            crate::engine::RuleMatchCount {
                priority: crate::alert::Priority::Warning,
                source: Arc::from("syscall"),
                count: 2,
                observed: 3,
            },
        );
        s.engine = Some(engine);
        s.kernel.per_cpu = vec![Default::default(); 2];
        let openat = crate::event::EventType::from_name("openat")
            .and_then(|t| t.syscall_nr())
            .unwrap_or(0) as usize;
        s.kernel.dropped_by_slot = vec![0; saker_ebpf::abi::DROP_SLOTS as usize];
        s.kernel.dropped_by_slot[openat] = 3;
        s.kernel.filtered_by_slot = vec![0; saker_ebpf::abi::DROP_SLOTS as usize];
        s.kernel.filtered_by_slot[openat] = 1000;
        s.kernel_filter = KernelFilterInfo {
            rule_opens: Arc::new(vec![("Read sensitive file untrusted".to_string(), "paths")]),
            patterns: 21,
        };
        s.programs = vec![ProgramStats {
            name: "saker_sys_exit",
            run_time_ns: 1000,
            run_count: 10,
        }];
        let mut cri = crate::runtime::EngineStats {
            found: 3,
            up: true,
            latency_buckets: vec![0; crate::runtime::LOOKUP_BUCKETS_S.len() + 1],
            latency_sum_s: 0.009,
            ..Default::default()
        };
        cri.latency_buckets[1] = 2; // <= 2.5 ms
        cri.latency_buckets[3] = 1; // <= 10 ms
        s.runtime = vec![(crate::runtime::EngineKind::Cri, cri)];
        m.publish(s);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let settings = crate::output::config::OutputsConfig::default()
            .validate()
            .unwrap();
        let outputs = rt.block_on(async {
            Arc::new(Outputs::start(&settings, &tokio::runtime::Handle::current()).unwrap())
        });
        m.set_outputs(outputs);
        m.set_feature("bpf_stats", true);
        m.set_feature("proc_other_users", false);
        m.set_feature("bpf_stats", false);
        let text = m.encode_text().unwrap();
        for name in exported_names() {
            assert!(
                text.lines().any(|l| l.starts_with(&name)),
                "{name} missing from:\n{text}"
            );
        }
        assert!(text.contains(
            "saker_rule_matches_total{rule=\"Read sensitive file untrusted\",priority=\"Warning\",source=\"syscall\",mode=\"alert\"} 2"
        ));
        assert!(text.contains(
            "saker_rule_matches_total{rule=\"Read sensitive file untrusted\",priority=\"Warning\",source=\"syscall\",mode=\"observe\"} 3"
        ));
        assert!(text.contains("saker_events_total{type=\"openat\"} 5"));
        assert!(text.contains(
            "saker_rule_kernel_filter{rule=\"Read sensitive file untrusted\",opens=\"paths\"} 1\n"
        ));
        assert!(text.contains("saker_kernel_filter_patterns 21\n"));
        assert!(text.contains("saker_feature_enabled{feature=\"bpf_stats\"} 0\n"));
        assert!(text.contains("saker_feature_enabled{feature=\"proc_other_users\"} 0\n"));
        // Per-engine lookup latency: cumulative buckets per engine label.
        assert!(
            text.contains("saker_container_lookup_seconds_bucket{le=\"0.0025\",engine=\"cri\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("saker_container_lookup_seconds_count{engine=\"cri\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("saker_container_runtime_up{engine=\"cri\"} 1"),
            "{text}"
        );
        // Buckets are cumulative and end with +Inf, which equals the count.
        assert!(
            text.contains("saker_event_latency_seconds_count 7\n"),
            "{text}"
        );
        assert!(text.contains("saker_event_latency_seconds_bucket{le=\"0.0001\"} 1\n"));
        assert!(text.contains("saker_event_latency_seconds_bucket{le=\"0.00025\"} 4\n"));
        assert!(text.contains("saker_event_latency_seconds_bucket{le=\"1.0\"} 4\n"));
        assert!(text.contains("saker_event_latency_seconds_bucket{le=\"+Inf\"} 7\n"));
        assert!(
            text.contains("\nsaker_alerts_total 0\n"),
            "unlabelled metrics have no braces"
        );
        assert!(!text.contains("{}"));
    }
}
