//! The Redis store: one multiplexed, auto-reconnecting connection (or cluster connection) per
//! distinct [`RedisConfig`], driven on a thread of its own, behind a circuit breaker.
//!
//! Every command runs in the context of the driver thread ([`crate::driver`]) under a time
//! budget of the connect plus the response timeout, so a caller waits at most that long whatever
//! state the connection is in (a single node's connection keeps it for one request itself: one
//! connect attempt, then the reply); after [`RedisConfig::circuit_breaker`] failures in a row it does not wait at all.

mod breaker;
mod config;
mod fills;
mod link;
pub(crate) mod scan;
mod sentinel;
pub(crate) mod tracking;
mod version;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

pub use config::{
    RedisConfig, DEFAULT_CIRCUIT_COOLDOWN, DEFAULT_CIRCUIT_FAILURES, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_RESPONSE_TIMEOUT,
};

use super::failure::is_server_reply;
pub(crate) use super::failure::Failure;
use crate::count::Timing;
use crate::error::ConfigError;
use breaker::{Breaker, Probe};
use fills::Fills;
pub(crate) use fills::CHANNEL;
use link::connect;
pub(crate) use link::Link;
pub(crate) use version::check_server_version;
pub use version::MIN_REDIS_VERSION;

/// Counts of one connection's trouble, shared by the caches built on it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStats {
    /// Commands that failed or timed out.
    pub failures: u64,
    /// Calls that skipped Redis because the circuit was open.
    pub skipped: u64,
    /// Times the circuit opened.
    pub circuit_opened: u64,
    /// Whether the circuit is open now.
    pub circuit_open: bool,
    /// Calls answered by the near cache (no command sent); 0 without a near cache.
    pub near_hits: u64,
    /// Invalidations the server pushed to the near cache.
    pub near_invalidations: u64,
    /// Times the near cache was emptied: tracking lost, late, re-armed, or the server flushed.
    pub near_flushes: u64,
    /// Replies not installed in the near cache: their key was invalidated, or the near cache
    /// flushed or unhealthy, while they were on their way.
    pub near_fills_refused: u64,
}

struct Connection {
    config: RedisConfig,
    link: Link,
    breaker: Breaker,
    fills: Arc<Fills>,
    /// `redis_command_seconds` in the `metrics` facade.
    command_time: Timing,
}

/// A Redis store; clones share the connection. Built by [`crate::CacheBuilder::redis`].
#[derive(Clone)]
pub(crate) struct RedisStore {
    connection: Arc<Connection>,
}

/// The connections open now, by configuration: equal configurations share one.
static OPEN: Mutex<Option<HashMap<RedisConfig, Weak<Connection>>>> = Mutex::new(None);

impl RedisStore {
    /// The store for `config`: the connection already open for an equal configuration, or a new
    /// one. Connecting happens in the background; this only fails on a bad configuration.
    pub(crate) fn open(config: &RedisConfig) -> Result<RedisStore, ConfigError> {
        config.check()?;
        let mut open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
        let open = open.get_or_insert_with(HashMap::new);
        if let Some(connection) = open.get(config).and_then(Weak::upgrade) {
            return Ok(RedisStore { connection });
        }
        open.retain(|_, connection| connection.strong_count() > 0);
        let (link, subscriber) = connect(config)?;
        let connection = Arc::new(Connection {
            link,
            fills: Arc::new(Fills::new(subscriber, config.connect_timeout)),
            breaker: Breaker::new(config.circuit_failures, config.circuit_cooldown),
            config: config.clone(),
            command_time: Timing::default(),
        });
        #[cfg(feature = "metrics")]
        {
            let target = config.target();
            let store = [("store", target.as_str())];
            connection
                .breaker
                .open_level
                .report_as("redis_circuit_open", &store);
            connection
                .command_time
                .report_as("redis_command_seconds", &store);
        }
        open.insert(config.clone(), Arc::downgrade(&connection));
        Ok(RedisStore { connection })
    }

    pub(crate) fn config(&self) -> &RedisConfig {
        &self.connection.config
    }

    pub(crate) fn stats(&self) -> RedisStats {
        let counts = &self.connection.breaker.counts;
        RedisStats {
            failures: counts.failures.load(Relaxed),
            skipped: counts.skipped.load(Relaxed),
            circuit_opened: counts.opened.load(Relaxed),
            circuit_open: self.connection.breaker.is_open(),
            ..RedisStats::default()
        }
    }

    /// Runs one command, awaiting it from any executor.
    pub(crate) async fn query<T>(&self, cmd: redis::Cmd) -> Result<T, Failure>
    where
        T: redis::FromRedisValue + Send + 'static,
    {
        let command = move |mut link: Link| async move { cmd.query_async(&mut link).await };
        self.run_requests(Requests::One, command).await
    }

    /// Runs one script, awaiting it from any executor (`EVALSHA`, loading it on `NOSCRIPT`).
    pub(crate) async fn invoke<T>(
        &self,
        script: redis::ScriptInvocation<'static>,
    ) -> Result<T, Failure>
    where
        T: redis::FromRedisValue + Send + 'static,
    {
        self.run(move |mut link| async move { script.invoke_async(&mut link).await })
            .await
    }

    /// Runs the script `make` builds on the driver, in the background, again every 100–300 ms
    /// while it fails (a timeout, an open circuit, a script to reload), for at most `until`:
    /// the release of a lease or a lock nobody waits for, whose lease would run out by then
    /// anyway. A reply lost once must not leave the lease to block others for all of it.
    pub(crate) fn invoke_in_background<F>(&self, make: F, until: Duration, what: &'static str)
    where
        F: Fn() -> redis::ScriptInvocation<'static> + Send + 'static,
    {
        let Some(driver) = crate::driver::handle() else {
            return;
        };
        let store = self.clone();
        driver.spawn(async move {
            let started = std::time::Instant::now();
            loop {
                match store.invoke::<i64>(make()).await {
                    Ok(_) => return,
                    Err(failure) if started.elapsed() >= until => {
                        return tracing::debug!(%failure, what, "not released; its lease runs out");
                    }
                    Err(_) => {
                        let pause = Duration::from_millis(100 + fastrand::u64(0..200));
                        tokio::time::sleep(pause).await;
                    }
                }
            }
        });
    }

    /// A listener woken when another process fills `key` (see [`fills`]).
    pub(crate) fn listen_for_fill(&self, key: &str) -> event_listener::EventListener {
        self.connection.fills.listen(key)
    }

    /// Runs `command` on the driver, awaiting it from any executor.
    pub(crate) async fn run<T, C, F>(&self, command: C) -> Result<T, Failure>
    where
        C: FnOnce(Link) -> F + Send + 'static,
        F: Future<Output = redis::RedisResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        self.run_requests(Requests::Several, command).await
    }

    /// [`run`](Self::run) of a command that sends `requests`.
    async fn run_requests<T, C, F>(&self, requests: Requests, command: C) -> Result<T, Failure>
    where
        C: FnOnce(Link) -> F + Send + 'static,
        F: Future<Output = redis::RedisResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        let (future, probe) = self.prepare(requests, command)?;
        let sent = self.connection.command_time.start();
        let outcome = crate::driver::run(future)
            .await
            .unwrap_or(Err(Failure::Driver));
        self.connection.command_time.finish(sent);
        self.settle(outcome, probe)
    }

    /// The command under the time budget, unless the circuit is open, with the breaker's leave
    /// (a probe slot frees itself if the caller is dropped before [`settle`](Self::settle)).
    ///
    /// A single node's connection keeps the budget of one request itself (one connect attempt
    /// under the connect timeout, then the reply under the response timeout): that request
    /// sets no timer of its own (a second timer on the driver cost Redis hits about a fifth of
    /// their rate: BENCHMARKS.md).
    #[allow(clippy::type_complexity)]
    fn prepare<T, C, F>(
        &self,
        requests: Requests,
        command: C,
    ) -> Result<
        (
            impl Future<Output = Result<T, Failure>> + Send + 'static,
            Probe<'_>,
        ),
        Failure,
    >
    where
        C: FnOnce(Link) -> F + Send + 'static,
        F: Future<Output = redis::RedisResult<T>> + Send + 'static,
    {
        let probe = self
            .connection
            .breaker
            .allow()
            .ok_or(Failure::CircuitOpen)?;
        let link = &self.connection.link;
        let budget = match (requests, link) {
            (Requests::One, Link::Single(_)) => None,
            _ => Some(self.config().connect_timeout + self.config().response_timeout),
        };
        let link = link.clone();
        // Built in place on the heap: moved from layer to layer by value, this future (the
        // request's and the timer's state) was copied seven times a command.
        let future = Box::pin(async move {
            let request = command(link);
            let outcome = match budget {
                None => Ok(request.await),
                Some(budget) => tokio::time::timeout(budget, request).await,
            };
            match outcome {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(error)) => Err(Failure::Redis(error)),
                Err(_) => Err(Failure::Timeout),
            }
        });
        Ok((future, probe))
    }

    /// Tells the breaker how the command went. Errors that Redis answered with (a wrong type, a
    /// script error) say the server is up; only the connection's own failures count against it.
    fn settle<T>(&self, outcome: Result<T, Failure>, probe: Probe<'_>) -> Result<T, Failure> {
        let breaker = &self.connection.breaker;
        match &outcome {
            Ok(_) => breaker.succeeded(),
            Err(Failure::Redis(error)) if is_server_reply(error) => breaker.succeeded(),
            Err(failure) => {
                breaker.failed(self.config(), failure);
                tracing::debug!(target = %self.config(), %failure, "Redis command failed");
            }
        }
        probe.settled();
        outcome
    }
}

/// How many requests a command sends: one (`query`), or maybe more (a script
/// loaded on `NOSCRIPT`, a scan, commands run one after another).
#[derive(Clone, Copy)]
enum Requests {
    One,
    Several,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("config", self.config())
            .field("stats", &self.stats())
            .finish()
    }
}
