use cache_runtime::{cached, CachePolicy};
use std::time::Duration;

const BROKEN: CachePolicy = CachePolicy::from_secs(10).cache_none().negative_ttl(Duration::from_secs(60));

#[cached(policy = BROKEN)]
fn f(id: u64) -> Option<u64> {
    Some(id)
}

fn main() {}
