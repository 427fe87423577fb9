//! The plain operations of a `Cache`, one suite run on the memory store, a single Redis node and
//! a Redis Cluster: the same calls must mean the same thing on each.

use std::collections::BTreeSet;
use std::future::poll_fn;
use std::pin::Pin;
use std::time::Duration;

use cache_runtime::{Cache, CacheErrorKind, KeyStream, KeyTtl};
use cache_tests::servers::{RedisCluster, RedisServer};
use futures_core::Stream;

async fn collect(mut keys: KeyStream) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    while let Some(key) = poll_fn(|cx| Pin::new(&mut keys).poll_next(cx)).await {
        found.insert(key.expect("scan_keys"));
    }
    found
}

fn set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|key| key.to_string()).collect()
}

/// Everything the plain operations promise, on `cache` (whose prefix holds nothing yet).
async fn suite(cache: Cache, neighbour: Cache) {
    let minute = Some(Duration::from_secs(60));
    cache.ping().await.unwrap();

    // get / set / exists / delete
    assert_eq!(cache.get::<String>("greeting").await.unwrap(), None);
    cache.set("greeting", "hello", minute).await.unwrap();
    assert_eq!(
        cache.get::<String>("greeting").await.unwrap().as_deref(),
        Some("hello")
    );
    assert!(cache.exists("greeting").await.unwrap());
    let wrong_type = cache.get::<u64>("greeting").await.unwrap_err();
    assert!(
        matches!(wrong_type.kind(), CacheErrorKind::Decode(_)),
        "{wrong_type}"
    );
    assert_eq!(
        (wrong_type.operation(), wrong_type.key()),
        ("get", Some("greeting"))
    );
    assert!(cache.delete("greeting").await.unwrap());
    assert!(!cache.delete("greeting").await.unwrap());
    assert!(!cache.exists("greeting").await.unwrap());

    // add: set if absent
    assert!(cache.add("lock", &1u32, minute).await.unwrap());
    assert!(!cache.add("lock", &2u32, minute).await.unwrap());
    assert_eq!(cache.get::<u32>("lock").await.unwrap(), Some(1));

    // get_many / set_many / delete_many (keys spread over cluster slots)
    let items: Vec<(&str, u64)> = vec![("n:1", 1), ("n:2", 2), ("n:3", 3), ("n:4", 4)];
    cache.set_many(&items, minute).await.unwrap();
    let got: Vec<Option<u64>> = cache
        .get_many(&["n:1", "n:missing", "n:3", "n:4"])
        .await
        .unwrap();
    assert_eq!(got, [Some(1), None, Some(3), Some(4)]);
    assert_eq!(
        cache
            .delete_many(&["n:1", "n:2", "n:missing"])
            .await
            .unwrap(),
        2
    );
    assert_eq!(cache.get_many::<u64>(&[]).await.unwrap(), []);

    // ttl / expire
    assert_eq!(cache.ttl("absent").await.unwrap(), KeyTtl::Missing);
    cache.set("forever", &true, None).await.unwrap();
    assert_eq!(cache.ttl("forever").await.unwrap(), KeyTtl::Persistent);
    match cache.ttl("n:3").await.unwrap() {
        KeyTtl::Expires(left) => assert!(left <= Duration::from_secs(60) && !left.is_zero()),
        other => panic!("n:3 should expire, has {other:?}"),
    }
    assert!(cache
        .expire("forever", Duration::from_secs(5))
        .await
        .unwrap());
    assert!(
        matches!(cache.ttl("forever").await.unwrap(), KeyTtl::Expires(left) if left <= Duration::from_secs(5))
    );
    assert!(!cache
        .expire("absent", Duration::from_secs(5))
        .await
        .unwrap());
    cache
        .set("short", &1u8, Some(Duration::from_millis(30)))
        .await
        .unwrap();
    let zero = cache
        .set("zero", &1u8, Some(Duration::ZERO))
        .await
        .unwrap_err();
    assert!(zero.to_string().contains("above zero"), "{zero}");

    // incr / decr: the TTL comes with the creating increment, and only with it
    assert_eq!(
        cache
            .incr("hits", 1, Some(Duration::from_secs(30)))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        cache
            .incr("hits", 5, Some(Duration::from_secs(999)))
            .await
            .unwrap(),
        6
    );
    assert_eq!(cache.decr("hits", 2, None).await.unwrap(), 4);
    match cache.ttl("hits").await.unwrap() {
        KeyTtl::Expires(left) => assert!(left <= Duration::from_secs(30), "{left:?}"),
        other => panic!("a counter made with a TTL keeps it, has {other:?}"),
    }
    assert_eq!(cache.incr("plain-counter", 1, None).await.unwrap(), 1);
    assert_eq!(
        cache.ttl("plain-counter").await.unwrap(),
        KeyTtl::Persistent
    );
    let not_counter = cache.incr("lock", 1, None).await.unwrap_err();
    assert_eq!(not_counter.kind(), &CacheErrorKind::NotAnInteger);
    // exact over the whole i64 range (a Lua number is a double: 2^53 + 1 came back as 2^53),
    // and an overflow is an error that leaves the counter as it was
    let past_double = (1i64 << 53) + 1;
    assert_eq!(
        cache.incr("big", past_double, None).await.unwrap(),
        past_double
    );
    assert_eq!(
        cache
            .incr("big", i64::MAX - past_double, None)
            .await
            .unwrap(),
        i64::MAX
    );
    assert_eq!(
        cache.incr("big", 1, None).await.unwrap_err().kind(),
        &CacheErrorKind::Overflow
    );
    assert_eq!(cache.incr("big", 0, None).await.unwrap(), i64::MAX);
    assert_eq!(
        cache.decr("small", i64::MAX, None).await.unwrap(),
        -i64::MAX
    );
    assert_eq!(cache.decr("small", 1, None).await.unwrap(), i64::MIN);
    for overflow in [
        cache.decr("small", 1, None),
        cache.decr("zero", i64::MIN, None),
    ] {
        assert_eq!(
            overflow.await.unwrap_err().kind(),
            &CacheErrorKind::Overflow
        );
    }
    assert_eq!(cache.incr("small", 0, None).await.unwrap(), i64::MIN);

    // expiry happened meanwhile
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(cache.get::<u8>("short").await.unwrap(), None);

    // scan_keys: under the prefix only, `*` the only wildcard
    cache.set("user:1", &1u8, minute).await.unwrap();
    cache.set("user:2", &2u8, minute).await.unwrap();
    cache.set("user:?", &3u8, minute).await.unwrap();
    cache.set("users", &4u8, minute).await.unwrap();
    neighbour.set("user:9", &9u8, minute).await.unwrap();
    assert_eq!(
        collect(cache.scan_keys("user:*")).await,
        set(&["user:1", "user:2", "user:?"])
    );
    assert_eq!(collect(cache.scan_keys("user:?")).await, set(&["user:?"]));
    assert_eq!(collect(cache.scan_keys("nothing*")).await, set(&[]));
    let all = collect(cache.scan_keys("*")).await;
    assert!(
        all.contains("lock") && all.contains("hits") && !all.contains("short"),
        "{all:?}"
    );

    // clear: this prefix only
    let removed = cache.clear().await.unwrap();
    assert_eq!(removed as usize, all.len());
    assert_eq!(collect(cache.scan_keys("*")).await, set(&[]));
    assert_eq!(neighbour.get::<u8>("user:9").await.unwrap(), Some(9));
}

#[tokio::test]
async fn on_memory() {
    let store = cache_runtime::MemoryStore::default();
    let cache = Cache::builder()
        .prefix("app")
        .store(store.clone())
        .build()
        .unwrap();
    let neighbour = Cache::builder()
        .prefix("app2")
        .store(store)
        .build()
        .unwrap();
    suite(cache, neighbour).await;
}

#[tokio::test]
async fn on_a_single_redis_node() {
    let server = RedisServer::single();
    let cache = Cache::from_url(&format!("{}?prefix=app", server.url())).unwrap();
    let neighbour = Cache::from_url(&format!("{}?prefix=app2", server.url())).unwrap();
    suite(cache, neighbour).await;
    let keys = cache_tests::servers::keys_of(&mut server.raw());
    assert!(keys.keys().all(|key| key.starts_with("app2:")), "{keys:?}");
}

#[tokio::test]
async fn on_a_redis_cluster() {
    let cluster = RedisCluster::start();
    let cache = Cache::from_url(&format!("{}?prefix=app", cluster.url())).unwrap();
    let neighbour = Cache::from_url(&format!("{}?prefix=app2", cluster.url())).unwrap();
    suite(cache, neighbour).await;
    let keys = cluster.keys();
    assert_eq!(keys.keys().collect::<Vec<_>>(), ["app2:user:9"]);
}
