use cache_runtime::{cached, CachePolicy};

const USERS: CachePolicy = CachePolicy::from_secs(600).cache_none();

#[cached(policy = USERS)]
fn f(id: u64) -> Result<u64, String> {
    Ok(id)
}

fn main() {}
