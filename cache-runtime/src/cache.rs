//! The [`Cache`] handle: a store, a key prefix, a clock and the flights under way.

use std::fmt;
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

use crate::clock::{Clock, ManualClock};
use crate::error::ConfigError;
use crate::flight::Flights;
use crate::store::{MemoryBound, MemoryStore, StoredEntry, StoredValue};

/// The key prefix when none is given.
pub const DEFAULT_PREFIX: &str = "cache";

/// A handle on a store, shared by clones. `#[cached]` functions use the process-wide
/// [`Cache::global`] unless given `store = …`.
///
/// ```
/// use cache_runtime::Cache;
/// use std::time::Duration;
///
/// let cache = Cache::builder().prefix("svc").build()?;
/// cache.set_bytes("greeting", b"hello", Duration::from_secs(60));
/// assert_eq!(cache.get_bytes("greeting").as_deref(), Some(&b"hello"[..]));
/// # Ok::<(), cache_runtime::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    prefix: Box<str>,
    store: MemoryStore,
    clock: Clock,
    flights: Flights,
}

/// Builds a [`Cache`]; [`Cache::builder`] starts one.
#[derive(Debug, Default)]
pub struct CacheBuilder {
    prefix: Option<String>,
    store: Option<MemoryStore>,
    clock: Clock,
}

impl CacheBuilder {
    /// The prefix of every key (default [`DEFAULT_PREFIX`]): non-empty, printable ASCII without
    /// spaces, `{`, `}` or `*`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// The store (default: a [`MemoryStore`] of 100,000 entries).
    pub fn store(mut self, store: MemoryStore) -> Self {
        self.store = Some(store);
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
        Ok(Cache {
            inner: Arc::new(Inner {
                prefix: prefix.into(),
                store: self.store.unwrap_or_default(),
                clock: self.clock,
                flights: Flights::new(),
            }),
        })
    }
}

fn check_prefix(prefix: &str) -> Result<(), ConfigError> {
    let problem = if prefix.is_empty() {
        "must not be empty"
    } else if !prefix
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'{' | b'}' | b'*'))
    {
        "must be printable ASCII without spaces, `{`, `}` or `*`"
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

    /// A cache over `url`: `memory://`, with optional `max_entries=N` or `max_bytes=N` and
    /// `prefix=P` parameters (`memory://?max_bytes=67108864&prefix=svc`).
    ///
    /// ```
    /// let cache = cache_runtime::Cache::from_url("memory://?max_entries=1000")?;
    /// # Ok::<(), cache_runtime::ConfigError>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Cache, ConfigError> {
        let (scheme, rest) = url.split_once("://").ok_or(ConfigError::NoScheme)?;
        if scheme != "memory" {
            return Err(ConfigError::UnsupportedScheme {
                scheme: scheme.to_owned(),
            });
        }
        let query = match rest.split_once('?') {
            Some(("", query)) => query,
            None if rest.is_empty() => "",
            _ => {
                return Err(ConfigError::BadParameter {
                    name: "host".to_owned(),
                    problem: "`memory://` takes no host or path, only `?parameters`".to_owned(),
                })
            }
        };
        let mut builder = Cache::builder();
        let mut bound = None;
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let bad = |problem: &str| ConfigError::BadParameter {
                name: name.to_owned(),
                problem: problem.to_owned(),
            };
            let number = || {
                value.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    bad(&format!(
                        "`{value}` is not a whole number greater than zero"
                    ))
                })
            };
            match name {
                "max_entries" if bound.is_none() => bound = Some(MemoryBound::Entries(number()?)),
                "max_bytes" if bound.is_none() => bound = Some(MemoryBound::Bytes(number()?)),
                "max_entries" | "max_bytes" => {
                    return Err(bad("give one of `max_entries` and `max_bytes`, once"))
                }
                "prefix" => builder = builder.prefix(value),
                _ => return Err(bad("unknown; valid: `max_entries`, `max_bytes`, `prefix`")),
            }
        }
        if let Some(bound) = bound {
            builder = builder.store(MemoryStore::new(bound));
        }
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
                store: MemoryStore::default(),
                clock: Clock::System,
                flights: Flights::new(),
            }),
        });
        FALLBACK.clone()
    }

    /// The prefix of every key.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The store.
    pub fn store(&self) -> &MemoryStore {
        &self.inner.store
    }

    /// Stores `value` under `key` (the prefix is added) for `ttl`.
    pub fn set_bytes(&self, key: &str, value: &[u8], ttl: Duration) {
        let ttl = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let expires_at = self.now_millis().saturating_add(ttl);
        let entry = StoredEntry::new(expires_at, StoredValue::Encoded(value.into()));
        self.inner.store.insert(&self.full_key(key), entry);
    }

    /// The bytes under `key` (the prefix is added). An entry written by `#[cached]` comes back
    /// in the [entry format](crate::entry).
    pub fn get_bytes(&self, key: &str) -> Option<Vec<u8>> {
        self.inner
            .store
            .get(&self.full_key(key), self.now_millis())?
            .to_bytes()
    }

    /// Removes `key` (the prefix is added); whether it was there.
    pub fn delete(&self, key: &str) -> bool {
        self.inner.store.remove(&self.full_key(key))
    }

    /// Removes every entry of this cache's store.
    pub fn clear(&self) {
        self.inner.store.clear();
    }

    fn full_key(&self, key: &str) -> Vec<u8> {
        [self.prefix().as_bytes(), b":", key.as_bytes()].concat()
    }

    pub(crate) fn now_millis(&self) -> u64 {
        self.inner.clock.now_millis()
    }

    pub(crate) fn flights(&self) -> &Flights {
        &self.inner.flights
    }
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("prefix", &self.inner.prefix)
            .field("store", &self.inner.store)
            .field("clock", &self.inner.clock)
            .finish_non_exhaustive()
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
    fn urls_are_checked() {
        assert!(Cache::from_url("memory://").is_ok());
        let cache = Cache::from_url("memory://?max_bytes=1048576&prefix=svc").unwrap();
        assert_eq!(
            (cache.prefix(), cache.store().bound()),
            ("svc", MemoryBound::Bytes(1 << 20))
        );
        assert_eq!(
            Cache::from_url("localhost").unwrap_err(),
            ConfigError::NoScheme
        );
        let error = Cache::from_url("redis://user:secret@localhost")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`redis://`") && !error.contains("secret"),
            "{error}"
        );
        let error = Cache::from_url("memory://?max_entries=0")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("max_entries") && error.contains("greater than zero"),
            "{error}"
        );
        let error = Cache::from_url("memory://?max_entrys=5")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("max_entrys") && error.contains("valid"),
            "{error}"
        );
        assert!(Cache::from_url("memory://?max_entries=5&max_bytes=5").is_err());
        assert!(Cache::from_url("memory://?prefix=").is_err());
    }

    #[test]
    fn plain_bytes_expire_with_the_clock() {
        let clock = ManualClock::new();
        let cache = Cache::builder().clock(clock.clone()).build().unwrap();
        cache.set_bytes("k", b"v", Duration::from_secs(10));
        clock.advance(Duration::from_secs(9));
        assert!(cache.get_bytes("k").is_some());
        clock.advance(Duration::from_secs(1));
        assert!(cache.get_bytes("k").is_none());
        assert!(!cache.delete("absent"));
    }
}
