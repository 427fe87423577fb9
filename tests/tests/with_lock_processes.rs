//! `#[with_lock]` across OS processes on one Redis: 4 processes × 4 tasks × 500 non-atomic
//! increments of one counter lose none and never overlap, and a holder killed with SIGKILL
//! holds the others up for about one lease.
//!
//! The children are this test binary run again on one ignored test, with `CACHE_URL` set. The
//! critical section is a read, a pause of 0–2 ms and a write (`GET`, `SET`): two holders at once
//! would lose increments. An overlap detector (`INCR inside` on entry, `DECR` on exit) records any
//! entry that finds someone else inside.

use std::hash::BuildHasher;
use std::process::Child;
use std::time::{Duration, Instant};

use cache_runtime::{with_lock, Cache, LockError};
use cache_tests::servers::{get_int, keys_of, rerun_ignored, RedisServer};

use redis::AsyncCommands;

const TASKS: usize = 4;
const INCREMENTS: usize = 500;

/// What an increment can fail with, as text for the child's panic message.
#[derive(Debug)]
struct Failed(#[allow(dead_code)] String);

impl From<LockError> for Failed {
    fn from(error: LockError) -> Self {
        Failed(error.to_string())
    }
}

impl From<redis::RedisError> for Failed {
    fn from(error: redis::RedisError) -> Self {
        Failed(error.to_string())
    }
}

#[with_lock(key = "counter", ttl = "2s", wait = "60s")]
async fn increment(raw: &mut redis::aio::MultiplexedConnection) -> Result<(), Failed> {
    let inside: i64 = raw.incr("inside", 1).await?;
    if inside != 1 {
        let _: i64 = raw.incr("overlaps", 1).await?;
    }
    let value: i64 = raw.get::<_, Option<i64>>("counter").await?.unwrap_or(0);
    let pause = std::hash::RandomState::new().hash_one(value) % 2_000; // 0–2 ms
    tokio::time::sleep(Duration::from_micros(pause)).await;
    let _: () = raw.set("counter", value + 1).await?;
    let _: i64 = raw.decr("inside", 1).await?;
    Ok(())
}

#[with_lock(key = "held", ttl = "2s", wait = "10s")]
async fn hold_forever() -> Result<(), LockError> {
    println!("holding");
    std::future::pending::<()>().await;
    Ok(())
}

/// One child, by `LOCK_MODE`: `increment` (4 tasks × 500) or `hold` (takes the lock and never
/// lets go until killed).
#[test]
#[ignore = "run as a child process by the tests below"]
fn child_takes_the_lock() {
    let url = std::env::var("CACHE_URL").expect("run me through a parent test");
    cache_runtime::set_default(Cache::from_url(&url).unwrap()).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = redis::Client::open(url).unwrap();
        if std::env::var("LOCK_MODE").as_deref() == Ok("hold") {
            hold_forever().await.unwrap();
            return;
        }
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move {
                    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
                    for _ in 0..INCREMENTS {
                        increment(&mut raw).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
}

fn child(server: &RedisServer, mode: &str) -> Child {
    let env = [("CACHE_URL", server.url()), ("LOCK_MODE", mode.to_owned())];
    rerun_ignored("child_takes_the_lock", &env)
}

#[test]
fn four_processes_increment_without_losing_or_overlapping() {
    let server = RedisServer::single();
    let children: Vec<Child> = (0..4).map(|_| child(&server, "increment")).collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "a child failed");
    }
    let mut raw = server.raw();
    assert_eq!(
        get_int(&mut raw, "counter"),
        (4 * TASKS * INCREMENTS) as i64
    );
    assert_eq!(get_int(&mut raw, "overlaps"), 0, "two holders at once");
    let locks: Vec<_> = keys_of(&mut raw)
        .into_iter()
        .filter(|(key, _)| key.starts_with("cache:lock:") && !key.ends_with(":fence"))
        .collect();
    assert!(locks.is_empty(), "locks left behind: {locks:?}");
}

#[test]
fn a_holder_killed_with_sigkill_holds_the_others_up_for_about_a_lease() {
    let server = RedisServer::single();
    let mut holder = child(&server, "hold");
    let mut raw = server.raw();
    let lock_key = "cache:lock:{held}";
    for _ in 0..1_000 {
        if keys_of(&mut raw).contains_key(lock_key) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        keys_of(&mut raw).contains_key(lock_key),
        "the child took the lock"
    );
    std::thread::sleep(Duration::from_millis(3_000)); // renewed past its first lease
    assert!(
        keys_of(&mut raw).contains_key(lock_key),
        "renewal keeps a live holder's lock"
    );
    holder.kill().unwrap(); // SIGKILL: no release, no more renewal
    holder.wait().unwrap();
    let killed = Instant::now();
    cache_runtime::set_default(Cache::from_url(&server.url()).unwrap()).unwrap();
    let acquired = cache_tests::block_on(take_held());
    let took = killed.elapsed();
    assert!(acquired.is_ok(), "{acquired:?}");
    // The lease is 2 s and was renewed at most 2/3 s before the kill; a waiter re-tries every
    // 50–150 ms. A generous bound, for a loaded machine.
    assert!(took < Duration::from_secs(4), "took {took:?}");
    assert!(
        took > Duration::from_millis(500),
        "the lease held the others up: {took:?}"
    );
}

#[with_lock(key = "held", ttl = "2s", wait = "10s")]
async fn take_held() -> Result<(), LockError> {
    Ok(())
}
