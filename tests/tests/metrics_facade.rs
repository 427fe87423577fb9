//! Every attribute reports through the `metrics` facade: a Prometheus recorder installed first,
//! then a cached function, a rate limit, locks and a Redis store that fails and comes back; the
//! scrape holds the counts the stats snapshots hold, labelled by function and never by key.

use std::time::Duration;

use cache_runtime::{cached, Cache, LockError, LockPolicy, Locks, RateLimitPolicy, RateLimiter};
use cache_tests::servers::RedisServer;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

#[cached(ttl = 60)]
async fn square(n: u64) -> u64 {
    n * n
}

/// The value of the sample `name{labels}` in a scrape.
fn sample(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{series} not in\n{scrape}"))
        .parse()
        .unwrap()
}

fn recorder() -> PrometheusHandle {
    PrometheusBuilder::new()
        .install_recorder()
        .expect("the only recorder of this test binary")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scrape_holds_what_the_attributes_counted() {
    let metrics = recorder();

    // #[cached]: one miss, two hits, one computation of some duration.
    for _ in 0..3 {
        assert_eq!(square(7).await, 49);
    }
    let function = r#"function="metrics_facade::square""#;
    let scrape = metrics.render();
    assert_eq!(
        sample(
            &scrape,
            &format!("cache_requests_total{{{function},result=\"hit\"}}")
        ),
        2.0
    );
    assert_eq!(
        sample(
            &scrape,
            &format!("cache_requests_total{{{function},result=\"miss\"}}")
        ),
        1.0
    );
    assert_eq!(
        sample(&scrape, &format!("cache_computations_total{{{function}}}")),
        1.0
    );
    assert_eq!(
        sample(
            &scrape,
            &format!("cache_compute_seconds_count{{{function}}}")
        ),
        1.0
    );
    // Labels name the function and the result, never a key or an argument.
    for line in scrape.lines().filter(|line| line.starts_with("cache_")) {
        let labels = line
            .split_once('{')
            .and_then(|(_, rest)| rest.split_once('}'));
        for label in labels.map_or("", |(labels, _)| labels).split(',') {
            let name = label.split_once('=').map_or(label, |(name, _)| name);
            assert!(matches!(name, "function" | "result" | "quantile"), "{line}");
        }
    }

    // A rate limit: 2 admitted, 1 limited.
    let memory = Cache::builder().prefix("m").build().unwrap();
    let limiter = RateLimiter::new(
        &memory,
        "logins",
        RateLimitPolicy::new(2, Duration::from_secs(60)),
    )
    .unwrap();
    for _ in 0..3 {
        let _ = limiter.check("alice").await;
    }
    // Locks: one acquired, one timed out (with its wait measured).
    let policy = LockPolicy::new(Duration::from_secs(5)).wait(Duration::from_millis(50));
    let locks = Locks::new(&memory, "jobs", policy).unwrap();
    let held = locks.acquire("j").await.unwrap();
    assert!(matches!(
        locks.acquire("j").await,
        Err(LockError::TimedOut { .. })
    ));
    held.release().await.unwrap();
    let scrape = metrics.render();
    let limit = r#"function="logins""#;
    assert_eq!(
        sample(
            &scrape,
            &format!("rate_limit_decisions_total{{{limit},decision=\"admitted\"}}")
        ),
        2.0
    );
    assert_eq!(
        sample(
            &scrape,
            &format!("rate_limit_decisions_total{{{limit},decision=\"limited\"}}")
        ),
        1.0
    );
    let lock = r#"function="jobs""#;
    assert_eq!(
        sample(
            &scrape,
            &format!("lock_acquisitions_total{{{lock},outcome=\"acquired\"}}")
        ),
        1.0
    );
    assert_eq!(
        sample(
            &scrape,
            &format!("lock_acquisitions_total{{{lock},outcome=\"timed_out\"}}")
        ),
        1.0
    );
    assert_eq!(
        sample(&scrape, &format!("lock_wait_seconds_count{{{lock}}}")),
        2.0
    );

    // Redis: commands timed; the circuit gauge opens when the server dies and closes after.
    let mut server = RedisServer::single();
    let url = format!(
        "{}?prefix=r&circuit_failures=2&circuit_cooldown=200ms",
        server.url()
    );
    let redis = Cache::from_url(&url).unwrap();
    redis.set("k", &1u8, None).await.unwrap();
    let store = format!("store=\"redis://127.0.0.1:{}/0\"", server.port());
    let scrape = metrics.render();
    assert!(sample(&scrape, &format!("redis_command_seconds_count{{{store}}}")) >= 1.0);
    assert_eq!(
        sample(&scrape, &format!("redis_circuit_open{{{store}}}")),
        0.0
    );
    server.kill();
    for _ in 0..3 {
        let _ = redis.get::<u8>("k").await;
    }
    assert_eq!(
        sample(&metrics.render(), &format!("redis_circuit_open{{{store}}}")),
        1.0
    );
    server.restart();
    assert!(cache_tests::eventually_async(async || redis.ping().await.is_ok()).await);
    assert_eq!(
        sample(&metrics.render(), &format!("redis_circuit_open{{{store}}}")),
        0.0
    );
}
