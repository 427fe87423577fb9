//! Cache URLs: `memory://?…`, `redis://…`, `rediss://…`, `redis+cluster://…`.
//!
//! Parsed by hand so that every error names the part of the URL at fault, and so that the
//! password is never echoed back.

use std::time::Duration;

use crate::compression::Compression;
use crate::error::ConfigError;
use crate::store::MemoryBound;
#[cfg(feature = "redis")]
use crate::store::RedisConfig;

/// The store a URL names.
#[derive(Debug)]
pub(crate) enum UrlStore {
    /// `memory://`, with its bound if one was given.
    Memory(Option<MemoryBound>),
    /// `redis://` and its kin.
    #[cfg(feature = "redis")]
    Redis(RedisConfig),
}

/// A parsed cache URL.
#[derive(Debug)]
pub(crate) struct CacheUrl {
    pub(crate) store: UrlStore,
    pub(crate) params: CacheParams,
}

/// The parameters of the cache rather than of its store, valid in every URL.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct CacheParams {
    /// `prefix=P`.
    pub(crate) prefix: Option<String>,
    /// `compress_above=BYTES` or `compress_above=off`.
    pub(crate) compression: Option<Compression>,
    /// `near_cache=ENTRIES`: a near cache of at most this many entries.
    pub(crate) near_cache: Option<u64>,
    /// `near_cache_max_lag=500ms`.
    pub(crate) near_cache_max_lag: Option<Duration>,
}

impl CacheParams {
    /// The names, for the errors that list what is valid.
    const NAMES: &'static str = "`prefix`, `compress_above`, `near_cache`, `near_cache_max_lag`";

    /// Takes `name=value` if it is a cache parameter; whether it was.
    fn take(&mut self, name: &str, value: &str) -> Result<bool, ConfigError> {
        match name {
            "prefix" => self.prefix = Some(percent_decode(name, value)?),
            "compress_above" => {
                self.compression = Some(match value {
                    "off" => Compression::Off,
                    _ => Compression::Above(value.parse::<usize>().map_err(|_| {
                        bad(
                            name,
                            format!("`{value}` is not a size in bytes (as `16384`) or `off`"),
                        )
                    })?),
                })
            }
            "near_cache" => self.near_cache = Some(count(name, value)?),
            "near_cache_max_lag" => self.near_cache_max_lag = Some(duration(name, value)?),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// What the hosts of a Redis URL are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Topology {
    /// One server.
    Node,
    /// Nodes of a cluster.
    Cluster,
    /// Sentinels, and the path names the primary they watch.
    Sentinel,
}

fn bad(name: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::BadParameter {
        name: name.to_owned(),
        problem: problem.into(),
    }
}

pub(crate) fn parse(url: &str) -> Result<CacheUrl, ConfigError> {
    let (scheme, rest) = url.split_once("://").ok_or(ConfigError::NoScheme)?;
    let (tls, topology) = match scheme {
        "memory" => return parse_memory(rest),
        "redis" => (false, Topology::Node),
        "rediss" => (true, Topology::Node),
        "redis+cluster" => (false, Topology::Cluster),
        "rediss+cluster" => (true, Topology::Cluster),
        "redis+sentinel" => (false, Topology::Sentinel),
        "rediss+sentinel" => (true, Topology::Sentinel),
        _ => {
            return Err(ConfigError::UnsupportedScheme {
                scheme: scheme.to_owned(),
            })
        }
    };
    #[cfg(feature = "redis")]
    {
        let (config, params) = parse_redis_rest(rest, tls, topology)?;
        Ok(CacheUrl {
            store: UrlStore::Redis(config),
            params,
        })
    }
    #[cfg(not(feature = "redis"))]
    {
        let _ = (rest, tls, topology);
        Err(ConfigError::FeatureNotEnabled {
            what: format!("cache URL scheme `{scheme}://`"),
            feature: "redis",
        })
    }
}

/// A Redis URL and its cache parameters.
#[cfg(feature = "redis")]
pub(crate) fn parse_redis(url: &str) -> Result<(RedisConfig, CacheParams), ConfigError> {
    match parse(url)? {
        CacheUrl {
            store: UrlStore::Redis(config),
            params,
        } => Ok((config, params)),
        CacheUrl {
            store: UrlStore::Memory(_),
            ..
        } => Err(ConfigError::UnsupportedScheme {
            scheme: "memory".to_owned(),
        }),
    }
}

fn parse_memory(rest: &str) -> Result<CacheUrl, ConfigError> {
    let query = match rest.split_once('?') {
        Some(("", query)) => query,
        None if rest.is_empty() => "",
        _ => {
            return Err(bad(
                "host",
                "`memory://` takes no host or path, only `?parameters`",
            ))
        }
    };
    let mut bound = None;
    let mut params = CacheParams::default();
    for (name, value) in pairs(query) {
        if params.take(name, value)? {
            continue;
        }
        match name {
            "max_entries" | "max_bytes" if bound.is_some() => {
                return Err(bad(name, "give one of `max_entries` and `max_bytes`, once"))
            }
            "max_entries" => bound = Some(MemoryBound::Entries(count(name, value)?)),
            "max_bytes" => bound = Some(MemoryBound::Bytes(count(name, value)?)),
            _ => {
                return Err(bad(
                    name,
                    format!(
                        "unknown; valid: `max_entries`, `max_bytes`, {}",
                        CacheParams::NAMES
                    ),
                ))
            }
        }
    }
    Ok(CacheUrl {
        store: UrlStore::Memory(bound),
        params,
    })
}

#[cfg(feature = "redis")]
fn parse_redis_rest(
    rest: &str,
    tls: bool,
    topology: Topology,
) -> Result<(RedisConfig, CacheParams), ConfigError> {
    // The credentials end at the last `@`: a password may hold `?`, `/`, `#` or `@` unescaped,
    // and no part of it may reach the host, the query or an error. (`@` in a parameter value is
    // written `%40`.)
    let (userinfo, location) = match rest.rsplit_once('@') {
        Some((userinfo, location)) => (Some(userinfo), location),
        None => (None, rest),
    };
    let (location, query) = location.split_once('?').unwrap_or((location, ""));
    let (hosts, path) = location.split_once('/').unwrap_or((location, ""));
    let default_port = match topology {
        Topology::Sentinel => 26379,
        Topology::Node | Topology::Cluster => 6379,
    };
    let nodes = hosts
        .split(',')
        .map(|host| parse_host(host, default_port))
        .collect::<Result<Vec<_>, _>>()?;
    let (mut config, db) =
        match topology {
            Topology::Node if nodes.len() > 1 => return Err(bad(
                "host",
                "a single-node URL takes one host; for a cluster use `redis+cluster://h1,h2,…`, \
                 for Sentinels `redis+sentinel://s1,s2,…/master`",
            )),
            Topology::Node => {
                let (host, port) = nodes.into_iter().next().unwrap_or_default();
                (RedisConfig::node(host, port), path)
            }
            Topology::Cluster => (RedisConfig::cluster(nodes), path),
            Topology::Sentinel => {
                let (master, db) = path.split_once('/').unwrap_or((path, ""));
                if master.is_empty() {
                    return Err(bad(
                        "master",
                        "is missing; valid: the name the Sentinels monitor, as \
                     `redis+sentinel://s1,s2/mymaster[/db]`",
                    ));
                }
                (RedisConfig::sentinel(nodes, master), db)
            }
        };
    if tls {
        config = config.tls();
    }
    if let Some(userinfo) = userinfo {
        let (user, password) = match userinfo.split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (userinfo, None),
        };
        if !user.is_empty() {
            config = config.username(percent_decode("username", user)?);
        }
        if let Some(password) = password {
            // The errors of `percent_decode` never quote the text.
            config = config.password(percent_decode("password", password)?);
        }
    }
    if !db.is_empty() {
        let index = db.parse::<i64>().map_err(|_| {
            bad(
                "db",
                format!("`{db}` is not a database index; valid: a whole number 0 or more, as `/0`"),
            )
        })?;
        config = config.db(index);
    }
    let mut params = CacheParams::default();
    for (name, value) in pairs(query) {
        if params.take(name, value)? {
            continue;
        }
        match name {
            "connect_timeout" => config.connect_timeout = duration(name, value)?,
            "response_timeout" => config.response_timeout = duration(name, value)?,
            "circuit_cooldown" => config.circuit_cooldown = duration(name, value)?,
            "circuit_failures" => {
                config.circuit_failures = u32::try_from(count(name, value)?)
                    .map_err(|_| bad(name, format!("`{value}` is too large")))?
            }
            "ca_file" if !tls => return Err(bad(name, "is for TLS; valid with `rediss://` only")),
            "ca_file" => {
                let pem = std::fs::read(value)
                    .map_err(|error| bad(name, format!("`{value}` cannot be read: {error}")))?;
                config = config.root_certificate(pem);
            }
            _ => {
                return Err(bad(
                    name,
                    format!(
                        "unknown; valid: `connect_timeout`, `response_timeout`, \
                         `circuit_failures`, `circuit_cooldown`, `ca_file`, {}",
                        CacheParams::NAMES
                    ),
                ))
            }
        }
    }
    config.check()?;
    Ok((config, params))
}

/// `host`, `host:port` or `[v6]:port`; the port defaults to `default_port`.
#[cfg(feature = "redis")]
fn parse_host(text: &str, default_port: u16) -> Result<(String, u16), ConfigError> {
    let (host, port) = match text.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, port)) => (host, Some(port.strip_prefix(':').unwrap_or(port))),
            None => return Err(bad("host", format!("`{text}` has no closing `]`"))),
        },
        None => match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        },
    };
    if host.is_empty() {
        return Err(bad("host", "is missing; valid: `redis://host[:port]`"));
    }
    let port = match port {
        None => default_port,
        Some(port) => port
            .parse::<u16>()
            .ok()
            .filter(|port| *port > 0)
            .ok_or_else(|| bad("port", format!("`{port}` is not a port; valid: 1 to 65535")))?,
    };
    Ok((host.to_owned(), port))
}

fn pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

fn count(name: &str, value: &str) -> Result<u64, ConfigError> {
    value.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        bad(
            name,
            format!("`{value}` is not a whole number greater than zero"),
        )
    })
}

fn duration(name: &str, value: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(value)
        .ok()
        .filter(|duration| !duration.is_zero())
        .ok_or_else(|| {
            bad(
                name,
                format!("`{value}` is not a duration above zero; valid: as `250ms`, `2s`"),
            )
        })
}

fn percent_decode(name: &str, text: &str) -> Result<String, ConfigError> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| bad(name, "has a bad `%` escape; valid: `%` + two hex digits"))?;
            decoded.push(hex);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).map_err(|_| bad(name, "is not UTF-8 once `%` escapes are decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "redis")]
    fn redis(url: &str) -> RedisConfig {
        parse_redis(url).unwrap().0
    }

    fn error(url: &str) -> String {
        parse(url).unwrap_err().to_string()
    }

    #[cfg(feature = "redis")]
    #[test]
    fn redis_urls_parse() {
        let config = redis("redis://127.0.0.1");
        assert_eq!(config.nodes, [("127.0.0.1".to_owned(), 6379)]);
        let config = redis("rediss://app:p%40ss@cache.internal:6380/3?response_timeout=50ms");
        assert!(config.tls && !config.cluster);
        assert_eq!(config.username.as_deref(), Some("app"));
        assert_eq!(config.password.as_deref(), Some("p@ss"));
        assert_eq!(config.db, 3);
        assert_eq!(config.response_timeout, Duration::from_millis(50));
        let config = redis("redis+cluster://:pw@10.0.0.1:7000,10.0.0.2,[::1]:7002");
        assert!(config.cluster);
        assert_eq!(config.username, None);
        assert_eq!(config.nodes.len(), 3);
        assert_eq!(config.nodes[2], ("::1".to_owned(), 7002));
        let (_, params) = parse_redis("redis://h/0?prefix=svc&compress_above=off").unwrap();
        assert_eq!(params.prefix.as_deref(), Some("svc"));
        assert_eq!(params.compression, Some(Compression::Off));
    }

    #[cfg(feature = "redis")]
    #[test]
    fn errors_name_the_part_and_hide_the_password() {
        for (url, names) in [
            ("redis://u:hunter2@h/x", ["`db`", "0 or more"]),
            ("redis://u:hunter2@h/-1", ["`db`", "negative"]),
            ("redis+cluster://u:hunter2@h/2", ["`db`", "only database 0"]),
            ("redis://u:hunter2@h:0", ["`port`", "1 to 65535"]),
            ("redis://u:hunter2@h:http", ["`port`", "1 to 65535"]),
            ("redis://u:hunter2@", ["`host`", "missing"]),
            ("redis://u:hunter2@a,b", ["`host`", "redis+cluster"]),
            (
                "redis://u:hunter2@h?response_timeout=0s",
                ["`response_timeout`", "above zero"],
            ),
            (
                "redis://u:hunter2@h?connect_timeout=soon",
                ["`connect_timeout`", "250ms"],
            ),
            (
                "redis://u:hunter2@h?circuit_failures=0",
                ["`circuit_failures`", "greater than zero"],
            ),
            (
                "redis://u:hunter2@h?ca_file=x.pem",
                ["`ca_file`", "rediss://"],
            ),
            (
                "redis://u:hunter2@h?timeout=1s",
                ["`timeout`", "response_timeout"],
            ),
            ("redis://u:hunt%zz@h", ["`password`", "escape"]),
            (
                "redis://u:hunter2@h?compress_above=big",
                ["`compress_above`", "`off`"],
            ),
            ("mysql://u:hunter2@h", ["`mysql://`", "redis+cluster://"]),
        ] {
            let message = error(url);
            for name in names {
                assert!(message.contains(name), "{url}: {message}");
            }
            assert!(
                !message.contains("hunter2") && !message.contains("hunt"),
                "{message}"
            );
        }
    }

    #[cfg(feature = "redis")]
    #[test]
    fn sentinel_urls_name_the_master() {
        let config = redis("redis+sentinel://app:pw@s1,s2:26380/mymaster/2?response_timeout=50ms");
        assert_eq!(config.sentinel_master.as_deref(), Some("mymaster"));
        assert_eq!(
            config.nodes,
            [("s1".to_owned(), 26379), ("s2".to_owned(), 26380)]
        );
        assert_eq!((config.db, config.tls), (2, false));
        assert_eq!(
            config.target(),
            "redis+sentinel://app@s1:26379,s2:26380/mymaster/2"
        );
        assert!(redis("rediss+sentinel://s1/m").tls);
        assert!(error("redis+sentinel://s1").contains("`master`"));
        assert!(error("redis+sentinel://s1/m/x").contains("`db`"));
    }

    #[test]
    fn memory_urls_parse() {
        let url = parse("memory://?max_bytes=1048576&prefix=svc").unwrap();
        assert!(matches!(
            url.store,
            UrlStore::Memory(Some(MemoryBound::Bytes(1_048_576)))
        ));
        assert_eq!(url.params.prefix.as_deref(), Some("svc"));
        let url = parse("memory://?compress_above=4096").unwrap();
        assert_eq!(url.params.compression, Some(Compression::Above(4096)));
        assert!(error("memory://?compress_above=-1").contains("`compress_above`"));
        assert!(error("memory://?max_entries=0").contains("greater than zero"));
        assert!(error("memory://?max_entrys=5").contains("valid"));
        assert!(error("memory://?max_entries=5&max_bytes=5").contains("once"));
        assert!(error("memory://host").contains("`host`"));
        assert_eq!(parse("localhost").unwrap_err(), ConfigError::NoScheme);
    }
}
