//! One cached call: look up, or compute once per key and store.
//!
//! ```text
//! begin ── memory, fresh ───────────────────────────────────────────────────────► value
//!   └─ fetch ─► (Redis: GET ── fresh ───────────────────────────────────────────► value)
//!       ├─ early expiry drew, or stale within stale_while_revalidate ─► refresh ─► value
//!       └─► join flight ─┬─ leader ─► (memory: re-check) ─► (lock_on_miss: lease) ─► body
//!                        │      └─► store ─► value (stale_if_error: stale value if it failed)
//!                        └─ follower ─► wait ─┬─ value ─────────────────────────► value
//!                                             └─ abandoned ─► join again
//! ```
//!
//! [`begin`] is synchronous, so a memory hit never builds the body's future or closure. Anything
//! that needs I/O or computing is a [`Fetch`]: its steps are here, and `drive.rs` runs them, once
//! as async code for both kinds of function. On Redis a hit is one `GET` and a miss one `GET`
//! and one `SET … PX`: the leader does not read again (a value stored between its `GET` and its
//! turn is recomputed, not lost), and its flight stays joinable until the `SET` is answered, so a
//! caller whose `GET` raced the `SET` takes the value rather than computing it again. A tagged
//! call reads its tags' versions in the same round trip (`MGET`), and makes the missing ones
//! before its body runs (`tags.rs`). When Redis fails or its circuit is open the call runs the
//! body and returns its value (fail-open), or, for `on_store_error = fail`, returns the store's
//! error without running it ([`Fetch::fail_closed`]). `lock_on_miss` is in `lease.rs`.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use event_listener::EventListener;
use quanta::Instant;

use super::fresh::Judged;
use super::kind::ReturnKind;
use super::mode::CallMode;
#[cfg(feature = "redis")]
use super::read::{fill_near, read_entry, read_store, RemoteEntry};
use super::read::{read_fresh, read_memory, UNCOUNTED};
use super::refresh::Refresh;
use super::tags;
#[cfg(feature = "redis")]
use super::write::backend_error;
use super::write::{end_flight, store, RemoteWrite};
use super::FnSite;
use crate::cached::flight::{Follower, Joined, Leader, Outcome};
use crate::cached::invalidation::Ticket;
use crate::key::Key;
#[cfg(feature = "redis")]
use crate::near::FillTicket;
use crate::store::Backend;
#[cfg(feature = "redis")]
use crate::store::{Failure, RedisStore};
use crate::{Cache, CacheError, CachePolicy};

/// Everything one call needs besides its body.
#[derive(Debug)]
pub struct Call<'a, K> {
    pub(super) site: &'static FnSite,
    pub(super) cache: &'a Cache,
    pub(super) policy: &'static CachePolicy,
    kind: PhantomData<K>,
    pub(super) key: &'a Key,
    /// The keys of the call's tags' versions (`#[cached(tags = …)]`); empty if untagged.
    pub(super) tags: &'a [Key],
    pub(super) mode: CallMode,
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
            tags: &[],
            mode,
        }
    }

    /// The call's tags: the keys of their versions, rendered from the arguments.
    pub fn tagged(mut self, tags: &'a [Key]) -> Self {
        self.tags = tags;
        self
    }
}

/// What [`begin_after`] found.
#[derive(Debug)]
pub enum Begin<'a, K, R> {
    /// A value it may serve: from the near cache, or served while it is refreshed.
    Hit(R),
    /// Not answered without I/O or computing: run `fetch_async` or `fetch_blocking`.
    Fetch(Fetch<'a, K, R>),
}

/// A call on its way to a value: reading Redis, refreshing, waiting for another caller, or
/// computing.
pub struct Fetch<'a, K, R> {
    pub(super) call: Call<'a, K>,
    follower: Option<Follower>,
    /// A stored value to return at once while a refresh runs.
    pub(super) serve: Option<R>,
    /// A stale value to return if computing fails (`stale_if_error`).
    fallback: Option<R>,
    /// False once Redis failed in this call: the body runs and nothing more is sent.
    pub(super) redis_usable: bool,
    /// Taken when the computation begins: an invalidation after it voids the store.
    ticket: Option<Ticket>,
    /// `on_store_error = fail`: the caller's error for a store that cannot be used (the memory
    /// store never fails, so only Redis reads it).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    on_store_error: Option<fn(CacheError) -> R>,
    /// `ttl_from`: how long a computed value lives, if it says (`None` for `None`/`Err`).
    ttl_from: Option<TtlFrom<R>>,
    /// The stamp of the tags' versions a computed value is stored under: 0 untagged; `None`
    /// until the versions are known (read with the entry, or made before the body runs).
    pub(super) tag_stamp: Option<u64>,
}

/// The near cache's tickets for one read: the entry's, and its tags' in order.
#[cfg(feature = "redis")]
pub(super) type NearTickets = (FillTicket, Vec<FillTicket>);

/// The lifetime a value gives itself (`#[cached(ttl_from = …)]`), bounded by the policy's TTL.
pub(super) type TtlFrom<R> = fn(&R) -> Option<Duration>;

impl<K: std::fmt::Debug, R> std::fmt::Debug for Fetch<'_, K, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetch")
            .field("call", &self.call)
            .field("serving", &self.serve.is_some())
            .field("has_fallback", &self.fallback.is_some())
            .finish()
    }
}

/// What the driver does next.
pub(super) enum Step<R> {
    Done(R),
    Run(Option<Leader>),
    Wait(EventListener),
}

/// What [`begin`] read besides a fresh value, for [`begin_after`].
pub struct Read<R> {
    /// A value usable otherwise (early expiry, stale, a fallback), counted by `begin_after`.
    found: Option<(R, Judged)>,
    /// Whether the memory store was read.
    done: bool,
}

impl<R> std::fmt::Debug for Read<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Read")
            .field("done", &self.done)
            .field("found", &self.found.as_ref().map(|(_, judged)| judged))
            .finish()
    }
}

impl<R> Read<R> {
    /// Nothing read yet.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Read {
            found: None,
            done: false,
        }
    }
}

/// The common hit: a fresh value of the call in the memory store, returned as it was cloned
/// (as an `Option` of the return type, the function returns it without copying it through a
/// bigger enum: that copy was a stall). Inlined into each function; anything else is for
/// [`begin_after`], which builds no body either unless it must.
#[inline(always)]
pub fn begin<K, R>(call: &Call<'_, K>, read: &mut Read<R>) -> Option<R>
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
{
    if let (Ok(key), CallMode::Normal, Backend::Memory(store)) =
        (call.key.checked(), call.mode, call.cache.backend())
    {
        read.done = true;
        let counters = call.site.counters();
        let (cache, tags, policy) = (call.cache, call.tags, call.policy);
        let found = &mut read.found;
        // Counted as `Fetch::found` counts it, without building a fetch.
        let value = read_fresh::<K, R>(store, cache, (key, tags), policy, counters, found)?;
        counters.hits.bump();
        return Some(value);
    }
    None
}

/// The call after [`begin`] found no fresh value: what it read counted (a value it may serve
/// still returned), or the near cache read on Redis; otherwise the [`Fetch`] to run.
#[inline(never)]
pub fn begin_after<K, R>(call: Call<'_, K>, read: Read<R>) -> Begin<'_, K, R>
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
{
    match read.done {
        true => begin_with(call, read.found),
        false => begin_elsewhere(call),
    }
}

/// [`begin_after`] when the memory store was not read: with a key that failed, for a
/// refresh, or on Redis (its near cache read here).
fn begin_elsewhere<K, R>(call: Call<'_, K>) -> Begin<'_, K, R>
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
{
    let found = match (call.key.checked(), call.mode) {
        (Err(error), _) => {
            call.site.counters().key_failures.bump();
            tracing::warn!(function = call.site.name(), %error, "running uncached");
            None
        }
        #[cfg(feature = "redis")]
        (Ok(key), CallMode::Normal) => match read_near::<K, R>(&call, key) {
            found @ Some(_) => found,
            // Not counted: the read of Redis counts.
            None => return Begin::Fetch(Fetch::new(call)),
        },
        _ => None,
    };
    match found {
        Some(_) => begin_with(call, found),
        None => Begin::Fetch(Fetch::new(call)),
    }
}

/// [`begin_after`] once the memory store was read: what it found counted, and served if it
/// may be.
fn begin_with<K, R>(call: Call<'_, K>, found: Option<(R, Judged)>) -> Begin<'_, K, R>
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
{
    let mut fetch = Fetch::new(call);
    match fetch.found(found) {
        Some(value) => Begin::Hit(value),
        None => Begin::Fetch(fetch),
    }
}

/// What the near cache holds for `key` that it may serve (counted as a near hit); `None` when
/// there is no near cache, it is not healthy, or it holds nothing servable.
#[cfg(feature = "redis")]
#[inline]
fn read_near<K, R>(call: &Call<'_, K>, key: &Key) -> Option<(R, Judged)>
where
    K: ReturnKind<R>,
{
    let near = call.cache.near()?;
    let l1 = near.usable()?;
    let counters = call.site.counters();
    let found = read_store::<K, R>(l1, call.cache, (key, call.tags), call.policy, counters)
        .filter(|(_, judged)| judged.serves())?;
    near.counts.hits.bump();
    counters.near_hits.bump();
    Some(found)
}

impl<'a, K, R> Fetch<'a, K, R>
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
{
    /// A fetch of `call`, nothing read yet.
    fn new(call: Call<'a, K>) -> Self {
        let tag_stamp = call.tags.is_empty().then_some(0);
        Fetch {
            call,
            follower: None,
            serve: None,
            fallback: None,
            redis_usable: true,
            ticket: None,
            on_store_error: None,
            ttl_from: None,
            tag_stamp,
        }
    }

    /// Fails closed (`#[cached(on_store_error = fail)]`): when the store cannot be read (it
    /// failed, timed out, or its circuit is open), the call returns `convert`'s value, the
    /// store's error as the function's, instead of running the body.
    pub fn fail_closed(mut self, convert: fn(CacheError) -> R) -> Self {
        self.on_store_error = Some(convert);
        self
    }

    /// Lets each computed value say how long it lives (`#[cached(ttl_from = …)]`): `lifetime`
    /// gives it (`None` for a `None`/`Err`, which lives `negative_ttl`), never longer than the
    /// policy's TTL; a value whose lifetime is zero is returned and not stored.
    pub fn ttl_from(mut self, lifetime: TtlFrom<R>) -> Self {
        self.ttl_from = Some(lifetime);
        self
    }

    /// Counts a failure of the store in `operation` (`get`, `lock_on_miss`); what the call
    /// returns then: the store's error if the function fails closed, else `None` (go on
    /// without the store).
    #[cfg(feature = "redis")]
    pub(super) fn store_failed(&self, failure: Failure, operation: &'static str) -> Option<R> {
        backend_error(self.call.site, &failure, operation);
        let convert = self.on_store_error?;
        let key = self.call.key.checked().ok().map(Key::to_string);
        Some(convert(CacheError::new(
            operation,
            key.as_deref(),
            failure.kind(),
        )))
    }

    /// Counts what a read found and keeps what the rest of the call needs; returns the value of
    /// a plain hit.
    pub(super) fn found(&mut self, found: Option<(R, Judged)>) -> Option<R> {
        let counters = self.call.site.counters();
        match found {
            Some((value, Judged::Fresh)) => {
                counters.hits.bump();
                return Some(value);
            }
            Some((value, Judged::Early)) => {
                counters.hits.bump();
                self.serve = Some(value);
            }
            Some((value, Judged::Revalidate)) => {
                counters.stale_served.bump();
                self.serve = Some(value);
            }
            Some((value, Judged::Fallback)) => {
                counters.misses.bump();
                self.fallback = Some(value);
            }
            Some((_, Judged::Gone)) | None => counters.misses.bump(),
        }
        None
    }

    /// Redis and the key, when this call reads Redis first (not when the near cache answered).
    #[cfg(feature = "redis")]
    pub(super) fn remote_key(&self) -> Option<(&'a RedisStore, &'a Key)> {
        match (
            self.call.cache.backend(),
            self.call.key.checked(),
            self.call.mode,
        ) {
            (Backend::Redis(redis), Ok(key), CallMode::Normal) if self.serve.is_none() => {
                Some((redis, key))
            }
            _ => None,
        }
    }

    /// The near cache's tickets for the read about to be sent (the entry's and its tags'), if
    /// there is a near cache.
    #[cfg(feature = "redis")]
    pub(super) fn near_tickets(&self) -> Option<NearTickets> {
        let key = self.call.key.checked().ok()?;
        let near = self.call.cache.near()?;
        let tags = self.call.tags.iter();
        let tags = tags.map(|tag| near.ticket(tag.as_bytes())).collect();
        Some((near.ticket(key.as_bytes()), tags))
    }

    /// Counts and judges what a read of Redis gave (the entry, and the stamp of its tags'
    /// versions if they all have one; `Some(0)` untagged); the value of a plain hit.
    #[cfg(feature = "redis")]
    #[inline(never)]
    pub(super) fn remote_read(
        &mut self,
        read: Result<RemoteEntry, Failure>,
        tickets: Option<NearTickets>,
    ) -> Option<R> {
        let counters = self.call.site.counters();
        let (ticket, tag_tickets) = tickets.map_or((None, Vec::new()), |t| (Some(t.0), t.1));
        let found = match read {
            Ok(read) => {
                let stamp = read.stamp();
                self.tag_stamp = stamp;
                let (key, cache) = (self.call.key, self.call.cache);
                if let (Some(near), Some(versions)) = (cache.near(), &read.versions) {
                    tags::fill_near(near, self.call.tags, versions, tag_tickets);
                }
                let (Some(bytes), Some(stamp)) = (read.entry, stamp) else {
                    return self.found(None);
                };
                read_entry::<K, R>(cache, (key, stamp), &bytes, self.call.policy, counters).map(
                    |(header, stored, judged)| {
                        if let Some(ticket) = ticket {
                            fill_near(cache, key, ticket, header, &stored);
                        }
                        (K::from_stored(stored), judged)
                    },
                )
            }
            Err(failure) => {
                if let Some(error) = self.store_failed(failure, "get") {
                    return Some(error);
                }
                counters.misses.bump();
                self.redis_usable = false;
                return None;
            }
        };
        self.found(found)
    }

    /// Keeps the stamp of the tags' versions made before the body runs; a failure counts as
    /// Redis failing in this call (the body runs, nothing is stored).
    #[cfg(feature = "redis")]
    #[inline(never)]
    pub(super) fn tag_versions_made(&mut self, made: Result<u64, Failure>) {
        match made {
            Ok(stamp) => self.tag_stamp = Some(stamp),
            Err(failure) => {
                backend_error(self.call.site, &failure, "making tag versions");
                self.redis_usable = false;
            }
        }
    }

    /// The stamp of the tags' versions this call's flight is led or joined under (0 untagged,
    /// or when they could not be read): a caller after `invalidate_tag` never joins a
    /// computation begun under the versions it voided.
    fn flight_stamp(&self) -> u64 {
        self.tag_stamp.unwrap_or(0)
    }

    /// A background refresh of this key, unless one is under way in this process.
    #[inline(never)]
    pub(super) fn refresh(&self) -> Option<Refresh<K, R>> {
        let key = self.call.key.checked().ok()?;
        let flights = self.call.cache.flights();
        let leader = flights.try_lead(key.as_bytes(), self.flight_stamp())?;
        self.call.site.counters().background_refreshes.bump();
        Some(Refresh::new(
            self.call.cache,
            key,
            self.call.site,
            self.call.policy,
            leader,
            (self.ttl_from, self.tag_stamp, self.call.tags),
        ))
    }

    /// The body is to run (leading the key's flight, if any): the computation begins now.
    fn run(&mut self, leader: Option<Leader>) -> Step<R> {
        if let Ok(key) = self.call.key.checked() {
            self.ticket = Some(self.call.cache.invalidations().ticket(key.as_bytes()));
        }
        Step::Run(leader)
    }

    #[inline(never)]
    pub(super) fn step(&mut self) -> Step<R> {
        // On memory the tags' versions are made now, before joining: a flight is joined only by
        // callers that see the same versions.
        if let (None, Some(memory)) = (self.tag_stamp, self.call.cache.memory_store()) {
            let now = self.call.cache.now_millis();
            self.tag_stamp = Some(tags::ensure_in(memory, self.call.tags, now));
        }
        let key = match (self.call.key.checked(), self.call.mode) {
            (Ok(key), CallMode::Normal) => key,
            _ => return self.run(None),
        };
        let counters = self.call.site.counters();
        loop {
            if let Some(follower) = &self.follower {
                match follower.poll() {
                    Outcome::Wait(listener) => return Step::Wait(listener),
                    Outcome::Value(shared) => {
                        return match shared.downcast_ref::<R>() {
                            Some(value) => {
                                counters.coalesced_waits.bump();
                                Step::Done(value.clone())
                            }
                            // Another function with another return type shares this key.
                            None => self.run(None),
                        };
                    }
                    Outcome::Abandoned => self.follower = None,
                }
            }
            match self
                .call
                .cache
                .flights()
                .join(key.as_bytes(), self.flight_stamp())
            {
                Joined::Follower(follower) => self.follower = Some(follower),
                #[cfg(feature = "redis")]
                Joined::Leader(leader)
                    if matches!(self.call.cache.backend(), Backend::Redis(_)) =>
                {
                    return self.run(Some(leader));
                }
                Joined::Leader(leader) => {
                    // A leader that finished between our lookup and our join stored its value.
                    // (A decode failure here was counted by the first lookup.)
                    let found = read_memory::<K, R>(
                        self.call.cache,
                        (key, self.call.tags),
                        self.call.policy,
                        &UNCOUNTED,
                    );
                    return match found {
                        Some((value, judged)) if judged.serves() => {
                            leader.finish(|| Arc::new(value.clone()));
                            Step::Done(value)
                        }
                        _ => self.run(Some(leader)),
                    };
                }
            }
        }
    }

    /// Ends the flight with the value another process stored.
    #[cfg(feature = "redis")]
    #[inline(never)]
    pub(super) fn filled(self, leader: Option<Leader>, value: R) -> R {
        if let Some(leader) = leader {
            leader.finish(|| Arc::new(value.clone()));
        }
        value
    }

    /// Counts the run, stores the value in memory or prepares its Redis write, and shares it
    /// with the followers. When Redis just failed no write is tried.
    /// When the body failed (returned `Err`, or panicked) and a stale value is at hand, that
    /// value is returned and the stored entry is kept.
    #[inline(never)]
    pub(super) fn finish(
        mut self,
        leader: Option<Leader>,
        started: Instant,
        outcome: Result<R, Box<dyn Any + Send>>,
    ) -> (R, Option<RemoteWrite>) {
        let elapsed = started.elapsed();
        let site = self.call.site;
        site.counters().computed(elapsed);
        let (value, computed) = match (outcome, self.fallback.take()) {
            (Ok(value), Some(stale)) if K::is_failure(&value) => (self.serve_stale(stale), false),
            (Ok(value), _) => (value, true),
            (Err(_), Some(stale)) => (self.serve_stale(stale), false),
            (Err(panic), None) => std::panic::resume_unwind(panic),
        };
        // A stale value served is not stored again: the entry keeps its own times.
        let mut write = match (self.call.key.checked(), self.ticket, self.tag_stamp) {
            (Ok(key), Some(ticket), Some(stamp)) if self.redis_usable && computed => store::<K, R>(
                self.call.cache,
                (key, ticket, (stamp, self.call.tags)),
                site,
                (self.call.policy, self.ttl_from),
                &value,
                elapsed,
            ),
            _ => None,
        };
        if let Some(leader) = leader {
            end_flight(leader, write.as_mut(), || Arc::new(value.clone()));
        }
        (value, write)
    }

    fn serve_stale(&self, stale: R) -> R {
        self.call.site.counters().stale_served.bump();
        tracing::warn!(
            function = self.call.site.name(),
            "the function failed; serving the stale value (stale_if_error)"
        );
        stale
    }

    #[inline(never)]
    pub(super) fn span(&self) -> tracing::Span {
        tracing::debug_span!(
            "cache.compute",
            function = self.call.site.name(),
            refresh = matches!(self.call.mode, CallMode::Refresh)
        )
    }
}
