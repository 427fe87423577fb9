//! Tags and batch loading when things go wrong: a call dropped at each await (the read, the
//! body, the write), one client partitioned from Redis (the fault proxy), and ACL users (one as
//! Redis 7 makes it, with no channels; one whose keys are limited to the cache's prefix).
//! Counted: body runs, the ids passed to a batch's body, what `invalidate_tag` answers, and the
//! values read afterwards.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use cache_runtime::{cached, Cache};
use cache_tests::proxy::{Direction, Fault, FaultProxy};
use cache_tests::servers::{RedisServer, ServerOptions, ACL_PASSWORD, ACL_USER_NO_CHANNELS};
use cache_tests::Runs;
use tokio::sync::Notify;

/// The "database": the version a body reads; a body can be held until the test lets it go.
static VERSION: AtomicU64 = AtomicU64::new(1);
static HOLD: AtomicU64 = AtomicU64::new(0);
static STARTED: Notify = Notify::const_new();
static FINISH: Notify = Notify::const_new();
static RUNS: Runs = Runs::new();

static DROPPED: OnceLock<Cache> = OnceLock::new();

#[cached(ttl = 600, key = "doc:{id}", tags = ["owner:{id}"], store = DROPPED.get().unwrap())]
async fn doc(id: u64) -> u64 {
    RUNS.record();
    let version = VERSION.load(SeqCst);
    if HOLD.load(SeqCst) == id {
        STARTED.notify_one();
        FINISH.notified().await;
    }
    id * 100 + version
}

/// A tagged call dropped in its read, in its body and in its write: nothing is left stuck (the
/// next call computes or hits), and an `invalidate_tag` afterwards still voids whatever the
/// dropped call stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tagged_call_dropped_at_each_await() {
    let server = RedisServer::single();
    let proxy = FaultProxy::start(server.port());
    let url = format!("{}?response_timeout=2s", proxy.url());
    DROPPED.get_or_init(|| Cache::from_url(&url).unwrap());
    let other = Cache::from_url(&server.url()).unwrap();

    // In its read (the MGET's reply held).
    proxy.set(
        Direction::ToClient,
        Fault::Delay(Duration::from_millis(300)),
    );
    assert!(tokio::time::timeout(Duration::from_millis(50), doc(1))
        .await
        .is_err());
    proxy.set(Direction::ToClient, Fault::Pass);
    assert_eq!(doc(1).await, 101);
    assert_eq!(doc(1).await, 101);
    assert_eq!(
        RUNS.count(),
        1,
        "the dropped read ran nothing; then one run, one hit"
    );

    // In its body (the flight is abandoned; the next caller computes).
    HOLD.store(2, SeqCst);
    let call = tokio::spawn(doc(2));
    STARTED.notified().await;
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());
    HOLD.store(0, SeqCst);
    assert_eq!(doc(2).await, 201);
    assert_eq!(doc(2).await, 201);
    assert_eq!(RUNS.count(), 3);

    // In its write (the SET's reply held): whatever Redis ends up holding, the tag voids it.
    HOLD.store(3, SeqCst);
    let call = tokio::spawn(doc(3));
    STARTED.notified().await;
    proxy.set(
        Direction::ToClient,
        Fault::Delay(Duration::from_millis(300)),
    );
    FINISH.notify_one();
    tokio::time::sleep(Duration::from_millis(100)).await;
    call.abort();
    let _ = call.await;
    proxy.set(Direction::ToClient, Fault::Pass);
    tokio::time::sleep(Duration::from_millis(400)).await;
    HOLD.store(0, SeqCst);
    VERSION.store(2, SeqCst);
    assert!(other.invalidate_tag("owner:3").await.unwrap());
    assert_eq!(doc(3).await, 302, "the entry of the dropped call is void");
    assert_eq!(doc(3).await, 302);
}

static PARTED: OnceLock<Cache> = OnceLock::new();
static PARTED_RUNS: Runs = Runs::new();
static PARTED_VERSION: AtomicU64 = AtomicU64::new(1);
static PARTED_ASKED: Mutex<Vec<u64>> = Mutex::new(Vec::new());

#[cached(ttl = 600, key = "p:{id}", tags = ["group:{id}"], store = PARTED.get().unwrap())]
async fn parted(id: u64) -> u64 {
    PARTED_RUNS.record();
    id * 100 + PARTED_VERSION.load(SeqCst)
}

#[cached(ttl = 600, key = "q:{id}", batch = ids, store = PARTED.get().unwrap())]
async fn parted_batch(ids: Vec<u64>) -> HashMap<u64, u64> {
    PARTED_ASKED.lock().unwrap().extend(&ids);
    ids.into_iter().map(|id| (id, id)).collect()
}

/// Partitioned: tagged and batch calls answer through their bodies (fail-open), and
/// `invalidate_tag` says it failed instead of pretending; an invalidation made by another client
/// meanwhile is honoured once the partition heals, and caching resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_client_fails_open_and_never_pretends() {
    let server = RedisServer::single();
    let proxy = FaultProxy::start(server.port());
    let url = format!(
        "{}?response_timeout=150ms&circuit_cooldown=100ms",
        proxy.url()
    );
    let cache = PARTED.get_or_init(|| Cache::from_url(&url).unwrap());
    let other = Cache::from_url(&server.url()).unwrap();
    assert_eq!(parted(1).await, 101);
    assert_eq!(parted_batch(vec![1, 2]).await.len(), 2);
    PARTED_ASKED.lock().unwrap().clear();

    proxy.blackhole();
    for _ in 0..3 {
        assert_eq!(parted(1).await, 101, "the body answers");
        assert_eq!(parted_batch(vec![1, 2, 3]).await.len(), 3);
    }
    assert!(PARTED_RUNS.count() >= 2, "the tagged call ran its body");
    assert!(
        cache.invalidate_tag("group:1").await.is_err(),
        "a failed invalidation is an error"
    );
    // The data changes and another client invalidates while this one is cut off.
    PARTED_VERSION.store(2, SeqCst);
    assert!(other.invalidate_tag("group:1").await.unwrap());

    proxy.resume();
    let resumed = cache_tests::eventually_async(async || {
        assert_eq!(
            parted(1).await,
            102,
            "the entry from before the partition is void"
        );
        let runs = PARTED_RUNS.count();
        parted(1).await;
        PARTED_RUNS.count() == runs
    })
    .await;
    assert!(resumed, "caching resumes by itself");
    PARTED_ASKED.lock().unwrap().clear();
    assert_eq!(parted_batch(vec![1, 2, 3, 4]).await.len(), 4);
    let asked = PARTED_ASKED.lock().unwrap().clone();
    assert!(
        !asked.contains(&1) && !asked.contains(&2),
        "stored before the partition: {asked:?}"
    );
}

static ACL: Mutex<Option<Cache>> = Mutex::new(None);
static ACL_RUNS: Runs = Runs::new();
static ACL_ASKED: Mutex<Vec<u64>> = Mutex::new(Vec::new());

/// The cache of the user under test.
fn acl_cache() -> Cache {
    ACL.lock()
        .unwrap()
        .clone()
        .expect("the test sets the cache first")
}

#[cached(ttl = 600, key = "a:{id}", tags = ["t:{id}"], store = acl_cache())]
async fn acl_tagged(id: u64) -> u64 {
    ACL_RUNS.record();
    id
}

#[cached(ttl = 600, key = "b:{id}", batch = ids, store = acl_cache())]
async fn acl_batch(ids: Vec<u64>) -> HashMap<u64, u64> {
    ACL_ASKED.lock().unwrap().extend(&ids);
    ids.into_iter().map(|id| (id, id)).collect()
}

/// As a user Redis 7 makes by default (no channels), and as one limited to the cache's keys
/// (`~app:*`): tag versions live under the prefix, so both work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_and_batches_work_for_acl_users() {
    let server = RedisServer::start(ServerOptions {
        acl_user: true,
        ..ServerOptions::default()
    });
    let mut raw = server.raw();
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "prefixed", "on", ">pw", "~app:*", "+@all"])
        .query(&mut raw)
        .unwrap();
    let port = server.port();
    let users = [
        format!("redis://{ACL_USER_NO_CHANNELS}:{ACL_PASSWORD}@127.0.0.1:{port}/0?prefix=app"),
        format!("redis://prefixed:pw@127.0.0.1:{port}/0?prefix=app"),
    ];
    for (round, url) in users.iter().enumerate() {
        *ACL.lock().unwrap() = Some(Cache::from_url(url).unwrap());
        let id = round as u64 + 1;
        let runs = ACL_RUNS.count();
        acl_tagged(id).await;
        acl_tagged(id).await;
        assert_eq!(ACL_RUNS.count(), runs + 1, "one run, one hit, as {url}");
        assert!(acl_cache()
            .invalidate_tag(&format!("t:{id}"))
            .await
            .unwrap());
        acl_tagged(id).await;
        assert_eq!(ACL_RUNS.count(), runs + 2, "invalidated, as {url}");
        let ids = vec![id * 10, id * 10 + 1];
        acl_batch(ids.clone()).await;
        acl_batch(ids.clone()).await;
        assert_eq!(*ACL_ASKED.lock().unwrap(), ids, "one run, as {url}");
        ACL_ASKED.lock().unwrap().clear();
    }
    assert_eq!(acl_tagged::stats().backend_errors, 0);
    assert_eq!(acl_batch::stats().backend_errors, 0);
}

static CUT: OnceLock<Cache> = OnceLock::new();
static CUT_ASKED: Mutex<Vec<Vec<u64>>> = Mutex::new(Vec::new());
static CUT_HOLD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

#[cached(ttl = 600, key = "c:{id}", batch = ids, store = CUT.get().unwrap())]
async fn cut_batch(ids: Vec<u64>) -> HashMap<u64, u64> {
    CUT_ASKED.lock().unwrap().push(ids.clone());
    if CUT_HOLD.swap(false, SeqCst) {
        STARTED.notify_one();
        FINISH.notified().await;
    }
    ids.into_iter().map(|id| (id, id * 7)).collect()
}

/// A batch dropped while its body runs: the batch waiting on its ids takes them over (computes
/// them itself), and nothing of the dropped one is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_dropped_in_its_body_hands_its_ids_over() {
    let server = RedisServer::single();
    CUT.set(Cache::from_url(&server.url()).unwrap()).unwrap();
    let first = tokio::spawn(cut_batch(vec![1, 2, 3]));
    STARTED.notified().await;
    let second = tokio::spawn(cut_batch(vec![2, 3, 4]));
    // The second waits for 2 and 3 (under way in the first) before leading anything.
    tokio::time::sleep(Duration::from_millis(50)).await;
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    let second = second.await.unwrap();
    assert_eq!(second, HashMap::from([(2, 14), (3, 21), (4, 28)]));
    assert_eq!(*CUT_ASKED.lock().unwrap(), [vec![1, 2, 3], vec![2, 3, 4]]);
    let mut raw = server.raw();
    let keys = cache_tests::servers::keys_of(&mut raw);
    assert!(
        !keys.contains_key("cache:c:1"),
        "the dropped batch stored nothing: {keys:?}"
    );
    assert_eq!(cut_batch(vec![1, 2, 3, 4]).await.len(), 4);
    assert_eq!(CUT_ASKED.lock().unwrap().last(), Some(&vec![1]));
}

static HELD_BATCH: OnceLock<Cache> = OnceLock::new();
static HELD_ASKED: Mutex<Vec<Vec<u64>>> = Mutex::new(Vec::new());

#[cached(ttl = 600, key = "h:{id}", batch = ids, store = HELD_BATCH.get().unwrap())]
async fn held_batch(ids: Vec<u64>) -> HashMap<u64, u64> {
    HELD_ASKED.lock().unwrap().push(ids.clone());
    ids.into_iter().map(|id| (id, id + 1)).collect()
}

/// A batch dropped while its MGET reply is held, and one dropped while its writes' replies are
/// held: nothing is left stuck (no flight waits for them), and what Redis ends up holding is
/// right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_dropped_in_its_read_or_its_writes() {
    let server = RedisServer::single();
    let proxy = FaultProxy::start(server.port());
    let url = format!("{}?response_timeout=2s", proxy.url());
    HELD_BATCH.set(Cache::from_url(&url).unwrap()).unwrap();

    // In its read: the body never ran.
    proxy.set(
        Direction::ToClient,
        Fault::Delay(Duration::from_millis(300)),
    );
    let dropped = tokio::time::timeout(Duration::from_millis(50), held_batch(vec![1, 2])).await;
    assert!(dropped.is_err());
    proxy.set(Direction::ToClient, Fault::Pass);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(HELD_ASKED.lock().unwrap().is_empty());
    assert_eq!(
        held_batch(vec![1, 2]).await,
        HashMap::from([(1, 2), (2, 3)])
    );
    assert_eq!(HELD_ASKED.lock().unwrap().len(), 1);

    // In its writes: the body ran; the SETs' replies are held when the call is dropped.
    let mut ran = HELD_ASKED.lock().unwrap().len();
    proxy.set(
        Direction::ToClient,
        Fault::Delay(Duration::from_millis(300)),
    );
    let call = tokio::spawn(held_batch(vec![3, 4]));
    while HELD_ASKED.lock().unwrap().len() == ran {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    call.abort();
    let _ = call.await;
    proxy.set(Direction::ToClient, Fault::Pass);
    tokio::time::sleep(Duration::from_millis(400)).await;
    ran = HELD_ASKED.lock().unwrap().len();
    assert_eq!(
        held_batch(vec![3, 4]).await,
        HashMap::from([(3, 4), (4, 5)])
    );
    let more = HELD_ASKED.lock().unwrap().len() - ran;
    assert!(
        more <= 1,
        "computed again at most once (if the SETs were lost)"
    );
    let other = Cache::from_url(&server.url()).unwrap();
    for id in [1u64, 3, 4] {
        let held = other.get::<u64>(&format!("h:{id}")).await.unwrap();
        assert_eq!(held, Some(id + 1), "id {id}");
    }
}
