//! A held lock: acquiring it (waiting on release wake-ups), renewing it while held, releasing
//! it, and what a guard dropped without release does.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use event_listener::{Event, EventListener, Listener};
use futures_util::future::{select, Either};

use super::backend::{self, Owner};
use super::error::LockError;
use super::policy::LockPolicy;
use super::stats::LockCounters;
use crate::store::{Backend, Failure, RedisStore};
use crate::Cache;

/// Renewal tasks running now, in the whole process.
static RENEWALS: AtomicUsize = AtomicUsize::new(0);

/// How many lease renewals are running now, in the whole process: one per lock held with
/// renewal on; none once every guard is released or dropped.
pub fn running_renewals() -> usize {
    RENEWALS.load(Ordering::SeqCst)
}

/// How much sooner than the server a holder on Redis gives its lease up: 1% of the lease plus
/// 2 ms, for clocks that run at slightly different rates (the Redlock drift allowance).
pub fn safety_margin(lease: Duration) -> Duration {
    (lease / 100 + Duration::from_millis(2)).min(lease / 2)
}

/// Instants as nanoseconds since the first one taken, for an atomic deadline.
fn nanos_since_start(instant: Instant) -> u64 {
    static START: LazyLock<Instant> = LazyLock::new(Instant::now);
    u64::try_from(instant.saturating_duration_since(*START).as_nanos()).unwrap_or(u64::MAX)
}

/// What a guard and its renewal share.
pub(crate) struct Held {
    cache: Cache,
    key: String,
    owner: Owner,
    fence: u64,
    lease: Duration,
    lost: AtomicBool,
    lost_event: Event,
    counters: Arc<LockCounters>,
    /// On Redis: the instant (in [`nanos_since_start`]) from which the lease may have run out on
    /// the server, counted from when the last successful acquire or extend was *sent*, less the
    /// [`safety_margin`]. `u64::MAX` on the memory store, where the lease is exact in process.
    valid_until: AtomicU64,
}

impl Held {
    /// Whether the lease may have run out on the server by now (never on the memory store).
    fn expired(&self) -> bool {
        let until = self.valid_until.load(Ordering::SeqCst);
        until != u64::MAX && nanos_since_start(Instant::now()) >= until
    }

    /// How long until the lease may run out; `None` on the memory store.
    fn left(&self) -> Option<Duration> {
        let until = self.valid_until.load(Ordering::SeqCst);
        (until != u64::MAX)
            .then(|| Duration::from_nanos(until.saturating_sub(nanos_since_start(Instant::now()))))
    }

    pub(crate) fn mark_lost(&self) {
        if !self.lost.swap(true, Ordering::SeqCst) {
            self.counters.lost.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(key = %self.key, "lock lost while held");
            self.lost_event.notify(usize::MAX);
        }
    }

    /// Lost as far as this holder can tell: a renewal found it gone, or the time since the last
    /// successful extend was sent is past the lease less the margin (then it is marked lost).
    pub(crate) fn is_lost(&self) -> bool {
        if self.lost.load(Ordering::SeqCst) {
            return true;
        }
        if self.expired() {
            self.mark_lost();
            return true;
        }
        false
    }

    pub(crate) fn fence(&self) -> u64 {
        self.fence
    }

    /// Resolves once the lock is known to be lost, at the latest when its lease may have run
    /// out (timed on the driver, so from any executor).
    pub(crate) async fn lost(&self) {
        loop {
            let listener = self.lost_event.listen();
            if self.is_lost() {
                return;
            }
            match self.left() {
                Some(left) => {
                    let deadline = std::pin::pin!(crate::driver::pause(left));
                    if let Either::Left((false, listener)) = select(deadline, listener).await {
                        listener.await; // no driver to time it: only a renewal can tell
                    }
                }
                None => listener.await,
            }
        }
    }

    /// Extends the lease by `lease` from now; `Ok(false)` if it is no longer ours. On success
    /// the holder's deadline becomes `lease` (less the margin) from when the extend was sent.
    async fn extend(&self, lease: Duration) -> Result<bool, Failure> {
        let sent = Instant::now();
        let extended = backend::extend(&self.cache, &self.key, self.owner, lease)
            .run()
            .await;
        if matches!(extended, Ok(true)) && self.valid_until.load(Ordering::SeqCst) != u64::MAX {
            self.valid_until
                .store(valid_until(sent, lease), Ordering::SeqCst);
        }
        extended
    }
}

/// A lock held. Read its fencing [`token`](Self::token), [`extend`](Self::extend) it,
/// [`release`](Self::release) it. Dropped unreleased (a cancelled or panicking call), it is
/// released in the background without blocking, and if even that cannot reach the store the
/// lease runs out by itself.
pub struct LockGuard {
    held: Arc<Held>,
    renewal: Option<tokio::task::AbortHandle>,
    released: bool,
}

impl LockGuard {
    /// The fencing token: larger than every token given out for this key before. Pass it to
    /// the resource you write, and have it refuse a token smaller than the last it saw.
    pub fn token(&self) -> u64 {
        self.held.fence
    }

    /// The lock's key, as the store holds it.
    pub fn key(&self) -> &str {
        &self.held.key
    }

    /// Whether the lock is still ours as far as renewal knows: `false` once a renewal found the
    /// lease lost.
    pub fn is_held(&self) -> bool {
        !self.held.is_lost()
    }

    pub(crate) fn held(&self) -> &Arc<Held> {
        &self.held
    }

    /// Extends the lease to `ttl` from now.
    pub async fn extend(&self, ttl: Duration) -> Result<(), LockError> {
        match self.held.extend(ttl).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(self.not_owner()),
            Err(failure) => Err(self.backend_error(&failure)),
        }
    }

    /// Releases the lock: `Err(NotOwner)` if its lease ran out and it was no longer ours.
    /// If the store fails to answer, or the call is dropped before it does, the lock is released
    /// in the background instead, as a dropped guard is.
    pub async fn release(mut self) -> Result<(), LockError> {
        let release = self.releasing();
        let released = release.run().await;
        self.settle(released)
    }

    /// [`release`](Self::release), blocking this thread on Redis (for plain `fn`s).
    pub fn release_blocking(mut self) -> Result<(), LockError> {
        let release = self.releasing();
        let released = release.run_blocking();
        self.settle(released)
    }

    /// Stops renewal and gives the release to run.
    fn releasing(&mut self) -> backend::Op<bool> {
        self.stop_renewal();
        backend::release(&self.held.cache, &self.held.key, self.held.owner)
    }

    /// Once the store answered, the guard is released (it may have found the lock not ours);
    /// otherwise its drop releases it in the background.
    fn settle(&mut self, released: Result<bool, Failure>) -> Result<(), LockError> {
        self.released = released.is_ok();
        match released {
            Ok(true) => Ok(()),
            Ok(false) => Err(self.not_owner()),
            Err(failure) => Err(self.backend_error(&failure)),
        }
    }

    fn not_owner(&self) -> LockError {
        LockError::NotOwner {
            key: self.held.key.clone(),
        }
    }

    fn backend_error(&self, failure: &Failure) -> LockError {
        self.held
            .counters
            .backend_errors
            .fetch_add(1, Ordering::Relaxed);
        LockError::Backend {
            key: self.held.key.clone(),
            problem: failure.to_string(),
        }
    }

    fn stop_renewal(&mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.stop_renewal();
        if !self.released {
            let held = &self.held;
            backend::release_in_background(&held.cache, &held.key, held.owner, held.lease);
        }
    }
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("key", &self.held.key)
            .field("token", &self.held.fence)
            .field("held", &self.is_held())
            .finish()
    }
}

/// An acquisition under way: if the call is dropped before the reply is read, or the reply is
/// lost (a timeout), the lock may be taken on the server with nobody to release it, so dropping
/// this unsettled releases it (a release of a lock we do not hold changes nothing).
struct Pending<'a> {
    cache: &'a Cache,
    key: &'a str,
    owner: Owner,
    lease: Duration,
    settled: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.settled {
            backend::release_in_background(self.cache, self.key, self.owner, self.lease);
        }
    }
}

/// Acquires `key`, waiting up to the policy's longest wait.
pub(crate) async fn acquire_async(
    cache: &Cache,
    key: String,
    policy: &LockPolicy,
    counters: &Arc<LockCounters>,
) -> Result<LockGuard, LockError> {
    let started = Instant::now();
    let (mut listener, mut waited): (Option<EventListener>, bool) = (None, false);
    loop {
        let owner = Owner::new();
        let mut pending = Pending {
            cache,
            key: &key,
            owner,
            lease: policy.lease(),
            settled: false,
        };
        let sent = Instant::now();
        let reply = backend::acquire(cache, &key, owner, policy.lease())
            .run()
            .await;
        // A failed reply (a timeout) may hide a lock taken on the server: `pending` releases it
        // when dropped; an answer settles it.
        pending.settled = reply.is_ok();
        let attempt = (owner, sent);
        if let Some(guard) = next_step(
            cache, &key, policy, counters, started, waited, attempt, reply,
        )? {
            return Ok(guard);
        }
        // Held: listen for its release, then try again (at once the first time, so that a
        // release between the try and the listening is not missed).
        if let Some(listener) = listener.take() {
            RedisStore::wait_for_fill(listener, pause(policy, started)).await;
            waited = true;
        }
        listener = Some(listen(cache, &key));
    }
}

/// [`acquire_async`] for a plain `fn`, blocking this thread.
pub(crate) fn acquire_blocking(
    cache: &Cache,
    key: String,
    policy: &LockPolicy,
    counters: &Arc<LockCounters>,
) -> Result<LockGuard, LockError> {
    let started = Instant::now();
    let (mut listener, mut waited): (Option<EventListener>, bool) = (None, false);
    loop {
        let (owner, sent) = (Owner::new(), Instant::now());
        let reply = backend::acquire(cache, &key, owner, policy.lease()).run_blocking();
        if reply.is_err() {
            // A timeout may hide a lock taken.
            backend::release_in_background(cache, &key, owner, policy.lease());
        }
        let attempt = (owner, sent);
        if let Some(guard) = next_step(
            cache, &key, policy, counters, started, waited, attempt, reply,
        )? {
            return Ok(guard);
        }
        if let Some(listener) = listener.take() {
            listener.wait_timeout(pause(policy, started));
            waited = true;
        }
        listener = Some(listen(cache, &key));
    }
}

/// A listener woken when `key` is released: over pub/sub on Redis, in process on memory.
fn listen(cache: &Cache, key: &str) -> EventListener {
    match cache.backend() {
        Backend::Memory(_) => cache.lock_released().listen(),
        Backend::Redis(redis) => redis.listen_for_fill(key),
    }
}

/// How long to wait for a wake-up before trying again: a jittered 50–150 ms, so that a lost
/// message or a holder that died (its lease runs out, nobody publishes) costs little, and never
/// past the longest wait.
fn pause(policy: &LockPolicy, started: Instant) -> Duration {
    let left = policy.longest_wait().saturating_sub(started.elapsed());
    Duration::from_millis(50 + fastrand::u64(0..100)).min(left)
}

/// What one try gives: a guard, another wait, or an error.
#[allow(clippy::too_many_arguments)]
fn next_step(
    cache: &Cache,
    key: &str,
    policy: &LockPolicy,
    counters: &Arc<LockCounters>,
    started: Instant,
    waited: bool,
    attempt: (Owner, Instant),
    reply: Result<Option<u64>, Failure>,
) -> Result<Option<LockGuard>, LockError> {
    match reply {
        Ok(Some(fence)) => {
            counters.acquired.fetch_add(1, Ordering::Relaxed);
            if waited {
                counters.waited.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Some(guard(cache, key, policy, counters, attempt, fence)))
        }
        Ok(None) if started.elapsed() < policy.longest_wait() => Ok(None),
        Ok(None) => {
            counters.timed_out.fetch_add(1, Ordering::Relaxed);
            Err(LockError::TimedOut {
                key: key.to_owned(),
                waited: started.elapsed(),
            })
        }
        Err(failure) => {
            counters.backend_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%failure, %key, "lock not acquired: the store failed");
            Err(LockError::Backend {
                key: key.to_owned(),
                problem: failure.to_string(),
            })
        }
    }
}

/// The end of a lease taken or extended by a command sent at `sent`, less the margin.
fn valid_until(sent: Instant, lease: Duration) -> u64 {
    nanos_since_start(sent).saturating_add(
        u64::try_from(lease.saturating_sub(safety_margin(lease)).as_nanos()).unwrap_or(u64::MAX),
    )
}

fn guard(
    cache: &Cache,
    key: &str,
    policy: &LockPolicy,
    counters: &Arc<LockCounters>,
    (owner, sent): (Owner, Instant),
    fence: u64,
) -> LockGuard {
    let held = Arc::new(Held {
        cache: cache.clone(),
        key: key.to_owned(),
        owner,
        fence,
        lease: policy.lease(),
        lost: AtomicBool::new(false),
        lost_event: Event::new(),
        counters: Arc::clone(counters),
        valid_until: AtomicU64::new(match cache.backend() {
            Backend::Memory(_) => u64::MAX,
            Backend::Redis(_) => valid_until(sent, policy.lease()),
        }),
    });
    let renewal = policy
        .renews_every()
        .and_then(|every| start_renewal(&held, every));
    LockGuard {
        held,
        renewal,
        released: false,
    }
}

/// Extends the lease every `every` on the driver thread until the guard is gone; marks the lock
/// lost when an extension finds it no longer ours, or, on Redis, when the lease may have run out
/// on the server (a lease less the margin after the last successful extend was sent), even while
/// an extend is still unanswered: the holder knows before anyone else can acquire.
fn start_renewal(held: &Arc<Held>, every: Duration) -> Option<tokio::task::AbortHandle> {
    let driver = crate::driver::handle()?;
    let weak = Arc::downgrade(held);
    RENEWALS.fetch_add(1, Ordering::SeqCst);
    let counted = RenewalCount;
    let task = driver.spawn(async move {
        let _counted = counted;
        loop {
            let Some(left) = weak.upgrade().map(|held| held.left()) else {
                return;
            };
            tokio::time::sleep(left.map_or(every, |left| every.min(left))).await;
            let Some(held) = weak.upgrade() else { return };
            if held.is_lost() {
                return;
            }
            let extend = std::pin::pin!(held.extend(held.lease));
            let outcome = match held.left() {
                Some(left) => {
                    match select(extend, std::pin::pin!(tokio::time::sleep(left))).await {
                        Either::Left((outcome, _)) => outcome,
                        Either::Right(_) => return held.mark_lost(), // unanswered past the lease
                    }
                }
                None => extend.await,
            };
            match outcome {
                Ok(true) => {}
                Ok(false) => return held.mark_lost(),
                Err(failure) => tracing::debug!(%failure, key = %held.key, "renewal failed"),
            }
        }
    });
    Some(task.abort_handle())
}

/// Counts a renewal task while it exists (aborted, finished or never polled).
struct RenewalCount;

impl Drop for RenewalCount {
    fn drop(&mut self) {
        RENEWALS.fetch_sub(1, Ordering::SeqCst);
    }
}
