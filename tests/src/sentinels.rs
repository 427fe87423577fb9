//! A primary, a replica and three Sentinels (quorum 2) watching them as `mymaster`, all on free
//! loopback ports, for failover tests: a forced failover (`SENTINEL FAILOVER`) and a crashed
//! primary. Killed, and their files removed, on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::servers::{free_port, scratch_dir, RedisServer, ServerOptions};

/// The name the Sentinels monitor.
pub const MASTER: &str = "mymaster";

/// Two data nodes and the Sentinels watching them.
#[derive(Debug)]
pub struct SentinelGroup {
    /// The data nodes: the first started as the primary, the second as its replica.
    pub nodes: Vec<RedisServer>,
    sentinels: Vec<(Child, u16)>,
    dir: PathBuf,
}

impl SentinelGroup {
    /// Starts the nodes and the Sentinels, and waits until the Sentinels know the replica (a
    /// failover needs one).
    pub fn start() -> Self {
        let primary = RedisServer::start(ServerOptions::default());
        let replica = RedisServer::start(ServerOptions {
            replica_of: Some(primary.port()),
            ..ServerOptions::default()
        });
        let dir = scratch_dir();
        let sentinels = (0..3)
            .map(|i| {
                let port = free_port();
                let config = dir.join(format!("sentinel-{i}.conf"));
                std::fs::write(
                    &config,
                    format!(
                        "port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {dir}\n\
                         sentinel monitor {MASTER} 127.0.0.1 {primary} 2\n\
                         sentinel down-after-milliseconds {MASTER} 400\n\
                         sentinel failover-timeout {MASTER} 4000\n\
                         sentinel parallel-syncs {MASTER} 1\n",
                        dir = dir.display(),
                        primary = primary.port(),
                    ),
                )
                .expect("a Sentinel configuration");
                let child = Command::new("redis-server")
                    .arg(&config)
                    .arg("--sentinel")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("`redis-server --sentinel` starts");
                (child, port)
            })
            .collect();
        let group = SentinelGroup {
            nodes: vec![primary, replica],
            sentinels,
            dir,
        };
        group.wait_for("the Sentinels to see the replica", |group| {
            group.sentinels.iter().all(|&(_, port)| {
                group
                    .ask::<Vec<redis::Value>>(port, &["replicas", MASTER])
                    .is_some_and(|replicas| !replicas.is_empty())
            })
        });
        group
    }

    /// `redis+sentinel://127.0.0.1:S1,…/mymaster/0`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|(_, port)| format!("127.0.0.1:{port}"))
            .collect();
        format!("redis+sentinel://{}/{MASTER}/0", hosts.join(","))
    }

    /// The port of the primary the Sentinels name now.
    pub fn primary_port(&self) -> Option<u16> {
        let port = self.sentinels[0].1;
        let (_, primary) = self.ask::<(String, u16)>(port, &["get-master-addr-by-name", MASTER])?;
        Some(primary)
    }

    /// The data node on `port`.
    pub fn node(&mut self, port: u16) -> &mut RedisServer {
        self.nodes
            .iter_mut()
            .find(|node| node.port() == port)
            .expect("a node of the group")
    }

    /// Asks the first Sentinel for a failover and waits until they name the other node.
    pub fn failover(&self) -> u16 {
        let before = self.primary_port().expect("a primary");
        let _: Option<redis::Value> = self.ask(self.sentinels[0].1, &["failover", MASTER]);
        self.wait_for_new_primary(before)
    }

    /// Waits until the Sentinels name a primary other than the one on `before`.
    pub fn wait_for_new_primary(&self, before: u16) -> u16 {
        self.wait_for("the Sentinels to name a new primary", |group| {
            group.primary_port().is_some_and(|port| port != before)
        });
        self.primary_port().expect("the new primary")
    }

    fn ask<T: redis::FromRedisValue>(&self, port: u16, args: &[&str]) -> Option<T> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
        let mut connection = client
            .get_connection_with_timeout(Duration::from_secs(1))
            .ok()?;
        redis::cmd("SENTINEL").arg(args).query(&mut connection).ok()
    }

    fn wait_for(&self, what: &str, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done(self) {
            assert!(Instant::now() < deadline, "waited 30 s for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for SentinelGroup {
    fn drop(&mut self) {
        for (child, _) in &mut self.sentinels {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
