use std::collections::HashMap;

use cache_runtime::cached;

#[cached(ttl = 60, key = "user:{id}", batch = ids, stale_while_revalidate = "1m")]
async fn users(ids: Vec<u64>) -> HashMap<u64, String> {
    ids.into_iter().map(|id| (id, id.to_string())).collect()
}

fn main() {}
