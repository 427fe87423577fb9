use cache_runtime::cached;

#[cached(ttl = 60, key = "user:{id}", batch = ids)]
async fn users(ids: Vec<u64>) -> Vec<String> {
    ids.into_iter().map(|id| id.to_string()).collect()
}

fn main() {}
