//! Cache policies as attributes, checked at compile time.
//!
//! `#[cached(ttl = 600)]` on a function turns it into cache-aside code over a [`Cache`]: build a
//! key from the arguments, read, and on a miss run the body once per key (concurrent callers
//! wait for that one run) and store the result.
//!
//! ```
//! use cache_runtime::cached;
//!
//! #[cached(ttl = 600)]
//! async fn get_user(id: u64) -> Result<String, String> {
//!     Ok(format!("user {id}")) // the database query
//! }
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() {
//!     assert_eq!(get_user(7).await, Ok("user 7".to_string())); // computed
//!     assert_eq!(get_user(7).await, Ok("user 7".to_string())); // from the cache
//!     assert_eq!(get_user::stats().hits, 1);
//! }
//! ```
//!
//! A cached free function must be an item of a module (not declared inside a function body):
//! its companions live in a module of the same name, which sees the module's items.
//!
//! Without configuration the process-wide [`Cache::global`] is the embedded memory store
//! (`CACHE_URL=memory://`). See the README for every option of `#[cached]`.
#![warn(missing_docs)]

mod cache;
mod cache_url;
mod cached;
mod clock;
pub mod codec;
mod compression;
mod count;
mod driver;
pub mod entry;
mod error;
mod key;
mod limit;
pub mod lock;
#[cfg(feature = "redis")]
mod near;
mod ops;
mod policy;
mod random;
mod site;
mod stats;
pub mod store;

#[doc(hidden)]
pub mod __private;

pub use cache::{set_default, AsCache, Cache, CacheBuilder, DEFAULT_PREFIX};
pub use clock::ManualClock;
pub use codec::{Codec, CodecError};
pub use compression::{Compression, DEFAULT_COMPRESSION};
pub use error::{CacheError, CacheErrorKind, ConfigError};
pub use key::{Key, KeyError};
pub use limit::{
    limit_stats, Admitted, Algorithm, FailMode, LimitStats, RateLimitPolicy, RateLimited,
    RateLimiter,
};
pub use lock::{lock_stats, LockError, LockGuard, LockPolicy, LockStats, Locks, DEFAULT_LEASE};
#[cfg(feature = "redis")]
pub use near::DEFAULT_NEAR_CACHE_MAX_LAG;
pub use ops::{KeyStream, KeyTtl};
pub use policy::{CachePolicy, DEFAULT_BETA, DEFAULT_LOCK_WAIT};
pub use stats::{stats, stats_of, FnStats};
pub use store::{MemoryBound, MemoryStore};
#[cfg(feature = "redis")]
pub use store::{RedisConfig, RedisStats, MIN_REDIS_VERSION};

/// Caches a function's results: build a key from the arguments, read, and on a miss run the
/// body once per key (concurrent callers, across processes too with `lock_on_miss`, wait for
/// that one run) and store the result.
///
/// ```
/// use cache_runtime::{cached, CachePolicy};
/// use std::time::Duration;
///
/// #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
/// struct User {
///     id: u64,
///     name: String,
/// }
///
/// // A readable key; early refresh (XFetch) and the stale value if the body fails.
/// #[cached(ttl = "10m", key = "user:{id}", early_expiry, stale_if_error = "1h")]
/// async fn get_user(id: u64) -> Result<User, String> {
///     Ok(User { id, name: format!("user {id}") }) // the database query
/// }
///
/// // A plain `fn` works too, inside or outside a runtime.
/// #[cached(ttl = 60)]
/// fn square(n: u64) -> u64 {
///     n * n
/// }
///
/// // A policy declared once, checked at compile time.
/// const REPORTS: CachePolicy = CachePolicy::new(Duration::from_secs(3600)).cache_err();
///
/// #[cached(policy = REPORTS)]
/// async fn report(day: u32) -> Result<String, String> {
///     Err(format!("no data for {day}")) // an `Err` is stored too (`cache_err`)
/// }
///
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() {
///     assert_eq!(get_user(7).await.unwrap().name, "user 7");
///     assert_eq!(get_user::stats().misses, 1);
///     assert!(get_user::peek(&7).await.is_some()); // companions: key, peek, invalidate, refresh, stats
///     assert!(get_user::invalidate(&7).await);
///     assert_eq!((square(4), square(4)), (16, 16));
///     assert_eq!(square::stats().hits, 1);
///     assert!(report(1).await.is_err());
///     assert!(report(1).await.is_err());
///     assert_eq!(report::stats().computes, 1);
/// }
/// ```
///
/// Options: `ttl` (seconds or `"10m"`; required unless `policy`), `key = "…"` (a template over
/// the parameters; default a digest of them), `skip(param, self)`, `cache_none`, `cache_err`,
/// `negative_ttl`, `version`, `store = EXPR`, `early_expiry [= beta]`,
/// `stale_while_revalidate`, `stale_if_error`, `lock_on_miss [= "3s"]`, `on_store_error =
/// fail`, `ttl_from = fn_path` (each entry lives as long as its value says, within `ttl`),
/// `tags = ["user:{id}", …]` (voided together by [`Cache::invalidate_tag`]), `batch = ids`
/// (with `key = "user:{id}"`: only the ids that miss reach the body), `policy = CONST`,
/// `crate = "…"`. Works on free functions (also inside a body), methods, and methods of trait
/// impls (`#[async_trait]` too; these have no companions). Every mistake is a compile error on
/// the offending token. See the README.
#[cfg(feature = "macros")]
pub use cache_macros::cached;

/// Limits how often a function runs: `limit` calls per `window`, per `key`.
///
/// ```
/// use cache_runtime::{rate_limit, RateLimited};
///
/// #[derive(Debug)]
/// enum ApiError {
///     TooMany(RateLimited),
/// }
///
/// impl From<RateLimited> for ApiError {
///     fn from(limited: RateLimited) -> Self {
///         ApiError::TooMany(limited)
///     }
/// }
///
/// #[rate_limit(limit = 2, window = 60, key = "{user_id}")]
/// async fn create_item(user_id: u64, name: String) -> Result<String, ApiError> {
///     Ok(format!("{name} for {user_id}"))
/// }
///
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() {
///     assert!(create_item(1, "a".into()).await.is_ok());
///     assert!(create_item(1, "b".into()).await.is_ok());
///     let Err(ApiError::TooMany(limited)) = create_item(1, "c".into()).await else { panic!() };
///     assert_eq!(limited.headers()[2].0, "Retry-After");
///     assert!(create_item(2, "d".into()).await.is_ok()); // another user, another limit
/// }
/// ```
///
/// Options: `limit`, `window` (seconds or `"1m"`), `burst` (GCRA only; default `limit`),
/// `key = "…"` (a template over the parameters; default one limit for the whole function),
/// `algorithm = gcra | fixed_window | sliding_window`, `on_limit = reject | wait` (with
/// `max_wait = "2s"`, `async fn` only), `fail = open | closed`, `store = EXPR`, `crate = "…"`.
/// See the README.
#[cfg(feature = "macros")]
pub use cache_macros::rate_limit;

/// Runs a function under a distributed lease lock: one caller at a time per `key`, across
/// processes on Redis (within the process on the memory store).
///
/// ```
/// use cache_runtime::{lock, with_lock, LockError};
///
/// #[derive(Debug)]
/// enum AppError {
///     Busy(LockError),
/// }
///
/// impl From<LockError> for AppError {
///     fn from(error: LockError) -> Self {
///         AppError::Busy(error)
///     }
/// }
///
/// #[with_lock(key = "order:{order_id}", ttl = 30, wait = "5s")]
/// async fn settle(order_id: u64) -> Result<u64, AppError> {
///     let token = lock::fencing_token().expect("held"); // hand it to the resource you write
///     Ok(token)
/// }
///
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() {
///     let first = settle(7).await.unwrap();
///     assert!(settle(7).await.unwrap() > first);
/// }
/// ```
///
/// Options: `key = "…"` (a template; the lock of that resource, shared by every function that
/// renders the same key; default: one lock for the whole function), `ttl` (the lease; default
/// 30 s), `wait` (the longest wait; default one lease; `wait = 0` tries once), `renew = false`
/// (renewal at a third of the lease is on by default), `on_lost = cancel | continue` (`async fn`:
/// what the body does if renewal finds the lease lost; default `cancel`, which drops the body and
/// returns `LockError::Lost`), `store = EXPR`, `crate = "…"`. See the README.
#[cfg(feature = "macros")]
pub use cache_macros::with_lock;
