//! Namespaces do not leak: locks and rate limits survive cache pressure and `clear()`, a plain
//! write can never land on them, and the plain `Locks` / `RateLimiter` name a resource exactly
//! as the attributes do. On the memory store and on Redis.

use std::sync::OnceLock;
use std::time::Duration;

use cache_runtime::{
    rate_limit, with_lock, Cache, CacheErrorKind, LockError, LockPolicy, Locks, MemoryStore,
    RateLimitPolicy, RateLimited, RateLimiter,
};
use cache_tests::servers::{keys_of, RedisServer};

static MEMORY: OnceLock<Cache> = OnceLock::new();
static REDIS: OnceLock<Cache> = OnceLock::new();

#[derive(Debug)]
enum AppError {
    Lock(LockError),
    Limited,
}

impl From<LockError> for AppError {
    fn from(error: LockError) -> Self {
        AppError::Lock(error)
    }
}

impl From<RateLimited> for AppError {
    fn from(_: RateLimited) -> Self {
        AppError::Limited
    }
}

#[with_lock(key = "res:{name}", wait = 0, store = MEMORY.get().unwrap())]
async fn locked_on_memory(name: String) -> Result<(), AppError> {
    Ok(())
}

#[with_lock(key = "res:{name}", wait = 0, store = REDIS.get().unwrap())]
async fn locked_on_redis(name: String) -> Result<(), AppError> {
    Ok(())
}

#[rate_limit(limit = 2, window = 60, key = "{user}", store = MEMORY.get().unwrap())]
async fn limited_on_memory(user: String) -> Result<(), AppError> {
    Ok(())
}

#[rate_limit(limit = 2, window = 60, key = "{user}", store = REDIS.get().unwrap())]
async fn limited_on_redis(user: String) -> Result<(), AppError> {
    Ok(())
}

/// What must hold on `cache`, whose attribute functions are `locked` and `limited` (named
/// `namespaces::limited_on_*`).
async fn suite<L, R>(cache: &Cache, limited_name: &str, locked: L, limited: R)
where
    L: AsyncFn(String) -> Result<(), AppError>,
    R: AsyncFn(String) -> Result<(), AppError>,
{
    let minute = Some(Duration::from_secs(60));
    let policy = LockPolicy::new(Duration::from_secs(30)).wait(Duration::ZERO);
    let locks = Locks::new(cache, "res", policy).unwrap();
    let limiter = RateLimiter::new(
        cache,
        limited_name,
        RateLimitPolicy::new(2, Duration::from_secs(60)),
    )
    .unwrap();

    // The same resource, whatever its characters, is the same lock and the same limit.
    let odd = "a b/c:{d}%";
    let guard = locks.acquire(odd).await.unwrap();
    assert!(
        matches!(
            locked(odd.to_owned()).await,
            Err(AppError::Lock(LockError::TimedOut { .. }))
        ),
        "the attribute sees the lock `Locks` holds"
    );
    limiter.check(odd).await.unwrap();
    limiter.check(odd).await.unwrap();
    assert!(matches!(
        limited(odd.to_owned()).await,
        Err(AppError::Limited)
    ));

    // Plain writes never land on them; reads may look.
    let lock_key = locks.key(odd);
    let lock_key = lock_key
        .strip_prefix(&format!("{}:", cache.prefix()))
        .unwrap();
    assert!(cache.exists(lock_key).await.unwrap());
    for refused in [
        cache.set(lock_key, &1u8, minute).await.err(),
        cache.delete(lock_key).await.err(),
        cache.expire(lock_key, Duration::from_secs(1)).await.err(),
        cache
            .incr(&format!("{lock_key}:fence"), 1, None)
            .await
            .err(),
        cache.set("user:1\0lock", &1u8, None).await.err(),
    ] {
        assert_eq!(
            refused.expect("refused").kind(),
            &CacheErrorKind::ReservedKey
        );
    }
    cache.set("rate:plain", &1u8, minute).await.unwrap(); // no brace: an ordinary key

    // Cache pressure: far more values than the bound.
    for i in 0..5_000u32 {
        cache.set(&format!("v:{i}"), &i, minute).await.unwrap();
    }
    // clear(): cached values and plain keys only.
    assert!(cache.clear().await.unwrap() > 0);
    assert!(!cache.exists("rate:plain").await.unwrap());
    assert!(
        matches!(
            locked(odd.to_owned()).await,
            Err(AppError::Lock(LockError::TimedOut { .. }))
        ),
        "the lock is still held after pressure and clear()"
    );
    assert!(
        matches!(limited(odd.to_owned()).await, Err(AppError::Limited)),
        "the limit still counts after pressure and clear()"
    );
    let first = guard.token();
    guard.release().await.unwrap();
    let next = locks.acquire(odd).await.unwrap();
    assert!(next.token() > first, "the fencing counter survived");
    next.release().await.unwrap();
}

#[tokio::test]
async fn on_memory() {
    let cache = Cache::builder()
        .prefix("ns")
        .store(MemoryStore::with_max_entries(1_000))
        .build()
        .unwrap();
    MEMORY.set(cache.clone()).unwrap();
    suite(
        &cache,
        "namespaces::limited_on_memory",
        locked_on_memory,
        limited_on_memory,
    )
    .await;
}

#[tokio::test]
async fn on_redis() {
    let server = RedisServer::single();
    let cache = Cache::from_url(&format!("{}?prefix=ns", server.url())).unwrap();
    REDIS.set(cache.clone()).unwrap();
    suite(
        &cache,
        "namespaces::limited_on_redis",
        locked_on_redis,
        limited_on_redis,
    )
    .await;
    let keys = keys_of(&mut server.raw());
    assert!(
        keys.keys()
            .all(|key| key.starts_with("ns:lock:{") || key.starts_with("ns:rate:")),
        "{keys:?}"
    );
}
