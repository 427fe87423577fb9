//! In-process single-flight: concurrent misses of one key run the body once.
//!
//! The first caller of a key becomes the leader and holds a [`Leader`] guard while it computes;
//! later callers follow: they wait (async or blocking) for the leader's value. No lock is held
//! while the body runs, so a body that calls the same function with other arguments (`fib`) never
//! deadlocks. When the leader's future is dropped or its body panics, the guard's `Drop` marks the
//! flight abandoned and wakes the followers, who start over: one of them leads next.

use std::any::Any;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use event_listener::{Event, EventListener};
use foldhash::fast::RandomState;

/// The leader's value, shared with followers.
pub(crate) type Shared = Arc<dyn Any + Send + Sync>;

const SHARDS: usize = 16;

/// The flights of one shard, found by their key's hash; each flight holds its key, so a flight
/// is one allocation besides its key.
type FlightMap = hashbrown::HashTable<Arc<Flight>>;

/// The flights under way in one `Cache`.
#[derive(Debug)]
pub(crate) struct Flights {
    shards: [Mutex<FlightMap>; SHARDS],
    hasher: RandomState,
}

#[derive(Debug)]
pub(crate) struct Flight {
    key: Box<[u8]>,
    hash: u64,
    /// The stamp of the tags' versions its computation began under (0 untagged).
    stamp: u64,
    state: Mutex<State>,
    done: Event,
    /// Callers that joined as followers; changed and read under the shard's lock.
    followers: AtomicUsize,
}

#[derive(Default)]
enum State {
    #[default]
    Running,
    Finished(Shared),
    Abandoned,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Running => "Running",
            State::Finished(_) => "Finished",
            State::Abandoned => "Abandoned",
        })
    }
}

/// What joining a flight made of the caller.
pub(crate) enum Joined {
    Leader(Leader),
    Follower(Follower),
}

/// The caller that computes (or a background refresh). Dropping it unfinished abandons the
/// flight.
pub(crate) struct Leader {
    flights: Arc<Flights>,
    flight: Arc<Flight>,
    finished: bool,
}

/// A finished flight that callers can still join while its value's write to Redis is under
/// way: a caller whose read raced the write takes the value instead of computing it again.
/// Dropping it (once the write is answered) ends the flight.
#[cfg(feature = "redis")]
pub(crate) struct Landing {
    flights: Arc<Flights>,
    flight: Arc<Flight>,
}

/// A caller waiting for a leader.
#[derive(Debug)]
pub(crate) struct Follower {
    flight: Arc<Flight>,
}

/// What a follower found, or must wait on.
pub(crate) enum Outcome {
    Value(Shared),
    /// The leader was cancelled or panicked: start over.
    Abandoned,
    Wait(EventListener),
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps and states stay consistent at every point a panic could unwind through.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Flights {
    pub(crate) fn new() -> Self {
        Flights {
            shards: std::array::from_fn(|_| Mutex::new(FlightMap::new())),
            hasher: RandomState::default(),
        }
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn shard(&self, hash: u64) -> &Mutex<FlightMap> {
        // The middle bits: the table uses the low and the top ones.
        &self.shards[(hash.rotate_right(32) as usize) % SHARDS]
    }

    /// Follows the flight of `key` under way with the same `stamp`, or leads a new one (a
    /// flight under another stamp is detached first: its computation began under tag versions
    /// this caller does not see).
    pub(crate) fn join(self: &Arc<Self>, key: &[u8], stamp: u64) -> Joined {
        let hash = self.hash(key);
        let mut map = lock(self.shard(hash));
        match map.find(hash, |flight| *flight.key == *key) {
            Some(flight) if flight.stamp == stamp => {
                flight.followers.fetch_add(1, Ordering::Relaxed);
                Joined::Follower(Follower {
                    flight: flight.clone(),
                })
            }
            _ => Joined::Leader(self.lead(&mut map, key, hash, stamp)),
        }
    }

    /// Follows the flight of `key` under way with the same `stamp`, if there is one (leads none).
    pub(crate) fn follow(&self, key: &[u8], stamp: u64) -> Option<Follower> {
        let hash = self.hash(key);
        let map = lock(self.shard(hash));
        let flight = map
            .find(hash, |flight| *flight.key == *key)
            .filter(|flight| flight.stamp == stamp)?;
        flight.followers.fetch_add(1, Ordering::Relaxed);
        Some(Follower {
            flight: flight.clone(),
        })
    }

    /// Leads a new flight of `key`, unless one is under way with the same `stamp` (a background
    /// refresh starts only then).
    pub(crate) fn try_lead(self: &Arc<Self>, key: &[u8], stamp: u64) -> Option<Leader> {
        let hash = self.hash(key);
        let mut map = lock(self.shard(hash));
        let under_way = map.find(hash, |flight| *flight.key == *key);
        if under_way.is_some_and(|flight| flight.stamp == stamp) {
            return None;
        }
        Some(self.lead(&mut map, key, hash, stamp))
    }

    /// A new flight of `key`, in the place of the one under way if there is one.
    fn lead(self: &Arc<Self>, map: &mut FlightMap, key: &[u8], hash: u64, stamp: u64) -> Leader {
        let flight = Arc::new(Flight {
            key: key.into(),
            hash,
            stamp,
            state: Mutex::new(State::Running),
            done: Event::new(),
            followers: AtomicUsize::new(0),
        });
        match map.find_mut(hash, |flight| *flight.key == *key) {
            Some(under_way) => *under_way = flight.clone(),
            None => {
                map.insert_unique(hash, flight.clone(), |flight| flight.hash);
            }
        }
        Leader {
            flights: self.clone(),
            flight,
            finished: false,
        }
    }

    /// Detaches the flight of `key`, if one is under way: callers from now on start their own.
    /// Its leader still hands its value to the followers it had.
    pub(crate) fn detach(&self, key: &[u8]) {
        let hash = self.hash(key);
        let mut map = lock(self.shard(hash));
        if let Ok(entry) = map.find_entry(hash, |flight| *flight.key == *key) {
            entry.remove();
        }
    }

    /// Ends `flight`: no caller can join it any more. Returns how many did.
    fn remove(&self, flight: &Arc<Flight>) -> usize {
        let mut map = lock(self.shard(flight.hash));
        if let Ok(entry) = map.find_entry(flight.hash, |current| Arc::ptr_eq(current, flight)) {
            entry.remove();
        }
        flight.followers.load(Ordering::Relaxed)
    }

    /// How many flights are under way (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).len()).sum()
    }
}

impl Flight {
    /// Sets the flight's outcome and wakes everyone waiting on it.
    fn settle(&self, state: State) {
        *lock(&self.state) = state;
        self.done.notify(usize::MAX);
    }
}

impl Leader {
    /// Ends the flight and hands the value to every follower; `value` is only made if there is
    /// one (an uncontended miss shares nothing).
    pub(crate) fn finish(mut self, value: impl FnOnce() -> Shared) {
        self.end(|| State::Finished(value()));
    }

    /// Hands `value` to every follower, and to every caller that joins the flight until the
    /// returned [`Landing`] is dropped.
    #[cfg(feature = "redis")]
    pub(crate) fn share_until_stored(mut self, value: Shared) -> Landing {
        self.finished = true;
        self.flight.settle(State::Finished(value));
        Landing {
            flights: Arc::clone(&self.flights),
            flight: Arc::clone(&self.flight),
        }
    }

    fn end(&mut self, state: impl FnOnce() -> State) {
        self.finished = true;
        // Removed first: once it is out of the map, the followers counted are all there are.
        if self.flights.remove(&self.flight) > 0 {
            self.flight.settle(state());
        }
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        if !self.finished {
            self.end(|| State::Abandoned);
        }
    }
}

#[cfg(feature = "redis")]
impl Drop for Landing {
    fn drop(&mut self) {
        self.flights.remove(&self.flight);
    }
}

impl Follower {
    /// The leader's outcome, or a listener to wait on. Listening starts before the state is read,
    /// so a wake-up between the two is never lost.
    pub(crate) fn poll(&self) -> Outcome {
        let listener = self.flight.done.listen();
        match &*lock(&self.flight.state) {
            State::Running => Outcome::Wait(listener),
            State::Finished(value) => Outcome::Value(value.clone()),
            State::Abandoned => Outcome::Abandoned,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use event_listener::Listener;

    #[test]
    fn followers_get_the_leaders_value_and_the_flight_ends() {
        let flights = Arc::new(Flights::new());
        let Joined::Leader(leader) = flights.join(b"k", 0) else {
            panic!("first caller leads")
        };
        let Joined::Follower(follower) = flights.join(b"k", 0) else {
            panic!("second caller follows")
        };
        assert!(matches!(follower.poll(), Outcome::Wait(_)));
        leader.finish(|| Arc::new(7u32));
        let Outcome::Value(value) = follower.poll() else {
            panic!("value expected")
        };
        assert_eq!(value.downcast_ref::<u32>(), Some(&7));
        assert_eq!(flights.len(), 0);
    }

    #[test]
    fn a_dropped_leader_abandons_and_wakes_followers() {
        let flights = Arc::new(Flights::new());
        let Joined::Leader(leader) = flights.join(b"k", 0) else {
            panic!("first caller leads")
        };
        let Joined::Follower(follower) = flights.join(b"k", 0) else {
            panic!("second caller follows")
        };
        let Outcome::Wait(listener) = follower.poll() else {
            panic!("must wait")
        };
        drop(leader);
        listener.wait();
        assert!(matches!(follower.poll(), Outcome::Abandoned));
        assert!(matches!(flights.join(b"k", 0), Joined::Leader(_)));
    }

    #[cfg(feature = "redis")]
    #[test]
    fn a_flight_whose_value_is_being_stored_hands_it_to_callers_that_join() {
        let flights = Arc::new(Flights::new());
        let Joined::Leader(leader) = flights.join(b"k", 0) else {
            panic!("first caller leads")
        };
        let landing = leader.share_until_stored(Arc::new(7u32));
        let Joined::Follower(late) = flights.join(b"k", 0) else {
            panic!("a caller that missed while the value is stored follows")
        };
        let Outcome::Value(value) = late.poll() else {
            panic!("and has the value at once")
        };
        assert_eq!(value.downcast_ref::<u32>(), Some(&7));
        assert!(flights.try_lead(b"k", 0).is_none(), "no refresh starts");
        drop(landing);
        assert_eq!(flights.len(), 0);
        assert!(matches!(flights.join(b"k", 0), Joined::Leader(_)));
    }

    #[test]
    fn a_caller_under_other_tag_versions_leads_its_own_flight() {
        let flights = Arc::new(Flights::new());
        let Joined::Leader(old) = flights.join(b"k", 1) else {
            panic!("first caller leads")
        };
        let Joined::Follower(follower) = flights.join(b"k", 1) else {
            panic!("same versions follow")
        };
        let Joined::Leader(new) = flights.join(b"k", 2) else {
            panic!("other versions lead anew")
        };
        assert!(flights.try_lead(b"k", 2).is_none());
        assert!(matches!(flights.join(b"k", 2), Joined::Follower(_)));
        // The old leader still hands its value to the follower it had.
        old.finish(|| Arc::new(1u32));
        assert!(matches!(follower.poll(), Outcome::Value(_)));
        assert_eq!(flights.len(), 1);
        new.finish(|| Arc::new(2u32));
        assert_eq!(flights.len(), 0);
    }
}
