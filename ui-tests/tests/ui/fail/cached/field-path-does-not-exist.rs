use cache_runtime::cached;

#[derive(serde::Serialize)]
struct User {
    id: u64,
}

#[cached(ttl = 60, key = "user:{user.uid}")]
fn f(user: User) -> u64 {
    user.id
}

fn main() {}
