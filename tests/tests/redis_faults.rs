//! Redis dies, freezes and comes back: every call still answers right, the circuit opens and
//! closes, caching resumes without rebuilding the `Cache`, and plain operations say what failed.

use std::sync::OnceLock;
use std::time::Duration;

use cache_runtime::{cached, Cache, RedisConfig};
use cache_tests::servers::{keys_of, RedisServer, ServerOptions};
use cache_tests::{eventually_async, Runs};

static KILLED: OnceLock<Cache> = OnceLock::new();
static FROZEN: OnceLock<Cache> = OnceLock::new();
static PRICE_RUNS: Runs = Runs::new();
static STOCK_RUNS: Runs = Runs::new();

#[cached(ttl = 60, key = "price:{id}", store = KILLED.get().unwrap())]
async fn price(id: u64) -> u64 {
    PRICE_RUNS.record();
    id * 100
}

#[cached(ttl = 60, key = "stock:{id}", store = FROZEN.get().unwrap())]
fn stock(id: u64) -> u64 {
    STOCK_RUNS.record();
    id + 1
}

/// Short timeouts and cooldown, so the test is quick.
fn impatient(server: &RedisServer) -> RedisConfig {
    RedisConfig::from_url(&server.url())
        .unwrap()
        .connect_timeout(Duration::from_millis(200))
        .response_timeout(Duration::from_millis(200))
        .circuit_breaker(3, Duration::from_millis(300))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_fails_open_and_caching_resumes_after_restart() {
    let mut server = RedisServer::start(ServerOptions::default());
    let cache = Cache::builder().redis(impatient(&server)).build().unwrap();
    KILLED.set(cache.clone()).unwrap();
    assert_eq!(price(1).await, 100);
    assert_eq!(price(1).await, 100);
    assert_eq!(PRICE_RUNS.count(), 1);

    server.kill();
    for _ in 0..30 {
        assert_eq!(
            price(1).await,
            100,
            "the function answers while Redis is down"
        );
    }
    assert_eq!(PRICE_RUNS.count(), 31);
    let stats = cache.redis_stats().unwrap();
    assert!(stats.circuit_open && stats.circuit_opened >= 1, "{stats:?}");
    assert!(stats.skipped > 0, "an open circuit skips Redis: {stats:?}");
    assert_eq!(price::stats().backend_errors, 30);

    // Plain operations report the failure: which operation, which key.
    let error = cache.get::<u64>("price:1").await.unwrap_err();
    assert!(error.is_unavailable(), "{error}");
    assert_eq!((error.operation(), error.key()), ("get", Some("price:1")));
    assert!(
        error.to_string().contains("`get` of key `price:1`"),
        "{error}"
    );

    server.restart(); // same port, empty
    let resumed = eventually_async(async || {
        price(1).await;
        keys_of(&mut server.raw()).contains_key("cache:price:1")
    })
    .await;
    assert!(
        resumed,
        "caching resumes on the same Cache once Redis is back"
    );
    assert!(
        !cache.redis_stats().unwrap().circuit_open,
        "the circuit closed"
    );
    let runs = PRICE_RUNS.count();
    assert_eq!(price(1).await, 100);
    assert_eq!(PRICE_RUNS.count(), runs, "a hit again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_server_times_out_and_the_function_answers() {
    let server = RedisServer::start(ServerOptions::default());
    let cache = Cache::builder().redis(impatient(&server)).build().unwrap();
    FROZEN.set(cache.clone()).unwrap();
    assert_eq!(stock(1), 2);
    assert_eq!(stock(1), 2);
    assert_eq!(STOCK_RUNS.count(), 1);

    server.pause();
    for _ in 0..5 {
        assert_eq!(stock(1), 2, "the function answers while Redis does not");
    }
    assert_eq!(stock::stats().backend_errors, 5);
    let stats = cache.redis_stats().unwrap();
    assert!(
        stats.failures >= 3 && stats.circuit_opened >= 1,
        "{stats:?}"
    );
    let error = cache.set("k", &1u8, None).await.unwrap_err();
    assert!(error.is_unavailable(), "{error}");

    server.resume();
    let resumed = eventually_async(async || {
        let runs = STOCK_RUNS.count();
        stock(1);
        STOCK_RUNS.count() == runs
    })
    .await;
    assert!(resumed, "hits resume once Redis answers again");
}
