//! Storing a computed value: in the memory store at once, or as one `SET … PX` for Redis.

use std::sync::Arc;
use std::time::Duration;

use super::call::TtlFrom;
use super::kind::ReturnKind;
use super::tags;
use super::FnSite;
#[cfg(feature = "redis")]
use crate::cached::flight::Landing;
use crate::cached::flight::{Leader, Shared};
use crate::cached::invalidation::Ticket;
#[cfg(feature = "redis")]
use crate::cached::invalidation::{StoreGate, Superseded};
use crate::entry::{self, EntryHeader};
use crate::key::Key;
use crate::store::{Backend, Decoded, StoredEntry, StoredValue};
#[cfg(feature = "redis")]
use crate::store::{Failure, RedisStore};
use crate::{Cache, CachePolicy, Codec};

/// A computed value on its way to Redis: one `SET … PX`, admitted by `gate` (an invalidation of
/// the key waits until it is sent and answered).
#[cfg(feature = "redis")]
pub(super) struct RemoteWrite {
    redis: RedisStore,
    set: redis::Cmd,
    gate: StoreGate,
    /// The key leaves the near cache once the write is answered (own writes first).
    near: Superseded,
    /// The flight that computed the value, joinable until the write is answered.
    flight: Option<Landing>,
}

/// Without Redis every store is done at once in memory: there is no write to send.
#[cfg(not(feature = "redis"))]
pub(super) enum RemoteWrite {}

impl RemoteWrite {
    /// Sends the write and counts how it went; then lets a waiting invalidation go on.
    pub(super) async fn send(self, site: &FnSite) {
        #[cfg(feature = "redis")]
        {
            let outcome = self.redis.query::<()>(self.set).await;
            match outcome {
                Ok(()) => site.counters().stores.bump(),
                Err(failure) => backend_error(site, &failure, "storing the result"),
            }
            drop(self.near);
            drop(self.gate);
            drop(self.flight);
        }
        #[cfg(not(feature = "redis"))]
        match (self, site) {}
    }
}

/// Ends `leader`'s flight with `value`: at once, or, when `write` stores the value in Redis,
/// once it is answered; until then a caller whose read raced the write joins the flight and
/// takes the value instead of computing it again (or starting a refresh).
pub(super) fn end_flight(
    leader: Leader,
    write: Option<&mut RemoteWrite>,
    value: impl FnOnce() -> Shared,
) {
    match write {
        #[cfg(feature = "redis")]
        Some(write) => write.flight = Some(leader.share_until_stored(value())),
        _ => leader.finish(value),
    }
}

/// Stores what `value` stores (if anything) under `key`, stamped `stamp` (the versions of `tags`
/// when the computation began; 0 untagged): in memory now, or returns the Redis write to send.
/// Nothing is stored if the key was invalidated (or set, or deleted) since the computation of
/// `ticket` began, nor in memory if one of the tags was (a void entry would replace a newer
/// one; on Redis it may, and is never served).
pub(super) fn store<K, R>(
    cache: &Cache,
    (key, ticket, (stamp, tags)): (&Key, Ticket, (u64, &[Key])),
    site: &FnSite,
    (policy, ttl_from): (&CachePolicy, Option<TtlFrom<R>>),
    value: &R,
    elapsed: Duration,
) -> Option<RemoteWrite>
where
    K: ReturnKind<R>,
{
    let (stored, negative) = K::to_stored(value)?;
    let ttl = policy.ttl_for(negative);
    let ttl = match ttl_from.and_then(|lifetime| lifetime(value)) {
        Some(lifetime) if lifetime.is_zero() => {
            tracing::debug!(function = site.name(), %key, "the value says it has expired; not stored");
            return None;
        }
        Some(lifetime) => lifetime.min(ttl),
        None => ttl,
    };
    let Some(gate) = cache.invalidations().admit(ticket) else {
        tracing::debug!(function = site.name(), %key, "invalidated while computing; not stored");
        return None;
    };
    let compute_micros = u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX);
    let mut header = header_for(
        cache,
        (ttl, policy.stale_window()),
        negative,
        compute_micros,
    );
    header.fingerprint = entry::fingerprint::<K::Stored>();
    header.tags = stamp;
    match cache.backend() {
        Backend::Memory(memory)
            if stamp != 0 && tags::stamp_in(memory, tags, header.created_at) != Some(stamp) =>
        {
            tracing::debug!(function = site.name(), %key, "a tag invalidated while computing; not stored");
            None
        }
        Backend::Memory(memory) => {
            let value = StoredValue::Decoded(Arc::new(Decoded {
                header,
                value: stored,
            }));
            if memory.insert(key.as_bytes(), StoredEntry::new(header.stale_until, value)) {
                site.counters().stores.bump();
            } else {
                tracing::debug!(function = site.name(), %key, "result heavier than the store; not kept");
            }
            drop(gate);
            None
        }
        #[cfg(feature = "redis")]
        Backend::Redis(redis) => match entry::encode(&header, &stored, cache.compression()) {
            Ok(bytes) => {
                // Redis keeps it through its TTL and the longer stale window.
                let px = header.stale_until.saturating_sub(header.created_at).max(1);
                let mut set = redis::cmd("SET");
                set.arg(key).arg(bytes).arg("PX").arg(px);
                Some(RemoteWrite {
                    redis: redis.clone(),
                    set,
                    gate,
                    near: Superseded::in_near(cache, key.as_bytes()),
                    flight: None,
                })
            }
            Err(error) => {
                tracing::warn!(function = site.name(), %error, "result does not encode; not stored");
                None
            }
        },
    }
}

/// Counts and traces a Redis failure the call goes on without.
#[cfg(feature = "redis")]
pub(super) fn backend_error(site: &FnSite, failure: &Failure, doing: &'static str) {
    site.counters().backend_errors.bump();
    tracing::debug!(function = site.name(), %failure, doing, "Redis unusable; going on without it");
}

/// The header of an entry stored now: fresh for `ttl`, kept for the stale window more.
fn header_for(
    cache: &Cache,
    (ttl, stale_window): (Duration, Duration),
    negative: bool,
    compute_micros: u32,
) -> EntryHeader {
    let now = cache.now_millis();
    let millis = |duration: Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    let ttl_ms = millis(ttl).max(1);
    let fresh_until = now.saturating_add(ttl_ms);
    let kept_ms = ttl_ms.saturating_add(millis(stale_window));
    EntryHeader {
        codec: Codec::MessagePack,
        negative,
        created_at: now,
        fresh_until,
        stale_until: now.saturating_add(kept_ms),
        compute_micros,
        fingerprint: 0,
        tags: 0,
    }
}
