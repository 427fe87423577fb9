use cache_runtime::cached;

#[cached(ttl = 60, cache_err)]
fn f(id: u64) -> Option<u64> {
    Some(id)
}

fn main() {}
