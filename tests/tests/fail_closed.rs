//! `#[cached(on_store_error = fail)]`: when Redis cannot be used (frozen, killed, its circuit
//! open, or refusing the lease to an ACL user), the call returns the store's error and the body
//! does not run; the fail-open default runs the body. Counted by body runs and stats.

use std::sync::OnceLock;

use cache_runtime::{cached, Cache, CacheError};
use cache_tests::servers::RedisServer;
use cache_tests::Runs;

#[derive(Debug, Clone)]
enum UpstreamError {
    Cache(CacheError),
}

impl From<CacheError> for UpstreamError {
    fn from(error: CacheError) -> Self {
        UpstreamError::Cache(error)
    }
}

static CACHE: OnceLock<Cache> = OnceLock::new();
static CLOSED_RUNS: Runs = Runs::new();
static OPEN_RUNS: Runs = Runs::new();
static PLAIN_RUNS: Runs = Runs::new();

fn cache() -> &'static Cache {
    CACHE.get().expect("set by the test")
}

/// An expensive upstream that must not be reached unprotected.
#[cached(ttl = 60, key = "quote:{id}", store = cache(), on_store_error = fail)]
async fn quote(id: u64) -> Result<u64, UpstreamError> {
    CLOSED_RUNS.record();
    Ok(id * 100)
}

#[cached(ttl = 60, key = "open:{id}", store = cache(), on_store_error = open)]
async fn open_quote(id: u64) -> Result<u64, UpstreamError> {
    OPEN_RUNS.record();
    Ok(id * 100)
}

#[cached(ttl = 60, key = "plain:{id}", store = cache(), on_store_error = fail)]
fn plain_quote(id: u64) -> Result<u64, UpstreamError> {
    PLAIN_RUNS.record();
    Ok(id * 100)
}

fn unavailable(result: Result<u64, UpstreamError>) -> CacheError {
    match result {
        Err(UpstreamError::Cache(error)) => error,
        Ok(value) => panic!("expected the store's error, got {value}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_or_killed_store_fails_the_call_without_running_the_body() {
    let mut server = RedisServer::single();
    let url = format!(
        "{}?prefix=fc&response_timeout=100ms&circuit_cooldown=300ms",
        server.url()
    );
    CACHE.set(Cache::from_url(&url).unwrap()).unwrap();

    // Healthy: computed once, then a hit.
    assert_eq!(quote(1).await.unwrap(), 100);
    assert_eq!(quote(1).await.unwrap(), 100);
    assert_eq!(CLOSED_RUNS.count(), 1);

    // Frozen: the read times out, the call returns the store's error, the body never runs.
    server.pause();
    let error = unavailable(quote(2).await);
    assert!(error.is_unavailable(), "{error}");
    assert_eq!(error.operation(), "get");
    assert_eq!(error.key(), Some("fc:quote:2"));
    let error = unavailable(
        tokio::task::spawn_blocking(|| plain_quote(2))
            .await
            .unwrap(),
    );
    assert!(error.is_unavailable(), "{error}");
    assert_eq!((CLOSED_RUNS.count(), PLAIN_RUNS.count()), (1, 0));
    // The default fails open: the body runs.
    assert_eq!(open_quote(2).await.unwrap(), 200);
    assert_eq!(OPEN_RUNS.count(), 1);
    server.resume();

    // Killed: refused connections, then an open circuit; still an error, still no body run.
    server.kill();
    for _ in 0..8 {
        let error = unavailable(quote(3).await);
        assert!(error.is_unavailable(), "{error}");
    }
    assert_eq!(CLOSED_RUNS.count(), 1);
    let stats = quote::stats();
    assert!(stats.backend_errors >= 9, "{stats:?}");
    assert!(cache().redis_stats().unwrap().circuit_opened >= 1);

    // Back (empty): once the circuit lets a probe through, caching resumes by itself.
    server.restart();
    let resumed = cache_tests::eventually_async(async || quote(3).await.is_ok()).await;
    assert!(resumed, "the circuit closed again");
    assert_eq!(quote(3).await.unwrap(), 300);
    assert_eq!(
        CLOSED_RUNS.count(),
        2,
        "computed once after the restart, then a hit"
    );
}

static LEASE_CACHE: OnceLock<Cache> = OnceLock::new();
static LEASED_RUNS: Runs = Runs::new();

#[cached(
    ttl = 60,
    key = "leased:{id}",
    store = LEASE_CACHE.get().expect("set by the test"),
    lock_on_miss,
    on_store_error = fail
)]
async fn leased_quote(id: u64) -> Result<u64, UpstreamError> {
    LEASED_RUNS.record();
    Ok(id)
}

/// An ACL user that may read keys but not write them (`%R~*`): the `GET` answers, the lease of
/// `lock_on_miss` (a `SET NX`) is refused, and a function that fails closed does not run
/// unprotected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_lease_fails_the_call_without_running_the_body() {
    let server = RedisServer::single();
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "reader", "on", ">pw", "%R~*", "&*", "+@all"][..])
        .query(&mut server.raw())
        .unwrap();
    let url = format!("redis://reader:pw@127.0.0.1:{}/0?prefix=fl", server.port());
    LEASE_CACHE.set(Cache::from_url(&url).unwrap()).unwrap();

    let error = unavailable(leased_quote(7).await);
    assert_eq!(error.operation(), "lock_on_miss");
    assert!(error.to_string().contains("NoPerm"), "{error}");
    assert!(!error.is_unavailable(), "the server answered: {error}");
    assert_eq!(LEASED_RUNS.count(), 0);
    assert_eq!(leased_quote::stats().backend_errors, 1);
}
