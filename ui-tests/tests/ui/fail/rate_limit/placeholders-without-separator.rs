use cache_runtime::{rate_limit, RateLimited};

#[derive(Debug)]
struct ApiError;

impl From<RateLimited> for ApiError {
    fn from(_: RateLimited) -> Self {
        ApiError
    }
}

#[rate_limit(limit = 10, window = 60, key = "{tenant}{user}")]
fn f(tenant: u64, user: u64) -> Result<u64, ApiError> {
    Ok(tenant + user)
}

fn main() {}
