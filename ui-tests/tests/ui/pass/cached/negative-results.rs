use cache_runtime::cached;

#[cached(ttl = 60, cache_err, negative_ttl = "5s")]
fn parse(text: String) -> Result<u32, String> {
    text.parse().map_err(|_| format!("bad number {text}"))
}

#[cached(ttl = 60, cache_none, negative_ttl = 10)]
async fn find(id: u32) -> Option<u32> {
    (id > 1).then_some(id)
}

fn main() {
    assert!(parse("x".into()).is_err());
    let _ = find(1);
}
