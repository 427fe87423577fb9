//! The circuit never sticks: a half-open probe whose caller is cancelled frees the probe slot,
//! and once Redis answers again the next probe closes the circuit. Caching, rate limits and
//! locks come back without rebuilding anything.

use std::time::Duration;

use cache_runtime::{Cache, LockPolicy, Locks, RateLimitPolicy, RateLimiter, RedisConfig};
use cache_tests::proxy::FaultProxy;
use cache_tests::servers::{RedisServer, ServerOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_probe_frees_the_slot_and_everything_comes_back() {
    let server = RedisServer::start(ServerOptions::default());
    let proxy = FaultProxy::start(server.port());
    let config = RedisConfig::from_url(&proxy.url())
        .unwrap()
        .connect_timeout(Duration::from_millis(300))
        .response_timeout(Duration::from_millis(300))
        .circuit_breaker(1, Duration::from_millis(200));
    let cache = Cache::builder()
        .prefix("probe")
        .redis(config)
        .build()
        .unwrap();
    let limits = RateLimiter::new(
        &cache,
        "api",
        RateLimitPolicy::new(1_000, Duration::from_secs(60)),
    )
    .unwrap();
    let locks = Locks::new(&cache, "jobs", LockPolicy::new(Duration::from_secs(5))).unwrap();
    cache.set("k", &1u32, None).await.unwrap();

    proxy.blackhole();
    assert!(cache.get::<u32>("k").await.is_err());
    assert!(cache.redis_stats().unwrap().circuit_open);
    // Past the cooldown the next call probes; its caller gives up first (a client timeout, a
    // `select!`, a dropped request all drop the future the same way). A probe may also fail at
    // once (the connection is being remade): the rounds go on until three were cancelled.
    let mut cancelled = 0;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let probe = tokio::time::timeout(Duration::from_millis(20), cache.get::<u32>("k")).await;
        cancelled += usize::from(probe.is_err());
        if cancelled == 3 {
            break;
        }
    }
    assert!(cancelled >= 1, "no probe was left pending to cancel");

    proxy.resume();
    let opened_before = cache.redis_stats().unwrap().circuit_opened;
    assert!(
        cache_tests::eventually_async(async || cache.get::<u32>("k").await.ok() == Some(Some(1)))
            .await,
        "caching resumes once Redis answers (stats: {:?})",
        cache.redis_stats()
    );
    let stats = cache.redis_stats().unwrap();
    assert!(!stats.circuit_open, "{stats:?}");
    assert!(stats.circuit_opened >= opened_before);
    let admitted = limits.check("user").await.expect("a rate limit answers");
    assert_eq!(
        admitted.remaining(),
        999,
        "counted on Redis, not failed open"
    );
    let guard = locks.acquire("x").await.expect("locks answer again");
    guard.release().await.unwrap();
}
