use cache_runtime::{rate_limit, RateLimited};

#[derive(Debug)]
struct ApiError;

impl From<RateLimited> for ApiError {
    fn from(_: RateLimited) -> Self {
        ApiError
    }
}

#[rate_limit(limit = 10, window = "0s")]
fn f() -> Result<(), ApiError> {
    Ok(())
}

fn main() {}
