//! Reading one entry for a call: from the memory store (kept decoded) or from bytes (Redis, or
//! bytes set through the plain operations), judged for freshness before the value is decoded.

use super::fresh::{judge, Judged};
use super::kind::ReturnKind;
use super::tags;
use crate::entry::{self, EntryHeader};
use crate::key::Key;
use crate::stats::Counters;
use crate::store::{Decoded, MemoryStore, StoredValue};
#[cfg(feature = "redis")]
use crate::store::{Failure, RedisStore};
use crate::{Cache, CachePolicy};

/// Counters for reads that must not count: peeks, a leader's re-check, a lock waiter's re-read.
pub(super) static UNCOUNTED: Counters = Counters::new();

/// The value under `key` in the memory store and what it is good for; `None` if there is none
/// usable (absent, past every window, or of another type).
pub(super) fn read_memory<K, R>(
    cache: &Cache,
    (key, tags): (&Key, &[Key]),
    policy: &CachePolicy,
    counters: &Counters,
) -> Option<(R, Judged)>
where
    K: ReturnKind<R>,
{
    read_store::<K, R>(cache.memory_store()?, cache, (key, tags), policy, counters)
}

/// The value under `key` in `store` (the memory store, or a near cache's L1) and what it is
/// good for; `None` if there is none usable. A tagged entry counts only if its stamp is that of
/// the versions `store` holds for `tags` now.
pub(super) fn read_store<K, R>(
    store: &MemoryStore,
    cache: &Cache,
    (key, tags): (&Key, &[Key]),
    policy: &CachePolicy,
    counters: &Counters,
) -> Option<(R, Judged)>
where
    K: ReturnKind<R>,
{
    let mut other = None;
    match read_fresh::<K, R>(store, cache, (key, tags), policy, counters, &mut other) {
        Some(value) => Some((value, Judged::Fresh)),
        None => other,
    }
}

/// [`read_store`] for the common hit: a fresh value is returned as it was cloned (wrapped with
/// what it is good for, it was copied once more); anything else usable is put in `other`.
pub(super) fn read_fresh<K, R>(
    store: &MemoryStore,
    cache: &Cache,
    (key, tags): (&Key, &[Key]),
    policy: &CachePolicy,
    counters: &Counters,
    other: &mut Option<(R, Judged)>,
) -> Option<R>
where
    K: ReturnKind<R>,
{
    let now = cache.now_millis();
    let stamp = match tags {
        [] => 0,
        tags => tags::stamp_in(store, tags, now)?,
    };
    // Under the store's read lock: the value is cloned in place (a fresh one returned as it
    // is; anything else kept aside); bytes are decoded after.
    let mut aside = None;
    let fresh = store.read(key.as_bytes(), now, |entry| {
        match &entry.value {
            StoredValue::Decoded(decoded) => {
                match decoded.as_any().downcast_ref::<Decoded<K::Stored>>() {
                    Some(decoded) if decoded.header.tags != stamp => {}
                    Some(decoded) => {
                        match judge(&decoded.header, now, policy, || cache.random_unit()) {
                            Judged::Fresh => return Some(K::from_stored(decoded.value.clone())),
                            Judged::Gone => {}
                            judged => {
                                let value = K::from_stored(decoded.value.clone());
                                aside = Some(InStore::Value(value, judged));
                            }
                        }
                    }
                    None => aside = Some(InStore::OtherType),
                }
            }
            StoredValue::Encoded(bytes) => aside = Some(InStore::Bytes(bytes.clone())),
            StoredValue::State(_) => aside = Some(InStore::OtherType),
        }
        None
    });
    if fresh.is_some() {
        return fresh;
    }
    let found = match aside? {
        InStore::Value(value, judged) => Some((value, judged)),
        InStore::Bytes(bytes) => read_bytes::<K, R>(cache, (key, stamp), &bytes, policy, counters),
        InStore::OtherType => {
            counters.decode_failures.bump();
            tracing::warn!(%key, "stored value is of another type; recomputing");
            None
        }
    };
    match found {
        // Bytes set through the plain operations, fresh.
        Some((value, Judged::Fresh)) => Some(value),
        found => {
            *other = found;
            None
        }
    }
}

/// What a read found in the memory store.
enum InStore<R> {
    Value(R, Judged),
    /// Bytes set through the plain operations.
    Bytes(std::sync::Arc<[u8]>),
    /// A value of another type, or a lock's or rate limit's state.
    OtherType,
}

/// The value in the entry `bytes` and what it is good for; `None` if they do not decode to the
/// expected type (counted), the entry is past every window, or it is not stamped `stamp` (the
/// stamp of its tags' versions now; 0 untagged).
pub(super) fn read_bytes<K, R>(
    cache: &Cache,
    (key, stamp): (&Key, u64),
    bytes: &[u8],
    policy: &CachePolicy,
    counters: &Counters,
) -> Option<(R, Judged)>
where
    K: ReturnKind<R>,
{
    let (_, stored, judged) = read_entry::<K, R>(cache, (key, stamp), bytes, policy, counters)?;
    Some((K::from_stored(stored), judged))
}

/// The header, the stored value and what it is good for, of the entry `bytes`; `None` if they
/// do not decode to the expected type (counted), the entry is past every window, or it is not
/// stamped `stamp`.
pub(super) fn read_entry<K, R>(
    cache: &Cache,
    (key, stamp): (&Key, u64),
    bytes: &[u8],
    policy: &CachePolicy,
    counters: &Counters,
) -> Option<(EntryHeader, K::Stored, Judged)>
where
    K: ReturnKind<R>,
{
    let decoded = entry::decode_header(bytes).and_then(|(header, payload)| {
        if header.fingerprint != entry::fingerprint::<K::Stored>() {
            return Err(entry::DecodeError::OtherType);
        }
        if header.tags != stamp {
            return Ok(None);
        }
        let judged = judge(&header, cache.now_millis(), policy, || cache.random_unit());
        if judged == Judged::Gone {
            return Ok(None);
        }
        let stored = payload.decode::<K::Stored>(header.codec)?;
        Ok(Some((header, stored, judged)))
    });
    decoded.unwrap_or_else(|error| {
        counters.decode_failures.bump();
        tracing::warn!(%key, %error, "stored entry does not decode; recomputing");
        None
    })
}

/// Installs an entry read from Redis in the near cache's L1 (kept decoded, as the memory store
/// keeps it), under the ticket taken before the read.
#[cfg(feature = "redis")]
pub(super) fn fill_near<S: serde::Serialize + Clone + Send + Sync + 'static>(
    cache: &Cache,
    key: &Key,
    ticket: crate::near::FillTicket,
    header: EntryHeader,
    stored: &S,
) {
    if let Some(near) = cache.near() {
        let value = Decoded {
            header,
            value: stored.clone(),
        };
        let value = StoredValue::Decoded(std::sync::Arc::new(value));
        let entry = crate::store::StoredEntry::new(header.stale_until, value);
        near.fill(key.as_bytes(), ticket, entry);
    }
}

/// The `GET` of the entry under `key`.
#[cfg(feature = "redis")]
pub(super) fn get_entry(key: &Key) -> redis::Cmd {
    let mut cmd = redis::cmd("GET");
    cmd.arg(key);
    cmd
}

/// An entry read from Redis (if there is one) and its tags' versions now.
#[cfg(feature = "redis")]
pub(super) struct RemoteEntry {
    pub(super) entry: Option<Vec<u8>>,
    /// In the order of the tags (none untagged); `None` if a tag has no version.
    pub(super) versions: Option<Vec<Vec<u8>>>,
}

#[cfg(feature = "redis")]
impl RemoteEntry {
    /// The stamp of the versions (0 untagged); `None` if a tag has no version.
    pub(super) fn stamp(&self) -> Option<u64> {
        match self.versions.as_deref()? {
            [] => Some(0),
            versions => Some(tags::stamp(versions.iter().map(Vec::as_slice))),
        }
    }
}

/// The entry under `key` on Redis and its tags' versions: a `GET`, or one `MGET` of the entry
/// and the versions.
#[cfg(feature = "redis")]
pub(super) async fn read_remote(
    redis: &RedisStore,
    key: &Key,
    tags: &[Key],
) -> Result<RemoteEntry, Failure> {
    match tags {
        [] => Ok(RemoteEntry {
            entry: redis.query(get_entry(key)).await?,
            versions: Some(Vec::new()),
        }),
        tags => Ok(tags::split(
            redis.query(tags::read_with_versions(key, tags)).await?,
        )),
    }
}
