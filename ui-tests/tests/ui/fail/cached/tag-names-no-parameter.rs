use cache_runtime::cached;

#[cached(ttl = 60, tags = ["user:{id}", "org:{org}"])]
async fn profile(id: u64) -> String {
    id.to_string()
}

fn main() {}
