//! Counters of locks: per `#[with_lock]` function (listed by [`lock_stats`]) and per
//! [`Locks`](crate::Locks).

use std::sync::{Arc, Mutex, OnceLock};

use crate::count::{Count, Timing};
use crate::site::{snapshot_all, Counted, Registry};

/// What one lock site has done since the process started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockStats {
    /// `module::function`, `Type::method`, or the name given to [`Locks::new`](crate::Locks::new).
    pub name: String,
    /// Locks acquired.
    pub acquired: u64,
    /// Acquisitions that waited for another owner first.
    pub waited: u64,
    /// Calls that gave up: another owner held the lock for the whole wait.
    pub timed_out: u64,
    /// Locks found lost while held (renewal failed to extend them).
    pub lost: u64,
    /// Operations the store could not answer.
    pub backend_errors: u64,
}

/// The counters of one lock site.
#[derive(Debug, Default)]
pub struct LockCounters {
    pub(crate) acquired: Count,
    pub(crate) waited: Count,
    pub(crate) timed_out: Count,
    pub(crate) lost: Count,
    pub(crate) backend_errors: Count,
    /// From asking to getting the lock or giving up.
    pub(crate) wait_time: Timing,
}

impl LockCounters {
    /// The counters of [`Locks`](crate::Locks) named `name`, reported under it.
    pub(crate) fn named(name: &str) -> Self {
        let counters = LockCounters::default();
        #[cfg(feature = "metrics")]
        counters.report_as(name);
        #[cfg(not(feature = "metrics"))]
        let _ = name;
        counters
    }

    pub(crate) fn snapshot(&self, name: &str) -> LockStats {
        LockStats {
            name: name.to_owned(),
            acquired: self.acquired.get(),
            waited: self.waited.get(),
            timed_out: self.timed_out.get(),
            lost: self.lost.get(),
            backend_errors: self.backend_errors.get(),
        }
    }

    /// Mirrors the counters to the `metrics` facade, labelled `function = name`.
    #[cfg(feature = "metrics")]
    pub(crate) fn report_as(&self, function: &str) {
        let outcome = |outcome| [("function", function), ("outcome", outcome)];
        self.acquired
            .report_as("lock_acquisitions_total", &outcome("acquired"));
        self.timed_out
            .report_as("lock_acquisitions_total", &outcome("timed_out"));
        self.lost
            .report_as("lock_acquisitions_total", &outcome("lost"));
        let labels = [("function", function)];
        self.waited.report_as("lock_contended_total", &labels);
        self.backend_errors
            .report_as("lock_backend_errors_total", &labels);
        self.wait_time.report_as("lock_wait_seconds", &labels);
    }
}

/// A `#[with_lock]` site's counters, shared with the guards it hands out (a renewal counts a
/// loss); made on first use.
#[derive(Debug)]
pub struct SharedLockCounters(OnceLock<Arc<LockCounters>>);

impl SharedLockCounters {
    pub(crate) fn shared(&self) -> &Arc<LockCounters> {
        self.0.get_or_init(Arc::default)
    }
}

impl Counted for SharedLockCounters {
    const ZERO: Self = SharedLockCounters(OnceLock::new());

    fn registry() -> &'static Registry<Self> {
        static REGISTRY: Registry<SharedLockCounters> = Mutex::new(Vec::new());
        &REGISTRY
    }

    #[cfg(feature = "metrics")]
    fn report_as(&self, function: &str) {
        self.shared().report_as(function);
    }
}

/// A snapshot of every `#[with_lock]` function called so far, sorted by name.
pub fn lock_stats() -> Vec<LockStats> {
    snapshot_all(|counters: &SharedLockCounters, name| Some(counters.0.get()?.snapshot(name)))
}
