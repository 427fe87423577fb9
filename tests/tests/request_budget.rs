//! A single node's connection keeps a request's time budget itself (one connect attempt under the
//! connect timeout, then the reply under the response timeout), with no timer of the library's:
//! a `#[cached]` call through a partitioned connection, and through a reconnection to a server
//! that accepts and never answers, returns the body's value within connect + response, and
//! caching comes back when the partition ends.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cache_runtime::{cached, Cache, RedisConfig};
use cache_tests::proxy::FaultProxy;
use cache_tests::servers::{keys_of, RedisServer, ServerOptions};
use cache_tests::{eventually_async, Runs};

static PARTITIONED: OnceLock<Cache> = OnceLock::new();
static RUNS: Runs = Runs::new();

const CONNECT: Duration = Duration::from_millis(400);
const RESPONSE: Duration = Duration::from_millis(200);
/// What the machine may add to the budget (scheduling, the proxy's own hop).
const SLACK: Duration = Duration::from_millis(400);

#[cached(ttl = 60, key = "price:{id}", store = PARTITIONED.get().unwrap())]
async fn price(id: u64) -> u64 {
    RUNS.record();
    id * 10
}

/// The longest call of `price` over `ids`, each a new id (so each reads Redis).
async fn slowest_call(ids: std::ops::Range<u64>) -> Duration {
    let mut slowest = Duration::ZERO;
    for id in ids {
        let started = Instant::now();
        assert_eq!(price(id).await, id * 10, "the body answers");
        slowest = slowest.max(started.elapsed());
    }
    slowest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waits_at_most_connect_and_response_while_partitioned_or_reconnecting() {
    let server = RedisServer::start(ServerOptions::default());
    let proxy = FaultProxy::start(server.port());
    let config = RedisConfig::from_url(&proxy.url())
        .unwrap()
        .connect_timeout(CONNECT)
        .response_timeout(RESPONSE)
        // The circuit never opens here: every call pays the wait this test bounds.
        .circuit_breaker(1_000, Duration::from_millis(100));
    let cache = Cache::builder().redis(config).build().unwrap();
    PARTITIONED.set(cache.clone()).unwrap();
    assert_eq!(price(1).await, 10);
    assert_eq!(price(1).await, 10);
    assert_eq!(RUNS.count(), 1);
    let budget = CONNECT + RESPONSE + SLACK;

    // Partitioned, the connection kept open: each request ends on the response timeout.
    proxy.blackhole();
    let slowest = slowest_call(100..104).await;
    assert!(slowest < budget, "partitioned: {slowest:?}");

    // Connections reset while new ones are accepted and never answered: the connection
    // reconnects, and a request waits on one connect attempt at most, not on retries.
    proxy.cut();
    let slowest = slowest_call(200..210).await;
    assert!(slowest < budget, "reconnecting: {slowest:?}");
    assert!(proxy.accepted() >= 2, "a reconnection was attempted");
    assert_eq!(price::stats().backend_errors, 14);

    proxy.resume();
    let resumed = eventually_async(async || {
        price(300).await;
        keys_of(&mut server.raw()).contains_key("cache:price:300")
    })
    .await;
    assert!(resumed, "caching resumes once the partition ends");
    let runs = RUNS.count();
    assert_eq!(price(300).await, 3_000);
    assert_eq!(RUNS.count(), runs, "a hit again");
}
