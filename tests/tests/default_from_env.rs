//! With nothing installed, the first cached call reads `CACHE_URL`.
//! (One test in this binary: the process-wide default is set once.)

use cache_runtime::{cached, Cache};

#[cached(ttl = 60)]
fn answer() -> u32 {
    42
}

#[test]
fn cache_url_selects_the_default_store() {
    std::env::set_var("CACHE_URL", "memory://?max_entries=10&prefix=from-env");
    assert_eq!(answer(), 42);
    assert_eq!(answer(), 42);
    let cache = Cache::global();
    assert_eq!(cache.prefix(), "from-env");
    assert_eq!(
        cache.memory_store().map(cache_runtime::MemoryStore::bound),
        Some(cache_runtime::MemoryBound::Entries(10))
    );
    assert!(answer::key()
        .unwrap()
        .starts_with("from-env:default_from_env::answer:v0:"));
    assert_eq!(answer::stats().hits, 1);
}
