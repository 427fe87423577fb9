//! What the companions of a cached function call: `peek`, `invalidate` and `key`.

use super::kind::ReturnKind;
use super::read::{get_entry, read_bytes, read_memory, UNCOUNTED};
use crate::key::{Key, KeyError};
use crate::store::{Backend, Failure};
use crate::{Cache, CachePolicy};

/// How a peek judges an entry: fresh or nothing (no early expiry, no stale windows).
const FRESH_ONLY: CachePolicy = CachePolicy::from_secs(1);

/// The fresh value under `key`, without computing or counting anything (a plain `fn`'s `peek`).
pub fn peek<K, R>(cache: &Cache, _kind: K, key: &Key) -> Option<R>
where
    K: ReturnKind<R>,
{
    let key = key.checked().ok()?;
    match cache.backend() {
        Backend::Memory(_) => read_memory::<K, R>(cache, key, &FRESH_ONLY, &UNCOUNTED).map(|f| f.0),
        Backend::Redis(redis) => peeked::<K, R>(cache, key, redis.query_blocking(get_entry(key))),
    }
}

/// The fresh value under `key`, without computing or counting anything (an `async fn`'s `peek`).
pub async fn peek_async<K, R>(cache: &Cache, _kind: K, key: &Key) -> Option<R>
where
    K: ReturnKind<R>,
{
    let key = key.checked().ok()?;
    match cache.backend() {
        Backend::Memory(_) => read_memory::<K, R>(cache, key, &FRESH_ONLY, &UNCOUNTED).map(|f| f.0),
        Backend::Redis(redis) => peeked::<K, R>(cache, key, redis.query(get_entry(key)).await),
    }
}

/// What a peek's `GET` found: `None` also when Redis cannot be reached.
fn peeked<K, R>(cache: &Cache, key: &Key, read: Result<Option<Vec<u8>>, Failure>) -> Option<R>
where
    K: ReturnKind<R>,
{
    read_bytes::<K, R>(cache, key, &read.ok()??, &FRESH_ONLY, &UNCOUNTED).map(|found| found.0)
}

/// Removes the entry under `key`; whether there was one (a plain `fn`'s `invalidate`). `false`
/// also when Redis cannot be reached. Computations of the key begun before it do not store, and
/// callers after it do not join them.
pub fn invalidate(cache: &Cache, key: &Key) -> bool {
    let Ok(key) = key.checked() else {
        return false;
    };
    cache.supersede_blocking(key.as_bytes());
    match cache.backend() {
        Backend::Memory(memory) => memory.remove(key.as_bytes()),
        Backend::Redis(redis) => redis
            .query_blocking::<u64>(unlink(key))
            .is_ok_and(|n| n == 1),
    }
}

/// Removes the entry under `key`; whether there was one (an `async fn`'s `invalidate`); see
/// [`invalidate`].
pub async fn invalidate_async(cache: &Cache, key: &Key) -> bool {
    let Ok(key) = key.checked() else {
        return false;
    };
    cache.supersede(key.as_bytes()).await;
    match cache.backend() {
        Backend::Memory(memory) => memory.remove(key.as_bytes()),
        Backend::Redis(redis) => redis.query::<u64>(unlink(key)).await.is_ok_and(|n| n == 1),
    }
}

/// The `UNLINK` of the entry under `key`.
fn unlink(key: &Key) -> redis::Cmd {
    let mut cmd = redis::cmd("UNLINK");
    cmd.arg(key.to_string());
    cmd
}

/// The full stored key, or why there is none.
pub fn key_string(key: &Key) -> Result<String, KeyError> {
    key.checked().map(Key::to_string).map_err(Clone::clone)
}
