//! An ACL user as Redis 7 creates one (keys and commands, no Pub/Sub channel): a lock release
//! that deleted the lock says so, the wake-up subscriber is refused once and stops asking, and
//! waiters get the lock by re-reading.

use std::time::Duration;

use cache_runtime::{Cache, LockPolicy, Locks};
use cache_tests::servers::{
    rejected_calls, RedisServer, ServerOptions, ACL_PASSWORD, ACL_USER_NO_CHANNELS,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_channels_releases_and_waiters_reread() {
    let server = RedisServer::start(ServerOptions {
        acl_user: true,
        ..ServerOptions::default()
    });
    let url = format!(
        "redis://{ACL_USER_NO_CHANNELS}:{ACL_PASSWORD}@127.0.0.1:{}/0?prefix=acl",
        server.port()
    );
    let cache = Cache::from_url(&url).unwrap();
    let policy = LockPolicy::new(Duration::from_secs(5)).wait(Duration::from_secs(5));
    let locks = Locks::new(&cache, "jobs", policy).unwrap();

    let held = locks.acquire("x").await.unwrap();
    let waiter = tokio::spawn({
        let locks = locks.clone();
        async move { locks.acquire("x").await.map(|guard| guard.token()) }
    });
    // The waiter listens for the release: its subscriber is refused.
    cache_tests::eventually("the subscription was refused", || {
        rejected_calls(&server, "subscribe") >= 1
    });
    let first = held.token();
    held.release()
        .await
        .expect("a release that deleted the lock is Ok, whatever PUBLISH said");
    let token = waiter
        .await
        .unwrap()
        .expect("the waiter gets it by re-reading");
    assert!(token > first);

    // Refused once, never asked again.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(rejected_calls(&server, "subscribe"), 1);
}
