//! The near cache when tracking breaks: its connection blackholed or cut (the fault proxy between
//! this client and the server), the server restarted, and a reply that raced a write. The L1
//! never answers past its staleness bound without having heard the server, never keeps a value
//! that raced an invalidation, and resumes by itself. Counted by near hits, body runs and the
//! values read.

use std::sync::OnceLock;
use std::time::Duration;

use cache_runtime::{cached, Cache};
use cache_tests::proxy::{Direction, Fault, FaultProxy};
use cache_tests::servers::RedisServer;
use cache_tests::Runs;

const MAX_LAG: Duration = Duration::from_millis(100);

/// A near cache with a 100 ms bound, whose calls give up on Redis after 150 ms.
fn near_cache(url: &str, prefix: &str) -> Cache {
    Cache::from_url(&format!(
        "{url}?prefix={prefix}&near_cache=1000&near_cache_max_lag=100ms&response_timeout=150ms&circuit_cooldown=100ms"
    ))
    .unwrap()
}

/// Another client of the same server, directly (not through the proxy).
fn writer(server: &RedisServer, prefix: &str) -> Cache {
    Cache::from_url(&format!(
        "{}?prefix={prefix}&response_timeout=300ms",
        server.url()
    ))
    .unwrap()
}

fn near_hits(cache: &Cache) -> u64 {
    cache.redis_stats().unwrap().near_hits
}

/// Reads until the near cache answers.
async fn until_near_hit(cache: &Cache, read: impl AsyncFn() -> u64) -> bool {
    cache_tests::eventually_async(async || {
        let before = near_hits(cache);
        read().await;
        near_hits(cache) > before
    })
    .await
}

static SILENT: OnceLock<Cache> = OnceLock::new();
static SILENT_RUNS: Runs = Runs::new();

#[cached(ttl = 600, key = "k", store = SILENT.get().unwrap())]
async fn silent() -> u64 {
    SILENT_RUNS.record();
    1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_tracking_connection_stops_the_l1_within_the_bound() {
    let server = RedisServer::single();
    let proxy = FaultProxy::start(server.port());
    let cache = SILENT.get_or_init(|| near_cache(&proxy.url(), "bh"));
    assert!(until_near_hit(cache, silent).await);

    proxy.blackhole();
    tokio::time::sleep(MAX_LAG + Duration::from_millis(30)).await;
    let hits = near_hits(cache);
    for _ in 0..5 {
        assert_eq!(silent().await, 1, "fail-open: the body answers");
    }
    assert_eq!(
        near_hits(cache),
        hits,
        "no L1 answer past the bound while nothing is heard"
    );
    assert!(SILENT_RUNS.count() >= 2, "the reads went past the L1");

    proxy.resume();
    assert!(
        until_near_hit(cache, silent).await,
        "caching in the L1 resumes by itself"
    );
}

static CUT: OnceLock<Cache> = OnceLock::new();

#[cached(ttl = 600, key = "k", store = CUT.get().unwrap())]
async fn cut_read() -> u64 {
    0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_tracking_connection_flushes_the_l1_and_rearms() {
    let server = RedisServer::single();
    let proxy = FaultProxy::start(server.port());
    let other = writer(&server, "cut");
    other.set("k", &5u64, None).await.unwrap();
    let cache = CUT.get_or_init(|| near_cache(&proxy.url(), "cut"));
    assert!(until_near_hit(cache, cut_read).await);
    let flushes = cache.redis_stats().unwrap().near_flushes;

    proxy.cut();
    // A write while tracking is down is never missed: the L1 was flushed and re-armed.
    other.set("k", &6u64, None).await.unwrap();
    let flushed =
        cache_tests::eventually_async(async || cache.redis_stats().unwrap().near_flushes > flushes)
            .await;
    assert!(flushed, "the cut flushed the L1");
    let seen = cache_tests::eventually_async(async || cut_read().await == 6).await;
    assert!(seen);
    assert!(
        until_near_hit(cache, cut_read).await,
        "the L1 answers again"
    );
    assert_eq!(cut_read().await, 6);
}

static RESTARTED: OnceLock<Cache> = OnceLock::new();
static RESTARTED_RUNS: Runs = Runs::new();

#[cached(ttl = 600, key = "k", store = RESTARTED.get().unwrap())]
async fn restarted() -> u64 {
    RESTARTED_RUNS.record();
    100 + RESTARTED_RUNS.count() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_empties_the_l1() {
    let mut server = RedisServer::start(Default::default());
    let cache = RESTARTED.get_or_init(|| near_cache(&server.url(), "rs"));
    assert!(until_near_hit(cache, restarted).await);
    let first = restarted().await;

    server.restart(); // empty: the entry is gone
    tokio::time::sleep(MAX_LAG + Duration::from_millis(30)).await;
    let after = restarted().await;
    assert_ne!(
        after, first,
        "the L1 kept a value the restarted server no longer has"
    );
    assert!(
        until_near_hit(cache, restarted).await,
        "caching resumes by itself"
    );
}

static RACED: OnceLock<Cache> = OnceLock::new();

#[cached(ttl = 600, key = "k", store = RACED.get().unwrap())]
async fn raced() -> u64 {
    0
}

/// The reply of this client's `GET` is held back while another client writes the key; the
/// invalidation of that write is held back with it (both come through the proxy), and they are
/// let go either in order (a delay) or together (a blackhole lifted: which connection's bytes
/// come first is up to the scheduler; here the invalidation came first in every run seen, and a
/// fill that ignored its ticket kept the old value in round 1). Whichever arrives first, the old
/// value does not stay in the L1. (`near.rs`'s unit tests provoke both orders exactly.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_that_raced_a_write_does_not_stay_in_the_l1() {
    let server = RedisServer::single();
    let proxy = FaultProxy::start(server.port());
    let other = writer(&server, "race");
    let cache = RACED.get_or_init(|| {
        let url = format!(
            "{}?prefix=race&near_cache=1000&near_cache_max_lag=2s&response_timeout=1s",
            proxy.url()
        );
        Cache::from_url(&url).unwrap()
    });
    for round in 0..10u64 {
        let (old, new) = (round * 2 + 1, round * 2 + 2);
        other.set("k", &old, None).await.unwrap();
        let heard = cache_tests::eventually_async(async || raced().await == old).await;
        assert!(heard, "round {round}");
        // An own write of the key's TTL: it leaves the L1 here, its value stays in Redis, so
        // the next read is a GET.
        cache.expire("k", Duration::from_secs(600)).await.unwrap();
        let hold = match round % 2 {
            0 => Fault::Delay(Duration::from_millis(150)),
            _ => Fault::Blackhole,
        };
        proxy.set(Direction::ToClient, hold);
        let reading = tokio::spawn(raced());
        tokio::time::sleep(Duration::from_millis(30)).await;
        other.set("k", &new, None).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        proxy.set(Direction::ToClient, Fault::Pass);
        assert_eq!(
            reading.await.unwrap(),
            old,
            "round {round}: the GET was served first"
        );
        let settled = cache_tests::eventually_async(async || raced().await == new).await;
        assert!(settled, "round {round}: the old value stayed in the L1");
        for _ in 0..20 {
            assert_eq!(raced().await, new, "round {round}");
        }
    }
    let stats = cache.redis_stats().unwrap();
    assert!(stats.near_hits > 0, "{stats:?}");
}

static DROPPED: OnceLock<Cache> = OnceLock::new();

#[cached(ttl = 600, key = "k", store = DROPPED.get().unwrap())]
async fn dropped_read() -> u64 {
    0
}

/// Calls dropped mid-way: a read whose `GET` reply is still held back (its fill ticket goes with
/// it), and an own `set` dropped before its reply (its key leaves the L1 as the call is
/// dropped). Afterwards the L1 answers what Redis holds, and keeps answering it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_dropped_mid_way_leave_no_stale_near_entry() {
    let server = RedisServer::single();
    let proxy = FaultProxy::start(server.port());
    let other = writer(&server, "drop");
    let cache = DROPPED.get_or_init(|| {
        let url = format!(
            "{}?prefix=drop&near_cache=100&near_cache_max_lag=2s&response_timeout=1s",
            proxy.url()
        );
        Cache::from_url(&url).unwrap()
    });
    other.set("k", &1u64, None).await.unwrap();
    assert!(until_near_hit(cache, dropped_read).await);

    // A read dropped while its GET reply is held; the key changes meanwhile.
    cache.expire("k", Duration::from_secs(600)).await.unwrap();
    proxy.set(
        Direction::ToClient,
        Fault::Delay(Duration::from_millis(200)),
    );
    let dropped = tokio::time::timeout(Duration::from_millis(50), dropped_read()).await;
    assert!(dropped.is_err(), "the read was dropped mid-way");
    other.set("k", &2u64, None).await.unwrap();
    proxy.set(Direction::ToClient, Fault::Pass);
    assert!(cache_tests::eventually_async(async || dropped_read().await == 2).await);

    // An own write dropped before its reply: whatever Redis ended up holding is what is served.
    proxy.set(
        Direction::ToClient,
        Fault::Delay(Duration::from_millis(200)),
    );
    let dropped =
        tokio::time::timeout(Duration::from_millis(50), cache.set("k", &3u64, None)).await;
    assert!(dropped.is_err(), "the set was dropped mid-way");
    proxy.set(Direction::ToClient, Fault::Pass);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held: u64 = other.get("k").await.unwrap().unwrap();
    assert!(held == 2 || held == 3, "{held}");
    assert!(cache_tests::eventually_async(async || dropped_read().await == held).await);
    assert!(until_near_hit(cache, dropped_read).await);
    for _ in 0..20 {
        assert_eq!(dropped_read().await, held);
    }
}
