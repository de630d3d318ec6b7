//! Per-output counters. Plain atomics, so the hot path and the output tasks can
//! update them without locks and the metrics code can read them at scrape time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counters of one output. Monotonic unless marked as a gauge.
///
/// An alert accepted by `Outputs::send` for this output ends in exactly one of
/// `sent` or one of the `dropped_*` counters (or is still in the queue, the
/// dedup window or the spool).
#[derive(Debug, Default)]
pub struct OutputStats {
    /// Alerts delivered: HTTP 2xx, written to the stream or file, written to
    /// the program's stdin.
    pub sent: AtomicU64,
    /// Delivery attempts that failed (an alert retried three times before
    /// succeeding counts 3 here).
    pub failed: AtomicU64,
    /// Attempts made after a failed one.
    pub retried: AtomicU64,
    /// Alerts written to the on-disk spool.
    pub spooled: AtomicU64,
    /// Duplicates folded into an earlier alert by dedup (not delivered on
    /// their own by design; not a drop).
    pub deduplicated: AtomicU64,
    /// Dropped because the in-memory queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Dropped because the spool had reached `spool.max_bytes`.
    pub dropped_spool_full: AtomicU64,
    /// Dropped after a permanent failure (HTTP 4xx other than 408/429) or
    /// after `retry.max_attempts` attempts.
    pub dropped_undeliverable: AtomicU64,
    /// Dropped at shutdown: not delivered by the deadline and not spooled,
    /// or sent after shutdown began.
    pub dropped_shutdown: AtomicU64,
    /// Gauge: alerts in the in-memory queue.
    pub queue_depth: AtomicU64,
    /// Gauge: alerts in the spool not yet delivered.
    pub spool_pending: AtomicU64,
    /// Gauge: bytes the spool occupies on disk.
    pub spool_bytes: AtomicU64,
}

/// A point-in-time copy of [`OutputStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputStatsSnapshot {
    pub sent: u64,
    pub failed: u64,
    pub retried: u64,
    pub spooled: u64,
    pub deduplicated: u64,
    pub dropped_queue_full: u64,
    pub dropped_spool_full: u64,
    pub dropped_undeliverable: u64,
    pub dropped_shutdown: u64,
    pub queue_depth: u64,
    pub spool_pending: u64,
    pub spool_bytes: u64,
}

impl OutputStatsSnapshot {
    /// All drops, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full
            + self.dropped_spool_full
            + self.dropped_undeliverable
            + self.dropped_shutdown
    }
}

impl OutputStats {
    pub fn snapshot(&self) -> OutputStatsSnapshot {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        OutputStatsSnapshot {
            sent: r(&self.sent),
            failed: r(&self.failed),
            retried: r(&self.retried),
            spooled: r(&self.spooled),
            deduplicated: r(&self.deduplicated),
            dropped_queue_full: r(&self.dropped_queue_full),
            dropped_spool_full: r(&self.dropped_spool_full),
            dropped_undeliverable: r(&self.dropped_undeliverable),
            dropped_shutdown: r(&self.dropped_shutdown),
            queue_depth: r(&self.queue_depth),
            spool_pending: r(&self.spool_pending),
            spool_bytes: r(&self.spool_bytes),
        }
    }

    /// All drops, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.snapshot().dropped()
    }
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

pub(crate) fn set(c: &AtomicU64, v: u64) {
    c.store(v, Ordering::Relaxed);
}

pub(crate) fn dec(c: &AtomicU64) {
    // Saturating: a gauge must never wrap to 2^64 on a racy read-modify.
    let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some(v.saturating_sub(1))
    });
}

/// Logs a recurring problem at most once per interval, with how many times it
/// happened since the last line. Used for drops and delivery failures, which
/// come in bursts: every one is counted, not every one is logged.
#[derive(Debug)]
pub(crate) struct RateLimitedLog {
    start: Instant,
    interval_ms: u64,
    /// Milliseconds since `start` of the last line, plus one (0 = never).
    last_ms: AtomicU64,
    since_last: AtomicU64,
}

impl RateLimitedLog {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            start: Instant::now(),
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            last_ms: AtomicU64::new(0),
            since_last: AtomicU64::new(0),
        }
    }

    /// Records one occurrence; returns `Some(n)` when a line should be logged
    /// now, `n` being the occurrences it covers.
    pub(crate) fn hit(&self) -> Option<u64> {
        self.since_last.fetch_add(1, Ordering::Relaxed);
        let now = u64::try_from(self.start.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let last = self.last_ms.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < self.interval_ms {
            return None;
        }
        if self
            .last_ms
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        Some(self.since_last.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limited_log_reports_first_hit_then_batches() {
        let log = RateLimitedLog::new(Duration::from_secs(3600));
        assert_eq!(log.hit(), Some(1));
        for _ in 0..10 {
            assert_eq!(log.hit(), None);
        }
        let log = RateLimitedLog::new(Duration::ZERO);
        assert_eq!(log.hit(), Some(1));
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(log.hit(), Some(1));
    }

    #[test]
    fn gauge_decrement_saturates() {
        let s = OutputStats::default();
        dec(&s.queue_depth);
        assert_eq!(s.snapshot().queue_depth, 0);
        bump(&s.dropped_queue_full);
        bump(&s.dropped_shutdown);
        assert_eq!(s.dropped(), 2);
    }
}
