use cache_runtime::cached;

#[derive(Clone)]
struct Report {
    lines: Vec<String>,
}

#[cached(ttl = 60)]
fn f(id: u64) -> Report {
    Report { lines: vec![id.to_string()] }
}

fn main() {}
