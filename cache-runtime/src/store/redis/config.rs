//! Where the Redis store connects and how: nodes, TLS, credentials, database, timeouts, circuit.

use std::fmt;
use std::time::Duration;

use crate::cache_url::CacheParams;
use crate::error::ConfigError;

/// How long a connection attempt may take, unless set.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a command may wait for its reply, unless set. A cache slower than this is treated as
/// down: `#[cached]` runs the function instead.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_millis(250);
/// Consecutive failures that open the circuit, unless set.
pub const DEFAULT_CIRCUIT_FAILURES: u32 = 5;
/// How long an open circuit skips Redis before one call probes it, unless set.
pub const DEFAULT_CIRCUIT_COOLDOWN: Duration = Duration::from_secs(2);

/// The configuration of a Redis store: a single node or a Cluster, TLS, ACL credentials, the
/// database, timeouts and the circuit breaker. Caches built from equal configurations share one
/// connection.
///
/// ```
/// use cache_runtime::store::RedisConfig;
/// use std::time::Duration;
///
/// let config = RedisConfig::node("127.0.0.1", 6379)
///     .username("app")
///     .password("s3cret")
///     .db(2)
///     .response_timeout(Duration::from_millis(100));
/// assert!(!format!("{config:?}").contains("s3cret"));
/// let same = RedisConfig::from_url("redis://app:s3cret@127.0.0.1:6379/2?response_timeout=100ms")?;
/// assert_eq!(config, same);
/// # Ok::<(), cache_runtime::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RedisConfig {
    pub(crate) nodes: Vec<(String, u16)>,
    pub(crate) cluster: bool,
    /// The primary's name, when `nodes` are Sentinels that say where it is.
    pub(crate) sentinel_master: Option<String>,
    pub(crate) tls: bool,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) db: i64,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) root_certificate: Option<Vec<u8>>,
    pub(crate) circuit_failures: u32,
    pub(crate) circuit_cooldown: Duration,
}

impl RedisConfig {
    /// A single Redis server.
    pub fn node(host: impl Into<String>, port: u16) -> Self {
        Self::new(vec![(host.into(), port)], false)
    }

    /// A Redis Cluster, found through any of `nodes` (the rest are discovered).
    pub fn cluster<H: Into<String>>(nodes: impl IntoIterator<Item = (H, u16)>) -> Self {
        let nodes = nodes.into_iter().map(|(host, port)| (host.into(), port));
        Self::new(nodes.collect(), true)
    }

    /// The primary that Redis Sentinels name `master`, found through any of `sentinels`; the
    /// store follows it to the new primary on failover.
    ///
    /// ```
    /// use cache_runtime::store::RedisConfig;
    /// let config = RedisConfig::sentinel([("s1", 26379), ("s2", 26379)], "mymaster").db(1);
    /// assert_eq!(config, RedisConfig::from_url("redis+sentinel://s1,s2/mymaster/1")?);
    /// # Ok::<(), cache_runtime::ConfigError>(())
    /// ```
    pub fn sentinel<H: Into<String>>(
        sentinels: impl IntoIterator<Item = (H, u16)>,
        master: impl Into<String>,
    ) -> Self {
        let sentinels = sentinels
            .into_iter()
            .map(|(host, port)| (host.into(), port));
        RedisConfig {
            sentinel_master: Some(master.into()),
            ..Self::new(sentinels.collect(), false)
        }
    }

    fn new(nodes: Vec<(String, u16)>, cluster: bool) -> Self {
        RedisConfig {
            nodes,
            cluster,
            sentinel_master: None,
            tls: false,
            username: None,
            password: None,
            db: 0,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            root_certificate: None,
            circuit_failures: DEFAULT_CIRCUIT_FAILURES,
            circuit_cooldown: DEFAULT_CIRCUIT_COOLDOWN,
        }
    }

    /// Parses `redis://`, `rediss://` (TLS), `redis+cluster://`, `rediss+cluster://`,
    /// `redis+sentinel://` or `rediss+sentinel://` URLs:
    /// `redis://[user[:password]@]host[:port][/db][?parameters]`, with a comma-separated host
    /// list for a cluster; `redis+sentinel://[user[:password]@]s1[:port],s2…/master[/db]` for
    /// the primary the Sentinels name `master` (Sentinel port 26379 unless given; the
    /// credentials are the primary's). Parameters: `connect_timeout`, `response_timeout`, `circuit_cooldown`
    /// (humantime: `250ms`, `2s`), `circuit_failures` (a count), `ca_file` (a PEM file of
    /// trusted roots for TLS). The cache's parameters (`prefix`, `compress_above`) are for
    /// [`crate::Cache::from_url`].
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        let (config, params) = crate::cache_url::parse_redis(url)?;
        let name = match params {
            CacheParams {
                prefix: Some(_), ..
            } => "prefix",
            CacheParams {
                compression: Some(_),
                ..
            } => "compress_above",
            CacheParams {
                near_cache: Some(_),
                ..
            } => "near_cache",
            CacheParams {
                near_cache_max_lag: Some(_),
                ..
            } => "near_cache_max_lag",
            CacheParams { .. } => return Ok(config),
        };
        Err(ConfigError::BadParameter {
            name: name.to_owned(),
            problem: "is a parameter of the cache, not of the Redis store: give the URL to \
                      `Cache::from_url`"
                .to_owned(),
        })
    }

    /// Connects with TLS, checking the server's certificate against the system's trusted roots
    /// (or [`root_certificate`](Self::root_certificate)).
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Trusts the PEM certificates in `pem` (a private CA) instead of the system's roots. Implies
    /// TLS.
    pub fn root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificate = Some(pem.into());
        self.tls = true;
        self
    }

    /// Authenticates as this ACL user (with [`password`](Self::password)).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Authenticates with this password. It is never printed.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Selects this database (single node only; a cluster has database 0 alone).
    pub fn db(mut self, db: i64) -> Self {
        self.db = db;
        self
    }

    /// How long a connection attempt may take (default [`DEFAULT_CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a command may wait for its reply (default [`DEFAULT_RESPONSE_TIMEOUT`]).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// After `failures` consecutive failures, skip Redis for `cooldown`, then let one call probe
    /// it (defaults [`DEFAULT_CIRCUIT_FAILURES`], [`DEFAULT_CIRCUIT_COOLDOWN`]).
    pub fn circuit_breaker(mut self, failures: u32, cooldown: Duration) -> Self {
        self.circuit_failures = failures;
        self.circuit_cooldown = cooldown;
        self
    }

    /// What is wrong with this configuration, if anything.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        let bad = |name: &str, problem: String| {
            Err(ConfigError::BadParameter {
                name: name.to_owned(),
                problem,
            })
        };
        let left_out = |what: &str, feature| {
            Err(ConfigError::FeatureNotEnabled {
                what: what.to_owned(),
                feature,
            })
        };
        if self.cluster && !cfg!(feature = "cluster") {
            return left_out("a Redis Cluster (`redis+cluster://`)", "cluster");
        }
        if self.tls && !cfg!(feature = "tls") {
            return left_out("TLS to Redis (`rediss://`)", "tls");
        }
        if self.nodes.is_empty() {
            return bad("host", "no host given; valid: `host[:port]`".to_owned());
        }
        if let Some((host, _)) = self.nodes.iter().find(|(host, _)| host.is_empty()) {
            return bad(
                "host",
                format!("`{host}` is empty; valid: a name or an IP address"),
            );
        }
        if self.db < 0 {
            return bad("db", format!("`{}` is negative; valid: 0 or more", self.db));
        }
        if let Some(master) = &self.sentinel_master {
            if master.is_empty() || !master.bytes().all(|b| b.is_ascii_graphic()) {
                return bad(
                    "master",
                    format!("{master:?}: valid: the name the Sentinels monitor, as `mymaster`"),
                );
            }
        }
        if self.cluster && self.db != 0 {
            return bad(
                "db",
                format!("`{}`: a Redis Cluster has only database 0", self.db),
            );
        }
        for (name, timeout) in [
            ("connect_timeout", self.connect_timeout),
            ("response_timeout", self.response_timeout),
            ("circuit_cooldown", self.circuit_cooldown),
        ] {
            if timeout.is_zero() {
                return bad(
                    name,
                    "is zero; valid: a duration above zero, as `250ms`".to_owned(),
                );
            }
        }
        if self.circuit_failures == 0 {
            return bad(
                "circuit_failures",
                "is zero; valid: a count of 1 or more".to_owned(),
            );
        }
        Ok(())
    }

    /// `redis://host:port/db` with the user but never the password: for logs and errors.
    pub(crate) fn target(&self) -> String {
        let scheme = match (self.tls, self.cluster, &self.sentinel_master) {
            (false, _, Some(_)) => "redis+sentinel",
            (true, _, Some(_)) => "rediss+sentinel",
            (false, false, None) => "redis",
            (true, false, None) => "rediss",
            (false, true, None) => "redis+cluster",
            (true, true, None) => "rediss+cluster",
        };
        let user = match (&self.username, &self.password) {
            (Some(user), _) => format!("{user}@"),
            (None, Some(_)) => "default@".to_owned(),
            (None, None) => String::new(),
        };
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|(host, port)| match host.contains(':') {
                true => format!("[{host}]:{port}"),
                false => format!("{host}:{port}"),
            })
            .collect();
        let master = match &self.sentinel_master {
            Some(master) => format!("{master}/"),
            None => String::new(),
        };
        format!("{scheme}://{user}{}/{master}{}", hosts.join(","), self.db)
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("target", &self.target())
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("root_certificate", &self.root_certificate.is_some())
            .field("circuit_failures", &self.circuit_failures)
            .field("circuit_cooldown", &self.circuit_cooldown)
            .finish()
    }
}

impl fmt::Display for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.target())
    }
}
