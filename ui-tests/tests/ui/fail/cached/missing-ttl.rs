use cache_runtime::cached;

#[cached(key = "f:{id}")]
fn f(id: u64) -> u64 {
    id
}

fn main() {}
