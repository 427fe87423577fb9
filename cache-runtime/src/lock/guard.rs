//! A held lock: acquiring it (waiting on release wake-ups), renewing it while held, releasing
//! it, and what a guard dropped without release does.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use event_listener::{Event, EventListener};
use futures_util::future::{select, Either};

use super::error::LockError;
use super::policy::LockPolicy;
use super::stats::LockCounters;
use crate::store::{Backend, Failure, Fence, Lease};
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
    lease: Lease,
    fence: u64,
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
            self.counters.lost.bump();
            tracing::warn!(key = %self.lease.key(), "lock lost while held");
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
        let extended = self.lease.extend(lease).await;
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
}

impl LockGuard {
    /// The fencing token: larger than every token given out for this key before. Pass it to
    /// the resource you write, and have it refuse a token smaller than the last it saw.
    pub fn token(&self) -> u64 {
        self.held.fence
    }

    /// The lock's key, as the store holds it.
    pub fn key(&self) -> &str {
        self.held.lease.key()
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
        self.stop_renewal();
        // Once the store answered, the lease is settled (it may have found the lock not ours);
        // otherwise the guard's drop releases it in the background.
        match self.held.lease.release().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(self.not_owner()),
            Err(failure) => Err(self.backend_error(&failure)),
        }
    }

    /// [`release`](Self::release), blocking this thread (for plain `fn`s).
    pub fn release_blocking(self) -> Result<(), LockError> {
        crate::driver::block_on(self.release())
    }

    fn not_owner(&self) -> LockError {
        LockError::NotOwner {
            key: self.key().to_owned(),
        }
    }

    fn backend_error(&self, failure: &Failure) -> LockError {
        self.held.counters.backend_errors.bump();
        LockError::Backend {
            key: self.key().to_owned(),
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
        // Not released, or the release got no answer: release in the background (a lease the
        // store released already is disarmed, and this does nothing).
        self.held.lease.release_in_background();
    }
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("key", &self.key())
            .field("token", &self.held.fence)
            .field("held", &self.is_held())
            .finish()
    }
}

/// Acquires `key`, waiting up to the policy's longest wait.
pub(crate) async fn acquire(
    cache: &Cache,
    key: String,
    policy: &LockPolicy,
    counters: &Arc<LockCounters>,
) -> Result<LockGuard, LockError> {
    let started = Instant::now();
    let (mut listener, mut waited): (Option<EventListener>, bool) = (None, false);
    loop {
        // A failed reply (a timeout) may hide a lock taken on the server: the lease is armed
        // until the store says another holds it, so dropping it releases it.
        let lease = Lease::new(cache, key.clone(), policy.lease());
        let sent = Instant::now();
        let reply = lease.acquire(Fence::Counted).await;
        if let Some(guard) = next_step(policy, counters, started, waited, (lease, sent), reply)? {
            return Ok(guard);
        }
        // Held: listen for its release, then try again (at once the first time, so that a
        // release between the try and the listening is not missed).
        if let Some(listener) = listener.take() {
            crate::driver::wait_for(listener, pause(policy, started)).await;
            waited = true;
        }
        listener = Some(listen(cache, &key));
    }
}

/// A listener woken when `key` is released: over pub/sub on Redis, in process on memory.
#[cfg_attr(not(feature = "redis"), allow(unused_variables))]
fn listen(cache: &Cache, key: &str) -> EventListener {
    match cache.backend() {
        Backend::Memory(_) => cache.lock_released().listen(),
        #[cfg(feature = "redis")]
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
fn next_step(
    policy: &LockPolicy,
    counters: &Arc<LockCounters>,
    started: Instant,
    waited: bool,
    attempt: (Lease, Instant),
    reply: Result<Option<u64>, Failure>,
) -> Result<Option<LockGuard>, LockError> {
    let key = attempt.0.key();
    match reply {
        Ok(Some(fence)) => {
            counters.acquired.bump();
            counters.wait_time.record(started.elapsed());
            if waited {
                counters.waited.bump();
            }
            Ok(Some(guard(policy, counters, attempt, fence)))
        }
        Ok(None) if started.elapsed() < policy.longest_wait() => Ok(None),
        Ok(None) => {
            counters.timed_out.bump();
            counters.wait_time.record(started.elapsed());
            Err(LockError::TimedOut {
                key: key.to_owned(),
                waited: started.elapsed(),
            })
        }
        Err(failure) => {
            counters.backend_errors.bump();
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
    policy: &LockPolicy,
    counters: &Arc<LockCounters>,
    (lease, sent): (Lease, Instant),
    fence: u64,
) -> LockGuard {
    let on_memory = matches!(lease.cache().backend(), Backend::Memory(_));
    let held = Arc::new(Held {
        lease,
        fence,
        lost: AtomicBool::new(false),
        lost_event: Event::new(),
        counters: Arc::clone(counters),
        valid_until: AtomicU64::new(match on_memory {
            true => u64::MAX,
            false => valid_until(sent, policy.lease()),
        }),
    });
    let renewal = policy
        .renews_every()
        .and_then(|every| start_renewal(&held, every));
    LockGuard { held, renewal }
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
            let extend = std::pin::pin!(held.extend(held.lease.lasts()));
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
                Err(failure) => {
                    tracing::debug!(%failure, key = %held.lease.key(), "renewal failed");
                }
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
