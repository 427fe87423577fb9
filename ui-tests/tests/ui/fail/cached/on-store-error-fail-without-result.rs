use cache_runtime::cached;

#[cached(ttl = 60, on_store_error = fail)]
fn f(id: u64) -> Option<u64> {
    Some(id)
}

fn main() {}
