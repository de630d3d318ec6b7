//! Exponential backoff with jitter between delivery attempts.

use std::time::Duration;

use super::config::RetryPolicy;

/// The delays of one alert's retries: `initial * 2^n`, capped at `max`, each
/// drawn uniformly from its upper half ("equal jitter"), so that many agents
/// retrying against one receiver spread out while each still backs off.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    policy: RetryPolicy,
    failures: u32,
}

impl Backoff {
    pub(crate) fn new(policy: RetryPolicy) -> Self {
        Self {
            policy,
            failures: 0,
        }
    }

    /// Records a failed attempt; `None` when the policy allows no more
    /// attempts, else the delay before the next one.
    pub(crate) fn next_delay(&mut self) -> Option<Duration> {
        self.failures = self.failures.saturating_add(1);
        if let Some(max) = self.policy.max_attempts
            && self.failures >= max
        {
            return None;
        }
        let exp = self.failures.saturating_sub(1).min(30);
        let ceiling = self
            .policy
            .initial_backoff
            .saturating_mul(1u32 << exp)
            .min(self.policy.max_backoff);
        let half = ceiling / 2;
        let jitter_ns = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        Some(half + Duration::from_nanos(fastrand::u64(0..=jitter_ns)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_and_caps() {
        let mut b = Backoff::new(RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            max_attempts: None,
        });
        let expect_ceiling = [100u64, 200, 400, 800, 1000, 1000, 1000];
        for c in expect_ceiling {
            let d = b.next_delay().unwrap();
            assert!(d >= Duration::from_millis(c / 2), "{d:?} < {c}/2");
            assert!(d <= Duration::from_millis(c), "{d:?} > {c}");
        }
    }

    #[test]
    fn stops_after_max_attempts() {
        let mut b = Backoff::new(RetryPolicy {
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(1),
            max_attempts: Some(3),
        });
        assert!(b.next_delay().is_some()); // after attempt 1
        assert!(b.next_delay().is_some()); // after attempt 2
        assert!(b.next_delay().is_none()); // attempt 3 was the last
    }
}
