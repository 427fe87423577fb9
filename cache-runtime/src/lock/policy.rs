//! Lock policies as values, built with `const fn`s: a policy declared as a `const` is checked by
//! the compiler (a zero lease stops compilation).

use core::time::Duration;

/// The lease of `#[with_lock]` when none is given.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// How a lock is held: its lease, how long to wait for it, whether to renew it while held, and
/// what a body does when the lease is lost anyway.
///
/// ```
/// use cache_runtime::LockPolicy;
/// use std::time::Duration;
///
/// pub const ORDERS: LockPolicy = LockPolicy::new(Duration::from_secs(30)).wait(Duration::from_secs(5));
/// assert_eq!(ORDERS.renews_every(), Some(Duration::from_secs(10)));
/// ```
///
/// ```compile_fail
/// use cache_runtime::LockPolicy;
/// // error[E0080]: evaluation of constant value failed: `ttl` must be at least a millisecond
/// const BROKEN: LockPolicy = LockPolicy::new(std::time::Duration::ZERO);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LockPolicy {
    lease: Duration,
    wait: Duration,
    renew: bool,
    cancel_on_loss: bool,
}

impl LockPolicy {
    /// A lease of `ttl`, waiting up to one lease for the lock, renewed while held, and an async
    /// body cancelled if the lease is lost. Panics (a compile error in a `const`) if `ttl` is
    /// under a millisecond.
    pub const fn new(ttl: Duration) -> Self {
        if ttl.as_millis() == 0 {
            panic!("LockPolicy: `ttl` must be at least a millisecond");
        }
        LockPolicy {
            lease: ttl,
            wait: ttl,
            renew: true,
            cancel_on_loss: true,
        }
    }

    /// The longest wait for the lock; `Duration::ZERO` tries once.
    pub const fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Holds the lock for one lease at most: no renewal while the body runs.
    pub const fn no_renewal(mut self) -> Self {
        self.renew = false;
        self
    }

    /// Lets an async body run on when its lease is lost (the default cancels it and returns
    /// [`LockError::Lost`](crate::LockError::Lost)); it can ask
    /// [`lock::still_held`](crate::lock::still_held).
    pub const fn continue_on_loss(mut self) -> Self {
        self.cancel_on_loss = false;
        self
    }

    /// The lease.
    pub const fn lease(&self) -> Duration {
        self.lease
    }

    /// The longest wait.
    pub const fn longest_wait(&self) -> Duration {
        self.wait
    }

    /// How often the lease is renewed while held (a third of it), if it is.
    pub const fn renews_every(&self) -> Option<Duration> {
        match self.renew {
            true => {
                let third = self.lease.as_nanos() / 3;
                Some(Duration::from_nanos(if third > u64::MAX as u128 {
                    u64::MAX
                } else {
                    third as u64
                }))
            }
            false => None,
        }
    }

    /// Whether an async body is cancelled when the lease is lost.
    pub const fn cancels_on_loss(&self) -> bool {
        self.cancel_on_loss
    }
}

impl Default for LockPolicy {
    /// [`DEFAULT_LEASE`].
    fn default() -> Self {
        LockPolicy::new(DEFAULT_LEASE)
    }
}
