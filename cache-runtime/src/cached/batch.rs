//! Batch loading: `#[cached(key = "user:{id}", batch = ids)]` on a function from a collection of
//! ids to a map. Only the ids that miss reach the body, each result is stored under its own key
//! (the key a single-id function with the same template uses, so the two share entries), and
//! concurrent batches that overlap compute each common id once.
//!
//! ```text
//! ids ─► keys ─► read all: memory, or near cache then one MGET (split per node on a Cluster)
//!          └─ missing ─► follow the flights under way (holding none) ─► wait ─┐
//!                        lead the rest (all, or none and wait again) ◄─────────┘
//!                          └─► body(led ids) ─► store each (or what cache_none says for an
//!                              absent one) ─► finish each flight ─► the map, in one piece
//! ```
//! A call never waits while it leads: it follows first and leads only when no flight of its
//! missing ids is under way (or gives its leads back and waits again), so two batches never wait
//! on each other, and the body runs once per call.

use quanta::Instant;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use super::flight::{Follower, Joined, Leader, Outcome};
use super::guarded::Guarded;
use super::invalidation::Ticket;
use super::kind::ReturnKind;
use super::mode::CallMode;
use super::read::read_memory;
use super::write::{end_flight, store, RemoteWrite};
use super::FnSite;
use crate::key::Key;
use crate::{Cache, CachePolicy};

/// The map a batch function returns: from each id found to its value.
#[diagnostic::on_unimplemented(
    message = "`#[cached(batch = …)]` returns a map from id to value, not `{Self}`",
    label = "return `HashMap<Id, Value>` or `BTreeMap<Id, Value>`, or a `Result` of one"
)]
pub trait BatchMap:
    IntoIterator<Item = (Self::Id, Self::Value)> + FromIterator<(Self::Id, Self::Value)>
{
    /// The id, the element of the batch parameter.
    type Id;
    /// What is stored per id.
    type Value;
}

impl<K: Eq + Hash, V, S: BuildHasher + Default> BatchMap for HashMap<K, V, S> {
    type Id = K;
    type Value = V;
}

impl<K: Ord, V> BatchMap for BTreeMap<K, V> {
    type Id = K;
    type Value = V;
}

/// What a batch function returns: its map, or a `Result` of one.
#[diagnostic::on_unimplemented(
    message = "`#[cached(batch = …)]` returns a map from id to value, not `{Self}`",
    label = "return `HashMap<Id, Value>` or `BTreeMap<Id, Value>`, or a `Result` of one"
)]
pub trait BatchOutput: Sized {
    /// The map.
    type Map: BatchMap;
    /// The error, for a `Result`.
    type Error;
    /// The map, or the body's error.
    fn into_result(self) -> Result<Self::Map, Self::Error>;
    /// The return value for a map or an error.
    fn from_result(result: Result<Self::Map, Self::Error>) -> Self;
}

impl<M: BatchMap> BatchOutput for M {
    type Map = M;
    type Error = Infallible;
    fn into_result(self) -> Result<M, Infallible> {
        Ok(self)
    }
    fn from_result(result: Result<M, Infallible>) -> M {
        match result {
            Ok(map) => map,
            Err(never) => match never {},
        }
    }
}

impl<M: BatchMap, E> BatchOutput for Result<M, E> {
    type Map = M;
    type Error = E;
    fn into_result(self) -> Self {
        self
    }
    fn from_result(result: Self) -> Self {
        result
    }
}

/// The id type of a batch function returning `O`.
pub type BatchId<O> = <<O as BatchOutput>::Map as BatchMap>::Id;
/// The value type of a batch function returning `O`.
pub type BatchValue<O> = <<O as BatchOutput>::Map as BatchMap>::Value;

/// The ids of a batch of a function returning `O`, each once, in the order first given: the
/// batch parameter must hold the map's id type (and be buildable from it, for the body).
pub fn batch_ids<O, C>(ids: C) -> Vec<BatchId<O>>
where
    O: BatchOutput,
    C: IntoIterator<Item = BatchId<O>> + FromIterator<BatchId<O>>,
    BatchId<O>: Eq + Hash + Clone,
{
    let mut seen = HashSet::new();
    ids.into_iter()
        .filter(|id| seen.insert(id.clone()))
        .collect()
}

/// Everything one batch call needs besides its ids and body.
#[derive(Debug)]
pub struct Batch<'a> {
    site: &'static FnSite,
    cache: &'a Cache,
    policy: &'static CachePolicy,
    mode: CallMode,
}

impl<'a> Batch<'a> {
    /// A batch call of the function at `site`.
    pub fn new(
        site: &'static FnSite,
        cache: &'a Cache,
        policy: &'static CachePolicy,
        mode: CallMode,
    ) -> Self {
        Batch {
            site,
            cache,
            policy,
            mode,
        }
    }
}

/// Runs a batch call of an `async fn`: `ids` (each once, see [`batch_ids`]) with their `keys`,
/// in order; `body` is the function's body over the ids that missed, as the collection `C`.
/// `kind` says whether an id the body does not return is stored (`cache_none`).
pub async fn batch_async<Kd, O, C, B, Fut>(
    batch: Batch<'_>,
    kind: Kd,
    (ids, keys): (Vec<BatchId<O>>, Vec<Key>),
    body: B,
) -> O
where
    O: BatchOutput,
    BatchId<O>: Eq + Hash + Clone,
    BatchValue<O>: Clone + Send + Sync + 'static,
    Kd: ReturnKind<Option<BatchValue<O>>>,
    C: FromIterator<BatchId<O>>,
    B: FnOnce(C) -> Fut,
    Fut: Future<Output = O>,
{
    let _ = kind;
    let mut run = Run::<Kd, BatchValue<O>> {
        batch: &batch,
        keys: &keys,
        found: vec![None; keys.len()],
        redis_usable: true,
        kind: std::marker::PhantomData,
    };
    if batch.mode == CallMode::Normal {
        run.read().await;
    }
    let counters = batch.site.counters();
    let missing = run.found.iter().filter(|found| found.is_none()).count();
    counters.hits.add((keys.len() - missing) as u64);
    counters.misses.add(missing as u64);
    if let Some((leaders, uncached)) = run.lead().await {
        // The computation begins: an invalidation of a key from now on voids its store.
        let tickets: Vec<_> = leaders
            .iter()
            .map(|(index, _)| batch.cache.invalidations().ticket(keys[*index].as_bytes()))
            .collect();
        let asked = leaders
            .iter()
            .map(|(index, _)| *index)
            .chain(uncached.iter().copied());
        let asked: C = asked.map(|index| ids[index].clone()).collect();
        let started = Instant::now();
        let span =
            tracing::debug_span!("cache.compute", function = batch.site.name(), batch = true);
        let outcome = Guarded::new(span, body(asked)).await;
        counters.computed(started.elapsed());
        let map = match outcome {
            Ok(output) => match output.into_result() {
                Ok(map) => map,
                // The leaders are dropped: the followers of these ids compute them themselves.
                Err(error) => return O::from_result(Err(error)),
            },
            Err(panic) => std::panic::resume_unwind(panic),
        };
        let mut returned: HashMap<BatchId<O>, BatchValue<O>> = map.into_iter().collect();
        let mut writes = Vec::new();
        for ((index, leader), ticket) in leaders.into_iter().zip(tickets) {
            let value = returned.remove(&ids[index]);
            let mut write = run.store((index, ticket), &value, started);
            run.found[index] = Some(value.clone());
            end_flight(leader, write.as_mut(), || Arc::new(value));
            writes.extend(write);
        }
        for index in uncached {
            run.found[index] = Some(returned.remove(&ids[index]));
        }
        // Sent together: one round trip on the multiplexed connection (one per node).
        let sends = writes.into_iter().map(|write| write.send(batch.site));
        futures_util::future::join_all(sends).await;
    }
    let map = ids
        .into_iter()
        .zip(run.found)
        .filter_map(|(id, found)| Some((id, found??)))
        .collect();
    O::from_result(Ok(map))
}

/// [`batch_async`] for a plain `fn`, blocking this thread (its body called when first polled).
pub fn batch_blocking<Kd, O, C, B>(
    batch: Batch<'_>,
    kind: Kd,
    ids_and_keys: (Vec<BatchId<O>>, Vec<Key>),
    body: B,
) -> O
where
    O: BatchOutput,
    BatchId<O>: Eq + Hash + Clone,
    BatchValue<O>: Clone + Send + Sync + 'static,
    Kd: ReturnKind<Option<BatchValue<O>>>,
    C: FromIterator<BatchId<O>>,
    B: FnOnce(C) -> O,
{
    let body = move |asked: C| async move { body(asked) };
    crate::driver::block_on(batch_async(batch, kind, ids_and_keys, body))
}

/// One batch call under way: what each id's key gave so far (`Some(None)`: known absent).
struct Run<'b, Kd, V> {
    batch: &'b Batch<'b>,
    keys: &'b [Key],
    found: Vec<Option<Option<V>>>,
    /// False once Redis failed in this call: the body runs and nothing more is sent.
    redis_usable: bool,
    kind: std::marker::PhantomData<Kd>,
}

impl<Kd, V> Run<'_, Kd, V>
where
    Kd: ReturnKind<Option<V>>,
    V: Clone + Send + Sync + 'static,
{
    /// Reads every key: in the memory store, or in the near cache and then one `MGET`.
    async fn read(&mut self) {
        let (cache, policy) = (self.batch.cache, self.batch.policy);
        let counters = self.batch.site.counters();
        #[cfg(feature = "redis")]
        if let crate::store::Backend::Redis(redis) = cache.backend() {
            return self.read_redis(redis).await;
        }
        for (index, key) in self.keys.iter().enumerate() {
            let Ok(key) = key.checked() else { continue };
            let found = read_memory::<Kd, Option<V>>(cache, (key, &[]), policy, counters);
            self.found[index] = found.filter(|(_, judged)| judged.serves()).map(|f| f.0);
        }
    }

    #[cfg(feature = "redis")]
    async fn read_redis(&mut self, redis: &crate::store::RedisStore) {
        use super::read::{fill_near, read_entry, read_store};
        let (cache, policy) = (self.batch.cache, self.batch.policy);
        let counters = self.batch.site.counters();
        let mut remote = Vec::new();
        let near = cache.near();
        let l1 = near.and_then(|near| near.usable());
        for (index, key) in self.keys.iter().enumerate() {
            let Ok(key) = key.checked() else { continue };
            let found = l1.and_then(|l1| {
                read_store::<Kd, Option<V>>(l1, cache, (key, &[]), policy, counters)
                    .filter(|(_, judged)| judged.serves())
            });
            match (found, near) {
                (Some((value, _)), Some(near)) => {
                    near.counts.hits.bump();
                    counters.near_hits.bump();
                    self.found[index] = Some(value);
                }
                _ => {
                    let ticket = near.map(|near| near.ticket(key.as_bytes()));
                    remote.push((index, key, ticket));
                }
            }
        }
        if remote.is_empty() {
            return;
        }
        let mut mget = redis::cmd("MGET");
        for (_, key, _) in &remote {
            mget.arg(key);
        }
        let replies: Vec<Option<Vec<u8>>> = match redis.query(mget).await {
            Ok(replies) => replies,
            Err(failure) => {
                super::write::backend_error(self.batch.site, &failure, "get_many");
                self.redis_usable = false;
                return;
            }
        };
        for ((index, key, ticket), bytes) in remote.into_iter().zip(replies) {
            let Some(bytes) = bytes else { continue };
            let read = read_entry::<Kd, Option<V>>(cache, (key, 0), &bytes, policy, counters);
            if let Some((header, stored, judged)) = read.filter(|read| read.2.serves()) {
                let _ = judged;
                if let Some(ticket) = ticket {
                    fill_near(cache, key, ticket, header, &stored);
                }
                self.found[index] = Some(Kd::from_stored(stored));
            }
        }
    }

    /// Waits for the flights under way of the missing ids, then leads the rest: every one of
    /// them, or none (a flight appeared meanwhile: its leads are given back and it waits
    /// again). The leads, and the ids whose key failed (computed, never stored); `None` when
    /// nothing is left to compute.
    async fn lead(&mut self) -> Option<(Vec<(usize, Leader)>, Vec<usize>)> {
        let flights = self.batch.cache.flights();
        loop {
            let missing = (0..self.keys.len()).filter(|&index| self.found[index].is_none());
            let (missing, uncached): (Vec<usize>, Vec<usize>) =
                missing.partition(|&index| self.keys[index].checked().is_ok());
            let followers: Vec<(usize, Follower)> = missing
                .iter()
                .filter_map(|&index| {
                    let key = self.keys[index].as_bytes();
                    Some((index, flights.follow(key, 0)?))
                })
                .collect();
            if !followers.is_empty() {
                self.wait(followers).await;
                continue;
            }
            let mut leaders = Vec::with_capacity(missing.len());
            let mut raced = Vec::new();
            for index in missing {
                match flights.join(self.keys[index].as_bytes(), 0) {
                    Joined::Leader(leader) => leaders.push((index, leader)),
                    Joined::Follower(follower) => raced.push((index, follower)),
                }
            }
            if !raced.is_empty() {
                drop(leaders);
                self.wait(raced).await;
                continue;
            }
            return (!leaders.is_empty() || !uncached.is_empty()).then_some((leaders, uncached));
        }
    }

    /// Takes the values the followed flights end with; an abandoned one leaves its id missing.
    async fn wait(&mut self, followers: Vec<(usize, Follower)>) {
        let counters = self.batch.site.counters();
        for (index, follower) in followers {
            loop {
                match follower.poll() {
                    Outcome::Wait(listener) => listener.await,
                    Outcome::Value(shared) => {
                        if let Some(value) = shared.downcast_ref::<Option<V>>() {
                            counters.coalesced_waits.bump();
                            self.found[index] = Some(value.clone());
                        }
                        break;
                    }
                    Outcome::Abandoned => break,
                }
            }
        }
    }

    /// Stores what the body gave for the id at `index` (or its absence, per `cache_none`): in
    /// memory now, or the Redis write to send.
    fn store(
        &self,
        (index, ticket): (usize, Ticket),
        value: &Option<V>,
        started: Instant,
    ) -> Option<RemoteWrite> {
        if !self.redis_usable {
            return None;
        }
        let (cache, site) = (self.batch.cache, self.batch.site);
        let key = self.keys[index].checked().ok()?;
        let elapsed = started.elapsed();
        store::<Kd, Option<V>>(
            cache,
            (key, ticket, (0, &[])),
            site,
            (self.batch.policy, None),
            value,
            elapsed,
        )
    }
}
