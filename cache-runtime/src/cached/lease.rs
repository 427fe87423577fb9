//! `lock_on_miss` on Redis: before computing, the leader takes the key's lease (the store's
//! [`Lease`], without a fencing token) and reads the key once more (another process may have
//! stored it meanwhile). If another process holds it, the leader waits for that process's
//! value, woken by its fill message, with a jittered fallback re-read, and after the longest
//! wait computes by itself. The lease key is the entry's key followed by a NUL byte and `lock`:
//! it sorts next to the entry, falls under the same prefix (`clear` leaves it), and no rendered
//! key ends that way. Its release announces the entry's fill to the waiters.

use std::time::{Duration, Instant};

use super::call::Fetch;
use super::kind::ReturnKind;
use super::read::{get_entry, read_bytes, UNCOUNTED};
use crate::key::Key;
use crate::store::{Failure, Fence, Lease, RedisStore};

/// How the lease of `lock_on_miss` went.
pub(super) enum Leased<R> {
    /// This call holds it: compute and store.
    Held(Lease),
    /// Another process stored the value meanwhile.
    Filled(R),
    /// No lease (Redis failed, or the longest wait passed): compute anyway.
    Proceed,
    /// Redis failed and the function fails closed: return this, its error.
    Refused(R),
}

/// Where the leader takes the lease: Redis, the key and the longest wait.
pub(super) type Target<'a> = (&'a RedisStore, &'a Key, Duration);

impl<'a, K, R> Fetch<'a, K, R>
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
{
    /// Where to take the lease, when the leader must take it first.
    pub(super) fn lease_target(&self) -> Option<Target<'a>> {
        let wait = self.call.policy.lock_on_miss_wait()?;
        let (redis, key) = self.remote_key()?;
        self.redis_usable.then_some((redis, key, wait))
    }

    /// Takes the lease, or waits for the value of the process that holds it.
    pub(super) async fn lease(&self, (redis, key, wait): Target<'_>) -> Leased<R> {
        let deadline = crate::clock::deadline_after(wait);
        let text = key.to_string();
        let mut waited = false;
        loop {
            // The attempt counts as held until Redis says another holds it: dropped before (a
            // cancelled call, a failed reply that may hide a lease taken), it is released.
            let attempt = Lease::for_entry(self.call.cache, &text, wait);
            let listener = match attempt.acquire(Fence::None).await {
                Ok(Some(_)) => {
                    // Another process may have stored between our GET and our lease.
                    return match self.reread(redis.query(get_entry(key)).await) {
                        Some(Leased::Filled(value)) => {
                            let _ = attempt.release().await;
                            Leased::Filled(value)
                        }
                        _ => Leased::Held(attempt),
                    };
                }
                Ok(None) => {
                    if !std::mem::replace(&mut waited, true) {
                        self.call.site.counters().lock_waits.bump();
                    }
                    redis.listen_for_fill(&text)
                }
                Err(failure) => return self.unleased(failure),
            };
            if let Some(step) = self.reread(redis.query(get_entry(key)).await) {
                return step;
            }
            match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => {
                    crate::driver::wait_for(listener, fallback_pause(left)).await;
                }
                _ => return Leased::Proceed,
            }
        }
    }

    /// Redis failed: compute without the lease, or return the store's error (fail closed).
    fn unleased(&self, failure: Failure) -> Leased<R> {
        match self.store_failed(failure, "lock_on_miss") {
            Some(error) => Leased::Refused(error),
            None => Leased::Proceed,
        }
    }

    /// What a waiter's re-read found: the other process's value, a reason to stop waiting, or
    /// nothing yet (`None`).
    fn reread(&self, read: Result<Option<Vec<u8>>, Failure>) -> Option<Leased<R>> {
        match read {
            Ok(Some(bytes)) => {
                // Another process's value counts if stamped under the versions this call knows.
                let stamp = self.tag_stamp.unwrap_or(0);
                let found = read_bytes::<K, R>(
                    self.call.cache,
                    (self.call.key, stamp),
                    &bytes,
                    self.call.policy,
                    &UNCOUNTED,
                );
                match found {
                    Some((value, judged)) if judged.serves() => Some(Leased::Filled(value)),
                    _ => None,
                }
            }
            Ok(None) => None,
            Err(failure) => Some(self.unleased(failure)),
        }
    }
}

/// A pause between re-reads while waiting for another process's value: 50–150 ms, jittered so
/// that waiters do not read in step; a fill message usually ends the wait sooner.
fn fallback_pause(left: Duration) -> Duration {
    Duration::from_millis(fastrand::u64(50..150)).min(left)
}
