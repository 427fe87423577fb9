use cache_runtime::{rate_limit, RateLimited};

#[derive(Debug)]
struct ApiError;

impl From<RateLimited> for ApiError {
    fn from(_: RateLimited) -> Self {
        ApiError
    }
}

#[rate_limit(limit = 10, window = 60, key = "{user}")]
fn f(user_id: u64) -> Result<u64, ApiError> {
    Ok(user_id)
}

fn main() {}
