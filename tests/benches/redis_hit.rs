//! `#[cached]` hits on Redis against a raw redis-rs `GET` of the same bytes, and against the
//! `cached` crate's Redis store, on one server this benchmark starts (loopback, no persistence).
//!
//! ```text
//! cargo bench -p cache-tests --bench redis_hit
//! ```
//!
//! Latency: one caller, calls one after another, the contenders interleaved in blocks.
//! Throughput: 64 tasks on a 2-worker runtime, each calling over 64 hot keys. The pipelined
//! ceiling is `redis-benchmark -t get -c 64 -P 16` against the same server.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cache_runtime::{cached, Cache};
use cache_tests::servers::{RedisServer, ServerOptions};
use cached::proc_macro::concurrent_cached;

const HOT_KEYS: u64 = 64;
const LATENCY_CALLS: usize = 20_000;
const BLOCK: usize = 500;
const TASKS: usize = 64;
const CALLS_PER_TASK: usize = 3_000;

static OURS: OnceLock<Cache> = OnceLock::new();

fn payload(id: u64) -> String {
    format!("{id:>8}:{}", "x".repeat(90))
}

#[cached(ttl = 600, key = "hit:{id}", store = OURS.get().unwrap())]
async fn ours(id: u64) -> String {
    payload(id)
}

#[concurrent_cached(
    redis = true,
    ttl_secs = 600,
    cache_prefix_block = r##"{ "theirs:" }"##,
    map_error = r##"|e| format!("{e:?}")"##
)]
async fn theirs(id: u64) -> Result<String, String> {
    Ok(payload(id))
}

async fn raw_get<C: redis::aio::ConnectionLike>(connection: &mut C, key: &str) -> Vec<u8> {
    redis::cmd("GET")
        .arg(key)
        .query_async(connection)
        .await
        .unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn micros(duration: Duration) -> String {
    format!("{:.1} µs", duration.as_secs_f64() * 1e6)
}

fn main() {
    let server = RedisServer::start(ServerOptions::default());
    std::env::set_var("CACHED_REDIS_CONNECTION_STRING", server.url());
    OURS.set(Cache::from_url(&format!("{}?prefix=svc", server.url())).unwrap())
        .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let keys: Vec<String> = (0..HOT_KEYS).map(|id| format!("svc:hit:{id}")).collect();

    // Latency.
    let (ours_lat, raw_lat) = runtime.block_on(async {
        let mut manager = redis::aio::ConnectionManager::new(client.clone())
            .await
            .unwrap();
        for id in 0..HOT_KEYS {
            ours(id).await; // store
            assert_eq!(ours(id).await, payload(id));
            assert!(!raw_get(&mut manager, &keys[id as usize]).await.is_empty());
        }
        let (mut ours_lat, mut raw_lat) = (Vec::new(), Vec::new());
        for block in 0..LATENCY_CALLS / BLOCK {
            for i in 0..BLOCK {
                let id = ((block * BLOCK + i) as u64) % HOT_KEYS;
                let started = Instant::now();
                std::hint::black_box(ours(id).await);
                ours_lat.push(started.elapsed());
            }
            for i in 0..BLOCK {
                let key = &keys[(block * BLOCK + i) % HOT_KEYS as usize];
                let started = Instant::now();
                std::hint::black_box(raw_get(&mut manager, key).await);
                raw_lat.push(started.elapsed());
            }
        }
        ours_lat.sort_unstable();
        raw_lat.sort_unstable();
        (ours_lat, raw_lat)
    });
    assert_eq!(ours::stats().computes, HOT_KEYS);

    // Throughput.
    let throughput = |name: &str| -> f64 {
        runtime.block_on(async {
            let multiplexed = client.get_multiplexed_async_connection().await.unwrap();
            for id in 0..HOT_KEYS {
                theirs(id).await.unwrap();
            }
            let started = Instant::now();
            let tasks: Vec<_> = (0..TASKS)
                .map(|task| {
                    let (name, keys) = (name.to_owned(), keys.clone());
                    let mut connection = multiplexed.clone();
                    tokio::spawn(async move {
                        for i in 0..CALLS_PER_TASK {
                            let id = ((task * CALLS_PER_TASK + i) as u64) % HOT_KEYS;
                            match name.as_str() {
                                "ours" => drop(std::hint::black_box(ours(id).await)),
                                "raw" => drop(raw_get(&mut connection, &keys[id as usize]).await),
                                _ => drop(std::hint::black_box(theirs(id).await.unwrap())),
                            }
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            (TASKS * CALLS_PER_TASK) as f64 / started.elapsed().as_secs_f64()
        })
    };
    let mut rates = [0.0; 3];
    for _round in 0..3 {
        for (slot, name) in ["ours", "raw", "theirs"].iter().enumerate() {
            rates[slot] = f64::max(rates[slot], throughput(name));
        }
    }
    assert_eq!(
        ours::stats().computes,
        HOT_KEYS,
        "every timed call was a hit"
    );

    let ceiling = std::process::Command::new("redis-benchmark")
        .args([
            "-p",
            &server.port().to_string(),
            "-t",
            "get",
            "-c",
            "64",
            "-P",
            "16",
        ])
        .args(["-n", "1000000", "-q"])
        .output()
        .ok()
        .and_then(|output| {
            let text = String::from_utf8_lossy(&output.stdout).into_owned();
            // Progress lines end in `\r`; the last `GET:` line holds the result.
            let line = text
                .split(['\r', '\n'])
                .rev()
                .find(|line| line.starts_with("GET:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        });

    let (o50, r50) = (percentile(&ours_lat, 0.5), percentile(&raw_lat, 0.5));
    let (o99, r99) = (percentile(&ours_lat, 0.99), percentile(&raw_lat, 0.99));
    println!("Hit latency, one caller, {LATENCY_CALLS} calls each\n");
    println!("| | p50 | p99 |");
    println!("|---|---|---|");
    println!("| `#[cached]` hit | {} | {} |", micros(o50), micros(o99));
    println!(
        "| raw redis-rs `GET` (ConnectionManager) | {} | {} |",
        micros(r50),
        micros(r99)
    );
    println!(
        "| ratio | {:.2}× | {:.2}× |",
        o50.as_secs_f64() / r50.as_secs_f64(),
        o99.as_secs_f64() / r99.as_secs_f64()
    );
    println!("\nThroughput, {TASKS} tasks × {CALLS_PER_TASK} calls, best of 3\n");
    println!("| | calls/s | vs raw |");
    println!("|---|---|---|");
    for (name, rate) in [
        ("`#[cached]` hits", rates[0]),
        ("raw redis-rs `GET`, one multiplexed connection", rates[1]),
        (
            "`cached` crate, `#[concurrent_cached(redis = true)]`",
            rates[2],
        ),
    ] {
        println!("| {name} | {:.0}k | {:.2}× |", rate / 1e3, rate / rates[1]);
    }
    match ceiling {
        Some(rate) => println!(
            "| `redis-benchmark -t get -c 64 -P 16` (pipelined ceiling) | {:.0}k | {:.2}× |",
            rate / 1e3,
            rate / rates[1]
        ),
        None => println!("| `redis-benchmark` | not found | |"),
    }
}
