//! The near cache with a function's default key (`{prefix}:{module}::{fn}:v0:{digest}`, no
//! template): the server's invalidation push names the key as Redis holds it, digest and all,
//! and must reach the L1 entry of that call, as it does for a template key.

use std::sync::OnceLock;

use cache_runtime::{cached, Cache};
use cache_tests::servers::RedisServer;
use cache_tests::{eventually_async, Runs};

static NEAR: OnceLock<Cache> = OnceLock::new();
static RUNS: Runs = Runs::new();

#[cached(ttl = 600, store = NEAR.get().unwrap())]
async fn price(id: u64) -> u64 {
    RUNS.record();
    id * 10
}

fn near_hits() -> u64 {
    NEAR.get().unwrap().redis_stats().unwrap().near_hits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_keys_entry_leaves_the_l1_when_another_client_deletes_it() {
    let server = RedisServer::single();
    let url = format!(
        "{}?prefix=d&near_cache=1000&near_cache_max_lag=2s",
        server.url()
    );
    NEAR.set(Cache::from_url(&url).unwrap()).unwrap();
    let armed = eventually_async(async || {
        price(1).await;
        near_hits() > 0
    })
    .await;
    assert!(armed, "the near cache answers once tracking is armed");
    assert_eq!(RUNS.count(), 1);

    // Another client deletes the key Redis holds: once the push arrives, the call computes
    // again rather than answering from the L1.
    let key = price::key(&1).unwrap();
    let mut raw = server.raw();
    let deleted: u64 = redis::cmd("DEL").arg(&key).query(&mut raw).unwrap();
    assert_eq!(deleted, 1, "{key} was stored");
    let recomputed = eventually_async(async || {
        price(1).await;
        RUNS.count() == 2
    })
    .await;
    assert!(recomputed, "the delete of {key} reached the near cache");
    let stats = NEAR.get().unwrap().redis_stats().unwrap();
    assert!(stats.near_invalidations >= 1, "{stats:?}");
}
