use cache_runtime::cached;

fn lifetime(value: &String) -> u64 {
    value.len() as u64
}

#[cached(ttl = 60, ttl_from = lifetime)]
async fn f(id: u64) -> String {
    id.to_string()
}

fn main() {}
