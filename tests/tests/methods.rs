//! Methods: `self` skipped, or named through its fields in the key.

use cache_runtime::cached;
use cache_tests::Runs;

static RUNS: Runs = Runs::new();
static TENANT_RUNS: Runs = Runs::new();

#[derive(Debug)]
pub struct Repo {
    tenant: String,
}

impl Repo {
    #[cached(ttl = 600, skip(self))]
    pub async fn user(&self, id: u64) -> String {
        RUNS.record();
        format!("user {id}")
    }

    #[cached(ttl = 600, key = "{self.tenant}:user:{id}")]
    pub fn tenant_user(&self, id: u64) -> String {
        TENANT_RUNS.record();
        format!("{}/{id}", self.tenant)
    }
}

#[tokio::test]
async fn a_method_with_self_skipped_shares_entries_across_instances() {
    let (a, b) = (Repo { tenant: "a".into() }, Repo { tenant: "b".into() });
    assert_eq!(a.user(1).await, "user 1");
    assert_eq!(b.user(1).await, "user 1");
    assert_eq!(RUNS.count(), 1);
    assert_eq!(a.user_peek(&1).await.as_deref(), Some("user 1"));
    assert!(a
        .user_key(&1)
        .unwrap()
        .starts_with("cache:methods::Repo::user:v0:"));
    assert!(a.user_invalidate(&1).await);
    assert_eq!(a.user_refresh(1).await, "user 1");
    assert_eq!(RUNS.count(), 2);
    assert_eq!(Repo::user_stats().computes, 2);
}

#[test]
fn self_fields_in_the_key_separate_instances() {
    let (a, b) = (Repo { tenant: "a".into() }, Repo { tenant: "b".into() });
    assert_eq!(a.tenant_user(1), "a/1");
    assert_eq!(b.tenant_user(1), "b/1");
    assert_eq!(a.tenant_user(1), "a/1");
    assert_eq!(TENANT_RUNS.count(), 2);
    assert_eq!(a.tenant_user_key(&1).unwrap(), "cache:a:user:1");
    assert_eq!(b.tenant_user_peek(&1).as_deref(), Some("b/1"));
}
