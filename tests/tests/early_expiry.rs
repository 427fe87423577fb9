//! Early expiry (XFetch) on the memory store: hits near expiry start exactly one background
//! refresh and every caller gets the stored value at once.

use std::sync::LazyLock;
use std::time::Duration;

use cache_runtime::cached;
use cache_tests::{eventually, Clocked, Runs};
use tokio::sync::Semaphore;

static RUNS: Runs = Runs::new();
static CACHE: LazyLock<Clocked> = LazyLock::new(|| Clocked::seeded(42));
/// Holds the refresh back until every reader is done, so the count cannot depend on timing.
static GATE: Semaphore = Semaphore::const_new(0);

/// beta·delta ≈ 10 × 20 ms = 200 ms: 1 ms before expiry a reader refreshes with probability
/// ≥ 0.995; right after a store, 10 s before expiry, with probability below e⁻⁵⁰.
#[cached(ttl = 10, early_expiry = 10.0, store = CACHE.cache)]
async fn hot(id: u64) -> u64 {
    let run = RUNS.record();
    if run == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await; // the measured compute time
    } else {
        GATE.acquire().await.expect("gate open").forget();
    }
    id * 100 + run as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_readers_near_expiry_start_one_refresh_and_none_waits() {
    assert_eq!(hot(1).await, 100);
    CACHE.clock.advance(Duration::from_millis(9_999));

    let readers: Vec<_> = (0..1_000).map(|_| tokio::spawn(hot(1))).collect();
    for reader in readers {
        assert_eq!(
            reader.await.unwrap(),
            100,
            "every reader gets the stored value"
        );
    }
    let stats = hot::stats();
    assert_eq!(stats.hits, 1_000);
    assert_eq!(stats.coalesced_waits, 0, "no caller waited");
    assert_eq!(stats.background_refreshes, 1, "one refresh for the key");

    GATE.add_permits(1);
    eventually("the refresh stored its value", || hot::stats().stores == 2);
    assert_eq!(RUNS.count(), 2, "the body ran once more, in the background");
    assert_eq!(hot(1).await, 101, "the refreshed value is served");
    assert_eq!(
        hot::stats().background_refreshes,
        1,
        "a fresh entry is not refreshed"
    );
}

static PLAIN_RUNS: Runs = Runs::new();
static PLAIN_CACHE: LazyLock<Clocked> = LazyLock::new(|| Clocked::seeded(7));

#[cached(ttl = 10, early_expiry = 10.0, store = PLAIN_CACHE.cache)]
fn plain_hot(id: u64) -> u64 {
    let run = PLAIN_RUNS.record();
    std::thread::sleep(Duration::from_millis(20));
    id * 100 + run as u64
}

#[test]
fn a_plain_fn_refreshes_on_a_thread_of_its_own() {
    assert_eq!(plain_hot(2), 200);
    PLAIN_CACHE.clock.advance(Duration::from_millis(9_999));
    assert_eq!(plain_hot(2), 200, "the caller gets the stored value");
    eventually("the refresh stored its value", || {
        plain_hot::stats().stores == 2
    });
    assert_eq!(plain_hot(2), 201);
    assert_eq!(PLAIN_RUNS.count(), 2);
    assert_eq!(plain_hot::stats().background_refreshes, 1);
}

static BORROW_RUNS: Runs = Runs::new();
static BORROW_CACHE: LazyLock<Clocked> = LazyLock::new(|| Clocked::seeded(9));

/// Borrows a parameter, so its refresh runs in the calling task.
#[cached(ttl = 10, early_expiry = 10.0, store = BORROW_CACHE.cache)]
async fn borrowing(name: &str) -> String {
    let run = BORROW_RUNS.record();
    tokio::time::sleep(Duration::from_millis(20)).await;
    format!("{name}{run}")
}

#[tokio::test]
async fn a_borrowing_fn_refreshes_in_the_calling_task() {
    assert_eq!(borrowing("a").await, "a0");
    BORROW_CACHE.clock.advance(Duration::from_millis(9_999));
    assert_eq!(
        borrowing("a").await,
        "a0",
        "the caller still gets the stored value"
    );
    assert_eq!(
        BORROW_RUNS.count(),
        2,
        "and it ran the refresh before returning"
    );
    assert_eq!(borrowing("a").await, "a1");
}
