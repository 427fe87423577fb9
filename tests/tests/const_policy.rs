//! Policies as values: a `const` `CachePolicy` shared by functions.

use std::sync::LazyLock;
use std::time::Duration;

use cache_runtime::{cached, CachePolicy};
use cache_tests::{Clocked, Runs};

const USERS: CachePolicy = CachePolicy::from_secs(600)
    .cache_none()
    .negative_ttl(Duration::from_secs(30));

static RUNS: Runs = Runs::new();
static CACHE: LazyLock<Clocked> = LazyLock::new(Clocked::new);

#[cached(policy = USERS, store = CACHE.cache)]
async fn user(id: u64) -> Option<String> {
    RUNS.record();
    (id == 1).then(|| "ada".to_string())
}

#[tokio::test]
async fn the_policy_decides_ttl_and_what_is_stored() {
    assert_eq!(user(1).await.as_deref(), Some("ada"));
    assert_eq!(user(2).await, None);
    assert_eq!(
        user(2).await,
        None,
        "None is stored: the policy has cache_none"
    );
    assert_eq!(RUNS.count(), 2);
    CACHE.clock.advance(Duration::from_secs(30));
    assert_eq!(user(2).await, None);
    assert_eq!(user(1).await.as_deref(), Some("ada"));
    assert_eq!(
        RUNS.count(),
        3,
        "None expired after negative_ttl; Some is still fresh"
    );
}
