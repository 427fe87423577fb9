//! The three operations of a lock on each store: try to acquire (with a fencing token), release
//! and extend, each only for the owner.
//!
//! On Redis each is one script:
//!
//! ```text
//! acquire:  SET <lock> <owner> NX PX <lease>; on success, in the same script:
//!           fence = max(GET <lock>:fence + 1, TIME in µs); SET <lock>:fence fence PX …
//! release:  if GET <lock> == owner then DEL <lock>; PUBLISH cache-runtime:filled <lock> end
//! extend:   if GET <lock> == owner then PEXPIRE <lock> <lease> end
//! ```
//!
//! The fencing token is the larger of the last token plus one and the server's clock in µs, and
//! its key lives until the clock has passed it (and a lease more): tokens strictly increase
//! with every acquisition, and no key is kept forever. The lock and its fence share a hash tag
//! (`{…}`), so on a cluster both are on one node. On the memory store the same three steps run
//! under the entry's lock, on the cache's clock.

use std::sync::LazyLock;
use std::time::Duration;

use crate::store::{
    Backend, ClientState, Failure, MemoryStore, RedisStore, StoredEntry, StoredValue, CHANNEL,
};
use crate::Cache;

/// On the memory store a lock lives in the state map, pinned while held: a held lock is never
/// evicted.
impl ClientState for LockState {
    fn weight(&self) -> usize {
        std::mem::size_of::<LockState>()
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

/// One acquisition's owner token: random, so that nobody else can release or extend it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Owner(u128);

impl Owner {
    pub(crate) fn new() -> Self {
        Owner(u128::from(fastrand::u64(..)) << 64 | u128::from(fastrand::u64(..)) | 1)
    }

    fn text(self) -> String {
        format!("{:032x}", self.0)
    }
}

/// A lock's state on the memory store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LockState {
    /// The holder, while its lease runs.
    owner: Option<Owner>,
    /// When the holder's lease ends (µs since the epoch).
    lease_until: u64,
    /// The last fencing token given out.
    fence: u64,
}

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

/// KEYS[1] = lock; ARGV = owner token, channel. 1 if released, 0 if not the owner's. The
/// publication is a `pcall`: a release by an ACL user without the channel still says released.
pub(crate) const RELEASE_SOURCE: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.pcall('PUBLISH', ARGV[2], KEYS[1])
return 1
";

/// KEYS[1] = lock; ARGV = owner token, lease (ms). 1 if extended, 0 if not the owner's.
pub(crate) const EXTEND_SOURCE: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(RELEASE_SOURCE));

static EXTEND: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(EXTEND_SOURCE));

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// One operation on a cache's store. On the memory store it is done when the `Op` is made; on
/// Redis it is a script to run, awaited or blocking, and the reading of its integer reply.
pub(crate) enum Op<T> {
    Done(T),
    Redis(RedisStore, redis::ScriptInvocation<'static>, fn(i64) -> T),
}

impl<T> Op<T> {
    /// The outcome, awaiting Redis from any executor.
    pub(crate) async fn run(self) -> Result<T, Failure> {
        match self {
            Op::Done(value) => Ok(value),
            Op::Redis(redis, script, read) => redis.invoke::<i64>(script).await.map(read),
        }
    }

    /// The outcome, blocking this thread on Redis.
    pub(crate) fn run_blocking(self) -> Result<T, Failure> {
        match self {
            Op::Done(value) => Ok(value),
            Op::Redis(redis, script, read) => redis.invoke_blocking::<i64>(script).map(read),
        }
    }
}

/// Tries to acquire `key` for `owner`: the fencing token, or `None` while another owner holds it.
pub(crate) fn acquire(cache: &Cache, key: &str, owner: Owner, lease: Duration) -> Op<Option<u64>> {
    match cache.backend() {
        Backend::Memory(store) => Op::Done(acquire_memory(cache, store, key, owner, lease)),
        Backend::Redis(redis) => {
            Op::Redis(redis.clone(), acquire_script(key, owner, lease), acquired)
        }
    }
}

/// Releases `key` if `owner` holds it: whether it did.
pub(crate) fn release(cache: &Cache, key: &str, owner: Owner) -> Op<bool> {
    match cache.backend() {
        Backend::Memory(store) => Op::Done(release_memory(cache, store, key, owner)),
        Backend::Redis(redis) => Op::Redis(redis.clone(), release_script(key, owner), is_one),
    }
}

/// Releases `key` if `owner` holds it, without blocking: at once on the memory store; on Redis
/// on the driver thread, tried again while it fails for up to `lease` (after which the lease
/// has run out by itself).
pub(crate) fn release_in_background(cache: &Cache, key: &str, owner: Owner, lease: Duration) {
    match cache.backend() {
        Backend::Memory(store) => drop(release_memory(cache, store, key, owner)),
        Backend::Redis(redis) => {
            let key = key.to_owned();
            redis.invoke_in_background(move || release_script(&key, owner), lease, "lock");
        }
    }
}

/// Extends `owner`'s lease of `key` to `lease` from now: whether it did.
pub(crate) fn extend(cache: &Cache, key: &str, owner: Owner, lease: Duration) -> Op<bool> {
    match cache.backend() {
        Backend::Memory(store) => Op::Done(extend_memory(cache, store, key, owner, lease)),
        Backend::Redis(redis) => Op::Redis(redis.clone(), extend_script(key, owner, lease), is_one),
    }
}

fn is_one(reply: i64) -> bool {
    reply == 1
}

/// The script invocations, for one lock key.
fn acquire_script(key: &str, owner: Owner, lease: Duration) -> redis::ScriptInvocation<'static> {
    let mut invocation = ACQUIRE.prepare_invoke();
    invocation
        .key(key)
        .key(format!("{key}:fence"))
        .arg(owner.text())
        .arg(millis(lease));
    invocation
}

fn release_script(key: &str, owner: Owner) -> redis::ScriptInvocation<'static> {
    let mut invocation = RELEASE.prepare_invoke();
    invocation.key(key).arg(owner.text()).arg(CHANNEL);
    invocation
}

fn extend_script(key: &str, owner: Owner, lease: Duration) -> redis::ScriptInvocation<'static> {
    let mut invocation = EXTEND.prepare_invoke();
    invocation.key(key).arg(owner.text()).arg(millis(lease));
    invocation
}

/// The reply of the acquire script: the fencing token, or `None` when someone holds the lock.
fn acquired(reply: i64) -> Option<u64> {
    u64::try_from(reply).ok().filter(|&fence| fence > 0)
}

/// Acquires `key` on the memory store: the fencing token, or `None` while another owner holds
/// it.
fn acquire_memory(
    cache: &Cache,
    store: &MemoryStore,
    key: &str,
    owner: Owner,
    lease: Duration,
) -> Option<u64> {
    let now = cache.now_micros();
    let lease_micros = u64::try_from(lease.as_micros()).unwrap_or(u64::MAX);
    store.modify_state(key.as_bytes(), now / 1_000, |entry| {
        let previous = entry.and_then(|entry| entry.value.state_mut::<LockState>().copied());
        if previous.is_some_and(|state| state.owner.is_some() && state.lease_until > now) {
            return (None, None);
        }
        let fence = previous
            .map_or(0, |state| state.fence)
            .saturating_add(1)
            .max(now);
        let state = LockState {
            owner: Some(owner),
            lease_until: now.saturating_add(lease_micros),
            fence,
        };
        (Some(memory_entry(state, now, lease_micros)), Some(fence))
    })
}

/// Releases `key` on the memory store if `owner` holds it, waking the cache's lock waiters;
/// whether it did.
fn release_memory(cache: &Cache, store: &MemoryStore, key: &str, owner: Owner) -> bool {
    let released = update_memory(cache, store, key, owner, |state, _| state.owner = None);
    if released {
        cache.lock_released().notify(usize::MAX);
    }
    released
}

/// Extends `owner`'s lease of `key` on the memory store to `lease` from now; whether it did.
fn extend_memory(
    cache: &Cache,
    store: &MemoryStore,
    key: &str,
    owner: Owner,
    lease: Duration,
) -> bool {
    let lease_micros = u64::try_from(lease.as_micros()).unwrap_or(u64::MAX);
    update_memory(cache, store, key, owner, |state, now| {
        state.lease_until = now.saturating_add(lease_micros)
    })
}

/// Changes the state of `key` if `owner` holds it, keeping its fencing token.
fn update_memory(
    cache: &Cache,
    store: &MemoryStore,
    key: &str,
    owner: Owner,
    change: impl Fn(&mut LockState, u64),
) -> bool {
    let now = cache.now_micros();
    store.modify_state(key.as_bytes(), now / 1_000, |entry| {
        match entry.and_then(|entry| entry.value.state_mut::<LockState>()) {
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
fn memory_entry(state: LockState, now: u64, lease_micros: u64) -> StoredEntry {
    let until = now
        .saturating_add(lease_micros)
        .max(state.fence.saturating_add(1));
    StoredEntry::new(
        until.div_ceil(1_000) + 1,
        StoredValue::State(Box::new(state)),
    )
}
