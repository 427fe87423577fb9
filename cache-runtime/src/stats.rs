//! Per-function counters and the [`stats`] snapshot.
//!
//! Each `#[cached]` function owns one static site (`crate::site`); it registers
//! itself on its first call, so [`stats`] lists every function called so far.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use crate::count::{Count, SpreadCount, Timing};
use crate::site::{snapshot_all, snapshot_of, Counted, Registry};

/// What one cached function has done since the process started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FnStats {
    /// `module::function`, or `Type::method` for methods.
    pub function: String,
    /// Calls answered from the store.
    pub hits: u64,
    /// Of the hits, those the near cache answered (no command sent to Redis).
    pub near_hits: u64,
    /// Calls that found nothing usable in the store.
    pub misses: u64,
    /// Misses that waited for another caller's computation instead of running the body.
    pub coalesced_waits: u64,
    /// Stored entries that did not decode (corrupt, foreign or of another type): each was a miss
    /// and got overwritten.
    pub decode_failures: u64,
    /// Calls whose key arguments failed to serialize: they ran uncached.
    pub key_failures: u64,
    /// Times the body ran.
    pub computes: u64,
    /// Time spent in the body, over all its runs.
    pub compute_time: Duration,
    /// Results written to the store.
    pub stores: u64,
    /// Calls answered with an entry past its TTL: within `stale_while_revalidate` (a refresh was
    /// started) or `stale_if_error` (the function failed).
    pub stale_served: u64,
    /// Background refreshes started: by early expiry (XFetch) or stale-while-revalidate.
    pub background_refreshes: u64,
    /// Misses that waited for another process's computation under `lock_on_miss`.
    pub lock_waits: u64,
    /// Calls that could not use the store (Redis failed, timed out, or its circuit was open):
    /// they ran the body and returned its value.
    pub backend_errors: u64,
}

/// The counters of one function.
#[derive(Debug, Default)]
pub struct Counters {
    pub(crate) hits: SpreadCount,
    pub(crate) near_hits: Count,
    pub(crate) misses: Count,
    pub(crate) coalesced_waits: Count,
    pub(crate) decode_failures: Count,
    pub(crate) key_failures: Count,
    pub(crate) computes: Count,
    pub(crate) compute_nanos: AtomicU64,
    pub(crate) compute_time: Timing,
    pub(crate) stores: Count,
    pub(crate) backend_errors: Count,
    pub(crate) stale_served: Count,
    pub(crate) background_refreshes: Count,
    pub(crate) lock_waits: Count,
}

impl Counters {
    pub(crate) const fn new() -> Self {
        Counters {
            hits: SpreadCount::new(),
            near_hits: Count::new(),
            misses: Count::new(),
            coalesced_waits: Count::new(),
            decode_failures: Count::new(),
            key_failures: Count::new(),
            computes: Count::new(),
            compute_nanos: AtomicU64::new(0),
            compute_time: Timing::new(),
            stores: Count::new(),
            backend_errors: Count::new(),
            stale_served: Count::new(),
            background_refreshes: Count::new(),
            lock_waits: Count::new(),
        }
    }

    /// Counts a run of the body that took `elapsed`.
    pub(crate) fn computed(&self, elapsed: Duration) {
        self.computes.bump();
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.compute_nanos.fetch_add(nanos, Relaxed);
        self.compute_time.record(elapsed);
    }

    pub(crate) fn snapshot(&self, function: &str) -> FnStats {
        FnStats {
            function: function.to_owned(),
            hits: self.hits.get(),
            near_hits: self.near_hits.get(),
            misses: self.misses.get(),
            coalesced_waits: self.coalesced_waits.get(),
            decode_failures: self.decode_failures.get(),
            key_failures: self.key_failures.get(),
            computes: self.computes.get(),
            compute_time: Duration::from_nanos(self.compute_nanos.load(Relaxed)),
            stores: self.stores.get(),
            backend_errors: self.backend_errors.get(),
            stale_served: self.stale_served.get(),
            background_refreshes: self.background_refreshes.get(),
            lock_waits: self.lock_waits.get(),
        }
    }
}

impl Counted for Counters {
    const ZERO: Self = Counters::new();

    fn registry() -> &'static Registry<Self> {
        static REGISTRY: Registry<Counters> = Mutex::new(Vec::new());
        &REGISTRY
    }

    #[cfg(feature = "metrics")]
    fn report_as(&self, function: &str) {
        let requests = |result| [("function", function), ("result", result)];
        self.hits
            .report_as("cache_requests_total", &requests("hit"));
        self.misses
            .report_as("cache_requests_total", &requests("miss"));
        self.stale_served
            .report_as("cache_requests_total", &requests("stale"));
        self.coalesced_waits
            .report_as("cache_requests_total", &requests("coalesced"));
        let labels = [("function", function)];
        self.near_hits.report_as("cache_near_hits_total", &labels);
        self.computes.report_as("cache_computations_total", &labels);
        self.compute_time
            .report_as("cache_compute_seconds", &labels);
        self.stores.report_as("cache_stores_total", &labels);
        self.backend_errors
            .report_as("cache_backend_errors_total", &labels);
        self.background_refreshes
            .report_as("cache_background_refreshes_total", &labels);
        self.lock_waits.report_as("cache_lock_waits_total", &labels);
        self.decode_failures
            .report_as("cache_decode_failures_total", &labels);
        self.key_failures
            .report_as("cache_key_failures_total", &labels);
    }
}

/// A snapshot of every cached function called so far, sorted by name.
///
/// ```
/// #[cache_runtime::cached(ttl = 60)]
/// fn square(n: u64) -> u64 { n * n }
///
/// fn main() {
///     square(3);
///     square(3);
///     let stats = square::stats();
///     assert_eq!((stats.hits, stats.misses, stats.computes), (1, 1, 1));
///     assert!(cache_runtime::stats().iter().any(|s| s.function.ends_with("square")));
/// }
/// ```
pub fn stats() -> Vec<FnStats> {
    snapshot_all(|counters: &Counters, name| Some(counters.snapshot(name)))
}

/// The snapshot of the cached function named `function` (`my_crate::module::get_user`, or
/// `my_crate::module::Repo::user` for a method); zeros if it has not run yet. The companion
/// `get_user::stats()` calls it; it is how a method of a trait impl, which has no companions,
/// is asked.
///
/// ```
/// #[cache_runtime::cached(ttl = 60)]
/// fn square(n: u64) -> u64 { n * n }
///
/// fn main() {
///     square(3);
///     let stats = cache_runtime::stats_of(&format!("{}::square", module_path!()));
///     assert_eq!(stats.computes, 1);
/// }
/// ```
pub fn stats_of(function: &str) -> FnStats {
    snapshot_of(function, Counters::snapshot).unwrap_or_else(|| FnStats {
        function: function.to_owned(),
        ..FnStats::default()
    })
}
