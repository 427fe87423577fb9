//! The embedded store: a bounded concurrent map from key bytes to entries, and beside it a map
//! of the same bound for locks and rate limits, so that cached values never evict them (and a
//! held lock is never evicted at all).

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use quick_cache::{Lifecycle, Weighter};

use super::shards::{Evicted, Shards, StoreKey};
use crate::compression::Compression;
use crate::entry::{self, EntryHeader};

/// What bounds a [`MemoryStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryBound {
    /// At most this many entries.
    Entries(u64),
    /// At most about this many bytes: key, value and a fixed per-entry overhead. A value kept
    /// decoded (`#[cached]`) weighs what it holds in memory, heap included; bytes weigh their
    /// length.
    Bytes(u64),
}

/// The bytes counted for an entry beyond its key and value (header, map slot, reference counts).
const ENTRY_OVERHEAD: u64 = 96;

/// A value as the memory store holds it.
#[derive(Clone)]
pub(crate) enum StoredValue {
    /// Stored by `#[cached]`: the Rust value itself (a [`Decoded`]), behind one pointer.
    Decoded(Arc<dyn DecodedEntry>),
    /// Stored as bytes (an entry in the format of [`crate::entry`], or anything else).
    Encoded(Arc<[u8]>),
    /// The state of a client kept in the state map (a rate limit's, a lock's), changed in place.
    State(Box<dyn ClientState>),
}

/// What the store needs of a client's state (a rate limit's, a lock's) without knowing it: its
/// weight, and whether eviction must leave it alone.
pub(crate) trait ClientState: Any + Send + Sync {
    /// The bytes it holds in memory, for a [`MemoryBound::Bytes`] bound.
    fn weight(&self) -> usize;
    /// Whether eviction must pass it over (a held lock).
    fn pinned(&self) -> bool;
    /// A copy, for a read that hands an entry out.
    fn boxed_clone(&self) -> Box<dyn ClientState>;
    /// For downcasting to the client's type.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl Clone for Box<dyn ClientState> {
    fn clone(&self) -> Self {
        self.boxed_clone()
    }
}

impl StoredValue {
    /// The client state of type `T`, if this is one.
    pub(crate) fn state_mut<T: ClientState>(&mut self) -> Option<&mut T> {
        match self {
            StoredValue::State(state) => state.as_any_mut().downcast_mut(),
            StoredValue::Decoded(_) | StoredValue::Encoded(_) => None,
        }
    }
}

/// A stored value of type `T` with its header.
pub(crate) struct Decoded<T> {
    pub(crate) header: EntryHeader,
    pub(crate) value: T,
}

/// What the store needs of a [`Decoded`] without knowing `T`.
pub(crate) trait DecodedEntry: Send + Sync {
    /// The entry in the format of [`crate::entry`].
    fn encode(&self) -> Option<Vec<u8>>;
    /// The bytes it holds in memory (see [`super::weight`]).
    fn weight(&self) -> usize;
    /// For downcasting to `Decoded<T>`.
    fn as_any(&self) -> &dyn Any;
}

impl<T: serde::Serialize + Send + Sync + 'static> DecodedEntry for Decoded<T> {
    fn encode(&self) -> Option<Vec<u8>> {
        entry::encode(&self.header, &self.value, Compression::Off).ok()
    }

    fn weight(&self) -> usize {
        std::mem::size_of::<EntryHeader>().saturating_add(super::weight::weight(&self.value))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[derive(Clone)]
pub(crate) struct StoredEntry {
    /// Past this time (ms since the Unix epoch) the entry is gone.
    pub(crate) expires_at: u64,
    pub(crate) value: StoredValue,
    /// Bytes counted against a [`MemoryBound::Bytes`] bound.
    weight: u64,
}

impl StoredEntry {
    pub(crate) fn new(expires_at: u64, value: StoredValue) -> Self {
        StoredEntry {
            expires_at,
            value,
            weight: 1,
        }
    }

    /// The entry in the format of [`crate::entry`].
    pub(crate) fn to_bytes(&self) -> Option<Vec<u8>> {
        match &self.value {
            StoredValue::Decoded(decoded) => decoded.encode(),
            StoredValue::Encoded(bytes) => Some(bytes.to_vec()),
            StoredValue::State(_) => None,
        }
    }
}

#[derive(Clone)]
struct EntryWeighter;

impl Weighter<StoreKey, StoredEntry> for EntryWeighter {
    fn weight(&self, _key: &StoreKey, entry: &StoredEntry) -> u64 {
        entry.weight
    }
}

/// Keeps pinned client state (held locks) out of eviction.
#[derive(Clone, Copy, Debug, Default)]
struct PinClientState;

impl Lifecycle<StoreKey, StoredEntry> for PinClientState {
    type RequestState = Evicted<StoredEntry>;

    fn is_pinned(&self, _key: &StoreKey, entry: &StoredEntry) -> bool {
        matches!(&entry.value, StoredValue::State(state) if state.pinned())
    }

    fn on_evict(&self, evicted: &mut Self::RequestState, key: StoreKey, entry: StoredEntry) {
        evicted.push(key, entry);
    }
}

type Map = Shards<StoredEntry, EntryWeighter, PinClientState>;

/// The embedded in-memory store. Clones share the same entries.
///
/// ```
/// use cache_runtime::{Cache, MemoryStore};
/// let cache = Cache::builder().store(MemoryStore::with_max_bytes(64 << 20)).build().unwrap();
/// # drop(cache);
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    map: Arc<Map>,
    /// Locks and rate limits, bounded alike but apart: cached values never evict them.
    state: Arc<Map>,
    bound: MemoryBound,
}

impl MemoryStore {
    /// A store bounded as given. A zero bound is raised to one entry (or one entry's bytes).
    pub fn new(bound: MemoryBound) -> Self {
        let (items, weight) = match bound {
            MemoryBound::Entries(entries) => (entries.max(1), entries.max(1)),
            MemoryBound::Bytes(bytes) => ((bytes / 256).max(1), bytes.max(ENTRY_OVERHEAD)),
        };
        let items = usize::try_from(items).unwrap_or(usize::MAX);
        let map = || Arc::new(Map::new(items, weight, EntryWeighter, PinClientState));
        MemoryStore {
            map: map(),
            state: map(),
            bound,
        }
    }

    /// At most `entries` entries.
    pub fn with_max_entries(entries: u64) -> Self {
        Self::new(MemoryBound::Entries(entries))
    }

    /// At most about `bytes` bytes.
    pub fn with_max_bytes(bytes: u64) -> Self {
        Self::new(MemoryBound::Bytes(bytes))
    }

    /// Its bound.
    pub fn bound(&self) -> MemoryBound {
        self.bound
    }

    /// How many entries it holds now (cached values, locks and rate limits), expired ones not
    /// yet evicted included.
    pub fn len(&self) -> usize {
        self.map.len() + self.state.len()
    }

    /// Whether it holds no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `read` of the cached entry under `key` unless it has expired by `now` (ms since the Unix
    /// epoch), run in place, without a copy of the entry; `read` must not use this store.
    #[inline]
    pub(crate) fn read<T>(
        &self,
        key: &[u8],
        now: u64,
        read: impl FnOnce(&StoredEntry) -> Option<T>,
    ) -> Option<T> {
        read_live(&self.map, key, now, read)
    }

    /// The cached entry under `key`, unless it has expired by `now`.
    pub(crate) fn get(&self, key: &[u8], now: u64) -> Option<StoredEntry> {
        self.read(key, now, |entry| Some(entry.clone()))
    }

    /// The entry under `key`, a lock's or a rate limit's too (for the plain operations).
    pub(crate) fn get_any(&self, key: &[u8], now: u64) -> Option<StoredEntry> {
        let copy = |entry: &StoredEntry| Some(entry.clone());
        self.get(key, now)
            .or_else(|| read_live(&self.state, key, now, copy))
    }

    /// Stores `entry` under `key`; whether it was kept (an entry heavier than the store can
    /// hold is not).
    pub(crate) fn insert(&self, key: &[u8], entry: StoredEntry) -> bool {
        let entry = self.weighed(key, entry);
        self.map.insert(key, entry);
        // Only a byte bound can refuse an entry (under an entry bound each weighs 1).
        matches!(self.bound, MemoryBound::Entries(_)) || self.map.contains_key(key)
    }

    /// `entry` with its weight set for this store's bound.
    fn weighed(&self, key: &[u8], mut entry: StoredEntry) -> StoredEntry {
        self.weigh(key, &mut entry);
        entry
    }

    /// Sets `entry`'s weight for this store's bound.
    fn weigh(&self, key: &[u8], entry: &mut StoredEntry) {
        if let MemoryBound::Bytes(_) = self.bound {
            let value_bytes = match &entry.value {
                StoredValue::Encoded(bytes) => bytes.len(),
                StoredValue::Decoded(decoded) => decoded.weight(),
                StoredValue::State(state) => state.weight(),
            };
            entry.weight = ENTRY_OVERHEAD + key.len() as u64 + value_bytes as u64;
        }
    }

    /// Reads and writes `key` atomically: `update` sees the live entry (`None` if absent or
    /// expired by `now`) and returns what to store instead (`None`: leave it) and a result.
    pub(crate) fn update<T>(
        &self,
        key: &[u8],
        now: u64,
        mut update: impl FnMut(Option<&StoredEntry>) -> (Option<StoredEntry>, T),
    ) -> T {
        self.modify_in(&self.map, key, now, |live| update(live.as_deref()))
    }

    /// [`update`](Self::update) of a lock or a rate limit, where `modify` may also change the
    /// live entry in place.
    pub(crate) fn modify_state<T>(
        &self,
        key: &[u8],
        now: u64,
        modify: impl FnMut(Option<&mut StoredEntry>) -> (Option<StoredEntry>, T),
    ) -> T {
        self.modify_in(&self.state, key, now, modify)
    }

    fn modify_in<T>(
        &self,
        map: &Map,
        key: &[u8],
        now: u64,
        mut modify: impl FnMut(Option<&mut StoredEntry>) -> (Option<StoredEntry>, T),
    ) -> T {
        map.update(key, |current| {
            let live = current.filter(|current| current.expires_at > now);
            let grown = live
                .as_ref()
                .is_some_and(|live| matches!(live.value, StoredValue::State(_)));
            let (replacement, value) = match live {
                Some(live) => {
                    let (replacement, value) = modify(Some(&mut *live));
                    // Client state may have grown in place (a sliding window's log).
                    if replacement.is_none() && grown {
                        self.weigh(key, live);
                    }
                    (replacement, value)
                }
                None => modify(None),
            };
            (replacement.map(|entry| self.weighed(key, entry)), value)
        })
    }

    /// Removes `key`; whether a live entry was there.
    pub(crate) fn remove_live(&self, key: &[u8], now: u64) -> bool {
        self.map
            .remove(key)
            .is_some_and(|entry| entry.expires_at > now)
    }

    /// The keys that start with `prefix`, live at `now`: cached values, locks and rate limits.
    pub(crate) fn keys_with_prefix(&self, prefix: &[u8], now: u64) -> Vec<Vec<u8>> {
        let mut keys = self.cached_keys_with_prefix(prefix, now);
        keys.extend(live_keys(&self.state, prefix, now));
        keys
    }

    /// The keys of cached values that start with `prefix`, live at `now`.
    pub(crate) fn cached_keys_with_prefix(&self, prefix: &[u8], now: u64) -> Vec<Vec<u8>> {
        live_keys(&self.map, prefix, now)
    }

    pub(crate) fn remove(&self, key: &[u8]) -> bool {
        self.map.remove(key).is_some()
    }

    /// Drops every cached entry (locks and rate limits stay).
    #[cfg(feature = "redis")]
    pub(crate) fn clear_cached(&self) {
        self.map.clear();
    }
}

/// `read` of the entry under `key` in `map`, unless it has expired by `now`.
#[inline]
fn read_live<T>(
    map: &Map,
    key: &[u8],
    now: u64,
    read: impl FnOnce(&StoredEntry) -> Option<T>,
) -> Option<T> {
    map.read(key, |entry| {
        (entry.expires_at > now).then(|| read(entry))?
    })
}

fn live_keys(map: &Map, prefix: &[u8], now: u64) -> Vec<Vec<u8>> {
    map.keys_where(|key, entry| key.starts_with(prefix) && entry.expires_at > now)
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("bound", &self.bound)
            .field("len", &self.len())
            .finish()
    }
}

impl Default for MemoryStore {
    /// 100,000 entries.
    fn default() -> Self {
        Self::with_max_entries(100_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_entry(len: usize) -> StoredEntry {
        StoredEntry::new(u64::MAX, StoredValue::Encoded(vec![0u8; len].into()))
    }

    #[test]
    fn entry_bound_holds() {
        let store = MemoryStore::with_max_entries(100);
        for i in 0u32..1_000 {
            store.insert(&i.to_le_bytes(), bytes_entry(8));
        }
        assert!(store.len() <= 100, "{} entries", store.len());
    }

    #[test]
    fn byte_bound_holds() {
        let store = MemoryStore::with_max_bytes(100_000);
        for i in 0u32..1_000 {
            store.insert(&i.to_le_bytes(), bytes_entry(1_000));
        }
        assert!(
            store.len() <= 100,
            "{} entries of ~1,100 bytes",
            store.len()
        );
    }

    /// A value that reads the store under its own key when it is dropped (a key of the same
    /// shard as the write that drops it).
    struct ReadsOnDrop(MemoryStore, std::sync::mpsc::Sender<bool>);

    const OWN_KEY: &[u8] = b"first";

    impl serde::Serialize for ReadsOnDrop {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_unit()
        }
    }

    impl Drop for ReadsOnDrop {
        fn drop(&mut self) {
            let found = self.0.get(OWN_KEY, 0).is_some();
            let _ = self.1.send(found);
        }
    }

    /// An entry whose value reads `store` when it is dropped, and says so on the channel.
    fn reads_on_drop(store: &MemoryStore) -> (StoredEntry, std::sync::mpsc::Receiver<bool>) {
        let (dropped, on_drop) = std::sync::mpsc::channel();
        let value = Decoded {
            header: EntryHeader {
                codec: crate::Codec::MessagePack,
                negative: false,
                created_at: 0,
                fresh_until: u64::MAX,
                stale_until: u64::MAX,
                compute_micros: 0,
                fingerprint: 0,
                tags: 0,
            },
            value: ReadsOnDrop(store.clone(), dropped),
        };
        let entry = StoredEntry::new(u64::MAX, StoredValue::Decoded(Arc::new(value)));
        (entry, on_drop)
    }

    /// Runs `write` on another thread; whether the value's drop could read the store (dropped
    /// under the store's lock, it would wait for that lock forever).
    fn drop_reads_store(
        write: impl FnOnce() + Send + 'static,
        on_drop: std::sync::mpsc::Receiver<bool>,
    ) -> bool {
        let writing = std::thread::spawn(write);
        let read = on_drop
            .recv_timeout(std::time::Duration::from_secs(10))
            .is_ok();
        if read {
            writing.join().unwrap();
        }
        read
    }

    #[test]
    fn an_evicted_value_is_dropped_after_the_store_lets_go() {
        let store = MemoryStore::with_max_entries(1);
        let (entry, on_drop) = reads_on_drop(&store);
        store.insert(OWN_KEY, entry);
        let evict = move || {
            for i in 0u32..100 {
                store.insert(&i.to_le_bytes(), bytes_entry(8));
            }
        };
        assert!(
            drop_reads_store(evict, on_drop),
            "the evicted value's drop could not read the store"
        );
    }

    #[test]
    fn a_replaced_value_is_dropped_after_the_store_lets_go() {
        let store = MemoryStore::default();
        let (entry, on_drop) = reads_on_drop(&store);
        store.insert(OWN_KEY, entry);
        let replace = move || store.update(OWN_KEY, 0, |_| (Some(bytes_entry(8)), ()));
        assert!(
            drop_reads_store(replace, on_drop),
            "the replaced value's drop could not read the store"
        );
    }

    #[test]
    fn expired_entries_are_not_returned() {
        let store = MemoryStore::default();
        store.insert(
            b"k",
            StoredEntry::new(1_000, StoredValue::Encoded(Arc::from(&b"v"[..]))),
        );
        assert!(store.get(b"k", 999).is_some());
        assert!(store.get(b"k", 1_000).is_none());
    }
}
