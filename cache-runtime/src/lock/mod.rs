//! Distributed lease locks: `#[with_lock(key = "order:{order_id}", ttl = 30, wait = "5s")]` and
//! the plain [`Locks`].
//!
//! A lock is the store's lease (`store/lease.rs`: acquire, release, extend, owner-checked)
//! taken with a fencing token. On top of it: `policy` (the lease, the wait, renewal, as a
//! `const`-checked value), `guard` (waiting on release wake-ups, renewal at a third of the
//! lease, the guard), `body` (running a body under the lock; [`fencing_token`] and
//! [`still_held`] inside it).

mod body;
mod error;
mod guard;
mod locks;
mod policy;
mod stats;

pub use body::{fencing_token, still_held};
pub use error::LockError;
pub use guard::{running_renewals, safety_margin, LockGuard};
pub use locks::Locks;
pub use policy::{LockPolicy, DEFAULT_LEASE};
pub use stats::{lock_stats, LockStats};

pub(crate) use body::{run_async, run_blocking};
pub(crate) use guard::acquire;

pub use stats::SharedLockCounters;
