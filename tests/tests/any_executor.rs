//! Nothing panics outside tokio or on a tokio runtime without timers: lock waits, `on_limit =
//! wait`, `lock_on_miss` waits and a `#[with_lock]` body's lease watch all time themselves on
//! the runtime crate's own driver. A wait of `Duration::MAX` means "no limit", not a panic.

use std::future::Future;
use std::sync::{Arc, LazyLock, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use cache_runtime::{
    cached, lock, with_lock, Cache, LockError, LockPolicy, Locks, RateLimitPolicy, RateLimiter,
};
use cache_tests::servers::RedisServer;

/// Polls `future` on this thread with no runtime at all.
fn block_on_without_tokio<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut context) {
            return value;
        }
        std::thread::park();
    }
}

/// Runs `future` on a current-thread tokio runtime built without timers (or I/O).
fn block_on_without_timers<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

static MEMORY: LazyLock<Cache> = LazyLock::new(|| Cache::builder().build().unwrap());
static REDIS: OnceLock<Cache> = OnceLock::new();

#[with_lock(key = "job:{id}", ttl = "2s", store = REDIS.get().unwrap())]
async fn locked_job(id: u64) -> Result<u64, LockError> {
    Ok(id + lock::fencing_token().map_or(0, |_| 1))
}

#[cached(ttl = 60, key = "wait:{id}", lock_on_miss = "2s", store = REDIS.get().unwrap())]
async fn waits_for_lease(id: u64) -> u64 {
    id
}

async fn memory_waits() {
    let policy = LockPolicy::new(Duration::from_secs(5)).wait(Duration::from_millis(150));
    let locks = Locks::new(&MEMORY, "exec", policy).unwrap();
    let held = locks.acquire("x").await.unwrap();
    assert!(matches!(
        locks.acquire("x").await,
        Err(LockError::TimedOut { .. })
    ));
    held.release().await.unwrap();

    let limiter = RateLimiter::new(
        &MEMORY,
        "exec",
        RateLimitPolicy::new(1, Duration::from_millis(100)),
    )
    .unwrap();
    let key = format!("{:?}", std::thread::current().id());
    limiter.check(&key).await.unwrap();
    limiter
        .check_or_wait(&key, Duration::from_secs(2))
        .await
        .expect("admitted after waiting its turn");
    limiter
        .check_or_wait(&key, Duration::MAX)
        .await
        .expect("no limit on the wait");
}

async fn redis_waits(server: &RedisServer, round: u64) {
    assert_eq!(locked_job(round).await, Ok(round + 1));
    // Another process holds the lease of `wait:{round}` for 300 ms: the call waits, then leads.
    redis::cmd("SET")
        .arg(format!("exec:wait:{round}\0lock"))
        .arg("someone-else")
        .arg("PX")
        .arg(300)
        .exec(&mut server.raw())
        .unwrap();
    assert_eq!(waits_for_lease(round).await, round);
    assert_eq!(waits_for_lease::stats().lock_waits, round + 1);
}

#[test]
fn waits_work_without_tokio_and_without_timers() {
    let server = RedisServer::single();
    REDIS
        .set(Cache::from_url(&format!("{}?prefix=exec", server.url())).unwrap())
        .unwrap();
    block_on_without_tokio(memory_waits());
    block_on_without_tokio(redis_waits(&server, 0));
    block_on_without_timers(memory_waits());
    block_on_without_timers(redis_waits(&server, 1));
}
