use cache_runtime::{rate_limit, RateLimited};

#[derive(Debug)]
struct ApiError;

impl From<RateLimited> for ApiError {
    fn from(_: RateLimited) -> Self {
        ApiError
    }
}

struct Filter {
    page: u32,
}

#[rate_limit(limit = 10, window = 60, key = "{filter}")]
fn f(filter: Filter) -> Result<u32, ApiError> {
    Ok(filter.page)
}

fn main() {}
