use cache_runtime::{with_lock, LockError};

#[derive(Debug)]
struct AppError;

impl From<LockError> for AppError {
    fn from(_: LockError) -> Self {
        AppError
    }
}

struct Order {
    id: u64,
}

#[with_lock(key = "order:{order}")]
fn f(order: Order) -> Result<u64, AppError> {
    Ok(order.id)
}

fn main() {}
