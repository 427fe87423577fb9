//! Running a body under a held lock: the fencing token visible to it, an async body cancelled
//! when the lease is lost (unless the policy says to continue), and the lock released after.

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;

use futures_util::future::{select, Either};

use super::error::LockError;
use super::guard::{Held, LockGuard};
use super::policy::LockPolicy;

tokio::task_local! {
    /// The lock held by the async body running in this task.
    static TASK_LOCK: Arc<Held>;
}

thread_local! {
    /// The locks held by plain bodies running on this thread, innermost last.
    static THREAD_LOCKS: RefCell<Vec<Arc<Held>>> = const { RefCell::new(Vec::new()) };
}

/// The fencing token of the lock held by the body running now (`#[with_lock]`), or `None`
/// outside one. Inside nested locks, the innermost.
///
/// ```
/// use cache_runtime::{lock, with_lock, LockError};
///
/// #[with_lock(key = "report", ttl = 10)]
/// fn write_report() -> Result<u64, LockError> {
///     Ok(lock::fencing_token().expect("inside the lock"))
/// }
///
/// fn main() {
///     let first = write_report().unwrap();
///     assert!(write_report().unwrap() > first);
///     assert_eq!(lock::fencing_token(), None);
/// }
/// ```
pub fn fencing_token() -> Option<u64> {
    current(|held| held.fence())
}

/// Whether the lock of the body running now is still held, as far as its renewal knows (`false`
/// once a renewal found it lost; `true` outside a lock body is never claimed: `false` there).
pub fn still_held() -> bool {
    current(|held| !held.is_lost()).unwrap_or(false)
}

fn current<T>(read: impl Fn(&Held) -> T) -> Option<T> {
    TASK_LOCK
        .try_with(|held| read(held))
        .ok()
        .or_else(|| THREAD_LOCKS.with(|locks| locks.borrow().last().map(|held| read(held))))
}

/// Runs `body` holding `guard`, then releases it. With [`LockPolicy::cancels_on_loss`] the body
/// is dropped as soon as a renewal finds the lease lost, and the call gives
/// [`LockError::Lost`].
pub(crate) async fn run_async<R>(
    guard: LockGuard,
    policy: &LockPolicy,
    body: impl Future<Output = R>,
) -> Result<R, LockError> {
    let held = Arc::clone(guard.held());
    let body = TASK_LOCK.scope(Arc::clone(&held), body);
    let outcome = match policy.cancels_on_loss() {
        true => match select(pin!(body), pin!(held.lost())).await {
            Either::Left((value, _)) => Ok(value),
            Either::Right(((), _)) => Err(LockError::Lost {
                key: guard.key().to_owned(),
            }),
        },
        false => Ok(body.await),
    };
    match outcome {
        // Lost already (the body was dropped): no waiting on a store that may be out of reach;
        // the guard releases in the background in case the lock is still ours after all.
        Err(lost) => Err(lost),
        Ok(value) => {
            note_release(&held, guard.release().await);
            Ok(value)
        }
    }
}

/// Runs a plain `body` holding `guard`, then releases it. A plain body cannot be cancelled: it
/// can ask [`still_held`].
pub(crate) fn run_blocking<R>(guard: LockGuard, body: impl FnOnce() -> R) -> R {
    let held = Arc::clone(guard.held());
    THREAD_LOCKS.with(|locks| locks.borrow_mut().push(Arc::clone(&held)));
    let popped = PopOnDrop;
    let value = body();
    drop(popped);
    note_release(&held, guard.release_blocking());
    value
}

/// Takes a plain body's lock off the thread's list, even if the body panics.
struct PopOnDrop;

impl Drop for PopOnDrop {
    fn drop(&mut self) {
        THREAD_LOCKS.with(|locks| locks.borrow_mut().pop());
    }
}

/// After a body ran to the end: a release that finds the lock no longer ours (the lease ran out
/// before renewal noticed) counts the lock as lost and is logged, but does not turn a finished
/// body into an error after the fact.
fn note_release(held: &Held, released: Result<(), LockError>) {
    if let Err(error @ LockError::NotOwner { .. }) = released {
        tracing::warn!(%error, "the body finished, but its lock was no longer held");
        held.mark_lost();
    }
}
