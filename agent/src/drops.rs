//! Kernel drop detection: Falco's `syscall_event_drops`. Once per interval the
//! agent compares the kernel counters with the previous reading; when the
//! share of lost events exceeds the threshold it logs, raises a rate-limited
//! `Saker internal: syscall event drop` alert, or exits, as configured.

use std::sync::Arc;
use std::time::Instant;

use crate::alert::{Alert, FieldOutput, Priority, format_clock_nanos};
use crate::config::{DropActions, DropPolicy};
use crate::probe::KernelCounters;

pub const DROP_RULE: &str = "Saker internal: syscall event drop";

/// What one interval's check decided.
#[derive(Debug, Clone, PartialEq)]
pub struct DropReport {
    pub dropped: u64,
    pub dropped_ring_full: u64,
    pub dropped_no_scratch: u64,
    pub emitted: u64,
    pub ratio: f64,
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
        let DropActions { log, alert, exit } = self.policy.actions;
        let alert = if alert && self.take_token(now) {
            let text = format!(
                "Saker internal: syscall event drop. {dropped} system calls dropped in last interval."
            );
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
        }
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
            m.check(&counters(0, 0), t0, 0).is_none(),
            "first reading is the baseline"
        );
        let r = m
            .check(&counters(800, 200), t0 + Duration::from_secs(1), 5)
            .unwrap();
        assert_eq!(r.dropped, 200);
        assert!((r.ratio - 0.2).abs() < 1e-9);
        let a = r.alert.unwrap();
        assert_eq!(&*a.rule, DROP_RULE);
        assert!(a.output.contains("200 system calls dropped"));
        // The next second drops again: logged, but the alert is rate limited.
        let r = m
            .check(&counters(1600, 400), t0 + Duration::from_secs(2), 6)
            .unwrap();
        assert!(r.log && r.alert.is_none());
        // After 30 s a token is back.
        let r = m
            .check(&counters(2400, 600), t0 + Duration::from_secs(33), 7)
            .unwrap();
        assert!(r.alert.is_some());
    }

    #[test]
    fn drops_below_threshold_are_not_reported() {
        let mut m = DropMonitor::new(policy(0.1), Arc::from("h"));
        let t0 = Instant::now();
        m.check(&counters(0, 0), t0, 0);
        assert!(
            m.check(&counters(1000, 5), t0 + Duration::from_secs(1), 0)
                .is_none()
        );
        assert!(
            m.check(&counters(2000, 5), t0 + Duration::from_secs(2), 0)
                .is_none()
        );
    }
}
