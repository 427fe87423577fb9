//! Tags: `#[cached(tags = [..])]` and `Cache::invalidate_tag`, on memory, Redis and a Cluster.
//! Counted: body runs, the keys Redis holds, and the commands a hit and an invalidation send
//! (`INFO commandstats`): one `MGET` per tagged hit, one `UNLINK` per invalidation, whatever the
//! number of entries.

use std::sync::OnceLock;

use cache_runtime::Cache;
use cache_tests::servers::{command_counts, command_delta, Backend, RedisServer};

/// The tagged functions of one backend, with their own cache and counters, and the tests.
macro_rules! tags_suite {
    ($backend:ident, $start:expr) => {
        mod $backend {
            use super::*;
            use cache_runtime::cached;
            use cache_tests::Runs;

            pub static CACHE: OnceLock<Cache> = OnceLock::new();
            fn cache() -> &'static Cache {
                CACHE.get().expect("the test sets the cache first")
            }
            static PROFILE_RUNS: Runs = Runs::new();
            static POSTS_RUNS: Runs = Runs::new();

            #[cached(ttl = "10m", tags = ["user:{id}", "org:{org}"], store = cache())]
            pub async fn profile(id: u64, org: u64) -> String {
                PROFILE_RUNS.record();
                format!("profile {id} of {org}")
            }

            #[cached(ttl = "10m", key = "posts:{id}:{page}", tags = ["user:{id}"], store = cache())]
            pub fn posts(id: u64, page: u32) -> Vec<u32> {
                POSTS_RUNS.record();
                vec![page; id as usize % 3]
            }

            #[tokio::test]
            async fn invalidating_a_tag_voids_every_entry_it_tags_and_no_other() {
                // The servers live as long as the test: dropped (killed) at its end.
                let backend = $start();
                CACHE.set(backend.cache.clone()).unwrap();
                // Users 1..=20 in orgs 1 and 2; posts of users 1 and 2, 10 pages each.
                for id in 1..=20 {
                    profile(id, id % 2 + 1).await;
                }
                let posts_cache = || {
                    for id in [1, 2] {
                        for page in 0..10 {
                            posts(id, page);
                        }
                    }
                };
                tokio::task::spawn_blocking(posts_cache).await.unwrap();
                assert_eq!((PROFILE_RUNS.count(), POSTS_RUNS.count()), (20, 20));

                // One user: their profile and their 10 pages of posts, nobody else's.
                assert!(cache().invalidate_tag("user:1").await.unwrap());
                for id in 1..=20 {
                    profile(id, id % 2 + 1).await;
                }
                tokio::task::spawn_blocking(posts_cache).await.unwrap();
                assert_eq!((PROFILE_RUNS.count(), POSTS_RUNS.count()), (21, 30));

                // One org: the 10 profiles in it.
                assert!(cache().invalidate_tag("org:2").await.unwrap());
                assert_eq!(profile::peek(&3, &2).await, None);
                assert!(profile::peek(&2, &1).await.is_some());
                for id in 1..=20 {
                    profile(id, id % 2 + 1).await;
                }
                assert_eq!(PROFILE_RUNS.count(), 31);

                // A tag that tags nothing; then everything is a hit again.
                assert!(!cache().invalidate_tag("user:999").await.unwrap());
                for id in 1..=20 {
                    profile(id, id % 2 + 1).await;
                }
                assert_eq!(PROFILE_RUNS.count(), 31);
                assert_eq!(profile::stats().computes, 31);
            }
        }
    };
}

tags_suite!(on_memory, Backend::memory);
tags_suite!(on_redis, Backend::redis);
tags_suite!(on_a_cluster, Backend::cluster);

static SERVER_CACHE: OnceLock<Cache> = OnceLock::new();

fn server_cache() -> &'static Cache {
    SERVER_CACHE.get().expect("the test sets the cache first")
}

#[cache_runtime::cached(ttl = 600, tags = ["user:{id}", "team:{team}"], store = server_cache())]
async fn member(id: u64, team: u64) -> String {
    format!("member {id} of {team}")
}

#[cache_runtime::cached(ttl = 600, key = "plain:{id}", store = server_cache())]
async fn untagged(id: u64) -> String {
    format!("plain {id}")
}

/// What a hit and an invalidation send, and what Redis holds; a lost tag key.
#[tokio::test]
async fn a_tagged_hit_is_one_mget_and_an_invalidation_one_unlink() {
    let server = RedisServer::single();
    SERVER_CACHE
        .set(Cache::from_url(&server.url()).unwrap())
        .unwrap();
    member(1, 7).await;
    untagged(1).await;
    let mut raw = server.raw();
    let keys = cache_tests::servers::keys_of(&mut raw);
    // A tag's key lives as long as the entries stamped under it (600 s) and a minute more, and
    // at most twice that.
    for tag in ["cache:tag:{user:1}", "cache:tag:{team:7}"] {
        assert!(
            (660_000..=1_320_000).contains(&keys[tag]),
            "{tag}: {keys:?}"
        );
    }
    let before = command_counts(&mut raw);
    for _ in 0..10 {
        member(1, 7).await;
        untagged(1).await;
    }
    let sent = command_delta(&before, &command_counts(&mut raw));
    assert_eq!(sent.get("mget"), Some(&10), "{sent:?}");
    assert_eq!(sent.get("get"), Some(&10), "{sent:?}");
    assert_eq!(sent.get("set"), None, "{sent:?}");

    // A later entry under a tag keeps the tag's key alive as long as itself.
    let _: () = redis::cmd("PEXPIRE")
        .arg("cache:tag:{team:7}")
        .arg(5_000)
        .query(&mut raw)
        .unwrap();
    member(2, 7).await;
    let left: i64 = redis::cmd("PTTL")
        .arg("cache:tag:{team:7}")
        .query(&mut raw)
        .unwrap();
    assert!(left > 660_000, "{left}");

    // 50 members of team 9: one write voids them all.
    for id in 100..150 {
        member(id, 9).await;
    }
    let before = command_counts(&mut raw);
    assert!(server_cache().invalidate_tag("team:9").await.unwrap());
    let sent = command_delta(&before, &command_counts(&mut raw));
    assert_eq!(sent, [("unlink".to_owned(), 1)].into(), "{sent:?}");
    assert_eq!(member::peek(&120, &9).await, None);
    // Recomputed: a new random version made once, stored, then hits.
    assert_eq!(member(120, 9).await, "member 120 of 9");
    assert_eq!(
        member::peek(&120, &9).await.as_deref(),
        Some("member 120 of 9")
    );

    // A tag key lost (evicted, expired, deleted by hand) and made again never revives the
    // entries stamped under its old version: versions are random, not counters.
    member(500, 1).await;
    let old: String = redis::cmd("GET")
        .arg("cache:tag:{user:500}")
        .query(&mut raw)
        .unwrap();
    let _: () = redis::cmd("DEL")
        .arg("cache:tag:{user:500}")
        .query(&mut raw)
        .unwrap();
    // Another entry makes the tag again (a fresh version), as a restart or eviction would.
    member(500, 2).await;
    let new: String = redis::cmd("GET")
        .arg("cache:tag:{user:500}")
        .query(&mut raw)
        .unwrap();
    assert_ne!(old, new);
    assert_eq!(member::peek(&500, &1).await, None);
}

static NEAR: OnceLock<Cache> = OnceLock::new();
static NEAR_VERSION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn near_cache() -> &'static Cache {
    NEAR.get().expect("the test sets the cache first")
}

#[cache_runtime::cached(ttl = 600, key = "near:{id}", tags = ["account:{id}"], store = near_cache())]
async fn near_account(id: u64) -> u64 {
    id * 1000 + NEAR_VERSION.load(std::sync::atomic::Ordering::SeqCst)
}

/// With a near cache, a tagged hit is answered from memory (the tag's version is held there too,
/// and no command reaches Redis), and another process's `invalidate_tag` reaches it: the old
/// value is not served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tagged_entry_is_served_by_the_near_cache_until_its_tag_is_invalidated() {
    let server = RedisServer::single();
    let url = format!("{}?near_cache=100&near_cache_max_lag=2s", server.url());
    NEAR.set(Cache::from_url(&url).unwrap()).unwrap();
    let near_hits = || near_cache().redis_stats().unwrap().near_hits;
    let armed = cache_tests::eventually_async(async || {
        near_account(1).await;
        near_hits() > 0
    })
    .await;
    assert!(armed, "tagged entries are answered by the near cache");
    let mut raw = server.raw();
    let before = command_counts(&mut raw);
    for _ in 0..50 {
        assert_eq!(near_account(1).await, 1001);
    }
    let sent = command_delta(&before, &command_counts(&mut raw));
    assert!(sent.keys().all(|command| command == "ping"), "{sent:?}");

    // Another process invalidates the tag (the database changed meanwhile).
    NEAR_VERSION.store(2, std::sync::atomic::Ordering::SeqCst);
    let other = Cache::from_url(&server.url()).unwrap();
    assert!(other.invalidate_tag("account:1").await.unwrap());
    let seen = cache_tests::eventually_async(async || near_account(1).await == 1002).await;
    assert!(seen, "the invalidation reached the near cache");
    for _ in 0..50 {
        assert_eq!(near_account(1).await, 1002);
    }
}
