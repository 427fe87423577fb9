//! Background refreshes: early expiry (XFetch) and stale-while-revalidate serve the stored value
//! at once and recompute it off the caller's path.
//!
//! At most one refresh per key runs in a process: it leads the key's flight, so a second caller
//! finds the flight taken and starts none (and a caller that misses meanwhile waits for it).
//! With `lock_on_miss` on Redis it also takes the key's lease first and gives up if another
//! process holds it: at most one refresh across processes.
//!
//! Where it runs: an `async fn` whose parameters are all owned is spawned on the caller's tokio
//! runtime; a plain `fn` of that kind on a thread of its own (`cache-refresh`). A function that
//! borrows (`&self`, `&Db`), is generic, or runs outside tokio refreshes in the calling task:
//! that caller waits for the body, every other caller gets the stored value at once.

use quanta::Instant;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use super::call::TtlFrom;
use super::guarded::Guarded;
use super::kind::ReturnKind;
use super::tags;
#[cfg(feature = "redis")]
use super::write::backend_error;
use super::write::{end_flight, store, RemoteWrite};
use super::FnSite;
use crate::cached::flight::Leader;
use crate::cached::invalidation::Ticket;
use crate::key::Key;
use crate::store::Backend;
#[cfg(feature = "redis")]
use crate::store::{Fence, Lease};
use crate::{Cache, CachePolicy};

/// One refresh, owning all it needs, so that it can outlive the call that started it.
pub struct Refresh<K, R> {
    cache: Cache,
    key: Key,
    site: &'static FnSite,
    policy: &'static CachePolicy,
    leader: Leader,
    ttl_from: Option<TtlFrom<R>>,
    /// The stamp of the tags' versions, if the read that started the refresh knew it.
    tag_stamp: Option<u64>,
    /// The keys of the tags' versions, to make them if `tag_stamp` is unknown.
    tags: Vec<Key>,
    /// The refresh begins when it is made: an invalidation after it voids its store.
    ticket: Ticket,
    kind: PhantomData<fn() -> (K, R)>,
}

impl<K, R> std::fmt::Debug for Refresh<K, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refresh").field("key", &self.key).finish()
    }
}

/// Whether a refresh may go ahead across processes.
enum Permit {
    /// It holds the key's lease (`lock_on_miss` on Redis).
    #[cfg(feature = "redis")]
    Leased(Lease),
    /// No lease needed, or Redis failed to answer: it goes ahead.
    Unleased,
}

impl Permit {
    /// Releases the lease, if the refresh held one.
    async fn end(self) {
        #[cfg(feature = "redis")]
        if let Permit::Leased(lease) = self {
            let _ = lease.release().await;
        }
    }
}

impl<K, R> Refresh<K, R>
where
    K: ReturnKind<R>,
    R: Clone + Send + Sync + 'static,
{
    pub(super) fn new(
        cache: &Cache,
        key: &Key,
        site: &'static FnSite,
        policy: &'static CachePolicy,
        leader: Leader,
        (ttl_from, tag_stamp, tags): (Option<TtlFrom<R>>, Option<u64>, &[Key]),
    ) -> Self {
        Refresh {
            cache: cache.clone(),
            key: key.clone(),
            site,
            policy,
            leader,
            ttl_from,
            tag_stamp,
            tags: tags.to_vec(),
            ticket: cache.invalidations().ticket(key.as_bytes()),
            kind: PhantomData,
        }
    }

    /// Takes the key's lease when this refresh needs one (`lock_on_miss` on Redis); `None` when
    /// another process holds it (it is refreshing).
    async fn permit(&self) -> Option<Permit> {
        #[cfg(feature = "redis")]
        if let (Backend::Redis(_), Some(wait)) =
            (self.cache.backend(), self.policy.lock_on_miss_wait())
        {
            let lease = Lease::for_entry(&self.cache, &self.key.to_string(), wait);
            return match lease.acquire(Fence::None).await {
                Ok(Some(_)) => Some(Permit::Leased(lease)),
                Ok(None) => None,
                Err(failure) => {
                    // The attempt is dropped: released in the background, in case it was taken.
                    backend_error(self.site, &failure, "taking the lease for a refresh");
                    Some(Permit::Unleased)
                }
            };
        }
        Some(Permit::Unleased)
    }

    /// Runs the refresh: `body` is the function's future (a plain `fn`'s body wrapped as one).
    /// Only the body's await is compiled per function; the steps around it per return type.
    pub(super) async fn run<F: Future<Output = R>>(mut self, body: F) {
        let Some(permit) = self.permit().await else {
            return;
        };
        if !self.tags.is_empty() {
            self.tag_stamp = self.make_tag_versions().await;
        }
        let started = Instant::now();
        let outcome = Guarded::new(self.span(), body).await;
        self.complete(permit, started, outcome).await;
    }

    /// The stamp of the tags' versions, made where missing; `None` if Redis failed (nothing is
    /// stored then).
    async fn make_tag_versions(&self) -> Option<u64> {
        match self.cache.backend() {
            Backend::Memory(memory) => {
                Some(tags::ensure_in(memory, &self.tags, self.cache.now_millis()))
            }
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => {
                match tags::ensure_on(redis, &self.tags, self.policy.lifetime()).await {
                    Ok(stamp) => Some(stamp),
                    Err(failure) => {
                        backend_error(self.site, &failure, "making tag versions");
                        None
                    }
                }
            }
        }
    }

    fn span(&self) -> tracing::Span {
        tracing::debug_span!("cache.compute", function = self.site.name(), refresh = true)
    }

    /// Stores what the body gave, then releases the lease.
    async fn complete(self, permit: Permit, started: Instant, outcome: std::thread::Result<R>) {
        let site = self.site;
        if let Some(write) = self.computed(started, outcome) {
            write.send(site).await;
        }
        permit.end().await;
    }

    /// Counts the run and stores its value, unless the body failed: a failed refresh keeps the
    /// stored entry (with `stale_if_error`) or stores what a miss would store.
    fn computed(self, started: Instant, outcome: std::thread::Result<R>) -> Option<RemoteWrite> {
        let elapsed = started.elapsed();
        self.site.counters().computed(elapsed);
        let value = match outcome {
            Ok(value) => value,
            Err(_) => {
                tracing::warn!(
                    function = self.site.name(),
                    "a background refresh panicked; the stored value stays"
                );
                return None;
            }
        };
        if K::is_failure(&value) && self.policy.stale_if_error_window().is_some() {
            return None;
        }
        let Some(stamp) = self.tag_stamp else {
            self.leader.finish(|| Arc::new(value));
            return None;
        };
        let mut write = store::<K, R>(
            &self.cache,
            (&self.key, self.ticket, (stamp, &self.tags)),
            self.site,
            (self.policy, self.ttl_from),
            &value,
            elapsed,
        );
        end_flight(self.leader, write.as_mut(), || Arc::new(value));
        write
    }
}

/// Spawns the refresh of an `async fn` on the caller's tokio runtime; outside one, gives it
/// back to be run in the calling task.
pub(super) fn spawn_on_runtime<K, R, F>(task: Refresh<K, R>, body: F) -> Option<(Refresh<K, R>, F)>
where
    K: ReturnKind<R> + Send + 'static,
    R: Clone + Send + Sync + 'static,
    F: Future<Output = R> + Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(task.run(body));
            None
        }
        Err(_) => Some((task, body)),
    }
}

/// Runs the refresh of a plain `fn` (its body wrapped as a future) on a thread of its own.
pub(super) fn spawn_on_thread<K, R, F>(task: Refresh<K, R>, body: F) -> Option<(Refresh<K, R>, F)>
where
    K: ReturnKind<R> + Send + 'static,
    R: Clone + Send + Sync + 'static,
    F: Future<Output = R> + Send + 'static,
{
    let spawned = std::thread::Builder::new()
        .name("cache-refresh".to_owned())
        .spawn(move || crate::driver::block_on(task.run(body)));
    if let Err(error) = spawned {
        tracing::warn!(%error, "no thread for a background refresh; the stored value stays");
    }
    None
}
