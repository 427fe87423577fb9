//! What `#[rate_limit]` expands to: a static site per function, and one check before the body.
//!
//! ```text
//! #[rate_limit(limit = 5, window = 1, key = "{user}")]      fn create(user: u64) -> Result<Id, E> {
//! fn create(user: u64) -> Result<Id, E> { BODY }      ==>        let site = { static SITE: LimitSite; SITE.named(..) };
//!                                                                const POLICY: RateLimitPolicy = ..;
//!                                                                let key = { limit_key(cache, site) user; close_tag };
//!                                                                if let Err(limited) = admit_blocking(site, cache, &POLICY, &key) {
//!                                                                    return <Result<Id, E> as Rejects<RateLimited>>::rejected(limited);
//!                                                                }
//!                                                                BODY
//!                                                            }
//! ```

use std::time::Duration;

use crate::key::{namespace, Key};
use crate::limit::{self, LimitCounters, RateLimitPolicy, RateLimited};
use crate::site::Site;
use crate::Cache;

/// One rate-limited function: its name and counters. A `static` in the expansion.
pub type LimitSite = Site<LimitCounters>;

/// The start of a rate-limited function's key: `{prefix}:rate:{site}:{`; the rendered key
/// follows and [`close_tag`](super::close_tag) ends it.
pub fn limit_key(cache: &Cache, site: &LimitSite) -> Key {
    let mut key = Key::template(cache);
    key.text(namespace::RATE);
    key.text(site.name());
    key.text(":{");
    key
}

/// Checks the call; `Err` turns it away.
pub async fn admit_async(
    site: &'static LimitSite,
    cache: &Cache,
    policy: &RateLimitPolicy,
    key: &Key,
) -> Result<(), RateLimited> {
    let counters = site.counters();
    match key.checked() {
        Ok(key) => limit::check(cache, policy, key.as_bytes(), counters).await,
        Err(error) => unusable_key(policy, counters, error),
    }
    .map(drop)
}

/// Checks the call, waiting up to `max_wait` while limited (`on_limit = wait`).
pub async fn admit_or_wait(
    site: &'static LimitSite,
    cache: &Cache,
    policy: &RateLimitPolicy,
    key: &Key,
    max_wait: Duration,
) -> Result<(), RateLimited> {
    let counters = site.counters();
    match key.checked() {
        Ok(key) => limit::wait(cache, policy, key.as_bytes(), counters, max_wait).await,
        Err(error) => unusable_key(policy, counters, error),
    }
    .map(drop)
}

/// [`admit_async`] for a plain `fn`, blocking this thread.
pub fn admit_blocking(
    site: &'static LimitSite,
    cache: &Cache,
    policy: &RateLimitPolicy,
    key: &Key,
) -> Result<(), RateLimited> {
    crate::driver::block_on(admit_async(site, cache, policy, key))
}

/// A key argument that did not serialize: the limit cannot be checked, as when the store fails.
fn unusable_key(
    policy: &RateLimitPolicy,
    counters: &LimitCounters,
    error: &crate::KeyError,
) -> Result<crate::Admitted, RateLimited> {
    let decision = limit::unchecked(policy, counters, error);
    limit::count(counters, &decision, false);
    decision
}

/// A return type that can carry a rejection `Why` (a [`RateLimited`], a
/// [`LockError`](crate::LockError)): `Result<T, E>` with `E: From<Why>`.
pub trait Rejects<Why> {
    /// The rejection as the function's return value.
    fn rejected(why: Why) -> Self;
}

impl<T, E: From<Why>, Why> Rejects<Why> for Result<T, E> {
    #[inline]
    fn rejected(why: Why) -> Self {
        Err(E::from(why))
    }
}

/// The Lua source a check of `algorithm` runs on Redis: ARGV = limit, window (µs), burst; for
/// benchmarks that compare the limiter with the bare script.
#[cfg(feature = "redis")]
pub fn limit_script(algorithm: crate::Algorithm) -> String {
    limit::script_text(algorithm)
}
