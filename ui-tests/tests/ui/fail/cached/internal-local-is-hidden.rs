use cache_runtime::cached;

#[cached(ttl = 60)]
fn f(id: u64) -> u64 {
    // The expansion has a local `__key`; the body cannot see it.
    let _ = __key;
    id
}

fn main() {}
