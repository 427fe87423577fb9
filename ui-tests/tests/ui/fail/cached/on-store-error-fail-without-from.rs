use cache_runtime::cached;

#[derive(Debug, Clone)]
struct DbError;

#[cached(ttl = 60, on_store_error = fail)]
async fn f(id: u64) -> Result<u64, DbError> {
    Ok(id)
}

fn main() {}
