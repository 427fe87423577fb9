//! `ttl_from`: each entry lives as long as its value says, never longer than `ttl`; a value
//! that says zero is not stored; `Err`/`None` keep `negative_ttl`. On memory (a manual clock)
//! and on Redis (the PTTL it holds).

use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use cache_runtime::{cached, Cache};
use cache_tests::servers::{keys_of, RedisServer};
use cache_tests::{Clocked, Runs};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Token {
    expires_in: u64,
}

fn token_lifetime(token: &Token) -> Duration {
    Duration::from_secs(token.expires_in)
}

/// The token an identity provider would issue for `id`: `id` is its lifetime in seconds.
fn issue(id: u64) -> Result<Token, String> {
    match id {
        u64::MAX => Err("provider down".to_owned()),
        _ => Ok(Token { expires_in: id }),
    }
}

static MEMORY: LazyLock<Clocked> = LazyLock::new(Clocked::new);
static MEMORY_RUNS: Runs = Runs::new();

#[cached(ttl = "1h", ttl_from = token_lifetime, cache_err, negative_ttl = 10, store = MEMORY.cache)]
async fn memory_token(id: u64) -> Result<Token, String> {
    MEMORY_RUNS.record();
    issue(id)
}

#[tokio::test]
async fn on_memory_an_entry_lives_as_long_as_its_value_says_within_ttl() {
    let advance = |secs| MEMORY.clock.advance(Duration::from_secs(secs));
    // 30 s, 2 h (more than ttl), 0 (already expired) and an error.
    for id in [30, 7_200, 0, u64::MAX] {
        let _ = memory_token(id).await;
    }
    assert_eq!(MEMORY_RUNS.count(), 4);
    advance(9);
    for id in [30, 7_200, 0, u64::MAX] {
        let _ = memory_token(id).await;
    }
    // Only the expired token ran again.
    assert_eq!(MEMORY_RUNS.count(), 5);
    advance(2); // 11 s: the error's negative_ttl (10 s) is over
    let _ = memory_token(u64::MAX).await;
    assert_eq!(MEMORY_RUNS.count(), 6);
    advance(20); // 31 s: the 30-s token is gone, the 2-h one is not
    assert_eq!(memory_token(30).await, Ok(Token { expires_in: 30 }));
    assert_eq!(memory_token(7_200).await, Ok(Token { expires_in: 7_200 }));
    assert_eq!(MEMORY_RUNS.count(), 7);
    advance(3_600); // past ttl: the 2-h token lived 1 h
    let _ = memory_token(7_200).await;
    assert_eq!(MEMORY_RUNS.count(), 8);
}

static PLAIN: LazyLock<Clocked> = LazyLock::new(Clocked::new);
static PLAIN_RUNS: Runs = Runs::new();

fn length_lifetime(value: &str) -> Duration {
    Duration::from_secs(value.len() as u64)
}

/// A plain `fn`, and a value that is not a `Result`: the lifetime comes from the value itself.
#[cached(ttl = 60, ttl_from = length_lifetime, store = PLAIN.cache)]
fn plain_word(word: String) -> String {
    PLAIN_RUNS.record();
    word
}

#[test]
fn a_plain_fn_value_gives_its_lifetime() {
    let clock = &PLAIN.clock;
    plain_word("x".repeat(5));
    plain_word("x".repeat(50));
    clock.advance(Duration::from_secs(6));
    plain_word("x".repeat(5));
    plain_word("x".repeat(50));
    assert_eq!(PLAIN_RUNS.count(), 3);
}

static REDIS: OnceLock<Cache> = OnceLock::new();
static REDIS_RUNS: Runs = Runs::new();

fn redis_cache() -> &'static Cache {
    REDIS.get().expect("the test starts Redis first")
}

#[cached(ttl = "1h", key = "token:{id}", ttl_from = token_lifetime, store = redis_cache())]
async fn redis_token(id: u64) -> Result<Token, String> {
    REDIS_RUNS.record();
    issue(id)
}

#[tokio::test]
async fn on_redis_the_entry_expires_when_the_value_says() {
    let server = RedisServer::single();
    let cache = Cache::from_url(&server.url()).unwrap();
    let mut raw = server.raw();
    REDIS.set(cache).unwrap();
    for id in [30, 7_200, 0] {
        redis_token(id).await.unwrap();
    }
    let pttl = keys_of(&mut raw);
    let within = |key: &str, low: i64, high: i64| {
        let ttl = pttl[key];
        assert!((low..=high).contains(&ttl), "PTTL of {key} is {ttl}");
    };
    within("cache:token:30", 25_000, 30_000);
    within("cache:token:7200", 3_500_000, 3_600_000);
    assert!(!pttl.contains_key("cache:token:0"), "{pttl:?}");
    redis_token(30).await.unwrap();
    redis_token(0).await.unwrap();
    assert_eq!(REDIS_RUNS.count(), 4);
}
