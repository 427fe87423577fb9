//! Counters of rate limits: per `#[rate_limit]` function (listed by [`limit_stats`]) and per
//! [`RateLimiter`](crate::RateLimiter).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use crate::site::{snapshot_all, Counted, Registry};

/// What one rate limit has decided since the process started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimitStats {
    /// `module::function`, `Type::method`, or the name given to [`RateLimiter::new`].
    ///
    /// [`RateLimiter::new`]: crate::RateLimiter::new
    pub name: String,
    /// Calls let through.
    pub admitted: u64,
    /// Calls turned away.
    pub limited: u64,
    /// Calls that waited (`on_limit = wait`) before they were let through.
    pub waited: u64,
    /// Checks the store could not answer (Redis failed, timed out, or its circuit was open):
    /// each was admitted (fail open) or turned away (fail closed), and counted there too.
    pub backend_errors: u64,
}

/// The counters of one rate limit.
#[derive(Debug, Default)]
pub struct LimitCounters {
    pub(crate) admitted: AtomicU64,
    pub(crate) limited: AtomicU64,
    pub(crate) waited: AtomicU64,
    pub(crate) backend_errors: AtomicU64,
}

impl LimitCounters {
    pub(crate) const fn new() -> Self {
        LimitCounters {
            admitted: AtomicU64::new(0),
            limited: AtomicU64::new(0),
            waited: AtomicU64::new(0),
            backend_errors: AtomicU64::new(0),
        }
    }

    pub(crate) fn snapshot(&self, name: &str) -> LimitStats {
        LimitStats {
            name: name.to_owned(),
            admitted: self.admitted.load(Relaxed),
            limited: self.limited.load(Relaxed),
            waited: self.waited.load(Relaxed),
            backend_errors: self.backend_errors.load(Relaxed),
        }
    }
}

impl Counted for LimitCounters {
    const ZERO: Self = LimitCounters::new();

    fn registry() -> &'static Registry<Self> {
        static REGISTRY: Registry<LimitCounters> = Mutex::new(Vec::new());
        &REGISTRY
    }
}

/// A snapshot of every `#[rate_limit]` function called so far, sorted by name.
pub fn limit_stats() -> Vec<LimitStats> {
    snapshot_all(|counters: &LimitCounters, name| Some(counters.snapshot(name)))
}
