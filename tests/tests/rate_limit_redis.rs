//! Rate limits on real Redis servers: one script per check on the server's clock, admissions
//! under 16 concurrent clients, the burst boundary, retry times, client clock skew, killed
//! connections leaving no key without a TTL, state size, a cluster, and Redis down.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cache_runtime::{
    rate_limit, Algorithm, Cache, ManualClock, RateLimitPolicy, RateLimited, RateLimiter,
    RedisConfig,
};
use cache_tests::servers::{command_counts, command_delta, keys_of, RedisCluster, RedisServer};
use cache_tests::Runs;

fn redis_cache(url: &str) -> Cache {
    Cache::from_url(url).unwrap()
}

/// The server's clock (`TIME`), the one every check counts on, in µs.
fn server_micros(raw: &mut redis::Connection) -> u64 {
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query(raw).unwrap();
    secs * 1_000_000 + micros
}

/// Waits until the server's clock reads `micros` or later, whatever the client's clock does
/// meanwhile (within 10 s): sleeps while more than 2 ms are left, then reads the clock again
/// and again, so the wait ends within a round trip of the instant.
async fn until_server_clock(raw: &mut redis::Connection, micros: u64) {
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        let now = server_micros(raw);
        if now >= micros {
            return;
        }
        assert!(
            Instant::now() < give_up,
            "the server's clock stays {} µs behind",
            micros - now
        );
        let left = micros - now;
        if left > 2_000 {
            tokio::time::sleep(Duration::from_micros(left - 1_000)).await;
        }
    }
}

/// 16 tasks hammer one key for `duration`; how many passed.
async fn saturate(limiter: &RateLimiter, key: &str, duration: Duration) -> u64 {
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (limiter, key) = (limiter.clone(), key.to_owned());
            tokio::spawn(async move {
                let mut admitted = 0u64;
                while Instant::now() < deadline {
                    if limiter.check(&key).await.is_ok() {
                        admitted += 1;
                    }
                }
                admitted
            })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        admitted += task.await.unwrap();
    }
    admitted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturation_admits_burst_plus_rate_times_duration_within_one() {
    let server = RedisServer::single();
    let cache = redis_cache(&server.url());
    // (limit, window, burst, duration): slow enough rates that client-side timing is far below
    // one interval.
    let cases = [
        (10, Duration::from_secs(1), 5, Duration::from_millis(2_000)),
        // Burst 1 at 5/s: a stall of the client (all 16 tasks descheduled on a loaded 2-core
        // machine) shorter than 200 ms loses no token (at 20/s, 50 ms stalls did, seen in CI).
        (5, Duration::from_secs(1), 1, Duration::from_millis(2_000)),
        (3, Duration::from_secs(1), 2, Duration::from_millis(2_000)),
    ];
    let mut raw = server.raw();
    let server_ms = |raw: &mut redis::Connection| server_micros(raw) / 1_000;
    for (i, (limit, window, burst, duration)) in cases.into_iter().enumerate() {
        let policy = RateLimitPolicy::new(limit, window).burst(burst);
        let limiter = RateLimiter::new(&cache, &format!("saturated{i}"), policy).unwrap();
        let started = server_ms(&mut raw);
        let admitted = saturate(&limiter, "hot", duration).await;
        let span = server_ms(&mut raw) - started;
        let per_window = |ms: u64| ms * limit / window.as_millis() as u64;
        let expected = burst + per_window(duration.as_millis() as u64);
        // The checks still in flight at the deadline, on a loaded machine, may have left the
        // last tokens unclaimed: as many as the server's clock ran past `duration` (its span
        // measured around the run). Never more than the span allows.
        let late = per_window(span.saturating_sub(duration.as_millis() as u64));
        assert!(
            admitted + 1 + late >= expected && admitted <= burst + per_window(span) + 1,
            "limit {limit} per {window:?}, burst {burst}, {duration:?} ({span} ms on the server): \
             {admitted} passed, expected {expected} ± 1 (less {late} late)"
        );
        let stats = limiter.stats();
        assert_eq!(stats.admitted, admitted);
        assert_eq!(stats.backend_errors, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_script_per_check_and_the_gcra_state_is_small() {
    let server = RedisServer::single();
    let cache = redis_cache(&server.url());
    let policy = RateLimitPolicy::new(100, Duration::from_secs(60)).burst(100);
    let limiter = RateLimiter::new(&cache, "api", policy).unwrap();
    limiter.check("warm-up").await.unwrap(); // loads the script
    let mut raw = server.raw();
    let before = command_counts(&mut raw);
    for user in 0..50 {
        limiter.check(&format!("user{user}")).await.unwrap();
    }
    let delta = command_delta(&before, &command_counts(&mut raw));
    assert_eq!(delta.get("evalsha"), Some(&50), "{delta:?}");
    let writes: u64 = ["set", "get", "time"]
        .iter()
        .filter_map(|c| delta.get(*c))
        .sum();
    assert_eq!(
        writes, 150,
        "GET, TIME and SET inside each script: {delta:?}"
    );
    // The state is one integer (the TAT in µs), which Redis keeps inside the key's object: no
    // allocation of its own. MEMORY USAGE counts the key's name too, so it is measured on a
    // short one.
    let key = limiter.key("user7");
    let encoding: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg(&key)
        .query(&mut raw)
        .unwrap();
    assert_eq!(encoding, "int");
    let short = Cache::builder()
        .prefix("rl")
        .redis(RedisConfig::from_url(&server.url()).unwrap());
    let short = RateLimiter::new(&short.build().unwrap(), "g", policy).unwrap();
    short.check("7").await.unwrap();
    let bytes: u64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg("rl:rate:g:{7}")
        .query(&mut raw)
        .unwrap();
    assert!(bytes <= 64, "MEMORY USAGE rl:rate:g:{{7}} = {bytes} bytes");
    redis::cmd("DEL")
        .arg("rl:rate:g:{7}")
        .exec(&mut raw)
        .unwrap();
    let keys = keys_of(&mut raw);
    assert_eq!(keys.len(), 51);
    assert!(
        keys.values().all(|&pttl| pttl > 0 && pttl <= 60_000),
        "{keys:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_idling_exactly_burst_pass_then_a_denial() {
    let server = RedisServer::single();
    let cache = redis_cache(&server.url());
    for burst in [1, 3, 10] {
        // A long window: the refill during the test is far below one call.
        let policy = RateLimitPolicy::new(10, Duration::from_secs(600)).burst(burst);
        let limiter = RateLimiter::new(&cache, &format!("idle{burst}"), policy).unwrap();
        for call in 0..burst {
            let admitted = limiter.check("k").await.unwrap();
            assert_eq!(admitted.remaining(), burst - call - 1);
        }
        let limited = limiter.check("k").await.unwrap_err();
        assert!(
            limited.retry_after() > Duration::from_secs(55),
            "{limited:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_at_retry_after_passes_and_an_earlier_one_does_not() {
    let server = RedisServer::single();
    let cache = redis_cache(&server.url());
    let policies = [
        RateLimitPolicy::new(5, Duration::from_millis(500)).burst(2),
        RateLimitPolicy::new(3, Duration::from_millis(600)).algorithm(Algorithm::FixedWindow),
        RateLimitPolicy::new(3, Duration::from_millis(600)).algorithm(Algorithm::SlidingWindow),
    ];
    let mut raw = server.raw();
    for (i, policy) in policies.into_iter().enumerate() {
        let limiter = RateLimiter::new(&cache, &format!("retry{i}"), policy).unwrap();
        for round in 0..4 {
            // Both halves wait on the server's clock, the one retry_after is counted on (a VM's
            // wall clock can run behind its monotonic one: CI saw 4 ms left after sleeping
            // less than 20 ms). The denial was decided between these two readings.
            let (asked_at, limited) = loop {
                let asked_at = server_micros(&mut raw);
                if let Err(limited) = limiter.check("k").await {
                    break (asked_at, limited);
                }
            };
            let denied_by = server_micros(&mut raw);
            let retry_after = limited.retry_after();
            let micros = |duration: Duration| duration.as_micros() as u64;
            // Clearly earlier: half the retry time after the denial at the earliest.
            if retry_after > Duration::from_millis(20) {
                until_server_clock(&mut raw, asked_at + micros(retry_after / 2)).await;
                assert!(
                    limiter.check("k").await.is_err(),
                    "{policy:?} round {round}: early"
                );
            }
            // At retry_after after the denial at the latest: it must pass.
            until_server_clock(&mut raw, denied_by + micros(retry_after)).await;
            assert!(
                limiter.check("k").await.is_ok(),
                "{policy:?} round {round}: at retry_after ({retry_after:?})"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_clocks_skewed_by_seconds_do_not_change_the_counts() {
    let server = RedisServer::single();
    let config = RedisConfig::from_url(&server.url()).unwrap();
    let policy = RateLimitPolicy::new(10, Duration::from_secs(600)).burst(4);
    let mut counts = Vec::new();
    for (i, skew) in [0i64, 30, -30].into_iter().enumerate() {
        let clock = ManualClock::new();
        if skew > 0 {
            clock.advance(Duration::from_secs(skew as u64));
        }
        // A clock behind is a clock that never moves while the other ones are ahead.
        let cache = Cache::builder()
            .redis(config.clone())
            .clock(clock)
            .build()
            .unwrap();
        let limiter = RateLimiter::new(&cache, &format!("skew{i}"), policy).unwrap();
        let mut admitted = 0;
        for _ in 0..10 {
            admitted += u32::from(limiter.check("k").await.is_ok());
        }
        counts.push(admitted);
    }
    assert_eq!(
        counts,
        [4, 4, 4],
        "the server's clock decides, not the client's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connections_leave_no_limiter_key_without_a_ttl() {
    let server = RedisServer::single();
    let cache = redis_cache(&server.url());
    let policies = [
        RateLimitPolicy::new(50, Duration::from_secs(2)),
        RateLimitPolicy::new(50, Duration::from_secs(2)).algorithm(Algorithm::FixedWindow),
        RateLimitPolicy::new(50, Duration::from_secs(2)).algorithm(Algorithm::SlidingWindow),
    ];
    let limiters: Vec<RateLimiter> = policies
        .iter()
        .enumerate()
        .map(|(i, policy)| RateLimiter::new(&cache, &format!("killed{i}"), *policy).unwrap())
        .collect();
    let load: Vec<_> = (0..8)
        .map(|task| {
            let limiters = limiters.clone();
            tokio::spawn(async move {
                for call in 0..600u32 {
                    let limiter = &limiters[call as usize % 3];
                    let _ = limiter.check(&format!("user{}", (call + task) % 40)).await;
                }
            })
        })
        .collect();
    let mut raw = server.raw();
    let mut kills = 0;
    while !load.iter().all(|task| task.is_finished()) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let killed: u64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("normal")
            .arg("SKIPME")
            .arg("yes")
            .query(&mut raw)
            .unwrap();
        kills += killed;
    }
    for task in load {
        task.await.unwrap();
    }
    assert!(kills >= 3, "only {kills} connections were killed");
    let keys = keys_of(&mut raw);
    assert!(keys.len() > 40, "{} keys", keys.len());
    // -1: a key without a TTL; -2 (gone between the SCAN and the PTTL) is not one.
    let immortal: Vec<_> = keys.iter().filter(|(_, &pttl)| pttl == -1).collect();
    assert!(immortal.is_empty(), "keys without a TTL: {immortal:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_algorithms_on_redis_match_their_definitions() {
    let server = RedisServer::single();
    let cache = redis_cache(&server.url());
    let fixed = RateLimitPolicy::new(3, Duration::from_secs(600)).algorithm(Algorithm::FixedWindow);
    let limiter = RateLimiter::new(&cache, "fixed", fixed).unwrap();
    let results: Vec<bool> = futures_join(&limiter, 5).await;
    assert_eq!(results.iter().filter(|&&ok| ok).count(), 3);
    let mut raw = server.raw();
    let state: String = redis::cmd("GET")
        .arg(limiter.key("k"))
        .query(&mut raw)
        .unwrap();
    assert!(state.ends_with(":3"), "index:count, got {state}");

    let sliding =
        RateLimitPolicy::new(4, Duration::from_millis(400)).algorithm(Algorithm::SlidingWindow);
    let limiter = RateLimiter::new(&cache, "sliding", sliding).unwrap();
    let mut admitted_at = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1_500) {
        if limiter.check("k").await.is_ok() {
            admitted_at.push(Instant::now());
        }
    }
    for (i, &at) in admitted_at.iter().enumerate() {
        // Measured at the client, after the reply: a window of 400 ms less a margin for the
        // round trip holds at most 4.
        let inside = admitted_at[i..]
            .iter()
            .take_while(|&&t| t.duration_since(at) < Duration::from_millis(390))
            .count();
        assert!(inside <= 4, "{inside} admissions within 390 ms");
    }
    assert!(
        (12..=16).contains(&admitted_at.len()),
        "{} admitted in 1.5 s",
        admitted_at.len()
    );
    let members: u64 = redis::cmd("ZCARD")
        .arg(limiter.key("k"))
        .query(&mut raw)
        .unwrap();
    assert!(members <= 4);
}

async fn futures_join(limiter: &RateLimiter, calls: usize) -> Vec<bool> {
    let tasks: Vec<_> = (0..calls)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.check("k").await.is_ok() })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_limits_each_key_on_its_node() {
    let cluster = RedisCluster::start();
    let cache = redis_cache(&cluster.url());
    let limiter = RateLimiter::new(
        &cache,
        "cluster",
        RateLimitPolicy::new(2, Duration::from_secs(60)),
    )
    .unwrap();
    for user in 0..20 {
        let key = format!("user{user}");
        assert!(limiter.check(&key).await.is_ok());
        assert!(limiter.check(&key).await.is_ok());
        assert!(limiter.check(&key).await.is_err(), "{key}");
    }
    let keys = cluster.keys();
    assert_eq!(keys.len(), 20);
    assert!(keys.values().all(|&pttl| pttl > 0));
}

// --- Redis down ------------------------------------------------------------------------------

static OPEN: OnceLock<Cache> = OnceLock::new();
static CLOSED: OnceLock<Cache> = OnceLock::new();
static OPEN_RUNS: Runs = Runs::new();
static CLOSED_RUNS: Runs = Runs::new();

#[derive(Debug)]
struct TooMany(RateLimited);

impl From<RateLimited> for TooMany {
    fn from(limited: RateLimited) -> Self {
        TooMany(limited)
    }
}

#[rate_limit(limit = 1, window = 60, key = "{id}", store = OPEN.get().unwrap())]
async fn fails_open(id: u64) -> Result<u64, TooMany> {
    OPEN_RUNS.record();
    Ok(id)
}

#[rate_limit(limit = 1, window = 60, key = "{id}", fail = closed, store = CLOSED.get().unwrap())]
fn fails_closed(id: u64) -> Result<u64, TooMany> {
    CLOSED_RUNS.record();
    Ok(id)
}

/// A configuration that gives up quickly.
fn impatient(server: &RedisServer) -> RedisConfig {
    RedisConfig::from_url(&server.url())
        .unwrap()
        .connect_timeout(Duration::from_millis(200))
        .response_timeout(Duration::from_millis(200))
        .circuit_breaker(1_000, Duration::from_secs(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_fails_open_or_closed_within_the_budget_and_is_counted() {
    let server = RedisServer::start(Default::default());
    OPEN.set(Cache::builder().redis(impatient(&server)).build().unwrap())
        .unwrap();
    CLOSED
        .set(Cache::builder().redis(impatient(&server)).build().unwrap())
        .unwrap();
    assert!(fails_open(1).await.is_ok());
    assert!(fails_open(1).await.is_err(), "limited while Redis is up");
    assert!(tokio::task::spawn_blocking(|| fails_closed(1))
        .await
        .unwrap()
        .is_ok());
    let keys = keys_of(&mut server.raw());
    let key = "cache:rate:rate_limit_redis::fails_open:{1}";
    assert!(
        keys.get(key).is_some_and(|&pttl| pttl > 0),
        "{key} in {keys:?}"
    );

    server.pause(); // frozen: every reply times out
    let budget = Duration::from_millis(400 + 250); // connect + response timeout, and slack
    for _ in 0..3 {
        let started = Instant::now();
        assert!(fails_open(1).await.is_ok(), "fail open admits");
        assert!(started.elapsed() < budget, "{:?}", started.elapsed());
        let started = Instant::now();
        let closed = tokio::task::spawn_blocking(|| fails_closed(2))
            .await
            .unwrap();
        assert!(started.elapsed() < budget, "{:?}", started.elapsed());
        let TooMany(limited) = closed.unwrap_err();
        assert!(limited.is_unavailable(), "{limited}");
        assert_eq!(limited.headers()[2], ("Retry-After", "1".to_string()));
    }
    server.resume();
    assert_eq!(OPEN_RUNS.count(), 4);
    assert_eq!(CLOSED_RUNS.count(), 1);
    let stats = cache_runtime::limit_stats();
    let stat = |name: &str| {
        stats
            .iter()
            .find(|s| s.name.ends_with(name))
            .cloned()
            .unwrap()
    };
    let (open, closed) = (stat("::fails_open"), stat("::fails_closed"));
    assert_eq!(
        (open.admitted, open.limited, open.backend_errors),
        (4, 1, 3)
    );
    assert_eq!(
        (closed.admitted, closed.limited, closed.backend_errors),
        (1, 3, 3)
    );
}
