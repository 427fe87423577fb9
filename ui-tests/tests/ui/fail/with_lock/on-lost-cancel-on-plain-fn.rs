use cache_runtime::{with_lock, LockError};

#[derive(Debug)]
struct AppError;

impl From<LockError> for AppError {
    fn from(_: LockError) -> Self {
        AppError
    }
}

#[with_lock(key = "report", on_lost = cancel)]
fn f() -> Result<(), AppError> {
    Ok(())
}

fn main() {}
