use cache_runtime::cached;

#[cached(stale_if_error = "1h")]
fn f(id: u64) -> u64 {
    id
}

fn main() {}
