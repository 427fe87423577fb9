//! Why a lock was not held.

use std::time::Duration;

/// A lock not acquired, or lost while held. `#[with_lock]` returns it through the function's
/// error type (`E: From<LockError>`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another owner held the lock for the whole wait (`wait = 0`: at the one try).
    #[error("lock `{key}` is held by another owner; gave up after waiting {waited:?}")]
    TimedOut {
        /// The lock's key.
        key: String,
        /// How long the call waited.
        waited: Duration,
    },
    /// The lease ran out, or another owner took the lock, while the body ran: renewal found
    /// the lock no longer ours.
    #[error("lock `{key}` was lost while held: the lease ran out or another owner took it")]
    Lost {
        /// The lock's key.
        key: String,
    },
    /// The store could not be asked (Redis down, timed out, circuit open): the lock is not
    /// held, and the body did not run.
    #[error("lock `{key}` could not be checked: {problem}")]
    Backend {
        /// The lock's key.
        key: String,
        /// What failed.
        problem: String,
    },
    /// Release or extension by a guard that no longer owns the lock.
    #[error("lock `{key}` is not ours: its lease ran out and another owner may hold it")]
    NotOwner {
        /// The lock's key.
        key: String,
    },
}

impl LockError {
    /// The lock's key.
    pub fn key(&self) -> &str {
        match self {
            LockError::TimedOut { key, .. }
            | LockError::Lost { key }
            | LockError::Backend { key, .. }
            | LockError::NotOwner { key } => key,
        }
    }
}
