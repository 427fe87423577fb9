use cache_runtime::cached;

#[cached(ttl = 0, key = "user:{uid}", skip(db), cache_err)]
fn f(id: u64) -> u64 {
    id
}

fn main() {}
