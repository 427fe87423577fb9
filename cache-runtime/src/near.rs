//! The near cache: an in-process L1 of decoded `#[cached]` entries in front of Redis, kept
//! coherent by Redis itself (`CLIENT TRACKING … BCAST`, see `store/redis/tracking.rs`).
//!
//! ```text
//! read ─► healthy? ─no──────────────────────────────► Redis (L1 bypassed)
//!           └ yes ─► L1 ─ hit ─► value (no command sent)
//!                      └ miss ─► ticket ─► GET ─► fill(ticket): installed unless voided
//! push "invalidate k" ─► stripe(k) lock: generation+1, L1.remove(k)
//! tracking lost / late ─► flush: every stripe locked, epoch+1, L1 cleared; bypassed until a PONG
//! ```
//!
//! **Never staler than the bound.** The tracking connection sends a `PING` every quarter of
//! `max_lag`; its `PONG` comes after every invalidation the server sent before it (one ordered
//! stream), so once the `PONG` to a `PING` sent at `t` is in, every write applied before `t` has
//! been heard. L1 answers at `now` only if such a `t` is within `max_lag` of `now` (less the
//! coarse clock's 4 ms step, so that a late clock read cannot stretch it): a value served is at
//! most `max_lag` behind the server, whatever the network does.
//!
//! **No stale fill.** A reader takes a ticket (its key's stripe generation and the epoch) before
//! its `GET`; the fill installs the reply only if neither moved, checked and installed under the
//! stripe's lock, which an invalidation of the key takes to bump the generation and remove the key.
//! So a reply that raced an invalidation of its key is refused, whichever arrives first.
//!
//! **Own writes first.** `invalidate`, `refresh`, `set`, `delete` and a computed value's `SET`
//! remove the key here themselves, before they return, the same way a push does.
//!
//! **Keys by two names.** The L1 holds an entry under its key as the memory store holds it, so a
//! near hit costs what a memory hit costs. A push names the key as Redis holds it; for a
//! function's default key that name ends in a digest that cannot be turned back into the key, so
//! a read's ticket records the pair (Redis name → key) and a push finds the key through it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use foldhash::fast::FixedState;
use std::hash::BuildHasher;

use crate::clock::monotonic_millis;
use crate::count::Count;
use crate::key::as_stored;
use crate::store::{MemoryStore, StoredEntry};

/// The staleness bound when none is given: a near entry is never more than this behind Redis.
pub const DEFAULT_NEAR_CACHE_MAX_LAG: Duration = Duration::from_millis(500);

const STRIPES: usize = 256;

/// How many Redis names of default keys are kept at least; past that and past twice the L1's
/// entries, they are forgotten with the entries they name.
const NAMES_FLOOR: usize = 4_096;

/// The coarse monotonic clock's worst step (a 250 Hz kernel tick): taken off the bound, so that
/// a clock read up to one tick late can never stretch it.
const CLOCK_STEP_MS: u64 = 4;

/// Keys as the memory store holds them, by the names Redis gives them.
type Names = HashMap<Box<[u8]>, Box<[u8]>>;

/// The near cache of one [`Cache`](crate::Cache) on Redis.
pub(crate) struct Near {
    l1: MemoryStore,
    max_lag_ms: u64,
    /// `max_lag_ms` less the clock's step: how recent the last `PONG`'s `PING` must be.
    answer_within_ms: u64,
    /// When the `PING` was sent whose `PONG` came back last (monotonic ms); 0 while tracking is
    /// not armed.
    heard_through: AtomicU64,
    /// Bumped by every flush: a ticket from before it is void.
    epoch: AtomicU64,
    /// Per stripe of keys: bumped by every invalidation of a key of the stripe.
    stripes: Box<[Mutex<u64>]>,
    /// The keys of default-key entries by their Redis names (see the module's header).
    names: Mutex<Names>,
    hasher: FixedState,
    pub(crate) counts: NearCounts,
}

/// What the near cache has done, for [`crate::store::RedisStats`].
#[derive(Debug, Default)]
pub(crate) struct NearCounts {
    pub(crate) hits: Count,
    pub(crate) invalidations: Count,
    pub(crate) flushes: Count,
    pub(crate) fills_refused: Count,
}

/// Taken before a read of Redis; a fill with it is refused if the key was invalidated or the
/// near cache flushed since.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FillTicket {
    stripe: usize,
    generation: u64,
    epoch: u64,
}

impl Near {
    pub(crate) fn new(l1: MemoryStore, max_lag: Duration) -> Self {
        let max_lag_ms = u64::try_from(max_lag.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        Near {
            l1,
            max_lag_ms,
            answer_within_ms: max_lag_ms.saturating_sub(CLOCK_STEP_MS).max(1),
            heard_through: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            stripes: (0..STRIPES).map(|_| Mutex::new(0)).collect(),
            names: Mutex::new(HashMap::new()),
            hasher: FixedState::default(),
            counts: NearCounts::default(),
        }
    }

    /// The staleness bound.
    pub(crate) fn max_lag(&self) -> Duration {
        Duration::from_millis(self.max_lag_ms)
    }

    /// The L1, if it may answer now: tracking armed and heard within the bound.
    #[inline]
    pub(crate) fn usable(&self) -> Option<&MemoryStore> {
        let heard = self.heard_through.load(Relaxed);
        (heard != 0 && monotonic_millis().saturating_sub(heard) < self.answer_within_ms)
            .then_some(&self.l1)
    }

    fn stripe(&self, key: &[u8]) -> usize {
        (self.hasher.hash_one(key) as usize) % STRIPES
    }

    fn lock(&self, stripe: usize) -> std::sync::MutexGuard<'_, u64> {
        self.stripes[stripe]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn names(&self) -> MutexGuard<'_, Names> {
        self.names.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A ticket for a read of `key` (as the memory store holds it) about to be sent. A default
    /// key's Redis name is recorded first, so that a push naming it from now on reaches it.
    pub(crate) fn ticket(&self, key: &[u8]) -> FillTicket {
        if let Cow::Owned(name) = as_stored(key) {
            self.record_name(name, key);
        }
        let stripe = self.stripe(key);
        let epoch = self.epoch.load(SeqCst);
        let generation = *self.lock(stripe);
        FillTicket {
            stripe,
            generation,
            epoch,
        }
    }

    /// Records `name`, the Redis name of the default key `key`. Past the bound the names are
    /// forgotten, and with them the entries they name (a push could no longer reach those) and
    /// every ticket out (its name is gone too).
    fn record_name(&self, name: Vec<u8>, key: &[u8]) {
        let mut names = self.names();
        if names.len() >= NAMES_FLOOR && names.len() >= 2 * self.l1.len() {
            let _all: Vec<_> = (0..STRIPES).map(|stripe| self.lock(stripe)).collect();
            self.epoch.fetch_add(1, SeqCst);
            self.l1.clear_cached();
            names.clear();
        }
        names.insert(name.into(), key.into());
    }

    /// Installs what a read under `ticket` found, unless the key was invalidated, the cache
    /// flushed, or tracking is not healthy; whether it was installed.
    pub(crate) fn fill(&self, key: &[u8], ticket: FillTicket, entry: StoredEntry) -> bool {
        let generation = self.lock(ticket.stripe);
        let current = *generation == ticket.generation
            && self.epoch.load(SeqCst) == ticket.epoch
            && self.usable().is_some();
        if current {
            self.l1.insert(key, entry);
        } else {
            self.counts.fills_refused.bump();
        }
        current
    }

    /// `key` changed (a push, or this process's own write; as the memory store holds it, or by
    /// its Redis name): its entry goes, and reads of it under way will not fill.
    pub(crate) fn invalidate(&self, key: &[u8]) {
        self.invalidate_held(key);
        let named = self.names().remove(key);
        if let Some(held) = named {
            self.invalidate_held(&held);
        }
    }

    /// [`invalidate`](Self::invalidate) of `key` as the L1 holds it.
    fn invalidate_held(&self, key: &[u8]) {
        let mut generation = self.lock(self.stripe(key));
        *generation += 1;
        self.l1.remove(key);
    }

    /// A push from the server: `key` changed.
    pub(crate) fn heard_invalidation(&self, key: &[u8]) {
        self.counts.invalidations.bump();
        self.invalidate(key);
    }

    /// Everything goes (tracking lost, late, or re-armed; the server flushed): the L1 is
    /// bypassed until [`heard_through`](Self::heard_through) says tracking is healthy again.
    pub(crate) fn flush(&self) {
        self.heard_through.store(0, SeqCst);
        let all: Vec<_> = (0..STRIPES).map(|stripe| self.lock(stripe)).collect();
        self.epoch.fetch_add(1, SeqCst);
        self.l1.clear_cached();
        // Released first: the names' lock is never taken while a stripe's is held.
        drop(all);
        self.names().clear();
        self.counts.flushes.bump();
    }

    /// Every invalidation the server sent before `sent` (monotonic ms, the time a `PING` was
    /// sent whose `PONG` just came back) has been heard.
    pub(crate) fn heard_through(&self, sent: u64) {
        self.heard_through.fetch_max(sent, SeqCst);
    }
}

impl std::fmt::Debug for Near {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Near")
            .field("l1", &self.l1)
            .field("max_lag", &self.max_lag())
            .field("usable", &self.usable().is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredValue;
    use std::sync::Arc;

    fn entry() -> StoredEntry {
        StoredEntry::new(u64::MAX, StoredValue::Encoded(Arc::from(&b"v"[..])))
    }

    fn healthy() -> Near {
        let near = Near::new(MemoryStore::with_max_entries(100), Duration::from_secs(60));
        near.heard_through(monotonic_millis());
        near
    }

    #[test]
    fn a_fill_that_raced_an_invalidation_of_its_key_is_refused() {
        let near = healthy();
        let ticket = near.ticket(b"k");
        near.heard_invalidation(b"k"); // the push arrives before the reply
        assert!(!near.fill(b"k", ticket, entry()));
        assert!(near.usable().unwrap().get(b"k", 0).is_none());
        // A read begun after the invalidation fills.
        let ticket = near.ticket(b"k");
        assert!(near.fill(b"k", ticket, entry()));
        assert!(near.usable().unwrap().get(b"k", 0).is_some());
        // The push after the fill removes it.
        near.heard_invalidation(b"k");
        assert!(near.usable().unwrap().get(b"k", 0).is_none());
        assert_eq!(
            (
                near.counts.invalidations.get(),
                near.counts.fills_refused.get()
            ),
            (2, 1)
        );
    }

    #[test]
    fn a_push_naming_a_default_key_as_redis_does_reaches_its_entry() {
        let near = healthy();
        let key = b"p:app::price:v0:\xff\x03u64\x05\x07";
        let name = as_stored(key).into_owned();
        assert_ne!(&name[..], &key[..]);
        // The push arrives between the read's ticket and its reply: the fill is refused.
        let ticket = near.ticket(key);
        near.heard_invalidation(&name);
        assert!(!near.fill(key, ticket, entry()));
        // Filled, then pushed: the entry goes.
        assert!(near.fill(key, near.ticket(key), entry()));
        assert!(near.usable().unwrap().get(key, 0).is_some());
        near.heard_invalidation(&name);
        assert!(near.usable().unwrap().get(key, 0).is_none());
    }

    #[test]
    fn forgotten_names_take_their_entries_and_tickets_with_them() {
        let near = healthy();
        let key = |n: usize| [&b"p:app::price:v0:\xff"[..], n.to_string().as_bytes()].concat();
        let mut keys = (0..NAMES_FLOOR).map(key);
        let first = keys.next().unwrap();
        assert!(near.fill(&first, near.ticket(&first), entry()));
        let ticket = near.ticket(&first);
        for other in keys {
            near.ticket(&other);
        }
        // One name more than the bound, twice the L1's one entry: every name is forgotten.
        near.ticket(&key(NAMES_FLOOR));
        assert!(
            near.usable().unwrap().get(&first, 0).is_none(),
            "its name is gone"
        );
        assert!(!near.fill(&first, ticket, entry()), "a ticket from before");
    }

    #[test]
    fn a_flush_voids_every_ticket_and_bypasses_the_l1_until_heard_again() {
        let near = healthy();
        let ticket = near.ticket(b"k");
        near.flush();
        assert!(near.usable().is_none(), "bypassed until tracking is heard");
        near.heard_through(monotonic_millis());
        assert!(
            !near.fill(b"k", ticket, entry()),
            "the ticket is from before the flush"
        );
        assert!(near.fill(b"k", near.ticket(b"k"), entry()));
    }

    #[test]
    fn silence_longer_than_the_bound_bypasses_the_l1() {
        let near = Near::new(MemoryStore::with_max_entries(10), Duration::from_millis(30));
        assert!(near.usable().is_none(), "not armed yet");
        near.heard_through(monotonic_millis());
        assert!(near.usable().is_some());
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            near.usable().is_none(),
            "nothing heard for longer than max_lag"
        );
        assert!(!near.fill(b"k", near.ticket(b"k"), entry()));
    }
}
