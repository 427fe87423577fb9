use cache_runtime::cached;
use serde::Serialize;

#[cached(ttl = 60)]
fn show<T: Serialize + std::fmt::Display, const N: usize>(value: T) -> String {
    format!("{value}{N}")
}

fn main() {
    assert_eq!(show::<u8, 3>(1), "13");
}
