use cache_runtime::{cached, CachePolicy};
use std::time::Duration;

#[cached(ttl = 60, early_expiry)]
fn plain_default_beta(n: u64) -> u64 {
    n
}

#[cached(ttl = "10m", early_expiry = 2.0, lock_on_miss = "3s")]
async fn owned_async(id: u64) -> Result<String, String> {
    Ok(id.to_string())
}

#[cached(ttl = 60, early_expiry = 2, stale_while_revalidate = "1m", stale_if_error = "1h", lock_on_miss)]
async fn borrowing_async(id: u64, label: &str) -> Option<String> {
    Some(format!("{label}{id}"))
}

// Not `Send`: refreshed in the calling task, since the function borrows.
#[cached(ttl = 60, stale_while_revalidate = 30, skip(local))]
async fn not_send(id: u64, local: &std::rc::Rc<u8>) -> u64 {
    id + u64::from(**local)
}

const HOT: CachePolicy = CachePolicy::from_secs(60)
    .early_expiry(1.5)
    .stale_if_error(Duration::from_secs(3600))
    .lock_on_miss(Duration::from_secs(2));

#[cached(policy = HOT)]
fn with_policy(n: u64) -> u64 {
    n * 2
}

fn main() {
    assert_eq!(plain_default_beta(3), 3);
    assert_eq!(with_policy(7), 14);
    // Compiled, not run: this crate has no executor.
    let _ = owned_async(4);
    let _ = borrowing_async(5, "n");
    let rc = std::rc::Rc::new(1);
    let _ = not_send(6, &rc);
}
