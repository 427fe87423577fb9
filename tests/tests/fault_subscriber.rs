//! The wake-up subscriber notices a half-open connection: when its connection goes silent for
//! good (the fault proxy strands it: open, nothing forwarded), a health `PING` fails and it
//! subscribes again on a new connection, instead of staying deaf.

use std::time::Duration;

use cache_runtime::{Cache, LockPolicy, Locks, RedisConfig};
use cache_tests::proxy::FaultProxy;
use cache_tests::servers::{command_counts, RedisServer, ServerOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deaf_subscriber_resubscribes() {
    let server = RedisServer::start(ServerOptions::default());
    let proxy = FaultProxy::start(server.port());
    let through_proxy = RedisConfig::from_url(&proxy.url())
        .unwrap()
        .connect_timeout(Duration::from_millis(300))
        .response_timeout(Duration::from_millis(300));
    let a = Cache::builder()
        .prefix("sub")
        .redis(through_proxy)
        .build()
        .unwrap();
    let b = Cache::from_url(&format!("{}?prefix=sub", server.url())).unwrap();
    let policy = LockPolicy::new(Duration::from_secs(10)).wait(Duration::from_secs(5));
    let (a_locks, b_locks) = (
        Locks::new(&a, "jobs", policy).unwrap(),
        Locks::new(&b, "jobs", policy).unwrap(),
    );

    // A waits for B's lock: its subscriber starts, through the proxy.
    let held = b_locks.acquire("x").await.unwrap();
    let waiter = tokio::spawn(async move { a_locks.acquire("x").await.map(drop) });
    let subscribes = || {
        command_counts(&mut server.raw())
            .get("subscribe")
            .copied()
            .unwrap_or(0)
    };
    cache_tests::eventually("A subscribed", || subscribes() == 1);
    held.release().await.unwrap();
    waiter.await.unwrap().unwrap();

    proxy.strand(); // every connection of A is now open and deaf
    cache_tests::eventually("the subscriber noticed and subscribed again", || {
        subscribes() >= 2
    });
}
