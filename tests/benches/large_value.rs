//! A large value on Redis, compressed and not, side by side in one run: a realistic ~100 KB
//! JSON-shaped document (700 customer records) cached by `#[cached]` on a server this bench
//! starts. Prints the bytes Redis holds for it (`STRLEN`) and the hit time of each, over
//! interleaved rounds (min / median / max of the rounds' means).
//!
//! ```text
//! cargo bench -p cache-tests --bench large_value
//! ```

use std::sync::OnceLock;
use std::time::Instant;

use cache_runtime::{cached, Cache, Compression};
use cache_tests::servers::{RedisServer, ServerOptions};
use redis::Commands;

const ROUNDS: usize = 9;
const HITS_PER_ROUND: usize = 300;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Customer {
    id: u64,
    name: String,
    email: String,
    city: String,
    tags: Vec<String>,
    balance_cents: i64,
    active: bool,
}

fn document() -> Vec<Customer> {
    const CITIES: [&str; 6] = ["Lisbon", "Oslo", "Austin", "Osaka", "Lagos", "Quito"];
    (0..700)
        .map(|i| Customer {
            id: 10_000 + i,
            name: format!("Customer {i}"),
            email: format!("customer.{i}@example.com"),
            city: CITIES[i as usize % CITIES.len()].to_owned(),
            tags: vec!["retail".to_owned(), format!("segment-{}", i % 9)],
            balance_cents: (i as i64 * 7_919) % 1_000_000 - 250_000,
            active: i % 4 != 0,
        })
        .collect()
}

static PLAIN: OnceLock<Cache> = OnceLock::new();
static COMPRESSED: OnceLock<Cache> = OnceLock::new();

#[cached(ttl = 600, key = "doc", store = PLAIN.get().unwrap())]
async fn plain_doc() -> Vec<Customer> {
    document()
}

#[cached(ttl = 600, key = "doc", store = COMPRESSED.get().unwrap())]
async fn compressed_doc() -> Vec<Customer> {
    document()
}

fn spread(mut values: Vec<f64>) -> String {
    values.sort_by(f64::total_cmp);
    format!(
        "{:.1} / {:.1} / {:.1} µs",
        values[0],
        values[values.len() / 2],
        values[values.len() - 1]
    )
}

fn main() {
    let server = RedisServer::start(ServerOptions::default());
    let cache = |prefix: &str, compression| {
        Cache::builder()
            .prefix(prefix)
            .redis(cache_runtime::RedisConfig::from_url(&server.url()).unwrap())
            .compression(compression)
            .build()
            .unwrap()
    };
    PLAIN.set(cache("plain", Compression::Off)).unwrap();
    COMPRESSED
        .set(cache("compressed", cache_runtime::DEFAULT_COMPRESSION))
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let json = serde_json::to_vec(&document()).unwrap().len();
    runtime.block_on(async {
        assert_eq!(plain_doc().await, compressed_doc().await);
    });
    let mut raw = server.raw();
    let mut stored = |key: &str| raw.strlen::<_, usize>(key).unwrap();
    let (plain_bytes, compressed_bytes) = (stored("plain:doc"), stored("compressed:doc"));

    let (mut plain_hits, mut compressed_hits) = (Vec::new(), Vec::new());
    runtime.block_on(async {
        for _ in 0..ROUNDS {
            let started = Instant::now();
            for _ in 0..HITS_PER_ROUND {
                std::hint::black_box(plain_doc().await);
            }
            plain_hits.push(started.elapsed().as_secs_f64() * 1e6 / HITS_PER_ROUND as f64);
            let started = Instant::now();
            for _ in 0..HITS_PER_ROUND {
                std::hint::black_box(compressed_doc().await);
            }
            compressed_hits.push(started.elapsed().as_secs_f64() * 1e6 / HITS_PER_ROUND as f64);
        }
    });
    println!(
        "a ~{} KB JSON document (700 records): {json} bytes as JSON\n",
        json / 1000
    );
    println!("| | bytes in Redis | hit (min / median / max of {ROUNDS} rounds) |");
    println!("| --- | --- | --- |");
    println!("| uncompressed | {plain_bytes} | {} |", spread(plain_hits));
    println!(
        "| compressed (LZ4, default threshold 16 KiB) | {compressed_bytes} ({:.0}%) | {} |",
        100.0 * compressed_bytes as f64 / plain_bytes as f64,
        spread(compressed_hits)
    );
}
