use cache_runtime::cached;

#[cached(ttl = 60, lock_on_miss = "3 fortnights")]
fn f(id: u64) -> u64 {
    id
}

fn main() {}
