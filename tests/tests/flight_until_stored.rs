//! On Redis a computed value reaches this process's other callers through its flight until its
//! `SET` is answered: a caller whose `GET` (a batch's `MGET`) went out before the `SET` and came
//! back after the computation ended takes the value; it neither computes it again nor starts
//! another refresh.
//! The fault proxy holds the replies back, so that such a `GET` is surely under way: a body ends
//! only once the server has run the other caller's read.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use cache_runtime::{cached, Cache, ManualClock, RedisConfig};
use cache_tests::proxy::{Direction, Fault, FaultProxy};
use cache_tests::servers::{command_counts, RedisServer};
use cache_tests::{eventually_async, Runs};

/// A test's server, watched through `INFO commandstats`: the commands it ran, and how many of
/// one command it must have run before a body ends.
struct WatchedServer {
    server_url: OnceLock<String>,
    awaited: Mutex<(&'static str, u64)>,
}

impl WatchedServer {
    const fn new() -> Self {
        WatchedServer {
            server_url: OnceLock::new(),
            awaited: Mutex::new(("get", u64::MAX)),
        }
    }

    /// How many `command`s (`get`, `mget`, `set`) the server has run.
    async fn ran(&self, command: &'static str) -> u64 {
        let url = self.server_url.get().expect("the server's URL").clone();
        tokio::task::spawn_blocking(move || {
            let mut raw = redis::Client::open(url).unwrap().get_connection().unwrap();
            command_counts(&mut raw).get(command).copied().unwrap_or(0)
        })
        .await
        .unwrap()
    }

    /// From now on, a body waits until the server has run `more` `command`s than it has now.
    async fn expect_more(&self, command: &'static str, more: u64) {
        let count = self.ran(command).await + more;
        *self.awaited.lock().unwrap() = (command, count);
    }

    /// Waits until the server has run the awaited count (at most 10 s: past that the test fails
    /// by its counts, not by hanging).
    async fn reached(&self) {
        for _ in 0..2_000 {
            let (command, count) = *self.awaited.lock().unwrap();
            if self.ran(command).await >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// A cache on `url`, with `budget` to connect and for each reply, connected before it is
/// returned.
async fn connected_cache(url: &str, budget: Duration, clock: Option<ManualClock>) -> Cache {
    let config = RedisConfig::from_url(url)
        .unwrap()
        .connect_timeout(budget)
        .response_timeout(budget);
    let mut builder = Cache::builder().prefix("flight").redis(config);
    if let Some(clock) = clock {
        builder = builder.clock(clock);
    }
    let cache = builder.build().unwrap();
    cache.ping().await.unwrap();
    cache
}

/// A cache on a fresh server through a proxy that, once the connection is up, holds every reply
/// back 300 ms.
async fn cache_with_late_replies(
    watched: &WatchedServer,
    clock: Option<ManualClock>,
) -> (Cache, RedisServer, FaultProxy) {
    let server = RedisServer::single();
    let proxy = FaultProxy::start(server.port());
    watched.server_url.set(server.url()).unwrap();
    let cache = connected_cache(&proxy.url(), Duration::from_secs(5), clock).await;
    proxy.set(
        Direction::ToClient,
        Fault::Delay(Duration::from_millis(300)),
    );
    (cache, server, proxy)
}

static MISS: OnceLock<Cache> = OnceLock::new();
static MISS_RUNS: Runs = Runs::new();
static MISS_SERVER: WatchedServer = WatchedServer::new();

#[cached(ttl = 60, key = "miss:{id}", store = MISS.get().unwrap())]
async fn computed_once(id: u64) -> u64 {
    if MISS_RUNS.record() == 0 {
        MISS_SERVER.reached().await;
    }
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_that_raced_the_set_takes_the_value_instead_of_computing_it_again() {
    let (cache, _server, _proxy) = cache_with_late_replies(&MISS_SERVER, None).await;
    MISS.set(cache).unwrap();
    let first = tokio::spawn(computed_once(7));
    while MISS_RUNS.count() == 0 {
        tokio::task::yield_now().await;
    }
    // The first caller leads and computes; the second one's GET misses, and its reply comes
    // back after the computation ended, while the SET's reply is held back behind it.
    MISS_SERVER.expect_more("get", 1).await;
    let second = tokio::spawn(computed_once(7));
    assert_eq!(first.await.unwrap(), 7);
    assert_eq!(second.await.unwrap(), 7);
    assert_eq!(MISS_RUNS.count(), 1, "the body ran once");
    let stats = computed_once::stats();
    assert_eq!((stats.misses, stats.coalesced_waits), (2, 1), "{stats:?}");
}

static SWR: OnceLock<Cache> = OnceLock::new();
static SWR_RUNS: Runs = Runs::new();
static SWR_SERVER: WatchedServer = WatchedServer::new();

#[cached(ttl = 10, stale_while_revalidate = "1m", key = "swr", store = SWR.get().unwrap())]
async fn revalidated() -> u64 {
    let run = SWR_RUNS.record();
    if run == 1 {
        SWR_SERVER.reached().await;
    }
    run as u64 + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_read_that_raced_the_refreshs_set_starts_no_other_refresh() {
    let clock = ManualClock::new();
    let (cache, _server, _proxy) = cache_with_late_replies(&SWR_SERVER, Some(clock.clone())).await;
    SWR.set(cache).unwrap();
    assert_eq!(revalidated().await, 1);

    clock.advance(Duration::from_secs(11));
    // This read is stale and starts the refresh; the refresh ends once the server ran the next
    // read's GET, whose stale reply comes back after the refresh ended, before its SET's reply.
    SWR_SERVER.expect_more("get", 2).await;
    assert_eq!(revalidated().await, 1, "stale, at once");
    assert_eq!(
        revalidated().await,
        1,
        "stale: its GET went out before the SET"
    );
    let stored = eventually_async(async || revalidated::stats().stores == 2).await;
    assert!(stored, "the refresh stored its value");
    assert_eq!(revalidated().await, 2);
    let stats = revalidated::stats();
    assert_eq!(
        (SWR_RUNS.count(), stats.background_refreshes),
        (2, 1),
        "one refresh ran: {stats:?}"
    );
}

static DROPPED: OnceLock<Cache> = OnceLock::new();
static DROPPED_RUNS: Runs = Runs::new();
static DROPPED_SERVER: WatchedServer = WatchedServer::new();

#[cached(ttl = 10, key = "dropped", store = DROPPED.get().unwrap())]
async fn dropped_while_storing() -> u64 {
    DROPPED_RUNS.record() as u64 + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_dropped_while_its_value_is_stored_leaves_no_flight_behind() {
    let clock = ManualClock::new();
    let (cache, _server, _proxy) =
        cache_with_late_replies(&DROPPED_SERVER, Some(clock.clone())).await;
    DROPPED.set(cache).unwrap();
    let caller = tokio::spawn(dropped_while_storing());
    // The server has run its SET, whose reply is held back: the caller waits on it. Dropped.
    let stored = eventually_async(async || DROPPED_SERVER.ran("set").await == 1).await;
    assert!(stored, "the caller sent its SET");
    caller.abort();
    assert!(caller.await.unwrap_err().is_cancelled());
    assert_eq!(DROPPED_RUNS.count(), 1);

    // Past the value's TTL a call computes anew: it follows no flight left over.
    clock.advance(Duration::from_secs(11));
    assert_eq!(dropped_while_storing().await, 2);
    assert_eq!(DROPPED_RUNS.count(), 2);
}

static BATCH: OnceLock<Cache> = OnceLock::new();
static BATCH_ASKED: Mutex<Vec<Vec<u64>>> = Mutex::new(Vec::new());
static BATCH_SERVER: WatchedServer = WatchedServer::new();

#[cached(ttl = 60, key = "user:{id}", batch = ids, store = BATCH.get().unwrap())]
async fn users(ids: Vec<u64>) -> std::collections::HashMap<u64, u64> {
    let first = {
        let mut asked = BATCH_ASKED.lock().unwrap();
        asked.push(ids.clone());
        asked.len() == 1
    };
    if first {
        BATCH_SERVER.reached().await;
    }
    ids.into_iter().map(|id| (id, id * 10)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_read_raced_another_batchs_sets_asks_the_body_for_nothing_it_computed() {
    let (cache, _server, _proxy) = cache_with_late_replies(&BATCH_SERVER, None).await;
    BATCH.set(cache).unwrap();
    let first = tokio::spawn(users(vec![1, 2]));
    while BATCH_ASKED.lock().unwrap().is_empty() {
        tokio::task::yield_now().await;
    }
    // The second batch's MGET misses id 2 and comes back after the first batch computed it,
    // while the first batch's SETs are held back behind it.
    BATCH_SERVER.expect_more("mget", 1).await;
    let second = tokio::spawn(users(vec![2]));
    assert_eq!(first.await.unwrap().len(), 2);
    assert_eq!(second.await.unwrap(), [(2, 20)].into());
    assert_eq!(
        *BATCH_ASKED.lock().unwrap(),
        [vec![1, 2]],
        "id 2 computed once"
    );
}

static PARTITIONED: OnceLock<Cache> = OnceLock::new();
static PARTITIONED_PROXY: OnceLock<FaultProxy> = OnceLock::new();
static PARTITIONED_RUNS: Runs = Runs::new();

/// The first run partitions its own client before it returns: its `SET` goes out into the
/// partition.
#[cached(ttl = 60, key = "partitioned", store = PARTITIONED.get().unwrap())]
async fn stored_into_a_partition() -> u64 {
    let run = PARTITIONED_RUNS.record();
    if run == 0 {
        PARTITIONED_PROXY.get().unwrap().blackhole();
    }
    run as u64 + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_lost_in_a_partition_ends_its_flight_when_it_times_out() {
    let server = RedisServer::single();
    let proxy = PARTITIONED_PROXY.get_or_init(|| FaultProxy::start(server.port()));
    let cache = connected_cache(&proxy.url(), Duration::from_millis(300), None).await;
    PARTITIONED.set(cache).unwrap();

    assert_eq!(
        stored_into_a_partition().await,
        1,
        "answered past its lost SET"
    );
    // Its flight ended with the SET's timeout: the next caller follows nothing left over; it
    // cannot read Redis either, and runs the body (fail-open).
    assert_eq!(stored_into_a_partition().await, 2);
    assert_eq!(PARTITIONED_RUNS.count(), 2);

    proxy.resume();
    let caching = eventually_async(async || {
        let hits = stored_into_a_partition::stats().hits;
        stored_into_a_partition().await;
        stored_into_a_partition::stats().hits > hits
    })
    .await;
    assert!(caching, "once the partition heals, calls hit again");
}
