//! The near cache, side by side in one run, on a Redis server this bench starts:
//!
//! 1. hot-key hit latency: a near-cache hit vs a memory-store hit vs a raw redis-rs `GET`
//!    (`async fn(u64) -> String` of 64 bytes, 64 hot keys, one caller, interleaved rounds);
//! 2. throughput, 64 tasks on a 2-worker runtime: near-cache hits vs raw `GET`s on one
//!    multiplexed connection vs redis-rs's built-in client-side cache (`cache-aio`);
//! 3. invalidation lag: another client's `SET` returns → this client's near cache has heard the
//!    invalidation, over 10⁴ writes (p50/p99/max, and an SVG histogram, `docs/near-cache-lag.svg`);
//! 4. the fill race, provoked through the fault proxy (the `GET` reply and the invalidation held
//!    back, then released), on the near cache and on redis-rs's client-side cache: in how many
//!    of 20 rounds the old value stayed cached.
//!
//! ```text
//! cargo bench -p cache-tests --bench near_cache
//! ```

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cache_runtime::{cached, Cache};
use cache_tests::proxy::{Direction, Fault, FaultProxy};
use cache_tests::servers::{RedisServer, ServerOptions};
use redis::aio::MultiplexedConnection;
use redis::caching::CacheConfig;
use redis::AsyncConnectionConfig;

const HOT_KEYS: u64 = 64;
const ROUNDS: usize = 7;
const TASKS: usize = 64;
const CALLS_PER_TASK: usize = 3_000;
const LAG_WRITES: usize = 10_000;

static MEMORY: OnceLock<Cache> = OnceLock::new();
static NEAR: OnceLock<Cache> = OnceLock::new();

fn value(id: u64) -> String {
    format!("{id:064}")
}

#[cached(ttl = 600, key = "hit:{id}", store = MEMORY.get().unwrap())]
async fn memory_hit(id: u64) -> String {
    value(id)
}

#[cached(ttl = 600, key = "hit:{id}", store = NEAR.get().unwrap())]
async fn near_hit(id: u64) -> String {
    value(id)
}

async fn raw_get(connection: &mut MultiplexedConnection, key: &str) -> Vec<u8> {
    redis::cmd("GET")
        .arg(key)
        .query_async(connection)
        .await
        .unwrap()
}

/// A RESP3 connection with redis-rs's client-side cache, to `url`.
async fn client_cached(url: &str) -> MultiplexedConnection {
    let client = redis::Client::open(format!("{url}?protocol=resp3")).unwrap();
    let config = AsyncConnectionConfig::new().set_cache_config(CacheConfig::new());
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap()
}

fn spread(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (
        values[0],
        values[values.len() / 2],
        values[values.len() - 1],
    )
}

fn show((min, median, max): (f64, f64, f64), unit: &str) -> String {
    format!("{min:.1} / {median:.1} / {max:.1} {unit}")
}

fn main() {
    let server = RedisServer::start(ServerOptions::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    MEMORY
        .set(Cache::builder().prefix("near").build().unwrap())
        .unwrap();
    let near_url = format!(
        "{}?prefix=near&near_cache=10000&near_cache_max_lag=500ms",
        server.url()
    );
    NEAR.set(Cache::from_url(&near_url).unwrap()).unwrap();
    let near = NEAR.get().unwrap();
    let keys: Vec<String> = (0..HOT_KEYS).map(|id| format!("near:hit:{id}")).collect();
    let client = redis::Client::open(server.url()).unwrap();

    // 1. Latency.
    let latency = runtime.block_on(async {
        let mut raw = client.get_multiplexed_async_connection().await.unwrap();
        for id in 0..HOT_KEYS {
            memory_hit(id).await;
            near_hit(id).await;
        }
        let armed = cache_tests::eventually_async(async || {
            let hits = near.redis_stats().unwrap().near_hits;
            for id in 0..HOT_KEYS {
                near_hit(id).await;
            }
            near.redis_stats().unwrap().near_hits >= hits + HOT_KEYS
        })
        .await;
        assert!(armed, "every hot key in the near cache");
        let (mut memory, mut near_ns, mut raw_ns) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let started = Instant::now();
            for i in 0..200_000u64 {
                std::hint::black_box(memory_hit(i % HOT_KEYS).await);
            }
            memory.push(started.elapsed().as_nanos() as f64 / 200_000.0);
            let started = Instant::now();
            for i in 0..200_000u64 {
                std::hint::black_box(near_hit(i % HOT_KEYS).await);
            }
            near_ns.push(started.elapsed().as_nanos() as f64 / 200_000.0);
            let started = Instant::now();
            for i in 0..2_000usize {
                std::hint::black_box(raw_get(&mut raw, &keys[i % HOT_KEYS as usize]).await);
            }
            raw_ns.push(started.elapsed().as_nanos() as f64 / 2_000.0);
        }
        (memory, near_ns, raw_ns)
    });
    assert_eq!(
        near_hit::stats().computes,
        HOT_KEYS,
        "every timed near call was a hit"
    );

    // 2. Throughput.
    let throughput = |name: &'static str| -> f64 {
        runtime.block_on(async {
            let multiplexed = match name {
                "cache-aio" => client_cached(&server.url()).await,
                _ => client.get_multiplexed_async_connection().await.unwrap(),
            };
            let started = Instant::now();
            let tasks: Vec<_> = (0..TASKS)
                .map(|task| {
                    let (keys, mut connection) = (keys.clone(), multiplexed.clone());
                    tokio::spawn(async move {
                        for i in 0..CALLS_PER_TASK {
                            let id = ((task * CALLS_PER_TASK + i) as u64) % HOT_KEYS;
                            match name {
                                "near" => drop(std::hint::black_box(near_hit(id).await)),
                                _ => drop(raw_get(&mut connection, &keys[id as usize]).await),
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
    let (mut near_rate, mut raw_rate, mut aio_rate, mut ratios) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        let (n, r, a) = (
            throughput("near"),
            throughput("raw"),
            throughput("cache-aio"),
        );
        near_rate.push(n / 1e3);
        raw_rate.push(r / 1e3);
        aio_rate.push(a / 1e3);
        ratios.push(n / r);
    }

    // 3. Invalidation lag: another client's SET returns → the near cache heard it.
    let lags = runtime.block_on(async {
        let writer = Cache::from_url(&format!(
            "{}?prefix=near&response_timeout=300ms",
            server.url()
        ))
        .unwrap();
        let mut lags = Vec::with_capacity(LAG_WRITES);
        for i in 0..LAG_WRITES {
            let heard = near.redis_stats().unwrap().near_invalidations;
            writer
                .set(&format!("lag:{}", i % 64), &i, None)
                .await
                .unwrap();
            let returned = Instant::now();
            while near.redis_stats().unwrap().near_invalidations == heard {
                std::hint::spin_loop();
                if returned.elapsed() > Duration::from_secs(2) {
                    panic!("write {i} not heard within 2 s");
                }
            }
            lags.push(returned.elapsed());
        }
        lags.sort_unstable();
        lags
    });

    // 4. The fill race under the proxy: ours, and redis-rs's client-side cache.
    let proxy = FaultProxy::start(server.port());
    let (ours_stale, theirs_stale) = runtime.block_on(async {
        let writer =
            Cache::from_url(&format!("{}?prefix=race&response_timeout=1s", server.url())).unwrap();
        let raw_writer = client.get_multiplexed_async_connection().await.unwrap();
        let race_url = format!(
            "{}?prefix=race&near_cache=100&near_cache_max_lag=2s&response_timeout=1s",
            proxy.url()
        );
        RACE.set(Cache::from_url(&race_url).unwrap()).unwrap();
        let theirs = client_cached(&proxy.url()).await;
        let read_theirs = |round: u64| {
            let mut theirs = theirs.clone();
            async move {
                let value: Option<u64> = redis::cmd("GET")
                    .arg(format!("race:plain:{round}"))
                    .query_async(&mut theirs)
                    .await
                    .unwrap();
                value.unwrap_or(0)
            }
        };
        let mut stale = (0, 0);
        for round in 0..20u64 {
            let (old, new) = (round * 2 + 1, round * 2 + 2);
            let hold = match round % 2 {
                0 => Fault::Delay(Duration::from_millis(150)),
                _ => Fault::Blackhole,
            };
            // Ours: the old value cached, then evicted by an own write of its TTL, so that the
            // next read is a GET whose reply races the other client's write.
            // Each round its own key on each side, so that a value left stale by one round cannot
            // spoil the next.
            let key = format!("k:{round}");
            writer.set(&key, &old, None).await.unwrap();
            assert!(cache_tests::eventually_async(async || race_cached(round).await == old).await);
            RACE.get()
                .unwrap()
                .expire(&key, Duration::from_secs(600))
                .await
                .unwrap();
            proxy.set(Direction::ToClient, hold);
            let reading = tokio::spawn(race_cached(round));
            tokio::time::sleep(Duration::from_millis(30)).await;
            writer.set(&key, &new, None).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            proxy.set(Direction::ToClient, Fault::Pass);
            let _ = reading.await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            stale.0 += u32::from(race_cached(round).await != new);

            // redis-rs's client-side cache: the same race on a plain integer key; the cached
            // entry is dropped first by rewriting the old value (its invalidation arrives).
            let plain = format!("race:plain:{round}");
            let set = |value: u64| {
                let (mut writer, plain) = (raw_writer.clone(), plain.clone());
                async move {
                    let _: () = redis::cmd("SET")
                        .arg(plain)
                        .arg(value)
                        .query_async(&mut writer)
                        .await
                        .unwrap();
                }
            };
            set(old).await;
            assert!(cache_tests::eventually_async(async || read_theirs(round).await == old).await);
            set(old).await; // its invalidation drops the cached entry
            tokio::time::sleep(Duration::from_millis(50)).await;
            proxy.set(Direction::ToClient, hold);
            let reading = tokio::spawn(read_theirs(round));
            tokio::time::sleep(Duration::from_millis(30)).await;
            set(new).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            proxy.set(Direction::ToClient, Fault::Pass);
            let _ = reading.await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            stale.1 += u32::from(read_theirs(round).await != new);
        }
        stale
    });

    // Report.
    let (memory, near_ns, raw_ns) = latency;
    let memory_median = spread(memory.clone()).1;
    let near_ratios: Vec<f64> = near_ns.iter().zip(&memory).map(|(n, m)| n / m).collect();
    println!("Hit latency, one caller, {ROUNDS} interleaved rounds (min / median / max of the rounds' means)\n");
    println!("| | per call | vs memory-store hit |");
    println!("| --- | --- | --- |");
    println!(
        "| memory-store hit | {} | 1.00× |",
        show(spread(memory), "ns")
    );
    println!(
        "| near-cache hit (Redis behind it) | {} | {} |",
        show(spread(near_ns.clone()), "ns"),
        show(spread(near_ratios), "×")
    );
    println!(
        "| raw redis-rs `GET` | {} | {:.0}× |",
        show(spread(raw_ns.iter().map(|ns| ns / 1e3).collect()), "µs"),
        spread(raw_ns).1 / memory_median
    );
    println!("\nThroughput, {TASKS} tasks × {CALLS_PER_TASK} calls on 64 hot keys, 5 rounds\n");
    println!("| | k calls/s (min / median / max) |");
    println!("| --- | --- |");
    println!("| near-cache hits | {} |", show(spread(near_rate), ""));
    println!(
        "| raw redis-rs `GET`, one multiplexed connection | {} |",
        show(spread(raw_rate), "")
    );
    println!(
        "| redis-rs client-side cache (`cache-aio`) `GET` | {} |",
        show(spread(aio_rate), "")
    );
    println!("| near / raw, per round | {} |", show(spread(ratios), "×"));
    let micros =
        |p: f64| lags[((lags.len() as f64 * p) as usize).min(lags.len() - 1)].as_secs_f64() * 1e6;
    println!("\nInvalidation lag, {LAG_WRITES} writes: another client's SET returned → heard by the near cache\n");
    println!("| p50 | p90 | p99 | max |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs |",
        micros(0.5),
        micros(0.9),
        micros(0.99),
        micros(1.0)
    );
    plot_lags(&lags);
    println!(
        "\nThe fill race under the proxy, 20 rounds each: old value still cached afterwards\n"
    );
    println!("| near cache | redis-rs client-side cache |");
    println!("| --- | --- |");
    println!("| {} of 20 | {} of 20 |", ours_stale, theirs_stale);
}

static RACE: OnceLock<Cache> = OnceLock::new();

#[cached(ttl = 600, key = "k:{round}", store = RACE.get().unwrap())]
async fn race_cached(round: u64) -> u64 {
    let _ = round;
    0
}

/// An SVG histogram of the lags, in `docs/near-cache-lag.svg`.
fn plot_lags(lags: &[Duration]) {
    use plotters::prelude::*;
    let micros: Vec<f64> = lags.iter().map(|lag| lag.as_secs_f64() * 1e6).collect();
    let top = micros[(micros.len() * 999 / 1000).min(micros.len() - 1)].max(1.0);
    const BINS: usize = 50;
    let width = top / BINS as f64;
    let mut counts = [0u32; BINS];
    for &lag in &micros {
        counts[((lag / width) as usize).min(BINS - 1)] += 1;
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/near-cache-lag.svg");
    let root = SVGBackend::new(path, (720, 360)).into_drawing_area();
    root.fill(&WHITE).unwrap();
    let peak = *counts.iter().max().unwrap_or(&1);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Invalidation lag, {} writes (µs; p99.9 and below)",
                micros.len()
            ),
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..top, 0u32..peak + peak / 10 + 1)
        .unwrap();
    chart
        .configure_mesh()
        .x_desc("µs from the SET's reply to the invalidation heard")
        .y_desc("writes")
        .draw()
        .unwrap();
    chart
        .draw_series(counts.iter().enumerate().map(|(bin, &count)| {
            let x0 = bin as f64 * width;
            Rectangle::new([(x0, 0), (x0 + width, count)], BLUE.filled())
        }))
        .unwrap();
    root.present().unwrap();
    println!("\n(histogram: docs/near-cache-lag.svg)");
}
