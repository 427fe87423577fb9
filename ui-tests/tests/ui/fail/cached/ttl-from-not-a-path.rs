use cache_runtime::cached;

#[cached(ttl = 60, ttl_from = "lifetime")]
async fn f(id: u64) -> String {
    id.to_string()
}

fn main() {}
