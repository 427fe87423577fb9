//! The README's forms of `tags` and `batch`.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use cache_runtime::cached;

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Profile {
    name: String,
}

#[derive(Debug, Clone)]
struct DbError;

#[cached(ttl = "10m", tags = ["user:{id}", "org:{user_org}"])]
async fn profile(id: u64, user_org: u64) -> Result<Profile, DbError> {
    Ok(Profile { name: format!("{id}@{user_org}") })
}

#[cached(ttl = "10m", key = "user:{id}", batch = ids)]
async fn users(ids: Vec<u64>) -> Result<HashMap<u64, Profile>, DbError> {
    Ok(ids.into_iter().map(|id| (id, Profile { name: id.to_string() })).collect())
}

struct Db;

#[cached(ttl = "10m", key = "{tenant}:acct:{id}", batch = ids, skip(db), cache_none, negative_ttl = "1m")]
fn accounts(tenant: &str, ids: BTreeSet<u64>, db: &Db) -> BTreeMap<u64, u64> {
    let _ = db;
    ids.into_iter().map(|id| (id, id * 2)).collect()
}

fn main() {
    let _ = (profile(1, 2), users(vec![1, 2]), accounts("t", BTreeSet::from([1]), &Db));
    let _ = (users::key(&1), accounts::key(&1, &"t"));
    let _ = cache_runtime::Cache::global().invalidate_tag("user:1");
}
