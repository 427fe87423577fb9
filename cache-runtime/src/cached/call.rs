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
//! that needs I/O or computing is a [`Fetch`], with an async and a blocking driver over the same
//! steps. On Redis a hit is one `GET` and a miss one `GET` and one `SET … PX`: the leader does
//! not read again (a value stored between its `GET` and its turn is recomputed, not lost). When
//! Redis fails or its circuit is open the call runs the body and returns its value (fail-open).
//!
//! With `lock_on_miss` on Redis the leader first takes the key's lease (`SET NX PX`) and reads
//! the key once more (another process may have stored it meanwhile). If another process holds it, the leader waits for that process's value, woken by its fill message, with
//! a jittered fallback re-read, and after the longest wait computes by itself.

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use event_listener::{EventListener, Listener};
use futures_util::FutureExt;

use super::fresh::Judged;
use super::kind::ReturnKind;
use super::mode::CallMode;
use super::read::{get_entry, read_bytes, read_memory, UNCOUNTED};
use super::refresh::{self, Refresh};
use super::write::{backend_error, count_compute, record_write, store, RemoteWrite};
use super::FnSite;
use crate::cached::flight::{Follower, Joined, Leader, Outcome};
use crate::cached::invalidation::Ticket;
use crate::key::Key;
use crate::stats::Counters;
use crate::store::{Backend, Failure, HeldLease, RedisStore};
use crate::{Cache, CachePolicy};

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
    /// A fresh value from the memory store.
    Hit(R),
    /// Not answered without I/O or computing: run [`fetch_async`] or [`fetch_blocking`].
    Fetch(Fetch<'a, K, R>),
}

/// A call on its way to a value: reading Redis, refreshing, waiting for another caller, or
/// computing.
pub struct Fetch<'a, K, R> {
    call: Call<'a, K>,
    follower: Option<Follower>,
    /// A stored value to return at once while a refresh runs.
    serve: Option<R>,
    /// A stale value to return if computing fails (`stale_if_error`).
    fallback: Option<R>,
    /// False once Redis failed in this call: the body runs and nothing more is sent.
    redis_usable: bool,
    /// Taken when the computation begins: an invalidation after it voids the store.
    ticket: Option<Ticket>,
}

impl<K: std::fmt::Debug, R> std::fmt::Debug for Fetch<'_, K, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetch")
            .field("call", &self.call)
            .field("serving", &self.serve.is_some())
            .field("has_fallback", &self.fallback.is_some())
            .finish()
    }
}

enum Step<R> {
    Done(R),
    Run(Option<Leader>),
    Wait(EventListener),
}

/// How the lease of `lock_on_miss` went.
enum Leased<R> {
    /// This call holds it: compute and store.
    Held(HeldLease),
    /// Another process stored the value meanwhile.
    Filled(R),
    /// No lease (Redis failed, or the longest wait passed): compute anyway.
    Proceed,
}

/// Looks the call up; a fresh memory hit returns the stored value without building the body.
pub fn begin<'a, K, R>(call: Call<'a, K>) -> Begin<'a, K, R>
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
{
    let mut fetch = Fetch {
        call,
        follower: None,
        serve: None,
        fallback: None,
        redis_usable: true,
        ticket: None,
    };
    let call = &fetch.call;
    let counters = call.site.counters();
    match (call.key.checked(), call.mode, call.cache.backend()) {
        (Ok(key), CallMode::Normal, Backend::Memory(_)) => {
            let found = read_memory::<K, R>(call.cache, key, call.policy, counters);
            if let Some(value) = fetch.found(found) {
                return Begin::Hit(value);
            }
        }
        (Err(error), _, _) => {
            Counters::bump(&counters.key_failures);
            tracing::warn!(function = call.site.name(), %error, "running uncached");
        }
        (Ok(_), CallMode::Normal, Backend::Redis(_)) | (Ok(_), CallMode::Refresh, _) => {}
    }
    Begin::Fetch(fetch)
}

/// Drives a fetch of an `async fn`; a background refresh runs in the calling task.
pub async fn fetch_async<K, R, F>(fetch: Fetch<'_, K, R>, body: F) -> R
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
    F: Future<Output = R>,
{
    drive_async(fetch, body, |task, body| Some((task, body))).await
}

/// Drives a fetch of an `async fn` whose body can be spawned: a background refresh runs on the
/// caller's tokio runtime.
pub async fn fetch_async_spawning<K, R, F>(fetch: Fetch<'_, K, R>, body: F) -> R
where
    K: ReturnKind<R> + Send + 'static,
    R: Clone + Send + Sync + 'static,
    F: Future<Output = R> + Send + 'static,
{
    drive_async(fetch, body, refresh::spawn_async).await
}

async fn drive_async<K, R, F, S>(mut fetch: Fetch<'_, K, R>, body: F, spawn: S) -> R
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
    F: Future<Output = R>,
    S: FnOnce(Refresh<K, R>, F) -> Option<(Refresh<K, R>, F)>,
{
    if let Some((redis, key)) = fetch.remote_key() {
        if let Some(value) = fetch.remote_read(boxed_query(redis, get_entry(key)).await) {
            return value;
        }
    }
    if let Some(value) = fetch.serve.take() {
        if let Some(task) = fetch.refresh() {
            if let Some((task, body)) = spawn(task, body) {
                boxed_refresh(task, body).await;
            }
        }
        return value;
    }
    loop {
        match fetch.step() {
            Step::Done(value) => return value,
            Step::Wait(listener) => listener.await,
            Step::Run(leader) => {
                let mut lease = None;
                if let Some((redis, key, wait)) = fetch.lease_target() {
                    match boxed_lease(&fetch, redis, key, wait).await {
                        Leased::Held(held) => lease = Some(held),
                        Leased::Filled(value) => return fetch.filled(leader, value),
                        Leased::Proceed => {}
                    }
                }
                let span = fetch.span();
                let body = tracing::Instrument::instrument(body, span);
                let started = Instant::now();
                // A panic is caught for `stale_if_error`; without a stale value it goes on.
                let outcome = AssertUnwindSafe(body).catch_unwind().await;
                let site = fetch.call.site;
                let (value, write) = fetch.finish(leader, started, outcome);
                if let Some(RemoteWrite { redis, set, gate }) = write {
                    record_write(site, boxed_query(&redis, set).await);
                    drop(gate);
                }
                if let Some(lease) = lease {
                    boxed_release(lease).await;
                }
                return value;
            }
        }
    }
}

// The paths around the body are built in boxes by these functions, not in `drive_async`: its
// frame and state are on the stack of every call while the body runs (every level of a
// recursive `fib`), and a box costs nothing next to a Redis round trip or a refresh.

#[inline(never)]
fn boxed_query<T>(
    redis: &RedisStore,
    cmd: redis::Cmd,
) -> Pin<Box<impl Future<Output = Result<T, Failure>> + '_>>
where
    T: redis::FromRedisValue + Send + 'static,
{
    Box::pin(redis.query(cmd))
}

#[inline(never)]
fn boxed_refresh<K, R, F>(task: Refresh<K, R>, body: F) -> Pin<Box<impl Future<Output = ()>>>
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
    F: Future<Output = R>,
{
    Box::pin(task.run_async(body))
}

#[inline(never)]
fn boxed_lease<'f, K, R>(
    fetch: &'f Fetch<'_, K, R>,
    redis: &'f RedisStore,
    key: &'f Key,
    wait: Duration,
) -> Pin<Box<impl Future<Output = Leased<R>> + 'f>>
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
{
    Box::pin(fetch.lease_async(redis, key, wait))
}

#[inline(never)]
fn boxed_release(lease: HeldLease) -> Pin<Box<impl Future<Output = ()>>> {
    Box::pin(lease.release())
}

/// Drives a fetch of a plain `fn`; a background refresh runs in the calling thread. Waiting (for
/// Redis, or for another thread's computation) blocks this thread; Redis itself is driven on a
/// thread of its own, so this is safe inside a tokio runtime, though it holds that runtime's
/// worker for the round trip.
pub fn fetch_blocking<K, R, F>(fetch: Fetch<'_, K, R>, body: F) -> R
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
    F: FnOnce() -> R,
{
    drive_blocking(fetch, body, |task, body| Some((task, body)))
}

/// Drives a fetch of a plain `fn` whose closure can move to another thread: a background refresh
/// runs on a thread of its own.
pub fn fetch_blocking_spawning<K, R, F>(fetch: Fetch<'_, K, R>, body: F) -> R
where
    K: ReturnKind<R> + Send + 'static,
    R: Clone + Send + Sync + 'static,
    F: FnOnce() -> R + Send + 'static,
{
    drive_blocking(fetch, body, refresh::spawn_blocking)
}

fn drive_blocking<K, R, F, S>(mut fetch: Fetch<'_, K, R>, body: F, spawn: S) -> R
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
    F: FnOnce() -> R,
    S: FnOnce(Refresh<K, R>, F) -> Option<(Refresh<K, R>, F)>,
{
    if let Some((redis, key)) = fetch.remote_key() {
        if let Some(value) = fetch.remote_read(redis.query_blocking(get_entry(key))) {
            return value;
        }
    }
    if let Some(value) = fetch.serve.take() {
        if let Some(task) = fetch.refresh() {
            if let Some((task, body)) = spawn(task, body) {
                task.run_blocking(body);
            }
        }
        return value;
    }
    loop {
        match fetch.step() {
            Step::Done(value) => return value,
            Step::Wait(listener) => listener.wait(),
            Step::Run(leader) => {
                let mut lease = None;
                if let Some((redis, key, wait)) = fetch.lease_target() {
                    match fetch.lease_blocking(redis, key, wait) {
                        Leased::Held(held) => lease = Some(held),
                        Leased::Filled(value) => return fetch.filled(leader, value),
                        Leased::Proceed => {}
                    }
                }
                let span = fetch.span();
                let started = Instant::now();
                let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| span.in_scope(body)));
                let site = fetch.call.site;
                let (value, write) = fetch.finish(leader, started, outcome);
                if let Some(RemoteWrite { redis, set, gate }) = write {
                    record_write(site, redis.query_blocking(set));
                    drop(gate);
                }
                if let Some(lease) = lease {
                    lease.release_blocking();
                }
                return value;
            }
        }
    }
}

/// A pause between re-reads while waiting for another process's value: 50–150 ms, jittered so
/// that waiters do not read in step; a fill message usually ends the wait sooner.
fn fallback_pause(left: Duration) -> Duration {
    Duration::from_millis(fastrand::u64(50..150)).min(left)
}

impl<'a, K, R> Fetch<'a, K, R>
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
{
    /// Counts what a read found and keeps what the rest of the call needs; returns the value of
    /// a plain hit.
    fn found(&mut self, found: Option<(R, Judged)>) -> Option<R> {
        let counters = self.call.site.counters();
        match found {
            Some((value, Judged::Fresh)) => {
                Counters::bump(&counters.hits);
                return Some(value);
            }
            Some((value, Judged::Early)) => {
                Counters::bump(&counters.hits);
                self.serve = Some(value);
            }
            Some((value, Judged::Revalidate)) => {
                Counters::bump(&counters.stale_served);
                self.serve = Some(value);
            }
            Some((value, Judged::Fallback)) => {
                Counters::bump(&counters.misses);
                self.fallback = Some(value);
            }
            Some((_, Judged::Gone)) | None => Counters::bump(&counters.misses),
        }
        None
    }

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

    /// Counts and judges what a `GET` gave; the value of a plain hit.
    fn remote_read(&mut self, read: Result<Option<Vec<u8>>, Failure>) -> Option<R> {
        let (site, counters) = (self.call.site, self.call.site.counters());
        let found = match read {
            Ok(Some(bytes)) => read_bytes::<K, R>(
                self.call.cache,
                self.call.key,
                &bytes,
                self.call.policy,
                counters,
            ),
            Ok(None) => None,
            Err(failure) => {
                backend_error(site, &failure, "reading");
                Counters::bump(&counters.misses);
                self.redis_usable = false;
                return None;
            }
        };
        self.found(found)
    }

    /// A background refresh of this key, unless one is under way in this process.
    fn refresh(&self) -> Option<Refresh<K, R>> {
        let key = self.call.key.checked().ok()?;
        let leader = self.call.cache.flights().try_lead(key.as_bytes())?;
        Counters::bump(&self.call.site.counters().background_refreshes);
        Some(Refresh::new(
            self.call.cache,
            key,
            self.call.site,
            self.call.policy,
            leader,
        ))
    }

    /// The body is to run (leading the key's flight, if any): the computation begins now.
    fn run(&mut self, leader: Option<Leader>) -> Step<R> {
        if let Ok(key) = self.call.key.checked() {
            self.ticket = Some(self.call.cache.invalidations().ticket(key.as_bytes()));
        }
        Step::Run(leader)
    }

    fn step(&mut self) -> Step<R> {
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
                                Counters::bump(&counters.coalesced_waits);
                                Step::Done(value.clone())
                            }
                            // Another function with another return type shares this key.
                            None => self.run(None),
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
                    return self.run(Some(leader));
                }
                Joined::Leader(leader) => {
                    // A leader that finished between our lookup and our join stored its value.
                    // (A decode failure here was counted by the first lookup.)
                    let found =
                        read_memory::<K, R>(self.call.cache, key, self.call.policy, &UNCOUNTED);
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

    /// Redis, the key and the longest wait, when the leader must take the lease first.
    fn lease_target(&self) -> Option<(&'a RedisStore, &'a Key, Duration)> {
        let wait = self.call.policy.lock_on_miss_wait()?;
        let (redis, key) = self.remote_key()?;
        self.redis_usable.then_some((redis, key, wait))
    }

    /// Takes the lease, or waits for the value of the process that holds it.
    async fn lease_async(&self, redis: &RedisStore, key: &Key, wait: Duration) -> Leased<R> {
        let deadline = crate::clock::deadline_after(wait);
        let text = key.to_string();
        let mut waited = false;
        loop {
            let (attempt, cmd) = HeldLease::request(redis, &text, wait);
            let listener = match self.lease_reply(redis.query(cmd).await, &mut waited) {
                Ok(()) => {
                    // Another process may have stored between our GET and our lease.
                    let held = attempt;
                    return match self.reread(redis.query(get_entry(key)).await) {
                        Some(Leased::Filled(value)) => {
                            held.release().await;
                            Leased::Filled(value)
                        }
                        _ => Leased::Held(held),
                    };
                }
                Err(Some(())) => {
                    attempt.not_taken();
                    redis.listen_for_fill(&text)
                }
                // The attempt is dropped: released in the background, in case the command whose
                // reply failed took the lease on the server.
                Err(None) => return Leased::Proceed,
            };
            if let Some(step) = self.reread(redis.query(get_entry(key)).await) {
                return step;
            }
            match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => {
                    RedisStore::wait_for_fill(listener, fallback_pause(left)).await;
                }
                _ => return Leased::Proceed,
            }
        }
    }

    /// [`Fetch::lease_async`] for a plain `fn`.
    fn lease_blocking(&self, redis: &RedisStore, key: &Key, wait: Duration) -> Leased<R> {
        let deadline = crate::clock::deadline_after(wait);
        let text = key.to_string();
        let mut waited = false;
        loop {
            let (attempt, cmd) = HeldLease::request(redis, &text, wait);
            let listener = match self.lease_reply(redis.query_blocking(cmd), &mut waited) {
                Ok(()) => {
                    // Another process may have stored between our GET and our lease.
                    let held = attempt;
                    return match self.reread(redis.query_blocking(get_entry(key))) {
                        Some(Leased::Filled(value)) => {
                            held.release_blocking();
                            Leased::Filled(value)
                        }
                        _ => Leased::Held(held),
                    };
                }
                Err(Some(())) => {
                    attempt.not_taken();
                    redis.listen_for_fill(&text)
                }
                // The attempt is dropped: released in the background, in case the command whose
                // reply failed took the lease on the server.
                Err(None) => return Leased::Proceed,
            };
            if let Some(step) = self.reread(redis.query_blocking(get_entry(key))) {
                return step;
            }
            match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => {
                    let _ = listener.wait_timeout(fallback_pause(left));
                }
                _ => return Leased::Proceed,
            }
        }
    }

    /// `Ok` when the lease was taken; `Err(Some(()))` when another process holds it (the first
    /// time, this call counts as a lock wait); `Err(None)` when Redis failed.
    fn lease_reply(
        &self,
        reply: Result<Option<String>, Failure>,
        waited: &mut bool,
    ) -> Result<(), Option<()>> {
        match reply {
            Ok(Some(_)) => Ok(()),
            Ok(None) => {
                if !std::mem::replace(waited, true) {
                    Counters::bump(&self.call.site.counters().lock_waits);
                }
                Err(Some(()))
            }
            Err(failure) => {
                backend_error(self.call.site, &failure, "taking the lease");
                Err(None)
            }
        }
    }

    /// What a waiter's re-read found: the other process's value, a reason to stop waiting, or
    /// nothing yet (`None`).
    fn reread(&self, read: Result<Option<Vec<u8>>, Failure>) -> Option<Leased<R>> {
        match read {
            Ok(Some(bytes)) => {
                let found = read_bytes::<K, R>(
                    self.call.cache,
                    self.call.key,
                    &bytes,
                    self.call.policy,
                    &UNCOUNTED,
                );
                match found {
                    Some((value, judged)) if judged.serves() => Some(Leased::Filled(value)),
                    _ => None,
                }
            }
            Ok(None) => None,
            Err(failure) => {
                backend_error(self.call.site, &failure, "waiting for another process");
                Some(Leased::Proceed)
            }
        }
    }

    /// Ends the flight with the value another process stored.
    fn filled(self, leader: Option<Leader>, value: R) -> R {
        if let Some(leader) = leader {
            leader.finish(|| Arc::new(value.clone()));
        }
        value
    }

    /// Counts the run, stores the value in memory or prepares its Redis write, and shares it
    /// with the followers. When Redis just failed no write is tried.
    /// When the body failed (returned `Err`, or panicked) and a stale value is at hand, that
    /// value is returned and the stored entry is kept.
    fn finish(
        mut self,
        leader: Option<Leader>,
        started: Instant,
        outcome: Result<R, Box<dyn Any + Send>>,
    ) -> (R, Option<RemoteWrite>) {
        let elapsed = started.elapsed();
        let site = self.call.site;
        count_compute(site, elapsed);
        let (value, computed) = match (outcome, self.fallback.take()) {
            (Ok(value), Some(stale)) if K::is_failure(&value) => (self.serve_stale(stale), false),
            (Ok(value), _) => (value, true),
            (Err(_), Some(stale)) => (self.serve_stale(stale), false),
            (Err(panic), None) => std::panic::resume_unwind(panic),
        };
        // A stale value served is not stored again: the entry keeps its own times.
        let write = match (self.call.key.checked(), self.ticket) {
            (Ok(key), Some(ticket)) if self.redis_usable && computed => store::<K, R>(
                self.call.cache,
                (key, ticket),
                site,
                self.call.policy,
                &value,
                elapsed,
            ),
            _ => None,
        };
        if let Some(leader) = leader {
            leader.finish(|| Arc::new(value.clone()));
        }
        (value, write)
    }

    fn serve_stale(&self, stale: R) -> R {
        Counters::bump(&self.call.site.counters().stale_served);
        tracing::warn!(
            function = self.call.site.name(),
            "the function failed; serving the stale value (stale_if_error)"
        );
        stale
    }

    fn span(&self) -> tracing::Span {
        tracing::debug_span!(
            "cache.compute",
            function = self.call.site.name(),
            refresh = matches!(self.call.mode, CallMode::Refresh)
        )
    }
}
