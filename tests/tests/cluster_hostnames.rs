//! A cluster that announces hostnames: `scan_keys` and `clear` reach every primary through the
//! client's own topology (the nodes as `CLUSTER SLOTS` names them), not through the addresses
//! of `CLUSTER NODES`.

use std::collections::BTreeSet;
use std::future::poll_fn;
use std::pin::Pin;
use std::time::Duration;

use cache_runtime::Cache;
use cache_tests::servers::RedisCluster;
use futures_core::Stream;

#[tokio::test]
async fn scan_and_clear_reach_every_primary_by_hostname() {
    let cluster = RedisCluster::start();
    cluster.announce_hostname("localhost");
    let cache = Cache::from_url(&format!("{}?prefix=hosts", cluster.url())).unwrap();
    let keys: Vec<String> = (0..60).map(|i| format!("k:{i}")).collect();
    let items: Vec<(&str, u32)> = keys.iter().map(|k| (k.as_str(), 1)).collect();
    cache
        .set_many(&items, Some(Duration::from_secs(60)))
        .await
        .unwrap();
    let mut stream = cache.scan_keys("*");
    let mut found = BTreeSet::new();
    while let Some(key) = poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
        found.insert(key.unwrap());
    }
    assert_eq!(found.len(), 60, "scan reached every primary");
    assert_eq!(cache.clear().await.unwrap(), 60);
    assert!(cluster.keys().is_empty(), "{:?}", cluster.keys());
}
