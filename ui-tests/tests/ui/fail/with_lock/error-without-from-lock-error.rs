use cache_runtime::with_lock;

#[derive(Debug)]
struct DbError;

#[with_lock(key = "report")]
async fn f() -> Result<(), DbError> {
    Ok(())
}

fn main() {}
