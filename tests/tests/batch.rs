//! Batch loading, `#[cached(key = "user:{id}", batch = ids)]`, on memory, Redis and a Cluster:
//! only the ids that miss reach the body (the ids passed are recorded), each is stored under the
//! key a single-id function with the same template uses (the two share entries), ids the body
//! does not return follow `cache_none`, and overlapping batches compute each id once.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

use cache_runtime::Cache;
use cache_tests::servers::{command_counts, command_delta, Backend, RedisServer};

/// The ids each body run was asked for.
#[derive(Debug, Default)]
pub struct Asked(Mutex<Vec<Vec<u64>>>);

impl Asked {
    pub const fn new() -> Self {
        Asked(Mutex::new(Vec::new()))
    }
    fn record(&self, ids: impl IntoIterator<Item = u64>) {
        let mut ids: Vec<u64> = ids.into_iter().collect();
        ids.sort_unstable();
        self.0.lock().unwrap().push(ids);
    }
    fn take(&self) -> Vec<Vec<u64>> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

macro_rules! batch_suite {
    ($backend:ident, $start:expr) => {
        mod $backend {
            use super::*;
            use cache_runtime::cached;

            pub static CACHE: OnceLock<Cache> = OnceLock::new();
            pub fn cache() -> &'static Cache {
                CACHE.get().expect("the test sets the cache first")
            }
            static USERS: Asked = Asked::new();
            static USER: Asked = Asked::new();
            static ACCOUNTS: Asked = Asked::new();

            /// Users exist for even ids only.
            #[cached(ttl = "10m", key = "user:{id}", batch = ids, store = cache())]
            pub async fn users(ids: Vec<u64>) -> Result<HashMap<u64, String>, String> {
                USERS.record(ids.iter().copied());
                Ok(ids.into_iter().filter(|id| id % 2 == 0).map(|id| (id, format!("user {id}"))).collect())
            }

            /// The single-id function on the same keys.
            #[cached(ttl = "10m", key = "user:{id}", store = cache())]
            pub async fn user(id: u64) -> Option<String> {
                USER.record([id]);
                (id % 2 == 0).then(|| format!("user {id}"))
            }

            /// Absent ids are stored too (`cache_none`): asked once.
            #[cached(ttl = "10m", key = "account:{id}", batch = ids, cache_none, negative_ttl = "1m", store = cache())]
            pub fn accounts(ids: std::collections::BTreeSet<u64>) -> BTreeMap<u64, u64> {
                ACCOUNTS.record(ids.iter().copied());
                ids.into_iter().filter(|id| id % 3 == 0).map(|id| (id, id * 10)).collect()
            }

            /// One test per backend: the servers live as long as it (killed when dropped).
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn batches() {
                let backend = $start();
                CACHE.set(backend.cache.clone()).unwrap();
                only_missing_ids_reach_the_body_and_entries_are_shared().await;
                tokio::task::spawn_blocking(absent_ids_follow_cache_none).await.unwrap();
            }

            async fn only_missing_ids_reach_the_body_and_entries_are_shared() {
                let found = users(vec![1, 2, 3, 4]).await.unwrap();
                assert_eq!(found, HashMap::from([(2, "user 2".into()), (4, "user 4".into())]));
                assert_eq!(USERS.take(), [vec![1, 2, 3, 4]]);
                // 2 and 4 are stored; the absent 1 and 3 are asked again (no cache_none).
                let found = users(vec![2, 3, 4, 6, 6]).await.unwrap();
                assert_eq!(found.len(), 3);
                assert_eq!(USERS.take(), [vec![3, 6]]);
                // The single-id function reads the batch's entries, and the batch its.
                assert_eq!(user(4).await.as_deref(), Some("user 4"));
                assert_eq!(user(8).await.as_deref(), Some("user 8"));
                assert_eq!(USER.take(), [vec![8]]);
                assert_eq!(users(vec![8, 10]).await.unwrap().len(), 2);
                assert_eq!(USERS.take(), [vec![10]]);
                // A batch that is all hits runs no body; an empty one neither.
                assert_eq!(users(vec![2, 4, 6, 8, 10]).await.unwrap().len(), 5);
                assert_eq!(users(vec![]).await.unwrap().len(), 0);
                assert!(USERS.take().is_empty());
                // Companions act on one id.
                assert_eq!(users::key(&2).unwrap(), "cache:user:2");
                assert_eq!(users::peek(&2).await.as_deref(), Some("user 2"));
                assert!(users::invalidate(&2).await);
                assert_eq!(users(vec![2, 4]).await.unwrap().len(), 2);
                assert_eq!(USERS.take(), [vec![2]]);
                assert_eq!(users::stats().computes, 4);
            }

            fn absent_ids_follow_cache_none() {
                let ids = |ids: &[u64]| ids.iter().copied().collect();
                assert_eq!(accounts(ids(&[1, 2, 3])), BTreeMap::from([(3, 30)]));
                assert_eq!(accounts(ids(&[1, 2, 3, 6])), BTreeMap::from([(3, 30), (6, 60)]));
                assert_eq!(ACCOUNTS.take(), [vec![1, 2, 3], vec![6]]);
                assert_eq!(accounts::peek(&1), None);
            }
        }
    };
}

batch_suite!(on_memory, Backend::memory);
batch_suite!(on_redis, Backend::redis);
batch_suite!(on_a_cluster, Backend::cluster);

static OVERLAP: Asked = Asked::new();
static RELEASE: tokio::sync::Notify = tokio::sync::Notify::const_new();
static HELD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static SERVER_CACHE: OnceLock<Cache> = OnceLock::new();

fn server_cache() -> &'static Cache {
    SERVER_CACHE.get().expect("the test sets the cache first")
}

/// The first run waits to be released, so that a second batch overlaps it.
#[cache_runtime::cached(ttl = 600, key = "item:{id}", batch = ids, store = server_cache())]
async fn items(ids: Vec<u64>) -> HashMap<u64, u64> {
    OVERLAP.record(ids.iter().copied());
    if !HELD.swap(true, std::sync::atomic::Ordering::SeqCst) {
        RELEASE.notified().await;
    }
    ids.into_iter().map(|id| (id, id + 100)).collect()
}

/// Two batches overlapping in time and in ids: each id is computed once; on Redis a batch of 100
/// with 10 missing is one MGET and 10 SETs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_batches_compute_each_id_once_in_one_read() {
    let server = RedisServer::single();
    let cache = Cache::from_url(&format!("{}?prefix=b", server.url())).unwrap();
    SERVER_CACHE.set(cache).unwrap();
    let mut raw = server.raw();
    let first = tokio::spawn(items((1..=10).collect()));
    while OVERLAP.0.lock().unwrap().is_empty() {
        tokio::task::yield_now().await;
    }
    let second = tokio::spawn(items((5..=15).collect()));
    // The second batch has read (its MGET reached the server) and finds 5..=10 under way: it
    // waits for them, then computes 11..=15.
    while command_counts(&mut raw).get("mget").copied().unwrap_or(0) < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    RELEASE.notify_one();
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    assert_eq!((first.len(), second.len()), (10, 11));
    assert_eq!(second[&7], 107);
    let asked = OVERLAP.take();
    let mut all: Vec<u64> = asked.concat();
    all.sort_unstable();
    assert_eq!(all, (1..=15).collect::<Vec<_>>(), "{asked:?}");
    assert_eq!(items::stats().coalesced_waits, 6);

    items((16..=105).collect()).await; // 90 stored
    OVERLAP.take();
    let before = command_counts(&mut raw);
    let found = items((16..=115).collect()).await;
    let sent = command_delta(&before, &command_counts(&mut raw));
    assert_eq!(found.len(), 100);
    assert_eq!(OVERLAP.take(), [(106..=115).collect::<Vec<_>>()]);
    assert_eq!(
        sent,
        [("mget".to_owned(), 1), ("set".to_owned(), 10)].into(),
        "{sent:?}"
    );
}

static NEAR: OnceLock<Cache> = OnceLock::new();
static NEAR_ASKED: Asked = Asked::new();

#[cache_runtime::cached(ttl = 600, key = "n:{id}", batch = ids, store = NEAR.get().unwrap())]
async fn near_items(ids: Vec<u64>) -> HashMap<u64, u64> {
    NEAR_ASKED.record(ids.iter().copied());
    ids.into_iter().map(|id| (id, id)).collect()
}

/// With a near cache, a batch is answered from memory once its ids are there: no command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_reads_the_near_cache_first() {
    let server = RedisServer::single();
    let url = format!("{}?near_cache=100&near_cache_max_lag=2s", server.url());
    NEAR.set(Cache::from_url(&url).unwrap()).unwrap();
    let ids: Vec<u64> = (1..=20).collect();
    let near_hits = || NEAR.get().unwrap().redis_stats().unwrap().near_hits;
    let served = cache_tests::eventually_async(async || {
        near_items(ids.clone()).await;
        near_hits() >= 20
    })
    .await;
    assert!(served, "the near cache answers the batch");
    let mut raw = server.raw();
    let before = command_counts(&mut raw);
    assert_eq!(near_items(ids.clone()).await.len(), 20);
    let sent = command_delta(&before, &command_counts(&mut raw));
    assert!(sent.keys().all(|command| command == "ping"), "{sent:?}");
    assert_eq!(NEAR_ASKED.take(), [ids]);
}
