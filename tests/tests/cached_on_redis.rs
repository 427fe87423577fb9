//! `#[cached]` over Redis, on a single node and on a cluster: what runs, what Redis holds (names,
//! prefix, PTTL), what it costs (`INFO commandstats`), and plain `fn`s inside a runtime.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use cache_runtime::Cache;
use cache_tests::servers::{command_counts, command_delta, keys_of, RedisCluster, RedisServer};

/// Defines the cached functions of one backend in a module of their own, with their own cache
/// and counters, and the tests that run them.
macro_rules! cached_suite {
    ($backend:ident, $start:expr, $keys:expr) => {
        mod $backend {
            use super::*;
            use cache_runtime::cached;
            use cache_tests::Runs;

            pub static CACHE: OnceLock<Cache> = OnceLock::new();
            fn cache() -> &'static Cache {
                CACHE.get().expect("the test sets the cache first")
            }
            static USER_RUNS: Runs = Runs::new();
            static FIND_RUNS: Runs = Runs::new();
            static LOAD_RUNS: Runs = Runs::new();
            static SQUARE_RUNS: Runs = Runs::new();
            static SLOW_RUNS: Runs = Runs::new();

            #[cached(ttl = 60, key = "user:{id}", store = cache())]
            pub async fn user(id: u64) -> String {
                USER_RUNS.record();
                format!("user {id}")
            }

            #[cached(ttl = 60, key = "find:{id}", store = cache())]
            pub async fn find(id: u64) -> Option<u64> {
                FIND_RUNS.record();
                (id % 2 == 0).then_some(id * 10)
            }

            #[cached(ttl = "90s", store = cache())]
            pub async fn load(id: u64) -> Result<Vec<u64>, String> {
                LOAD_RUNS.record();
                if id == 0 {
                    Err("no such id".to_owned())
                } else {
                    Ok(vec![id; 3])
                }
            }

            #[cached(ttl = 60, key = "square:{n}", store = cache())]
            pub fn square(n: u64) -> u64 {
                SQUARE_RUNS.record();
                n * n
            }

            #[cached(ttl = 60, key = "slow:{n}", store = cache())]
            pub async fn slow(n: u64) -> u64 {
                SLOW_RUNS.record();
                tokio::time::sleep(Duration::from_millis(50)).await;
                n + 1
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cached_functions_store_in_redis() {
                let servers = $start;
                let url = format!("{}?prefix=svc", servers.url());
                CACHE.set(Cache::from_url(&url).unwrap()).unwrap();
                let keys = || -> HashMap<String, i64> { $keys(&servers) };

                // Repeat calls run the body once; the key is the template under the prefix.
                assert_eq!(user(7).await, "user 7");
                assert_eq!(user(7).await, "user 7");
                assert_eq!(USER_RUNS.count(), 1);
                assert_eq!((user::stats().hits, user::stats().misses), (1, 1));
                let pttl = keys()["svc:user:7"];
                assert!(pttl > 0 && pttl <= 60_000, "PTTL {pttl}");

                // `None` and `Err` are not stored; `Some` and `Ok` are.
                assert_eq!(find(3).await, None);
                assert_eq!(find(3).await, None);
                assert_eq!(find(4).await, Some(40));
                assert_eq!(find(4).await, Some(40));
                assert_eq!(FIND_RUNS.count(), 3);
                assert!(!keys().contains_key("svc:find:3"));
                assert_eq!(load(0).await, Err("no such id".to_owned()));
                assert_eq!(load(0).await, Err("no such id".to_owned()));
                assert_eq!(load(5).await, Ok(vec![5; 3]));
                assert_eq!(load(5).await, Ok(vec![5; 3]));
                assert_eq!(LOAD_RUNS.count(), 3);

                // Default keys: `{prefix}:{module}::{fn}:v0:{digest}`, with the TTL given.
                let stored = keys();
                let load_key = load::key(&5).unwrap();
                assert!(
                    load_key.starts_with(concat!(
                        "svc:cached_on_redis::",
                        stringify!($backend),
                        "::load:v0:"
                    )),
                    "{load_key}"
                );
                assert!(stored[&load_key] > 60_000 && stored[&load_key] <= 90_000);
                assert!(!stored.contains_key(&load::key(&0).unwrap()));
                assert!(
                    stored.keys().all(|key| key.starts_with("svc:")),
                    "{stored:?}"
                );

                // Companions see Redis.
                assert_eq!(user::peek(&7).await.as_deref(), Some("user 7"));
                assert!(user::invalidate(&7).await);
                assert!(!keys().contains_key("svc:user:7"));
                assert_eq!(user::peek(&7).await, None);
                assert_eq!(user::refresh(7).await, "user 7");
                assert_eq!(USER_RUNS.count(), 2);
                assert!(keys().contains_key("svc:user:7"));

                // A plain fn from inside the runtime: no deadlock, no "cannot block" panic.
                assert_eq!(square(12), 144);
                assert_eq!(square(12), 144);
                assert_eq!(square::peek(&12), Some(144));
                assert_eq!(SQUARE_RUNS.count(), 1);
                assert!(keys().contains_key("svc:square:12"));

                // Many concurrent callers of one missing key: one run.
                let callers: Vec<_> = (0..50).map(|_| tokio::spawn(slow(1))).collect();
                for caller in callers {
                    assert_eq!(caller.await.unwrap(), 2);
                }
                assert_eq!(SLOW_RUNS.count(), 1);
                assert_eq!(slow::stats().backend_errors, 0);

                // Garbage under a cached key: a counted miss, then overwritten.
                let mut raw = servers.raw_for("svc:user:8");
                redis::cmd("SET")
                    .arg("svc:user:8")
                    .arg("garbage")
                    .exec(&mut raw)
                    .unwrap();
                assert_eq!(user(8).await, "user 8");
                assert_eq!(user::stats().decode_failures, 1);
                assert_eq!(user(8).await, "user 8");
                assert_eq!(USER_RUNS.count(), 3);
                let bytes: Vec<u8> = redis::cmd("GET").arg("svc:user:8").query(&mut raw).unwrap();
                let (_, value): (_, String) = cache_runtime::entry::decode(&bytes).unwrap();
                assert_eq!(value, "user 8");
            }

            static CURRENT_THREAD: OnceLock<Cache> = OnceLock::new();
            static CUBE_RUNS: Runs = Runs::new();

            #[cached(ttl = 60, key = "cube:{n}", store = CURRENT_THREAD.get().unwrap())]
            fn cube(n: u64) -> u64 {
                CUBE_RUNS.record();
                n * n * n
            }

            #[tokio::test(flavor = "current_thread")]
            async fn a_plain_fn_on_a_current_thread_runtime() {
                // The driver thread talks to Redis; this runtime's only thread merely waits.
                let servers = $start;
                CURRENT_THREAD
                    .set(Cache::from_url(&servers.url()).unwrap())
                    .unwrap();
                assert_eq!(cube(3), 27);
                assert_eq!(cube(3), 27);
                assert_eq!((CUBE_RUNS.count(), cube::stats().hits), (1, 1));
                assert!(cube::invalidate(&3));
            }
        }
    };
}

/// A raw connection to the node holding a key.
trait Servers {
    fn raw_for(&self, key: &str) -> redis::Connection;
}

impl Servers for RedisServer {
    fn raw_for(&self, _key: &str) -> redis::Connection {
        self.raw()
    }
}

impl Servers for RedisCluster {
    fn raw_for(&self, key: &str) -> redis::Connection {
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut self.nodes[0].raw())
            .unwrap();
        let nodes: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query(&mut self.nodes[0].raw())
            .unwrap();
        // `<id> <ip:port@cport> <flags> … <slot ranges>`
        let owner = nodes
            .lines()
            .find(|line| {
                line.split(' ').skip(8).any(|range| {
                    let (low, high) = range.split_once('-').unwrap_or((range, range));
                    matches!((low.parse::<u16>(), high.parse::<u16>()),
                             (Ok(low), Ok(high)) if (low..=high).contains(&slot))
                })
            })
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|address| address.split('@').next()?.rsplit_once(':'))
            .and_then(|(_, port)| port.parse::<u16>().ok())
            .expect("a node owns every slot");
        let node = self.nodes.iter().find(|node| node.port() == owner).unwrap();
        node.raw()
    }
}

cached_suite!(single, RedisServer::single(), |server: &RedisServer| {
    keys_of(&mut server.raw())
});
cached_suite!(cluster, RedisCluster::start(), |cluster: &RedisCluster| {
    cluster.keys()
});

mod cost {
    use super::*;
    use cache_runtime::cached;
    use cache_tests::Runs;

    static CACHE: OnceLock<Cache> = OnceLock::new();
    static RUNS: Runs = Runs::new();

    #[cached(ttl = 60, key = "cost:{id}", store = CACHE.get().unwrap())]
    async fn cost(id: u64) -> u64 {
        RUNS.record();
        id
    }

    #[cached(ttl = 60, key = "cost-sync:{id}", store = CACHE.get().unwrap())]
    fn cost_sync(id: u64) -> u64 {
        RUNS.record();
        id
    }

    #[tokio::test]
    async fn a_hit_is_one_command_and_a_miss_two() {
        let server = RedisServer::start(Default::default());
        CACHE.set(Cache::from_url(&server.url()).unwrap()).unwrap();
        CACHE.get().unwrap().ping().await.unwrap(); // connected
        let mut raw = server.raw();

        let before = command_counts(&mut raw);
        assert_eq!(cost(1).await, 1);
        let miss = command_delta(&before, &command_counts(&mut raw));
        assert_eq!(
            miss,
            HashMap::from([("get".to_owned(), 1), ("set".to_owned(), 1)])
        );

        let before = command_counts(&mut raw);
        assert_eq!(cost(1).await, 1);
        let hit = command_delta(&before, &command_counts(&mut raw));
        assert_eq!(hit, HashMap::from([("get".to_owned(), 1)]));

        let before = command_counts(&mut raw);
        assert_eq!(cost_sync(2), 2);
        assert_eq!(cost_sync(2), 2);
        let sync = command_delta(&before, &command_counts(&mut raw));
        assert_eq!(
            sync,
            HashMap::from([("get".to_owned(), 2), ("set".to_owned(), 1)])
        );
        assert_eq!(RUNS.count(), 2);
    }
}
