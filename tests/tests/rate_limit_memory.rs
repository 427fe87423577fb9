//! Rate limits on the memory store, on a manual clock: exact admission counts under 16
//! concurrent clients, the burst boundary, retry times, the window algorithms against their
//! definitions, and a bounded store under a million distinct keys.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, LazyLock};
use std::time::Duration;

use cache_runtime::{
    rate_limit, Algorithm, Cache, MemoryStore, RateLimitPolicy, RateLimited, RateLimiter,
};
use cache_tests::{block_on, Clocked, Runs};

const CLIENTS: usize = 16;

/// `clients` threads, started together at each tick of `tick`, call until turned away; the
/// clock moves `tick` between rounds, `duration` in all. Returns how many were admitted.
fn saturate(policy: RateLimitPolicy, duration: Duration, tick: Duration) -> u64 {
    let clocked = Clocked::new();
    let limiter = RateLimiter::new(&clocked.cache, "saturated", policy).unwrap();
    let admitted = AtomicU64::new(0);
    let rounds = duration.as_micros() / tick.as_micros();
    let start = Barrier::new(CLIENTS + 1);
    let done = Barrier::new(CLIENTS + 1);
    std::thread::scope(|scope| {
        for _ in 0..CLIENTS {
            scope.spawn(|| {
                for _ in 0..=rounds {
                    start.wait();
                    while limiter.check_blocking("one key").is_ok() {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                    done.wait();
                }
            });
        }
        for round in 0..=rounds {
            if round > 0 {
                clocked.clock.advance(tick);
            }
            start.wait();
            done.wait();
        }
    });
    let stats = limiter.stats();
    assert_eq!(stats.admitted, admitted.load(Ordering::Relaxed));
    assert_eq!(stats.limited, (CLIENTS as u64) * (rounds as u64 + 1));
    admitted.into_inner()
}

#[test]
fn saturation_admits_exactly_burst_plus_rate_times_duration() {
    // (limit, window, burst, duration): rate = limit / window. With a burst of 1 there is no
    // tolerance, so a call later than its slot loses the difference (GCRA's definition): the
    // ticks then divide the interval. With a burst ≥ 2 they need not (7 per 100 ms: 14,285.7 µs).
    let cases = [
        (10, Duration::from_secs(1), 5, Duration::from_secs(2)),
        (4, Duration::from_secs(1), 1, Duration::from_secs(3)),
        (100, Duration::from_secs(60), 100, Duration::from_secs(90)),
        (
            7,
            Duration::from_millis(100),
            2,
            Duration::from_millis(1_000),
        ),
    ];
    for (limit, window, burst, duration) in cases {
        let policy = RateLimitPolicy::new(limit, window).burst(burst);
        let tick = Duration::from_micros(window.as_micros() as u64 / limit / 4);
        // The clock moves in whole ticks: the time covered is the last tick's.
        let covered = duration.as_micros() / tick.as_micros() * tick.as_micros();
        let expected = burst + (covered * u128::from(limit) / window.as_micros()) as u64;
        assert_eq!(
            saturate(policy, duration, tick),
            expected,
            "limit {limit} per {window:?}, burst {burst}, {duration:?}"
        );
    }
}

#[test]
fn after_idling_exactly_burst_pass_then_a_denial() {
    for burst in [1, 2, 5, 50] {
        let clocked = Clocked::new();
        let policy = RateLimitPolicy::new(10, Duration::from_secs(1)).burst(burst);
        let limiter = RateLimiter::new(&clocked.cache, "idle", policy).unwrap();
        for round in 0..3 {
            for call in 0..burst {
                let admitted = limiter.check_blocking("k").unwrap_or_else(|limited| {
                    panic!("burst {burst}, round {round}: call {call} denied: {limited}")
                });
                assert_eq!(admitted.remaining(), burst - call - 1);
            }
            assert!(
                limiter.check_blocking("k").is_err(),
                "burst {burst}: call {} passed",
                burst + 1
            );
            clocked.clock.advance(Duration::from_secs(60)); // idle: the bucket refills
        }
    }
}

#[test]
fn a_retry_at_retry_after_passes_and_one_earlier_does_not() {
    let policies = [
        RateLimitPolicy::new(5, Duration::from_secs(1)).burst(2),
        RateLimitPolicy::new(3, Duration::from_millis(700)),
        RateLimitPolicy::new(4, Duration::from_secs(2)).algorithm(Algorithm::FixedWindow),
        RateLimitPolicy::new(4, Duration::from_secs(2)).algorithm(Algorithm::SlidingWindow),
    ];
    let mut random = 0x2545_f491_4f6c_dd1du64;
    for policy in policies {
        let clocked = Clocked::new();
        let limiter = RateLimiter::new(&clocked.cache, "retry", policy).unwrap();
        let mut denials = 0;
        for _ in 0..300 {
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            clocked
                .clock
                .advance(Duration::from_micros(random % 400_000));
            let Err(limited) = limiter.check_blocking("k") else {
                continue;
            };
            denials += 1;
            let retry_after = limited.retry_after();
            assert!(retry_after > Duration::ZERO, "{policy:?}");
            // 1 µs before the retry time: still turned away (and a denial changes no state).
            clocked
                .clock
                .advance(retry_after - Duration::from_micros(1));
            assert!(
                limiter.check_blocking("k").is_err(),
                "{policy:?}: 1 µs early"
            );
            clocked.clock.advance(Duration::from_micros(1));
            assert!(
                limiter.check_blocking("k").is_ok(),
                "{policy:?}: at retry_after"
            );
        }
        assert!(denials > 20, "{policy:?}: only {denials} denials to probe");
    }
}

#[test]
fn fixed_window_counts_per_aligned_window() {
    let clocked = Clocked::new();
    let policy = RateLimitPolicy::new(3, Duration::from_secs(10)).algorithm(Algorithm::FixedWindow);
    let limiter = RateLimiter::new(&clocked.cache, "fixed", policy).unwrap();
    // Move to just before a window boundary: the clock is at some wall-clock time.
    let into_window = clocked.clock.now_micros() % 10_000_000;
    clocked
        .clock
        .advance(Duration::from_micros(10_000_000 - into_window - 1));
    let results: Vec<bool> = (0..4)
        .map(|_| limiter.check_blocking("k").is_ok())
        .collect();
    assert_eq!(results, [true, true, true, false]);
    let limited = limiter.check_blocking("k").unwrap_err();
    assert_eq!(
        limited.retry_after(),
        Duration::from_micros(1),
        "the window ends in 1 µs"
    );
    clocked.clock.advance(Duration::from_micros(1));
    // A new window: 3 more right after the boundary (the known 2 × limit edge of fixed windows).
    let results: Vec<bool> = (0..4)
        .map(|_| limiter.check_blocking("k").is_ok())
        .collect();
    assert_eq!(results, [true, true, true, false]);
}

#[test]
fn sliding_window_never_admits_more_than_limit_in_any_window() {
    let clocked = Clocked::new();
    let window = Duration::from_secs(1);
    let policy = RateLimitPolicy::new(5, window).algorithm(Algorithm::SlidingWindow);
    let limiter = RateLimiter::new(&clocked.cache, "sliding", policy).unwrap();
    let mut admitted_at = Vec::new();
    let mut random = 88_172_645_463_325_252u64;
    for _ in 0..5_000 {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        clocked
            .clock
            .advance(Duration::from_micros(random % 50_000));
        if limiter.check_blocking("k").is_ok() {
            admitted_at.push(clocked.clock.now_micros());
        }
    }
    for (i, &start) in admitted_at.iter().enumerate() {
        let inside = admitted_at[i..]
            .iter()
            .take_while(|&&t| t < start + 1_000_000)
            .count();
        assert!(inside <= 5, "{inside} admissions within 1 s of {start}");
    }
    // And it is not over-strict: over ~125 s it admitted close to 5 per second.
    let seconds = (admitted_at.last().unwrap() - admitted_at[0]) / 1_000_000;
    assert!(
        admitted_at.len() as u64 >= seconds * 4,
        "{} in {seconds} s",
        admitted_at.len()
    );
}

#[test]
fn a_million_distinct_keys_stay_within_the_store_bound() {
    let cache = Cache::builder()
        .store(MemoryStore::with_max_entries(10_000))
        .build()
        .unwrap();
    let limiter = RateLimiter::new(&cache, "many", RateLimitPolicy::per_second(1)).unwrap();
    for i in 0..1_000_000u32 {
        assert!(limiter.check_blocking(&i.to_string()).is_ok());
    }
    let held = cache.memory_store().unwrap().len();
    assert!(held <= 10_000, "{held} keys held, bound 10,000");
    // The hot key keeps its state through the churn.
    assert!(limiter.check_blocking("999999").is_err());
}

// --- The attribute, on the memory store -----------------------------------------------------

static LIMITED: LazyLock<Clocked> = LazyLock::new(Clocked::new);
static CREATE_RUNS: Runs = Runs::new();
static EXPORT_RUNS: Runs = Runs::new();

#[derive(Debug, PartialEq)]
enum ApiError {
    TooMany { retry_after: Duration },
}

impl From<RateLimited> for ApiError {
    fn from(limited: RateLimited) -> Self {
        ApiError::TooMany {
            retry_after: limited.retry_after(),
        }
    }
}

#[derive(serde::Serialize)]
struct User {
    id: u64,
    tenant: String,
}

#[rate_limit(limit = 2, window = 10, key = "{user.tenant}:{user.id}", store = LIMITED.cache)]
async fn create_item(user: &User, name: String) -> Result<String, ApiError> {
    CREATE_RUNS.record();
    Ok(name)
}

#[rate_limit(limit = 1, window = "1m", store = LIMITED.cache)]
fn export_all() -> Result<u32, ApiError> {
    EXPORT_RUNS.record();
    Ok(7)
}

#[test]
fn the_attribute_limits_per_rendered_key_and_returns_the_error() {
    block_on(async {
        let alice = User {
            id: 1,
            tenant: "acme".into(),
        };
        let bob = User {
            id: 2,
            tenant: "acme".into(),
        };
        assert_eq!(create_item(&alice, "a".into()).await, Ok("a".into()));
        assert_eq!(create_item(&alice, "b".into()).await, Ok("b".into()));
        assert_eq!(
            create_item(&alice, "c".into()).await,
            Err(ApiError::TooMany {
                retry_after: Duration::from_secs(5)
            })
        );
        assert_eq!(create_item(&bob, "d".into()).await, Ok("d".into()));
        assert_eq!(
            CREATE_RUNS.count(),
            3,
            "the rejected call did not run the body"
        );
        LIMITED.clock.advance(Duration::from_secs(5));
        assert_eq!(create_item(&alice, "e".into()).await, Ok("e".into()));
    });
    let stats = cache_runtime::limit_stats();
    let create = stats
        .iter()
        .find(|s| s.name.ends_with("::create_item"))
        .unwrap();
    assert_eq!((create.admitted, create.limited), (4, 1));
    let key = "rate:rate_limit_memory::create_item:{acme:1}"; // under the prefix `cache:`
    let exists = block_on(LIMITED.cache.exists(key)).map_err(|error| error.to_string());
    assert_eq!(exists, Ok(true), "{key}");
}

#[test]
fn a_plain_fn_without_a_key_has_one_limit() {
    assert_eq!(export_all(), Ok(7));
    assert!(matches!(export_all(), Err(ApiError::TooMany { .. })));
    assert_eq!(EXPORT_RUNS.count(), 1);
}
