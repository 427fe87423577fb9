//! One cached call: look up, or compute once per key and store.
//!
//! ```text
//! begin ── hit ──────────────────────────────────────────────► value
//!   └─ miss ─► join flight ─┬─ leader ─► re-check ─► run body ─► store ─► share ─► value
//!                           └─ follower ─► wait ─┬─ value ─────────────────────────► value
//!                                                └─ abandoned ─► join flight again
//! ```
//!
//! [`begin`] is synchronous, so a hit never builds the body's future or closure. The miss path
//! has an async and a blocking driver over the same [`Miss::step`].

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
use crate::store::{Decoded, StoredEntry, StoredValue};
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
    /// A stored value.
    Hit(R),
    /// Nothing usable: run [`miss_async`] or [`miss_blocking`].
    Miss(Miss<'a, K>),
}

/// A call that missed, on its way to a value.
#[derive(Debug)]
pub struct Miss<'a, K> {
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
    match (call.key.checked(), call.mode) {
        (Ok(key), CallMode::Normal) => {
            if let Some(value) = lookup::<K, R>(call.cache, key, counters) {
                Counters::bump(&counters.hits);
                return Begin::Hit(value);
            }
            Counters::bump(&counters.misses);
        }
        (Err(error), _) => {
            Counters::bump(&counters.key_failures);
            tracing::warn!(function = call.site.name(), %error, "running uncached");
        }
        (Ok(_), CallMode::Refresh) => {}
    }
    Begin::Miss(Miss {
        call,
        follower: None,
    })
}

/// Drives a miss of an `async fn`.
pub async fn miss_async<K, R, F>(mut miss: Miss<'_, K>, body: F) -> R
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
    F: Future<Output = R>,
{
    loop {
        match miss.step::<R>() {
            Step::Done(value) => return value,
            Step::Run(leader) => {
                let span = miss.span();
                let started = Instant::now();
                let value = tracing::Instrument::instrument(body, span).await;
                return miss.finish(leader, started, value);
            }
            Step::Wait(listener) => listener.await,
        }
    }
}

/// Drives a miss of a plain `fn`; waiting for another thread's computation blocks this thread.
pub fn miss_blocking<K, R, F>(mut miss: Miss<'_, K>, body: F) -> R
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
    F: FnOnce() -> R,
{
    loop {
        match miss.step::<R>() {
            Step::Done(value) => return value,
            Step::Run(leader) => {
                let started = Instant::now();
                let value = miss.span().in_scope(body);
                return miss.finish(leader, started, value);
            }
            Step::Wait(listener) => listener.wait(),
        }
    }
}

impl<'a, K> Miss<'a, K> {
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

    fn finish<R>(self, leader: Option<Leader<'_>>, started: Instant, value: R) -> R
    where
        K: ReturnKind<R>,
        R: Clone + Send + Sync + 'static,
    {
        let elapsed = started.elapsed();
        let counters = self.call.site.counters();
        Counters::bump(&counters.computes);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        counters
            .compute_nanos
            .fetch_add(nanos, std::sync::atomic::Ordering::Relaxed);
        if let (Ok(key), Some((stored, negative))) = (self.call.key.checked(), K::to_stored(&value))
        {
            let compute_micros = u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX);
            store::<K::Stored>(
                self.call.cache,
                self.call.policy,
                key,
                stored,
                negative,
                compute_micros,
            );
            Counters::bump(&counters.stores);
        }
        if let Some(leader) = leader {
            leader.finish(|| Arc::new(value.clone()));
        }
        value
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

/// The stored value under `key`, if it is there, fresh and of the expected type.
fn lookup<K, R>(cache: &Cache, key: &Key, counters: &Counters) -> Option<R>
where
    K: ReturnKind<R>,
{
    let now = cache.now_millis();
    let entry = cache.store().get(key.as_bytes(), now)?;
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
        StoredValue::Encoded(bytes) => match entry::decode::<K::Stored>(&bytes) {
            Ok((header, stored)) if header.stale_until > now => Some(K::from_stored(stored)),
            Ok(_) => None,
            Err(error) => {
                Counters::bump(&counters.decode_failures);
                tracing::warn!(%key, %error, "stored entry does not decode; recomputing");
                None
            }
        },
    }
}

fn store<S: super::kind::Storable>(
    cache: &Cache,
    policy: &CachePolicy,
    key: &Key,
    value: S,
    negative: bool,
    compute_micros: u32,
) {
    let now = cache.now_millis();
    let ttl = u64::try_from(policy.ttl_for(negative).as_millis()).unwrap_or(u64::MAX);
    let expires = now.saturating_add(ttl);
    let header = EntryHeader {
        codec: Codec::MessagePack,
        negative,
        created_at: now,
        fresh_until: expires,
        stale_until: expires,
        compute_micros,
    };
    let value = StoredValue::Decoded(Arc::new(Decoded { header, value }));
    cache
        .store()
        .insert(key.as_bytes(), StoredEntry::new(expires, value));
}

/// The stored value under `key` without computing or counting anything.
pub fn peek<K, R>(cache: &Cache, _kind: K, key: &Key) -> Option<R>
where
    K: ReturnKind<R>,
{
    lookup::<K, R>(cache, key.checked().ok()?, &UNCOUNTED)
}

/// Removes the entry under `key`; whether there was one.
pub fn invalidate(cache: &Cache, key: &Key) -> bool {
    key.checked()
        .is_ok_and(|key| cache.store().remove(key.as_bytes()))
}

/// The full stored key, or why there is none.
pub fn key_string(key: &Key) -> Result<String, KeyError> {
    key.checked().map(Key::to_string).map_err(Clone::clone)
}
