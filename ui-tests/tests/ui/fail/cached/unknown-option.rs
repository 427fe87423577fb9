use cache_runtime::cached;

#[cached(ttl = 60, tll = 60)]
fn f(id: u64) -> u64 {
    id
}

fn main() {}
