//! A value is what it says: an entry of another type is a miss (or a `Decode` error for the
//! plain operations) on every store, even where its bytes would decode as the type asked for.

use std::sync::{LazyLock, OnceLock};

use cache_runtime::{cached, Cache, CacheErrorKind};
use cache_tests::servers::RedisServer;

static MEMORY: LazyLock<Cache> = LazyLock::new(|| Cache::builder().build().unwrap());
static REDIS: OnceLock<Cache> = OnceLock::new();

#[cached(ttl = 600, key = "num:{id}", store = REDIS.get().unwrap())]
async fn count_on_redis(id: u64) -> u32 {
    7 + u32::try_from(id).unwrap()
}

#[cached(ttl = 600, key = "num:{id}", store = REDIS.get().unwrap())]
async fn ratio_on_redis(id: u64) -> f64 {
    2.5 + id as f64
}

#[cached(ttl = 600, key = "num:{id}", store = MEMORY)]
async fn count_on_memory(id: u64) -> u32 {
    7 + u32::try_from(id).unwrap()
}

#[cached(ttl = 600, key = "num:{id}", store = MEMORY)]
async fn ratio_on_memory(id: u64) -> f64 {
    2.5 + id as f64
}

async fn plain_operations(cache: &Cache) {
    cache.set("seven", &7u32, None).await.unwrap();
    let error = cache.get::<f64>("seven").await.unwrap_err();
    assert!(matches!(error.kind(), CacheErrorKind::Decode(_)), "{error}");
    assert_eq!(cache.get::<u32>("seven").await.unwrap(), Some(7));
    cache.set("text", "hello", None).await.unwrap(); // a `str` reads as a `String`
    assert_eq!(
        cache.get::<String>("text").await.unwrap().as_deref(),
        Some("hello")
    );
}

#[tokio::test]
async fn on_redis() {
    let server = RedisServer::single();
    REDIS
        .set(Cache::from_url(&format!("{}?prefix=types", server.url())).unwrap())
        .unwrap();
    assert_eq!(count_on_redis(0).await, 7);
    assert_eq!(ratio_on_redis(0).await, 2.5, "a stored u32 is not an f64");
    assert_eq!(count_on_redis(0).await, 7, "and the f64 is not a u32");
    assert_eq!(count_on_redis::stats().decode_failures, 1);
    plain_operations(REDIS.get().unwrap()).await;
}

#[tokio::test]
async fn on_memory() {
    assert_eq!(count_on_memory(0).await, 7);
    assert_eq!(ratio_on_memory(0).await, 2.5);
    assert_eq!(count_on_memory(0).await, 7);
    plain_operations(&MEMORY).await;
}
