use std::collections::HashMap;

use cache_runtime::cached;

#[cached(ttl = 60, key = "user:{id}", batch = ids)]
async fn users(ids: Vec<String>) -> HashMap<u64, String> {
    ids.into_iter().map(|id| (id.len() as u64, id)).collect()
}

fn main() {}
