use cache_runtime::cached;

#[cached(ttl = 60, on_store_error = closed)]
fn f(id: u64) -> Result<u64, String> {
    Ok(id)
}

fn main() {}
