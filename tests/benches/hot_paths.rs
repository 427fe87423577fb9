//! The table of issue 17 ("hot paths at the limit"), each row ours and the peer measured side by
//! side in one process, interleaved, over 7 rounds (min / median / max), and the ratio per round:
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
use std::time::Instant;

use cache_runtime::Cache;
use cache_tests::servers::{RedisServer, ServerOptions};

const HOT_KEYS: u64 = 64;
const ROUNDS: usize = 7;
const CALLS: u64 = 500_000;

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

/// Nanoseconds per call of `call` over `CALLS` calls.
fn per_call(mut call: impl FnMut(u64)) -> f64 {
    let started = Instant::now();
    for i in 0..CALLS {
        call(i % HOT_KEYS);
    }
    started.elapsed().as_nanos() as f64 / CALLS as f64
}

/// Calls per second of `call` on `threads` threads, `CALLS` each.
fn rate(threads: u64, call: fn(u64)) -> f64 {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for thread in 0..threads {
            scope.spawn(move || {
                for i in 0..CALLS {
                    call((i + thread * 7) % HOT_KEYS);
                }
            });
        }
    });
    (threads * CALLS) as f64 / started.elapsed().as_secs_f64()
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
    for _ in 0..ROUNDS {
        rows[0].ours.push(local.block_on(async {
            let started = Instant::now();
            for i in 0..CALLS {
                black_box(ours_async(black_box(i % HOT_KEYS)).await);
            }
            started.elapsed().as_nanos() as f64 / CALLS as f64
        }));
        rows[0].peer.push(local.block_on(async {
            let started = Instant::now();
            for i in 0..CALLS {
                black_box(theirs_async(black_box(i % HOT_KEYS)).await);
            }
            started.elapsed().as_nanos() as f64 / CALLS as f64
        }));
        rows[1]
            .ours
            .push(per_call(|id| drop(black_box(ours_plain(black_box(id))))));
        rows[1]
            .peer
            .push(per_call(|id| drop(black_box(theirs_plain(black_box(id))))));
        let ours_two = rate(2, |id| drop(black_box(ours_plain(black_box(id))))) / 1e6;
        rows[2].ours.push(ours_two);
        rows[2]
            .peer
            .push(rate(2, |id| drop(black_box(theirs_plain(black_box(id))))) / 1e6);
        rows[3].ours.push(ours_two);
        rows[3]
            .peer
            .push(rate(1, |id| drop(black_box(ours_plain(black_box(id))))) / 1e6);
        let (ours_rate, raw_rate, raw_on_thread_rate) = runtime.block_on(async {
            let raw = client.get_multiplexed_async_connection().await.unwrap();
            let run = |ours: bool, raw: redis::aio::MultiplexedConnection| {
                let keys = keys.clone();
                async move {
                    let started = Instant::now();
                    let tasks: Vec<_> = (0..64usize)
                        .map(|task| {
                            let (keys, mut raw) = (keys.clone(), raw.clone());
                            tokio::spawn(async move {
                                for i in 0..3_000usize {
                                    let id = ((task * 3_000 + i) as u64) % HOT_KEYS;
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
                    (64 * 3_000) as f64 / started.elapsed().as_secs_f64() / 1e3
                }
            };
            (
                run(true, raw.clone()).await,
                run(false, raw).await,
                run(false, raw_on_thread.clone()).await,
            )
        });
        rows[4].ours.push(ours_rate);
        rows[4].peer.push(raw_rate);
        rows[5].ours.push(ours_rate);
        rows[5].peer.push(raw_on_thread_rate);
        rows[6].ours.push(per_call(|_| {
            drop(black_box(ours_miss(fresh.fetch_add(1, Ordering::Relaxed))))
        }));
        rows[6].peer.push(per_call(|_| {
            drop(black_box(theirs_miss(
                fresh.fetch_add(1, Ordering::Relaxed),
            )))
        }));
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
