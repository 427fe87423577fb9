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

use crate::count::Level;

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
    /// `redis_circuit_open` in the `metrics` facade.
    pub(crate) open_level: Level,
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
            open_level: Level::default(),
        }
    }

    /// Whether a call may go to Redis now (`None` is counted as skipped). The call that probes
    /// a cooled-down circuit holds its [`Probe`] until [`succeeded`](Self::succeeded) or
    /// [`failed`](Self::failed) says how it went; a probe dropped before that (its caller was
    /// cancelled) frees the slot, so the next call probes instead.
    #[inline]
    pub(crate) fn allow(&self) -> Option<Probe<'_>> {
        let open_until = self.open_until.load(Relaxed);
        if open_until == 0 {
            return Some(Probe(None));
        }
        if now_ms() >= open_until && !self.probing.swap(true, Relaxed) {
            return Some(Probe(Some(self)));
        }
        self.counts.skipped.fetch_add(1, Relaxed);
        None
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
                self.open_level.set(false);
                tracing::info!("Redis answers again; circuit closed, caching resumes");
            }
            self.probing.store(false, Relaxed);
        }
    }

    /// Counts a failure of the connection to `target`; the one that opens the circuit is logged
    /// as a warning naming the server and the failure.
    pub(crate) fn failed(&self, target: &dyn std::fmt::Display, failure: &dyn std::fmt::Display) {
        self.counts.failures.fetch_add(1, Relaxed);
        let failures = self.consecutive_failures.fetch_add(1, Relaxed) + 1;
        let probe_failed = self.probing.swap(false, Relaxed);
        if probe_failed {
            self.open_until
                .store(now_ms().saturating_add(self.cooldown_ms), Relaxed);
            self.counts.opened.fetch_add(1, Relaxed);
            tracing::debug!(%target, %failure, "the probe failed; circuit open again");
        } else if failures >= self.threshold && self.open_until.load(Relaxed) == 0 {
            self.open_until
                .store(now_ms().saturating_add(self.cooldown_ms), Relaxed);
            self.counts.opened.fetch_add(1, Relaxed);
            self.open_level.set(true);
            tracing::warn!(
                %target,
                %failure,
                consecutive_failures = failures,
                cooldown_ms = self.cooldown_ms,
                "Redis keeps failing; circuit open: cached functions run their bodies without it \
                 until a probe after the cooldown succeeds"
            );
        }
    }
}

/// A call let through by [`Breaker::allow`]; the probe slot, when it holds it.
#[derive(Debug)]
pub(crate) struct Probe<'a>(Option<&'a Breaker>);

impl Probe<'_> {
    /// The call has been counted: the slot is settled by `succeeded` or `failed`.
    pub(crate) fn settled(mut self) {
        self.0 = None;
    }
}

impl Drop for Probe<'_> {
    fn drop(&mut self) {
        if let Some(breaker) = self.0 {
            breaker.probing.store(false, Relaxed);
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
            assert!(breaker.allow().is_some());
            breaker.failed(&"redis://test", &"refused");
        }
        assert!(!breaker.is_open());
        breaker.failed(&"redis://test", &"refused");
        assert!(breaker.is_open());
        assert!(breaker.allow().is_none());
        std::thread::sleep(Duration::from_millis(40));
        let probe = breaker.allow().expect("the probe");
        assert!(breaker.allow().is_none(), "only one probe at a time");
        breaker.failed(&"redis://test", &"refused");
        probe.settled();
        assert!(breaker.allow().is_none(), "a failed probe reopens");
        std::thread::sleep(Duration::from_millis(40));
        let probe = breaker.allow().expect("the next probe");
        breaker.succeeded();
        probe.settled();
        assert!(!breaker.is_open() && breaker.allow().is_some());
        assert_eq!(breaker.counts.opened.load(Relaxed), 2);
        assert_eq!(breaker.counts.skipped.load(Relaxed), 3);
    }

    #[test]
    fn a_probe_dropped_unsettled_frees_the_slot() {
        let breaker = Breaker::new(1, Duration::from_millis(10));
        breaker.failed(&"redis://test", &"refused");
        std::thread::sleep(Duration::from_millis(20));
        drop(breaker.allow().expect("the probe")); // its caller was cancelled
        let probe = breaker.allow().expect("another call probes");
        breaker.succeeded();
        probe.settled();
        assert!(!breaker.is_open());
    }
}
