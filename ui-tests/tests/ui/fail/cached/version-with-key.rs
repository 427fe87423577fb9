use cache_runtime::cached;

#[cached(ttl = 60, key = "user:{id}", version = 2)]
fn f(id: u64) -> u64 {
    id
}

fn main() {}
