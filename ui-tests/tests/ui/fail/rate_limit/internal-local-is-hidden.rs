use cache_runtime::{rate_limit, RateLimited};

#[derive(Debug)]
struct ApiError;

impl From<RateLimited> for ApiError {
    fn from(_: RateLimited) -> Self {
        ApiError
    }
}

#[rate_limit(limit = 10, window = 60)]
fn f() -> Result<(), ApiError> {
    // The expansion has a local `__key`; the body cannot see it.
    let _ = __key;
    Ok(())
}

fn main() {}
