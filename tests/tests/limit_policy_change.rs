//! Changing a limiter's policy never locks a key out or panics: a lower `limit` under the same
//! name, or another algorithm on a live key, starts from a sane state, on memory and on Redis,
//! and never reads as an outage (`WRONGTYPE`).

use std::time::Duration;

use cache_runtime::{Algorithm, Cache, RateLimitPolicy, RateLimiter};
use cache_tests::servers::RedisServer;

const MINUTE: Duration = Duration::from_secs(60);

fn limiter(cache: &Cache, policy: RateLimitPolicy) -> RateLimiter {
    RateLimiter::new(cache, "changing", policy).unwrap()
}

async fn suite(cache: &Cache) {
    // GCRA: 1,000 a minute, then 10 a minute under the same name and key.
    let generous = limiter(cache, RateLimitPolicy::new(1_000, MINUTE));
    for _ in 0..5 {
        generous.check("gcra").await.unwrap();
    }
    let strict = limiter(cache, RateLimitPolicy::new(10, MINUTE));
    let first = strict.check("gcra").await;
    assert!(first.is_ok(), "a lower limit locked the key out: {first:?}");
    for _ in 0..20 {
        if let Err(limited) = strict.check("gcra").await {
            assert!(!limited.is_unavailable(), "{limited:?}");
            assert!(limited.retry_after() <= MINUTE, "{limited:?}");
        }
    }

    // Fixed window: 8 of 10 used, then a limit of 5: refused for the window, never a panic.
    let ten = limiter(
        cache,
        RateLimitPolicy::new(10, MINUTE).algorithm(Algorithm::FixedWindow),
    );
    for _ in 0..8 {
        ten.check("fixed").await.unwrap();
    }
    let five = limiter(
        cache,
        RateLimitPolicy::new(5, MINUTE).algorithm(Algorithm::FixedWindow),
    );
    let limited = five.check("fixed").await.unwrap_err();
    assert!(!limited.is_unavailable() && limited.retry_after() <= MINUTE);
    assert_eq!(limited.remaining(), 0);

    // Sliding window: 8 of 10 used, then a limit of 5.
    let ten = limiter(
        cache,
        RateLimitPolicy::new(10, MINUTE).algorithm(Algorithm::SlidingWindow),
    );
    for _ in 0..8 {
        ten.check("sliding").await.unwrap();
    }
    let five = limiter(
        cache,
        RateLimitPolicy::new(5, MINUTE).algorithm(Algorithm::SlidingWindow),
    );
    let limited = five.check("sliding").await.unwrap_err();
    assert!(!limited.is_unavailable() && limited.retry_after() <= MINUTE);

    // Every algorithm in turn on one live key: each starts afresh, none is an outage.
    for algorithm in [
        Algorithm::SlidingWindow,
        Algorithm::Gcra,
        Algorithm::FixedWindow,
        Algorithm::SlidingWindow,
        Algorithm::FixedWindow,
        Algorithm::Gcra,
    ] {
        let policy = RateLimitPolicy::new(3, MINUTE).algorithm(algorithm);
        let switched = limiter(cache, policy);
        let admitted = switched.check("switching").await;
        assert!(
            admitted.is_ok(),
            "{algorithm:?} after another: {admitted:?}"
        );
        assert_eq!(
            switched.stats().backend_errors,
            0,
            "{algorithm:?} after another was failed open, not counted"
        );
    }
}

#[tokio::test]
async fn on_memory() {
    suite(&Cache::builder().build().unwrap()).await;
}

#[tokio::test]
async fn on_redis() {
    let server = RedisServer::single();
    suite(&Cache::from_url(&format!("{}?prefix=policy", server.url())).unwrap()).await;
}
