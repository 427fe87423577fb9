//! `key`, `invalidate`, `refresh`, `peek` and `stats` of a free function.

use cache_runtime::cached;
use cache_tests::{block_on, Runs};

static RUNS: Runs = Runs::new();
static SYNC_RUNS: Runs = Runs::new();

#[derive(Debug)]
pub struct Db {
    pub suffix: &'static str,
}

#[cached(ttl = 600, skip(db))]
async fn load(id: u64, db: &Db) -> String {
    RUNS.record();
    format!("{id}{}", db.suffix)
}

#[cached(ttl = 600, key = "doubled:{n}")]
fn doubled(n: u32) -> u32 {
    SYNC_RUNS.record();
    n * 2
}

#[tokio::test]
async fn peek_invalidate_and_refresh() {
    let db = Db { suffix: "!" };
    assert_eq!(load::peek(&1).await, None, "peek never computes");
    assert_eq!(RUNS.count(), 0);
    assert_eq!(load(1, &db).await, "1!");
    assert_eq!(load::peek(&1).await.as_deref(), Some("1!"));

    let other = Db { suffix: "?" };
    assert_eq!(
        load::refresh(1, &other).await,
        "1?",
        "refresh recomputes even when stored"
    );
    assert_eq!(load(1, &db).await, "1?", "and stores what it computed");
    assert_eq!(RUNS.count(), 2);

    assert!(load::invalidate(&1).await);
    assert!(!load::invalidate(&1).await, "nothing left to remove");
    assert_eq!(load(1, &db).await, "1!");
    assert_eq!(RUNS.count(), 3);

    let stats = load::stats();
    assert_eq!((stats.hits, stats.misses, stats.computes), (1, 2, 3));
    assert!(
        stats.function.ends_with("companions::load"),
        "{}",
        stats.function
    );
}

#[test]
fn key_names_the_stored_entry() {
    let key = load::key(&7).unwrap();
    assert!(key.starts_with("cache:companions::load:v0:"), "{key}");
    assert_ne!(key, load::key(&8).unwrap());
    assert_eq!(doubled::key(&21).unwrap(), "cache:doubled:21");
}

#[test]
fn plain_fn_companions_are_plain() {
    assert_eq!(doubled(21), 42);
    assert_eq!(doubled::peek(&21), Some(42));
    let bytes = block_on(cache_runtime::Cache::global().get_bytes("doubled:21"))
        .unwrap()
        .expect("the plain handle sees the entry");
    let (header, value): (_, u32) = cache_runtime::entry::decode(&bytes).unwrap();
    assert_eq!((value, header.negative), (42, false));
    assert_eq!(doubled::refresh(21), 42);
    assert!(doubled::invalidate(&21));
    assert_eq!(doubled::peek(&21), None);
    assert_eq!(SYNC_RUNS.count(), 2);
    let gone = block_on(cache_runtime::Cache::global().get_bytes("doubled:21")).unwrap();
    assert_eq!(gone, None);
}
