use cache_runtime::cached;

#[cached(ttl = "1m", cache_none, negative_ttl = "2m")]
fn f(id: u64) -> Option<u64> {
    Some(id)
}

fn main() {}
