//! Checking a call: against the memory store (in place, under the entry's lock) or Redis (one
//! script), turned into [`Admitted`] or [`RateLimited`] and counted.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::decision::{Admitted, RateLimited};
use super::policy::{FailMode, RateLimitPolicy};
#[cfg(feature = "redis")]
use super::scripts;
use super::state::{self, LimitState, Outcome};
use super::stats::{LimitCounters, LimitStats};
use crate::error::ConfigError;
use crate::key::canonical::Sink;
use crate::key::namespace;
use crate::key::text::Truncate;
use crate::store::{Backend, Failure, StoredEntry, StoredValue};
use crate::Cache;

/// A rate limit you call yourself: `check(key)` gives the same decision as `#[rate_limit]`.
///
/// Keys are `{prefix}:rate:name:{key}`, on the cache's store (memory or Redis), `key` escaped as
/// a key template escapes a string: a limiter named `app::create` shares its state with
/// `#[rate_limit(key = "{user}")]` on `app::create` for the same user.
///
/// ```
/// use cache_runtime::{Cache, RateLimitPolicy, RateLimiter};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cache = Cache::builder().build()?;
/// let logins = RateLimiter::new(&cache, "login", RateLimitPolicy::new(5, Duration::from_secs(60)))?;
/// for _ in 0..5 {
///     logins.check("alice").await?;
/// }
/// let limited = logins.check("alice").await.unwrap_err();
/// assert!(limited.retry_after() > Duration::ZERO);
/// assert!(logins.check("bob").await.is_ok()); // one limit per key
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RateLimiter {
    cache: Cache,
    policy: RateLimitPolicy,
    name: Arc<str>,
    /// `{prefix}:rate:name:{`, the start of every key.
    head: Arc<[u8]>,
    counters: Arc<LimitCounters>,
}

/// A full key, on the stack when it is short: a check allocates nothing for it.
struct KeyBuf {
    inline: [u8; 96],
    len: usize,
    /// Used instead once the key outgrows `inline`.
    heap: Option<Vec<u8>>,
}

impl KeyBuf {
    /// `head`, then `key` escaped as a template escapes a string, then the closing `}`.
    fn new(head: &[u8], key: &str) -> Self {
        let mut buf = KeyBuf {
            inline: [0; 96],
            len: 0,
            heap: None,
        };
        buf.put(head);
        namespace::put_escaped(&mut buf, key);
        buf.put(b"}");
        buf
    }

    fn as_bytes(&self) -> &[u8] {
        match &self.heap {
            None => &self.inline[..self.len],
            Some(heap) => heap,
        }
    }
}

impl Sink for KeyBuf {
    fn put(&mut self, bytes: &[u8]) {
        if let Some(heap) = &mut self.heap {
            return heap.extend_from_slice(bytes);
        }
        match self.inline.get_mut(self.len..self.len + bytes.len()) {
            Some(free) => {
                free.copy_from_slice(bytes);
                self.len += bytes.len();
            }
            None => self.heap = Some([&self.inline[..self.len], bytes].concat()),
        }
    }
}

impl Truncate for KeyBuf {
    fn len(&self) -> usize {
        self.as_bytes().len()
    }

    fn truncate(&mut self, len: usize) {
        match &mut self.heap {
            Some(heap) => heap.truncate(len),
            None => self.len = self.len.min(len),
        }
    }
}

impl RateLimiter {
    /// A limiter named `name` (non-empty, printable ASCII without spaces) on `cache`'s store.
    pub fn new(cache: &Cache, name: &str, policy: RateLimitPolicy) -> Result<Self, ConfigError> {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::BadParameter {
                name: "rate limiter name".to_owned(),
                problem: format!("{name:?} must be non-empty printable ASCII without spaces"),
            });
        }
        let head = format!("{}:{}{name}:{{", cache.prefix(), namespace::RATE);
        Ok(RateLimiter {
            cache: cache.clone(),
            policy,
            name: name.into(),
            head: head.into_bytes().into(),
            counters: Arc::new(LimitCounters::named(name)),
        })
    }

    /// The policy.
    pub fn policy(&self) -> &RateLimitPolicy {
        &self.policy
    }

    /// The full stored key of `key`.
    pub fn key(&self, key: &str) -> String {
        String::from_utf8_lossy(KeyBuf::new(&self.head, key).as_bytes()).into_owned()
    }

    /// Checks one call under `key`; admitted or not, it is counted in [`stats`](Self::stats).
    pub async fn check(&self, key: &str) -> Result<Admitted, RateLimited> {
        let key = KeyBuf::new(&self.head, key);
        check(&self.cache, &self.policy, key.as_bytes(), &self.counters).await
    }

    /// [`check`](Self::check), blocking this thread on Redis (for plain `fn`s).
    pub fn check_blocking(&self, key: &str) -> Result<Admitted, RateLimited> {
        crate::driver::block_on(self.check(key))
    }

    /// Checks one call under `key`; when limited, waits for the retry time and checks again,
    /// for at most `max_wait` in all. Rejects at once when the retry time lies past `max_wait`.
    pub async fn check_or_wait(
        &self,
        key: &str,
        max_wait: Duration,
    ) -> Result<Admitted, RateLimited> {
        let key = KeyBuf::new(&self.head, key);
        let cache = &self.cache;
        wait(
            cache,
            &self.policy,
            key.as_bytes(),
            &self.counters,
            max_wait,
        )
        .await
    }

    /// What this limiter has decided so far.
    pub fn stats(&self) -> LimitStats {
        self.counters.snapshot(&self.name)
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("name", &self.name)
            .field("policy", &self.policy)
            .field("cache", &self.cache)
            .finish()
    }
}

/// Checks one call under the full key `key`.
pub(crate) async fn check(
    cache: &Cache,
    policy: &RateLimitPolicy,
    key: &[u8],
    counters: &LimitCounters,
) -> Result<Admitted, RateLimited> {
    let decision = decide(policy, ask(cache, policy, key).await, counters);
    count(counters, &decision, false);
    decision
}

/// Checks, and while limited waits out the retry time, within `max_wait` in all. Counted once,
/// by the final decision.
pub(crate) async fn wait(
    cache: &Cache,
    policy: &RateLimitPolicy,
    key: &[u8],
    counters: &LimitCounters,
    max_wait: Duration,
) -> Result<Admitted, RateLimited> {
    let deadline = crate::clock::deadline_after(max_wait);
    let mut waited = false;
    loop {
        let decision = decide(policy, ask(cache, policy, key).await, counters);
        match &decision {
            Err(limited) if !limited.is_unavailable() => {
                let pause = limited.retry_after();
                let in_time = Instant::now()
                    .checked_add(pause)
                    .is_some_and(|end| end <= deadline);
                if in_time && crate::driver::pause(pause).await {
                    waited = true;
                    continue;
                }
            }
            _ => {}
        }
        count(counters, &decision, waited);
        return decision;
    }
}

/// What the store says of one call, uncounted.
async fn ask(cache: &Cache, policy: &RateLimitPolicy, key: &[u8]) -> Result<Outcome, Failure> {
    match cache.backend() {
        Backend::Memory(_) => Ok(check_memory(cache, policy, key)),
        #[cfg(feature = "redis")]
        Backend::Redis(redis) => {
            let reply = redis.invoke(scripts::check(policy, key)).await;
            reply.map(outcome_of)
        }
    }
}

/// Counts one call by its final decision (and whether it waited first).
pub(crate) fn count(
    counters: &LimitCounters,
    decision: &Result<Admitted, RateLimited>,
    waited: bool,
) {
    match decision {
        Ok(_) => counters.admitted.bump(),
        Err(_) => counters.limited.bump(),
    }
    if waited && decision.is_ok() {
        counters.waited.bump();
    }
}

fn check_memory(cache: &Cache, policy: &RateLimitPolicy, key: &[u8]) -> Outcome {
    let Some(store) = cache.memory_store() else {
        unreachable!("called for the memory backend only")
    };
    let now = cache.now_micros();
    let expiry = |outcome: &Outcome| outcome.expires_at.div_ceil(1_000);
    store.modify_state(key, now / 1_000, |entry| {
        if let Some(entry) = entry {
            let expires_at = &mut entry.expires_at;
            if let Some(stored) = entry.value.state_mut::<LimitState>() {
                // In place: a sliding window's log is moved out and back, never copied.
                let mut current = Some(std::mem::replace(
                    stored,
                    LimitState::Gcra { tat: 0, limit: 1 },
                ));
                let outcome = state::check(policy, &mut current, now);
                if let Some(current) = current {
                    *stored = current;
                }
                *expires_at = expiry(&outcome);
                return (None, outcome);
            }
        }
        let mut current = None;
        let outcome = state::check(policy, &mut current, now);
        let entry = current
            .map(|state| StoredEntry::new(expiry(&outcome), StoredValue::State(Box::new(state))));
        (entry, outcome)
    })
}

#[cfg(feature = "redis")]
fn outcome_of((admitted, remaining, retry_after, reset_after): (i64, i64, i64, i64)) -> Outcome {
    let micros = |value: i64| u64::try_from(value).unwrap_or(0);
    Outcome {
        admitted: admitted == 1,
        remaining: micros(remaining),
        retry_after: micros(retry_after),
        reset_after: micros(reset_after),
        expires_at: 0,
    }
}

/// The decision; a store failure (counted) decided by the policy's [`FailMode`].
fn decide(
    policy: &RateLimitPolicy,
    outcome: Result<Outcome, Failure>,
    counters: &LimitCounters,
) -> Result<Admitted, RateLimited> {
    match outcome {
        Ok(outcome) if outcome.admitted => Ok(Admitted::new(
            policy,
            outcome.remaining,
            Duration::from_micros(outcome.reset_after),
        )),
        Ok(outcome) => Err(RateLimited::new(
            policy,
            Duration::from_micros(outcome.retry_after),
            Duration::from_micros(outcome.reset_after),
        )),
        Err(failure) => unchecked(policy, counters, &failure),
    }
}

/// The decision when the store could not be asked (counted), by the policy's [`FailMode`].
pub(crate) fn unchecked(
    policy: &RateLimitPolicy,
    counters: &LimitCounters,
    why: &dyn fmt::Display,
) -> Result<Admitted, RateLimited> {
    counters.backend_errors.bump();
    tracing::warn!(%why, fail = ?policy.fail_mode(), "rate limit not checked");
    match policy.fail_mode() {
        FailMode::Open => Ok(Admitted::new(policy, policy.burst_size(), Duration::ZERO)),
        FailMode::Closed => Err(RateLimited::unavailable(policy, UNAVAILABLE_RETRY)),
    }
}

/// When a caller turned away by an unavailable store (fail closed) should come back.
const UNAVAILABLE_RETRY: Duration = Duration::from_secs(1);
