//! `stale_while_revalidate` and `stale_if_error` on the memory store, on a manual clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::LazyLock;
use std::time::Duration;

use cache_runtime::cached;
use cache_tests::{eventually, Clocked, Runs};
use tokio::sync::Semaphore;

static RUNS: Runs = Runs::new();
static CACHE: LazyLock<Clocked> = LazyLock::new(Clocked::new);
static GATE: Semaphore = Semaphore::const_new(0);

#[cached(ttl = 10, stale_while_revalidate = "1m", store = CACHE.cache)]
async fn config(id: u64) -> u64 {
    let run = RUNS.record();
    if run > 0 {
        GATE.acquire().await.expect("gate open").forget();
    }
    id * 10 + run as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_ttl_the_stale_value_is_served_while_one_refresh_runs() {
    assert_eq!(config(1).await, 10);
    CACHE.clock.advance(Duration::from_secs(11));
    for _ in 0..50 {
        assert_eq!(config(1).await, 10, "stale, at once");
    }
    let stats = config::stats();
    assert_eq!((stats.stale_served, stats.background_refreshes), (50, 1));
    GATE.add_permits(1);
    eventually("the refresh stored", || config::stats().stores == 2);
    assert_eq!(config(1).await, 11);
    assert_eq!(RUNS.count(), 2);

    CACHE.clock.advance(Duration::from_secs(10 + 60));
    GATE.add_permits(1);
    assert_eq!(config(1).await, 12, "past the window the call computes");
}

static FAILING: AtomicBool = AtomicBool::new(false);
static RATE_RUNS: Runs = Runs::new();
static RATE_CACHE: LazyLock<Clocked> = LazyLock::new(Clocked::new);

#[cached(ttl = 10, stale_if_error = "1h", store = RATE_CACHE.cache)]
async fn rate(pair: String) -> Result<f64, String> {
    RATE_RUNS.record();
    match FAILING.load(Ordering::SeqCst) {
        true => Err(format!("{pair}: upstream down")),
        false => Ok(1.25),
    }
}

#[tokio::test]
async fn a_failure_within_the_window_returns_the_stale_value_and_keeps_the_entry() {
    assert_eq!(rate("EURUSD".into()).await, Ok(1.25));
    FAILING.store(true, Ordering::SeqCst);
    RATE_CACHE.clock.advance(Duration::from_secs(11));
    assert_eq!(
        rate("EURUSD".into()).await,
        Ok(1.25),
        "stale, not the error"
    );
    assert_eq!(rate("EURUSD".into()).await, Ok(1.25), "the entry was kept");
    let stats = rate::stats();
    assert_eq!((RATE_RUNS.count(), stats.stale_served), (3, 2));
    assert_eq!(stats.stores, 1, "the stale value was not stored again");

    RATE_CACHE.clock.advance(Duration::from_secs(3600));
    assert_eq!(
        rate("EURUSD".into()).await,
        Err("EURUSD: upstream down".into()),
        "past the window the error comes through"
    );
}

static PANIC_RUNS: Runs = Runs::new();
static PANIC_CACHE: LazyLock<Clocked> = LazyLock::new(Clocked::new);

#[cached(ttl = 10, stale_if_error = "1h", store = PANIC_CACHE.cache)]
fn shaky(id: u64) -> u64 {
    if PANIC_RUNS.record() > 0 {
        panic!("the backend of {id} fell over");
    }
    id
}

#[test]
fn a_panic_within_the_window_returns_the_stale_value() {
    assert_eq!(shaky(5), 5);
    PANIC_CACHE.clock.advance(Duration::from_secs(11));
    assert_eq!(shaky(5), 5, "stale, not the panic");
    assert_eq!(shaky::stats().stale_served, 1);
    PANIC_CACHE.clock.advance(Duration::from_secs(3600));
    let outcome = std::panic::catch_unwind(|| shaky(5));
    assert!(outcome.is_err(), "past the window the panic goes on");
}
