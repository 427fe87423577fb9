//! The near cache on a Redis Cluster (tracking armed on every primary) and over TLS: near hits
//! send no command to any node, and writes by another client, on whichever primary owns the key,
//! reach the L1.

use std::sync::OnceLock;

use cache_runtime::{cached, Cache};
use cache_tests::servers::{
    command_counts, command_delta, RedisCluster, RedisServer, ServerOptions,
};

static CLUSTER: OnceLock<Cache> = OnceLock::new();

#[cached(ttl = 600, key = "c:{id}", store = CLUSTER.get().unwrap())]
async fn on_cluster(id: u64) -> u64 {
    let _ = id;
    0
}

static TLS: OnceLock<Cache> = OnceLock::new();

#[cached(ttl = 600, key = "t:{id}", store = TLS.get().unwrap())]
async fn over_tls(id: u64) -> u64 {
    let _ = id;
    0
}

/// Writes `value` to `keys` through `other`, then reads through the near cache until every key
/// shows it and is answered by the L1.
async fn converge(
    other: &Cache,
    near: &Cache,
    keys: &[u64],
    prefix: &str,
    value: u64,
    read: impl AsyncFn(u64) -> u64,
) {
    for id in keys {
        other
            .set(&format!("{prefix}:{id}"), &value, None)
            .await
            .unwrap();
    }
    for &id in keys {
        let seen = cache_tests::eventually_async(async || {
            let hits = near.redis_stats().unwrap().near_hits;
            read(id).await == value && near.redis_stats().unwrap().near_hits > hits
        })
        .await;
        assert!(seen, "key {id} shows {value} from the L1");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_every_primary_is_tracked() {
    let cluster = RedisCluster::start();
    let url = format!(
        "{}?prefix=nc&near_cache=1000&near_cache_max_lag=2s",
        cluster.url()
    );
    let near = CLUSTER.get_or_init(|| Cache::from_url(&url).unwrap());
    let other = Cache::from_url(&format!(
        "{}?prefix=nc&response_timeout=300ms",
        cluster.url()
    ))
    .unwrap();
    // 12 keys: their slots fall on all three primaries.
    let keys: Vec<u64> = (0..12).collect();
    converge(&other, near, &keys, "c", 1, on_cluster).await;
    converge(&other, near, &keys, "c", 2, on_cluster).await;

    let mut raws: Vec<_> = cluster.nodes.iter().map(RedisServer::raw).collect();
    let before: Vec<_> = raws.iter_mut().map(command_counts).collect();
    for _ in 0..10 {
        for &id in &keys {
            assert_eq!(on_cluster(id).await, 2);
        }
    }
    for (raw, before) in raws.iter_mut().zip(&before) {
        let sent = command_delta(before, &command_counts(raw));
        assert!(
            sent.keys()
                .all(|command| command == "ping" || command == "cluster|slots"),
            "near hits sent {sent:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_the_tracking_connection_is_tls_too() {
    let server = RedisServer::start(ServerOptions {
        tls: true,
        ..ServerOptions::default()
    });
    let tls = server.tls.as_ref().unwrap();
    let ca_file =
        std::env::temp_dir().join(format!("cache-tests-near-ca-{}.pem", std::process::id()));
    std::fs::write(&ca_file, &tls.ca_pem).unwrap();
    let url = format!(
        "rediss://127.0.0.1:{}/0?prefix=nt&ca_file={}&near_cache=1000&near_cache_max_lag=2s",
        tls.port,
        ca_file.display()
    );
    let near = TLS.get_or_init(|| Cache::from_url(&url).unwrap());
    let other = Cache::from_url(&format!(
        "{}?prefix=nt&response_timeout=300ms",
        server.url()
    ))
    .unwrap();
    converge(&other, near, &[1, 2, 3], "t", 1, over_tls).await;
    converge(&other, near, &[1, 2, 3], "t", 2, over_tls).await;
    let _ = std::fs::remove_file(&ca_file);
}
