//! `on_store_error = fail` on an `async fn` and a plain `fn` whose error holds a `CacheError`,
//! with a named policy, and `on_store_error = open` (the default) spelled out.

use cache_runtime::{cached, CacheError, CachePolicy};
use std::time::Duration;

#[derive(Debug, Clone)]
enum UpstreamError {
    Cache(CacheError),
    Upstream(String),
}

impl From<CacheError> for UpstreamError {
    fn from(error: CacheError) -> Self {
        UpstreamError::Cache(error)
    }
}

const QUOTES: CachePolicy = CachePolicy::new(Duration::from_secs(30)).lock_on_miss(Duration::from_secs(2));

#[cached(ttl = 60, on_store_error = fail)]
async fn quote(id: u64) -> Result<u64, UpstreamError> {
    if id == 0 {
        return Err(UpstreamError::Upstream("no quote".to_owned()));
    }
    Ok(id)
}

#[cached(policy = QUOTES, on_store_error = fail)]
fn plain_quote(id: u64) -> Result<u64, UpstreamError> {
    Ok(id)
}

#[cached(ttl = 60, on_store_error = open)]
fn open_quote(id: u64) -> Result<u64, String> {
    Ok(id)
}

fn main() {
    let _ = quote(1); // an async fn: compiled, not run here
    assert_eq!(plain_quote(2).unwrap(), 2);
    assert_eq!(open_quote(3).unwrap(), 3);
}
