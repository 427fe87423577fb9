//! Running a [`Fetch`] to its value: one async algorithm for both kinds of function. An
//! `async fn` awaits it; a plain `fn` runs it through [`crate::driver::block_on`], its body
//! wrapped as a future that calls it when first polled. A plain `fn` therefore waits (for Redis,
//! for another caller's computation) by parking its thread, never on the caller's runtime, and
//! a recursive one (`fib`) nests one `block_on` per level.
//!
//! The steps (read, judge, join the flight, finish) are synchronous methods of [`Fetch`] and the
//! I/O between them small boxed futures, all compiled once per return type; what is compiled
//! per cached function is the short [`drive`] that asks for them and awaits the body once,
//! wrapped in one small future ([`Guarded`]). That keeps down what `#[cached]` costs a crate's
//! build, and keeps `drive`'s frame small on the stack of a recursive call.

use quanta::Instant;
use std::future::Future;
use std::pin::Pin;

use super::call::{Fetch, Step};
use super::guarded::Guarded;
use super::kind::ReturnKind;
#[cfg(feature = "redis")]
use super::lease::Leased;
#[cfg(feature = "redis")]
use super::read::{read_remote, RemoteEntry};
use super::refresh::{self, Refresh};
#[cfg(feature = "redis")]
use super::tags;
use super::write::RemoteWrite;
#[cfg(feature = "redis")]
use crate::key::Key;
#[cfg(feature = "redis")]
use crate::store::{Backend, Failure, Lease, RedisStore};

/// Where a background refresh runs: handed back (`Some`) to run in the calling task, or spawned.
type Spawn<K, R, F> = fn(Refresh<K, R>, F) -> Option<(Refresh<K, R>, F)>;

/// Runs a background refresh in the calling task.
fn in_calling_task<K, R, F>(task: Refresh<K, R>, body: F) -> Option<(Refresh<K, R>, F)> {
    Some((task, body))
}

/// Drives a fetch of an `async fn`; a background refresh runs in the calling task.
/// `MAY_REFRESH` is false when the policy has neither early expiry nor stale-while-revalidate
/// (the macro sees it), so that no refresh code is compiled for the function.
pub fn fetch_async<'a, K, R, F, const MAY_REFRESH: bool>(
    fetch: Fetch<'a, K, R>,
    body: F,
) -> impl Future<Output = R> + use<'a, K, R, F, MAY_REFRESH>
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
    F: Future<Output = R>,
{
    drive::<K, R, F, MAY_REFRESH>(fetch, body, in_calling_task)
}

/// Drives a fetch of an `async fn` whose body can be spawned: a background refresh runs on the
/// caller's tokio runtime.
pub fn fetch_async_spawning<'a, K, R, F>(
    fetch: Fetch<'a, K, R>,
    body: F,
) -> impl Future<Output = R> + use<'a, K, R, F>
where
    K: ReturnKind<R> + Send + 'static,
    R: Clone + Send + Sync + 'static,
    F: Future<Output = R> + Send + 'static,
{
    drive::<K, R, F, true>(fetch, body, refresh::spawn_on_runtime)
}

/// Drives a fetch of a plain `fn`, blocking this thread; a background refresh runs in the
/// calling thread. Safe inside a tokio runtime of either flavour: Redis is driven on the
/// driver's thread, so the wait holds this worker but needs nothing of it.
pub fn fetch_blocking<K, R, F, const MAY_REFRESH: bool>(fetch: Fetch<'_, K, R>, body: F) -> R
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
    F: FnOnce() -> R,
{
    let body = async move { body() };
    crate::driver::block_on(drive::<K, R, _, MAY_REFRESH>(fetch, body, in_calling_task))
}

/// Drives a fetch of a plain `fn` whose closure can move to another thread: a background refresh
/// runs on a thread of its own.
pub fn fetch_blocking_spawning<K, R, F>(fetch: Fetch<'_, K, R>, body: F) -> R
where
    K: ReturnKind<R> + Send + 'static,
    R: Clone + Send + Sync + 'static,
    F: FnOnce() -> R + Send + 'static,
{
    let body = async move { body() };
    crate::driver::block_on(drive::<K, R, _, true>(
        fetch,
        body,
        refresh::spawn_on_thread,
    ))
}

/// The part of a fetch compiled per function: the steps (per return type) and the small I/O
/// futures they ask for, awaited in turn, and the body, awaited once.
async fn drive<K, R, F, const MAY_REFRESH: bool>(
    mut fetch: Fetch<'_, K, R>,
    body: F,
    spawn: Spawn<K, R, F>,
) -> R
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
    F: Future<Output = R>,
{
    #[cfg(feature = "redis")]
    if let Some((redis, key)) = fetch.remote_key() {
        let ticket = fetch.near_tickets();
        let read = boxed_read(redis, key, fetch.call.tags).await;
        if let Some(value) = fetch.remote_read(read, ticket) {
            return value;
        }
    }
    if let Some(value) = fetch.serve.take() {
        if MAY_REFRESH {
            if let Some((task, body)) = fetch.refresh().and_then(|task| spawn(task, body)) {
                // A refresh in the calling task: this caller waits for it, then gets `value`.
                Box::pin(task.run(body)).await;
            }
        }
        return value;
    }
    // About to compute (or wait for a computation): a tagged call reads its tags' versions
    // anew, making missing ones and keeping them alive as long as the entry it will store.
    #[cfg(feature = "redis")]
    if let (false, Backend::Redis(redis)) = (fetch.call.tags.is_empty(), fetch.call.cache.backend())
    {
        if fetch.redis_usable {
            let lifetime = fetch.call.policy.lifetime();
            let made = boxed_tag_versions(redis, fetch.call.tags, lifetime).await;
            fetch.tag_versions_made(made);
        }
    }
    let leader = loop {
        match fetch.step() {
            Step::Done(value) => return value,
            Step::Wait(listener) => listener.await,
            Step::Run(leader) => break leader,
        }
    };
    #[cfg(feature = "redis")]
    let lease = match fetch.lease_target() {
        Some(target) => match boxed_lease(&fetch, target).await {
            Leased::Held(held) => Some(held),
            Leased::Filled(value) => return fetch.filled(leader, value),
            Leased::Proceed => None,
            Leased::Refused(error) => return error,
        },
        None => None,
    };
    let started = Instant::now();
    let outcome = Guarded::new(fetch.span(), body).await;
    let site = fetch.call.site;
    let (value, write) = fetch.finish(leader, started, outcome);
    if let Some(write) = write {
        boxed_write(write, site).await;
    }
    #[cfg(feature = "redis")]
    if let Some(lease) = lease {
        let _ = boxed_release(lease).await;
    }
    value
}

// The I/O around the body is built in boxes by these functions, not inline: `drive`'s state is
// on the stack of every call while the body runs (every level of a recursive `fib`), and a box
// costs nothing next to a Redis round trip.

#[cfg(feature = "redis")]
#[inline(never)]
fn boxed_read<'r>(
    redis: &'r RedisStore,
    key: &'r Key,
    tags: &'r [Key],
) -> Pin<Box<impl Future<Output = Result<RemoteEntry, Failure>> + 'r>> {
    Box::pin(read_remote(redis, key, tags))
}

#[cfg(feature = "redis")]
#[inline(never)]
fn boxed_tag_versions<'r>(
    redis: &'r RedisStore,
    tags: &'r [Key],
    lifetime: std::time::Duration,
) -> Pin<Box<impl Future<Output = Result<u64, Failure>> + 'r>> {
    Box::pin(tags::ensure_on(redis, tags, lifetime))
}

#[inline(never)]
fn boxed_write(
    write: RemoteWrite,
    site: &'static super::FnSite,
) -> Pin<Box<impl Future<Output = ()>>> {
    Box::pin(write.send(site))
}

#[cfg(feature = "redis")]
#[inline(never)]
fn boxed_lease<'f, K, R>(
    fetch: &'f Fetch<'_, K, R>,
    target: super::lease::Target<'f>,
) -> Pin<Box<impl Future<Output = Leased<R>> + 'f>>
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
{
    Box::pin(fetch.lease(target))
}

#[cfg(feature = "redis")]
#[inline(never)]
fn boxed_release(lease: Lease) -> Pin<Box<impl Future<Output = Result<bool, Failure>>>> {
    Box::pin(async move { lease.release().await })
}
