//! The plain API: a named set of locks on a cache's store.

use std::fmt;
use std::sync::Arc;

use super::error::LockError;
use super::guard::{self, LockGuard};
use super::policy::LockPolicy;
use super::stats::{LockCounters, LockStats};
use crate::error::ConfigError;
use crate::key::namespace;
use crate::Cache;

/// Locks you take yourself: `acquire(key)` gives a [`LockGuard`], as `#[with_lock]` does.
///
/// Keys are `{prefix}:lock:{name:key}` (the braces are a hash tag: the lock and its fencing
/// counter live on one cluster node).
///
/// ```
/// use cache_runtime::{Cache, LockPolicy, Locks};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cache = Cache::builder().build()?;
/// let orders = Locks::new(&cache, "orders", LockPolicy::new(Duration::from_secs(30)).wait(Duration::ZERO))?;
/// let guard = orders.acquire("42").await?;
/// assert!(orders.acquire("42").await.is_err()); // held: `wait = 0` tries once
/// let token = guard.token(); // pass it to the resource you write
/// guard.release().await?;
/// assert!(orders.acquire("42").await?.token() > token);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Locks {
    cache: Cache,
    name: Arc<str>,
    policy: LockPolicy,
    counters: Arc<LockCounters>,
}

impl Locks {
    /// Locks named `name` (non-empty printable ASCII, without spaces, `{` or `}`) on `cache`'s
    /// store.
    pub fn new(cache: &Cache, name: &str, policy: LockPolicy) -> Result<Self, ConfigError> {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'{' | b'}'));
        if !valid {
            return Err(ConfigError::BadParameter {
                name: "lock name".to_owned(),
                problem: format!(
                    "{name:?} must be non-empty printable ASCII without spaces, `{{` or `}}`"
                ),
            });
        }
        Ok(Locks {
            cache: cache.clone(),
            name: name.into(),
            policy,
            counters: Arc::new(LockCounters::named(name)),
        })
    }

    /// The full stored key of the lock on `key`: `key` is escaped as a key template escapes a
    /// string (every byte outside `[A-Za-z0-9_.-]` as `%XX`), so `Locks` named `order` and
    /// `#[with_lock(key = "order:{id}")]` take the same lock for the same id, the hash tag stays
    /// whole, and two keys never share a lock.
    pub fn key(&self, key: &str) -> String {
        let mut full = format!(
            "{}:{}{{{}:",
            self.cache.prefix(),
            namespace::LOCK,
            self.name
        )
        .into_bytes();
        namespace::put_escaped(&mut full, key);
        full.push(b'}');
        String::from_utf8_lossy(&full).into_owned()
    }

    /// Acquires the lock on `key`, waiting up to the policy's longest wait.
    pub async fn acquire(&self, key: &str) -> Result<LockGuard, LockError> {
        guard::acquire(&self.cache, self.key(key), &self.policy, &self.counters).await
    }

    /// [`acquire`](Self::acquire), blocking this thread (for plain `fn`s).
    pub fn acquire_blocking(&self, key: &str) -> Result<LockGuard, LockError> {
        crate::driver::block_on(self.acquire(key))
    }

    /// What these locks have done so far.
    pub fn stats(&self) -> LockStats {
        self.counters.snapshot(&self.name)
    }
}

impl fmt::Debug for Locks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Locks")
            .field("name", &self.name)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}
