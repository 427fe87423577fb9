//! Running a [`Fetch`] to its value: one async algorithm for both kinds of function. An
//! `async fn` awaits it; a plain `fn` runs it through [`crate::driver::block_on`], its body
//! wrapped as a future that calls it when first polled. A plain `fn` therefore waits (for Redis,
//! for another caller's computation) by parking its thread, never on the caller's runtime, and
//! a recursive one (`fib`) nests one `block_on` per level.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::time::Instant;

use futures_util::FutureExt;

use super::call::{Fetch, Step};
use super::kind::ReturnKind;
#[cfg(feature = "redis")]
use super::lease::Leased;
#[cfg(feature = "redis")]
use super::read::get_entry;
use super::refresh::{self, Refresh};
use super::write::RemoteWrite;
#[cfg(feature = "redis")]
use crate::store::{Failure, RedisStore};

/// Drives a fetch of an `async fn`; a background refresh runs in the calling task.
pub async fn fetch_async<K, R, F>(fetch: Fetch<'_, K, R>, body: F) -> R
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
    F: Future<Output = R>,
{
    drive(fetch, body, |task, body| Some((task, body))).await
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
    let body = async move { body() };
    crate::driver::block_on(drive(fetch, body, |task, body| Some((task, body))))
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

async fn drive<K, R, F, S>(mut fetch: Fetch<'_, K, R>, body: F, spawn: S) -> R
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
    F: Future<Output = R>,
    S: FnOnce(Refresh<K, R>, F) -> Option<(Refresh<K, R>, F)>,
{
    #[cfg(feature = "redis")]
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
                #[cfg(feature = "redis")]
                let lease = match fetch.lease_target() {
                    Some(target) => match boxed_lease(&fetch, target).await {
                        Leased::Held(held) => Some(held),
                        Leased::Filled(value) => return fetch.filled(leader, value),
                        Leased::Proceed => None,
                    },
                    None => None,
                };
                let span = fetch.span();
                let body = tracing::Instrument::instrument(body, span);
                let started = Instant::now();
                // A panic is caught for `stale_if_error`; without a stale value it goes on.
                let outcome = AssertUnwindSafe(body).catch_unwind().await;
                let site = fetch.call.site;
                let (value, write) = fetch.finish(leader, started, outcome);
                if let Some(write) = write {
                    boxed_write(write, site).await;
                }
                #[cfg(feature = "redis")]
                if let Some(lease) = lease {
                    let _ = boxed_release(lease).await;
                }
                return value;
            }
        }
    }
}

// The paths around the body are built in boxes by these functions, not in `drive`: its frame
// and state are on the stack of every call while the body runs (every level of a recursive
// `fib`), and a box costs nothing next to a Redis round trip or a refresh.

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
fn boxed_refresh<K, R, F>(task: Refresh<K, R>, body: F) -> Pin<Box<impl Future<Output = ()>>>
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
    F: Future<Output = R>,
{
    Box::pin(task.run(body))
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
fn boxed_release(
    lease: crate::store::Lease,
) -> Pin<Box<impl Future<Output = Result<bool, Failure>>>> {
    Box::pin(async move { lease.release().await })
}
