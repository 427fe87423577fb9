//! Plain `fn`s run the async algorithms through the runtime's own `block_on`: partition one
//! client from Redis with the fault proxy while another keeps talking to it. The partitioned
//! plain `fn` answers from its body (fail-open), a blocking lock acquisition reports the store,
//! the other client is untouched, and once the partition ends caching and locks come back and
//! no lease is left behind.

use std::sync::OnceLock;
use std::time::Duration;

use cache_runtime::{cached, Cache, LockError, LockPolicy, Locks, RedisConfig};
use cache_tests::proxy::FaultProxy;
use cache_tests::servers::{keys_of, RedisServer, ServerOptions};
use cache_tests::{eventually, Runs};

static PARTITIONED: OnceLock<Cache> = OnceLock::new();
static RUNS: Runs = Runs::new();

#[cached(ttl = 60, key = "report:{id}", lock_on_miss = "1s", store = PARTITIONED.get().unwrap())]
fn report(id: u64) -> u64 {
    RUNS.record();
    id * 7
}

#[test]
fn a_partitioned_plain_fn_answers_and_recovers_while_another_client_is_untouched() {
    let server = RedisServer::start(ServerOptions::default());
    let proxy = FaultProxy::start(server.port());
    let config = RedisConfig::from_url(&proxy.url())
        .unwrap()
        .connect_timeout(Duration::from_millis(200))
        .response_timeout(Duration::from_millis(200))
        .circuit_breaker(3, Duration::from_millis(200));
    let cache = Cache::builder()
        .prefix("plain")
        .redis(config)
        .build()
        .unwrap();
    PARTITIONED.set(cache.clone()).unwrap();
    let other = Cache::builder()
        .prefix("plain")
        .redis(RedisConfig::from_url(&server.url()).unwrap())
        .build()
        .unwrap();
    let policy = LockPolicy::new(Duration::from_secs(2)).wait(Duration::ZERO);
    let locks = Locks::new(&cache, "jobs", policy).unwrap();
    let other_locks = Locks::new(&other, "jobs", policy).unwrap();

    assert_eq!(report(1), 7);
    assert_eq!(report(1), 7);
    assert_eq!(RUNS.count(), 1);

    proxy.blackhole();
    for id in 2..6 {
        assert_eq!(
            report(id),
            id * 7,
            "the body answers while Redis is out of reach"
        );
    }
    assert_eq!(RUNS.count(), 5);
    assert!(report::stats().backend_errors >= 4);
    assert!(
        matches!(locks.acquire_blocking("a"), Err(LockError::Backend { .. })),
        "a blocking acquisition reports the store"
    );
    // The other client is not partitioned: it locks and releases as usual.
    let guard = other_locks.acquire_blocking("b").unwrap();
    guard.release_blocking().unwrap();

    proxy.resume();
    eventually("caching resumes on the partitioned client", || {
        report(9);
        keys_of(&mut server.raw()).contains_key("plain:report:9")
    });
    let runs = RUNS.count();
    assert_eq!(report(9), 63);
    assert_eq!(RUNS.count(), runs, "a hit again");
    let guard = locks.acquire_blocking("a").unwrap();
    assert!(guard.is_held());
    guard.release_blocking().unwrap();
    // Leases and locks whose replies were lost are released in the background or run out.
    eventually("no lease or lock is left in Redis", || {
        keys_of(&mut server.raw())
            .keys()
            .all(|key| !key.ends_with("\0lock") && !key.contains(":lock:{"))
    });
}
