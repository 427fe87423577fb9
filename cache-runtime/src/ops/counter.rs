//! Counters: `incr` and `decr`, an integer kept as the decimal text Redis counts in, its TTL set
//! only by the call that creates it.

use std::time::Duration;

#[cfg(feature = "redis")]
use super::millis;
use crate::error::{CacheError, CacheErrorKind};
#[cfg(feature = "redis")]
use crate::store::Failure;
use crate::store::{Backend, StoredEntry, StoredValue};
use crate::Cache;

#[cfg(feature = "redis")]
/// Adds the TTL to a counter only when the increment creates it, in one atomic step. The new
/// value is returned as Redis's own text (`GET`), never through a Lua number, which is a double
/// and would round values past 2^53.
const INCR_SCRIPT: &str = r"
if ARGV[2] ~= '0' then
  redis.call('SET', KEYS[1], '0', 'NX', 'PX', ARGV[2])
end
redis.call('INCRBY', KEYS[1], ARGV[1])
return redis.call('GET', KEYS[1])
";

impl Cache {
    /// Adds `by` to the counter under `key` (a missing counter starts at 0) and returns the new
    /// value. A counter this call creates gets `ttl_on_create` in the same atomic step, so it can
    /// never be left without its expiry; an existing counter keeps its TTL.
    pub async fn incr(
        &self,
        key: &str,
        by: i64,
        ttl_on_create: Option<Duration>,
    ) -> Result<i64, CacheError> {
        self.add_to_counter("incr", key, by, ttl_on_create).await
    }

    /// Subtracts `by` from the counter under `key`; see [`incr`](Self::incr).
    pub async fn decr(
        &self,
        key: &str,
        by: i64,
        ttl_on_create: Option<Duration>,
    ) -> Result<i64, CacheError> {
        let by = by
            .checked_neg()
            .ok_or_else(|| CacheError::new("decr", Some(key), CacheErrorKind::Overflow))?;
        self.add_to_counter("decr", key, by, ttl_on_create).await
    }

    async fn add_to_counter(
        &self,
        operation: &'static str,
        key: &str,
        by: i64,
        ttl_on_create: Option<Duration>,
    ) -> Result<i64, CacheError> {
        Self::writable(operation, key)?;
        Self::check_ttl(operation, key, ttl_on_create)?;
        let error = |kind| CacheError::new(operation, Some(key), kind);
        match self.backend() {
            Backend::Memory(store) => {
                let created_expiry = self.expires_at(ttl_on_create);
                store
                    .update(
                        self.full_key(key).as_bytes(),
                        self.now_millis(),
                        |current| {
                            let (count, expires_at) = match current {
                                None => (Some(0), created_expiry),
                                Some(entry) => (counter_value(&entry.value), entry.expires_at),
                            };
                            let Some(count) = count else {
                                return (None, Err(CacheErrorKind::NotAnInteger));
                            };
                            match count.checked_add(by) {
                                Some(count) => {
                                    let text = count.to_string().into_bytes();
                                    let value = StoredValue::Encoded(text.into());
                                    (Some(StoredEntry::new(expires_at, value)), Ok(count))
                                }
                                None => (None, Err(CacheErrorKind::Overflow)),
                            }
                        },
                    )
                    .map_err(error)
            }
            #[cfg(feature = "redis")]
            Backend::Redis(store) => {
                let full = self.full_key(key);
                let ttl_ms = ttl_on_create.map_or(0, millis);
                let outcome = store
                    .run(move |mut link| async move {
                        redis::Script::new(INCR_SCRIPT)
                            .key(full)
                            .arg(by)
                            .arg(ttl_ms)
                            .invoke_async::<i64>(&mut link)
                            .await
                    })
                    .await;
                match outcome {
                    Ok(count) => Ok(count),
                    Err(Failure::Redis(e)) if e.to_string().contains("would overflow") => {
                        Err(error(CacheErrorKind::Overflow))
                    }
                    Err(Failure::Redis(e)) if e.to_string().contains("not an integer") => {
                        Err(error(CacheErrorKind::NotAnInteger))
                    }
                    Err(failure) => Err(error(failure.kind())),
                }
            }
        }
    }
}

/// The integer a counter entry holds, if it is one.
fn counter_value(value: &StoredValue) -> Option<i64> {
    match value {
        StoredValue::Encoded(bytes) => std::str::from_utf8(bytes).ok()?.parse().ok(),
        StoredValue::Decoded(_) | StoredValue::State(_) => None,
    }
}
