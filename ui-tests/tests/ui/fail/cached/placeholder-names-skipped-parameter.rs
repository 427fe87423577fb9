use cache_runtime::cached;

#[cached(ttl = 60, key = "user:{id}:{page}", skip(page))]
fn f(id: u64, page: u32) -> u64 {
    id + u64::from(page)
}

fn main() {}
