use cache_runtime::cached;

#[cached(ttl = 60, negative_ttl = 5)]
fn f(id: u64) -> Option<u64> {
    Some(id)
}

fn main() {}
