//! Stacked attributes run in the order written, outermost first: `#[rate_limit]` over
//! `#[cached]` limits every call, hits included; `#[cached]` over `#[rate_limit]` limits only the
//! misses that reach the body.

use std::sync::LazyLock;

use cache_runtime::{cached, rate_limit, RateLimited};
use cache_tests::{Clocked, Runs};

static OUTER_LIMIT: LazyLock<Clocked> = LazyLock::new(Clocked::new);
static OUTER_CACHE: LazyLock<Clocked> = LazyLock::new(Clocked::new);
static LIMIT_OUTSIDE_RUNS: Runs = Runs::new();
static CACHE_OUTSIDE_RUNS: Runs = Runs::new();

#[derive(Debug, Clone, PartialEq)]
struct Busy;

impl From<RateLimited> for Busy {
    fn from(_: RateLimited) -> Self {
        Busy
    }
}

#[rate_limit(limit = 2, window = 60, store = OUTER_LIMIT.cache)]
#[cached(ttl = 60, store = OUTER_LIMIT.cache)]
fn limit_outside(id: u64) -> Result<u64, Busy> {
    LIMIT_OUTSIDE_RUNS.record();
    Ok(id)
}

#[cached(ttl = 60, store = OUTER_CACHE.cache)]
#[rate_limit(limit = 1, window = 60, store = OUTER_CACHE.cache)]
fn cache_outside(id: u64) -> Result<u64, Busy> {
    CACHE_OUTSIDE_RUNS.record();
    Ok(id)
}

#[test]
fn rate_limit_over_cached_limits_hits_too() {
    assert_eq!(limit_outside(1), Ok(1)); // computed
    assert_eq!(limit_outside(1), Ok(1)); // a hit, still counted by the limit
    assert_eq!(limit_outside(1), Err(Busy));
    assert_eq!(LIMIT_OUTSIDE_RUNS.count(), 1);
    assert_eq!(limit_outside::stats().hits, 1);
}

#[test]
fn cached_over_rate_limit_limits_only_misses() {
    for _ in 0..5 {
        assert_eq!(cache_outside(1), Ok(1)); // one miss, then hits the limit never sees
    }
    assert_eq!(
        cache_outside(2),
        Err(Busy),
        "the one call per minute went to id 1"
    );
    assert_eq!(cache_outside(2), Err(Busy), "a rejection is not cached");
    assert_eq!(CACHE_OUTSIDE_RUNS.count(), 1);
    let stats = cache_outside::stats();
    assert_eq!((stats.hits, stats.misses), (4, 3));
}
