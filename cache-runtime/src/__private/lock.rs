//! What `#[with_lock]` expands to: a static site per function, the lock taken before the body,
//! the body run under it, and the lock released after.
//!
//! ```text
//! #[with_lock(key = "order:{id}")]       async fn settle(id: u64) -> Result<R, E> {
//! async fn settle(id: u64)         ==>       let site = { static SITE: LockSite; SITE.named(..) };
//!     -> Result<R, E> { BODY }               let policy = { const POLICY: LockPolicy = ..; &POLICY };
//!                                            let key = { lock_key(cache) "order:" id; close_tag };
//!                                            let guard = match lock_async(site, cache, policy, &key).await {
//!                                                Ok(guard) => guard,
//!                                                Err(error) => return <Result<R, E> as Rejects<LockError>>::rejected(error),
//!                                            };
//!                                            match run_locked_async(guard, policy, async move { BODY }).await {
//!                                                Ok(value) => value,
//!                                                Err(error) => <Result<R, E> as Rejects<LockError>>::rejected(error),
//!                                            }
//!                                        }
//! ```

use std::future::Future;

use crate::key::{namespace, Key};
use crate::lock::{self, LockError, LockGuard, LockPolicy, SharedLockCounters};
use crate::site::Site;
use crate::Cache;

/// One locked function: its name and counters. A `static` in the expansion.
pub type LockSite = Site<SharedLockCounters>;

/// The start of a lock key: `{prefix}:lock:{`; [`close_tag`] ends it.
pub fn lock_key(cache: &Cache) -> Key {
    let mut key = Key::template(cache);
    key.text(namespace::LOCK);
    key.text("{");
    key
}

/// Ends a lock or rate-limit key: its hash tag closes (a lock and its fencing counter share a
/// node; a rate limit lives on the node of its rendered key).
pub fn close_tag(key: &mut Key) {
    key.text("}");
}

fn key_text(key: &Key) -> Result<String, LockError> {
    match key.checked() {
        Ok(key) => Ok(key.to_string()),
        Err(error) => Err(LockError::Backend {
            key: String::new(),
            problem: error.to_string(),
        }),
    }
}

/// Takes the lock, waiting as the policy says.
pub async fn lock_async(
    site: &'static LockSite,
    cache: &Cache,
    policy: &LockPolicy,
    key: &Key,
) -> Result<LockGuard, LockError> {
    lock::acquire(cache, key_text(key)?, policy, site.counters().shared()).await
}

/// [`lock_async`] for a plain `fn`, blocking this thread.
pub fn lock_blocking(
    site: &'static LockSite,
    cache: &Cache,
    policy: &LockPolicy,
    key: &Key,
) -> Result<LockGuard, LockError> {
    crate::driver::block_on(lock_async(site, cache, policy, key))
}

/// Runs the body under the lock and releases it; `Err(Lost)` if the lease was lost and the
/// policy cancels the body then.
pub async fn run_locked_async<R>(
    guard: LockGuard,
    policy: &LockPolicy,
    body: impl Future<Output = R>,
) -> Result<R, LockError> {
    lock::run_async(guard, policy, body).await
}

/// Runs a plain body under the lock and releases it.
pub fn run_locked_blocking<R>(guard: LockGuard, body: impl FnOnce() -> R) -> R {
    lock::run_blocking(guard, body)
}

/// The Lua sources of release and extend (`KEYS[1]` = lock; `ARGV` = owner token, then the
/// channel or the lease in ms), for tests that present a forged owner token.
pub fn lock_scripts() -> (&'static str, &'static str) {
    (crate::store::RELEASE_SOURCE, crate::store::EXTEND_SOURCE)
}
