//! The [`Cache`] handle: a store, a key prefix, a clock and the flights under way.

use std::fmt;
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

use crate::cache_url::{self, UrlStore};
use crate::cached::flight::Flights;
use crate::cached::invalidation::Invalidations;
use crate::clock::{Clock, ManualClock};
use crate::compression::Compression;
#[cfg(doc)]
use crate::compression::DEFAULT_COMPRESSION;
use crate::error::ConfigError;
#[cfg(feature = "redis")]
use crate::near::Near;
use crate::random::Random;
use crate::store::{Backend, MemoryStore};
#[cfg(feature = "redis")]
use crate::store::{RedisConfig, RedisStats, RedisStore};

/// The key prefix when none is given.
pub const DEFAULT_PREFIX: &str = "cache";

/// A handle on a store, shared by clones: the memory store or Redis, a key prefix, and the
/// plain operations (`get`, `set`, `incr` …). `#[cached]` functions use the process-wide
/// [`Cache::global`] unless given `store = …`.
///
/// ```
/// use cache_runtime::Cache;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cache = Cache::builder().prefix("svc").build()?; // or Cache::from_url("redis://…")?
/// cache.set("greeting", &"hello", Some(Duration::from_secs(60))).await?;
/// assert_eq!(cache.get::<String>("greeting").await?.as_deref(), Some("hello"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    prefix: Box<str>,
    backend: Backend,
    compression: Compression,
    /// The near cache in front of Redis, if one was asked for.
    #[cfg(feature = "redis")]
    near: Option<Arc<Near>>,
    clock: Clock,
    random: Random,
    flights: Arc<Flights>,
    invalidations: Arc<Invalidations>,
    /// Wakes the waiters of this cache's memory-store locks when one is released.
    lock_released: event_listener::Event,
}

/// Builds a [`Cache`]; [`Cache::builder`] starts one.
#[derive(Debug, Default)]
pub struct CacheBuilder {
    prefix: Option<String>,
    store: Option<StoreChoice>,
    compression: Compression,
    near_cache: Option<MemoryStore>,
    near_cache_max_lag: Option<Duration>,
    clock: Clock,
    seed: Option<u64>,
}

#[derive(Debug)]
enum StoreChoice {
    Memory(MemoryStore),
    #[cfg(feature = "redis")]
    Redis(RedisConfig),
}

impl CacheBuilder {
    /// The prefix of every key (default [`DEFAULT_PREFIX`]): non-empty, printable ASCII without
    /// spaces, `:`, `{`, `}` or `*`. Keys read `{prefix}:…`; a prefix holding the separator
    /// would let one cache reach another's keys (`app` and `app:v2`), so it is refused: write
    /// `app-v2`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// The memory store (the default: a [`MemoryStore`] of 100,000 entries).
    pub fn store(mut self, store: MemoryStore) -> Self {
        self.store = Some(StoreChoice::Memory(store));
        self
    }

    /// Redis, as `config` says. Caches built from equal configurations share one connection.
    /// Building does not connect: the connection is made on first use and remade whenever it
    /// drops. Check it at start-up with [`Cache::ping`]. Feature `redis`.
    #[cfg(feature = "redis")]
    pub fn redis(mut self, config: RedisConfig) -> Self {
        self.store = Some(StoreChoice::Redis(config));
        self
    }

    /// Which stored values are compressed (LZ4): by default ([`DEFAULT_COMPRESSION`]) those of
    /// 16 KiB and more, when that makes them smaller. Entries say whether they are compressed,
    /// so a change of this setting leaves every stored entry readable. The memory store keeps
    /// `#[cached]` values decoded, so this concerns what goes to Redis and the plain operations'
    /// bytes. The URL parameter is `compress_above=BYTES` or `compress_above=off`.
    ///
    /// ```
    /// use cache_runtime::{Cache, Compression};
    /// let cache = Cache::builder().compression(Compression::Above(4096)).build()?;
    /// assert_eq!(cache.compression(), Compression::Above(4096));
    /// # Ok::<(), cache_runtime::ConfigError>(())
    /// ```
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// An in-process L1 in front of Redis for `#[cached]` reads, bounded as `l1` is, kept
    /// coherent by Redis (`CLIENT TRACKING` on the prefix): a hit sends no command, a write from
    /// any process removes the key when its invalidation arrives, and the L1 answers only while
    /// it has heard the server within [`near_cache_max_lag`](Self::near_cache_max_lag). Needs
    /// Redis 6+: a single node, a Cluster or Sentinel (TLS too). Rate limits and locks
    /// never go through it. URL: `near_cache=ENTRIES`.
    ///
    /// ```
    /// use cache_runtime::{Cache, MemoryStore, RedisConfig};
    /// use std::time::Duration;
    /// let cache = Cache::builder()
    ///     .prefix("svc")
    ///     .redis(RedisConfig::from_url("redis://127.0.0.1:6379/0")?)
    ///     .near_cache(MemoryStore::with_max_entries(10_000))
    ///     .near_cache_max_lag(Duration::from_millis(500))
    ///     .build()?;
    /// # Ok::<(), cache_runtime::ConfigError>(())
    /// ```
    pub fn near_cache(mut self, l1: MemoryStore) -> Self {
        self.near_cache = Some(l1);
        self
    }

    /// The near cache's staleness bound (default `DEFAULT_NEAR_CACHE_MAX_LAG`, 500 ms): it
    /// answers only while the server has been heard within this long, so that a value it serves
    /// is never further behind Redis. Tracking is checked four times per bound. URL:
    /// `near_cache_max_lag=500ms`.
    pub fn near_cache_max_lag(mut self, max_lag: Duration) -> Self {
        self.near_cache_max_lag = Some(max_lag);
        self
    }

    /// Draws early expiry's random numbers from a generator seeded with `seed`, so that the draws
    /// of a test repeat exactly: the test hook for `early_expiry`.
    pub fn random_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Reads the time from `clock` instead of the system: the test hook for expiry.
    pub fn clock(mut self, clock: ManualClock) -> Self {
        self.clock = Clock::Manual(clock);
        self
    }

    /// The cache, or what is wrong with the configuration.
    pub fn build(self) -> Result<Cache, ConfigError> {
        let prefix = self.prefix.unwrap_or_else(|| DEFAULT_PREFIX.to_owned());
        check_prefix(&prefix)?;
        let backend = match self.store {
            None => Backend::Memory(MemoryStore::default()),
            Some(StoreChoice::Memory(store)) => Backend::Memory(store),
            #[cfg(feature = "redis")]
            Some(StoreChoice::Redis(config)) => Backend::Redis(RedisStore::open(&config)?),
        };
        #[cfg(feature = "redis")]
        let near = near_cache(&backend, self.near_cache, self.near_cache_max_lag)?;
        #[cfg(not(feature = "redis"))]
        if self.near_cache.is_some() || self.near_cache_max_lag.is_some() {
            return Err(ConfigError::FeatureNotEnabled {
                what: "a near cache (in front of Redis)".to_owned(),
                feature: "redis",
            });
        }
        let cache = Cache {
            inner: Arc::new(Inner {
                prefix: prefix.into(),
                backend,
                compression: self.compression,
                #[cfg(feature = "redis")]
                near,
                clock: self.clock,
                random: self.seed.map(Random::seeded).unwrap_or_default(),
                flights: Arc::new(Flights::new()),
                invalidations: Arc::new(Invalidations::new()),
                lock_released: event_listener::Event::new(),
            }),
        };
        #[cfg(feature = "redis")]
        if let (Some(near), Backend::Redis(redis)) = (cache.near(), cache.backend()) {
            crate::store::track(redis, cache.prefix(), near);
        }
        Ok(cache)
    }
}

/// The near cache the builder asked for, checked against the store; it starts tracking at once.
#[cfg(feature = "redis")]
fn near_cache(
    backend: &Backend,
    l1: Option<MemoryStore>,
    max_lag: Option<Duration>,
) -> Result<Option<Arc<Near>>, ConfigError> {
    let bad = |problem: &str| ConfigError::BadParameter {
        name: "near_cache".to_owned(),
        problem: problem.to_owned(),
    };
    let Some(l1) = l1 else {
        return match max_lag {
            Some(_) => Err(bad("`near_cache_max_lag` is given without a near cache")),
            None => Ok(None),
        };
    };
    let max_lag = max_lag.unwrap_or(crate::DEFAULT_NEAR_CACHE_MAX_LAG);
    if max_lag < Duration::from_millis(10) {
        return Err(ConfigError::BadParameter {
            name: "near_cache_max_lag".to_owned(),
            problem: format!(
                "{max_lag:?} is too close to the clock's resolution (4 ms); valid: 10ms or more, \
                 as `500ms`"
            ),
        });
    }
    match backend {
        Backend::Memory(_) => Err(bad(
            "is a layer in front of Redis, and this cache is on the embedded memory store",
        )),
        Backend::Redis(_) => Ok(Some(Arc::new(Near::new(l1, max_lag)))),
    }
}

fn check_prefix(prefix: &str) -> Result<(), ConfigError> {
    let problem = if prefix.is_empty() {
        "must not be empty"
    } else if !prefix
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b':' | b'{' | b'}' | b'*'))
    {
        "must be printable ASCII without spaces, `:` (the separator: `app` and `app:v2` would \
         reach each other's keys; write `app-v2`), `{`, `}` or `*`"
    } else {
        return Ok(());
    };
    Err(ConfigError::BadPrefix {
        prefix: prefix.to_owned(),
        problem,
    })
}

static GLOBAL: OnceLock<Cache> = OnceLock::new();

/// Installs `cache` as the process-wide default, before the first cached call. Gives it back if
/// a default is already in place.
///
/// ```
/// let cache = cache_runtime::Cache::builder().prefix("svc").build().unwrap();
/// cache_runtime::set_default(cache).expect("first and only default");
/// assert_eq!(cache_runtime::Cache::global().prefix(), "svc");
/// ```
pub fn set_default(cache: Cache) -> Result<(), Cache> {
    GLOBAL.set(cache)
}

impl Cache {
    /// Starts a [`CacheBuilder`].
    pub fn builder() -> CacheBuilder {
        CacheBuilder::default()
    }

    /// A cache over `url`: `memory://` (parameters `max_entries=N` or `max_bytes=N`),
    /// `redis://`, `rediss://`, `redis+cluster://` or `rediss+cluster://` (see
    /// [`RedisConfig::from_url`]); all take `prefix=P` and `compress_above=BYTES|off`
    /// ([`CacheBuilder::compression`]).
    ///
    /// ```
    /// let memory = cache_runtime::Cache::from_url("memory://?max_entries=1000&prefix=svc")?;
    /// let redis = cache_runtime::Cache::from_url("redis://127.0.0.1:6379/0?prefix=svc")?;
    /// # Ok::<(), cache_runtime::ConfigError>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Cache, ConfigError> {
        let url = cache_url::parse(url)?;
        let mut builder = Cache::builder();
        if let Some(prefix) = url.params.prefix {
            builder = builder.prefix(prefix);
        }
        if let Some(compression) = url.params.compression {
            builder = builder.compression(compression);
        }
        if let Some(entries) = url.params.near_cache {
            builder = builder.near_cache(MemoryStore::with_max_entries(entries));
        }
        if let Some(max_lag) = url.params.near_cache_max_lag {
            builder = builder.near_cache_max_lag(max_lag);
        }
        builder = match url.store {
            UrlStore::Memory(None) => builder,
            UrlStore::Memory(Some(bound)) => builder.store(MemoryStore::new(bound)),
            #[cfg(feature = "redis")]
            UrlStore::Redis(config) => builder.redis(config),
        };
        builder.build()
    }

    /// A cache over the URL in `CACHE_URL`, or the default memory store when it is unset.
    pub fn from_env() -> Result<Cache, ConfigError> {
        match std::env::var("CACHE_URL") {
            Ok(url) if !url.trim().is_empty() => Cache::from_url(url.trim()),
            _ => Cache::builder().build(),
        }
    }

    /// The process-wide default: the one given to [`set_default`], else [`Cache::from_env`] on
    /// first use. A `CACHE_URL` that does not parse is logged as an error and the memory store
    /// is used: a cache never stops the service (check it at start-up with `from_env`).
    pub fn global() -> &'static Cache {
        GLOBAL.get_or_init(|| {
            Cache::from_env().unwrap_or_else(|error| {
                tracing::error!(%error, "CACHE_URL is not usable; caching in memory instead");
                Cache::fallback()
            })
        })
    }

    fn fallback() -> Cache {
        static FALLBACK: LazyLock<Cache> = LazyLock::new(|| Cache {
            inner: Arc::new(Inner {
                prefix: DEFAULT_PREFIX.into(),
                backend: Backend::Memory(MemoryStore::default()),
                compression: Compression::default(),
                #[cfg(feature = "redis")]
                near: None,
                clock: Clock::System,
                random: Random::Thread,
                flights: Arc::new(Flights::new()),
                invalidations: Arc::new(Invalidations::new()),
                lock_released: event_listener::Event::new(),
            }),
        });
        FALLBACK.clone()
    }

    /// The prefix of every key.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// Which stored values are compressed ([`CacheBuilder::compression`]).
    pub fn compression(&self) -> Compression {
        self.inner.compression
    }

    /// The memory store, if this cache is on one.
    #[inline]
    pub fn memory_store(&self) -> Option<&MemoryStore> {
        match &self.inner.backend {
            Backend::Memory(store) => Some(store),
            #[cfg(feature = "redis")]
            Backend::Redis(_) => None,
        }
    }

    /// The Redis connection's failure counts and circuit state, and this cache's near cache
    /// counts, if this cache is on Redis.
    #[cfg(feature = "redis")]
    pub fn redis_stats(&self) -> Option<RedisStats> {
        match &self.inner.backend {
            Backend::Memory(_) => None,
            Backend::Redis(store) => {
                let mut stats = store.stats();
                if let Some(near) = self.near() {
                    stats.near_hits = near.counts.hits.get();
                    stats.near_invalidations = near.counts.invalidations.get();
                    stats.near_flushes = near.counts.flushes.get();
                    stats.near_fills_refused = near.counts.fills_refused.get();
                }
                Some(stats)
            }
        }
    }

    /// The near cache, if this cache has one.
    #[cfg(feature = "redis")]
    #[inline]
    pub(crate) fn near(&self) -> Option<&Arc<Near>> {
        self.inner.near.as_ref()
    }

    pub(crate) fn backend(&self) -> &Backend {
        &self.inner.backend
    }

    pub(crate) fn now_millis(&self) -> u64 {
        self.inner.clock.now_millis()
    }

    /// A precise reading, for rate limits.
    pub(crate) fn now_micros(&self) -> u64 {
        self.inner.clock.now_micros()
    }

    /// A number drawn uniformly from (0, 1].
    pub(crate) fn random_unit(&self) -> f64 {
        self.inner.random.unit()
    }

    pub(crate) fn flights(&self) -> &Arc<Flights> {
        &self.inner.flights
    }

    pub(crate) fn invalidations(&self) -> &Arc<Invalidations> {
        &self.inner.invalidations
    }

    pub(crate) fn lock_released(&self) -> &event_listener::Event {
        &self.inner.lock_released
    }
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("prefix", &self.inner.prefix)
            .field("store", &self.inner.backend)
            .field("clock", &self.inner.clock)
            .finish_non_exhaustive()
    }
}

/// The store, where it is, and the prefix, for a person to read; never the password.
///
/// ```
/// let cache = cache_runtime::Cache::from_url("memory://?max_entries=1000&prefix=svc")?;
/// assert_eq!(cache.to_string(), "the embedded memory store (at most 1000 entries), prefix `svc`");
/// # #[cfg(feature = "redis")] {
/// let cache = cache_runtime::Cache::from_url("redis://app:s3cret@127.0.0.1:6379/2")?;
/// assert_eq!(cache.to_string(), "Redis at redis://app@127.0.0.1:6379/2, prefix `cache`");
/// # }
/// # Ok::<(), cache_runtime::ConfigError>(())
/// ```
impl fmt::Display for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.backend {
            Backend::Memory(store) => match store.bound() {
                crate::MemoryBound::Entries(n) => {
                    write!(f, "the embedded memory store (at most {n} entries)")?
                }
                crate::MemoryBound::Bytes(n) => {
                    write!(f, "the embedded memory store (at most {n} bytes)")?
                }
            },
            #[cfg(feature = "redis")]
            Backend::Redis(store) => write!(f, "Redis at {}", store.config())?,
        }
        write!(f, ", prefix `{}`", self.inner.prefix)
    }
}

/// What `store = EXPR` may name: a [`Cache`], or something holding one.
pub trait AsCache {
    /// The cache.
    fn as_cache(&self) -> &Cache;
}

impl AsCache for Cache {
    fn as_cache(&self) -> &Cache {
        self
    }
}

impl<T: AsCache + ?Sized> AsCache for &T {
    fn as_cache(&self) -> &Cache {
        (**self).as_cache()
    }
}

impl<T: AsCache + ?Sized> AsCache for Arc<T> {
    fn as_cache(&self) -> &Cache {
        (**self).as_cache()
    }
}

impl<T: AsCache, F: FnOnce() -> T> AsCache for LazyLock<T, F> {
    fn as_cache(&self) -> &Cache {
        LazyLock::force(self).as_cache()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_store() {
        let cache = Cache::from_url("memory://?max_bytes=1048576&prefix=svc").unwrap();
        assert_eq!(cache.prefix(), "svc");
        assert_eq!(
            cache.memory_store().map(MemoryStore::bound),
            Some(crate::MemoryBound::Bytes(1 << 20))
        );
        assert!(Cache::from_url("memory://?prefix=").is_err());
    }

    #[cfg(feature = "redis")]
    #[test]
    fn a_redis_url_picks_redis_and_hides_the_password() {
        let cache = Cache::from_url("redis://user:secret@127.0.0.1:1/0?prefix=r").unwrap();
        assert_eq!(cache.prefix(), "r");
        assert!(cache.memory_store().is_none());
        let debug = format!("{cache:?}");
        assert!(
            !debug.contains("secret") && debug.contains("user@"),
            "{debug}"
        );
    }

    #[cfg(not(feature = "redis"))]
    #[test]
    fn a_redis_url_without_the_feature_names_it() {
        for url in ["redis://127.0.0.1/0", "rediss+cluster://h:1"] {
            let error = Cache::from_url(url).unwrap_err().to_string();
            assert!(error.contains("`redis` feature"), "{error}");
        }
    }

    #[cfg(feature = "redis")]
    #[test]
    fn a_near_cache_needs_redis_and_says_what_is_wrong() {
        let error = |url: &str| Cache::from_url(url).unwrap_err().to_string();
        assert!(error("memory://?near_cache=100").contains("in front of Redis"));
        assert!(error("redis://h/0?near_cache_max_lag=1s").contains("without a near cache"));
        assert!(error("redis://h/0?near_cache=100&near_cache_max_lag=5ms").contains("10ms"));
        assert!(error("redis://h/0?near_cache=0").contains("`near_cache`"));
        let cache =
            Cache::from_url("redis://127.0.0.1:1/0?near_cache=100&near_cache_max_lag=250ms")
                .unwrap();
        assert_eq!(cache.near().unwrap().max_lag(), Duration::from_millis(250));
        let stats = cache.redis_stats().unwrap();
        assert_eq!((stats.near_hits, stats.near_invalidations), (0, 0));
    }

    #[test]
    fn a_prefix_cannot_hold_the_separator() {
        for prefix in ["app:v2", ":", "app:"] {
            let error = Cache::builder().prefix(prefix).build().unwrap_err();
            assert!(error.to_string().contains("`:`"), "{error}");
        }
        assert!(Cache::builder().prefix("app-v2").build().is_ok());
    }
}
