use cache_runtime::cached;

#[cached(ttl = 60, stale_while_revalidate = 0)]
fn f(id: u64) -> u64 {
    id
}

fn main() {}
