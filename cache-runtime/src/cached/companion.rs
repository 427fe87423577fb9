//! What the companions of a cached function call: `peek`, `invalidate` and `key`.

use super::kind::ReturnKind;
#[cfg(feature = "redis")]
use super::read::{read_bytes, read_remote};
use super::read::{read_memory, UNCOUNTED};
use crate::key::{Key, KeyError};
use crate::store::Backend;
use crate::{Cache, CachePolicy};

/// How a peek judges an entry: fresh or nothing (no early expiry, no stale windows).
const FRESH_ONLY: CachePolicy = CachePolicy::from_secs(1);

/// The fresh value under `key` (tagged `tags`), without computing or counting anything (a plain
/// `fn`'s `peek`).
pub fn peek<K, R>(cache: &Cache, kind: K, key: &Key, tags: &[Key]) -> Option<R>
where
    K: ReturnKind<R>,
{
    crate::driver::block_on(peek_async(cache, kind, key, tags))
}

/// The fresh value under `key`, without computing or counting anything (an `async fn`'s `peek`).
/// `None` also when Redis cannot be reached, and for an entry stamped under tag versions that
/// are not the current ones.
pub async fn peek_async<K, R>(cache: &Cache, _kind: K, key: &Key, tags: &[Key]) -> Option<R>
where
    K: ReturnKind<R>,
{
    let key = key.checked().ok()?;
    match cache.backend() {
        Backend::Memory(_) => {
            read_memory::<K, R>(cache, (key, tags), &FRESH_ONLY, &UNCOUNTED).map(|found| found.0)
        }
        #[cfg(feature = "redis")]
        Backend::Redis(redis) => {
            let read = read_remote(redis, key, tags).await.ok()?;
            let stamp = read.stamp()?;
            read_bytes::<K, R>(cache, (key, stamp), &read.entry?, &FRESH_ONLY, &UNCOUNTED)
                .map(|found| found.0)
        }
    }
}

/// Removes the entry under `key`; whether there was one (a plain `fn`'s `invalidate`); see
/// [`invalidate_async`].
pub fn invalidate(cache: &Cache, key: &Key) -> bool {
    crate::driver::block_on(invalidate_async(cache, key))
}

/// Removes the entry under `key`; whether there was one (an `async fn`'s `invalidate`). `false`
/// also when Redis cannot be reached. Computations of the key begun before it do not store, and
/// callers after it do not join them.
pub async fn invalidate_async(cache: &Cache, key: &Key) -> bool {
    let Ok(key) = key.checked() else {
        return false;
    };
    let _superseded = cache.supersede(key.as_bytes()).await;
    match cache.backend() {
        Backend::Memory(memory) => memory.remove(key.as_bytes()),
        #[cfg(feature = "redis")]
        Backend::Redis(redis) => {
            let mut unlink = redis::cmd("UNLINK");
            unlink.arg(key);
            redis.query::<u64>(unlink).await.is_ok_and(|n| n == 1)
        }
    }
}

/// The full stored key, or why there is none.
pub fn key_string(key: &Key) -> Result<String, KeyError> {
    key.checked().map(Key::to_string).map_err(Clone::clone)
}
