use cache_runtime::cached;

#[cached(ttl = 60, key = "")]
fn f(id: u64) -> u64 {
    id
}

fn main() {}
