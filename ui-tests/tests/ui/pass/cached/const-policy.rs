use cache_runtime::{cached, CachePolicy};
use std::time::Duration;

pub const USERS: CachePolicy = CachePolicy::from_secs(600).cache_none().negative_ttl(Duration::from_secs(30));

#[cached(policy = USERS)]
async fn user(id: u64) -> Option<String> {
    (id > 0).then(|| id.to_string())
}

#[cached(policy = USERS, key = "nick:{id}")]
fn nick(id: u64) -> Option<String> {
    (id > 0).then(|| id.to_string())
}

fn main() {
    let _ = user(1);
    let _ = nick(1);
}
