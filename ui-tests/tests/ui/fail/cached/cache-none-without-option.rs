use cache_runtime::cached;

#[cached(ttl = 60, cache_none)]
fn f(id: u64) -> Result<u64, String> {
    Ok(id)
}

fn main() {}
