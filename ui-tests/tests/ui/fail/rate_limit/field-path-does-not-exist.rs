use cache_runtime::{rate_limit, RateLimited};

#[derive(Debug)]
struct ApiError;

impl From<RateLimited> for ApiError {
    fn from(_: RateLimited) -> Self {
        ApiError
    }
}

struct User {
    id: u64,
}

#[rate_limit(limit = 10, window = 60, key = "{user.name}")]
fn f(user: &User) -> Result<u64, ApiError> {
    Ok(user.id)
}

fn main() {}
