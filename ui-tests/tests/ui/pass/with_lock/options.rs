//! Every option of `#[with_lock]`, on async and plain fns, free and methods, stacked with the
//! other attributes.

use std::sync::LazyLock;

use cache_runtime::{cached, lock, rate_limit, with_lock, Cache, LockError, RateLimited};
use serde::Serialize;

static LOCKS: LazyLock<Cache> = LazyLock::new(|| Cache::builder().build().unwrap());

#[derive(Debug, Clone)]
enum AppError {
    Lock,
    Busy,
}

impl From<LockError> for AppError {
    fn from(_: LockError) -> Self {
        AppError::Lock
    }
}

impl From<RateLimited> for AppError {
    fn from(_: RateLimited) -> Self {
        AppError::Busy
    }
}

#[derive(Serialize)]
struct Order {
    id: u64,
}

#[with_lock(key = "order:{order_id}", ttl = 30, wait = "5s")]
async fn settle(order_id: u64) -> Result<u64, AppError> {
    Ok(order_id + lock::fencing_token().unwrap_or(0))
}

#[with_lock]
fn whole_function() -> Result<bool, AppError> {
    Ok(lock::still_held())
}

#[with_lock(key = "order:{order.id}", ttl = "500ms", wait = 0, renew = false, on_lost = continue, store = LOCKS, crate = "::cache_runtime")]
async fn options(order: &Order) -> Result<u64, AppError> {
    Ok(order.id)
}

#[with_lock(key = "order:{order.id}", renew, on_lost = cancel)]
async fn cancels(order: &Order) -> Result<u64, AppError> {
    Ok(order.id)
}

struct Ledger {
    tenant: String,
}

impl Ledger {
    #[with_lock(key = "{self.tenant}:ledger")]
    async fn post(&self, amount: i64) -> Result<i64, AppError> {
        Ok(amount + self.tenant.len() as i64)
    }
}

#[rate_limit(limit = 10, window = 60)]
#[with_lock(key = "daily")]
#[cached(ttl = 60)]
async fn stacked() -> Result<u64, AppError> {
    Ok(1)
}

fn main() {
    let _ = (settle, whole_function, options, cancels, Ledger::post, stacked);
    let _ = Ledger { tenant: String::new() }.tenant;
}
