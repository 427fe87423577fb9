//! `lock_on_miss` releases a lease whose acquisition reply was lost: the `SET NX` reaches the
//! server but its reply comes after the time budget (`CLIENT PAUSE … WRITE` holds writes while
//! reads go on), so the caller cannot know it holds the lease. It releases it in the
//! background rather than leaving it to block other processes for its whole lease.

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
