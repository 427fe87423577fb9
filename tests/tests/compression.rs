//! Large values are stored compressed in Redis, read back whole, and entries written before
//! compression (or by a cache with it off) stay readable: what Redis holds (`STRLEN`), what the
//! body runs.

use std::sync::OnceLock;

use cache_runtime::{cached, Cache, Compression};
use cache_tests::servers::RedisServer;
use cache_tests::Runs;
use redis::Commands;

/// A JSON-shaped document of about 100 kB, as an API response would be.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Document {
    items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Item {
    id: u64,
    name: String,
    email: String,
    tags: Vec<String>,
    active: bool,
}

fn document(seed: u64) -> Document {
    let items = (0..1100)
        .map(|i| Item {
            id: seed * 10_000 + i,
            name: format!("customer number {i}"),
            email: format!("customer{i}@example.com"),
            tags: vec!["retail".to_owned(), format!("region-{}", i % 7)],
            active: i % 3 != 0,
        })
        .collect();
    Document { items }
}

static CACHE: OnceLock<Cache> = OnceLock::new();
static RUNS: Runs = Runs::new();

#[cached(ttl = 60, key = "doc:{seed}", store = CACHE.get().expect("set by the test"))]
async fn load(seed: u64) -> Document {
    RUNS.record();
    document(seed)
}

#[tokio::test]
async fn a_large_value_is_stored_compressed_and_read_back_whole() {
    let server = RedisServer::single();
    let mut raw = server.raw();
    let plain = Cache::from_url(&format!("{}?prefix=z&compress_above=off", server.url())).unwrap();
    let compressing = Cache::from_url(&format!("{}?prefix=z", server.url())).unwrap();
    assert_eq!(
        compressing.compression(),
        cache_runtime::DEFAULT_COMPRESSION
    );
    CACHE.set(compressing.clone()).unwrap();

    // Written by `#[cached]` with compression on: far fewer bytes in Redis, one body run.
    assert_eq!(load(1).await, document(1));
    assert_eq!(load(1).await, document(1));
    assert_eq!(RUNS.count(), 1);
    let compressed: usize = raw.strlen("z:doc:1").unwrap();
    let encoded = rmp_serde::to_vec_named(&document(1)).unwrap().len();
    assert!(encoded > 90_000, "the document encodes to {encoded} bytes");
    assert!(
        compressed * 4 < encoded,
        "{compressed} bytes stored for {encoded}"
    );
    // A cache with compression off reads a compressed entry (it is flagged in the entry).
    let read: Option<Document> = plain.get("doc:1").await.unwrap();
    assert_eq!(read, Some(document(1)));

    // An entry written uncompressed (before, or by a cache with it off) is a hit as it is.
    plain.set("doc:2", &document(2), None).await.unwrap();
    let stored: usize = raw.strlen("z:doc:2").unwrap();
    assert!(stored > encoded - 1000, "{stored} bytes: uncompressed");
    assert_eq!(load(2).await, document(2));
    assert_eq!(RUNS.count(), 1, "the uncompressed entry was a hit");

    // Small values are never compressed; a setting above the value's size leaves it alone.
    compressing.set("small", &"tiny", None).await.unwrap();
    let small: usize = raw.strlen("z:small").unwrap();
    assert!(small < 60, "{small}");
    let high = Cache::builder()
        .prefix("z")
        .redis(cache_runtime::RedisConfig::from_url(&server.url()).unwrap())
        .compression(Compression::Above(10 << 20))
        .build()
        .unwrap();
    high.set("doc:3", &document(3), None).await.unwrap();
    assert!(raw.strlen::<_, usize>("z:doc:3").unwrap() > encoded - 1000);
}

#[tokio::test]
async fn a_corrupt_compressed_entry_reads_as_a_decode_error() {
    let server = RedisServer::single();
    let mut raw = server.raw();
    let cache = Cache::from_url(&format!("{}?prefix=c", server.url())).unwrap();
    cache.set("doc", &document(5), None).await.unwrap();
    let mut bytes: Vec<u8> = raw.get("c:doc").unwrap();
    let len = bytes.len();
    bytes.truncate(len - 100);
    let _: () = raw.set("c:doc", bytes).unwrap();
    let error = cache.get::<Document>("doc").await.unwrap_err();
    assert!(error.to_string().contains("decompress"), "{error}");
}
