//! `#[cached]` where companions cannot be extra items: methods of trait impls (native `async fn`
//! in traits, and `#[async_trait]`, which rewrites the method before `#[cached]` sees it), and
//! functions declared inside another function's body. Each caches (body runs counted) and
//! shares its entries as a free function or inherent method would; a block-local function keeps
//! its companions.

use std::sync::LazyLock;

use async_trait::async_trait;
use cache_runtime::{cached, rate_limit, RateLimited};
use cache_tests::{Clocked, Runs};

trait UserRepo {
    async fn user(&self, id: u64) -> String;
    fn name(&self, id: u64) -> String;
}

struct PgRepo {
    tenant: String,
}

static REPO: LazyLock<Clocked> = LazyLock::new(Clocked::new);
static USER_RUNS: Runs = Runs::new();
static NAME_RUNS: Runs = Runs::new();

impl UserRepo for PgRepo {
    #[cached(ttl = 60, skip(self), store = REPO.cache)]
    async fn user(&self, id: u64) -> String {
        USER_RUNS.record();
        format!("user {id}")
    }

    #[cached(ttl = 60, key = "{self.tenant}:name:{id}", store = REPO.cache)]
    fn name(&self, id: u64) -> String {
        NAME_RUNS.record();
        format!("{}/{id}", self.tenant)
    }
}

#[tokio::test]
async fn methods_of_a_trait_impl_are_cached() {
    let (a, b) = (PgRepo { tenant: "a".into() }, PgRepo { tenant: "b".into() });
    for _ in 0..3 {
        assert_eq!(a.user(1).await, "user 1");
        assert_eq!(b.user(1).await, "user 1");
        assert_eq!(a.name(7), "a/7");
        assert_eq!(b.name(7), "b/7");
    }
    assert_eq!(USER_RUNS.count(), 1);
    assert_eq!(NAME_RUNS.count(), 2);
    // No companions in a trait impl: a template key is reached through the plain operations.
    assert!(REPO.cache.delete("a:name:7").await.unwrap());
    assert_eq!(a.name(7), "a/7");
    assert_eq!(NAME_RUNS.count(), 3);
    let stats = cache_runtime::stats_of("trait_and_local::PgRepo::user");
    assert_eq!((stats.hits, stats.computes), (5, 1));
}

#[async_trait]
trait Catalog: Send + Sync {
    async fn price(&self, sku: u64) -> Result<u64, RateLimited>;
}

struct Shop;

static SHOP: LazyLock<Clocked> = LazyLock::new(Clocked::new);
static PRICE_RUNS: Runs = Runs::new();

#[async_trait]
impl Catalog for Shop {
    // Stacked, outermost first: every call is counted by the limit, then looked up.
    #[rate_limit(limit = 100, window = 60, key = "price", store = SHOP.cache)]
    #[cached(ttl = 60, skip(self), store = SHOP.cache)]
    async fn price(&self, sku: u64) -> Result<u64, RateLimited> {
        PRICE_RUNS.record();
        Ok(sku * 100)
    }
}

#[tokio::test]
async fn an_async_trait_method_is_cached_and_stays_object_safe() {
    let catalog: Box<dyn Catalog> = Box::new(Shop);
    for _ in 0..4 {
        assert_eq!(catalog.price(3).await, Ok(300));
    }
    assert_eq!(catalog.price(4).await, Ok(400));
    assert_eq!(PRICE_RUNS.count(), 2);
    let stats = cache_runtime::stats_of("trait_and_local::Shop::price");
    assert_eq!((stats.hits, stats.computes), (3, 2));
}

#[tokio::test]
async fn a_function_declared_in_a_body_is_cached_with_its_companions() {
    static LOCAL: LazyLock<Clocked> = LazyLock::new(Clocked::new);
    static SQUARE_RUNS: Runs = Runs::new();

    #[cached(ttl = 60, key = "square:{n}", store = LOCAL.cache)]
    async fn square(n: u64) -> u64 {
        SQUARE_RUNS.record();
        n * n
    }

    assert_eq!(square(4).await, 16);
    assert_eq!(square(4).await, 16);
    assert_eq!(SQUARE_RUNS.count(), 1);
    assert_eq!(square::key(&4).unwrap(), "cache:square:4");
    assert_eq!(square::peek(&4).await, Some(16));
    assert!(square::invalidate(&4).await);
    assert_eq!(square::peek(&4).await, None);
    assert_eq!(square::refresh(4).await, 16);
    assert_eq!(SQUARE_RUNS.count(), 2);
    assert_eq!(square::stats().computes, 2);
}
