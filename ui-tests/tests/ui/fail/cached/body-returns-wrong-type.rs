use cache_runtime::cached;

#[cached(ttl = 60)]
fn count(id: u64) -> u64 {
    format!("{id}")
}

#[cached(ttl = 60)]
async fn name(id: u64) -> String {
    id
}

fn main() {}
