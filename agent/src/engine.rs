//! The hot path: decode -> state -> rules -> alerts, synchronous and on owned
//! data. The live agent feeds it ring-buffer records; replay feeds it the
//! records of a recording; both go through exactly this code.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::alert::{Alert, Priority};
use crate::event::{self, DecodeError, Event, EventType};
use crate::fields::extract::{ContainerFields, EventContext, RunInfo, is_container_metadata};
use crate::probe::InterestSet;
use crate::rules::RuleSet;
use crate::rules::format::PendingAlert;
use crate::state::State;
use crate::state::container::LookupResult;

/// Event types the state tracker needs whatever the rules say (Falco's
/// `base_syscalls` default): process lifecycle, fd creation and removal,
/// working directory changes.
pub const STATE_EVENT_TYPES: &[&str] = &[
    "execve",
    "execveat",
    "clone",
    "clone3",
    "fork",
    "vfork",
    "procexit",
    "open",
    "openat",
    "openat2",
    "creat",
    "close",
    "dup",
    "dup2",
    "dup3",
    "fcntl",
    "socket",
    "connect",
    "accept",
    "accept4",
    "bind",
    "listen",
    "chdir",
    "fchdir",
    "memfd_create",
];

/// What the kernel must emit for `rules` plus state tracking and `extra`.
/// A rule that does not constrain `evt.type` would need every syscall; the
/// kernel is then asked only for the syscalls Saker decodes (Falco warns about
/// such rules for the same cost reason).
pub fn interest_for(rules: &RuleSet, extra: &[EventType]) -> InterestSet {
    let mut set = InterestSet::empty();
    for name in STATE_EVENT_TYPES {
        if let Some(t) = EventType::from_name(name) {
            set.add(t);
        }
    }
    for t in extra {
        set.add(*t);
    }
    let mut any_all = false;
    for r in rules.rules().iter().filter(|r| r.enabled) {
        if r.event_types.is_all() {
            any_all = true;
            continue;
        }
        for t in r.event_types.iter() {
            set.add(t);
        }
    }
    if any_all {
        set.union(&InterestSet::all_decoded());
    }
    set
}

/// Counters of the hot path, read by the metrics module.
#[derive(Debug, Clone)]
pub struct EngineStats {
    pub events: u64,
    pub decode_errors: u64,
    /// Events by `EventType::index()`.
    pub by_type: Vec<u64>,
    pub alerts: u64,
    /// Matches by rule name (with priority and source for labels).
    pub rule_matches: HashMap<Arc<str>, RuleMatchCount>,
    /// Kernel timestamp -> rule evaluated latency, in nanoseconds, per event:
    /// buckets of LATENCY_BUCKETS_NS (cumulative counts are built at export).
    pub latency_buckets: Vec<u64>,
    pub latency_sum_ns: u64,
    /// Alerts held for container metadata.
    pub hold: HoldStats,
}

/// Alerts held while their container's metadata was looked up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HoldStats {
    /// Alerts held.
    pub held: u64,
    /// Released once the runtime answered (found, or not found).
    pub released_answered: u64,
    /// Released at `hold_max_wait` without metadata (sent with what is known).
    pub released_timeout: u64,
    /// Released early because `hold_max_alerts` were already waiting.
    pub released_overflow: u64,
    /// Waiting now.
    pub waiting: u64,
    /// Time held: per-bucket counts over [`HOLD_BUCKETS_S`] plus +Inf, and the sum.
    pub wait_buckets: Vec<u64>,
    pub wait_sum_s: f64,
}

/// Upper bounds (seconds) of the alert hold time histogram.
pub const HOLD_BUCKETS_S: [f64; 9] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

/// How alerts wait for container metadata (`saker.containers.hold_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldPolicy {
    /// Longest wait; zero disables holding.
    pub max_wait: Duration,
    /// Alerts waiting at most; beyond, the oldest goes out as it is.
    pub max_alerts: usize,
}

impl Default for HoldPolicy {
    fn default() -> Self {
        HoldPolicy {
            max_wait: Duration::from_secs(2),
            max_alerts: 10_000,
        }
    }
}

#[derive(Debug)]
struct Held {
    container: Arc<str>,
    since: Instant,
    alert: PendingAlert,
    etype: EventType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Release {
    Answered,
    Timeout,
    Overflow,
}

/// Alerts whose container metadata is being looked up, oldest first.
#[derive(Debug, Default)]
struct HeldAlerts {
    queue: VecDeque<Held>,
}

impl HeldAlerts {
    /// Sends the alerts `pick` selects, their container fields rendered from `state`.
    fn release(
        &mut self,
        state: &State,
        stats: &mut HoldStats,
        why: Release,
        mut pick: impl FnMut(&Held) -> bool,
        on_alert: &mut impl FnMut(Alert),
    ) {
        let now = Instant::now();
        let mut keep = VecDeque::with_capacity(self.queue.len());
        for h in self.queue.drain(..) {
            if !pick(&h) {
                keep.push_back(h);
                continue;
            }
            let entry = state.containers.get(&h.container);
            let fields = ContainerFields::new(&h.container, entry, h.alert.time_ns, h.etype);
            on_alert(h.alert.finish(&fields));
            match why {
                Release::Answered => stats.released_answered += 1,
                Release::Timeout => stats.released_timeout += 1,
                Release::Overflow => stats.released_overflow += 1,
            }
            let waited = now.saturating_duration_since(h.since).as_secs_f64();
            let i = HOLD_BUCKETS_S
                .iter()
                .position(|b| waited <= *b)
                .unwrap_or(HOLD_BUCKETS_S.len());
            if stats.wait_buckets.len() <= HOLD_BUCKETS_S.len() {
                stats.wait_buckets.resize(HOLD_BUCKETS_S.len() + 1, 0);
            }
            if let Some(b) = stats.wait_buckets.get_mut(i) {
                *b += 1;
            }
            stats.wait_sum_s += waited;
        }
        self.queue = keep;
        stats.waiting = self.queue.len() as u64;
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMatchCount {
    pub priority: Priority,
    pub source: Arc<str>,
    /// Matches in alert mode (sent to the outputs).
    pub count: u64,
    /// Matches in observe mode (counted and logged only).
    pub observed: u64,
}

/// Upper bounds (ns) of the event-latency histogram buckets.
pub const LATENCY_BUCKETS_NS: [u64; 12] = [
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    1_000_000_000,
];

impl Default for EngineStats {
    fn default() -> Self {
        EngineStats {
            events: 0,
            decode_errors: 0,
            by_type: vec![0; EventType::COUNT],
            alerts: 0,
            rule_matches: HashMap::new(),
            latency_buckets: vec![0; LATENCY_BUCKETS_NS.len() + 1],
            latency_sum_ns: 0,
            hold: HoldStats {
                wait_buckets: vec![0; HOLD_BUCKETS_S.len() + 1],
                ..HoldStats::default()
            },
        }
    }
}

/// Decoder, state and rules for one event stream.
#[derive(Debug)]
pub struct Engine {
    pub state: State,
    pub rules: RuleSet,
    run: RunInfo,
    prev_ts_ns: i64,
    pub stats: EngineStats,
    /// Measure latency against this clock (live runs); replays have none.
    latency_clock: Option<fn() -> i64>,
    hold: HoldPolicy,
    held: HeldAlerts,
    /// Where matches of rules in observe mode go (none: counted only).
    observe_log: Option<Arc<crate::observe::ObserveLog>>,
}

/// Wall clock now, ns since the Unix epoch.
pub fn wall_now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

impl Engine {
    pub fn new(state: State, rules: RuleSet, hostname: Arc<str>) -> Self {
        Engine {
            state,
            rules,
            run: RunInfo {
                hostname,
                start_ns: 0,
            },
            prev_ts_ns: 0,
            stats: EngineStats::default(),
            latency_clock: None,
            hold: HoldPolicy {
                max_wait: Duration::ZERO,
                max_alerts: 0,
            },
            held: HeldAlerts::default(),
            observe_log: None,
        }
    }

    /// Writes the matches of rules in observe mode to `log`.
    pub fn set_observe_log(&mut self, log: Arc<crate::observe::ObserveLog>) {
        self.observe_log = Some(log);
    }

    /// Holds alerts from containers whose metadata is being looked up
    /// (live runs with a container runtime); off by default.
    pub fn hold_alerts(&mut self, policy: HoldPolicy) {
        self.hold = policy;
    }

    /// Records a runtime's answer about a container and sends the alerts
    /// that were waiting for it.
    pub fn container_answer(
        &mut self,
        id: &str,
        result: LookupResult,
        on_alert: &mut impl FnMut(Alert),
    ) {
        self.state.containers.resolve(id, result);
        self.release_container(id, on_alert);
    }

    /// Sends the alerts held for container `id` (its metadata, or the
    /// runtime's "no such container", has arrived).
    fn release_container(&mut self, id: &str, on_alert: &mut impl FnMut(Alert)) {
        if self.held.queue.is_empty() {
            return;
        }
        self.held.release(
            &self.state,
            &mut self.stats.hold,
            Release::Answered,
            |h| &*h.container == id,
            on_alert,
        );
    }

    /// Records metadata learnt before the container's first process (a
    /// runtime event), and sends alerts that were waiting for it.
    pub fn container_prefill(
        &mut self,
        cgroup_id: &str,
        kind: crate::state::container::ContainerType,
        info: crate::state::container::ContainerInfo,
        on_alert: &mut impl FnMut(Alert),
    ) {
        self.state.containers.prefill(cgroup_id, kind, info);
        self.release_container(crate::state::container::short_id(cgroup_id), on_alert);
    }

    /// Sends the alerts that waited `max_wait` (with what is known), or all
    /// of them with `all` (shutdown).
    pub fn release_held(&mut self, all: bool, on_alert: &mut impl FnMut(Alert)) {
        if self.held.queue.is_empty() {
            return;
        }
        let now = Instant::now();
        let max = self.hold.max_wait;
        self.held.release(
            &self.state,
            &mut self.stats.hold,
            Release::Timeout,
            |h| all || now.saturating_duration_since(h.since) >= max,
            on_alert,
        );
    }

    /// Records, per event, the delay from the kernel timestamp to evaluation.
    pub fn measure_latency(&mut self) {
        self.latency_clock = Some(wall_now_ns);
    }

    pub fn hostname(&self) -> &Arc<str> {
        &self.run.hostname
    }

    /// Decodes and processes one kernel record.
    pub fn process_record(
        &mut self,
        raw: &[u8],
        on_alert: &mut impl FnMut(Alert),
    ) -> Result<(), DecodeError> {
        match event::decode(raw) {
            Ok(ev) => {
                self.process_event(&ev, on_alert);
                Ok(())
            }
            Err(e) => {
                self.stats.decode_errors += 1;
                Err(e)
            }
        }
    }

    /// Applies one event to the state, evaluates the rules, emits alerts.
    pub fn process_event(&mut self, ev: &Event, on_alert: &mut impl FnMut(Alert)) {
        self.stats.events += 1;
        if let Some(c) = self.stats.by_type.get_mut(ev.etype.index()) {
            *c += 1;
        }
        if self.run.start_ns == 0 {
            self.run.start_ns = ev.ts_wall_ns;
        }
        self.state.apply(ev);
        let ctx = EventContext::new(
            ev,
            &self.state,
            self.stats.events,
            self.prev_ts_ns,
            &self.run,
        );
        let stats = &mut self.stats;
        let held = &mut self.held;
        let hold = self.hold;
        let state = &self.state;
        let observe_log = self.observe_log.as_deref();
        self.rules.evaluate(&ctx, |rule| {
            let count = stats
                .rule_matches
                .entry(rule.name.clone())
                .or_insert_with(|| RuleMatchCount {
                    priority: rule.priority,
                    source: rule.source.clone(),
                    count: 0,
                    observed: 0,
                });
            // Observed matches never reach the outputs: evaluated, counted,
            // logged (not held for container metadata: the log takes what
            // is known now).
            if rule.mode == crate::rules::RuleMode::Observe {
                count.observed += 1;
                if let Some(log) = observe_log {
                    log.record(&rule.alert(&ctx.for_output(), &self.run.hostname));
                }
                return;
            }
            count.count += 1;
            stats.alerts += 1;
            // Alerts from a container whose metadata is on its way wait for
            // it (bounded), so that they name the pod and image. Asked per
            // match, not per event: the table is not touched on the hot path.
            let pending = ctx.proc.filter(|p| {
                hold.max_wait > Duration::ZERO && state.containers.is_pending(&p.container_id)
            });
            match pending {
                Some(p) => {
                    if held.queue.len() >= hold.max_alerts.max(1) {
                        held.release(
                            state,
                            &mut stats.hold,
                            Release::Overflow,
                            {
                                let mut first = true;
                                move |_| std::mem::replace(&mut first, false)
                            },
                            on_alert,
                        );
                    }
                    let alert = rule.pending_alert(
                        &ctx.for_output(),
                        &self.run.hostname,
                        is_container_metadata,
                    );
                    held.queue.push_back(Held {
                        container: p.container_id.clone(),
                        since: Instant::now(),
                        alert,
                        etype: ev.etype,
                    });
                    stats.hold.held += 1;
                    stats.hold.waiting = held.queue.len() as u64;
                }
                None => on_alert(rule.alert(&ctx.for_output(), &self.run.hostname)),
            }
        });
        drop(ctx);
        if let Some(now) = self.latency_clock {
            let lat = u64::try_from(now() - ev.ts_wall_ns).unwrap_or(0);
            let i = LATENCY_BUCKETS_NS
                .iter()
                .position(|b| lat <= *b)
                .unwrap_or(LATENCY_BUCKETS_NS.len());
            if let Some(b) = self.stats.latency_buckets.get_mut(i) {
                *b += 1;
            }
            self.stats.latency_sum_ns += lat;
        }
        self.prev_ts_ns = ev.ts_wall_ns;
        self.state.finish(ev);
    }
}

/// Applies a minimum priority and Falco's `rules:` enable/disable selection.
pub fn select_rules(
    rules: &mut RuleSet,
    min_priority: Priority,
    selection: &[crate::config::RuleSelection],
) -> Result<(), globset::Error> {
    use crate::config::RuleSelection;
    let mut changes: Vec<(String, bool)> = Vec::new();
    for r in rules.rules() {
        if r.enabled && !r.priority.at_least(min_priority) {
            changes.push((r.name.to_string(), false));
        }
    }
    for (name, en) in changes.drain(..) {
        rules.set_enabled(&name, en);
    }
    for sel in selection {
        let (s, enable) = match sel {
            RuleSelection::Enable(s) => (s, true),
            RuleSelection::Disable(s) => (s, false),
        };
        let matcher = match &s.rule {
            Some(pat) => Some(globset::Glob::new(pat)?.compile_matcher()),
            None => None,
        };
        for r in rules.rules() {
            let hit = match (&matcher, &s.tag) {
                (Some(m), _) => m.is_match(&*r.name),
                (None, Some(tag)) => r.tags.iter().any(|t| &**t == tag),
                (None, None) => false,
            };
            // Enabling never lifts a rule below the minimum priority.
            if hit && (!enable || r.priority.at_least(min_priority)) {
                changes.push((r.name.to_string(), enable));
            }
        }
        for (name, en) in changes.drain(..) {
            rules.set_enabled(&name, en);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Detail, exec_info_fixture};
    use crate::rules::{AppendOutput, RuleSource, load_sources, suggested_output_text};
    use crate::state::container::{ContainerInfo, ContainerLimits, ContainerTable, PodInfo};
    use crate::state::users::UserDb;

    const A: &str = "3f4e1b2c9d8a7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";
    const B: &str = "aaaa1b2c9d8a7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";

    fn exec_in(tgid: u32, cgroup: &str) -> Event {
        Event {
            etype: EventType::from_name("execve").unwrap(),
            ts_boot_ns: 1_000,
            ts_wall_ns: 1_700_000_000_000_000_000,
            tgid,
            tid: tgid,
            ppid: 1,
            uid: 0,
            gid: 0,
            loginuid: u32::MAX,
            cgroup_id: 0,
            cpu: 0,
            comm: "nc".into(),
            ret: 0,
            truncated: false,
            read_failed: false,
            detail: Detail::Exec({
                let mut x = exec_info_fixture(&["nc", "-e", "/bin/sh"], "/bin/nc", "/", cgroup);
                x.old_tid = tgid;
                x
            }),
        }
    }

    /// Whatever the rules ask, the kernel sends what the fd table needs:
    /// fcntl among it (F_DUPFD copies, F_SETFD close-on-exec), as Falco's
    /// state set includes every EF_MODIFIES_STATE event.
    #[test]
    fn state_tracking_always_gets_fd_copies() {
        let out = load_sources(&[RuleSource {
            name: "t.yaml".into(),
            text: "- rule: r\n  desc: t\n  condition: evt.type=ptrace\n  output: x\n  priority: WARNING\n".into(),
        }]);
        let set = interest_for(&out.ruleset, &[]);
        for name in ["fcntl", "dup", "dup2", "dup3", "ptrace"] {
            let nr = EventType::from_name(name).unwrap().syscall_nr().unwrap();
            assert!(set.contains_syscall(nr), "{name}");
        }
    }

    fn engine(policy: HoldPolicy) -> Engine {
        let mut state = State::detached(UserDb::from_text("", ""));
        state.containers = ContainerTable::new(ContainerLimits::default(), true);
        let mut out = load_sources(&[RuleSource {
            name: "t.yaml".into(),
            text: "- rule: Exec in container\n  desc: t\n  condition: evt.type=execve and container.id != host\n  output: exec %proc.name in %container.name\n  priority: WARNING\n".into(),
        }]);
        assert!(!out.has_errors(), "{:?}", out.diagnostics);
        out.ruleset
            .append_output(&[AppendOutput {
                text: suggested_output_text(),
                ..AppendOutput::default()
            }])
            .unwrap();
        let mut e = Engine::new(state, out.ruleset, Arc::from("node-1"));
        e.hold_alerts(policy);
        e
    }

    fn field<'a>(a: &'a Alert, name: &str) -> &'a crate::alert::FieldOutput {
        &a.output_fields
            .iter()
            .find(|(k, _)| &**k == name)
            .unwrap()
            .1
    }

    fn found(name: &str, pod: &str) -> LookupResult {
        LookupResult::Found(Box::new(ContainerInfo {
            name: name.into(),
            image_repository: "registry.example/shop".into(),
            image_tag: "1.4".into(),
            pod: Some(PodInfo {
                name: pod.into(),
                namespace: "payments".into(),
                ..PodInfo::default()
            }),
            ..ContainerInfo::default()
        }))
    }

    #[test]
    fn alerts_wait_for_container_metadata_and_then_name_the_pod() {
        use crate::alert::FieldOutput as F;
        let mut e = engine(HoldPolicy::default());
        let mut alerts = Vec::new();
        e.process_event(
            &exec_in(100, &format!("/kubepods/besteffort/pod1/{A}")),
            &mut |a| alerts.push(a),
        );
        assert!(alerts.is_empty(), "held while the lookup runs");
        assert_eq!(e.stats.hold.waiting, 1);
        let reqs = e.state.containers.take_requests();
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].cgroup_id, A);

        e.container_answer(&A[..12], found("web", "checkout-7d9f"), &mut |a| {
            alerts.push(a)
        });
        assert_eq!(alerts.len(), 1);
        let a = &alerts[0];
        assert!(a.output.contains("exec nc in web"), "{}", a.output);
        assert!(
            a.output.ends_with(&format!(
                "container_id={} container_name=web container_image_repository=registry.example/shop container_image_tag=1.4 k8s_pod_name=checkout-7d9f k8s_ns_name=payments",
                &A[..12]
            )),
            "{}",
            a.output
        );
        assert_eq!(field(a, "k8s.pod.name"), &F::Str("checkout-7d9f".into()));
        assert_eq!(field(a, "container.id"), &F::Str(A[..12].into()));
        assert_eq!(e.stats.hold.released_answered, 1);
        assert_eq!(e.stats.hold.waiting, 0);

        // Known container: no wait.
        e.process_event(
            &exec_in(101, &format!("/kubepods/besteffort/pod1/{A}")),
            &mut |a| alerts.push(a),
        );
        assert_eq!(alerts.len(), 2);
        assert_eq!(e.stats.hold.held, 1);
    }

    #[test]
    fn held_alerts_go_out_without_metadata_after_the_bound() {
        use crate::alert::FieldOutput as F;
        let mut e = engine(HoldPolicy {
            max_wait: Duration::from_millis(1),
            max_alerts: 1,
        });
        let mut alerts = Vec::new();
        e.process_event(&exec_in(100, &format!("/docker/{A}")), &mut |a| {
            alerts.push(a)
        });
        // A second held alert pushes the first out (max_alerts 1).
        e.process_event(&exec_in(200, &format!("/docker/{B}")), &mut |a| {
            alerts.push(a)
        });
        assert_eq!(alerts.len(), 1);
        assert_eq!(e.stats.hold.released_overflow, 1);
        std::thread::sleep(Duration::from_millis(5));
        e.release_held(false, &mut |a| alerts.push(a));
        assert_eq!(alerts.len(), 2);
        assert_eq!(e.stats.hold.released_timeout, 1);
        for a in &alerts {
            assert!(
                matches!(field(a, "container.id"), F::Str(_)),
                "the id is always known"
            );
            assert_eq!(field(a, "container.name"), &F::Missing);
            assert!(a.output.contains("container_name=<NA>"), "{}", a.output);
        }
        // A late answer finds nothing held.
        e.container_answer(&A[..12], found("web", "p"), &mut |a| alerts.push(a));
        assert_eq!(alerts.len(), 2);
    }
}
