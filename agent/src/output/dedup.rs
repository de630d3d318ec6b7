//! Folding identical alerts (same rule, same output fields) seen within a
//! window into one alert that carries how many times it was seen.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::alert::{Alert, FieldOutput};

/// Output field added to a deduplicated alert: how many identical alerts it
/// stands for (1 when it had no duplicate).
pub const DEDUP_COUNT_FIELD: &str = "saker.dedup_count";

/// Identity of an alert for dedup: rule and output fields, not time or text
/// (the text embeds the time).
#[derive(Debug, Clone)]
struct Key(Arc<Alert>);

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.0.rule == other.0.rule && self.0.output_fields == other.0.output_fields
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.rule.hash(h);
        for (name, value) in &self.0.output_fields {
            name.hash(h);
            match value {
                FieldOutput::Str(s) => (0u8, s).hash(h),
                FieldOutput::U64(v) => (1u8, v).hash(h),
                FieldOutput::I64(v) => (2u8, v).hash(h),
                FieldOutput::Bool(v) => (3u8, v).hash(h),
                FieldOutput::Missing => 4u8.hash(h),
            }
        }
    }
}

/// Holds each new alert for the window, counting identical ones, then
/// releases it once. Alerts leave in the order they first arrived, since all
/// windows have the same length.
#[derive(Debug)]
pub(crate) struct Deduplicator {
    window: Duration,
    counts: HashMap<Key, u64>,
    order: VecDeque<(Instant, Key)>,
}

impl Deduplicator {
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            window,
            counts: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Takes an alert; returns false when it was folded into a pending one.
    pub(crate) fn offer(&mut self, alert: Arc<Alert>, now: Instant) -> bool {
        let key = Key(alert);
        if let Some(n) = self.counts.get_mut(&key) {
            *n += 1;
            return false;
        }
        self.counts.insert(key.clone(), 1);
        self.order.push_back((now + self.window, key));
        true
    }

    /// When the oldest pending alert is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.order.front().map(|(t, _)| *t)
    }

    /// Alerts whose window has closed, with their count field.
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<Arc<Alert>> {
        let mut out = Vec::new();
        while let Some((due, _)) = self.order.front() {
            if *due > now {
                break;
            }
            if let Some((_, key)) = self.order.pop_front() {
                out.push(self.release(key));
            }
        }
        out
    }

    /// Everything pending, windows closed early (shutdown).
    pub(crate) fn take_all(&mut self) -> Vec<Arc<Alert>> {
        let keys: Vec<Key> = self.order.drain(..).map(|(_, k)| k).collect();
        keys.into_iter().map(|k| self.release(k)).collect()
    }

    fn release(&mut self, key: Key) -> Arc<Alert> {
        let count = self.counts.remove(&key).unwrap_or(1);
        let mut alert = Alert::clone(&key.0);
        alert
            .output_fields
            .push((Arc::from(DEDUP_COUNT_FIELD), FieldOutput::U64(count)));
        // Text outputs carry no output_fields: say it in the line too.
        alert
            .output
            .push_str(&format!(" {DEDUP_COUNT_FIELD}={count}"));
        Arc::new(alert)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Priority;

    fn alert(rule: &str, file: &str, time_ns: i64) -> Arc<Alert> {
        Arc::new(Alert {
            time_ns,
            rule: Arc::from(rule),
            priority: Priority::Warning,
            source: Arc::from("syscall"),
            tags: Arc::from(Vec::<Arc<str>>::new()),
            hostname: Arc::from("h"),
            output: format!("{time_ns}: Warning {file}"),
            output_fields: vec![(Arc::from("fd.name"), FieldOutput::Str(file.into()))],
        })
    }

    fn count(a: &Alert) -> Option<&FieldOutput> {
        a.output_fields
            .iter()
            .find(|(k, _)| k.as_ref() == DEDUP_COUNT_FIELD)
            .map(|(_, v)| v)
    }

    #[test]
    fn identical_alerts_in_window_are_sent_once_with_count() {
        let t0 = Instant::now();
        let mut d = Deduplicator::new(Duration::from_secs(10));
        assert!(d.offer(alert("r", "/etc/shadow", 1), t0));
        assert!(!d.offer(alert("r", "/etc/shadow", 2), t0));
        assert!(d.offer(alert("r", "/etc/passwd", 3), t0));
        assert!(!d.offer(alert("r", "/etc/shadow", 4), t0));
        assert!(d.offer(alert("other", "/etc/shadow", 5), t0));
        assert!(d.take_due(t0 + Duration::from_secs(9)).is_empty());
        let out = d.take_due(t0 + Duration::from_secs(10));
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].time_ns, 1, "first occurrence is kept, in order");
        assert_eq!(count(&out[0]), Some(&FieldOutput::U64(3)));
        assert!(out[0].output.ends_with("saker.dedup_count=3"));
        assert_eq!(count(&out[1]), Some(&FieldOutput::U64(1)));
        assert_eq!(out[2].rule.as_ref(), "other");
        // The window is over: the same alert starts a new one.
        assert!(d.offer(alert("r", "/etc/shadow", 6), t0 + Duration::from_secs(11)));
        assert_eq!(d.take_all().len(), 1);
        assert!(d.next_due().is_none());
    }
}
