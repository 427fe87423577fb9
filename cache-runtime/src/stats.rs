//! Per-function counters and the [`stats`] snapshot.
//!
//! Each `#[cached]` function owns one static site (`crate::site`); it registers
//! itself on its first call, so [`stats`] lists every function called so far.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use crate::site::{snapshot_all, snapshot_of, Counted, Registry};

/// What one cached function has done since the process started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FnStats {
    /// `module::function`, or `Type::method` for methods.
    pub function: String,
    /// Calls answered from the store.
    pub hits: u64,
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
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) coalesced_waits: AtomicU64,
    pub(crate) decode_failures: AtomicU64,
    pub(crate) key_failures: AtomicU64,
    pub(crate) computes: AtomicU64,
    pub(crate) compute_nanos: AtomicU64,
    pub(crate) stores: AtomicU64,
    pub(crate) backend_errors: AtomicU64,
    pub(crate) stale_served: AtomicU64,
    pub(crate) background_refreshes: AtomicU64,
    pub(crate) lock_waits: AtomicU64,
}

impl Counters {
    pub(crate) const fn new() -> Self {
        Counters {
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            coalesced_waits: AtomicU64::new(0),
            decode_failures: AtomicU64::new(0),
            key_failures: AtomicU64::new(0),
            computes: AtomicU64::new(0),
            compute_nanos: AtomicU64::new(0),
            stores: AtomicU64::new(0),
            backend_errors: AtomicU64::new(0),
            stale_served: AtomicU64::new(0),
            background_refreshes: AtomicU64::new(0),
            lock_waits: AtomicU64::new(0),
        }
    }

    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self, function: &str) -> FnStats {
        FnStats {
            function: function.to_owned(),
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            coalesced_waits: self.coalesced_waits.load(Relaxed),
            decode_failures: self.decode_failures.load(Relaxed),
            key_failures: self.key_failures.load(Relaxed),
            computes: self.computes.load(Relaxed),
            compute_time: Duration::from_nanos(self.compute_nanos.load(Relaxed)),
            stores: self.stores.load(Relaxed),
            backend_errors: self.backend_errors.load(Relaxed),
            stale_served: self.stale_served.load(Relaxed),
            background_refreshes: self.background_refreshes.load(Relaxed),
            lock_waits: self.lock_waits.load(Relaxed),
        }
    }
}

impl Counted for Counters {
    const ZERO: Self = Counters::new();

    fn registry() -> &'static Registry<Self> {
        static REGISTRY: Registry<Counters> = Mutex::new(Vec::new());
        &REGISTRY
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

/// The snapshot of the function registered as `function`; zeros if it has not run yet.
pub(crate) fn stats_of(function: &str) -> FnStats {
    snapshot_of(function, Counters::snapshot).unwrap_or_else(|| FnStats {
        function: function.to_owned(),
        ..FnStats::default()
    })
}
