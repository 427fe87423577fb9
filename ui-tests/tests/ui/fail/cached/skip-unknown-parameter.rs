use cache_runtime::cached;

#[cached(ttl = 60, skip(db))]
fn f(id: u64, pool: &str) -> u64 {
    id + pool.len() as u64
}

fn main() {}
