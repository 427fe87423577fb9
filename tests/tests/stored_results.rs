//! What is stored: only `Ok` / `Some` by default; `cache_err` / `cache_none` with `negative_ttl`.

use std::time::Duration;

use cache_runtime::cached;
use std::sync::LazyLock;

use cache_tests::{Clocked, Runs};

static OK_RUNS: Runs = Runs::new();
static SOME_RUNS: Runs = Runs::new();
static ERR_RUNS: Runs = Runs::new();
static NONE_RUNS: Runs = Runs::new();
static ERR_CACHE: LazyLock<Clocked> = LazyLock::new(Clocked::new);
static NONE_CACHE: LazyLock<Clocked> = LazyLock::new(Clocked::new);

#[cached(ttl = 60)]
fn parse(text: &str) -> Result<u32, String> {
    OK_RUNS.record();
    text.parse().map_err(|_| format!("not a number: {text}"))
}

#[cached(ttl = 60)]
async fn find(id: u32) -> Option<u32> {
    SOME_RUNS.record();
    (id % 2 == 0).then_some(id * 10)
}

#[cached(ttl = 60, cache_err, negative_ttl = 5, store = ERR_CACHE.cache)]
fn lookup_err(id: u32) -> Result<u32, String> {
    ERR_RUNS.record();
    Err(format!("no {id}"))
}

#[cached(ttl = 60, cache_none, negative_ttl = "5s", store = NONE_CACHE.cache)]
async fn lookup_none(id: u32) -> Option<u32> {
    NONE_RUNS.record();
    let _ = id;
    None
}

#[test]
fn only_ok_is_stored_by_default() {
    assert_eq!(parse("7"), Ok(7));
    assert_eq!(parse("7"), Ok(7));
    assert!(parse("x").is_err());
    assert!(parse("x").is_err());
    assert_eq!(OK_RUNS.count(), 3, "Ok once, Err every time");
    assert_eq!(parse::peek("x"), None);
}

#[tokio::test]
async fn only_some_is_stored_by_default() {
    assert_eq!(find(2).await, Some(20));
    assert_eq!(find(2).await, Some(20));
    assert_eq!(find(3).await, None);
    assert_eq!(find(3).await, None);
    assert_eq!(SOME_RUNS.count(), 3, "Some once, None every time");
}

#[test]
fn cache_err_keeps_errors_for_negative_ttl() {
    assert!(lookup_err(1).is_err());
    assert!(lookup_err(1).is_err());
    assert_eq!(ERR_RUNS.count(), 1);
    ERR_CACHE.clock.advance(Duration::from_secs(5));
    assert!(lookup_err(1).is_err());
    assert_eq!(ERR_RUNS.count(), 2, "expired after negative_ttl, not ttl");
}

#[tokio::test]
async fn cache_none_keeps_none_for_negative_ttl() {
    assert_eq!(lookup_none(1).await, None);
    assert_eq!(lookup_none(1).await, None);
    assert_eq!(NONE_RUNS.count(), 1);
    assert_eq!(lookup_none::peek(&1).await, Some(None));
    NONE_CACHE.clock.advance(Duration::from_secs(6));
    assert_eq!(lookup_none(1).await, None);
    assert_eq!(NONE_RUNS.count(), 2);
}
