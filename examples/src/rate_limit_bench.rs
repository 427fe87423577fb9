//! Rate-limit checks, measured side by side in one run:
//!
//! - memory: ns per check of `RateLimiter::check_blocking` against `governor`'s keyed limiter,
//!   single thread, 1,000 keys round robin, every check admitted (the hot path);
//! - Redis: checks per second of `RateLimiter::check` (one EVALSHA each) against a plain `SET`
//!   through redis-rs, 64 concurrent tasks on one multiplexed connection each, same server; and
//!   the same script sent by bare redis-rs, to tell the client's share from the server's. The
//!   server's own time per call comes from `INFO commandstats`.
//!
//! `cargo run --release -p cache-examples --bin rate_limit_bench` (`--quick` for a short run,
//! `--memory` for the memory part only).

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_runtime::{Algorithm, Cache, RateLimitPolicy, RateLimiter};
use cache_tests::servers::RedisServer;

const KEYS: usize = 1_000;
const TASKS: usize = 64;

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let (checks, rounds, seconds) = match quick {
        true => (200_000, 3, 1),
        false => (2_000_000, 5, 3),
    };
    let keys: Vec<String> = (0..KEYS).map(|i| format!("user{i}")).collect();

    println!("Memory: ns per check, {checks} checks over {KEYS} keys, median of {rounds} rounds");
    let (ours, theirs) = memory(&keys, checks, rounds);
    println!("| limiter | ns/check (median) | min | max | |");
    println!("|---|---|---|---|---|");
    print_row("cache-runtime RateLimiter (memory, GCRA)", &ours, "");
    print_row("governor keyed (DashMap, GCRA)", &theirs, "");
    println!(
        "ratio ours / governor: {:.2}×  (goal ≤ 2×)\n",
        median(&ours) / median(&theirs)
    );

    if std::env::args().any(|arg| arg == "--memory") {
        return;
    }
    let server = RedisServer::start(Default::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    println!(
        "Redis: operations per second, {TASKS} tasks, {rounds} alternating rounds of {seconds} s"
    );
    let (checks, sets) = runtime.block_on(redis(&server, &keys, rounds, seconds));
    println!("| operation | ops/s (median) | min | max | server µs/call |");
    println!("|---|---|---|---|---|");
    let server_time = server_micros_per_call(&server);
    print_row("RateLimiter::check (EVALSHA, GCRA)", &checks.0, "");
    print_row(
        "the same script, bare redis-rs EVALSHA",
        &checks.1,
        &server_time.0,
    );
    print_row("redis-rs SET", &sets, &server_time.1);
    println!(
        "ratio check / SET: {:.2}×  (goal ≥ 0.6×); bare script / SET: {:.2}×",
        median(&checks.0) / median(&sets),
        median(&checks.1) / median(&sets)
    );
}

fn memory(keys: &[String], checks: usize, rounds: usize) -> (Vec<f64>, Vec<f64>) {
    let cache = Cache::builder().build().expect("memory cache");
    let generous = RateLimitPolicy::per_second(1_000_000_000);
    let ours = RateLimiter::new(&cache, "bench", generous).expect("a limiter");
    let quota = governor::Quota::per_second(NonZeroU32::new(1_000_000_000).expect("non-zero"));
    let theirs = governor::RateLimiter::<String, _, _>::keyed(quota);
    let (mut our_ns, mut their_ns) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let started = Instant::now();
        for i in 0..checks {
            black_box(ours.check_blocking(&keys[i % keys.len()]).is_ok());
        }
        our_ns.push(started.elapsed().as_nanos() as f64 / checks as f64);
        let started = Instant::now();
        for i in 0..checks {
            black_box(theirs.check_key(&keys[i % keys.len()]).is_ok());
        }
        their_ns.push(started.elapsed().as_nanos() as f64 / checks as f64);
    }
    (our_ns, their_ns)
}

async fn redis(
    server: &RedisServer,
    keys: &[String],
    rounds: usize,
    seconds: u64,
) -> ((Vec<f64>, Vec<f64>), Vec<f64>) {
    let cache = Cache::from_url(&server.url()).expect("a Redis cache");
    let limiter = RateLimiter::new(&cache, "bench", RateLimitPolicy::per_second(1_000_000_000))
        .expect("a limiter");
    let client = redis::Client::open(server.url()).expect("a client");
    let connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("a connection");
    let keys: Arc<Vec<String>> = Arc::new(keys.to_vec());
    let duration = Duration::from_secs(seconds);
    limiter.check("warm-up").await.expect("Redis answers");
    let script = redis::Script::new(&cache_runtime::__private::limit_script(Algorithm::Gcra));
    let (mut checks, mut bare, mut sets) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        checks.push(
            run_for(duration, &keys, {
                let limiter = limiter.clone();
                move |key: String| {
                    let limiter = limiter.clone();
                    async move { limiter.check(&key).await.is_ok() }
                }
            })
            .await,
        );
        bare.push(
            run_for(duration, &keys, {
                let (connection, script) = (connection.clone(), script.clone());
                move |key: String| {
                    let (mut connection, script) = (connection.clone(), script.clone());
                    async move {
                        script
                            .key(format!("bare:{key}"))
                            .arg(1_000_000_000u64)
                            .arg(1_000_000u64)
                            .arg(1_000_000_000u64)
                            .invoke_async::<(i64, i64, i64, i64)>(&mut connection)
                            .await
                            .is_ok()
                    }
                }
            })
            .await,
        );
        sets.push(
            run_for(duration, &keys, {
                let connection = connection.clone();
                move |key: String| {
                    let mut connection = connection.clone();
                    async move {
                        redis::cmd("SET")
                            .arg(&key)
                            .arg("1")
                            .query_async::<()>(&mut connection)
                            .await
                            .is_ok()
                    }
                }
            })
            .await,
        );
    }
    ((checks, bare), sets)
}

/// Operations per second of `operation` from `TASKS` tasks, each in a loop for `duration`.
async fn run_for<F, Fut>(duration: Duration, keys: &Arc<Vec<String>>, operation: F) -> f64
where
    F: Fn(String) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let (operation, keys) = (operation.clone(), Arc::clone(keys));
            tokio::spawn(async move {
                let (mut done, mut i) = (0u64, task);
                while Instant::now() < deadline {
                    assert!(
                        operation(keys[i % keys.len()].clone()).await,
                        "an operation failed"
                    );
                    done += 1;
                    i += TASKS;
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("a task");
    }
    total as f64 / started.elapsed().as_secs_f64()
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn print_row(name: &str, values: &[f64], extra: &str) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max);
    println!(
        "| {name} | {:.0} | {min:.0} | {max:.0} | {extra} |",
        median(values)
    );
}

/// `usec_per_call` of EVALSHA and SET from `INFO commandstats`, over the whole run.
fn server_micros_per_call(server: &RedisServer) -> (String, String) {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut server.raw())
        .expect("INFO commandstats");
    let per_call = |command: &str| {
        info.lines()
            .find_map(|line| line.strip_prefix(&format!("cmdstat_{command}:")))
            .and_then(|rest| {
                rest.split(',')
                    .find_map(|field| field.strip_prefix("usec_per_call="))
            })
            .unwrap_or("?")
            .to_owned()
    };
    (per_call("evalsha"), per_call("set"))
}
