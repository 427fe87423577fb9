use cache_runtime::rate_limit;

#[derive(Debug)]
struct DbError;

#[rate_limit(limit = 10, window = 60)]
async fn f() -> Result<(), DbError> {
    Ok(())
}

fn main() {}
