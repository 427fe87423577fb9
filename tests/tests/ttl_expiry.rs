//! Entries expire after their TTL, on a manual clock.

use std::sync::LazyLock;
use std::time::Duration;

use cache_runtime::cached;
use cache_tests::{Clocked, Runs};

static RUNS: Runs = Runs::new();
static CACHE: LazyLock<Clocked> = LazyLock::new(Clocked::new);

#[cached(ttl = "1m 30s", store = CACHE.cache)]
async fn price(sku: &str) -> u64 {
    RUNS.record();
    sku.len() as u64
}

#[tokio::test]
async fn an_entry_lives_exactly_its_ttl() {
    assert_eq!(price("abc").await, 3);
    CACHE.clock.advance(Duration::from_secs(89));
    assert_eq!(price("abc").await, 3);
    assert_eq!(RUNS.count(), 1, "still fresh at 89 s");
    CACHE.clock.advance(Duration::from_secs(1));
    assert_eq!(price("abc").await, 3);
    assert_eq!(RUNS.count(), 2, "expired at 90 s, recomputed");
    assert_eq!(price("abc").await, 3);
    assert_eq!(RUNS.count(), 2, "the recomputed value is stored again");
}
