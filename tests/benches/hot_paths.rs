//! The table of issue 17 ("hot paths at the limit"), each row ours and the peer measured side by
//! side in one process over 7 rounds (min / median / max), and the ratio per round. A round
//! alternates the two in 10 slices (ours first in even slices, the peer first in odd ones) and
//! sums each side's slices, so both meet the same minutes of a noisy machine:
//!
//! - memory hit, `async fn` and plain `fn`: `#[cached(ttl = 600)]` vs the `cached` crate's
//!   `#[cached(ttl_secs = 600)]` (`fn(u64) -> String` of 64 bytes, 64 hot keys);
//! - plain `fn` hits on 2 threads: ours vs the `cached` crate (one `Mutex`), and ours on 2
//!   threads vs 1;
//! - Redis hits, 64 tasks on a 2-worker runtime: ours vs a raw redis-rs `GET` on one multiplexed
//!   connection (a server this bench starts) made on that runtime, and vs the same raw `GET` on a
//!   connection driven by a thread of its own, as ours is (on the library's driver thread): the
//!   second row tells the library's cost from the cost of where the connection's I/O runs;
//! - memory miss (compute + store): ours vs the `cached` crate's `#[cached(max_size)]`.
//!
//! ```text
//! cargo bench -p cache-tests --bench hot_paths
//! ```

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cache_runtime::Cache;
use cache_tests::servers::{RedisServer, ServerOptions};

const HOT_KEYS: u64 = 64;
const ROUNDS: usize = 7;
/// Each round's calls per side, in `SLICES` slices.
const CALLS: u64 = 500_000;
const SLICES: u64 = 10;
const SLICE: u64 = CALLS / SLICES;

fn value(id: u64) -> String {
    format!("{id:064}")
}

#[cache_runtime::cached(ttl = 600)]
async fn ours_async(id: u64) -> String {
    value(id)
}

#[cached::proc_macro::cached(ttl_secs = 600)]
async fn theirs_async(id: u64) -> String {
    value(id)
}

#[cache_runtime::cached(ttl = 600)]
fn ours_plain(id: u64) -> String {
    value(id)
}

#[cached::proc_macro::cached(ttl_secs = 600)]
fn theirs_plain(id: u64) -> String {
    value(id)
}

#[cache_runtime::cached(ttl = 600)]
fn ours_miss(id: u64) -> String {
    value(id)
}

#[cached::proc_macro::cached(max_size = 10_000_000)]
fn theirs_miss(id: u64) -> String {
    value(id)
}

static REDIS: OnceLock<Cache> = OnceLock::new();

#[cache_runtime::cached(ttl = 600, key = "hot:{id}", store = REDIS.get().unwrap())]
async fn ours_redis(id: u64) -> String {
    value(id)
}

/// One slice of a round: `SLICE` calls of `call` on each of `threads` threads started for it
/// (one thread too, so that one and two threads pay the same start), and the time they took.
fn slice(threads: u64, call: &(impl Fn(u64) + Sync)) -> Duration {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for thread in 0..threads {
            scope.spawn(move || {
                for i in 0..SLICE {
                    call((i + thread * 7) % HOT_KEYS);
                }
            });
        }
    });
    started.elapsed()
}

/// One round of two sides: `SLICES` slices each, alternated (ours first in even slices), and
/// each side's total time.
fn round(mut ours: impl FnMut() -> Duration, mut peer: impl FnMut() -> Duration) -> [Duration; 2] {
    let mut total = [Duration::ZERO; 2];
    for n in 0..SLICES {
        if n % 2 == 0 {
            total[0] += ours();
            total[1] += peer();
        } else {
            total[1] += peer();
            total[0] += ours();
        }
    }
    total
}

/// Nanoseconds per call, over a round's `CALLS` calls.
fn nanos(total: Duration) -> f64 {
    total.as_nanos() as f64 / CALLS as f64
}

/// Millions of calls a second, over a round's `CALLS` calls on each of `threads` threads.
fn millions(threads: u64, total: Duration) -> f64 {
    (threads * CALLS) as f64 / total.as_secs_f64() / 1e6
}

struct Row {
    figure: &'static str,
    unit: &'static str,
    ours: Vec<f64>,
    peer_name: &'static str,
    peer: Vec<f64>,
    /// The goal, as "ours / peer ≤ x" (`lower`) or "ours / peer ≥ x".
    goal: (&'static str, f64, bool),
}

fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    (
        sorted[0],
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1],
    )
}

fn main() {
    let server = RedisServer::start(ServerOptions::default());
    REDIS
        .set(Cache::from_url(&format!("{}?prefix=hot", server.url())).unwrap())
        .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    // A connection whose task runs on a thread of its own, as the library's connections run on
    // its driver thread.
    let io = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let io_handle = io.handle().clone();
    std::thread::spawn(move || io.block_on(std::future::pending::<()>()));
    let raw_on_thread = io_handle
        .block_on(client.get_multiplexed_async_connection())
        .unwrap();
    let keys: Vec<String> = (0..HOT_KEYS).map(|id| format!("hot:hot:{id}")).collect();
    for id in 0..HOT_KEYS {
        local.block_on(ours_async(id));
        local.block_on(theirs_async(id));
        ours_plain(id);
        theirs_plain(id);
        runtime.block_on(ours_redis(id));
    }
    let mut rows = [
        Row {
            figure: "memory hit, `async fn`",
            unit: "ns",
            ours: vec![],
            peer_name: "`cached` `#[cached(ttl_secs)]`",
            peer: vec![],
            goal: ("≤", 0.8, true),
        },
        Row {
            figure: "memory hit, plain `fn`",
            unit: "ns",
            ours: vec![],
            peer_name: "`cached` `#[cached(ttl_secs)]`",
            peer: vec![],
            goal: ("≤", 1.0, true),
        },
        Row {
            figure: "plain `fn` hits, 2 threads",
            unit: "M/s",
            ours: vec![],
            peer_name: "`cached` (one `Mutex`), 2 threads",
            peer: vec![],
            goal: ("≥", 1.5, false),
        },
        Row {
            figure: "plain `fn` hits, 2 threads vs 1",
            unit: "M/s",
            ours: vec![],
            peer_name: "ours, 1 thread",
            peer: vec![],
            goal: ("≥", 1.7, false),
        },
        Row {
            figure: "Redis hits, 64 tasks, 2 workers",
            unit: "k/s",
            ours: vec![],
            peer_name: "raw redis-rs `GET`, one multiplexed connection",
            peer: vec![],
            goal: ("≥", 0.95, false),
        },
        Row {
            figure: "Redis hits, 64 tasks, 2 workers (I/O on a thread of its own)",
            unit: "k/s",
            ours: vec![],
            peer_name: "raw redis-rs `GET`, its connection driven on a thread of its own",
            peer: vec![],
            goal: ("≥", 0.95, false),
        },
        Row {
            figure: "memory miss (compute + store), plain `fn`",
            unit: "ns",
            ours: vec![],
            peer_name: "`cached` `#[cached(max_size)]`",
            peer: vec![],
            goal: ("≤", 1.2, true),
        },
    ];
    let fresh = AtomicU64::new(1 << 40);
    let hit_async = |ours: bool| {
        local.block_on(async {
            let started = Instant::now();
            for i in 0..SLICE {
                let id = black_box(i % HOT_KEYS);
                match ours {
                    true => black_box(ours_async(id).await),
                    false => black_box(theirs_async(id).await),
                };
            }
            started.elapsed()
        })
    };
    let ours_hit = |id| drop(black_box(ours_plain(black_box(id))));
    let theirs_hit = |id| drop(black_box(theirs_plain(black_box(id))));
    let ours_new = |_| drop(black_box(ours_miss(fresh.fetch_add(1, Ordering::Relaxed))));
    let theirs_new = |_| {
        drop(black_box(theirs_miss(
            fresh.fetch_add(1, Ordering::Relaxed),
        )))
    };
    // 64 tasks on the 2-worker runtime, `SLICE` calls in all: ours, or a raw `GET` on `raw`.
    let redis_slice = |ours: bool, raw: &redis::aio::MultiplexedConnection| {
        runtime.block_on(async {
            let started = Instant::now();
            let tasks: Vec<_> = (0..64u64)
                .map(|task| {
                    let (keys, mut raw) = (keys.clone(), raw.clone());
                    tokio::spawn(async move {
                        for i in 0..SLICE / 64 {
                            let id = (task * SLICE + i) % HOT_KEYS;
                            if ours {
                                black_box(ours_redis(id).await);
                            } else {
                                let _: Vec<u8> = redis::cmd("GET")
                                    .arg(&keys[id as usize])
                                    .query_async(&mut raw)
                                    .await
                                    .unwrap();
                            }
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            started.elapsed()
        })
    };
    let raw = runtime
        .block_on(client.get_multiplexed_async_connection())
        .unwrap();
    let redis_rate =
        |total: Duration| (SLICE / 64 * 64 * SLICES) as f64 / total.as_secs_f64() / 1e3;
    for _ in 0..ROUNDS {
        let [ours, peer] = round(|| hit_async(true), || hit_async(false));
        rows[0].ours.push(nanos(ours));
        rows[0].peer.push(nanos(peer));
        let [ours, peer] = round(|| slice(1, &ours_hit), || slice(1, &theirs_hit));
        rows[1].ours.push(nanos(ours));
        rows[1].peer.push(nanos(peer));
        let [ours, peer] = round(|| slice(2, &ours_hit), || slice(2, &theirs_hit));
        rows[2].ours.push(millions(2, ours));
        rows[2].peer.push(millions(2, peer));
        let [two, one] = round(|| slice(2, &ours_hit), || slice(1, &ours_hit));
        rows[3].ours.push(millions(2, two));
        rows[3].peer.push(millions(1, one));
        let [ours, peer] = round(|| redis_slice(true, &raw), || redis_slice(false, &raw));
        rows[4].ours.push(redis_rate(ours));
        rows[4].peer.push(redis_rate(peer));
        let [ours, peer] = round(
            || redis_slice(true, &raw),
            || redis_slice(false, &raw_on_thread),
        );
        rows[5].ours.push(redis_rate(ours));
        rows[5].peer.push(redis_rate(peer));
        let [ours, peer] = round(|| slice(1, &ours_new), || slice(1, &theirs_new));
        rows[6].ours.push(nanos(ours));
        rows[6].peer.push(nanos(peer));
    }
    assert_eq!(
        ours_plain::stats().computes,
        HOT_KEYS,
        "every timed plain call was a hit"
    );
    assert_eq!(
        ours_redis::stats().computes,
        HOT_KEYS,
        "every timed Redis call was a hit"
    );

    println!(
        "{ROUNDS} interleaved rounds; min / median / max; the ratio is ours / peer per round\n"
    );
    println!("| figure | ours | peer | peer | ratio | goal | met in every round |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for row in &rows {
        let ratios: Vec<f64> = row.ours.iter().zip(&row.peer).map(|(o, p)| o / p).collect();
        let show =
            |(min, median, max): (f64, f64, f64)| format!("{min:.1} / {median:.1} / {max:.1}");
        let (sign, bound, lower) = row.goal;
        let met = ratios.iter().all(|ratio| {
            if lower {
                *ratio <= bound
            } else {
                *ratio >= bound
            }
        });
        println!(
            "| {} | {} {} | {} | {} {} | {} × | {sign} {bound} | {} |",
            row.figure,
            show(spread(&row.ours)),
            row.unit,
            row.peer_name,
            show(spread(&row.peer)),
            row.unit,
            {
                let (a, b, c) = spread(&ratios);
                format!("{a:.2} / {b:.2} / {c:.2}")
            },
            if met { "yes" } else { "no" }
        );
    }
}
