//! Invalidate wins: once `invalidate`, `set` or `delete` of a key returns, no computation that
//! began before it stores its result, and no later caller joins the computation under way.
//!
//! ```text
//! computation:  ticket(key) ── body ── admit(ticket) ─┬─ store ── gate dropped
//!                                                     └─ refused (the key was superseded)
//! supersede:    generation += 1 ── detach the flight ── wait until no store is in flight ── write
//! ```
//!
//! Keys are spread over [`STRIPES`] stripes, each an atomic word: the generation (bumped by each
//! supersede of a key of the stripe) over the count of stores in flight. A ticket remembers the
//! generation its computation began in; a store is admitted only while it is unchanged, and a
//! supersede waits for the admitted stores to finish, so its own write lands after theirs (on
//! Redis the connection keeps the order). A supersede of another key of the same stripe only
//! costs a computation its store, never a wrong value.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use event_listener::{Event, EventListener};
use foldhash::fast::FixedState;

use crate::clock::deadline_after;
use crate::store::Backend;
use crate::Cache;

const STRIPES: usize = 256;
/// The low bits of a stripe: stores in flight.
const STORING: u64 = (1 << 24) - 1;
/// One generation, above them.
const GENERATION: u64 = 1 << 24;

/// The stripes of one `Cache`.
#[derive(Debug)]
pub(crate) struct Invalidations {
    stripes: Box<[Stripe]>,
    hasher: FixedState,
}

#[derive(Debug, Default)]
struct Stripe {
    state: AtomicU64,
    /// Notified when a store of the stripe ends.
    idle: Event,
}

/// The generation a computation began in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ticket {
    stripe: usize,
    generation: u64,
}

/// A store admitted: while it lives, a supersede of its stripe waits.
#[derive(Debug)]
pub(crate) struct StoreGate {
    invalidations: Arc<Invalidations>,
    stripe: usize,
}

impl Invalidations {
    pub(crate) fn new() -> Self {
        Invalidations {
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
            hasher: FixedState::default(),
        }
    }

    fn stripe_of(&self, key: &[u8]) -> usize {
        (self.hasher.hash_one(key) as usize) % STRIPES
    }

    /// Taken when a computation of `key` begins.
    pub(crate) fn ticket(&self, key: &[u8]) -> Ticket {
        let stripe = self.stripe_of(key);
        Ticket {
            stripe,
            generation: self.stripes[stripe].state.load(SeqCst) / GENERATION,
        }
    }

    /// Lets the computation of `ticket` store, unless its key was superseded since it began.
    pub(crate) fn admit(self: &Arc<Self>, ticket: Ticket) -> Option<StoreGate> {
        let state = &self.stripes[ticket.stripe].state;
        let mut current = state.load(SeqCst);
        loop {
            if current / GENERATION != ticket.generation {
                return None;
            }
            match state.compare_exchange_weak(current, current + 1, SeqCst, SeqCst) {
                Ok(_) => {
                    return Some(StoreGate {
                        invalidations: Arc::clone(self),
                        stripe: ticket.stripe,
                    })
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Voids the tickets of `key`'s stripe taken so far; the stripe, to wait on.
    fn void(&self, key: &[u8]) -> usize {
        let stripe = self.stripe_of(key);
        self.stripes[stripe].state.fetch_add(GENERATION, SeqCst);
        stripe
    }

    /// While a store of `stripe` is in flight and `deadline` is ahead: a listener for the end of
    /// a store, and how long there is left to wait on it.
    fn storing(&self, stripe: usize, deadline: Instant) -> Option<(EventListener, Duration)> {
        let stripe = &self.stripes[stripe];
        let listener = stripe.idle.listen();
        let left = deadline.saturating_duration_since(Instant::now());
        let busy = stripe.state.load(SeqCst) & STORING != 0 && !left.is_zero();
        busy.then_some((listener, left))
    }

    /// Waits until no store of `stripe` is in flight, for at most `within`.
    async fn drained(&self, stripe: usize, within: Duration) {
        let deadline = deadline_after(within);
        while let Some((listener, left)) = self.storing(stripe, deadline) {
            crate::driver::wait_for(listener, left).await;
        }
    }
}

impl Drop for StoreGate {
    fn drop(&mut self) {
        let stripe = &self.invalidations.stripes[self.stripe];
        stripe.state.fetch_sub(1, SeqCst);
        stripe.idle.notify(usize::MAX);
    }
}

/// A write superseding a key is under way: when it is dropped (the write answered, failed or
/// was cancelled), the key leaves the near cache again.
#[must_use = "hold it until the write has been answered"]
pub(crate) struct Superseded {
    #[cfg(feature = "redis")]
    near: Option<(Arc<crate::near::Near>, Vec<u8>)>,
}

impl Superseded {
    /// The near cache's part alone: `key` leaves it now and when this is dropped (a computed
    /// value's `SET`, which supersedes no computation).
    pub(crate) fn in_near(cache: &Cache, key: &[u8]) -> Superseded {
        #[cfg(not(feature = "redis"))]
        let _ = (cache, key);
        Superseded {
            #[cfg(feature = "redis")]
            near: cache.near().map(|near| {
                near.invalidate(key);
                (Arc::clone(near), key.to_vec())
            }),
        }
    }
}

impl Drop for Superseded {
    fn drop(&mut self) {
        #[cfg(feature = "redis")]
        if let Some((near, key)) = &self.near {
            near.invalidate(key);
        }
    }
}

impl Cache {
    /// Before a write that replaces or removes `key` (its bytes in the memory store): computations
    /// begun before now will not store, callers from now on start a computation of their own,
    /// and the stores already admitted have finished, or had the time a store may take (a
    /// store awaited by a task that this very thread blocks cannot finish: the wait is bounded
    /// so that it never deadlocks).
    ///
    /// With a near cache the key leaves it now and again when the returned guard is dropped,
    /// after the write: own writes come first, before their invalidation is pushed back.
    pub(crate) async fn supersede(&self, key: &[u8]) -> Superseded {
        let stripe = self.invalidations().void(key);
        self.flights().detach(key);
        let superseded = Superseded::in_near(self, key);
        let within = self.store_budget();
        self.invalidations().drained(stripe, within).await;
        superseded
    }

    /// The longest a store may take: the Redis time budget (connect + response timeout); on the
    /// memory store a store is an insert, never awaited.
    fn store_budget(&self) -> Duration {
        match self.backend() {
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => {
                redis.config().connect_timeout + redis.config().response_timeout
            }
            Backend::Memory(_) => Duration::from_secs(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_from_before_a_supersede_is_refused() {
        let invalidations = Arc::new(Invalidations::new());
        let old = invalidations.ticket(b"k");
        let gate = invalidations.admit(old).expect("nothing superseded yet");
        drop(gate);
        invalidations.void(b"k");
        assert!(invalidations.admit(old).is_none());
        let new = invalidations.ticket(b"k");
        assert!(invalidations.admit(new).is_some());
    }

    #[test]
    fn a_supersede_waits_for_admitted_stores() {
        let invalidations = Arc::new(Invalidations::new());
        let gate = invalidations.admit(invalidations.ticket(b"k")).unwrap();
        let stripe = invalidations.void(b"k");
        let waiter = {
            let invalidations = Arc::clone(&invalidations);
            std::thread::spawn(move || {
                crate::driver::block_on(invalidations.drained(stripe, Duration::MAX))
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!waiter.is_finished(), "waits while the store is in flight");
        drop(gate);
        waiter.join().unwrap();
    }
}
