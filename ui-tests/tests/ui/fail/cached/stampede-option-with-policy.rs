use cache_runtime::{cached, CachePolicy};

const USERS: CachePolicy = CachePolicy::from_secs(600);

#[cached(policy = USERS, early_expiry)]
fn f(id: u64) -> u64 {
    id
}

fn main() {}
