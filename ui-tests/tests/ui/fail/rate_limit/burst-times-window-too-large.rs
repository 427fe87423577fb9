use cache_runtime::{rate_limit, RateLimited};

#[derive(Debug)]
struct ApiError;

impl From<RateLimited> for ApiError {
    fn from(_: RateLimited) -> Self {
        ApiError
    }
}

// 10^9 calls of burst over a day cannot be computed exactly by the Redis script.
#[rate_limit(limit = 1000000000, window = "1day")]
fn f() -> Result<(), ApiError> {
    Ok(())
}

fn main() {}
