//! The near cache with ACL users: a user as Redis 7 creates one (every key and command, no
//! Pub/Sub channel) tracks as any other, since RESP3 invalidations are pushed on the connection,
//! not published; a user refused `CLIENT` never arms it: reads go to Redis and stay right, and
//! the refused `CLIENT TRACKING` is retried with a growing pause, not hammered.

use std::sync::OnceLock;
use std::time::Duration;

use cache_runtime::{cached, Cache};
use cache_tests::servers::{
    rejected_calls, RedisServer, ServerOptions, ACL_PASSWORD, ACL_USER_NO_CHANNELS,
};

static DEFAULT_USER: OnceLock<Cache> = OnceLock::new();

#[cached(ttl = 600, key = "k", store = DEFAULT_USER.get().unwrap())]
async fn as_default_user() -> u64 {
    0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_channels_tracks() {
    let server = RedisServer::start(ServerOptions {
        acl_user: true,
        ..ServerOptions::default()
    });
    let url = format!(
        "redis://{ACL_USER_NO_CHANNELS}:{ACL_PASSWORD}@127.0.0.1:{}/0?prefix=acl&near_cache=100&near_cache_max_lag=200ms",
        server.port()
    );
    let cache = DEFAULT_USER.get_or_init(|| Cache::from_url(&url).unwrap());
    let other = Cache::from_url(&format!(
        "{}?prefix=acl&response_timeout=300ms",
        server.url()
    ))
    .unwrap();
    for value in [1u64, 2] {
        other.set("k", &value, None).await.unwrap();
        let seen = cache_tests::eventually_async(async || {
            let hits = cache.redis_stats().unwrap().near_hits;
            as_default_user().await == value && cache.redis_stats().unwrap().near_hits > hits
        })
        .await;
        assert!(seen, "{value} from the L1");
    }
}

static REFUSED: OnceLock<Cache> = OnceLock::new();

#[cached(ttl = 600, key = "k", store = REFUSED.get().unwrap())]
async fn refused() -> u64 {
    0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_refused_client_tracking_reads_from_redis() {
    let server = RedisServer::single();
    let _: () = redis::cmd("ACL")
        .arg(
            &[
                "SETUSER", "notrack", "on", ">pw", "~*", "&*", "+@all", "-client",
            ][..],
        )
        .query(&mut server.raw())
        .unwrap();
    let url = format!(
        "redis://notrack:pw@127.0.0.1:{}/0?prefix=nt&near_cache=100&near_cache_max_lag=100ms",
        server.port()
    );
    let cache = REFUSED.get_or_init(|| Cache::from_url(&url).unwrap());
    let other = Cache::from_url(&format!(
        "{}?prefix=nt&response_timeout=300ms",
        server.url()
    ))
    .unwrap();
    other.set("k", &5u64, None).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    for value in [5u64, 6] {
        other.set("k", &value, None).await.unwrap();
        assert_eq!(refused().await, value, "read from Redis");
    }
    assert_eq!(cache.redis_stats().unwrap().near_hits, 0);
    let attempts = rejected_calls(&server, "client|tracking");
    assert!(
        (1..=10).contains(&attempts),
        "{attempts} refused arms in ~2 s"
    );
}
