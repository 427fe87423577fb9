//! The Redis store: one multiplexed, auto-reconnecting connection (or cluster connection) per
//! distinct [`RedisConfig`], driven on a thread of its own, behind a circuit breaker.
//!
//! Every command runs in the context of the driver thread ([`crate::driver`]) under a time budget of the connect plus
//! the response timeout, so a caller waits at most that long whatever state the connection is
//! in; after [`RedisConfig::circuit_breaker`] failures in a row it does not wait at all.

mod breaker;
mod config;
mod fills;
mod lease;
mod version;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{
    Client, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo, RedisError,
    TlsCertificates, Value,
};

pub use config::{
    RedisConfig, DEFAULT_CIRCUIT_COOLDOWN, DEFAULT_CIRCUIT_FAILURES, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_RESPONSE_TIMEOUT,
};

use crate::error::{CacheErrorKind, ConfigError};
use breaker::{Breaker, Probe};
use fills::Fills;
pub(crate) use fills::CHANNEL;
pub(crate) use lease::HeldLease;
pub(crate) use version::check_server_version;
pub use version::MIN_REDIS_VERSION;

/// A connection to Redis as commands see it: cheap to clone, each clone the same connection.
#[derive(Clone)]
pub(crate) enum Link {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Link {
    /// Routes `cmd` to the cluster node at `host:port` (a single node ignores the address).
    pub(crate) async fn query_node<T: redis::FromRedisValue>(
        &mut self,
        cmd: &redis::Cmd,
        (host, port): (String, u16),
    ) -> redis::RedisResult<T> {
        match self {
            Link::Single(connection) => cmd.query_async(connection).await,
            Link::Cluster(connection) => {
                let route = SingleNodeRoutingInfo::ByAddress { host, port };
                let reply = connection
                    .route_command(cmd.clone(), RoutingInfo::SingleNode(route))
                    .await?;
                redis::from_redis_value(reply).map_err(RedisError::from)
            }
        }
    }

    /// Runs `commands`, replies ignored, in one round trip: a pipeline on a single node; on a
    /// cluster, sent together (a pipeline may not cross slots), so each node gets its share as
    /// one batch on its multiplexed connection.
    pub(crate) async fn run_all(&mut self, commands: Vec<redis::Cmd>) -> redis::RedisResult<()> {
        match self {
            Link::Single(connection) => {
                let mut pipe = redis::pipe();
                for cmd in commands {
                    pipe.add_command(cmd).ignore();
                }
                pipe.query_async(connection).await
            }
            Link::Cluster(connection) => {
                let sent: Vec<_> = commands
                    .into_iter()
                    .map(|cmd| {
                        let mut connection = connection.clone();
                        tokio::spawn(async move { cmd.query_async::<()>(&mut connection).await })
                    })
                    .collect();
                for reply in sent {
                    reply.await.map_err(|error| {
                        RedisError::from((
                            redis::ErrorKind::Io,
                            "a command task failed",
                            error.to_string(),
                        ))
                    })??;
                }
                Ok(())
            }
        }
    }

    /// Whether this is a cluster connection.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Link::Cluster(_))
    }
}

impl redis::aio::ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, Value> {
        match self {
            Link::Single(connection) => connection.req_packed_command(cmd),
            Link::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<Value>> {
        match self {
            Link::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Link::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Link::Single(connection) => connection.get_db(),
            Link::Cluster(connection) => connection.get_db(),
        }
    }
}

/// Why a command did not give a reply.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The circuit is open: Redis was not asked.
    CircuitOpen,
    /// No reply within the time budget.
    Timeout,
    /// Redis or the connection reported an error.
    Redis(RedisError),
    /// The driver thread is not running.
    Driver,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::CircuitOpen => f.write_str("Redis is skipped while its circuit is open"),
            Failure::Timeout => f.write_str("Redis did not answer in time"),
            Failure::Redis(error) => write!(f, "{error}"),
            Failure::Driver => f.write_str("the Redis driver thread is not running"),
        }
    }
}

impl Failure {
    /// What a plain operation reports.
    pub(crate) fn kind(self) -> CacheErrorKind {
        match self {
            Failure::CircuitOpen => CacheErrorKind::CircuitOpen,
            Failure::Timeout => CacheErrorKind::Timeout,
            Failure::Driver => CacheErrorKind::Connection(Failure::Driver.to_string()),
            Failure::Redis(error) if error.is_timeout() => CacheErrorKind::Timeout,
            Failure::Redis(error) if is_server_reply(&error) => {
                CacheErrorKind::Server(error.to_string())
            }
            Failure::Redis(error) => CacheErrorKind::Connection(error.to_string()),
        }
    }
}

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
}

struct Connection {
    config: RedisConfig,
    link: Link,
    breaker: Breaker,
    fills: Arc<Fills>,
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
        });
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
        }
    }

    /// Runs one command, awaiting it from any executor.
    pub(crate) async fn query<T>(&self, cmd: redis::Cmd) -> Result<T, Failure>
    where
        T: redis::FromRedisValue + Send + 'static,
    {
        self.run(move |mut link| async move { cmd.query_async(&mut link).await })
            .await
    }

    /// Runs one command, blocking this thread until it is done.
    pub(crate) fn query_blocking<T>(&self, cmd: redis::Cmd) -> Result<T, Failure>
    where
        T: redis::FromRedisValue + Send + 'static,
    {
        self.run_blocking(move |mut link| async move { cmd.query_async(&mut link).await })
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

    /// Runs one script, blocking this thread until it is done.
    pub(crate) fn invoke_blocking<T>(
        &self,
        script: redis::ScriptInvocation<'static>,
    ) -> Result<T, Failure>
    where
        T: redis::FromRedisValue + Send + 'static,
    {
        self.run_blocking(move |mut link| async move { script.invoke_async(&mut link).await })
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

    /// Waits until `listener` is woken or `pause` has passed, from any executor (the timer is
    /// made inside the driver's context).
    pub(crate) async fn wait_for_fill(listener: event_listener::EventListener, pause: Duration) {
        let timed = async move {
            let _ = tokio::time::timeout(pause, listener).await;
        };
        let _ = crate::driver::run(timed).await;
    }

    /// Runs `command` on the driver, awaiting it from any executor.
    pub(crate) async fn run<T, C, F>(&self, command: C) -> Result<T, Failure>
    where
        C: FnOnce(Link) -> F,
        F: Future<Output = redis::RedisResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        let (future, probe) = self.prepare(command)?;
        let outcome = crate::driver::run(future)
            .await
            .unwrap_or(Err(Failure::Driver));
        self.settle(outcome, probe)
    }

    /// Runs `command` on the driver, blocking this thread until it is done.
    pub(crate) fn run_blocking<T, C, F>(&self, command: C) -> Result<T, Failure>
    where
        C: FnOnce(Link) -> F,
        F: Future<Output = redis::RedisResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        let (future, probe) = self.prepare(command)?;
        let outcome = crate::driver::block_on(future).unwrap_or(Err(Failure::Driver));
        self.settle(outcome, probe)
    }

    /// The command under the time budget, unless the circuit is open, with the breaker's leave
    /// (a probe slot frees itself if the caller is dropped before [`settle`](Self::settle)).
    #[allow(clippy::type_complexity)]
    fn prepare<T, C, F>(
        &self,
        command: C,
    ) -> Result<
        (
            impl Future<Output = Result<T, Failure>> + Send + 'static,
            Probe<'_>,
        ),
        Failure,
    >
    where
        C: FnOnce(Link) -> F,
        F: Future<Output = redis::RedisResult<T>> + Send + 'static,
    {
        let probe = self
            .connection
            .breaker
            .allow()
            .ok_or(Failure::CircuitOpen)?;
        let budget = self.config().connect_timeout + self.config().response_timeout;
        let future = command(self.connection.link.clone());
        let future = async move {
            match tokio::time::timeout(budget, future).await {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(error)) => Err(Failure::Redis(error)),
                Err(_) => Err(Failure::Timeout),
            }
        };
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
                breaker.failed();
                tracing::debug!(target = %self.config(), %failure, "Redis command failed");
            }
        }
        probe.settled();
        outcome
    }
}

fn is_server_reply(error: &RedisError) -> bool {
    !(error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_unrecoverable_error()
        || error.is_cluster_error())
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("config", self.config())
            .field("stats", &self.stats())
            .finish()
    }
}

/// Sets up the connection without waiting for it: it connects on first use and reconnects by
/// itself. Also gives the client of the first node, for the fill subscriber.
fn connect(config: &RedisConfig) -> Result<(Link, Option<Client>), ConfigError> {
    let setup_error = |error: RedisError| ConfigError::Store {
        target: config.target(),
        problem: error.to_string(),
    };
    let driver = crate::driver::handle().ok_or_else(|| ConfigError::Store {
        target: config.target(),
        problem: "the Redis driver thread could not start".to_owned(),
    })?;
    if config.tls {
        // rustls needs a process-wide crypto provider; one installed by the application wins.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let mut settings = RedisConnectionInfo::default().set_db(config.db);
    if let Some(username) = &config.username {
        settings = settings.set_username(username);
    }
    if let Some(password) = &config.password {
        settings = settings.set_password(password);
    }
    let nodes = config
        .nodes
        .iter()
        .map(|(host, port)| {
            let addr = match config.tls {
                false => ConnectionAddr::Tcp(host.clone(), *port),
                true => ConnectionAddr::TcpTls {
                    host: host.clone(),
                    port: *port,
                    insecure: false,
                    tls_params: None,
                },
            };
            addr.into_connection_info()
                .map(|info: ConnectionInfo| info.set_redis_settings(settings.clone()))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(setup_error)?;
    let certificates = || TlsCertificates {
        client_tls: None,
        root_cert: config.root_certificate.clone(),
    };
    let node_client = |node: ConnectionInfo| match config.root_certificate {
        Some(_) => Client::build_with_tls(node, certificates()),
        None => Client::open(node),
    };
    // redis-rs spawns the connection's tasks on the runtime it is created in.
    let _driver = driver.enter();
    if config.cluster {
        // Published messages reach every node of a cluster: one node's subscriber hears them all.
        let subscriber = nodes.first().cloned().map(node_client).transpose();
        let subscriber = subscriber.map_err(setup_error)?;
        let mut builder = ClusterClientBuilder::new(nodes)
            .connection_timeout(config.connect_timeout)
            .response_timeout(config.response_timeout);
        if config.root_certificate.is_some() {
            builder = builder.certs(certificates());
        }
        let client = builder.build().map_err(setup_error)?;
        let cluster_config = ClusterConfig::new()
            .set_connection_timeout(config.connect_timeout)
            .set_response_timeout(config.response_timeout);
        Ok((
            Link::Cluster(client.get_pending_async_connection_with_config(cluster_config)),
            subscriber,
        ))
    } else {
        let node = nodes
            .into_iter()
            .next()
            .ok_or_else(|| ConfigError::BadParameter {
                name: "host".to_owned(),
                problem: "no host given; valid: `host[:port]`".to_owned(),
            })?;
        let client = node_client(node).map_err(setup_error)?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.response_timeout))
            .set_number_of_retries(2)
            .set_min_delay(std::time::Duration::from_millis(20))
            .set_max_delay(std::time::Duration::from_millis(500));
        ConnectionManager::new_lazy_with_config(client.clone(), manager_config)
            .map(|manager| (Link::Single(manager), Some(client)))
            .map_err(setup_error)
    }
}
