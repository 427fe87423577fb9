//! One cached call: look up, or compute once per key and store.
//!
//! ```text
//! begin ── memory hit ───────────────────────────────────────────────────────► value
//!   └─ fetch ─► (Redis: GET ── hit ──────────────────────────────────────────► value)
//!                 └─► join flight ─┬─ leader ─► (memory: re-check) ─► run body ─► store ─► value
//!                                  └─ follower ─► wait ─┬─ value ─────────────────────► value
//!                                                       └─ abandoned ─► join again
//! ```
//!
//! [`begin`] is synchronous, so a memory hit never builds the body's future or closure. Anything
//! that needs I/O or computing is a [`Fetch`], with an async and a blocking driver over the same
//! steps. On Redis a hit is one `GET` and a miss one `GET` and one `SET … PX`: the leader does
//! not read again (a value stored between its `GET` and its turn is recomputed, not lost). When
//! Redis fails or its circuit is open the call runs the body and returns its value (fail-open).

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Instant;

use event_listener::{EventListener, Listener};

use super::kind::ReturnKind;
use super::{CallMode, FnSite};
use crate::entry::{self, EntryHeader};
use crate::flight::{Follower, Joined, Leader, Outcome};
use crate::key::{Key, KeyError};
use crate::stats::Counters;
use crate::store::{Backend, Decoded, Failure, RedisStore, StoredEntry, StoredValue};
use crate::{Cache, CachePolicy, Codec};

/// Everything one call needs besides its body.
#[derive(Debug)]
pub struct Call<'a, K> {
    site: &'static FnSite,
    cache: &'a Cache,
    policy: &'static CachePolicy,
    kind: PhantomData<K>,
    key: &'a Key,
    mode: CallMode,
}

impl<'a, K> Call<'a, K> {
    /// Describes a call of the function at `site`.
    pub fn new(
        site: &'static FnSite,
        cache: &'a Cache,
        policy: &'static CachePolicy,
        kind: K,
        key: &'a Key,
        mode: CallMode,
    ) -> Self {
        let _ = kind;
        Call {
            site,
            cache,
            policy,
            kind: PhantomData,
            key,
            mode,
        }
    }
}

/// What [`begin`] found.
#[derive(Debug)]
pub enum Begin<'a, K, R> {
    /// A value from the memory store.
    Hit(R),
    /// Not answered without I/O or computing: run [`fetch_async`] or [`fetch_blocking`].
    Fetch(Fetch<'a, K>),
}

/// A call on its way to a value: reading Redis, waiting for another caller, or computing.
#[derive(Debug)]
pub struct Fetch<'a, K> {
    call: Call<'a, K>,
    follower: Option<Follower>,
}

enum Step<'a, R> {
    Done(R),
    Run(Option<Leader<'a>>),
    Wait(EventListener),
}

/// Looks the call up; a hit returns the stored value without building the body.
pub fn begin<'a, K, R>(call: Call<'a, K>) -> Begin<'a, K, R>
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
{
    let counters = call.site.counters();
    match (call.key.checked(), call.mode, call.cache.backend()) {
        (Ok(key), CallMode::Normal, Backend::Memory(_)) => {
            if let Some(value) = lookup::<K, R>(call.cache, key, counters) {
                Counters::bump(&counters.hits);
                return Begin::Hit(value);
            }
            Counters::bump(&counters.misses);
        }
        (Err(error), _, _) => {
            Counters::bump(&counters.key_failures);
            tracing::warn!(function = call.site.name(), %error, "running uncached");
        }
        (Ok(_), CallMode::Normal, Backend::Redis(_)) | (Ok(_), CallMode::Refresh, _) => {}
    }
    Begin::Fetch(Fetch {
        call,
        follower: None,
    })
}

/// What a read of Redis gave.
enum RemoteRead<R> {
    /// A usable value.
    Hit(R),
    /// Nothing usable (absent, expired, or not decodable); the body runs and stores.
    Miss,
    /// Redis failed or was skipped; the body runs, and its value is not stored.
    Unavailable,
}

/// Drives a fetch of an `async fn`.
pub async fn fetch_async<K, R, F>(mut fetch: Fetch<'_, K>, body: F) -> R
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
    F: Future<Output = R>,
{
    let mut store_result = true;
    if let Some((redis, key)) = fetch.remote_key() {
        let read = redis.query(get_entry(key)).await;
        match fetch.remote_read::<R>(read) {
            RemoteRead::Hit(value) => return value,
            RemoteRead::Miss => {}
            RemoteRead::Unavailable => store_result = false,
        }
    }
    loop {
        match fetch.step::<R>() {
            Step::Done(value) => return value,
            Step::Run(leader) => {
                let span = fetch.span();
                let started = Instant::now();
                let value = tracing::Instrument::instrument(body, span).await;
                let (value, write) = fetch.finish(leader, started, value, store_result);
                if let Some(RemoteWrite { redis, site, set }) = write {
                    record_write(site, redis.query(set).await);
                }
                return value;
            }
            Step::Wait(listener) => listener.await,
        }
    }
}

/// Drives a fetch of a plain `fn`. Waiting (for Redis, or for another thread's computation)
/// blocks this thread; Redis itself is driven on a thread of its own, so this is safe inside a
/// tokio runtime, though it holds that runtime's worker for the round trip.
pub fn fetch_blocking<K, R, F>(mut fetch: Fetch<'_, K>, body: F) -> R
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
    F: FnOnce() -> R,
{
    let mut store_result = true;
    if let Some((redis, key)) = fetch.remote_key() {
        let read = redis.query_blocking(get_entry(key));
        match fetch.remote_read::<R>(read) {
            RemoteRead::Hit(value) => return value,
            RemoteRead::Miss => {}
            RemoteRead::Unavailable => store_result = false,
        }
    }
    loop {
        match fetch.step::<R>() {
            Step::Done(value) => return value,
            Step::Run(leader) => {
                let started = Instant::now();
                let value = fetch.span().in_scope(body);
                let (value, write) = fetch.finish(leader, started, value, store_result);
                if let Some(RemoteWrite { redis, site, set }) = write {
                    record_write(site, redis.query_blocking(set));
                }
                return value;
            }
            Step::Wait(listener) => listener.wait(),
        }
    }
}

/// The `GET` of the entry under `key`.
fn get_entry(key: &Key) -> redis::Cmd {
    let mut cmd = redis::cmd("GET");
    cmd.arg(key.to_string());
    cmd
}

/// A computed value on its way to Redis: one `SET … PX`.
struct RemoteWrite<'s> {
    redis: &'s RedisStore,
    site: &'static FnSite,
    set: redis::Cmd,
}

fn record_write(site: &FnSite, outcome: Result<(), Failure>) {
    match outcome {
        Ok(()) => Counters::bump(&site.counters().stores),
        Err(failure) => backend_error(site, &failure, "storing the result"),
    }
}

fn backend_error(site: &FnSite, failure: &Failure, doing: &'static str) {
    Counters::bump(&site.counters().backend_errors);
    tracing::debug!(function = site.name(), %failure, doing, "Redis unusable; running uncached");
}

impl<'a, K> Fetch<'a, K> {
    /// Redis and the key, when this call reads Redis first.
    fn remote_key(&self) -> Option<(&'a RedisStore, &'a Key)> {
        match (
            self.call.cache.backend(),
            self.call.key.checked(),
            self.call.mode,
        ) {
            (Backend::Redis(redis), Ok(key), CallMode::Normal) => Some((redis, key)),
            _ => None,
        }
    }

    /// Counts and decodes what a `GET` gave.
    fn remote_read<R>(&self, read: Result<Option<Vec<u8>>, Failure>) -> RemoteRead<R>
    where
        K: ReturnKind<R>,
    {
        let (site, counters) = (self.call.site, self.call.site.counters());
        let found = match read {
            Ok(Some(bytes)) => {
                decode_entry::<K, R>(self.call.cache, self.call.key, &bytes, counters)
            }
            Ok(None) => None,
            Err(failure) => {
                backend_error(site, &failure, "reading");
                Counters::bump(&counters.misses);
                return RemoteRead::Unavailable;
            }
        };
        match found {
            Some(value) => {
                Counters::bump(&counters.hits);
                RemoteRead::Hit(value)
            }
            None => {
                Counters::bump(&counters.misses);
                RemoteRead::Miss
            }
        }
    }

    fn step<R>(&mut self) -> Step<'a, R>
    where
        K: ReturnKind<R>,
        R: Clone + Send + Sync + 'static,
    {
        let key = match (self.call.key.checked(), self.call.mode) {
            (Ok(key), CallMode::Normal) => key,
            _ => return Step::Run(None),
        };
        let counters = self.call.site.counters();
        loop {
            if let Some(follower) = &self.follower {
                match follower.poll() {
                    Outcome::Wait(listener) => return Step::Wait(listener),
                    Outcome::Value(shared) => {
                        return match shared.downcast_ref::<R>() {
                            Some(value) => {
                                Counters::bump(&counters.coalesced_waits);
                                Step::Done(value.clone())
                            }
                            // Another function with another return type shares this key.
                            None => Step::Run(None),
                        };
                    }
                    Outcome::Abandoned => self.follower = None,
                }
            }
            match self.call.cache.flights().join(key.as_bytes()) {
                Joined::Follower(follower) => self.follower = Some(follower),
                Joined::Leader(leader)
                    if matches!(self.call.cache.backend(), Backend::Redis(_)) =>
                {
                    return Step::Run(Some(leader));
                }
                Joined::Leader(leader) => {
                    // A leader that finished between our lookup and our join stored its value.
                    // (A decode failure here was counted by the first lookup.)
                    return match lookup::<K, R>(self.call.cache, key, &UNCOUNTED) {
                        Some(value) => {
                            leader.finish(|| Arc::new(value.clone()));
                            Step::Done(value)
                        }
                        None => Step::Run(Some(leader)),
                    };
                }
            }
        }
    }

    /// Counts the run, stores the value in memory or prepares its Redis write, and shares it
    /// with the followers. `store_result` is false when Redis just failed: no write is tried.
    fn finish<R>(
        self,
        leader: Option<Leader<'_>>,
        started: Instant,
        value: R,
        store_result: bool,
    ) -> (R, Option<RemoteWrite<'a>>)
    where
        K: ReturnKind<R>,
        R: Clone + Send + Sync + 'static,
    {
        let elapsed = started.elapsed();
        let (site, cache) = (self.call.site, self.call.cache);
        let counters = site.counters();
        Counters::bump(&counters.computes);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        counters
            .compute_nanos
            .fetch_add(nanos, std::sync::atomic::Ordering::Relaxed);
        let mut write = None;
        if let (Ok(key), Some((stored, negative)), true) =
            (self.call.key.checked(), K::to_stored(&value), store_result)
        {
            let compute_micros = u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX);
            let (header, ttl_ms) = header_for(cache, self.call.policy, negative, compute_micros);
            match cache.backend() {
                Backend::Memory(memory) => {
                    let value = StoredValue::Decoded(Arc::new(Decoded {
                        header,
                        value: stored,
                    }));
                    memory.insert(key.as_bytes(), StoredEntry::new(header.stale_until, value));
                    Counters::bump(&counters.stores);
                }
                Backend::Redis(redis) => match entry::encode(&header, &stored) {
                    Ok(bytes) => {
                        let mut set = redis::cmd("SET");
                        set.arg(key.to_string()).arg(bytes).arg("PX").arg(ttl_ms);
                        write = Some(RemoteWrite { redis, site, set });
                    }
                    Err(error) => {
                        tracing::warn!(function = site.name(), %error, "result does not encode; not stored")
                    }
                },
            }
        }
        if let Some(leader) = leader {
            leader.finish(|| Arc::new(value.clone()));
        }
        (value, write)
    }

    fn span(&self) -> tracing::Span {
        tracing::debug_span!(
            "cache.compute",
            function = self.call.site.name(),
            refresh = matches!(self.call.mode, CallMode::Refresh)
        )
    }
}

/// Counters for lookups that must not count: peeks and a leader's re-check.
static UNCOUNTED: Counters = Counters::new();

/// The stored value under `key` in the memory store, if it is there, fresh and of the expected
/// type.
fn lookup<K, R>(cache: &Cache, key: &Key, counters: &Counters) -> Option<R>
where
    K: ReturnKind<R>,
{
    let Backend::Memory(memory) = cache.backend() else {
        return None;
    };
    let entry = memory.get(key.as_bytes(), cache.now_millis())?;
    match entry.value {
        StoredValue::Decoded(decoded) => {
            match decoded.as_any().downcast_ref::<Decoded<K::Stored>>() {
                Some(decoded) => Some(K::from_stored(decoded.value.clone())),
                None => {
                    Counters::bump(&counters.decode_failures);
                    tracing::warn!(%key, "stored value is of another type; recomputing");
                    None
                }
            }
        }
        StoredValue::Encoded(bytes) => decode_entry::<K, R>(cache, key, &bytes, counters),
    }
}

/// The value in the entry `bytes`, if they decode to the expected type and are still fresh.
fn decode_entry<K, R>(cache: &Cache, key: &Key, bytes: &[u8], counters: &Counters) -> Option<R>
where
    K: ReturnKind<R>,
{
    match entry::decode::<K::Stored>(bytes) {
        Ok((header, stored)) if header.stale_until > cache.now_millis() => {
            Some(K::from_stored(stored))
        }
        Ok(_) => None,
        Err(error) => {
            Counters::bump(&counters.decode_failures);
            tracing::warn!(%key, %error, "stored entry does not decode; recomputing");
            None
        }
    }
}

/// The header of an entry stored now, and its time to live in milliseconds.
fn header_for(
    cache: &Cache,
    policy: &CachePolicy,
    negative: bool,
    compute_micros: u32,
) -> (EntryHeader, u64) {
    let now = cache.now_millis();
    let ttl_ms = u64::try_from(policy.ttl_for(negative).as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let expires = now.saturating_add(ttl_ms);
    let header = EntryHeader {
        codec: Codec::MessagePack,
        negative,
        created_at: now,
        fresh_until: expires,
        stale_until: expires,
        compute_micros,
    };
    (header, ttl_ms)
}

/// The stored value under `key` without computing or counting anything (a plain `fn`'s `peek`).
pub fn peek<K, R>(cache: &Cache, _kind: K, key: &Key) -> Option<R>
where
    K: ReturnKind<R>,
{
    let key = key.checked().ok()?;
    match cache.backend() {
        Backend::Memory(_) => lookup::<K, R>(cache, key, &UNCOUNTED),
        Backend::Redis(redis) => peeked::<K, R>(cache, key, redis.query_blocking(get_entry(key))),
    }
}

/// The stored value under `key` without computing or counting anything (an `async fn`'s `peek`).
pub async fn peek_async<K, R>(cache: &Cache, _kind: K, key: &Key) -> Option<R>
where
    K: ReturnKind<R>,
{
    let key = key.checked().ok()?;
    match cache.backend() {
        Backend::Memory(_) => lookup::<K, R>(cache, key, &UNCOUNTED),
        Backend::Redis(redis) => peeked::<K, R>(cache, key, redis.query(get_entry(key)).await),
    }
}

/// What a peek's `GET` found: `None` also when Redis cannot be reached.
fn peeked<K, R>(cache: &Cache, key: &Key, read: Result<Option<Vec<u8>>, Failure>) -> Option<R>
where
    K: ReturnKind<R>,
{
    decode_entry::<K, R>(cache, key, &read.ok()??, &UNCOUNTED)
}

/// Removes the entry under `key`; whether there was one (a plain `fn`'s `invalidate`). `false`
/// also when Redis cannot be reached.
pub fn invalidate(cache: &Cache, key: &Key) -> bool {
    let Ok(key) = key.checked() else {
        return false;
    };
    match cache.backend() {
        Backend::Memory(memory) => memory.remove(key.as_bytes()),
        Backend::Redis(redis) => redis
            .query_blocking::<u64>(unlink(key))
            .is_ok_and(|n| n == 1),
    }
}

/// Removes the entry under `key`; whether there was one (an `async fn`'s `invalidate`).
pub async fn invalidate_async(cache: &Cache, key: &Key) -> bool {
    let Ok(key) = key.checked() else {
        return false;
    };
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
