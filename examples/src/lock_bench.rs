//! Lock latency, measured side by side in one run: an uncontended acquire + release through
//! `Locks` against a raw `SET key token NX PX` + `DEL key` on the same kind of connection
//! (redis-rs `ConnectionManager`), one caller, the variants interleaved in blocks.
//!
//! `cargo run --release -p cache-examples --bin lock_bench` (`--quick` for a short run).

use std::time::{Duration, Instant};

use cache_runtime::{Cache, LockPolicy, Locks};
use cache_tests::servers::RedisServer;

const BLOCK: usize = 500;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let blocks = if quick { 4 } else { 40 };
    let server = RedisServer::start(Default::default());
    let cache = Cache::from_url(&server.url()).expect("a Redis cache");
    let lease = Duration::from_secs(30);
    let renewing = Locks::new(&cache, "bench", LockPolicy::new(lease)).expect("locks");
    let plain =
        Locks::new(&cache, "bench-plain", LockPolicy::new(lease).no_renewal()).expect("locks");
    let client = redis::Client::open(server.url()).expect("a client");
    let mut raw = redis::aio::ConnectionManager::new(client)
        .await
        .expect("a connection");

    let (mut ours, mut ours_plain, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
    renewing
        .acquire("warm")
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
    for block in 0..blocks {
        for i in 0..BLOCK {
            let key = format!("k{}", (block * BLOCK + i) % 64);
            let started = Instant::now();
            let guard = renewing.acquire(&key).await.expect("uncontended");
            guard.release().await.expect("ours");
            ours.push(started.elapsed());
        }
        for i in 0..BLOCK {
            let key = format!("k{}", (block * BLOCK + i) % 64);
            let started = Instant::now();
            let guard = plain.acquire(&key).await.expect("uncontended");
            guard.release().await.expect("ours");
            ours_plain.push(started.elapsed());
        }
        for i in 0..BLOCK {
            let key = format!("raw:k{}", (block * BLOCK + i) % 64);
            let started = Instant::now();
            let taken: Option<String> = redis::cmd("SET")
                .arg(&key)
                .arg("0123456789abcdef0123456789abcdef")
                .arg("NX")
                .arg("PX")
                .arg(30_000)
                .query_async(&mut raw)
                .await
                .expect("SET");
            assert!(taken.is_some(), "uncontended");
            let _: i64 = redis::cmd("DEL")
                .arg(&key)
                .query_async(&mut raw)
                .await
                .expect("DEL");
            theirs.push(started.elapsed());
        }
    }
    println!("Uncontended acquire + release, one caller, {} pairs each, interleaved in blocks of {BLOCK}", ours.len());
    println!("| | p50 µs | p99 µs | mean µs |");
    println!("|---|---|---|---|");
    let raw_row = row(&mut theirs);
    let with_renewal = row(&mut ours);
    let without_renewal = row(&mut ours_plain);
    print_row(
        "Locks: acquire + release (renewal on, the default)",
        with_renewal,
    );
    print_row("Locks: acquire + release (renew = false)", without_renewal);
    print_row("raw redis-rs SET NX PX + DEL", raw_row);
    println!(
        "ratio ours / raw, p50: {:.2}× with renewal, {:.2}× without (goal ≤ 1.2×)",
        with_renewal.0 / raw_row.0,
        without_renewal.0 / raw_row.0
    );
}

/// p50, p99 and mean, in µs.
fn row(samples: &mut [Duration]) -> (f64, f64, f64) {
    samples.sort_unstable();
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let mean = samples.iter().map(|d| micros(*d)).sum::<f64>() / samples.len() as f64;
    (
        micros(samples[samples.len() / 2]),
        micros(samples[samples.len() * 99 / 100]),
        mean,
    )
}

fn print_row(name: &str, (p50, p99, mean): (f64, f64, f64)) {
    println!("| {name} | {p50:.1} | {p99:.1} | {mean:.1} |");
}
