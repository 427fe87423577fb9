//! Following the primary that Redis Sentinels name (`redis+sentinel://s1,s2/mymaster`).
//!
//! ```text
//! command ─► the current primary's connection manager ──ok──► reply
//!               │ (none yet: ask the Sentinels first)  └─ connection lost, READONLY ─► wake
//! watcher (driver task) ─ every second, or when woken ─► SENTINEL get-master-addr-by-name
//!               └─ another address ─► a new connection manager for it; commands use it next
//! ```
//!
//! A failover shows itself to a command as a lost connection (the primary crashed) or as a
//! `READONLY` reply (the old primary was demoted to a replica); either wakes the watcher, which
//! asks the Sentinels at once. The poll finds a failover that no command has run into yet. While
//! no primary is known, commands fail as a connection failure would: `#[cached]` runs the body,
//! the circuit breaker counts it, and the store follows the new primary when it is named.

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::{Client, RedisError, RedisResult, Value};
use tokio::sync::Notify;

/// How often the watcher asks the Sentinels where the primary is, when nothing woke it.
const POLL: Duration = Duration::from_secs(1);

/// Makes a client for the data node at `(host, port)`: credentials, database, TLS.
pub(super) type NodeClient = Box<dyn Fn(&str, u16) -> RedisResult<Client> + Send + Sync>;

/// The connection to the primary the Sentinels name, replaced when they name another.
pub(crate) struct SentinelLink {
    master: String,
    sentinels: Vec<Client>,
    node_client: NodeClient,
    manager_config: ConnectionManagerConfig,
    timeout: Duration,
    db: i64,
    primary: Mutex<Option<Primary>>,
    /// The last Sentinel connection that answered, kept for the next question.
    asked: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    wake: Arc<Notify>,
}

#[derive(Clone)]
struct Primary {
    address: (String, u16),
    connection: ConnectionManager,
}

impl SentinelLink {
    /// The link, and its watcher started on the driver (it ends when the link is dropped).
    pub(super) fn start(
        master: String,
        sentinels: Vec<Client>,
        node_client: NodeClient,
        manager_config: ConnectionManagerConfig,
        (timeout, db): (Duration, i64),
        driver: &tokio::runtime::Handle,
    ) -> Arc<Self> {
        let wake = Arc::new(Notify::new());
        let link = Arc::new(SentinelLink {
            master,
            sentinels,
            node_client,
            manager_config,
            timeout,
            db,
            primary: Mutex::new(None),
            asked: tokio::sync::Mutex::new(None),
            wake: Arc::clone(&wake),
        });
        driver.spawn(watch(Arc::downgrade(&link), wake));
        link
    }

    pub(super) fn db(&self) -> i64 {
        self.db
    }

    fn current(&self) -> Option<Primary> {
        self.primary
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The primary, asking the Sentinels first if none is known yet.
    async fn primary_now(&self) -> RedisResult<Primary> {
        if let Some(primary) = self.current() {
            return Ok(primary);
        }
        self.follow().await;
        self.current().ok_or_else(|| {
            RedisError::from((
                redis::ErrorKind::Io,
                "no Sentinel named the primary",
                self.master.clone(),
            ))
        })
    }

    /// The primary's connection.
    async fn connection(&self) -> RedisResult<ConnectionManager> {
        Ok(self.primary_now().await?.connection)
    }

    /// Where the primary is now.
    pub(super) async fn primary(&self) -> RedisResult<(String, u16)> {
        Ok(self.primary_now().await?.address)
    }

    /// Wakes the watcher after a reply that may mean a failover.
    fn check<T>(&self, reply: &RedisResult<T>) {
        if let Err(error) = reply {
            let moved = error.is_io_error()
                || error.is_connection_dropped()
                || error.is_connection_refusal()
                || error.is_timeout()
                || matches!(error.code(), Some("READONLY" | "MASTERDOWN"));
            if moved {
                self.wake.notify_one();
            }
        }
    }

    /// Asks the Sentinels where the primary is; connects there if it moved.
    async fn follow(&self) {
        let Some(address) = self.ask().await else {
            return tracing::debug!(master = %self.master, "no Sentinel answered");
        };
        if self
            .current()
            .is_some_and(|primary| primary.address == address)
        {
            return;
        }
        let connection = (self.node_client)(&address.0, address.1).and_then(|client| {
            ConnectionManager::new_lazy_with_config(client, self.manager_config.clone())
        });
        match connection {
            Ok(connection) => {
                let previous = self
                    .primary
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .replace(Primary {
                        address: address.clone(),
                        connection,
                    });
                if let Some(previous) = previous {
                    tracing::warn!(
                        master = %self.master,
                        from = %format_args!("{}:{}", previous.address.0, previous.address.1),
                        to = %format_args!("{}:{}", address.0, address.1),
                        "the Sentinels name a new primary; following it"
                    );
                }
            }
            Err(error) => tracing::warn!(master = %self.master, %error, "cannot reach the primary"),
        }
    }

    /// The primary's address, from the first Sentinel that knows it.
    async fn ask(&self) -> Option<(String, u16)> {
        let mut asked = self.asked.lock().await;
        let mut question = redis::cmd("SENTINEL");
        question.arg("get-master-addr-by-name").arg(&self.master);
        if let Some(connection) = asked.as_mut() {
            let reply = tokio::time::timeout(self.timeout, question.query_async(connection)).await;
            if let Ok(Ok(Some(address))) = reply {
                return Some(address);
            }
            *asked = None;
        }
        for sentinel in &self.sentinels {
            let attempt = async {
                let mut connection = sentinel.get_multiplexed_async_connection().await?;
                let address = question
                    .query_async::<Option<(String, u16)>>(&mut connection)
                    .await?;
                Ok::<_, RedisError>((connection, address))
            };
            if let Ok(Ok((connection, Some(address)))) =
                tokio::time::timeout(self.timeout, attempt).await
            {
                *asked = Some(connection);
                return Some(address);
            }
        }
        None
    }

    pub(super) fn req_packed_command<'a>(
        &'a self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, Value> {
        Box::pin(async move {
            let mut connection = self.connection().await?;
            let reply = connection.req_packed_command(cmd).await;
            self.check(&reply);
            reply
        })
    }

    pub(super) fn req_packed_commands<'a>(
        &'a self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let mut connection = self.connection().await?;
            let reply = connection
                .req_packed_commands(pipeline, offset, count)
                .await;
            self.check(&reply);
            reply
        })
    }
}

/// Asks the Sentinels every [`POLL`], or at once when a command woke it, while the link lives.
async fn watch(link: Weak<SentinelLink>, wake: Arc<Notify>) {
    loop {
        match link.upgrade() {
            Some(link) => link.follow().await,
            None => return,
        }
        let _ = tokio::time::timeout(POLL, wake.notified()).await;
    }
}
