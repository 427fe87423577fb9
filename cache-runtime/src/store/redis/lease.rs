//! The short lease lock of `lock_on_miss`: one caller across processes computes a key.
//!
//! ```text
//! acquire:  SET <key>\0lock <token> NX PX <lease>           (nobody else holds it)
//! release:  if GET <lock> == token then DEL <lock> end;     (only the owner releases,
//!           PUBLISH cache-runtime:filled <key>               and tells the waiters)
//! ```
//! The lease expires by itself, so a holder that crashed holds the others up for one lease at
//! most. The lock key is the entry's key followed by a NUL byte and `lock`: it sorts next to the
//! entry, falls under the same prefix (`clear` leaves it), and no rendered key ends that way.

use std::sync::LazyLock;
use std::time::Duration;

use super::fills::CHANNEL;

/// One lease held: its lock key, the owner token and how long it lasts.
#[derive(Debug)]
pub(crate) struct Lease {
    lock_key: String,
    token: String,
    lasts: Duration,
}

/// Deletes the lock only for its owner, then publishes the fill. The publication is a `pcall`:
/// an ACL user without the channel (Redis 7 gives none by default) still releases.
static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
redis.pcall('PUBLISH', ARGV[2], ARGV[3])
return 1
",
    )
});

/// The lock key of the entry under `key`.
pub(crate) fn lock_key(key: &str) -> String {
    format!("{key}{}", crate::key::namespace::LEASE_SUFFIX)
}

impl Lease {
    /// A lease of `key` for `lease`, with a fresh random owner token, and the `SET … NX PX`
    /// that takes it (the reply is `OK` when taken, nil when someone else holds it).
    fn request(key: &str, lease: Duration) -> (Lease, redis::Cmd) {
        let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).max(1);
        let token = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let lock_key = lock_key(key);
        let mut cmd = redis::cmd("SET");
        cmd.arg(&lock_key)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(lease_ms);
        let lease = Lease {
            lock_key,
            token,
            lasts: lease,
        };
        (lease, cmd)
    }

    /// The script invocation that releases the lease and announces that `key` was filled.
    pub(crate) fn release(&self, key: &str) -> redis::ScriptInvocation<'static> {
        let mut invocation = RELEASE.prepare_invoke();
        invocation
            .key(&self.lock_key)
            .arg(&self.token)
            .arg(CHANNEL)
            .arg(key);
        invocation
    }
}

/// A lease taken. [`release`](Self::release) it once the value is stored; dropped unreleased
/// (the call was cancelled, or panicked) it is released on the driver thread, so that dropping
/// never blocks, and if even that cannot happen the lease runs out by itself.
#[derive(Debug)]
pub(crate) struct HeldLease {
    store: super::RedisStore,
    lease: Option<Lease>,
    key: String,
}

impl HeldLease {
    /// An attempt at the lease of `key` for `lease`, and the command that makes it. The attempt
    /// counts as held from the start: dropped before its reply says "taken by another" (the
    /// call was cancelled, or the reply timed out while the command may have taken it on the
    /// server) it is released in the background.
    pub(crate) fn request(
        store: &super::RedisStore,
        key: &str,
        lease: Duration,
    ) -> (HeldLease, redis::Cmd) {
        let (lease, cmd) = Lease::request(key, lease);
        let attempt = HeldLease {
            store: store.clone(),
            lease: Some(lease),
            key: key.to_owned(),
        };
        (attempt, cmd)
    }

    /// The reply said another process holds the lease: there is nothing to release.
    pub(crate) fn not_taken(mut self) {
        self.lease = None;
    }

    /// Releases the lease and announces the fill, awaiting the reply. If that fails, or the
    /// call is dropped before the reply, the lease is released in the background instead.
    pub(crate) async fn release(mut self) {
        if let Some(lease) = &self.lease {
            if self
                .store
                .invoke::<i64>(lease.release(&self.key))
                .await
                .is_ok()
            {
                self.lease = None;
            }
        }
    }

    /// [`HeldLease::release`], blocking this thread.
    pub(crate) fn release_blocking(mut self) {
        if let Some(lease) = &self.lease {
            if self
                .store
                .invoke_blocking::<i64>(lease.release(&self.key))
                .is_ok()
            {
                self.lease = None;
            }
        }
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        let Some(lease) = self.lease.take() else {
            return;
        };
        let (key, lasts) = (std::mem::take(&mut self.key), lease.lasts);
        self.store
            .invoke_in_background(move || lease.release(&key), lasts, "lease");
    }
}
