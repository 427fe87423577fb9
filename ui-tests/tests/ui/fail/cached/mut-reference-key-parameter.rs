use cache_runtime::cached;

#[cached(ttl = 60)]
fn f(ids: &mut Vec<u64>) -> usize {
    ids.len()
}

fn main() {}
