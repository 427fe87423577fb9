//! Invalidate wins: once `invalidate` (or `set` of the key through the handle, or
//! `invalidate_tag` of one of its tags) returns, a computation begun before it does not store
//! its result (or stores one that is never served), and a caller after it does not join that
//! computation. On the memory store and on Redis (within one process).

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::OnceLock;
use std::time::Duration;

use cache_runtime::{cached, Cache};
use cache_tests::servers::RedisServer;
use tokio::sync::Notify;

/// The "database": the value a body reads when it starts; a body that read version 1 says so
/// and waits until the test lets it finish.
struct Database {
    version: AtomicU64,
    started: Notify,
    finish: Notify,
}

static DB_MEMORY: Database = Database::new();
static DB_REDIS: Database = Database::new();

impl Database {
    const fn new() -> Self {
        Database {
            version: AtomicU64::new(1),
            started: Notify::const_new(),
            finish: Notify::const_new(),
        }
    }

    async fn read(&self) -> u64 {
        let read = self.version.load(SeqCst);
        if read == 1 {
            self.started.notify_one();
            self.finish.notified().await;
        }
        read
    }
}

static MEMORY: OnceLock<Cache> = OnceLock::new();
static REDIS: OnceLock<Cache> = OnceLock::new();

#[cached(ttl = 60, key = "item:{id}", store = MEMORY.get().unwrap())]
async fn item_on_memory(id: u64) -> u64 {
    let _ = id; // a key parameter only
    DB_MEMORY.read().await
}

#[cached(ttl = 60, key = "item:{id}", store = REDIS.get().unwrap())]
async fn item_on_redis(id: u64) -> u64 {
    let _ = id;
    DB_REDIS.read().await
}

/// Old computation A, an invalidation (or a `set`) while it runs, new caller B.
async fn suite<F, I, P>(db: &Database, call: F, invalidate: I, peek: P, cache: &Cache)
where
    F: AsyncFn(u64) -> u64,
    I: AsyncFn(u64) -> bool,
    P: AsyncFn(u64) -> Option<u64>,
{
    for (id, by_set) in [(1u64, false), (2, true)] {
        db.version.store(1, SeqCst);
        let a = call(id);
        let meanwhile = async {
            db.started.notified().await; // A has read version 1 and is computing
            db.version.store(2, SeqCst);
            if by_set {
                cache.set(&format!("item:{id}"), &2u64, None).await.unwrap();
            } else {
                invalidate(id).await;
            }
            // A caller after the invalidation computes anew: it does not join A.
            let b = tokio::time::timeout(Duration::from_secs(5), call(id))
                .await
                .expect("B waited for A's computation");
            db.finish.notify_one();
            b
        };
        let (a, b) = tokio::join!(a, meanwhile);
        assert_eq!(b, 2, "id {id}: B got the pre-invalidate value");
        assert_eq!(a, 1, "A's own caller gets what A computed");
        // A finished after B stored: its older value was not stored over B's.
        assert_eq!(
            peek(id).await,
            Some(2),
            "id {id}: A stored after the invalidation"
        );
        assert_eq!(call(id).await, 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_memory() {
    let _ = MEMORY.set(Cache::builder().build().unwrap()); // shared with the tagged test
    suite(
        &DB_MEMORY,
        item_on_memory,
        async |id| item_on_memory::invalidate(&id).await,
        async |id| item_on_memory::peek(&id).await,
        MEMORY.get().unwrap(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis() {
    let server = RedisServer::single();
    REDIS
        .set(Cache::from_url(&format!("{}?prefix=inv", server.url())).unwrap())
        .unwrap();
    suite(
        &DB_REDIS,
        item_on_redis,
        async |id| item_on_redis::invalidate(&id).await,
        async |id| item_on_redis::peek(&id).await,
        REDIS.get().unwrap(),
    )
    .await;
}

static DB_TAGGED_MEMORY: Database = Database::new();
static DB_TAGGED_REDIS: Database = Database::new();

#[cached(ttl = 60, key = "tagged:{id}", tags = ["group:{id}"], store = MEMORY.get().unwrap())]
async fn tagged_on_memory(id: u64) -> u64 {
    let _ = id;
    DB_TAGGED_MEMORY.read().await
}

#[cached(ttl = 60, key = "tagged:{id}", tags = ["group:{id}"], store = TAGGED_REDIS.get().unwrap())]
async fn tagged_on_redis(id: u64) -> u64 {
    let _ = id;
    DB_TAGGED_REDIS.read().await
}

/// Old computation A, `invalidate_tag` while it runs, new caller B.
async fn tag_suite<F, P>(db: &Database, call: F, peek: P, cache: &Cache, memory: bool)
where
    F: AsyncFn(u64) -> u64,
    P: AsyncFn(u64) -> Option<u64>,
{
    for id in [1u64, 2] {
        db.version.store(1, SeqCst);
        if id == 2 {
            // The tag has a version already (an earlier entry): A's read finds it.
            db.version.store(0, SeqCst);
            assert_eq!(call(id).await, 0);
            cache.invalidate_tag(&format!("group:{id}")).await.unwrap();
            db.version.store(1, SeqCst);
        }
        let a = call(id);
        let meanwhile = async {
            db.started.notified().await;
            db.version.store(2, SeqCst);
            cache.invalidate_tag(&format!("group:{id}")).await.unwrap();
            let b = tokio::time::timeout(Duration::from_secs(5), call(id))
                .await
                .expect("B waited for A's computation");
            db.finish.notify_one();
            b
        };
        let (a, b) = tokio::join!(a, meanwhile);
        assert_eq!((a, b), (1, 2), "id {id}");
        // A's value, stamped under the voided version, is never served. On memory it is not
        // stored over B's; on Redis it may be (then the next call computes again).
        let peeked = peek(id).await;
        assert!(
            peeked == Some(2) || (peeked.is_none() && !memory),
            "id {id}: {peeked:?}"
        );
        assert_eq!(call(id).await, 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_invalidated_on_memory() {
    let _ = MEMORY.set(Cache::builder().build().unwrap());
    let peek = async |id| tagged_on_memory::peek(&id).await;
    let cache = MEMORY.get().unwrap();
    tag_suite(&DB_TAGGED_MEMORY, tagged_on_memory, peek, cache, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_invalidated_on_redis() {
    let server = RedisServer::single();
    TAGGED_REDIS
        .set(Cache::from_url(&server.url()).unwrap())
        .unwrap();
    let peek = async |id| tagged_on_redis::peek(&id).await;
    let cache = TAGGED_REDIS.get().unwrap();
    tag_suite(&DB_TAGGED_REDIS, tagged_on_redis, peek, cache, false).await;
}

static TAGGED_REDIS: OnceLock<Cache> = OnceLock::new();

static DB_REFRESH: Database = Database::new();
static CLOCKED: std::sync::LazyLock<cache_tests::Clocked> =
    std::sync::LazyLock::new(cache_tests::Clocked::new);

#[cached(ttl = 1, stale_while_revalidate = "1m", key = "r:{id}", store = CLOCKED.cache)]
async fn refreshed(id: u64) -> u64 {
    let _ = id;
    DB_REFRESH.read().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_refresh_begun_before_an_invalidation_does_not_store() {
    DB_REFRESH.version.store(0, SeqCst);
    assert_eq!(refreshed(7).await, 0);
    CLOCKED.clock.advance(Duration::from_secs(2)); // stale: served while one refresh runs
    DB_REFRESH.version.store(1, SeqCst);
    assert_eq!(refreshed(7).await, 0);
    DB_REFRESH.started.notified().await; // the refresh read version 1 and is computing
    DB_REFRESH.version.store(2, SeqCst);
    refreshed::invalidate(&7).await;
    let b = tokio::time::timeout(Duration::from_secs(5), refreshed(7))
        .await
        .expect("B waited for the refresh begun before the invalidation");
    assert_eq!(b, 2);
    DB_REFRESH.finish.notify_one();
    cache_tests::eventually("the refresh ended", || refreshed::stats().computes == 3);
    assert_eq!(
        refreshed::peek(&7).await,
        Some(2),
        "the refresh stored over B"
    );
}

static PAUSED: OnceLock<Cache> = OnceLock::new();

#[cached(ttl = 60, key = "p:{id}", store = PAUSED.get().unwrap())]
async fn stored_async(id: u64) -> u64 {
    id
}

#[cached(ttl = 60, key = "p:{id}", store = PAUSED.get().unwrap())]
fn stored_plain(id: u64) -> u64 {
    id
}

/// A plain `invalidate` that blocks the very thread whose task is storing the key (its `SET`
/// held by `CLIENT PAUSE WRITE`) waits at most the store's time budget: never a deadlock.
#[test]
fn a_blocking_invalidate_never_deadlocks_on_its_own_threads_store() {
    let server = RedisServer::start(Default::default());
    let config = cache_runtime::RedisConfig::from_url(&server.url())
        .unwrap()
        .connect_timeout(Duration::from_millis(200))
        .response_timeout(Duration::from_millis(200));
    PAUSED
        .set(
            Cache::builder()
                .prefix("paused")
                .redis(config)
                .build()
                .unwrap(),
        )
        .unwrap();
    let pause = |millis: u64| {
        redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(millis)
            .arg("WRITE")
            .exec(&mut server.raw())
            .unwrap()
    };
    let (done, finished) = std::sync::mpsc::channel();
    pause(5_000);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let storing = tokio::spawn(stored_async(1));
            // Its GET is answered; its SET waits on the paused server, the store admitted.
            tokio::time::sleep(Duration::from_millis(100)).await;
            stored_plain::invalidate(&1); // blocks this thread: `storing` cannot be polled
            let _ = storing.await;
        });
        done.send(()).unwrap();
    });
    let outcome = finished.recv_timeout(Duration::from_secs(10));
    redis::cmd("CLIENT")
        .arg("UNPAUSE")
        .exec(&mut server.raw())
        .unwrap();
    assert!(outcome.is_ok(), "the invalidation deadlocked");
}

static BATCH_MEMORY: OnceLock<Cache> = OnceLock::new();
static DB_BATCH: Database = Database::new();

#[cached(ttl = 60, key = "b:{id}", batch = ids, store = BATCH_MEMORY.get().unwrap())]
async fn batch_items(ids: Vec<u64>) -> std::collections::HashMap<u64, u64> {
    let version = DB_BATCH.read().await;
    ids.into_iter().map(|id| (id, version)).collect()
}

/// A batch computing ids 1..=3 while id 2 is invalidated: the id's value is not stored, a
/// single-id caller after the invalidation does not wait for the batch, and the others are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_invalidated_during_a_batch_is_not_stored() {
    BATCH_MEMORY.set(Cache::builder().build().unwrap()).unwrap();
    DB_BATCH.version.store(1, SeqCst);
    let a = tokio::spawn(batch_items(vec![1, 2, 3]));
    DB_BATCH.started.notified().await;
    DB_BATCH.version.store(2, SeqCst);
    assert!(!batch_items::invalidate(&2).await, "nothing stored yet");
    let b = tokio::time::timeout(Duration::from_secs(5), batch_items(vec![2]))
        .await
        .expect("B waited for A's computation");
    assert_eq!(b[&2], 2);
    DB_BATCH.finish.notify_one();
    let a = a.await.unwrap();
    assert_eq!(
        (a[&1], a[&2], a[&3]),
        (1, 1, 1),
        "A's caller gets what A computed"
    );
    assert_eq!(
        batch_items::peek(&2).await,
        Some(2),
        "A did not store over B"
    );
    assert_eq!(batch_items::peek(&1).await, Some(1));
}
