//! The lease: at most one holder per key at a time, across processes on Redis (in the process
//! on the memory store), running out by itself when its holder goes away. `lock_on_miss` takes
//! one to compute a key once across processes; `#[with_lock]` and [`crate::Locks`] take one
//! with a fencing token and renew it (`lock/`).
//!
//! On Redis:
//!
//! ```text
//! acquire:  SET <key> <owner> NX PX <lease>                         (no fence: one command)
//!           with a fence, one script: the SET, then on success
//!           fence = max(GET <key>:fence + 1, TIME in µs); SET <key>:fence fence PX …
//! release:  if GET <key> == owner then DEL <key> end; PUBLISH cache-runtime:filled <announce>
//! extend:   if GET <key> == owner then PEXPIRE <key> <lease> end
//! ```
//!
//! The fencing token is the larger of the last token plus one and the server's clock in µs, and
//! its key lives until the clock has passed it (and a lease more): tokens strictly increase
//! with every acquisition, and no key is kept forever. A lock and its fence share a hash tag
//! (`{…}`), so on a cluster both are on one node. The release announces the lease's key (a
//! lock's waiters listen for it) or the entry a `lock_on_miss` lease guarded (that entry's
//! waiters listen for its fill); the publication is a `pcall`, so an ACL user without the
//! channel still releases. On the memory store the same steps run under the entry's lock, on
//! the cache's clock, and a release wakes the cache's lock waiters.
//!
//! A [`Lease`] is armed from the moment its acquire is sent until the store has answered its
//! release: dropped armed (the call was cancelled, a reply was lost or timed out while the
//! command may have taken it on the server), it is released in the background, tried again
//! while that fails, for at most one lease; past that it has run out by itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[cfg(feature = "redis")]
use std::sync::LazyLock;

use super::{ClientState, Failure, MemoryStore, StoredEntry, StoredValue};
#[cfg(feature = "redis")]
use super::{RedisStore, CHANNEL};
use crate::store::Backend;
use crate::Cache;

/// One acquisition's owner token: random, so that nobody else can release or extend it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Owner(u128);

impl Owner {
    pub(crate) fn new() -> Self {
        Owner(u128::from(fastrand::u64(..)) << 64 | u128::from(fastrand::u64(..)) | 1)
    }

    #[cfg(feature = "redis")]
    fn text(self) -> String {
        format!("{:032x}", self.0)
    }
}

/// A lease's state on the memory store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LeaseState {
    /// The holder, while its lease runs.
    owner: Option<Owner>,
    /// When the holder's lease ends (µs since the epoch).
    lease_until: u64,
    /// The last fencing token given out.
    fence: u64,
}

/// On the memory store a lease lives in the state map, pinned while held: a held lease is
/// never evicted.
impl ClientState for LeaseState {
    fn weight(&self) -> usize {
        std::mem::size_of::<LeaseState>()
    }

    fn pinned(&self) -> bool {
        self.owner.is_some()
    }

    fn boxed_clone(&self) -> Box<dyn ClientState> {
        Box::new(*self)
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// Whether an acquisition also gives out a fencing token (`lock/`) or not (`lock_on_miss`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fence {
    /// Count a token in `<key>:fence`.
    Counted,
    /// No token (acquiring is one `SET … NX PX`).
    #[cfg(feature = "redis")]
    None,
}

/// A lease asked for or held: its key, its owner token and how long it lasts.
#[derive(Debug)]
pub(crate) struct Lease {
    cache: Cache,
    key: String,
    /// What the release publishes: the lease's key, or the entry a `lock_on_miss` lease guards.
    #[cfg(feature = "redis")]
    announce: Option<String>,
    owner: Owner,
    lasts: Duration,
    /// Set from the acquire until the store answers a release (see the module's notes).
    armed: AtomicBool,
}

impl Lease {
    /// A lease of `key` for `lasts`, with a fresh random owner token; not yet asked for.
    pub(crate) fn new(cache: &Cache, key: String, lasts: Duration) -> Self {
        Lease {
            cache: cache.clone(),
            key,
            #[cfg(feature = "redis")]
            announce: None,
            owner: Owner::new(),
            lasts,
            armed: AtomicBool::new(false),
        }
    }

    /// The lease of the entry under `key` (its stored text) that `lock_on_miss` takes: its key
    /// is the entry's followed by a NUL byte and `lock` (it sorts next to the entry, falls
    /// under the same prefix, and no rendered key ends that way), and its release announces
    /// the entry's fill to the processes waiting for it.
    #[cfg(feature = "redis")]
    pub(crate) fn for_entry(cache: &Cache, key: &str, lasts: Duration) -> Self {
        let lease_key = format!("{key}{}", crate::key::namespace::LEASE_SUFFIX);
        let mut lease = Lease::new(cache, lease_key, lasts);
        lease.announce = Some(key.to_owned());
        lease
    }

    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    pub(crate) fn cache(&self) -> &Cache {
        &self.cache
    }

    pub(crate) fn lasts(&self) -> Duration {
        self.lasts
    }

    /// Tries to take the lease: `Some(fence)` when taken (the fencing token under
    /// [`Fence::Counted`], else 0), `None` while another owner holds it. Until the store
    /// answers "held by another" the lease counts as taken (armed).
    pub(crate) async fn acquire(&self, fence: Fence) -> Result<Option<u64>, Failure> {
        #[cfg(not(feature = "redis"))]
        let _ = fence;
        self.armed.store(true, Ordering::SeqCst);
        let taken = match self.cache.backend() {
            // The memory store counts a token always: it costs nothing there.
            Backend::Memory(store) => Ok(acquire_memory(self, store)),
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => self.acquire_redis(redis, fence).await,
        };
        if matches!(taken, Ok(None)) {
            self.armed.store(false, Ordering::SeqCst);
        }
        taken
    }

    /// Releases the lease if it is still ours and announces it: whether it was ours. Once the
    /// store has answered the lease is disarmed; if it did not, dropping the lease releases it
    /// in the background.
    pub(crate) async fn release(&self) -> Result<bool, Failure> {
        let released = match self.cache.backend() {
            Backend::Memory(store) => Ok(release_memory(self, store)),
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => {
                let release = release_invocation(&self.key, self.owner, self.announce.as_deref());
                redis.invoke::<i64>(release).await.map(is_one)
            }
        };
        if released.is_ok() {
            self.armed.store(false, Ordering::SeqCst);
        }
        released
    }

    /// Extends the lease to `lasts` from now, if it is still ours: whether it was.
    pub(crate) async fn extend(&self, lasts: Duration) -> Result<bool, Failure> {
        match self.cache.backend() {
            Backend::Memory(store) => Ok(extend_memory(self, store, lasts)),
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => {
                let mut invocation = EXTEND.prepare_invoke();
                invocation
                    .key(&self.key)
                    .arg(self.owner.text())
                    .arg(millis(lasts));
                redis.invoke::<i64>(invocation).await.map(is_one)
            }
        }
    }

    /// Releases the lease without waiting: at once on the memory store; on Redis on the driver
    /// thread, tried again while it fails for up to one lease.
    pub(crate) fn release_in_background(&self) {
        if !self.armed.swap(false, Ordering::SeqCst) {
            return;
        }
        match self.cache.backend() {
            Backend::Memory(store) => drop(release_memory(self, store)),
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => {
                let (key, owner) = (self.key.clone(), self.owner);
                let announce = self.announce.clone();
                let release = move || release_invocation(&key, owner, announce.as_deref());
                redis.invoke_in_background(release, self.lasts, "lease");
            }
        }
    }

    #[cfg(feature = "redis")]
    async fn acquire_redis(
        &self,
        redis: &RedisStore,
        fence: Fence,
    ) -> Result<Option<u64>, Failure> {
        match fence {
            Fence::Counted => {
                let mut invocation = ACQUIRE.prepare_invoke();
                invocation
                    .key(&self.key)
                    .key(format!("{}:fence", self.key))
                    .arg(self.owner.text())
                    .arg(millis(self.lasts));
                let reply = redis.invoke::<i64>(invocation).await?;
                Ok(u64::try_from(reply).ok().filter(|&fence| fence > 0))
            }
            Fence::None => {
                let mut cmd = redis::cmd("SET");
                cmd.arg(&self.key)
                    .arg(self.owner.text())
                    .arg("NX")
                    .arg("PX")
                    .arg(millis(self.lasts));
                let reply = redis.query::<Option<String>>(cmd).await?;
                Ok(reply.map(|_| 0))
            }
        }
    }
}

/// The release of `key` for `owner`, announcing `announce` (default: `key`).
#[cfg(feature = "redis")]
fn release_invocation(
    key: &str,
    owner: Owner,
    announce: Option<&str>,
) -> redis::ScriptInvocation<'static> {
    let mut invocation = RELEASE.prepare_invoke();
    invocation.key(key).arg(owner.text()).arg(CHANNEL);
    if let Some(announce) = announce {
        invocation.arg(announce);
    }
    invocation
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.release_in_background();
    }
}

#[cfg(feature = "redis")]
static ACQUIRE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local fence = tonumber(redis.call('GET', KEYS[2]) or '0') + 1
if fence < now then fence = now end
redis.call('SET', KEYS[2], fence, 'PX', tonumber(ARGV[2]) + (fence - now - math.fmod(fence - now, 1000)) / 1000 + 1)
return fence
",
    )
});

/// KEYS[1] = lease; ARGV = owner token, channel, and what to announce (default KEYS[1]). 1 if
/// released, 0 if not the owner's; the announcement goes out either way (a spurious wake-up
/// costs a waiter one try).
pub(crate) const RELEASE_SOURCE: &str = r"
local released = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  released = 1
end
redis.pcall('PUBLISH', ARGV[2], ARGV[3] or KEYS[1])
return released
";

/// KEYS[1] = lease; ARGV = owner token, lease (ms). 1 if extended, 0 if not the owner's.
pub(crate) const EXTEND_SOURCE: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

#[cfg(feature = "redis")]
static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(RELEASE_SOURCE));

#[cfg(feature = "redis")]
static EXTEND: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(EXTEND_SOURCE));

#[cfg(feature = "redis")]
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

#[cfg(feature = "redis")]
fn is_one(reply: i64) -> bool {
    reply == 1
}

/// Acquires `key` on the memory store: the fencing token, or `None` while another owner holds
/// it.
fn acquire_memory(lease: &Lease, store: &MemoryStore) -> Option<u64> {
    let (owner, now) = (lease.owner, lease.cache.now_micros());
    let lease_micros = u64::try_from(lease.lasts.as_micros()).unwrap_or(u64::MAX);
    store.modify_state(lease.key.as_bytes(), now / 1_000, |entry| {
        let previous = entry.and_then(|entry| entry.value.state_mut::<LeaseState>().copied());
        if previous.is_some_and(|state| state.owner.is_some() && state.lease_until > now) {
            return (None, None);
        }
        let fence = previous
            .map_or(0, |state| state.fence)
            .saturating_add(1)
            .max(now);
        let state = LeaseState {
            owner: Some(owner),
            lease_until: now.saturating_add(lease_micros),
            fence,
        };
        (Some(memory_entry(state, now, lease_micros)), Some(fence))
    })
}

/// Releases the lease on the memory store if it is still ours, waking the cache's lock
/// waiters; whether it was ours.
fn release_memory(lease: &Lease, store: &MemoryStore) -> bool {
    let released = update_memory(lease, store, |state, _| state.owner = None);
    if released {
        lease.cache.lock_released().notify(usize::MAX);
    }
    released
}

/// Extends the lease on the memory store to `lasts` from now; whether it was ours.
fn extend_memory(lease: &Lease, store: &MemoryStore, lasts: Duration) -> bool {
    let lease_micros = u64::try_from(lasts.as_micros()).unwrap_or(u64::MAX);
    update_memory(lease, store, |state, now| {
        state.lease_until = now.saturating_add(lease_micros)
    })
}

/// Changes the lease's state if it is still ours, keeping its fencing token.
fn update_memory(
    lease: &Lease,
    store: &MemoryStore,
    change: impl Fn(&mut LeaseState, u64),
) -> bool {
    let (owner, now) = (lease.owner, lease.cache.now_micros());
    store.modify_state(lease.key.as_bytes(), now / 1_000, |entry| {
        match entry.and_then(|entry| entry.value.state_mut::<LeaseState>()) {
            Some(state) if state.owner == Some(owner) && state.lease_until > now => {
                let mut changed = *state;
                change(&mut changed, now);
                let lease_left = changed.lease_until.saturating_sub(now);
                (Some(memory_entry(changed, now, lease_left)), true)
            }
            _ => (None, false),
        }
    })
}

/// The entry lives while the lease runs and until the clock has passed its fencing token, so
/// that a token given out later is larger even if it is the clock's.
fn memory_entry(state: LeaseState, now: u64, lease_micros: u64) -> StoredEntry {
    let until = now
        .saturating_add(lease_micros)
        .max(state.fence.saturating_add(1));
    StoredEntry::new(
        until.div_ceil(1_000) + 1,
        StoredValue::State(Box::new(state)),
    )
}
