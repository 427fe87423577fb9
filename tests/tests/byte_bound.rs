//! A byte bound is a bound: a byte-bounded memory store weighs a decoded value by what it holds
//! in memory (before, by its encoded size, 8x less for small numbers), so the process grows by
//! at most about the bound; a value heavier than the store is neither kept nor counted stored.

use std::sync::LazyLock;

use cache_runtime::{cached, Cache, MemoryStore};

const BOUND: u64 = 16 << 20;

static BOUNDED: LazyLock<Cache> = LazyLock::new(|| {
    Cache::builder()
        .store(MemoryStore::with_max_bytes(BOUND))
        .build()
        .unwrap()
});
static TINY: LazyLock<Cache> = LazyLock::new(|| {
    Cache::builder()
        .store(MemoryStore::with_max_bytes(64 << 10))
        .build()
        .unwrap()
});

/// 1,000 small numbers: ~1 KB as MessagePack, 8 KB in memory.
#[cached(ttl = 600, store = BOUNDED)]
fn numbers(id: u64) -> Vec<u64> {
    (0..1_000).map(|i| (i + id) % 100).collect()
}

#[cached(ttl = 600, store = TINY)]
fn huge(id: u64) -> Vec<u64> {
    vec![id; 200_000]
}

/// The resident set of this process (Linux `/proc/self/statm`, 4 KiB pages).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let pages: u64 = statm.split(' ').nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn resident_growth_stays_within_twice_the_bound() {
    for id in 0..100 {
        numbers(id);
    }
    let before = resident_bytes();
    for id in 100..50_100 {
        numbers(id);
    }
    let grown = resident_bytes().saturating_sub(before);
    eprintln!(
        "resident growth: {} MiB under a {} MiB bound",
        grown >> 20,
        BOUND >> 20
    );
    assert!(
        grown <= 2 * BOUND,
        "the process grew by {} MiB under a {} MiB bound",
        grown >> 20,
        BOUND >> 20
    );
    assert_eq!(numbers::stats().stores, 50_100);
}

#[test]
fn a_value_heavier_than_the_store_is_not_counted_as_stored() {
    assert_eq!(huge(1).len(), 200_000);
    assert_eq!(huge(1).len(), 200_000);
    let stats = huge::stats();
    assert_eq!((stats.stores, stats.computes), (0, 2), "{stats:?}");
}
