//! Counters of locks: per `#[with_lock]` function (listed by [`lock_stats`]) and per
//! [`Locks`](crate::Locks).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};

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
    pub(crate) acquired: AtomicU64,
    pub(crate) waited: AtomicU64,
    pub(crate) timed_out: AtomicU64,
    pub(crate) lost: AtomicU64,
    pub(crate) backend_errors: AtomicU64,
}

impl LockCounters {
    pub(crate) fn snapshot(&self, name: &str) -> LockStats {
        LockStats {
            name: name.to_owned(),
            acquired: self.acquired.load(Relaxed),
            waited: self.waited.load(Relaxed),
            timed_out: self.timed_out.load(Relaxed),
            lost: self.lost.load(Relaxed),
            backend_errors: self.backend_errors.load(Relaxed),
        }
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
}

/// A snapshot of every `#[with_lock]` function called so far, sorted by name.
pub fn lock_stats() -> Vec<LockStats> {
    snapshot_all(|counters: &SharedLockCounters, name| Some(counters.0.get()?.snapshot(name)))
}
