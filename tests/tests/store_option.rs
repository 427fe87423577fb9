//! `store = EXPR` picks a cache other than the default.

use std::sync::{Arc, LazyLock};

use cache_runtime::{cached, Cache, MemoryStore};

static SESSIONS: LazyLock<Cache> = LazyLock::new(|| {
    Cache::builder()
        .prefix("sessions")
        .store(MemoryStore::with_max_entries(100))
        .build()
        .unwrap()
});

fn shared() -> Arc<Cache> {
    static SHARED: LazyLock<Arc<Cache>> =
        LazyLock::new(|| Arc::new(Cache::builder().prefix("shared").build().unwrap()));
    SHARED.clone()
}

#[cached(ttl = 60, key = "session:{id}", store = SESSIONS)]
fn session(id: u32) -> String {
    format!("session {id}")
}

#[cached(ttl = 60, key = "token:{id}", store = shared())]
async fn token(id: u32) -> String {
    format!("token {id}")
}

#[tokio::test]
async fn each_function_uses_the_named_cache() {
    assert_eq!(session(1), "session 1");
    assert!(SESSIONS.get_bytes("session:1").await.unwrap().is_some());
    assert!(Cache::global()
        .get_bytes("session:1")
        .await
        .unwrap()
        .is_none());
    assert_eq!(session::key(&1).unwrap(), "sessions:session:1");

    assert_eq!(token(2).await, "token 2");
    assert!(shared().get_bytes("token:2").await.unwrap().is_some());
    assert_eq!(token::peek(&2).await.as_deref(), Some("token 2"));
}
