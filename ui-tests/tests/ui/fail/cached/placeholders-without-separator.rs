use cache_runtime::cached;

#[cached(ttl = 60, key = "{first}{last}")]
fn f(first: String, last: String) -> usize {
    first.len() + last.len()
}

fn main() {}
