use cache_runtime::cached;

#[cached(ttl = 1.5)]
fn f(id: u64) -> u64 {
    id
}

fn main() {}
