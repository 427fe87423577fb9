//! An entry that does not decode is a miss that gets overwritten and counted, never a panic.

use std::time::Duration;

use cache_runtime::{cached, Cache};
use cache_tests::{block_on, Runs};

static RUNS: Runs = Runs::new();
static TYPED_RUNS: Runs = Runs::new();
static TEXT_RUNS: Runs = Runs::new();
static NUMBER_RUNS: Runs = Runs::new();

#[cached(ttl = 600, key = "profile:{id}")]
fn profile(id: u64) -> Vec<String> {
    RUNS.record();
    vec![format!("profile {id}")]
}

#[test]
fn garbage_bytes_are_a_counted_miss_and_get_overwritten() {
    let cache = Cache::global();
    for garbage in [&b"not an entry"[..], b"", &[0xCA, 0xC4, 1, 1, 0]] {
        block_on(cache.set_bytes("profile:1", garbage, Some(Duration::from_secs(600)))).unwrap();
        assert_eq!(profile(1), ["profile 1"]);
    }
    assert_eq!(RUNS.count(), 3);
    assert_eq!(profile::stats().decode_failures, 3);
    assert_eq!(profile(1), ["profile 1"], "the healed entry is a hit");
    assert_eq!(RUNS.count(), 3);
    let (_, stored): (_, Vec<String>) =
        cache_runtime::entry::decode(&block_on(cache.get_bytes("profile:1")).unwrap().unwrap())
            .unwrap();
    assert_eq!(stored, ["profile 1"]);
}

#[cached(ttl = 600, key = "typed:{id}")]
fn typed(id: u64) -> Vec<String> {
    TYPED_RUNS.record();
    vec![format!("typed {id}")]
}

#[test]
fn an_entry_of_another_type_is_a_counted_miss() {
    let header = cache_runtime::entry::EntryHeader {
        codec: cache_runtime::Codec::MessagePack,
        negative: false,
        created_at: 0,
        fresh_until: u64::MAX,
        stale_until: u64::MAX,
        compute_micros: 0,
        fingerprint: cache_runtime::entry::fingerprint::<u64>(),
        tags: 0,
    };
    let bytes =
        cache_runtime::entry::encode(&header, &42u64, cache_runtime::Compression::Off).unwrap();
    let ttl = Some(Duration::from_secs(600));
    block_on(Cache::global().set_bytes("typed:2", &bytes, ttl)).unwrap();
    assert_eq!(typed(2), ["typed 2"]);
    assert_eq!(typed(2), ["typed 2"]);
    assert_eq!((TYPED_RUNS.count(), typed::stats().decode_failures), (1, 1));
}

#[cached(ttl = 600, key = "shared:{id}")]
fn as_text(id: u64) -> String {
    TEXT_RUNS.record();
    id.to_string()
}

#[cached(ttl = 600, key = "shared:{id}")]
fn as_number(id: u64) -> u64 {
    NUMBER_RUNS.record();
    id
}

#[test]
fn a_changed_return_type_under_one_key_recomputes() {
    assert_eq!(as_text(5), "5");
    assert_eq!(as_number(5), 5);
    assert_eq!(as_number(5), 5);
    assert_eq!((TEXT_RUNS.count(), NUMBER_RUNS.count()), (1, 1));
    assert_eq!(as_number::stats().decode_failures, 1);
}
