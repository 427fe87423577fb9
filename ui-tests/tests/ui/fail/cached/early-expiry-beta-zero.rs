use cache_runtime::cached;

#[cached(ttl = 60, early_expiry = 0.0)]
fn f(id: u64) -> u64 {
    id
}

fn main() {}
