//! The protections compared, each a function over the same hot key and the same body.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use cache_runtime::{cached, Cache, FnStats};

/// The cache every variant uses: memory, or the experiment's Redis.
pub static CACHE: OnceLock<Cache> = OnceLock::new();

fn cache() -> &'static Cache {
    CACHE
        .get()
        .expect("the cache is set before the load starts")
}

/// How long the body takes, in milliseconds.
pub static DELTA_MS: AtomicU64 = AtomicU64::new(10);

/// When each body run started, ms since the Unix epoch.
pub static BODY_STARTS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

/// Misses of the hand-written cache-aside (it has no `stats()`).
static HAND_WRITTEN_MISSES: AtomicU64 = AtomicU64::new(0);

pub fn unix_millis() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |since| since.as_millis() as u64)
}

/// The database query: counts its run and takes `DELTA_MS`.
async fn body() -> u64 {
    let started = unix_millis();
    BODY_STARTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(started);
    tokio::time::sleep(Duration::from_millis(DELTA_MS.load(Relaxed))).await;
    started
}

/// The TTL of every variant.
pub const TTL: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// GET, on a miss compute and SET: what hand-written decorators do.
    NoProtection,
    SingleFlight,
    LockOnMiss,
    Early05,
    Early1,
    Early2,
    EarlyAndLock,
}

pub const ALL: [Variant; 7] = [
    Variant::NoProtection,
    Variant::SingleFlight,
    Variant::LockOnMiss,
    Variant::Early05,
    Variant::Early1,
    Variant::Early2,
    Variant::EarlyAndLock,
];

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::NoProtection => "no protection",
            Variant::SingleFlight => "single-flight",
            Variant::LockOnMiss => "lock_on_miss",
            Variant::Early05 => "early_expiry 0.5",
            Variant::Early1 => "early_expiry 1",
            Variant::Early2 => "early_expiry 2",
            Variant::EarlyAndLock => "early_expiry 1 + lock_on_miss",
        }
    }

    pub fn parse(name: &str) -> Option<Variant> {
        ALL.into_iter().find(|variant| variant.name() == name)
    }

    /// One request.
    pub async fn call(self) -> u64 {
        match self {
            Variant::NoProtection => hand_written().await,
            Variant::SingleFlight => single_flight().await,
            Variant::LockOnMiss => lock_on_miss().await,
            Variant::Early05 => early_05().await,
            Variant::Early1 => early_1().await,
            Variant::Early2 => early_2().await,
            Variant::EarlyAndLock => early_and_lock().await,
        }
    }

    /// Callers that did not get a stored value at once (they computed or waited).
    pub fn waited(self) -> u64 {
        let stats: fn() -> FnStats = match self {
            Variant::NoProtection => return HAND_WRITTEN_MISSES.load(Relaxed),
            Variant::SingleFlight => single_flight::stats,
            Variant::LockOnMiss => lock_on_miss::stats,
            Variant::Early05 => early_05::stats,
            Variant::Early1 => early_1::stats,
            Variant::Early2 => early_2::stats,
            Variant::EarlyAndLock => early_and_lock::stats,
        };
        stats().misses
    }

    /// The key, removed before each run so every run starts cold.
    pub fn key(self) -> &'static str {
        match self {
            Variant::NoProtection => "none",
            Variant::SingleFlight => "single",
            Variant::LockOnMiss => "lock",
            Variant::Early05 => "early05",
            Variant::Early1 => "early1",
            Variant::Early2 => "early2",
            Variant::EarlyAndLock => "earlylock",
        }
    }
}

async fn hand_written() -> u64 {
    if let Ok(Some(value)) = cache().get::<u64>("none").await {
        return value;
    }
    HAND_WRITTEN_MISSES.fetch_add(1, Relaxed);
    let value = body().await;
    let _ = cache().set("none", &value, Some(TTL)).await;
    value
}

#[cached(ttl = 1, key = "single", store = cache())]
async fn single_flight() -> u64 {
    body().await
}

#[cached(ttl = 1, key = "lock", lock_on_miss, store = cache())]
async fn lock_on_miss() -> u64 {
    body().await
}

#[cached(ttl = 1, key = "early05", early_expiry = 0.5, store = cache())]
async fn early_05() -> u64 {
    body().await
}

#[cached(ttl = 1, key = "early1", early_expiry, store = cache())]
async fn early_1() -> u64 {
    body().await
}

#[cached(ttl = 1, key = "early2", early_expiry = 2.0, store = cache())]
async fn early_2() -> u64 {
    body().await
}

#[cached(ttl = 1, key = "earlylock", early_expiry, lock_on_miss, store = cache())]
async fn early_and_lock() -> u64 {
    body().await
}
