use cache_runtime::{with_lock, LockError};

#[derive(Debug)]
struct AppError;

impl From<LockError> for AppError {
    fn from(_: LockError) -> Self {
        AppError
    }
}

#[with_lock(key = "order:{order}")]
fn f(order_id: u64) -> Result<u64, AppError> {
    Ok(order_id)
}

fn main() {}
