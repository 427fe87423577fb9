//! The circuit breaker: after repeated failures, skip Redis for a cooldown, then probe.
//!
//! ```text
//! closed ──(N consecutive failures)──► open ──(cooldown over)──► one probe ──ok──► closed
//!                                       ▲                            │
//!                                       └──────────failed────────────┘
//! ```

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

/// The breaker state of one connection, shared by every cache on it.
#[derive(Debug)]
pub(crate) struct Breaker {
    threshold: u32,
    cooldown_ms: u64,
    consecutive_failures: AtomicU32,
    /// While non-zero, calls are skipped until this time (ms on [`now_ms`]).
    open_until: AtomicU64,
    /// One caller probes a cooled-down circuit; the others still skip.
    probing: AtomicBool,
    pub(crate) counts: BreakerCounts,
}

/// What the breaker has seen, for [`crate::store::RedisStats`].
#[derive(Debug, Default)]
pub(crate) struct BreakerCounts {
    pub(crate) failures: AtomicU64,
    pub(crate) skipped: AtomicU64,
    pub(crate) opened: AtomicU64,
}

fn now_ms() -> u64 {
    static START: LazyLock<Instant> = LazyLock::new(Instant::now);
    // Never zero, so that zero can mean "closed".
    u64::try_from(START.elapsed().as_millis()).unwrap_or(u64::MAX) + 1
}

impl Breaker {
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Self {
        Breaker {
            threshold: threshold.max(1),
            cooldown_ms: u64::try_from(cooldown.as_millis())
                .unwrap_or(u64::MAX)
                .max(1),
            consecutive_failures: AtomicU32::new(0),
            open_until: AtomicU64::new(0),
            probing: AtomicBool::new(false),
            counts: BreakerCounts::default(),
        }
    }

    /// Whether a call may go to Redis now. A `false` is counted as skipped.
    #[inline]
    pub(crate) fn allow(&self) -> bool {
        let open_until = self.open_until.load(Relaxed);
        if open_until == 0 {
            return true;
        }
        if now_ms() >= open_until && !self.probing.swap(true, Relaxed) {
            return true;
        }
        self.counts.skipped.fetch_add(1, Relaxed);
        false
    }

    /// Whether the circuit is open (calls are skipped, or one probe is under way).
    pub(crate) fn is_open(&self) -> bool {
        self.open_until.load(Relaxed) != 0
    }

    #[inline]
    pub(crate) fn succeeded(&self) {
        if self.consecutive_failures.load(Relaxed) != 0 || self.open_until.load(Relaxed) != 0 {
            self.consecutive_failures.store(0, Relaxed);
            if self.open_until.swap(0, Relaxed) != 0 {
                tracing::info!("Redis answers again; circuit closed");
            }
            self.probing.store(false, Relaxed);
        }
    }

    pub(crate) fn failed(&self) {
        self.counts.failures.fetch_add(1, Relaxed);
        let failures = self.consecutive_failures.fetch_add(1, Relaxed) + 1;
        let probe_failed = self.probing.swap(false, Relaxed);
        if probe_failed || (failures >= self.threshold && self.open_until.load(Relaxed) == 0) {
            self.open_until
                .store(now_ms().saturating_add(self.cooldown_ms), Relaxed);
            self.counts.opened.fetch_add(1, Relaxed);
            tracing::warn!(
                consecutive_failures = failures,
                cooldown_ms = self.cooldown_ms,
                "Redis keeps failing; circuit open, skipping it for the cooldown"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_then_probes_once() {
        let breaker = Breaker::new(3, Duration::from_millis(30));
        for _ in 0..2 {
            assert!(breaker.allow());
            breaker.failed();
        }
        assert!(!breaker.is_open());
        breaker.failed();
        assert!(breaker.is_open());
        assert!(!breaker.allow());
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.allow(), "the probe");
        assert!(!breaker.allow(), "only one probe at a time");
        breaker.failed();
        assert!(!breaker.allow(), "a failed probe reopens");
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.allow());
        breaker.succeeded();
        assert!(!breaker.is_open() && breaker.allow());
        assert_eq!(breaker.counts.opened.load(Relaxed), 2);
        assert_eq!(breaker.counts.skipped.load(Relaxed), 3);
    }
}
