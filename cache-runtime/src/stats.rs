//! Per-function counters and the [`stats`] snapshot.
//!
//! Each `#[cached]` function owns one static `FnSite`; it registers
//! itself on its first call, so [`stats`] lists every function called so far.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

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
pub(crate) struct Counters {
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

/// A function's name and counters, registered in a registry (for [`stats`], or the rate
/// limits' [`crate::limit_stats`]).
#[derive(Debug)]
pub(crate) struct Registered<C: 'static = Counters> {
    pub(crate) name: OnceLock<Box<str>>,
    pub(crate) counters: C,
}

/// The sites registered so far, of one kind.
pub(crate) type Registry<C> = Mutex<Vec<&'static Registered<C>>>;

static REGISTRY: Registry<Counters> = Mutex::new(Vec::new());

impl Registered {
    pub(crate) const fn new() -> Self {
        Registered::with(Counters::new())
    }

    /// Names the function and lists it in [`stats`], once.
    pub(crate) fn register(&'static self, name: impl FnOnce() -> Box<str>) {
        self.register_in(&REGISTRY, name);
    }
}

impl<C> Registered<C> {
    pub(crate) const fn with(counters: C) -> Self {
        Registered {
            name: OnceLock::new(),
            counters,
        }
    }

    /// Names the site and lists it in `registry`, once.
    pub(crate) fn register_in(
        &'static self,
        registry: &Registry<C>,
        name: impl FnOnce() -> Box<str>,
    ) {
        if self.name.get().is_none() {
            let mut registry = registry.lock().unwrap_or_else(PoisonError::into_inner);
            if self.name.set(name()).is_ok() {
                registry.push(self);
            }
        }
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
    snapshot_all(&REGISTRY, |counters, name| Some(counters.snapshot(name)))
}

/// A snapshot of every named site in `registry` (a site whose `snapshot` gives `None` is left
/// out), sorted by name.
pub(crate) fn snapshot_all<C, S>(
    registry: &Registry<C>,
    snapshot: impl Fn(&C, &str) -> Option<S>,
) -> Vec<S> {
    let registry = registry.lock().unwrap_or_else(PoisonError::into_inner);
    let mut all: Vec<(&str, S)> = registry
        .iter()
        .filter_map(|site| {
            let name = site.name.get()?;
            Some((&**name, snapshot(&site.counters, name)?))
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(b.0));
    all.into_iter().map(|(_, stats)| stats).collect()
}

/// The snapshot of the function registered as `function`; zeros if it has not run yet.
pub(crate) fn stats_of(function: &str) -> FnStats {
    let registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    registry
        .iter()
        .find(|site| site.name.get().is_some_and(|name| &**name == function))
        .map_or_else(
            || FnStats {
                function: function.to_owned(),
                ..FnStats::default()
            },
            |site| site.counters.snapshot(function),
        )
}
