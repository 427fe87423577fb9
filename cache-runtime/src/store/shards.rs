//! The memory store's maps: quick_cache's single-threaded cache split in shards, each behind a
//! read-mostly lock, so that a hit writes no memory another thread reads.
//!
//! quick_cache's own concurrent cache hands out a clone of the stored value, made under a
//! read lock that every reader takes on one lock word per shard: for a decoded entry that clone
//! is an `Arc` whose count every hit increments and decrements. On hot keys two threads then
//! pass those cache lines back and forth on every call, and two threads did little more than
//! one. Here a reader takes [`ShardedLock`]'s read lock, which writes only a lock word of its own
//! thread's, and reads the entry in place ([`Shards::read`]): the caller clones what it needs
//! (the value, not its `Arc`) while the lock is held.
//!
//! A key is hashed once: the hash picks the shard and is kept with the key ([`StoreKey`]), so the
//! shard's table does not hash again.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::PoisonError;

use crossbeam_utils::sync::{ShardedLock, ShardedLockReadGuard, ShardedLockWriteGuard};
use quick_cache::{Equivalent, Lifecycle, Weighter};

/// A stored key: its bytes and their hash.
pub(crate) struct StoreKey {
    hash: u64,
    bytes: Box<[u8]>,
}

impl PartialEq for StoreKey {
    fn eq(&self, other: &StoreKey) -> bool {
        self.hash == other.hash && self.bytes == other.bytes
    }
}

impl Eq for StoreKey {}

impl Hash for StoreKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// A key looked up: its bytes and their hash.
#[derive(Clone, Copy)]
pub(crate) struct KeyRef<'a> {
    hash: u64,
    bytes: &'a [u8],
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl Equivalent<StoreKey> for KeyRef<'_> {
    fn equivalent(&self, key: &StoreKey) -> bool {
        self.hash == key.hash && *self.bytes == *key.bytes
    }
}

impl KeyRef<'_> {
    fn to_owned(self) -> StoreKey {
        StoreKey {
            hash: self.hash,
            bytes: self.bytes.into(),
        }
    }
}

/// The shards' tables take the hash kept in the key as it is.
#[derive(Clone, Copy, Default)]
pub(crate) struct KeptHash;

impl BuildHasher for KeptHash {
    type Hasher = KeptHasher;

    fn build_hasher(&self) -> KeptHasher {
        KeptHasher(0)
    }
}

/// Returns the `u64` written to it (keys write only their kept hash).
pub(crate) struct KeptHasher(u64);

impl Hasher for KeptHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }
}

/// What eviction took out of a shard, dropped once its lock is released (a value's `Drop` may
/// be user code that uses the cache). An insert into a full shard usually evicts one entry:
/// that one is held without allocating.
pub(crate) struct Evicted<V> {
    first: Option<(StoreKey, V)>,
    rest: Vec<(StoreKey, V)>,
}

impl<V> Default for Evicted<V> {
    fn default() -> Self {
        Evicted {
            first: None,
            rest: Vec::new(),
        }
    }
}

impl<V> Evicted<V> {
    pub(crate) fn push(&mut self, key: StoreKey, value: V) {
        match self.first {
            None => self.first = Some((key, value)),
            Some(_) => self.rest.push((key, value)),
        }
    }
}

type Shard<V, We, L> = quick_cache::unsync::Cache<StoreKey, V, We, KeptHash, L>;

/// A bounded map from key bytes to `V`, in shards.
pub(crate) struct Shards<V, We, L> {
    shards: Box<[ShardedLock<Shard<V, We, L>>]>,
    hasher: foldhash::fast::RandomState,
}

impl<V, We, L> Shards<V, We, L>
where
    We: Weighter<StoreKey, V> + Clone,
    L: Lifecycle<StoreKey, V, RequestState = Evicted<V>> + Clone,
{
    /// About `items` entries of `weight` in all, in as many shards as quick_cache would make
    /// (four per core, each of at least 32 entries).
    pub(crate) fn new(items: usize, weight: u64, weighter: We, lifecycle: L) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let mut count = (cores * 4).next_power_of_two();
        while count > 1 && items / count < 32 {
            count /= 2;
        }
        let per_shard = |total: u64| total.div_ceil(count as u64);
        let shards = (0..count)
            .map(|_| {
                ShardedLock::new(Shard::with(
                    usize::try_from(per_shard(items as u64)).unwrap_or(usize::MAX),
                    per_shard(weight).max(1),
                    weighter.clone(),
                    KeptHash,
                    lifecycle.clone(),
                ))
            })
            .collect();
        Shards {
            shards,
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// The shard of `key` and the key as looked up.
    #[inline]
    fn locate<'k>(&self, key: &'k [u8]) -> (&ShardedLock<Shard<V, We, L>>, KeyRef<'k>) {
        let hash = self.hash(key);
        // The middle bits pick the shard: the table in it uses the low and the top ones.
        let index = (hash.rotate_right(32) as usize) & (self.shards.len() - 1);
        (&self.shards[index], KeyRef { hash, bytes: key })
    }

    /// Not inlined, and only the `u64` crosses the call (in a register: a key looked up
    /// passed through memory right after it was written was a stall on every read).
    #[inline(never)]
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn read_lock(
        shard: &ShardedLock<Shard<V, We, L>>,
    ) -> ShardedLockReadGuard<'_, Shard<V, We, L>> {
        shard.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_lock(
        shard: &ShardedLock<Shard<V, We, L>>,
    ) -> ShardedLockWriteGuard<'_, Shard<V, We, L>> {
        shard.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// `read` of the value under `key`, under the shard's read lock (marking it used); `None` if
    /// there is none. `read` must not use this map.
    #[inline]
    pub(crate) fn read<T>(&self, key: &[u8], read: impl FnOnce(&V) -> Option<T>) -> Option<T> {
        let (shard, key) = self.locate(key);
        let shard = Self::read_lock(shard);
        shard.get(&key).and_then(read)
    }

    pub(crate) fn contains_key(&self, key: &[u8]) -> bool {
        let (shard, key) = self.locate(key);
        Self::read_lock(shard).contains_key(&key)
    }

    pub(crate) fn insert(&self, key: &[u8], value: V) {
        let (shard, key) = self.locate(key);
        let mut evicted = Evicted::default();
        Self::write_lock(shard).insert_with_lifecycle(key.to_owned(), value, &mut evicted);
    }

    /// Under the shard's write lock, `update` of the value under `key` (`None` if absent, which
    /// it may change in place), which returns a value to put there instead (`None`: leave it)
    /// and a result. A value replaced is dropped once the lock is released. `update` must not
    /// use this map.
    pub(crate) fn update<T>(
        &self,
        key: &[u8],
        update: impl FnOnce(Option<&mut V>) -> (Option<V>, T),
    ) -> T {
        let (shard, key) = self.locate(key);
        let mut evicted = Evicted::default();
        let mut replaced = None;
        let mut shard = Self::write_lock(shard);
        let result = match shard.get_mut(&key) {
            Some(mut current) => {
                let (replacement, result) = update(Some(&mut *current));
                replaced = replacement.map(|value| std::mem::replace(&mut *current, value));
                result
            }
            None => {
                let (replacement, result) = update(None);
                if let Some(replacement) = replacement {
                    shard.insert_with_lifecycle(key.to_owned(), replacement, &mut evicted);
                }
                result
            }
        };
        drop(shard);
        drop(replaced);
        result
    }

    pub(crate) fn remove(&self, key: &[u8]) -> Option<V> {
        let (shard, key) = self.locate(key);
        let removed = Self::write_lock(shard).remove(&key);
        removed.map(|(_, value)| value)
    }

    /// The keys of the entries `keep` picks, shard by shard.
    pub(crate) fn keys_where(&self, keep: impl Fn(&[u8], &V) -> bool) -> Vec<Vec<u8>> {
        let mut keys = Vec::new();
        for shard in &*self.shards {
            let shard = Self::read_lock(shard);
            keys.extend(
                shard
                    .iter()
                    .filter(|(key, value)| keep(&key.bytes, value))
                    .map(|(key, _)| key.bytes.to_vec()),
            );
        }
        keys
    }

    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| Self::read_lock(shard).len())
            .sum()
    }

    /// Empties every shard (a near cache that stops hearing invalidations).
    #[cfg(feature = "redis")]
    pub(crate) fn clear(&self) {
        for shard in &*self.shards {
            // Taken out under the lock, dropped after it.
            let taken: Vec<(StoreKey, V)> = Self::write_lock(shard).drain().collect();
            drop(taken);
        }
    }
}
