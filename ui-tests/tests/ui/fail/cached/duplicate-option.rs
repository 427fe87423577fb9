use cache_runtime::cached;

#[cached(ttl = 60, ttl = "2m")]
fn f(id: u64) -> u64 {
    id
}

fn main() {}
