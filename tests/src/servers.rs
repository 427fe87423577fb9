//! Redis servers the tests start themselves: a single node, a 3-primary cluster, TLS with
//! certificates made at test time, an ACL user. Each listens on a free loopback port, is waited
//! for until it answers, and is killed (its files removed) on drop.
//!
//! Nothing here touches a server it did not start, except [`RedisServer::single`], which uses
//! `REDIS_URL` when that is set on purpose.

use cache_runtime::Cache;
use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take to answer after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(20);

const INSTALL_HINT: &str = "the tests start their own Redis servers and need `redis-server` and \
    `redis-cli` (Redis 6.2 or newer) on the PATH: install them with `sudo apt-get install \
    redis-server` (Debian, Ubuntu) or `brew install redis` (macOS)";

/// An ACL user the servers of [`ServerOptions::acl_user`] know.
pub const ACL_USER: &str = "cache-app";
/// That user's password.
pub const ACL_PASSWORD: &str = "pw-7f3a91c2";
/// A second user of the same servers, made as Redis 7 makes one by default: every key and
/// command, but no Pub/Sub channel (no `&…` pattern). Its password is [`ACL_PASSWORD`].
pub const ACL_USER_NO_CHANNELS: &str = "cache-app-nochannels";

/// How to start a server.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// Also listen with TLS, on a port of its own, with a certificate from a CA made for it.
    pub tls: bool,
    /// Create [`ACL_USER`] and [`ACL_USER_NO_CHANNELS`] with [`ACL_PASSWORD`].
    pub acl_user: bool,
    /// Run as a cluster node.
    pub cluster_node: bool,
    /// Replicate the server on this loopback port.
    pub replica_of: Option<u16>,
}

/// Certificates made for one TLS server.
#[derive(Debug)]
pub struct TlsFiles {
    /// The CA certificate, PEM: what a client must trust.
    pub ca_pem: Vec<u8>,
    /// The port that speaks TLS.
    pub port: u16,
}

/// One `redis-server` process of our own (or the server of `REDIS_URL`).
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    args: Vec<String>,
    /// Set when the server listens with TLS too.
    pub tls: Option<TlsFiles>,
    external_url: Option<String>,
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

/// A free loopback port for a cluster node, whose bus port (10,000 above it, as Redis takes it)
/// exists and is free too: an ephemeral port above 55,535 has no bus port, and a node given one
/// exits at start.
fn free_cluster_port() -> u16 {
    for _ in 0..100 {
        let port = free_port();
        let bus_free = port
            .checked_add(10_000)
            .is_some_and(|bus| TcpListener::bind(("127.0.0.1", bus)).is_ok());
        if bus_free {
            return port;
        }
    }
    panic!("no loopback port with a free cluster bus port in 100 tries")
}

pub(crate) fn scratch_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "cache-tests-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

fn run(command: &mut Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {what}: {error}"));
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 and localhost, made with the `openssl` tool.
fn make_certificates(dir: &Path) {
    let openssl = |args: &[&str], what: &str| {
        run(Command::new("openssl").args(args).current_dir(dir), what);
    };
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=cache-tests CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
        "openssl (CA)",
    );
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
        "openssl (server key)",
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .expect("writing san.ext");
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.crt",
        ],
        "openssl (server certificate)",
    );
}

impl RedisServer {
    /// A plain single node; the server of `REDIS_URL` instead when that is set.
    pub fn single() -> Self {
        match std::env::var("REDIS_URL") {
            Ok(url) if !url.is_empty() => RedisServer {
                child: None,
                port: 0,
                dir: PathBuf::new(),
                args: Vec::new(),
                tls: None,
                external_url: Some(url),
            },
            _ => Self::start(ServerOptions::default()),
        }
    }

    /// A server of our own, as `options` say.
    pub fn start(options: ServerOptions) -> Self {
        let dir = scratch_dir();
        let port = match options.cluster_node {
            true => free_cluster_port(),
            false => free_port(),
        };
        let mut args: Vec<String> = [
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
            "--dir",
            &dir.display().to_string(),
        ]
        .iter()
        .map(|arg| arg.to_string())
        .collect();
        let tls = options.tls.then(|| {
            make_certificates(&dir);
            let tls_port = free_port();
            for arg in [
                "--tls-port",
                &tls_port.to_string(),
                "--tls-cert-file",
                "server.crt",
                "--tls-key-file",
                "server.key",
                "--tls-ca-cert-file",
                "ca.crt",
                "--tls-auth-clients",
                "no",
            ] {
                args.push(arg.to_owned());
            }
            TlsFiles {
                ca_pem: std::fs::read(dir.join("ca.crt")).expect("the CA certificate"),
                port: tls_port,
            }
        });
        if let Some(primary) = options.replica_of {
            for arg in ["--replicaof", "127.0.0.1", &primary.to_string()] {
                args.push(arg.to_owned());
            }
        }
        if options.cluster_node {
            for arg in ["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"] {
                args.push(arg.to_owned());
            }
        }
        let mut server = RedisServer {
            child: None,
            port,
            dir,
            args,
            tls,
            external_url: None,
        };
        server.spawn();
        if options.acl_user {
            let mut raw = server.raw();
            redis::cmd("ACL")
                .arg("SETUSER")
                .arg(ACL_USER)
                .arg("on")
                .arg(format!(">{ACL_PASSWORD}"))
                .arg("~*")
                .arg("&*")
                .arg("+@all")
                .exec(&mut raw)
                .expect("ACL SETUSER");
            redis::cmd("ACL")
                .arg("SETUSER")
                .arg(ACL_USER_NO_CHANNELS)
                .arg("on")
                .arg(format!(">{ACL_PASSWORD}"))
                .arg("~*")
                .arg("resetchannels")
                .arg("+@all")
                .exec(&mut raw)
                .expect("ACL SETUSER (no channels)");
        }
        server
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(&self.args)
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot start `redis-server` ({error}): {INSTALL_HINT}")
            });
        self.child = Some(child);
        self.wait_until_answering();
    }

    fn wait_until_answering(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten())
            {
                panic!(
                    "redis-server on port {} exited at start ({status}): {INSTALL_HINT}",
                    self.port
                );
            }
            let answered = redis::Client::open(self.url())
                .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(1)))
                .and_then(|mut raw| redis::cmd("PING").query::<String>(&mut raw))
                .is_ok();
            if answered {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its plain-text port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        match &self.external_url {
            Some(url) => url.clone(),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    /// A plain synchronous connection, to look at what the server holds.
    pub fn raw(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(5)))
            .expect("a raw connection to the test server")
    }

    /// Kills the server (the port stops answering).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing is answered.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a [`pause`](Self::pause)d server.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("a server of our own").id();
        run(
            Command::new("kill").arg(signal).arg(pid.to_string()),
            "kill",
        );
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A paused server must wake to die cleanly.
            let _ = Command::new("kill")
                .arg("-CONT")
                .arg(child.id().to_string())
                .status();
        }
        self.kill();
        if self.external_url.is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Three primaries, no replicas, all 16384 slots assigned.
#[derive(Debug)]
pub struct RedisCluster {
    /// The nodes.
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three nodes and joins them with `redis-cli --cluster create`.
    pub fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                RedisServer::start(ServerOptions {
                    cluster_node: true,
                    ..ServerOptions::default()
                })
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port()))
            .collect();
        run(
            Command::new("redis-cli")
                .args(["--cluster", "create"])
                .args(&addresses)
                .args(["--cluster-replicas", "0", "--cluster-yes"]),
            "redis-cli --cluster create",
        );
        let deadline = Instant::now() + START_TIMEOUT;
        for node in &nodes {
            loop {
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query(&mut node.raw())
                    .unwrap_or_default();
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(Instant::now() < deadline, "the cluster did not come up");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        RedisCluster { nodes }
    }

    /// `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port()))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// Makes every node announce `hostname` and clients prefer it (`CLUSTER SLOTS` then names
    /// nodes `hostname:port`, as clusters behind DNS do); waits until every node says so.
    pub fn announce_hostname(&self, hostname: &str) {
        for node in &self.nodes {
            for (name, value) in [
                ("cluster-announce-hostname", hostname),
                ("cluster-preferred-endpoint-type", "hostname"),
            ] {
                redis::cmd("CONFIG")
                    .arg("SET")
                    .arg(name)
                    .arg(value)
                    .exec(&mut node.raw())
                    .expect("CONFIG SET (Redis 7 or newer)");
            }
        }
        let deadline = Instant::now() + START_TIMEOUT;
        for node in &self.nodes {
            loop {
                let slots: redis::Value = redis::cmd("CLUSTER")
                    .arg("SLOTS")
                    .query(&mut node.raw())
                    .expect("CLUSTER SLOTS");
                let redis::Value::Array(ranges) = slots else {
                    panic!("CLUSTER SLOTS: {slots:?}")
                };
                let announced = ranges.iter().all(|range| match range {
                    redis::Value::Array(fields) => match fields.get(2) {
                        Some(redis::Value::Array(primary)) => {
                            primary.first() == Some(&redis::Value::BulkString(hostname.into()))
                        }
                        _ => false,
                    },
                    _ => false,
                });
                if announced {
                    break;
                }
                assert!(Instant::now() < deadline, "the hostnames did not spread");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Every key each node holds, with its `PTTL`.
    pub fn keys(&self) -> HashMap<String, i64> {
        self.nodes
            .iter()
            .flat_map(|node| keys_of(&mut node.raw()))
            .collect()
    }
}

/// Every key a server holds, with its `PTTL` (SCAN: test servers are small).
pub fn keys_of(raw: &mut redis::Connection) -> HashMap<String, i64> {
    let keys: Vec<String> = redis::cmd("SCAN")
        .cursor_arg(0)
        .arg("COUNT")
        .arg(1000)
        .clone()
        .iter(raw)
        .expect("SCAN")
        .collect::<Result<_, _>>()
        .expect("SCAN replies");
    keys.into_iter()
        .map(|key| {
            let pttl: i64 = redis::cmd("PTTL").arg(&key).query(raw).expect("PTTL");
            (key, pttl)
        })
        .collect()
}

/// How many commands the server has run, by name, from `INFO commandstats` (`info` itself
/// excluded, so reading the counts does not change them).
pub fn command_counts(raw: &mut redis::Connection) -> HashMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(raw)
        .expect("INFO commandstats");
    info.lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            (name != "info").then(|| (name.to_owned(), calls))
        })
        .collect()
}

/// How many calls of `command` (as `INFO commandstats` names it: `subscribe`,
/// `client|tracking`) the server refused, ACL denials included (`rejected_calls`).
pub fn rejected_calls(server: &RedisServer, command: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut server.raw())
        .expect("INFO commandstats");
    let prefix = format!("cmdstat_{command}:");
    info.lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .and_then(|stats| {
            stats
                .split(',')
                .find_map(|field| field.strip_prefix("rejected_calls="))
        })
        .map_or(0, |count| count.parse().unwrap_or(0))
}

/// The commands run between two [`command_counts`], by name, only those that ran.
pub fn command_delta(
    before: &HashMap<String, u64>,
    after: &HashMap<String, u64>,
) -> HashMap<String, u64> {
    after
        .iter()
        .filter_map(|(name, calls)| {
            let delta = calls - before.get(name).copied().unwrap_or(0);
            (delta > 0).then(|| (name.clone(), delta))
        })
        .collect()
}

/// The integer under `key`, 0 when there is none.
pub fn get_int(raw: &mut redis::Connection, key: &str) -> i64 {
    redis::cmd("GET")
        .arg(key)
        .query::<Option<i64>>(raw)
        .expect("GET")
        .unwrap_or(0)
}

/// Runs this test binary again on the one ignored test `test`, with `env` set: a child process
/// for the tests that span processes. Its output is piped.
pub fn rerun_ignored(test: &str, env: &[(&str, String)]) -> std::process::Child {
    Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--ignored", "--exact", test, "--nocapture", "--quiet"])
        .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("a child test process")
}

/// A cache on one of the backends a suite runs on, with the servers it needs: they live as long
/// as the value (keep it in the test's scope: a `static` is never dropped, so never killed).
pub struct Backend {
    /// The cache.
    pub cache: Cache,
    _servers: Box<dyn Send>,
}

impl Backend {
    /// The embedded store.
    pub fn memory() -> Backend {
        Backend {
            cache: Cache::builder().build().expect("default configuration"),
            _servers: Box::new(()),
        }
    }

    /// A single Redis server of its own.
    pub fn redis() -> Backend {
        let server = RedisServer::single();
        Backend {
            cache: Cache::from_url(&server.url()).expect("the server's URL"),
            _servers: Box::new(server),
        }
    }

    /// A Redis Cluster of its own (three primaries).
    pub fn cluster() -> Backend {
        let cluster = RedisCluster::start();
        Backend {
            cache: Cache::from_url(&cluster.url()).expect("the cluster's URL"),
            _servers: Box::new(cluster),
        }
    }
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("cache", &self.cache)
            .finish()
    }
}
