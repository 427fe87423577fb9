//! Recursive cached functions: each `n` runs once, and nothing deadlocks.

use std::sync::Mutex;

use cache_runtime::cached;

static SYNC_SEEN: Mutex<Vec<u64>> = Mutex::new(Vec::new());
static ASYNC_SEEN: Mutex<Vec<u64>> = Mutex::new(Vec::new());

#[cached(ttl = 600)]
fn fib(n: u64) -> u64 {
    SYNC_SEEN.lock().unwrap().push(n);
    if n < 2 {
        n
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

#[cached(ttl = 600)]
async fn fib_async(n: u64) -> u64 {
    ASYNC_SEEN.lock().unwrap().push(n);
    if n < 2 {
        n
    } else {
        Box::pin(fib_async(n - 1)).await + Box::pin(fib_async(n - 2)).await
    }
}

fn each_once(seen: &Mutex<Vec<u64>>) {
    let mut seen = seen.lock().unwrap().clone();
    seen.sort_unstable();
    assert_eq!(seen, (0..=90).collect::<Vec<_>>());
}

#[test]
fn fib_90_runs_each_n_once() {
    assert_eq!(fib(90), 2_880_067_194_370_816_120);
    each_once(&SYNC_SEEN);
}

#[tokio::test]
async fn async_fib_90_runs_each_n_once() {
    assert_eq!(fib_async(90).await, 2_880_067_194_370_816_120);
    each_once(&ASYNC_SEEN);
}
