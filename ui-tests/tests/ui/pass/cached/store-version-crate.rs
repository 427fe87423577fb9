use cache_runtime::{cached, Cache};
use std::sync::LazyLock;

static SESSIONS: LazyLock<Cache> = LazyLock::new(|| Cache::builder().prefix("sessions").build().unwrap());

#[cached(ttl = 60, store = SESSIONS, version = 2, crate = "cache_runtime")]
fn session(id: u32) -> String {
    id.to_string()
}

fn main() {
    assert!(session::key(&1).unwrap().starts_with("sessions:"));
}
