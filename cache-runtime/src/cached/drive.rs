//! Running a [`Fetch`] to its value: one async algorithm for both kinds of function. An
//! `async fn` awaits it; a plain `fn` runs it through [`crate::driver::block_on`], its body
//! wrapped as a future that calls it when first polled. A plain `fn` therefore waits (for Redis,
//! for another caller's computation) by parking its thread, never on the caller's runtime, and
//! a recursive one (`fib`) nests one `block_on` per level.
//!
//! The algorithm is split around the body: [`prepare`] (read, serve, join the flight, take the
//! lease) and [`Computing::complete`] (count, store, share, release) depend on the return type
//! only, so each is compiled once per return type; the part compiled per cached function is the
//! short [`drive`] that awaits the body between them. That split is most of what `#[cached]`
//! costs a crate's build.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::time::Instant;

use futures_util::FutureExt;

use super::call::{Fetch, Step};
use super::flight::Leader;
use super::kind::ReturnKind;
#[cfg(feature = "redis")]
use super::lease::Leased;
#[cfg(feature = "redis")]
use super::read::get_entry;
use super::refresh::{self, Refresh};
use super::write::RemoteWrite;
#[cfg(feature = "redis")]
use crate::store::{Failure, Lease, RedisStore};

/// Where a background refresh runs: handed back (`Some`) to run in the calling task, or spawned.
type Spawn<K, R, F> = fn(Refresh<K, R>, F) -> Option<(Refresh<K, R>, F)>;

/// Runs a background refresh in the calling task.
fn in_calling_task<K, R, F>(task: Refresh<K, R>, body: F) -> Option<(Refresh<K, R>, F)> {
    Some((task, body))
}

/// Drives a fetch of an `async fn`; a background refresh runs in the calling task.
pub async fn fetch_async<K, R, F>(fetch: Fetch<'_, K, R>, body: F) -> R
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
    F: Future<Output = R>,
{
    drive(fetch, body, in_calling_task).await
}

/// Drives a fetch of an `async fn` whose body can be spawned: a background refresh runs on the
/// caller's tokio runtime.
pub async fn fetch_async_spawning<K, R, F>(fetch: Fetch<'_, K, R>, body: F) -> R
where
    K: ReturnKind<R> + Send + 'static,
    R: Clone + Send + Sync + 'static,
    F: Future<Output = R> + Send + 'static,
{
    drive(fetch, body, refresh::spawn_on_runtime).await
}

/// Drives a fetch of a plain `fn`, blocking this thread; a background refresh runs in the
/// calling thread. Safe inside a tokio runtime of either flavour: Redis is driven on the
/// driver's thread, so the wait holds this worker but needs nothing of it.
pub fn fetch_blocking<K, R, F>(fetch: Fetch<'_, K, R>, body: F) -> R
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
    F: FnOnce() -> R,
{
    crate::driver::block_on(drive(fetch, async move { body() }, in_calling_task))
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
    crate::driver::block_on(drive(fetch, body, refresh::spawn_on_thread))
}

/// The part of a fetch compiled per function: prepare, run the body if it must, complete.
async fn drive<K, R, F>(fetch: Fetch<'_, K, R>, body: F, spawn: Spawn<K, R, F>) -> R
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
    F: Future<Output = R>,
{
    match prepare(fetch).await {
        Prepared::Done(value) => value,
        Prepared::Serve(value, task) => {
            if let Some((task, body)) = task.and_then(|task| spawn(task, body)) {
                // Boxed: a refresh in the calling task is rare; `drive`'s state stays small.
                Box::pin(task.run(body)).await;
            }
            value
        }
        Prepared::Compute(computing) => {
            let body = tracing::Instrument::instrument(body, computing.fetch.span());
            let started = Instant::now();
            // A panic is caught for `stale_if_error`; without a stale value it goes on.
            let outcome = AssertUnwindSafe(body).catch_unwind().await;
            computing.complete(started, outcome).await
        }
    }
}

/// Where a fetch stands before the body.
enum Prepared<'a, K, R> {
    /// The value: a hit, another caller's, another process's.
    Done(R),
    /// A stored value to return now, and the refresh to run, unless one is under way.
    Serve(R, Option<Refresh<K, R>>),
    /// The body must run.
    Compute(Computing<'a, K, R>),
}

/// A fetch whose body is to run: leading the key's flight (if any), holding the key's lease
/// under `lock_on_miss`.
struct Computing<'a, K, R> {
    fetch: Fetch<'a, K, R>,
    leader: Option<Leader>,
    #[cfg(feature = "redis")]
    lease: Option<Lease>,
}

/// Reads (Redis), decides to serve and refresh, joins the flight (waiting for its leader), and
/// takes the lease: everything before the body.
async fn prepare<K, R>(mut fetch: Fetch<'_, K, R>) -> Prepared<'_, K, R>
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
{
    #[cfg(feature = "redis")]
    if let Some((redis, key)) = fetch.remote_key() {
        if let Some(value) = fetch.remote_read(boxed_query(redis, get_entry(key)).await) {
            return Prepared::Done(value);
        }
    }
    if let Some(value) = fetch.serve.take() {
        let task = fetch.refresh();
        return Prepared::Serve(value, task);
    }
    loop {
        match fetch.step() {
            Step::Done(value) => return Prepared::Done(value),
            Step::Wait(listener) => listener.await,
            Step::Run(leader) => {
                #[cfg(feature = "redis")]
                let lease = match fetch.lease_target() {
                    Some(target) => match boxed_lease(&fetch, target).await {
                        Leased::Held(held) => Some(held),
                        Leased::Filled(value) => {
                            return Prepared::Done(fetch.filled(leader, value))
                        }
                        Leased::Proceed => None,
                    },
                    None => None,
                };
                return Prepared::Compute(Computing {
                    fetch,
                    leader,
                    #[cfg(feature = "redis")]
                    lease,
                });
            }
        }
    }
}

impl<K, R> Computing<'_, K, R>
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
{
    /// Counts the run, stores and shares its value (or serves the stale one), releases the
    /// lease: everything after the body.
    async fn complete(self, started: Instant, outcome: Result<R, Box<dyn Any + Send>>) -> R {
        let site = self.fetch.call.site;
        let (value, write) = self.fetch.finish(self.leader, started, outcome);
        if let Some(write) = write {
            boxed_write(write, site).await;
        }
        #[cfg(feature = "redis")]
        if let Some(lease) = self.lease {
            let _ = boxed_release(lease).await;
        }
        value
    }
}

// The I/O around the body is built in boxes by these functions, not inline: `drive`'s state is
// on the stack of every call while the body runs (every level of a recursive `fib`), and a box
// costs nothing next to a Redis round trip.

#[cfg(feature = "redis")]
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
