//! Locks on the memory store: the same semantics within one process. Exclusive non-atomic
//! increments, waiters woken by a release, a lease lost on the clock cancels the body, and a
//! plain fn sees its fencing token.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::Duration;

use cache_runtime::{lock, with_lock, LockError, LockPolicy, Locks};
use cache_tests::{block_on, Clocked};

static SHARED: LazyLock<Clocked> = LazyLock::new(Clocked::new);
static COUNTER: AtomicU64 = AtomicU64::new(0);
static INSIDE: AtomicBool = AtomicBool::new(false);
static OVERLAPS: AtomicU64 = AtomicU64::new(0);

#[with_lock(key = "counter", ttl = 5, wait = "30s")]
async fn increment() -> Result<(), LockError> {
    if INSIDE.swap(true, Ordering::SeqCst) {
        OVERLAPS.fetch_add(1, Ordering::SeqCst);
    }
    let value = COUNTER.load(Ordering::SeqCst);
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_micros(value % 500)).await;
    COUNTER.store(value + 1, Ordering::SeqCst);
    INSIDE.store(false, Ordering::SeqCst);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increments_under_the_lock_are_exclusive_and_none_is_lost() {
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn(async {
                for _ in 0..200 {
                    increment().await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(COUNTER.load(Ordering::SeqCst), 1_600);
    assert_eq!(OVERLAPS.load(Ordering::SeqCst), 0);
    let stats = cache_runtime::lock_stats();
    let stats = stats
        .iter()
        .find(|s| s.name.ends_with("::increment"))
        .unwrap();
    assert_eq!(stats.acquired, 1_600);
    assert!(stats.waited > 0, "waiters were woken: {stats:?}");
}

#[test]
fn release_wakes_a_waiter_and_tokens_increase() {
    let locks = Locks::new(
        &SHARED.cache,
        "wake",
        LockPolicy::new(Duration::from_secs(60)).wait(Duration::from_secs(10)),
    )
    .unwrap();
    let first = locks.acquire_blocking("k").unwrap();
    let first_token = first.token();
    let waiter = {
        let locks = locks.clone();
        std::thread::spawn(move || locks.acquire_blocking("k").map(|guard| guard.token()))
    };
    std::thread::sleep(Duration::from_millis(200));
    first.release_blocking().unwrap();
    let second_token = waiter.join().unwrap().unwrap();
    assert!(second_token > first_token);
    assert_eq!(locks.stats().waited, 1);
}

static LOST: LazyLock<Clocked> = LazyLock::new(Clocked::new);

#[with_lock(key = "lost", ttl = "300ms", store = LOST.cache)]
async fn runs_until_cancelled() -> Result<(), LockError> {
    std::future::pending::<()>().await;
    Ok(())
}

#[test]
fn a_lease_lost_on_the_clock_cancels_the_body() {
    block_on(async {
        let call = tokio::spawn(runs_until_cancelled());
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The clock jumps past the lease: the next renewal (every 100 ms) finds it gone.
        LOST.clock.advance(Duration::from_secs(1));
        let outcome = call.await.unwrap();
        assert!(
            matches!(outcome, Err(LockError::Lost { .. })),
            "{outcome:?}"
        );
    });
    let stats = cache_runtime::lock_stats();
    let stats = stats
        .iter()
        .find(|s| s.name.ends_with("::runs_until_cancelled"))
        .unwrap();
    assert_eq!((stats.acquired, stats.lost), (1, 1));
}

#[with_lock(key = "report:{id}", ttl = 10, wait = 0, store = SHARED.cache)]
fn write_report(id: u64) -> Result<(u64, bool), LockError> {
    Ok((lock::fencing_token().unwrap() + id, lock::still_held()))
}

#[test]
fn a_plain_fn_sees_its_token_and_that_it_holds_the_lock() {
    let (first, held) = write_report(0).unwrap();
    assert!(held);
    let (second, _) = write_report(0).unwrap();
    assert!(second > first);
    assert_eq!(lock::fencing_token(), None, "outside the body");
    assert!(!lock::still_held());
}

static OUTLIVED: LazyLock<Clocked> = LazyLock::new(Clocked::new);

#[with_lock(key = "outlived", ttl = "300ms", renew = false, store = OUTLIVED.cache)]
fn outlives_its_lease() -> Result<u8, LockError> {
    OUTLIVED.clock.advance(Duration::from_secs(1)); // the lease runs out under the body
    Ok(7)
}

#[test]
fn a_body_that_outlives_its_lease_keeps_its_value_and_the_loss_is_counted() {
    assert_eq!(outlives_its_lease(), Ok(7));
    let stats = cache_runtime::lock_stats();
    let stats = stats
        .iter()
        .find(|s| s.name.ends_with("::outlives_its_lease"))
        .unwrap();
    assert_eq!((stats.acquired, stats.lost), (1, 1));
}
