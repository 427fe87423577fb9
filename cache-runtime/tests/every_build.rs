//! What holds on every build of cache-runtime, the memory-only one included
//! (`--no-default-features --features macros`, which CI tests too): the three attributes on the
//! embedded store, plain `fn`s inside and outside a runtime, and a Redis URL refused at start-up
//! with the feature it needs named when the build leaves Redis out.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cache_runtime::{cached, rate_limit, with_lock, Cache, LockError, RateLimited};

static SQUARES: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60)]
fn square(n: u64) -> u64 {
    SQUARES.fetch_add(1, Ordering::SeqCst);
    n * n
}

static CUBES: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60)]
fn cube(n: u64) -> u64 {
    CUBES.fetch_add(1, Ordering::SeqCst);
    n * n * n
}

#[cached(ttl = 60)]
fn fib(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

static GREETINGS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, key = "greeting:{name}")]
async fn greeting(name: String) -> String {
    GREETINGS.fetch_add(1, Ordering::SeqCst);
    format!("hello {name}")
}

#[derive(Debug)]
enum Refused {
    Limited,
    Locked,
}

impl From<RateLimited> for Refused {
    fn from(_: RateLimited) -> Self {
        Refused::Limited
    }
}

impl From<LockError> for Refused {
    fn from(_: LockError) -> Self {
        Refused::Locked
    }
}

#[rate_limit(limit = 2, window = 60, key = "{user}")]
fn create(user: u64) -> Result<u64, Refused> {
    Ok(user)
}

#[with_lock(key = "job:{id}", ttl = 5, wait = 0)]
async fn job(id: u64) -> Result<u64, Refused> {
    Ok(cache_runtime::lock::fencing_token().unwrap_or(0) + id)
}

#[test]
fn a_plain_fn_computes_once_outside_any_runtime() {
    let before = SQUARES.load(Ordering::SeqCst);
    assert_eq!((square(12), square(12), square(12)), (144, 144, 144));
    assert_eq!(SQUARES.load(Ordering::SeqCst) - before, 1);
    assert_eq!(fib(90), 2_880_067_194_370_816_120);
    assert_eq!(fib::stats().computes, 91);
}

#[test]
fn a_plain_fn_inside_either_runtime_flavour_computes_once() {
    for runtime in [
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap(),
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap(),
    ] {
        let cubes = runtime.block_on(async { (cube(3), cube(3)) });
        assert_eq!(cubes, (27, 27));
    }
    assert_eq!(CUBES.load(Ordering::SeqCst), 1, "once for both runtimes");
}

#[tokio::test(flavor = "current_thread")]
async fn the_attributes_work_on_the_embedded_store() {
    let before = GREETINGS.load(Ordering::SeqCst);
    assert_eq!(greeting("ann".into()).await, "hello ann");
    assert_eq!(greeting("ann".into()).await, "hello ann");
    assert_eq!(GREETINGS.load(Ordering::SeqCst) - before, 1);
    assert!(greeting::invalidate(&"ann".to_owned()).await);
    assert_eq!(greeting::peek(&"ann".to_owned()).await, None);

    assert!(create(7).is_ok() && create(7).is_ok());
    assert!(matches!(create(7), Err(Refused::Limited)));
    assert!(create(8).is_ok());

    let first = job(1).await.unwrap();
    assert!(job(1).await.unwrap() > first, "fencing tokens increase");
    let cache = Cache::global();
    let policy = cache_runtime::LockPolicy::new(Duration::from_secs(5)).wait(Duration::ZERO);
    let held = cache_runtime::Locks::new(cache, "manual", policy).unwrap();
    let guard = held.acquire("x").await.unwrap();
    assert!(held.acquire_blocking("x").is_err(), "one holder at a time");
    guard.release().await.unwrap();
}

#[test]
fn a_redis_url_names_what_the_build_needs() {
    let refused = |url: &str| Cache::from_url(url).err().map(|error| error.to_string());
    if cfg!(feature = "redis") {
        assert_eq!(
            refused("redis://127.0.0.1:1/0"),
            None,
            "building never connects"
        );
    } else {
        for url in [
            "redis://127.0.0.1/0",
            "rediss://h:1",
            "redis+cluster://h:1,h:2",
        ] {
            let error = refused(url).expect("refused");
            assert!(error.contains("`redis` feature"), "{url}: {error}");
        }
    }
    if cfg!(all(feature = "redis", not(feature = "cluster"))) {
        assert!(refused("redis+cluster://h:1")
            .unwrap()
            .contains("`cluster` feature"));
    }
    if cfg!(all(feature = "redis", not(feature = "tls"))) {
        assert!(refused("rediss://h:1").unwrap().contains("`tls` feature"));
    }
}
