//! The near cache on a real server: a near hit sends no command (`INFO commandstats`); a write
//! by another client reaches this one's L1 through the server's invalidation push, and a random
//! mix of writes and reads never returns a value staler than the bound allows.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cache_runtime::{cached, Cache};
use cache_tests::servers::{command_counts, command_delta, RedisServer};
use cache_tests::Runs;

// The tests that count near hits or commands give the near cache a bound of 2 s: a shorter one
// lets a loaded machine's late `PONG` send a read to Redis, which is right, but not what they
// count. The bound itself is tested where it matters (the checker below, the faults).
static NEAR: OnceLock<Cache> = OnceLock::new();
static RUNS: Runs = Runs::new();

/// A read through the near cache: 0 when the key was never written.
#[cached(ttl = 600, key = "v:{id}", store = NEAR.get().unwrap())]
async fn read(id: u64) -> u64 {
    RUNS.record();
    0
}

fn near_hits() -> u64 {
    NEAR.get().unwrap().redis_stats().unwrap().near_hits
}

/// Another client of the same server (its own connection: another response timeout).
fn writer(server: &RedisServer) -> Cache {
    Cache::from_url(&format!("{}?prefix=n&response_timeout=300ms", server.url())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_hits_cost_no_command_and_writes_elsewhere_reach_the_l1() {
    let server = RedisServer::single();
    let url = format!(
        "{}?prefix=n&near_cache=1000&near_cache_max_lag=2s",
        server.url()
    );
    NEAR.set(Cache::from_url(&url).unwrap()).unwrap();
    let other = writer(&server);
    let mut raw = server.raw();

    // Stored by the other client; the first read fills the L1, then it answers.
    other.set("v:1", &7u64, None).await.unwrap();
    let armed = cache_tests::eventually_async(async || {
        read(1).await;
        near_hits() > 0
    })
    .await;
    assert!(armed, "the near cache answers once tracking is armed");
    assert_eq!(RUNS.count(), 0);

    // 200 near hits: no command reaches the server.
    let before = command_counts(&mut raw);
    let hits = near_hits();
    for _ in 0..200 {
        assert_eq!(read(1).await, 7);
    }
    let sent = command_delta(&before, &command_counts(&mut raw));
    assert!(
        sent.keys().all(|command| command == "ping"),
        "near hits sent {sent:?}"
    );
    assert_eq!(near_hits() - hits, 200);

    // The other client writes: once its invalidation arrives, the new value, and never the old
    // one again.
    other.set("v:1", &8u64, None).await.unwrap();
    let seen = cache_tests::eventually_async(async || read(1).await == 8).await;
    assert!(seen, "the write reached the near cache");
    for _ in 0..100 {
        assert_eq!(read(1).await, 8);
    }
    // Deleted elsewhere: computed here (0), no stale 8.
    other.delete("v:1").await.unwrap();
    let seen = cache_tests::eventually_async(async || read(1).await == 0).await;
    assert!(seen, "the delete reached the near cache");
    assert_eq!(RUNS.count(), 1);
    let stats = NEAR.get().unwrap().redis_stats().unwrap();
    assert!(stats.near_invalidations >= 2, "{stats:?}");
    assert_eq!(read::stats().near_hits, stats.near_hits);
}

static CHECKED: OnceLock<Cache> = OnceLock::new();

#[cached(ttl = 600, key = "c:{id}", store = CHECKED.get().unwrap())]
async fn checked(id: u64) -> u64 {
    let _ = id;
    0
}

/// 10⁴ random writes (another client) and reads (through the near cache) over 16 keys, with
/// pauses: every read returns a version at least as new as the last write that returned a
/// staleness bound or more before the read began.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_writes_and_reads_never_break_the_staleness_bound() {
    const KEYS: u64 = 16;
    let max_lag = Duration::from_millis(100);
    let server = RedisServer::single();
    let url = format!(
        "{}?prefix=n&near_cache=1000&near_cache_max_lag=100ms",
        server.url()
    );
    CHECKED.set(Cache::from_url(&url).unwrap()).unwrap();
    let other = writer(&server);
    let mut versions = vec![0u64; KEYS as usize];
    let mut written: HashMap<u64, Vec<(Instant, u64)>> = HashMap::new();
    for key in 0..KEYS {
        other.set(&format!("c:{key}"), &1u64, None).await.unwrap();
        versions[key as usize] = 1;
        written.entry(key).or_default().push((Instant::now(), 1));
    }
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut reads, mut bounded_reads) = (0, 0);
    for op in 0..10_000 {
        if op % 1_000 == 999 {
            tokio::time::sleep(max_lag + Duration::from_millis(20)).await;
        }
        let key = next() % KEYS;
        if next() % 2 == 0 {
            versions[key as usize] += 1;
            let version = versions[key as usize];
            other
                .set(&format!("c:{key}"), &version, None)
                .await
                .unwrap();
            written
                .entry(key)
                .or_default()
                .push((Instant::now(), version));
        } else {
            let started = Instant::now();
            let got = checked(key).await;
            let owed = written[&key]
                .iter()
                .filter(|(returned, _)| *returned + max_lag <= started)
                .map(|(_, version)| *version)
                .max()
                .unwrap_or(0);
            assert!(
                got >= owed,
                "key {key}: read {got}, but {owed} was written before the bound"
            );
            reads += 1;
            bounded_reads += u64::from(owed == versions[key as usize]);
        }
    }
    let near = checked::stats().near_hits;
    assert!(near > 0, "the near cache answered some reads");
    eprintln!("{reads} reads, {near} from the near cache, {bounded_reads} owed the latest version");
}

static STALE: OnceLock<Cache> = OnceLock::new();
static STALE_RUNS: Runs = Runs::new();

#[cached(ttl = 10, stale_while_revalidate = "1m", key = "s", store = STALE.get().unwrap())]
async fn stale_read() -> u64 {
    STALE_RUNS.record() as u64 + 1
}

/// A near entry is judged like any other: past its TTL, within stale-while-revalidate, the L1
/// serves it at once and one refresh runs; the refreshed value replaces it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_while_revalidate_works_on_near_entries() {
    let server = RedisServer::single();
    let clock = cache_runtime::ManualClock::new();
    let config = cache_runtime::RedisConfig::from_url(&server.url()).unwrap();
    let cache = Cache::builder()
        .prefix("ns")
        .redis(config)
        .near_cache(cache_runtime::MemoryStore::with_max_entries(100))
        .near_cache_max_lag(Duration::from_secs(2))
        .clock(clock.clone())
        .build()
        .unwrap();
    STALE.set(cache.clone()).unwrap();
    assert_eq!(stale_read().await, 1);
    let armed = cache_tests::eventually_async(async || {
        let hits = cache.redis_stats().unwrap().near_hits;
        stale_read().await;
        cache.redis_stats().unwrap().near_hits > hits
    })
    .await;
    assert!(armed);
    let near = cache.redis_stats().unwrap().near_hits;

    clock.advance(Duration::from_secs(11));
    assert_eq!(stale_read().await, 1, "the stale value, at once");
    assert_eq!(
        cache.redis_stats().unwrap().near_hits,
        near + 1,
        "served by the L1"
    );
    let refreshed = cache_tests::eventually_async(async || stale_read().await == 2).await;
    assert!(
        refreshed,
        "one refresh ran and its value replaced the stale one"
    );
    assert_eq!(STALE_RUNS.count(), 2);
    assert!(stale_read::stats().stale_served >= 1);
}
