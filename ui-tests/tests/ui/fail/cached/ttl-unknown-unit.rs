use cache_runtime::cached;

#[cached(ttl = "10 parsecs")]
fn f(id: u64) -> u64 {
    id
}

fn main() {}
