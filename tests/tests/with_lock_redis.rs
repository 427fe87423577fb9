//! Locks on a real Redis server: owner-checked release and extend (stale and forged tokens), strictly increasing fencing
//! tokens and the fenced pattern against the unfenced one, renewal through a body 10× the lease,
//! a lease lost mid-body, 10⁴ cancelled acquisitions leaving nothing behind, a cluster, and
//! Redis down.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use cache_runtime::{lock, with_lock, Cache, LockError, LockPolicy, Locks, RedisConfig};
use cache_tests::servers::{keys_of, RedisCluster, RedisServer};

fn policy(ttl_ms: u64) -> LockPolicy {
    LockPolicy::new(Duration::from_millis(ttl_ms))
}

/// The lock keys a server holds (fencing counters left out).
fn lock_keys(server: &RedisServer) -> Vec<String> {
    keys_of(&mut server.raw())
        .into_keys()
        .filter(|key| key.contains(":lock:") && !key.ends_with(":fence"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_owner_can_neither_release_nor_extend() {
    let server = RedisServer::single();
    let cache = Cache::from_url(&server.url()).unwrap();
    let locks = Locks::new(
        &cache,
        "stale",
        policy(300).no_renewal().wait(Duration::ZERO),
    )
    .unwrap();
    let a = locks.acquire("k").await.unwrap();
    assert!(matches!(
        locks.acquire("k").await,
        Err(LockError::TimedOut { .. })
    ));
    tokio::time::sleep(Duration::from_millis(400)).await; // A's lease runs out
    let b = locks.acquire("k").await.unwrap();
    assert!(b.token() > a.token());
    assert!(matches!(
        a.extend(Duration::from_secs(10)).await,
        Err(LockError::NotOwner { .. })
    ));
    assert!(matches!(a.release().await, Err(LockError::NotOwner { .. })));
    assert_eq!(lock_keys(&server), [locks.key("k")], "B still holds it");
    assert!(matches!(
        locks.acquire("k").await,
        Err(LockError::TimedOut { .. })
    ));
    b.extend(Duration::from_secs(5)).await.unwrap();
    let pttl: i64 = redis::cmd("PTTL")
        .arg(locks.key("k"))
        .query(&mut server.raw())
        .unwrap();
    assert!(pttl > 1_000, "extended: {pttl} ms");
    b.release().await.unwrap();
    assert!(lock_keys(&server).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_token_can_neither_release_nor_extend() {
    let server = RedisServer::single();
    let cache = Cache::from_url(&server.url()).unwrap();
    let locks = Locks::new(&cache, "forged", policy(5_000).no_renewal()).unwrap();
    let guard = locks.acquire("k").await.unwrap();
    let key = locks.key("k");
    let mut raw = server.raw();
    let owner: String = redis::cmd("GET").arg(&key).query(&mut raw).unwrap();
    let (release, extend) = cache_runtime::__private::lock_scripts();
    for forged in ["", "0", "forged", &owner[1..], &format!("{owner} ")] {
        let released: i64 = redis::Script::new(release)
            .key(&key)
            .arg(forged)
            .arg("cache-runtime:filled")
            .invoke(&mut raw)
            .unwrap();
        let extended: i64 = redis::Script::new(extend)
            .key(&key)
            .arg(forged)
            .arg(600_000)
            .invoke(&mut raw)
            .unwrap();
        assert_eq!((released, extended), (0, 0), "forged token {forged:?}");
    }
    let pttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut raw).unwrap();
    assert!(pttl > 0 && pttl <= 5_000, "not extended: {pttl}");
    guard.release().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fencing_tokens_strictly_increase_even_after_the_counter_expires() {
    let server = RedisServer::single();
    let cache = Cache::from_url(&server.url()).unwrap();
    let locks = Locks::new(&cache, "fenced", policy(100)).unwrap();
    let mut last = 0;
    for round in 0..200 {
        let guard = locks.acquire("k").await.unwrap();
        assert!(
            guard.token() > last,
            "round {round}: {} after {last}",
            guard.token()
        );
        last = guard.token();
        if round % 50 == 49 {
            drop(guard); // released in the background
            tokio::time::sleep(Duration::from_millis(250)).await; // the counter's key expires
        } else {
            guard.release().await.unwrap();
        }
    }
    let keys = keys_of(&mut server.raw());
    assert!(
        keys.values().all(|&pttl| pttl > 0),
        "every key expires: {keys:?}"
    );
}

/// The resource of the fencing test: a value and the largest token that wrote it. A write
/// with a smaller token than one already seen is refused; that is the documented pattern.
const FENCED_WRITE: &str = r"
local seen = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[1]) < seen then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('SET', KEYS[1], ARGV[2])
return 1
";

/// Increments under a 200 ms lease without renewal; every 5th section pauses 350 ms between
/// its read and its write, past its lease. Returns (increments that reported success, final
/// value).
async fn increments_with_pauses(server: &RedisServer, name: &str, fenced: bool) -> (u64, i64) {
    let cache = Cache::from_url(&server.url()).unwrap();
    let locks = Locks::new(
        &cache,
        name,
        policy(200).no_renewal().wait(Duration::from_secs(10)),
    )
    .unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let succeeded = Arc::new(AtomicU64::new(0));
    let script = redis::Script::new(FENCED_WRITE);
    let (value_key, token_key) = (format!("{name}:value"), format!("{name}:token"));
    let tasks: Vec<_> = (0..4)
        .map(|task| {
            let (locks, client, succeeded) = (locks.clone(), client.clone(), succeeded.clone());
            let (script, value_key, token_key) =
                (script.clone(), value_key.clone(), token_key.clone());
            tokio::spawn(async move {
                let mut raw = client.get_multiplexed_async_connection().await.unwrap();
                for i in 0..10 {
                    let guard = locks.acquire("resource").await.unwrap();
                    let value: i64 = redis::cmd("GET")
                        .arg(&value_key)
                        .query_async::<Option<i64>>(&mut raw)
                        .await
                        .unwrap()
                        .unwrap_or(0);
                    if (task + i) % 5 == 0 {
                        tokio::time::sleep(Duration::from_millis(350)).await;
                    }
                    let written = if fenced {
                        script
                            .key(&value_key)
                            .key(&token_key)
                            .arg(guard.token())
                            .arg(value + 1)
                            .invoke_async::<i64>(&mut raw)
                            .await
                            .unwrap()
                            == 1
                    } else {
                        redis::cmd("SET")
                            .arg(&value_key)
                            .arg(value + 1)
                            .exec_async(&mut raw)
                            .await
                            .unwrap();
                        true
                    };
                    if written {
                        succeeded.fetch_add(1, Ordering::SeqCst);
                    }
                    drop(guard);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let value: i64 = redis::cmd("GET")
        .arg(&value_key)
        .query(&mut server.raw())
        .unwrap();
    (succeeded.load(Ordering::SeqCst), value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fencing_tokens_stop_the_lost_updates_of_sections_paused_past_their_lease() {
    let server = RedisServer::single();
    let (unfenced_writes, unfenced_value) =
        increments_with_pauses(&server, "unfenced", false).await;
    assert!(
        (unfenced_value as u64) < unfenced_writes,
        "the sanity check: without fencing a paused holder overwrites ({unfenced_value} of {unfenced_writes})"
    );
    let (fenced_writes, fenced_value) = increments_with_pauses(&server, "fenced", true).await;
    assert_eq!(
        fenced_value as u64, fenced_writes,
        "fenced: no write accepted was lost"
    );
    assert!(
        fenced_writes < 40,
        "some stale writes were refused: {fenced_writes} of 40"
    );
}

static RENEWED: OnceLock<Cache> = OnceLock::new();
static INSIDE: AtomicU64 = AtomicU64::new(0);

#[with_lock(key = "long:{id}", ttl = "300ms", wait = 0, store = RENEWED.get().unwrap())]
async fn long_body(id: u64) -> Result<u64, LockError> {
    INSIDE.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(3_000)).await; // 10 leases
    assert!(lock::still_held());
    Ok(id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_running_ten_leases_keeps_the_lock() {
    let server = RedisServer::single();
    RENEWED
        .set(Cache::from_url(&server.url()).unwrap())
        .unwrap();
    let holder = tokio::spawn(long_body(1));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let mut refused = 0;
    while started.elapsed() < Duration::from_millis(2_500) {
        match long_body(1).await {
            Err(LockError::TimedOut { .. }) => refused += 1,
            other => panic!("a second holder: {other:?}"),
        }
        let pttl: i64 = redis::cmd("PTTL")
            .arg("cache:lock:{long:1}")
            .query(&mut server.raw())
            .unwrap();
        assert!(pttl > 0 && pttl <= 300, "renewed to a lease: {pttl}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused >= 20, "{refused}");
    assert_eq!(holder.await.unwrap().unwrap(), 1);
    assert_eq!(INSIDE.load(Ordering::SeqCst), 1);
    assert!(lock_keys(&server).is_empty());
    let stats = cache_runtime::lock_stats();
    let stats = stats
        .iter()
        .find(|s| s.name.ends_with("::long_body"))
        .unwrap();
    assert_eq!((stats.acquired, stats.lost), (1, 0));
    assert!(stats.timed_out >= 20);
}

static LOST: OnceLock<Cache> = OnceLock::new();

#[with_lock(key = "lost", ttl = "600ms", store = LOST.get().unwrap())]
async fn loses_its_lock() -> Result<(), LockError> {
    std::future::pending::<()>().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_lost_mid_body_cancels_it_within_a_third_of_the_lease() {
    let server = RedisServer::single();
    LOST.set(Cache::from_url(&server.url()).unwrap()).unwrap();
    let call = tokio::spawn(loses_its_lock());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _: () = redis::cmd("DEL")
        .arg("cache:lock:{lost}")
        .query(&mut server.raw())
        .unwrap();
    let deleted = Instant::now();
    let outcome = call.await.unwrap();
    assert!(
        matches!(outcome, Err(LockError::Lost { .. })),
        "{outcome:?}"
    );
    // Renewal runs every 200 ms: the loss is noticed at the next one (a loose bound).
    assert!(
        deleted.elapsed() < Duration::from_millis(600),
        "{:?}",
        deleted.elapsed()
    );
    let stats = cache_runtime::lock_stats();
    let stats = stats
        .iter()
        .find(|s| s.name.ends_with("::loses_its_lock"))
        .unwrap();
    assert_eq!((stats.acquired, stats.lost), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_cancelled_acquisitions_leave_no_lock_and_no_renewal() {
    let server = RedisServer::single();
    let cache = Cache::from_url(&server.url()).unwrap();
    let locks = Locks::new(
        &cache,
        "cancelled",
        policy(30_000).wait(Duration::from_millis(50)),
    )
    .unwrap();
    for i in 0..10_000u64 {
        let cancel_after = Duration::from_micros(i * 7_919 % 300);
        match tokio::time::timeout(cancel_after, locks.acquire("k")).await {
            Ok(Ok(guard)) if i % 2 == 0 => drop(guard), // dropped, released in the background
            Ok(Ok(guard)) => guard.release().await.unwrap(),
            Ok(Err(_)) | Err(_) => {}
        }
    }
    let stats = locks.stats();
    assert!(
        stats.acquired > 100,
        "some acquisitions completed: {stats:?}"
    );
    cache_tests::eventually("every lock released", || lock_keys(&server).is_empty());
    cache_tests::eventually("every renewal stopped", || lock::running_renewals() == 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_work_on_a_cluster() {
    let cluster = RedisCluster::start();
    let cache = Cache::from_url(&cluster.url()).unwrap();
    let locks = Locks::new(&cache, "cluster", policy(5_000).wait(Duration::ZERO)).unwrap();
    let mut last = 0;
    for order in 0..20 {
        let key = format!("order{order}");
        let guard = locks.acquire(&key).await.unwrap();
        assert!(locks.acquire(&key).await.is_err());
        assert!(guard.token() > 0);
        last = last.max(guard.token());
        guard.release().await.unwrap();
    }
    let keys = cluster.keys();
    assert!(keys.keys().all(|key| key.ends_with(":fence")), "{keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_fails_acquisition_within_the_budget_never_ok() {
    let server = RedisServer::start(Default::default());
    let config = RedisConfig::from_url(&server.url())
        .unwrap()
        .connect_timeout(Duration::from_millis(200))
        .response_timeout(Duration::from_millis(200));
    let cache = Cache::builder().redis(config).build().unwrap();
    let locks = Locks::new(&cache, "down", policy(5_000).wait(Duration::from_secs(5))).unwrap();
    locks.acquire("k").await.unwrap().release().await.unwrap();
    server.pause();
    for _ in 0..3 {
        let started = Instant::now();
        let outcome = locks.acquire("k").await;
        assert!(
            matches!(outcome, Err(LockError::Backend { .. })),
            "{outcome:?}"
        );
        assert!(
            started.elapsed() < Duration::from_millis(650),
            "{:?}",
            started.elapsed()
        );
    }
    server.resume();
    assert!(locks.stats().backend_errors >= 3);
}
