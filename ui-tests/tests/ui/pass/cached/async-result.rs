use cache_runtime::cached;
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    pub name: String,
}

#[derive(Clone, Debug)]
pub struct DbError;

#[cached(ttl = 600)]
async fn get_user(id: u64) -> Result<User, DbError> {
    Ok(User { id, name: "ada".into() })
}

fn main() {
    let _ = get_user(1);
    let _ = get_user::key(&1);
}
