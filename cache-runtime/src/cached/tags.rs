//! Tags: `#[cached(tags = ["user:{id}"])]` and `Cache::invalidate_tag("user:42")`, one write
//! whatever the number of entries.
//!
//! ```text
//! {prefix}:tag:{user:42}   → a random version, e.g. "8391022750318214119"
//! entry (header.tags)      → stamp(versions of its tags when its computation began)
//! read                     → MGET entry tag… (one round trip; split per node on a Cluster)
//!                            the entry counts only if its stamp is the tags' stamp now
//! invalidate_tag           → UNLINK the tag key: every stamp over it is void
//! a miss, before computing → each tag's version read, or made with a new random one, and its
//!                            key kept alive as long as the entry about to be stored (a script)
//! ```
//! Versions are random, never a counter from 0: a tag key evicted or expired and made again can
//! never bring back the entries stamped under its old version. Versions are read (or made) before
//! the body runs, so an invalidation during the computation voids what it stores. A tag key lives
//! at least as long as the longest entry stamped under it since, plus a minute (a computation's
//! time), and at most twice that: tag keys of groups no longer cached expire. On the memory
//! store the versions live in the store itself, under the same keys, bounded with everything
//! else.

use crate::entry::Fnv;
use crate::key::{namespace, Key};
#[cfg(feature = "redis")]
use crate::store::{Failure, RedisStore};
use crate::store::{MemoryStore, StoredEntry, StoredValue};
use crate::{Cache, CacheError};

/// The start of a tag's key: `{prefix}:tag:{`; the expansion renders the tag after it and
/// closes it with [`close_tag`](crate::__private::close_tag).
pub fn tag_key(cache: &Cache) -> Key {
    let mut key = Key::template(cache);
    key.text(namespace::TAG);
    key.text("{");
    key
}

/// The stamp of versions, in the order of the tags: FNV-1a over each version's length and bytes;
/// never 0, which marks an untagged entry.
pub(crate) fn stamp<'v>(versions: impl IntoIterator<Item = &'v [u8]>) -> u64 {
    let mut hash = Fnv::default();
    for version in versions {
        hash.write(&(version.len() as u64).to_le_bytes());
        hash.write(version);
    }
    hash.0.max(1)
}

/// A new version: a random number from the thread's OS-seeded generator (never a test's seed,
/// so two processes never draw the same sequence).
fn new_version() -> Vec<u8> {
    fastrand::u64(..).to_string().into_bytes()
}

/// The version of `tag` in the memory store (or a near cache's L1), if it has one.
fn version_in(store: &MemoryStore, tag: &Key, now: u64) -> Option<std::sync::Arc<[u8]>> {
    match store.get(tag.as_bytes(), now)?.value {
        StoredValue::Encoded(bytes) => Some(bytes),
        _ => None,
    }
}

/// The stamp of `tags`' versions in `store`; `None` if one has none (nothing stamped over it
/// can be used).
pub(crate) fn stamp_in(store: &MemoryStore, tags: &[Key], now: u64) -> Option<u64> {
    let versions: Option<Vec<_>> = tags.iter().map(|tag| version_in(store, tag, now)).collect();
    Some(stamp(versions?.iter().map(|version| &version[..])))
}

/// The stamp of `tags`' versions in the memory store, each made first if it has none.
pub(crate) fn ensure_in(store: &MemoryStore, tags: &[Key], now: u64) -> u64 {
    let versions: Vec<_> = tags
        .iter()
        .map(|tag| {
            version_in(store, tag, now).unwrap_or_else(|| {
                let version: std::sync::Arc<[u8]> = new_version().into();
                let entry = StoredEntry::new(u64::MAX, StoredValue::Encoded(version.clone()));
                store.insert(tag.as_bytes(), entry);
                version
            })
        })
        .collect();
    stamp(versions.iter().map(|version| &version[..]))
}

/// How much longer than the entries stamped under it a tag's key lives on Redis: room for the
/// computation between reading the version and storing the entry.
#[cfg(feature = "redis")]
pub(crate) const KEEP_MARGIN: std::time::Duration = std::time::Duration::from_secs(60);

/// Reads a tag's version (`KEYS[1]`), making it `ARGV[1]` if there is none, and keeps the key
/// at least `ARGV[2]` ms more; the version kept. A key is given twice that, so that it is touched
/// (a write, which near caches hear as an invalidation of the version) at most once per
/// `ARGV[2]`. (`SET … NX GET` would need Redis 7.)
#[cfg(feature = "redis")]
const VERSION_SOURCE: &str = r"
local keep = tonumber(ARGV[2])
local version = redis.call('GET', KEYS[1])
if not version then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', 2 * keep)
  return ARGV[1]
end
local left = redis.call('PTTL', KEYS[1])
if left >= 0 and left < keep then
  redis.call('PEXPIRE', KEYS[1], 2 * keep)
end
return version
";

#[cfg(feature = "redis")]
static VERSION: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(VERSION_SOURCE));

/// `MGET entry tag…`: the entry and its tags' versions in one round trip.
#[cfg(feature = "redis")]
pub(crate) fn read_with_versions(key: &Key, tags: &[Key]) -> redis::Cmd {
    let mut cmd = redis::cmd("MGET");
    cmd.arg(key);
    for tag in tags {
        cmd.arg(tag);
    }
    cmd
}

/// What `MGET entry tag…` gave: the entry, and the versions if every tag has one.
#[cfg(feature = "redis")]
pub(super) fn split(mut replies: Vec<Option<Vec<u8>>>) -> super::read::RemoteEntry {
    let entry = match replies.is_empty() {
        true => None,
        false => replies.remove(0),
    };
    super::read::RemoteEntry {
        entry,
        versions: replies.into_iter().collect(),
    }
}

/// Installs the tags' versions a read found in the near cache's L1, each under the ticket taken
/// for it before the read (refused if an invalidation of the tag came in between).
#[cfg(feature = "redis")]
pub(super) fn fill_near(
    near: &crate::near::Near,
    tags: &[Key],
    versions: &[Vec<u8>],
    tickets: Vec<crate::near::FillTicket>,
) {
    for ((tag, version), ticket) in tags.iter().zip(versions).zip(tickets) {
        let version = StoredValue::Encoded(version.as_slice().into());
        near.fill(tag.as_bytes(), ticket, StoredEntry::new(u64::MAX, version));
    }
}

/// The stamp of `tags`' versions on Redis, each made first if it has none, each tag's key kept
/// alive for an entry that lives `lifetime` (one script per tag, sent together).
#[cfg(feature = "redis")]
pub(crate) async fn ensure_on(
    redis: &RedisStore,
    tags: &[Key],
    lifetime: std::time::Duration,
) -> Result<u64, Failure> {
    let keep = lifetime.saturating_add(KEEP_MARGIN);
    let keep_ms = u64::try_from(keep.as_millis()).unwrap_or(u64::MAX);
    let reads = tags.iter().map(|tag| {
        let mut invocation = VERSION.prepare_invoke();
        invocation.key(tag).arg(new_version()).arg(keep_ms);
        redis.invoke::<Vec<u8>>(invocation)
    });
    let versions = futures_util::future::join_all(reads).await;
    let versions: Vec<Vec<u8>> = versions.into_iter().collect::<Result<_, _>>()?;
    Ok(stamp(versions.iter().map(Vec::as_slice)))
}

impl Cache {
    /// Invalidates every entry of a `#[cached(tags = […])]` function tagged `tag`, in one write
    /// whatever their number: `tag` is the tag as its template renders it (`"user:42"` for
    /// `tags = ["user:{id}"]`; a string value is escaped as in keys). Whether the tag had a
    /// version. Entries stamped under it are misses from now on, in every process (and every
    /// near cache once it hears the write); a computation begun before it stores an entry that
    /// is already void.
    ///
    /// ```
    /// use cache_runtime::{cached, Cache};
    /// use std::sync::LazyLock;
    ///
    /// static CACHE: LazyLock<Cache> = LazyLock::new(|| Cache::builder().build().unwrap());
    ///
    /// #[cached(ttl = 600, tags = ["user:{id}"], store = CACHE)]
    /// async fn profile(id: u64) -> String { format!("profile {id}") }
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// profile(42).await;
    /// assert!(profile::peek(&42).await.is_some());
    /// CACHE.invalidate_tag("user:42").await.unwrap();
    /// assert!(profile::peek(&42).await.is_none());
    /// # });
    /// ```
    pub async fn invalidate_tag(&self, tag: &str) -> Result<bool, CacheError> {
        let key = format!("{}{{{tag}}}", namespace::TAG);
        Ok(self.remove_keys("invalidate_tag", &[&key]).await? == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_differ_by_version_and_order_and_are_never_zero() {
        let (a, b) = (&b"1"[..], &b"2"[..]);
        assert_ne!(stamp([a, b]), stamp([b, a]));
        assert_ne!(stamp([a]), stamp([b]));
        assert_ne!(stamp([&b"12"[..]]), stamp([a, b]));
        assert_ne!(stamp([a]), 0);
    }
}
