//! Releases survive lost replies and cancellation:
//! - `lock_on_miss` releases a lease whose acquisition reply was lost: the `SET NX` reaches the
//!   server but its reply comes after the time budget (`CLIENT PAUSE … WRITE` holds writes while
//!   reads go on), so the caller cannot know it holds the lease;
//! - calls dropped at any point leave no lease;
//! - a lock release whose reply was lost is retried in the background.

use std::sync::OnceLock;
use std::time::Duration;

use cache_runtime::{cached, Cache, RedisConfig};
use cache_tests::servers::RedisServer;

static CACHE: OnceLock<Cache> = OnceLock::new();

#[cached(ttl = 60, key = "slow:{id}", lock_on_miss = "30s", store = CACHE.get().unwrap())]
async fn slow(id: u64) -> u64 {
    id
}

fn exists(server: &RedisServer, key: &str) -> bool {
    redis::cmd("EXISTS")
        .arg(key)
        .query(&mut server.raw())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_whose_reply_timed_out_is_released() {
    let server = RedisServer::start(Default::default());
    let config = RedisConfig::from_url(&server.url())
        .unwrap()
        .connect_timeout(Duration::from_millis(200))
        .response_timeout(Duration::from_millis(200));
    CACHE
        .set(
            Cache::builder()
                .prefix("lease")
                .redis(config)
                .build()
                .unwrap(),
        )
        .unwrap();
    // Writes wait 1.5 s on the server; the GET is answered, the SET NX is not in time.
    redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1_500)
        .arg("WRITE")
        .exec(&mut server.raw())
        .unwrap();
    assert_eq!(slow(7).await, 7, "fails open: computed without the lease");
    let lease = "lease:slow:7\0lock";
    // Once the pause ends the SET NX takes the lease (for 30 s) and the release follows it.
    cache_tests::eventually("the pause ended", || {
        redis::cmd("CLIENT")
            .arg("UNPAUSE")
            .exec(&mut server.raw())
            .is_ok()
            && !exists(&server, lease)
    });
    let runs_before = slow::stats().computes;
    assert_eq!(slow(8).await, 8);
    assert_eq!(slow::stats().computes, runs_before + 1);
}

static CANCELLED: OnceLock<Cache> = OnceLock::new();

#[cached(ttl = 60, key = "cancel:{id}", lock_on_miss = "30s", store = CANCELLED.get().unwrap())]
async fn slow_body(id: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(5)).await;
    id
}

/// Calls dropped at every point of the way (the GET, the lease's `SET NX`, the re-read, the
/// body, the store) leave no lease behind: each one that may hold it releases it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_cancelled_anywhere_leave_no_lease() {
    let server = RedisServer::start(Default::default());
    CANCELLED
        .set(Cache::from_url(&format!("{}?prefix=cancel", server.url())).unwrap())
        .unwrap();
    for id in 0..300u64 {
        let after = Duration::from_micros((id * 37) % 8_000);
        let _ = tokio::time::timeout(after, slow_body(id)).await;
    }
    cache_tests::eventually("every lease released", || {
        cache_tests::servers::keys_of(&mut server.raw())
            .keys()
            .all(|key| !key.ends_with("\0lock"))
    });
}

/// A lock release whose reply is lost (writes paused past the time budget, and the release
/// script not yet loaded on this server, so redis-rs's reload never runs) is retried in the
/// background: the lock goes, rather than staying for its whole lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_release_whose_reply_timed_out_is_retried() {
    let server = RedisServer::start(Default::default());
    let config = RedisConfig::from_url(&server.url())
        .unwrap()
        .connect_timeout(Duration::from_millis(200))
        .response_timeout(Duration::from_millis(200));
    let cache = Cache::builder()
        .prefix("rel")
        .redis(config)
        .build()
        .unwrap();
    let policy = cache_runtime::LockPolicy::new(Duration::from_secs(30)).no_renewal();
    let locks = cache_runtime::Locks::new(&cache, "jobs", policy).unwrap();
    let guard = locks.acquire("x").await.unwrap();
    redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1_000)
        .arg("WRITE")
        .exec(&mut server.raw())
        .unwrap();
    assert!(guard.release().await.is_err(), "no reply within the budget");
    cache_tests::eventually("the lock was released after all", || {
        !exists(&server, "rel:lock:{jobs:x}")
    });
}
