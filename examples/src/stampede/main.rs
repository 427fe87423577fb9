//! The stampede experiment: one hot key with a 1 s TTL under open-loop load, for every
//! protection, body time and rate; in one process on the memory store and in four processes
//! on one Redis server (started here, on a free loopback port). Prints a table and writes
//! `stampede.svg` (the copy in the repository is `docs/stampede.svg`).
//!
//! ```text
//! cargo run --release -p cache-examples --bin stampede            # everything, ~6 minutes
//! cargo run --release -p cache-examples --bin stampede -- --quick # 100 ms bodies, 1,000/s
//! ```

mod load;
mod plot;
mod summary;
mod variants;

use std::process::{Command, Stdio};
use std::time::Duration;

use cache_runtime::Cache;
use cache_tests::servers::{command_counts, command_delta, RedisServer, ServerOptions};

use load::Report;
use summary::{summarize, Row};
use variants::{Variant, ALL, CACHE};

/// How long each run lasts: about three expiries of the 1 s TTL.
const RUN: Duration = Duration::from_millis(3_500);
const PROCESSES: usize = 4;

#[derive(Debug, Clone)]
pub struct Measured {
    pub topology: &'static str,
    pub variant: Variant,
    pub rate: u32,
    pub delta_ms: u64,
    pub row: Row,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--worker") {
        return worker(&args[at + 1..]);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let (rates, deltas): (&[u32], &[u64]) = match quick {
        true => (&[1_000], &[100]),
        false => (&[100, 1_000, 5_000], &[10, 100]),
    };
    let mut measured = Vec::new();

    CACHE
        .set(Cache::builder().build().expect("memory cache"))
        .expect("set once");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for &delta_ms in deltas {
        for &rate in rates {
            for variant in ALL {
                let report = runtime.block_on(load::run(variant, f64::from(rate), delta_ms, RUN));
                let row = summarize(&[report], delta_ms, None);
                print_row("memory, 1 process", variant, rate, delta_ms, &row);
                measured.push(Measured {
                    topology: "memory",
                    variant,
                    rate,
                    delta_ms,
                    row,
                });
            }
        }
    }

    let server = RedisServer::start(ServerOptions::default());
    let mut raw = server.raw();
    for &delta_ms in deltas {
        for &rate in rates {
            for variant in ALL {
                let before = command_counts(&mut raw);
                let reports = run_workers(&server.url(), variant, rate, delta_ms);
                let after = command_counts(&mut raw);
                // The probes of this measurement (INFO) are not the workload's.
                let commands = command_delta(&before, &after)
                    .into_iter()
                    .filter(|(name, _)| name != "info")
                    .map(|(_, calls)| calls)
                    .sum();
                let row = summarize(&reports, delta_ms, Some(commands));
                print_row("Redis, 4 processes", variant, rate, delta_ms, &row);
                measured.push(Measured {
                    topology: "redis",
                    variant,
                    rate,
                    delta_ms,
                    row,
                });
            }
        }
    }
    plot::write("stampede.svg", &measured).expect("stampede.svg written");
    println!("\nwrote stampede.svg");
}

fn print_row(topology: &str, variant: Variant, rate: u32, delta_ms: u64, row: &Row) {
    let commands = row
        .commands_per_request
        .map_or("-".to_owned(), |c| format!("{c:.2}"));
    println!(
        "| {topology} | {} | {rate}/s | {delta_ms} ms | {} | {:.2} | {:.1} | {}/{}/{} | {}/{}/{} | {commands} |",
        variant.name(),
        row.expiries,
        row.recomputes_per_expiry,
        row.waited_per_expiry,
        row.steady.p50,
        row.steady.p99,
        row.steady.p999,
        row.boundary.p50,
        row.boundary.p99,
        row.boundary.p999,
    );
}

/// Runs the variant in `PROCESSES` worker processes at once, each at a share of the rate.
fn run_workers(url: &str, variant: Variant, rate: u32, delta_ms: u64) -> Vec<Report> {
    let share = f64::from(rate) / PROCESSES as f64;
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            Command::new(std::env::current_exe().expect("own path"))
                .args([
                    "--worker",
                    url,
                    variant.name(),
                    &share.to_string(),
                    &delta_ms.to_string(),
                ])
                .stdout(Stdio::piped())
                .spawn()
                .expect("worker started")
        })
        .collect();
    children
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().expect("worker finished");
            serde_json::from_slice(&output.stdout).expect("a worker report")
        })
        .collect()
}

/// A worker: `--worker URL VARIANT RATE DELTA_MS`; prints its report as JSON.
fn worker(args: &[String]) {
    let [url, variant, rate, delta_ms] = args else {
        panic!("usage: --worker URL VARIANT RATE DELTA_MS");
    };
    let cache = Cache::from_url(url).expect("Redis URL");
    CACHE.set(cache).expect("set once");
    let variant = Variant::parse(variant).expect("a variant name");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let report = runtime.block_on(load::run(
        variant,
        rate.parse().expect("rate"),
        delta_ms.parse().expect("delta"),
        RUN,
    ));
    println!("{}", serde_json::to_string(&report).expect("report"));
}
