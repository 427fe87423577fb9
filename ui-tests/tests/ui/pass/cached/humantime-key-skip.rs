use cache_runtime::cached;
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
}

pub struct Db;

#[cached(ttl = "10m", key = "user:{id}", skip(db))]
async fn load_user(id: u64, db: &Db) -> Option<User> {
    let _ = db;
    Some(User { id })
}

fn main() {
    let db = Db;
    let _ = load_user(1, &db);
    let _ = load_user::refresh(1, &db);
    let _ = load_user::peek(&1);
    let _ = load_user::invalidate(&1);
}
