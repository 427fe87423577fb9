use cache_runtime::{cached, CachePolicy};

const HOT: CachePolicy = CachePolicy::from_secs(600).early_expiry(-1.0);

#[cached(policy = HOT)]
fn f(id: u64) -> u64 {
    id
}

fn main() {}
