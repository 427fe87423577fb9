use cache_runtime::{with_lock, LockError};

#[derive(Debug)]
struct AppError;

impl From<LockError> for AppError {
    fn from(_: LockError) -> Self {
        AppError
    }
}

#[with_lock(key = "report")]
fn f() -> u32 {
    1
}

fn main() {}
