//! Generic functions: type arguments are part of the key.

use std::fmt::Display;

use cache_runtime::cached;
use cache_tests::Runs;
use serde::de::DeserializeOwned;
use serde::Serialize;

static RUNS: Runs = Runs::new();

#[cached(ttl = 600)]
fn describe<T>(value: T) -> String
where
    T: Serialize + Display,
{
    RUNS.record();
    format!("{value}")
}

#[cached(ttl = 600)]
fn default_of<T>(label: &str) -> T
where
    T: Default + Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    let _ = label;
    T::default()
}

#[test]
fn type_arguments_separate_entries() {
    assert_eq!(describe(7u8), "7");
    assert_eq!(describe(7u64), "7");
    assert_eq!(describe(7u64), "7");
    assert_eq!(
        RUNS.count(),
        2,
        "u8 and u64 are distinct keys, the second u64 call hits"
    );
    assert_ne!(describe::key(&7u8).unwrap(), describe::key(&7u64).unwrap());
}

#[test]
fn a_type_only_in_the_return_type_separates_entries() {
    assert_eq!(default_of::<u32>("x"), 0u32);
    assert_eq!(default_of::<String>("x"), String::new());
    assert_eq!(default_of::peek::<String>("x"), Some(String::new()));
    // Had the two shared one key, the String entry would have replaced the u32 one.
    assert_eq!(default_of::peek::<u32>("x"), Some(0));
    assert_ne!(
        default_of::key::<u32>("x").unwrap(),
        default_of::key::<String>("x").unwrap()
    );
    assert_eq!(default_of::stats().decode_failures, 0);
}
