//! The quickstart: cache a slow function on the embedded store, call it many times, and print
//! what the cache did. No Redis, no configuration; `CACHE_URL=redis://…` runs it on Redis.
//!
//! ```text
//! cargo run --release -p cache-examples --bin quickstart
//! CACHE_URL=redis://127.0.0.1:6379/0 cargo run --release -p cache-examples --bin quickstart
//! ```

use std::time::{Duration, Instant};

use cache_runtime::cached;

const PAIRS: [(&str, &str); 8] = [
    ("EUR", "USD"),
    ("USD", "JPY"),
    ("GBP", "EUR"),
    ("CHF", "EUR"),
    ("USD", "CAD"),
    ("AUD", "USD"),
    ("EUR", "SEK"),
    ("NZD", "USD"),
];

/// A slow lookup: 20 ms, as a database or remote API would be.
#[cached(ttl = "10m")]
async fn exchange_rate(from: String, to: String) -> Result<f64, String> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    let code = |c: &str| c.bytes().map(f64::from).sum::<f64>();
    Ok(code(&from) / code(&to))
}

#[tokio::main]
async fn main() {
    let calls = 400;
    let started = Instant::now();
    for call in 0..calls {
        let (from, to) = PAIRS[call % PAIRS.len()];
        exchange_rate(from.to_owned(), to.to_owned())
            .await
            .expect("rates are computed");
    }
    let elapsed = started.elapsed();

    let stats = exchange_rate::stats();
    let per_compute = stats
        .compute_time
        .checked_div(stats.computes.max(1) as u32)
        .unwrap_or_default();
    let saved = per_compute * u32::try_from(stats.hits).unwrap_or(u32::MAX);
    let store = match cache_runtime::Cache::global().memory_store() {
        Some(_) => "the embedded store",
        None => "Redis (CACHE_URL)",
    };
    println!("#[cached(ttl = \"10m\")] async fn exchange_rate(from, to) on {store}\n");
    println!("| {:<24} | {:>12} |", "", "value");
    println!("|{:-<26}|{:->14}|", "", "");
    println!("| {:<24} | {:>12} |", "calls", calls);
    println!("| {:<24} | {:>12} |", "hits", stats.hits);
    println!("| {:<24} | {:>12} |", "misses", stats.misses);
    println!("| {:<24} | {:>12} |", "body runs", stats.computes);
    println!(
        "| {:<24} | {:>12} |",
        "time per body run",
        format!("{per_compute:.1?}")
    );
    println!(
        "| {:<24} | {:>12} |",
        "total time",
        format!("{elapsed:.1?}")
    );
    println!(
        "| {:<24} | {:>12} |",
        "time saved (hits × run)",
        format!("{saved:.1?}")
    );
    println!(
        "\nkey of EUR→USD: {}",
        exchange_rate::key(&"EUR".to_owned(), &"USD".to_owned()).unwrap()
    );
    // Once per pair; on Redis, a second run finds every pair stored by the first.
    assert!(
        stats.computes <= PAIRS.len() as u64,
        "each pair is computed at most once"
    );
}
