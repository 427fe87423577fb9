use cache_runtime::cached;

#[cached(ttl = 60)]
fn f(name: impl AsRef<str>) -> usize {
    name.as_ref().len()
}

fn main() {}
