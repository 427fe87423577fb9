//! A connection to Redis as commands see it ([`Link`]: one node's connection manager, the
//! primary that Sentinels name, or a cluster connection), and how it is set up ([`connect`]). Cluster and TLS come with the
//! `cluster` and `tls` features; [`RedisConfig::check`] refuses a configuration that asks for
//! either without it, so the paths left out here are never asked for.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
#[cfg(feature = "cluster")]
use redis::cluster::{ClusterClientBuilder, ClusterConfig};
#[cfg(feature = "cluster")]
use redis::cluster_async::ClusterConnection;
#[cfg(feature = "cluster")]
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{
    Client, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo, RedisError,
    Value,
};

use std::sync::Arc;

use super::sentinel::SentinelLink;
use super::RedisConfig;
use crate::error::ConfigError;

/// A connection to Redis as commands see it: cheap to clone, each clone the same connection.
#[derive(Clone)]
pub(crate) enum Link {
    Single(ConnectionManager),
    #[cfg(feature = "cluster")]
    Cluster(ClusterConnection),
    /// The primary the Sentinels name, followed on failover.
    Sentinel(Arc<SentinelLink>),
}

impl Link {
    /// Routes `cmd` to the cluster node at `host:port` (a single node ignores the address).
    pub(crate) async fn query_node<T: redis::FromRedisValue>(
        &mut self,
        cmd: &redis::Cmd,
        node: (String, u16),
    ) -> redis::RedisResult<T> {
        match self {
            Link::Single(_) | Link::Sentinel(_) => {
                let _ = node;
                cmd.query_async(self).await
            }
            #[cfg(feature = "cluster")]
            Link::Cluster(connection) => {
                let (host, port) = node;
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
            Link::Single(_) | Link::Sentinel(_) => {
                let mut pipe = redis::pipe();
                for cmd in commands {
                    pipe.add_command(cmd).ignore();
                }
                pipe.query_async(self).await
            }
            #[cfg(feature = "cluster")]
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
        #[cfg(feature = "cluster")]
        return matches!(self, Link::Cluster(_));
        #[cfg(not(feature = "cluster"))]
        false
    }
}

impl redis::aio::ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, Value> {
        match self {
            Link::Single(connection) => connection.req_packed_command(cmd),
            #[cfg(feature = "cluster")]
            Link::Cluster(connection) => connection.req_packed_command(cmd),
            Link::Sentinel(link) => link.req_packed_command(cmd),
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
            #[cfg(feature = "cluster")]
            Link::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
            Link::Sentinel(link) => link.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Link::Single(connection) => connection.get_db(),
            #[cfg(feature = "cluster")]
            Link::Cluster(connection) => connection.get_db(),
            Link::Sentinel(link) => link.db(),
        }
    }
}

/// Sets up the connection without waiting for it: it connects on first use and reconnects by
/// itself. Also gives the client of the first node, for the fill subscriber.
pub(super) fn connect(config: &RedisConfig) -> Result<(Link, Option<Client>), ConfigError> {
    let setup_error = |error: RedisError| ConfigError::Store {
        target: config.target(),
        problem: error.to_string(),
    };
    let driver = crate::driver::handle().ok_or_else(|| ConfigError::Store {
        target: config.target(),
        problem: "the Redis driver thread could not start".to_owned(),
    })?;
    #[cfg(feature = "tls")]
    if config.tls {
        // rustls needs a process-wide crypto provider; one installed by the application wins.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let nodes_of = Nodes::new(config);
    // redis-rs spawns the connection's tasks on the runtime it is created in.
    let _driver = driver.enter();
    let manager_config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(config.connect_timeout))
        .set_response_timeout(Some(config.response_timeout))
        .set_number_of_retries(2)
        .set_min_delay(std::time::Duration::from_millis(20))
        .set_max_delay(std::time::Duration::from_millis(500));
    if let Some(master) = &config.sentinel_master {
        // Sentinels keep no database and, here, no credentials: those are the primary's.
        let sentinels = config
            .nodes
            .iter()
            .map(|(host, port)| nodes_of.open(nodes_of.address(host, *port)?))
            .collect::<Result<Vec<_>, _>>()
            .map_err(setup_error)?;
        let node_client = {
            let nodes_of = nodes_of.clone();
            move |host: &str, port: u16| nodes_of.open(nodes_of.node(host, port)?)
        };
        let link = SentinelLink::start(
            master.clone(),
            sentinels,
            Box::new(node_client),
            manager_config,
            (config.connect_timeout, config.db),
            driver,
        );
        // Fills are not heard here: waiters re-read on their fallback timer.
        return Ok((Link::Sentinel(link), None));
    }
    let nodes = config
        .nodes
        .iter()
        .map(|(host, port)| nodes_of.node(host, *port))
        .collect::<Result<Vec<ConnectionInfo>, RedisError>>()
        .map_err(setup_error)?;
    #[cfg(feature = "cluster")]
    if config.cluster {
        // Published messages reach every node of a cluster: one node's subscriber hears them all.
        let subscriber = nodes.first().cloned().map(|node| nodes_of.open(node));
        let subscriber = subscriber.transpose();
        let subscriber = subscriber.map_err(setup_error)?;
        let mut builder = ClusterClientBuilder::new(nodes)
            .connection_timeout(config.connect_timeout)
            .response_timeout(config.response_timeout);
        #[cfg(feature = "tls")]
        if config.root_certificate.is_some() {
            builder = builder.certs(certificates(config));
        }
        let client = builder.build().map_err(setup_error)?;
        let cluster_config = ClusterConfig::new()
            .set_connection_timeout(config.connect_timeout)
            .set_response_timeout(config.response_timeout);
        return Ok((
            Link::Cluster(client.get_pending_async_connection_with_config(cluster_config)),
            subscriber,
        ));
    }
    {
        let node = nodes
            .into_iter()
            .next()
            .ok_or_else(|| ConfigError::BadParameter {
                name: "host".to_owned(),
                problem: "no host given; valid: `host[:port]`".to_owned(),
            })?;
        let client = nodes_of.open(node).map_err(setup_error)?;
        // One connect attempt, under the connect timeout: a request then waits at most the
        // connect and the response timeouts, the store's budget, with no timer of ours (the next
        // request after a failed attempt tries again; the circuit breaker paces them).
        let manager_config = manager_config.set_number_of_retries(0);
        ConnectionManager::new_lazy_with_config(client.clone(), manager_config)
            .map(|manager| (Link::Single(manager), Some(client)))
            .map_err(setup_error)
    }
}

/// A RESP3 client for the data node at `host:port`: the near cache's tracking connection.
pub(super) fn tracking_client(
    config: &RedisConfig,
    host: &str,
    port: u16,
) -> redis::RedisResult<Client> {
    let nodes = Nodes::new(config);
    let node = nodes.node(host, port)?;
    let settings = node
        .redis_settings()
        .clone()
        .set_protocol(redis::ProtocolVersion::RESP3);
    nodes.open(node.set_redis_settings(settings))
}

/// How to reach a node of the configuration: plain or TLS (with its roots), with the
/// credentials and database of the data nodes.
#[derive(Clone)]
struct Nodes {
    settings: RedisConnectionInfo,
    tls: bool,
    #[cfg(feature = "tls")]
    roots: Option<redis::TlsCertificates>,
}

impl Nodes {
    fn new(config: &RedisConfig) -> Self {
        let mut settings = RedisConnectionInfo::default().set_db(config.db);
        if let Some(username) = &config.username {
            settings = settings.set_username(username);
        }
        if let Some(password) = &config.password {
            settings = settings.set_password(password);
        }
        Nodes {
            settings,
            tls: config.tls,
            #[cfg(feature = "tls")]
            roots: config
                .root_certificate
                .is_some()
                .then(|| certificates(config)),
        }
    }

    /// `host:port`, without credentials (a Sentinel's address).
    fn address(&self, host: &str, port: u16) -> redis::RedisResult<ConnectionInfo> {
        let address = match self.tls {
            false => ConnectionAddr::Tcp(host.to_owned(), port),
            true => ConnectionAddr::TcpTls {
                host: host.to_owned(),
                port,
                insecure: false,
                tls_params: None,
            },
        };
        address.into_connection_info()
    }

    /// A data node at `host:port`, with the credentials and the database.
    fn node(&self, host: &str, port: u16) -> redis::RedisResult<ConnectionInfo> {
        Ok(self
            .address(host, port)?
            .set_redis_settings(self.settings.clone()))
    }

    fn open(&self, node: ConnectionInfo) -> redis::RedisResult<Client> {
        #[cfg(feature = "tls")]
        if let Some(roots) = &self.roots {
            return Client::build_with_tls(node, roots.clone());
        }
        Client::open(node)
    }
}

/// The roots that `RedisConfig::tls_with_root` trusts instead of the system's.
#[cfg(feature = "tls")]
fn certificates(config: &RedisConfig) -> redis::TlsCertificates {
    redis::TlsCertificates {
        client_tls: None,
        root_cert: config.root_certificate.clone(),
    }
}
