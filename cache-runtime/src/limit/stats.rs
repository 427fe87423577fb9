//! Counters of rate limits: per `#[rate_limit]` function (listed by [`limit_stats`]) and per
//! [`RateLimiter`](crate::RateLimiter).

use std::sync::Mutex;

use crate::count::Count;
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
    pub(crate) admitted: Count,
    pub(crate) limited: Count,
    pub(crate) waited: Count,
    pub(crate) backend_errors: Count,
}

impl LimitCounters {
    pub(crate) const fn new() -> Self {
        LimitCounters {
            admitted: Count::new(),
            limited: Count::new(),
            waited: Count::new(),
            backend_errors: Count::new(),
        }
    }

    /// The counters of a [`RateLimiter`](crate::RateLimiter) named `name`, reported under it.
    pub(crate) fn named(name: &str) -> Self {
        let counters = LimitCounters::new();
        #[cfg(feature = "metrics")]
        counters.report_as(name);
        #[cfg(not(feature = "metrics"))]
        let _ = name;
        counters
    }

    pub(crate) fn snapshot(&self, name: &str) -> LimitStats {
        LimitStats {
            name: name.to_owned(),
            admitted: self.admitted.get(),
            limited: self.limited.get(),
            waited: self.waited.get(),
            backend_errors: self.backend_errors.get(),
        }
    }
}

impl Counted for LimitCounters {
    const ZERO: Self = LimitCounters::new();

    fn registry() -> &'static Registry<Self> {
        static REGISTRY: Registry<LimitCounters> = Mutex::new(Vec::new());
        &REGISTRY
    }

    #[cfg(feature = "metrics")]
    fn report_as(&self, function: &str) {
        let decision = |decision| [("function", function), ("decision", decision)];
        self.admitted
            .report_as("rate_limit_decisions_total", &decision("admitted"));
        self.limited
            .report_as("rate_limit_decisions_total", &decision("limited"));
        let labels = [("function", function)];
        self.waited.report_as("rate_limit_waits_total", &labels);
        self.backend_errors
            .report_as("rate_limit_backend_errors_total", &labels);
    }
}

/// A snapshot of every `#[rate_limit]` function called so far, sorted by name.
pub fn limit_stats() -> Vec<LimitStats> {
    snapshot_all(|counters: &LimitCounters, name| Some(counters.snapshot(name)))
}
