//! `refresh()` of a stacked function refreshes that function only: the signal travels with the
//! call, so another task on the same thread, or the next call after a refresh that never reached
//! the cache (rate limited), is not turned into a refresh.

use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use cache_runtime::{cached, rate_limit, Cache, RateLimited};
use cache_tests::servers::RedisServer;
use cache_tests::Runs;

static MEMORY: LazyLock<Cache> = LazyLock::new(|| Cache::builder().build().unwrap());
static REDIS: OnceLock<Cache> = OnceLock::new();
static STACKED_RUNS: Runs = Runs::new();
static OTHER_RUNS: Runs = Runs::new();
static LIMITED_RUNS: Runs = Runs::new();
static PLAIN_RUNS: Runs = Runs::new();

#[derive(Debug, Clone, PartialEq)]
struct Limited;

impl From<RateLimited> for Limited {
    fn from(_: RateLimited) -> Self {
        Limited
    }
}

// The rate limit is checked on Redis: the call awaits before it reaches `#[cached]`.
#[rate_limit(limit = 1000, window = 60, store = REDIS.get().unwrap())]
#[cached(ttl = 60, store = MEMORY)]
async fn stacked(id: u64) -> Result<u64, Limited> {
    STACKED_RUNS.record();
    Ok(id)
}

#[cached(ttl = 60, store = MEMORY)]
async fn other(id: u64) -> u64 {
    OTHER_RUNS.record();
    id
}

#[rate_limit(limit = 1, window = 60, store = MEMORY)]
#[cached(ttl = 60, store = MEMORY)]
fn limited_plain(id: u64) -> Result<u64, Limited> {
    LIMITED_RUNS.record();
    Ok(id)
}

#[cached(ttl = 60, store = MEMORY)]
fn plain(id: u64) -> u64 {
    PLAIN_RUNS.record();
    id
}

#[tokio::test(flavor = "current_thread")]
async fn another_task_on_the_thread_is_not_refreshed() {
    let server = RedisServer::single();
    REDIS
        .set(Cache::from_url(&format!("{}?prefix=refresh", server.url())).unwrap())
        .unwrap();
    assert_eq!(stacked(1).await, Ok(1));
    assert_eq!(other(1).await, 1);
    let busy = async {
        for _ in 0..50 {
            assert_eq!(other(1).await, 1);
            tokio::time::sleep(Duration::from_micros(100)).await;
        }
    };
    let (refreshed, ()) = tokio::join!(stacked::refresh(1), busy);
    assert_eq!(refreshed, Ok(1));
    assert_eq!(STACKED_RUNS.count(), 2, "the refresh recomputed `stacked`");
    assert_eq!(OTHER_RUNS.count(), 1, "`other` was never refreshed");
}

#[test]
fn a_refresh_that_never_reaches_the_cache_leaves_no_signal_behind() {
    assert_eq!(limited_plain(1), Ok(1));
    assert_eq!(plain(5), 5);
    assert_eq!(limited_plain::refresh(1), Err(Limited)); // rate limited: `#[cached]` not reached
    assert_eq!(plain(5), 5);
    assert_eq!(
        PLAIN_RUNS.count(),
        1,
        "the next call on the thread was not a refresh"
    );
    assert_eq!(LIMITED_RUNS.count(), 1);
}
