//! The quickstart: cache a slow function on the embedded store, call it many times, and print
//! what the cache did. No Redis, no configuration; `CACHE_URL=redis://…` runs it on Redis.
//!
//! ```text
//! cargo run --release -p cache-examples --bin quickstart
//! CACHE_URL=redis://127.0.0.1:6379/0 cargo run --release -p cache-examples --bin quickstart
//! ```

#[path = "common/logging.rs"]
mod logging;

use std::time::{Duration, Instant};

use cache_runtime::{cached, Cache};

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
    logging::init();
    let (cache, why) = choose_store().await;
    println!("store: {cache} ({why})");
    cache_runtime::set_default(cache).expect("the first and only default");

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
    // Nothing measured (a second run on Redis computes nothing) or saved reads `—`.
    let per_compute = stats
        .compute_time
        .checked_div(u32::try_from(stats.computes).unwrap_or(u32::MAX));
    let saved = per_compute.map(|run| run * u32::try_from(stats.hits).unwrap_or(u32::MAX));
    let shown = |time: Option<Duration>| match time {
        Some(time) if !time.is_zero() => format!("{time:.1?}"),
        _ => "—".to_owned(),
    };
    println!("\n#[cached(ttl = \"10m\")] async fn exchange_rate(from, to)\n");
    println!("| {:<24} | {:>12} |", "", "value");
    println!("|{:-<26}|{:->14}|", "", "");
    println!("| {:<24} | {:>12} |", "calls", calls);
    println!("| {:<24} | {:>12} |", "hits", stats.hits);
    println!("| {:<24} | {:>12} |", "misses", stats.misses);
    println!("| {:<24} | {:>12} |", "body runs", stats.computes);
    println!("| {:<24} | {:>12} |", "store errors", stats.backend_errors);
    println!(
        "| {:<24} | {:>12} |",
        "time per body run",
        shown(per_compute)
    );
    println!("| {:<24} | {:>12} |", "total time", shown(Some(elapsed)));
    println!(
        "| {:<24} | {:>12} |",
        "time saved (hits × run)",
        shown(saved)
    );
    println!(
        "\nkey of EUR→USD: {}",
        exchange_rate::key(&"EUR".to_owned(), &"USD".to_owned()).unwrap()
    );
    if stats.backend_errors > 0 {
        // Fail-open: the store failed, so the calls ran the function and still answered.
        println!(
            "\nfallback: the store failed {} times; those calls ran the function instead \
             (fail-open). The log above says why.",
            stats.backend_errors
        );
    } else {
        // Once per pair; on Redis, a second run finds every pair stored by the first.
        assert!(
            stats.computes <= PAIRS.len() as u64,
            "each pair is computed at most once"
        );
    }
}

/// The store `CACHE_URL` names, checked, or the embedded store; and why, for a person to read.
async fn choose_store() -> (Cache, String) {
    let embedded = || {
        Cache::builder()
            .build()
            .expect("the default configuration is valid")
    };
    match std::env::var("CACHE_URL") {
        Err(_) => (embedded(), "CACHE_URL is not set".to_owned()),
        Ok(_) => match Cache::from_env() {
            Err(error) => {
                tracing::error!(%error, "CACHE_URL is not usable; running on the embedded store");
                (embedded(), format!("CACHE_URL is not usable: {error}"))
            }
            Ok(cache) => match cache.ping().await {
                Ok(()) => (cache, "from CACHE_URL".to_owned()),
                Err(error) => {
                    tracing::warn!(%error, "the store does not answer; calls will run the function");
                    let why = format!(
                        "from CACHE_URL, but it does not answer ({error}): every call runs the \
                         function until it does"
                    );
                    (cache, why)
                }
            },
        },
    }
}
