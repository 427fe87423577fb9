use cache_runtime::{rate_limit, RateLimited};

#[derive(Debug)]
struct ApiError;

impl From<RateLimited> for ApiError {
    fn from(_: RateLimited) -> Self {
        ApiError
    }
}

#[rate_limit(limit = 0, window = 60)]
fn f() -> Result<(), ApiError> {
    Ok(())
}

fn main() {}
