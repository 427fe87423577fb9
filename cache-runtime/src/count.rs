//! The counters behind [`crate::stats`], [`crate::limit_stats`] and [`crate::lock_stats`], and,
//! with the feature `metrics`, the same counts in the [`metrics`](https://docs.rs/metrics)
//! facade, so that any exporter (Prometheus, StatsD, OpenTelemetry) reports them.
//!
//! A [`Count`] is an atomic the snapshots read plus, once its site is named, the facade's handle
//! for it: counting is one relaxed add, and one more through the handle, never a look-up by
//! name on the hot path. Handles are made from the recorder installed when a site is first
//! used (or a [`Locks`](crate::Locks), a [`RateLimiter`](crate::RateLimiter) or a Redis
//! connection is built), so the recorder must be installed before that, as every `metrics`
//! handle requires. Labels name the function (`function = "module::fn"`), never a key or an
//! argument. Without the feature nothing of `metrics` is compiled and a `Count` is the atomic.

use crossbeam_utils::CachePadded;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
#[cfg(feature = "metrics")]
use std::sync::OnceLock;
use std::time::Duration;
#[cfg(feature = "redis")]
use std::time::Instant;

/// One counter: the number the stats snapshots read (in one atomic, or spread over several:
/// [`SpreadCount`]), mirrored to the `metrics` facade.
#[derive(Debug, Default)]
pub struct Count<C = One> {
    cells: C,
    #[cfg(feature = "metrics")]
    handle: OnceLock<metrics::Counter>,
}

/// Where a [`Count`] keeps its number.
pub trait Cells {
    /// At zero.
    const ZERO: Self;
    /// Adds `n`.
    fn add(&self, n: u64);
    /// The number.
    fn sum(&self) -> u64;
}

/// One atomic.
#[derive(Debug, Default)]
pub struct One(AtomicU64);

impl Cells for One {
    const ZERO: Self = One(AtomicU64::new(0));
    #[inline]
    fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }
    fn sum(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// How many cache lines a [`SpreadCount`] spreads over.
const STRIPES: usize = 8;

/// [`STRIPES`] atomics on cache lines of their own, read as their sum. Padded as crossbeam pads
/// (128 bytes on x86-64, where the CPU fetches lines in pairs): at 64 bytes two threads'
/// stripes could share a pair.
///
/// Stripes 1 to 7 are each held by one thread at a time ([`ThreadStripe`]), which adds with a
/// plain load and store: no locked instruction on its path, and no line another thread writes.
/// Threads beyond those share stripe 0 and add to it atomically.
#[derive(Debug)]
pub struct Spread([CachePadded<AtomicU64>; STRIPES]);

/// The stripe the threads without one of their own share.
const SHARED_STRIPE: usize = 0;

/// Which of stripes 1 to 7 are held (bit `i` for stripe `i`).
static HELD_STRIPES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A thread's stripe: one of its own while it lives, or the shared one.
struct ThreadStripe(usize);

impl ThreadStripe {
    fn claim() -> ThreadStripe {
        let mut held = HELD_STRIPES.load(Acquire);
        loop {
            let Some(free) = (1..STRIPES).find(|stripe| held & (1 << stripe) == 0) else {
                return ThreadStripe(SHARED_STRIPE);
            };
            // Acquire: this thread's first plain add sees the last one of the thread that
            // held the stripe before (it gave it back with Release).
            match HELD_STRIPES.compare_exchange_weak(held, held | (1 << free), Acquire, Acquire) {
                Ok(_) => return ThreadStripe(free),
                Err(now) => held = now,
            }
        }
    }
}

impl Drop for ThreadStripe {
    fn drop(&mut self) {
        if self.0 != SHARED_STRIPE {
            HELD_STRIPES.fetch_and(!(1 << self.0), Release);
        }
    }
}

thread_local! {
    static THREAD_STRIPE: ThreadStripe = ThreadStripe::claim();
}

impl Cells for Spread {
    const ZERO: Self = Spread([const { CachePadded::new(AtomicU64::new(0)) }; STRIPES]);
    #[inline]
    fn add(&self, n: u64) {
        // A thread whose stripe is gone (its thread-locals are being destroyed) shares.
        let stripe = THREAD_STRIPE
            .try_with(|stripe| stripe.0)
            .unwrap_or(SHARED_STRIPE);
        let cell = &self.0[stripe];
        if stripe == SHARED_STRIPE {
            cell.fetch_add(n, Relaxed);
        } else {
            // Only this thread writes this stripe.
            cell.store(cell.load(Relaxed).wrapping_add(n), Relaxed);
        }
    }
    fn sum(&self) -> u64 {
        self.0.iter().map(|stripe| stripe.load(Relaxed)).sum()
    }
}

impl Default for Spread {
    fn default() -> Self {
        Spread::ZERO
    }
}

/// A count bumped from many threads at once on the hottest path (a cached function's hits):
/// spread over cache lines, so that two cores hitting one function do not pass one line back
/// and forth.
pub type SpreadCount = Count<Spread>;

impl<C: Cells> Count<C> {
    pub(crate) const fn new() -> Self {
        Count {
            cells: C::ZERO,
            #[cfg(feature = "metrics")]
            handle: OnceLock::new(),
        }
    }

    /// Counts one.
    #[inline]
    pub(crate) fn bump(&self) {
        self.add(1);
    }

    /// Counts `n` (a batch's hits or misses).
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.cells.add(n);
        #[cfg(feature = "metrics")]
        if let Some(handle) = self.handle.get() {
            handle.increment(n);
        }
    }

    /// The count so far.
    pub(crate) fn get(&self) -> u64 {
        self.cells.sum()
    }

    /// Mirrors this count to `name` with the labels `labels`, from now on.
    #[cfg(feature = "metrics")]
    pub(crate) fn report_as(&self, name: &'static str, labels: &[(&'static str, &str)]) {
        let _ = self
            .handle
            .set(metrics::counter!(name, facade_labels(labels)));
    }
}

/// Durations of one kind (a computation, a lock wait): a histogram in seconds in the `metrics`
/// facade; nothing without the feature.
#[derive(Debug, Default)]
pub struct Timing {
    #[cfg(feature = "metrics")]
    handle: OnceLock<metrics::Histogram>,
}

impl Timing {
    pub(crate) const fn new() -> Self {
        Timing {
            #[cfg(feature = "metrics")]
            handle: OnceLock::new(),
        }
    }

    /// Records one duration.
    #[inline]
    pub(crate) fn record(&self, duration: Duration) {
        #[cfg(feature = "metrics")]
        if let Some(handle) = self.handle.get() {
            handle.record(duration.as_secs_f64());
        }
        #[cfg(not(feature = "metrics"))]
        let _ = duration;
    }

    /// The start of a duration to [`finish`](Self::finish), read only if it is reported.
    #[cfg(feature = "redis")]
    #[inline]
    pub(crate) fn start(&self) -> Option<Instant> {
        #[cfg(feature = "metrics")]
        if self.handle.get().is_some() {
            return Some(Instant::now());
        }
        None
    }

    /// Records the duration since `started`, if it was read.
    #[cfg(feature = "redis")]
    #[inline]
    pub(crate) fn finish(&self, started: Option<Instant>) {
        if let Some(started) = started {
            self.record(started.elapsed());
        }
    }

    /// Mirrors these durations to the histogram `name` with `labels`, from now on.
    #[cfg(feature = "metrics")]
    pub(crate) fn report_as(&self, name: &'static str, labels: &[(&'static str, &str)]) {
        let _ = self
            .handle
            .set(metrics::histogram!(name, facade_labels(labels)));
    }
}

/// A state that is on or off (a circuit open): a gauge of 1 or 0 in the `metrics` facade;
/// nothing without the feature.
#[cfg(feature = "redis")]
#[derive(Debug, Default)]
pub struct Level {
    #[cfg(feature = "metrics")]
    handle: OnceLock<metrics::Gauge>,
}

#[cfg(feature = "redis")]
impl Level {
    /// Sets the state.
    #[inline]
    pub(crate) fn set(&self, on: bool) {
        #[cfg(feature = "metrics")]
        if let Some(handle) = self.handle.get() {
            handle.set(if on { 1.0 } else { 0.0 });
        }
        #[cfg(not(feature = "metrics"))]
        let _ = on;
    }

    /// Mirrors the state to the gauge `name` with `labels`, from now on (starting off).
    #[cfg(feature = "metrics")]
    pub(crate) fn report_as(&self, name: &'static str, labels: &[(&'static str, &str)]) {
        let gauge = metrics::gauge!(name, facade_labels(labels));
        gauge.set(0.0);
        let _ = self.handle.set(gauge);
    }
}

/// Labels for the facade; the first use describes every metric to the recorder.
#[cfg(feature = "metrics")]
fn facade_labels(labels: &[(&'static str, &str)]) -> Vec<metrics::Label> {
    describe_once();
    labels
        .iter()
        .map(|&(key, value)| metrics::Label::new(key, value.to_owned()))
        .collect()
}

/// The metrics this crate reports, with their descriptions, for the README's table and the
/// exporters' help text.
#[cfg(feature = "metrics")]
fn describe_once() {
    static DESCRIBED: std::sync::Once = std::sync::Once::new();
    DESCRIBED.call_once(|| {
        use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
        describe_counter!(
            "cache_requests_total",
            "#[cached] calls by result: hit, miss, stale (an entry past its TTL served), \
             coalesced (a miss that got another caller's value)"
        );
        describe_counter!(
            "cache_near_hits_total",
            "#[cached] hits the near cache answered (no command sent; also counted as hits)"
        );
        describe_counter!("cache_computations_total", "#[cached] bodies run");
        describe_histogram!(
            "cache_compute_seconds",
            Unit::Seconds,
            "time a #[cached] body took"
        );
        describe_counter!(
            "cache_stores_total",
            "#[cached] results written to the store"
        );
        describe_counter!(
            "cache_backend_errors_total",
            "#[cached] calls that could not use the store"
        );
        describe_counter!(
            "cache_background_refreshes_total",
            "#[cached] refreshes started by early expiry or stale-while-revalidate"
        );
        describe_counter!(
            "cache_lock_waits_total",
            "#[cached] misses that waited for another process (lock_on_miss)"
        );
        describe_counter!(
            "cache_decode_failures_total",
            "#[cached] entries that did not decode (recomputed)"
        );
        describe_counter!(
            "cache_key_failures_total",
            "#[cached] calls whose key did not serialize (run uncached)"
        );
        describe_counter!(
            "rate_limit_decisions_total",
            "rate-limit checks by decision: admitted, limited"
        );
        describe_counter!(
            "rate_limit_backend_errors_total",
            "rate-limit checks the store could not answer"
        );
        describe_counter!(
            "lock_acquisitions_total",
            "lock attempts by outcome: acquired, timed_out, lost (found lost while held)"
        );
        describe_histogram!(
            "lock_wait_seconds",
            Unit::Seconds,
            "time from asking for a lock to getting it or giving up"
        );
        describe_counter!(
            "lock_backend_errors_total",
            "lock operations the store could not answer"
        );
        describe_gauge!(
            "redis_circuit_open",
            "1 while the circuit breaker of a Redis store skips it, else 0"
        );
        describe_histogram!(
            "redis_command_seconds",
            Unit::Seconds,
            "time a Redis command took, as its caller saw it"
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spread_count_is_exact_over_more_threads_than_stripes() {
        static HITS: SpreadCount = SpreadCount::new();
        // Three waves of 12 threads: some hold stripes of their own, the rest share one, and
        // each wave gets the stripes the last one gave back.
        for _ in 0..3 {
            let barrier = std::sync::Barrier::new(12);
            std::thread::scope(|scope| {
                for _ in 0..12 {
                    scope.spawn(|| {
                        barrier.wait();
                        for _ in 0..20_000 {
                            HITS.bump();
                        }
                    });
                }
            });
        }
        assert_eq!(HITS.get(), 3 * 12 * 20_000);
    }
}
