//! The body runs once per distinct key argument list, for async and plain functions.

use cache_runtime::cached;
use cache_tests::Runs;

static ASYNC_RUNS: Runs = Runs::new();
static SYNC_RUNS: Runs = Runs::new();
static DISTINCT_RUNS: Runs = Runs::new();

#[cached(ttl = 600)]
async fn greet(name: String, times: u8) -> String {
    ASYNC_RUNS.record();
    name.repeat(usize::from(times))
}

#[cached(ttl = 600)]
async fn label(name: String, times: u8) -> String {
    DISTINCT_RUNS.record();
    name.repeat(usize::from(times))
}

#[cached(ttl = "10m")]
fn area(width: u32, height: u32) -> u64 {
    SYNC_RUNS.record();
    u64::from(width) * u64::from(height)
}

#[tokio::test]
async fn repeat_calls_run_the_body_once() {
    for _ in 0..5 {
        assert_eq!(greet("ab".into(), 2).await, "abab");
    }
    assert_eq!(ASYNC_RUNS.count(), 1);
    let stats = greet::stats();
    assert_eq!(
        (stats.hits, stats.misses, stats.computes, stats.stores),
        (4, 1, 1, 1)
    );
}

#[tokio::test]
async fn distinct_arguments_are_distinct_entries() {
    assert_eq!(label("x".into(), 1).await, "x");
    assert_eq!(label("xy".into(), 1).await, "xy");
    assert_eq!(label("x".into(), 2).await, "xx");
    assert_eq!(label("x".into(), 1).await, "x");
    assert_eq!(DISTINCT_RUNS.count(), 3);
}

#[test]
fn plain_functions_are_cached_too() {
    assert_eq!(area(3, 4), 12);
    assert_eq!(area(3, 4), 12);
    assert_eq!(area(4, 3), 12);
    assert_eq!(SYNC_RUNS.count(), 2);
    assert_eq!(area::stats().hits, 1);
}
