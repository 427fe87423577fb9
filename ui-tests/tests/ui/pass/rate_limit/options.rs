//! Every option of `#[rate_limit]`, on async and plain fns, free and methods, and next to
//! `#[cached]`.

use std::sync::LazyLock;

use cache_runtime::{cached, rate_limit, Cache, RateLimited};
use serde::Serialize;

static LIMITS: LazyLock<Cache> = LazyLock::new(|| Cache::builder().build().unwrap());

#[derive(Debug)]
enum ApiError {
    Limited(RateLimited),
}

impl From<RateLimited> for ApiError {
    fn from(limited: RateLimited) -> Self {
        ApiError::Limited(limited)
    }
}

#[derive(Serialize)]
struct User {
    id: u64,
}

#[rate_limit(limit = 100, window = 60, key = "{user_id}")]
async fn create_item(user_id: u64, item: String) -> Result<String, ApiError> {
    Ok(item)
}

#[rate_limit(limit = 5, window = "1s", burst = 2, algorithm = gcra, fail = closed, store = LIMITS)]
fn plain(user: &User) -> Result<u64, ApiError> {
    Ok(user.id)
}

#[rate_limit(limit = 5, window = "10s", algorithm = "sliding_window", on_limit = wait, max_wait = "2s")]
async fn waits() -> Result<(), ApiError> {
    Ok(())
}

#[rate_limit(limit = 5, window = 1, algorithm = fixed_window, on_limit = reject, fail = open, crate = "::cache_runtime")]
fn windowed() -> anyhow_like::Result<u8> {
    Ok(1)
}

mod anyhow_like {
    pub type Result<T> = std::result::Result<T, super::ApiError>;
}

struct Service {
    tenant: String,
}

impl Service {
    #[rate_limit(limit = 10, window = 60, key = "{self.tenant}:{user.id}")]
    async fn method(&self, user: &User) -> Result<u64, ApiError> {
        Ok(user.id + self.tenant.len() as u64)
    }
}

#[derive(Debug, Clone)]
struct Busy;

impl From<RateLimited> for Busy {
    fn from(_: RateLimited) -> Self {
        Busy
    }
}

#[rate_limit(limit = 10, window = 60, key = "{id}")]
#[cached(ttl = 60)]
async fn both(id: u64) -> Result<u64, Busy> {
    Ok(id)
}

fn main() {
    let _ = (create_item, plain, waits, windowed, Service::method, both);
    let _ = Service { tenant: String::new() }.tenant;
}
