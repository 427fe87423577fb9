//! A lock holder learns it lost the lease before anyone else can hold it: holder A is
//! partitioned from Redis by the fault proxy (its extends go unanswered) while B, on its own
//! connection, waits for the lock. A's body is cancelled, and `still_held()` turns false, before
//! B acquires, in each of 20 partitions.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use cache_runtime::{lock, with_lock, Cache, LockError, LockPolicy, Locks, RedisConfig};
use cache_tests::proxy::FaultProxy;
use cache_tests::servers::{RedisServer, ServerOptions};

static HOLDER: OnceLock<Cache> = OnceLock::new();
/// When A first knew: `still_held()` said no, or its body was dropped (cancelled on loss).
static A_LOST_AT: Mutex<Option<Instant>> = Mutex::new(None);

fn record_loss() {
    A_LOST_AT.lock().unwrap().get_or_insert_with(Instant::now);
}

struct RecordDrop;

impl Drop for RecordDrop {
    fn drop(&mut self) {
        record_loss();
    }
}

#[with_lock(key = "fence:{round}", ttl = "300ms", wait = "2s", store = HOLDER.get().unwrap())]
async fn hold_until_lost(round: u64) -> Result<(), LockError> {
    let _record = (RecordDrop, round);
    for _ in 0..60_000 {
        if !lock::still_held() {
            record_loss();
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(()) // never reached in time: the lease is lost long before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_partitioned_holder_knows_before_anyone_else_acquires() {
    let server = RedisServer::start(ServerOptions::default());
    let proxy = FaultProxy::start(server.port());
    // Extends may hang far past the lease: only the holder's own deadline can save it.
    let holder = RedisConfig::from_url(&proxy.url())
        .unwrap()
        .connect_timeout(Duration::from_secs(1))
        .response_timeout(Duration::from_secs(2))
        .circuit_breaker(1_000, Duration::from_millis(10));
    HOLDER
        .set(
            Cache::builder()
                .prefix("fence")
                .redis(holder)
                .build()
                .unwrap(),
        )
        .unwrap();
    let other = Cache::builder()
        .prefix("fence")
        .redis(RedisConfig::from_url(&server.url()).unwrap())
        .build()
        .unwrap();
    // `key = "fence:{round}"` and `Locks` named "fence" lock the same resource.
    let policy = LockPolicy::new(Duration::from_millis(300)).wait(Duration::from_secs(3));
    let locks = Locks::new(&other, "fence", policy).unwrap();

    let mut gaps = Vec::new();
    for round in 0..20u64 {
        *A_LOST_AT.lock().unwrap() = None;
        let a = tokio::spawn(hold_until_lost(round));
        // Let A hold and renew (every 100 ms), then cut it off mid-lease.
        tokio::time::sleep(Duration::from_millis(150 + 7 * round)).await;
        proxy.blackhole();
        let b = locks
            .acquire(&round.to_string())
            .await
            .expect("B acquires once A's lease ran out");
        let b_acquired_at = Instant::now();
        let a_outcome = a.await.unwrap();
        assert!(
            matches!(a_outcome, Err(LockError::Lost { .. })),
            "round {round}: {a_outcome:?}"
        );
        let a_lost_at = A_LOST_AT.lock().unwrap().expect("A's body was dropped");
        assert!(
            a_lost_at < b_acquired_at,
            "round {round}: B acquired {:?} before A knew",
            a_lost_at - b_acquired_at
        );
        gaps.push(b_acquired_at - a_lost_at);
        drop(b);
        proxy.resume();
    }
    gaps.sort();
    eprintln!(
        "gap between A's loss and B's acquisition over 20 partitions (lease 300 ms, margin {:?}): \
         min {:?}, median {:?}, max {:?}",
        lock::safety_margin(Duration::from_millis(300)),
        gaps[0],
        gaps[10],
        gaps[19]
    );
}

/// The deadline follows the holder's own extends too: a guard extended past its first lease is
/// still held after that lease, and knows it when the extension runs out.
#[tokio::test]
async fn an_explicit_extend_moves_the_holders_deadline() {
    let server = RedisServer::single();
    let cache = Cache::from_url(&format!("{}?prefix=extend", server.url())).unwrap();
    let policy = LockPolicy::new(Duration::from_millis(200)).no_renewal();
    let locks = Locks::new(&cache, "jobs", policy).unwrap();
    let guard = locks.acquire("x").await.unwrap();
    guard.extend(Duration::from_millis(600)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await; // past the first lease
    assert!(guard.is_held(), "extended on the server, so still held");
    tokio::time::sleep(Duration::from_millis(400)).await; // past the extension
    assert!(!guard.is_held(), "the extension ran out");
}
