//! The README's `#[async_trait]` form: `#[cached]` on a method the attribute rewrote, which
//! stays usable through `dyn`.
use async_trait::async_trait;
use cache_runtime::cached;

#[derive(Debug, Clone)]
struct DbError;

#[async_trait]
trait UserRepo: Send + Sync {
    async fn get(&self, id: u64) -> Result<String, DbError>;
}

struct PgRepo;

#[async_trait]
impl UserRepo for PgRepo {
    #[cached(ttl = 60, key = "user:{id}", skip(self))]
    async fn get(&self, id: u64) -> Result<String, DbError> {
        Ok(id.to_string())
    }
}

fn main() {
    let repo: Box<dyn UserRepo> = Box::new(PgRepo);
    let _ = repo.get(1);
}
