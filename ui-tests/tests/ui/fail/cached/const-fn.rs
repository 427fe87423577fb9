use cache_runtime::cached;

#[cached(ttl = 60)]
const fn f(id: u64) -> u64 {
    id
}

fn main() {}
