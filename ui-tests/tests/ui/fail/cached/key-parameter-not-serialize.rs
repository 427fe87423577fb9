use cache_runtime::cached;

struct Filter {
    page: u32,
}

#[cached(ttl = 60)]
fn f(id: u64, filter: Filter) -> u64 {
    id + u64::from(filter.page)
}

fn main() {}
