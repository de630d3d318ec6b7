//! Kernel drop detection: Falco's `syscall_event_drops`. Once per interval the
//! agent compares the kernel counters with the previous reading; when the
//! share of lost events exceeds the threshold it logs, raises a rate-limited
//! `Saker internal: syscall event drop` alert, or exits, as configured.

use std::sync::Arc;
use std::time::Instant;

use crate::alert::{Alert, FieldOutput, Priority, format_clock_nanos};
use crate::config::{DropActions, DropPolicy};
use crate::event::EventType;
use crate::probe::{KernelCounters, by_event_type, slot_event_types};
use crate::rules::RuleSet;

/// Enabled rules named in the alert at most (the count is always given).
const MAX_BLIND_RULES_LISTED: usize = 20;

pub const DROP_RULE: &str = "Saker internal: syscall event drop";

/// What one interval's check decided.
#[derive(Debug, Clone, PartialEq)]
pub struct DropReport {
    pub dropped: u64,
    pub dropped_ring_full: u64,
    pub dropped_no_scratch: u64,
    pub emitted: u64,
    pub ratio: f64,
    /// Records lost in the interval by event type, most first.
    pub by_type: Vec<(EventType, u64)>,
    /// Enabled rules that watch a lost event type: blind for the interval.
    pub blind_rules: Vec<Arc<str>>,
    pub log: bool,
    pub alert: Option<Alert>,
    pub exit: bool,
}

#[derive(Debug)]
pub struct DropMonitor {
    policy: DropPolicy,
    last: Option<KernelCounters>,
    tokens: f64,
    last_refill: Option<Instant>,
    hostname: Arc<str>,
    rule: Arc<str>,
    source: Arc<str>,
    tags: Arc<[Arc<str>]>,
}

impl DropMonitor {
    pub fn new(policy: DropPolicy, hostname: Arc<str>) -> Self {
        let burst = f64::from(policy.max_burst);
        DropMonitor {
            policy,
            last: None,
            tokens: burst,
            last_refill: None,
            hostname,
            rule: Arc::from(DROP_RULE),
            source: Arc::from("internal"),
            tags: Arc::from(Vec::<Arc<str>>::new()),
        }
    }

    fn take_token(&mut self, now: Instant) -> bool {
        if let Some(t) = self.last_refill {
            let elapsed = now.duration_since(t).as_secs_f64();
            self.tokens =
                (self.tokens + elapsed * self.policy.rate).min(f64::from(self.policy.max_burst));
        }
        self.last_refill = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Compares `now_counters` with the previous reading. `None` when there
    /// were no drops above the threshold.
    pub fn check(
        &mut self,
        now_counters: &KernelCounters,
        now: Instant,
        wall_ns: i64,
        rules: &RuleSet,
    ) -> Option<DropReport> {
        let prev = self.last.replace(now_counters.clone())?;
        let d = |a: u64, b: u64| a.saturating_sub(b);
        let full = d(now_counters.total.dropped_full, prev.total.dropped_full);
        let scratch = d(now_counters.total.scratch_busy, prev.total.scratch_busy);
        let emitted = d(now_counters.total.emitted, prev.total.emitted);
        let dropped = full + scratch;
        if dropped == 0 {
            return None;
        }
        let ratio = dropped as f64 / (dropped + emitted) as f64;
        if ratio < self.policy.threshold {
            return None;
        }
        let by_slot: Vec<(u32, u64)> = now_counters
            .dropped_by_slot
            .iter()
            .enumerate()
            .map(|(slot, n)| {
                let before = prev.dropped_by_slot.get(slot).copied().unwrap_or(0);
                (slot as u32, d(*n, before))
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        let by_type = by_event_type(by_slot.iter().copied());
        let lost: Vec<EventType> = by_slot
            .iter()
            .flat_map(|(slot, _)| slot_event_types(*slot))
            .collect();
        let blind_rules: Vec<Arc<str>> = rules
            .rules()
            .iter()
            .filter(|r| r.enabled)
            .filter(|r| r.event_types.is_all() || lost.iter().any(|t| r.event_types.contains(*t)))
            .map(|r| r.name.clone())
            .collect();
        let DropActions { log, alert, exit } = self.policy.actions;
        let alert = if alert && self.take_token(now) {
            let types = by_type
                .iter()
                .map(|(t, n)| format!("{}={n}", t.name()))
                .collect::<Vec<_>>()
                .join(",");
            let listed = blind_rules
                .iter()
                .take(MAX_BLIND_RULES_LISTED)
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let more = blind_rules.len().saturating_sub(MAX_BLIND_RULES_LISTED);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            let text = format!(
                "Saker internal: syscall event drop. {dropped} system calls dropped in last interval. \
                 Lost event types: {}. Rules blind meanwhile ({}): {}{more}.",
                if types.is_empty() { "unknown" } else { &types },
                blind_rules.len(),
                if listed.is_empty() { "none" } else { &listed },
            );
            let text = crate::rules::format::escape_controls(text);
            Some(Alert {
                time_ns: wall_ns,
                rule: self.rule.clone(),
                priority: Priority::Debug,
                source: self.source.clone(),
                tags: self.tags.clone(),
                hostname: self.hostname.clone(),
                output: format!("{}: Debug {text}", format_clock_nanos(wall_ns)),
                output_fields: vec![
                    (Arc::from("ebpf_enabled"), FieldOutput::Str("1".into())),
                    (Arc::from("n_drops"), FieldOutput::U64(dropped)),
                    (Arc::from("n_drops_buffer_total"), FieldOutput::U64(full)),
                    (Arc::from("n_drops_scratch"), FieldOutput::U64(scratch)),
                    (
                        Arc::from("n_drops_pct"),
                        FieldOutput::Str(format!("{:.4}", ratio * 100.0)),
                    ),
                    (Arc::from("n_evts"), FieldOutput::U64(emitted + dropped)),
                    (Arc::from("evt_types_dropped"), FieldOutput::Str(types)),
                    (
                        Arc::from("n_rules_blind"),
                        FieldOutput::U64(blind_rules.len() as u64),
                    ),
                    (
                        Arc::from("rules_blind"),
                        FieldOutput::Str(
                            blind_rules
                                .iter()
                                .map(|r| r.to_string())
                                .collect::<Vec<_>>()
                                .join(","),
                        ),
                    ),
                ],
            })
        } else {
            None
        };
        Some(DropReport {
            dropped,
            dropped_ring_full: full,
            dropped_no_scratch: scratch,
            emitted,
            ratio,
            by_type,
            blind_rules,
            log,
            alert,
            exit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use saker_ebpf::abi::Counters;
    use std::time::Duration;

    fn counters(emitted: u64, full: u64) -> KernelCounters {
        KernelCounters {
            total: Counters {
                emitted,
                dropped_full: full,
                ..Default::default()
            },
            per_cpu: Vec::new(),
            dropped_by_slot: Vec::new(),
            filtered_by_slot: Vec::new(),
        }
    }

    fn no_rules() -> RuleSet {
        RuleSet::default()
    }

    fn policy(threshold: f64) -> DropPolicy {
        DropPolicy {
            threshold,
            actions: DropActions {
                log: true,
                alert: true,
                exit: false,
            },
            rate: 1.0 / 30.0,
            max_burst: 1,
        }
    }

    #[test]
    fn alerts_on_drops_above_threshold_rate_limited() {
        let mut m = DropMonitor::new(policy(0.1), Arc::from("h"));
        let t0 = Instant::now();
        assert!(
            m.check(&counters(0, 0), t0, 0, &no_rules()).is_none(),
            "first reading is the baseline"
        );
        let r = m
            .check(
                &counters(800, 200),
                t0 + Duration::from_secs(1),
                5,
                &no_rules(),
            )
            .unwrap();
        assert_eq!(r.dropped, 200);
        assert!((r.ratio - 0.2).abs() < 1e-9);
        let a = r.alert.unwrap();
        assert_eq!(&*a.rule, DROP_RULE);
        assert!(a.output.contains("200 system calls dropped"));
        // The next second drops again: logged, but the alert is rate limited.
        let r = m
            .check(
                &counters(1600, 400),
                t0 + Duration::from_secs(2),
                6,
                &no_rules(),
            )
            .unwrap();
        assert!(r.log && r.alert.is_none());
        // After 30 s a token is back.
        let r = m
            .check(
                &counters(2400, 600),
                t0 + Duration::from_secs(33),
                7,
                &no_rules(),
            )
            .unwrap();
        assert!(r.alert.is_some());
    }

    #[test]
    fn the_alert_names_the_lost_event_types_and_the_rules_they_blinded() {
        let rules = crate::rules::load_sources(&[crate::rules::RuleSource {
            name: "t.yaml".into(),
            text: "- rule: Opens\n  desc: t\n  condition: evt.type in (open, openat)\n  output: x\n  priority: WARNING\n\
                   - rule: Shells\n  desc: t\n  condition: evt.type = execve and proc.name = bash\n  output: x\n  priority: WARNING\n\
                   - rule: Connects\n  desc: t\n  condition: evt.type = connect\n  output: x\n  priority: WARNING\n"
                .into(),
        }])
        .ruleset;
        let openat = EventType::from_name("openat")
            .unwrap()
            .syscall_nr()
            .unwrap();
        let mut m = DropMonitor::new(policy(0.1), Arc::from("h"));
        let t0 = Instant::now();
        let mut c = counters(0, 0);
        c.dropped_by_slot = vec![0; saker_ebpf::abi::DROP_SLOTS as usize];
        m.check(&c, t0, 0, &rules);
        c.total.emitted = 100;
        c.total.dropped_full = 70;
        c.dropped_by_slot[openat as usize] = 50;
        c.dropped_by_slot[saker_ebpf::abi::INTEREST_EXEC as usize] = 15;
        // A failed execve call: the same event type as the exec records,
        // counted once (a metric label or a list naming it twice is wrong).
        let execve = EventType::from_name("execve")
            .unwrap()
            .syscall_nr()
            .unwrap();
        c.dropped_by_slot[execve as usize] = 5;
        let r = m.check(&c, t0 + Duration::from_secs(1), 0, &rules).unwrap();
        let names: Vec<(&str, u64)> = r.by_type.iter().map(|(t, n)| (t.name(), *n)).collect();
        assert_eq!(names, vec![("openat", 50), ("execve", 20)]);
        assert_eq!(c.dropped_by_type(), r.by_type, "the metric's figures");
        let blind: Vec<&str> = r.blind_rules.iter().map(|r| &**r).collect();
        assert_eq!(blind.len(), 2);
        assert!(
            blind.contains(&"Opens") && blind.contains(&"Shells"),
            "{blind:?}"
        );
        let a = r.alert.unwrap();
        assert!(
            a.output.contains("Lost event types: openat=50,execve=20."),
            "{}",
            a.output
        );
        assert!(
            a.output.contains("Rules blind meanwhile (2)"),
            "{}",
            a.output
        );
        assert!(!a.output.contains("Connects"));
    }

    #[test]
    fn drops_below_threshold_are_not_reported() {
        let mut m = DropMonitor::new(policy(0.1), Arc::from("h"));
        let t0 = Instant::now();
        m.check(&counters(0, 0), t0, 0, &no_rules());
        assert!(
            m.check(
                &counters(1000, 5),
                t0 + Duration::from_secs(1),
                0,
                &no_rules()
            )
            .is_none()
        );
        assert!(
            m.check(
                &counters(2000, 5),
                t0 + Duration::from_secs(2),
                0,
                &no_rules()
            )
            .is_none()
        );
    }
}
