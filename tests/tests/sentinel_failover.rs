//! Redis Sentinel: a primary, a replica and three Sentinels (`redis-server --sentinel`). Under
//! load, a forced failover and a crashed primary: every `#[cached]` call answers with the right
//! value, caching resumes on the new primary by itself (its keys, its body runs), and a lock
//! held across the failover is either still exclusive or reports its loss: never two holders
//! that both believe they hold it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use cache_runtime::{cached, Cache, LockPolicy, Locks};
use cache_tests::sentinels::SentinelGroup;
use cache_tests::Runs;
use redis::Commands;

/// Calls `call` over 50 keys until `stop`, checking every answer; how many calls answered.
fn load<F, Fut>(stop: Arc<AtomicBool>, call: F) -> tokio::task::JoinHandle<u64>
where
    F: Fn(u64) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = u64> + Send,
{
    tokio::spawn(async move {
        let answered = AtomicU64::new(0);
        let mut i = 0;
        while !stop.load(Ordering::Relaxed) {
            let id = i % 50;
            assert_eq!(call(id).await, id * 2, "a wrong answer for {id}");
            answered.fetch_add(1, Ordering::Relaxed);
            i += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        answered.into_inner()
    })
}

fn cache_for(group: &SentinelGroup, prefix: &str) -> Cache {
    let url = format!(
        "{}?prefix={prefix}&response_timeout=200ms&connect_timeout=300ms&circuit_cooldown=200ms",
        group.url()
    );
    Cache::from_url(&url).unwrap()
}

/// After a failover to `primary`: a new key is computed once, stored on the new primary, and
/// then a hit.
async fn caching_resumes_on(
    group: &SentinelGroup,
    primary: u16,
    call: impl AsyncFn(u64) -> u64,
    runs: &Runs,
    key: impl Fn(u64) -> String,
) {
    let mut raw = group
        .nodes
        .iter()
        .find(|node| node.port() == primary)
        .unwrap()
        .raw();
    let mut id = 1_000;
    // Until the store follows the new primary, a call may compute without storing.
    let resumed = cache_tests::eventually_async(async || {
        id += 1;
        call(id).await;
        raw.exists::<_, bool>(key(id)).unwrap()
    })
    .await;
    assert!(resumed, "a value reached the new primary");
    let before = runs.count();
    assert_eq!(call(id).await, id * 2);
    assert_eq!(runs.count(), before, "a hit on the new primary");
}

static FORCED: OnceLock<Cache> = OnceLock::new();
/// Runs for the keys the load does not touch (1000 and up).
static FORCED_RUNS: Runs = Runs::new();

#[cached(ttl = 600, key = "double:{id}", store = FORCED.get().unwrap())]
async fn forced_double(id: u64) -> u64 {
    if id >= 1_000 {
        FORCED_RUNS.record();
    }
    id * 2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_failover_mid_load() {
    let group = SentinelGroup::start();
    let cache = cache_for(&group, "forced");
    FORCED.set(cache.clone()).unwrap();
    cache
        .ping()
        .await
        .expect("the primary the Sentinels name answers");
    let first = group.primary_port().unwrap();

    let locks = Locks::new(&cache, "jobs", LockPolicy::new(Duration::from_secs(3))).unwrap();
    let held = locks.acquire("settle").await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let loader = load(stop.clone(), forced_double);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let group = tokio::task::spawn_blocking(move || {
        group.failover();
        group
    })
    .await
    .unwrap();
    let second = group.primary_port().unwrap();
    assert_ne!(first, second);

    caching_resumes_on(&group, second, forced_double, &FORCED_RUNS, |id| {
        format!("forced:double:{id}")
    })
    .await;

    // The lock taken on the old primary: another owner gets it only once the first has lost it.
    let other = Locks::new(&cache, "jobs", LockPolicy::new(Duration::from_secs(3))).unwrap();
    let extended = held.extend(Duration::from_secs(3)).await;
    match other.acquire("settle").await {
        Ok(_) => assert!(
            extended.is_err() || !held.is_held(),
            "two holders, and the first was not told"
        ),
        Err(error) => assert!(extended.is_ok() && held.is_held(), "{error}"),
    }

    stop.store(true, Ordering::Relaxed);
    let answered = loader.await.expect("no call failed or answered wrongly");
    assert!(answered > 50, "{answered} calls");
}

static CRASHED: OnceLock<Cache> = OnceLock::new();
/// Runs for the keys the load does not touch (1000 and up).
static CRASHED_RUNS: Runs = Runs::new();

#[cached(ttl = 600, key = "double:{id}", store = CRASHED.get().unwrap())]
async fn crashed_double(id: u64) -> u64 {
    if id >= 1_000 {
        CRASHED_RUNS.record();
    }
    id * 2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_primary_mid_load() {
    let mut group = SentinelGroup::start();
    let cache = cache_for(&group, "crashed");
    CRASHED.set(cache.clone()).unwrap();
    cache
        .ping()
        .await
        .expect("the primary the Sentinels name answers");
    let first = group.primary_port().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let loader = load(stop.clone(), crashed_double);
    tokio::time::sleep(Duration::from_millis(300)).await;

    group.node(first).kill();
    // While no primary answers, a lock is refused honestly: an error, never a pretend hold.
    let locks = Locks::new(&cache, "jobs", LockPolicy::new(Duration::from_secs(3))).unwrap();
    if let Err(error) = locks.acquire("during").await {
        assert!(
            matches!(error, cache_runtime::LockError::Backend { .. }),
            "{error}"
        );
    }
    let group = tokio::task::spawn_blocking(move || {
        group.wait_for_new_primary(first);
        group
    })
    .await
    .unwrap();
    let second = group.primary_port().unwrap();

    caching_resumes_on(&group, second, crashed_double, &CRASHED_RUNS, |id| {
        format!("crashed:double:{id}")
    })
    .await;
    let guard = locks
        .acquire("after")
        .await
        .expect("locks work on the new primary");
    guard.release().await.unwrap();

    stop.store(true, Ordering::Relaxed);
    let answered = loader.await.expect("no call failed or answered wrongly");
    assert!(answered > 50, "{answered} calls");
    let stats = crashed_double::stats();
    assert!(stats.backend_errors > 0, "the outage was seen: {stats:?}");
}

static NEAR: OnceLock<Cache> = OnceLock::new();

#[cached(ttl = 600, key = "k", store = NEAR.get().unwrap())]
async fn near_read() -> u64 {
    0
}

/// A near cache over Sentinel tracks the primary the Sentinels name, and re-arms on the new one
/// after a failover: a write made on the new primary reaches the L1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_near_cache_follows_the_failover() {
    let group = SentinelGroup::start();
    let near = NEAR.get_or_init(|| {
        let url = format!(
            "{}?prefix=nf&near_cache=100&near_cache_max_lag=200ms",
            group.url()
        );
        Cache::from_url(&url).unwrap()
    });
    let other = cache_for(&group, "nf");
    let converge = async |value: u64| {
        cache_tests::eventually_async(async || {
            let hits = near.redis_stats().unwrap().near_hits;
            near_read().await == value && near.redis_stats().unwrap().near_hits > hits
        })
        .await
    };
    other.set("k", &1u64, None).await.unwrap();
    assert!(converge(1).await, "tracking armed on the first primary");

    let group = tokio::task::spawn_blocking(move || {
        group.failover();
        group
    })
    .await
    .unwrap();
    // Written on the new primary (the writer follows it too).
    let written =
        cache_tests::eventually_async(async || other.set("k", &2u64, None).await.is_ok()).await;
    assert!(written);
    assert!(
        converge(2).await,
        "the write on the new primary reached the L1"
    );
    other.set("k", &3u64, None).await.unwrap();
    assert!(converge(3).await);

    // The primary crashes: tracking re-arms on the one the Sentinels name next.
    let mut group = group;
    let second = group.primary_port().unwrap();
    group.node(second).kill();
    let group = tokio::task::spawn_blocking(move || {
        group.wait_for_new_primary(second);
        group
    })
    .await
    .unwrap();
    let written =
        cache_tests::eventually_async(async || other.set("k", &4u64, None).await.is_ok()).await;
    assert!(written);
    assert!(
        converge(4).await,
        "the write after the crash reached the L1"
    );
    drop(group);
}
