//! Concurrent misses of one key run the body once; errors are shared and not stored; a cancelled
//! or panicking leader never leaves the others hanging.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cache_runtime::cached;
use cache_tests::Runs;

static COLD_RUNS: Runs = Runs::new();
static ERR_RUNS: Runs = Runs::new();
static CANCEL_RUNS: Runs = Runs::new();
static PANIC_RUNS: Runs = Runs::new();
static THREAD_RUNS: Runs = Runs::new();

/// Waits (by yielding, never by wall-clock deadlines) until `misses` callers have missed.
async fn until_misses(stats: fn() -> cache_runtime::FnStats, misses: u64) {
    while stats().misses < misses {
        tokio::task::yield_now().await;
    }
}

/// Waits until a body has started `runs` times: its caller leads the flight.
async fn until_runs(counter: &Runs, runs: usize) {
    while counter.count() < runs {
        tokio::task::yield_now().await;
    }
}

#[cached(ttl = 600)]
async fn cold(id: u64) -> u64 {
    COLD_RUNS.record();
    until_misses(cold::stats, 1_000).await;
    id * 2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_callers_of_a_cold_key_run_the_body_once() {
    let callers: Vec<_> = (0..1_000).map(|_| tokio::spawn(cold(21))).collect();
    for caller in callers {
        assert_eq!(caller.await.unwrap(), 42);
    }
    assert_eq!(COLD_RUNS.count(), 1);
    let stats = cold::stats();
    assert_eq!(stats.misses, 1_000);
    assert_eq!(stats.computes, 1);
    assert!(stats.coalesced_waits >= 900, "{stats:?}");
}

#[cached(ttl = 600)]
async fn failing(id: u64) -> Result<u64, String> {
    ERR_RUNS.record();
    until_misses(failing::stats, 50).await;
    Err(format!("{id} is unavailable"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_get_the_leaders_error_and_nothing_is_stored() {
    let callers: Vec<_> = (0..50).map(|_| tokio::spawn(failing(9))).collect();
    let mut errors = 0;
    for caller in callers {
        assert_eq!(caller.await.unwrap(), Err("9 is unavailable".to_string()));
        errors += 1;
    }
    assert_eq!(errors, 50);
    assert_eq!(failing::peek(&9).await, None);
    assert_eq!(failing::stats().stores, 0);
    // Every caller had missed before the first run ended; only one racing its join can run again.
    assert!(
        ERR_RUNS.count() <= 2,
        "concurrent callers shared runs: {}",
        ERR_RUNS.count()
    );
}

static RELEASE_CANCELLED: AtomicBool = AtomicBool::new(false);

#[cached(ttl = 600)]
async fn slow(id: u64) -> u64 {
    if CANCEL_RUNS.record() == 0 {
        // The first leader never finishes: it will be cancelled.
        std::future::pending::<()>().await;
    }
    while !RELEASE_CANCELLED.load(Ordering::SeqCst) {
        tokio::task::yield_now().await;
    }
    id + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_leader_hands_over_to_a_waiter() {
    let leader = tokio::spawn(slow(1));
    until_runs(&CANCEL_RUNS, 1).await;
    let follower = tokio::spawn(slow(1));
    until_misses(slow::stats, 2).await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    RELEASE_CANCELLED.store(true, Ordering::SeqCst);
    assert_eq!(follower.await.unwrap(), 2);
    assert_eq!(
        CANCEL_RUNS.count(),
        2,
        "the follower ran the body after the leader was dropped"
    );
    assert_eq!(slow(1).await, 2);
    assert_eq!(CANCEL_RUNS.count(), 2, "and stored its value");
}

#[cached(ttl = 600)]
async fn fragile(id: u64) -> u64 {
    let run = PANIC_RUNS.record();
    until_misses(fragile::stats, 2).await;
    if run == 0 {
        panic!("the first run panics");
    }
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_leader_hands_over_to_a_waiter() {
    let leader = tokio::spawn(fragile(5));
    until_runs(&PANIC_RUNS, 1).await;
    let follower = tokio::spawn(fragile(5));
    assert!(leader.await.unwrap_err().is_panic());
    assert_eq!(follower.await.unwrap(), 5);
    assert_eq!(PANIC_RUNS.count(), 2);
}

#[cached(ttl = 600)]
fn blocking(id: u64) -> u64 {
    THREAD_RUNS.record();
    while blocking::stats().misses < 8 {
        std::thread::sleep(Duration::from_millis(1));
    }
    id * 3
}

#[test]
fn plain_fn_callers_on_many_threads_run_the_body_once() {
    let results: Vec<u64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8).map(|_| scope.spawn(|| blocking(7))).collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    assert_eq!(results, [21; 8]);
    assert_eq!(THREAD_RUNS.count(), 1);
}
