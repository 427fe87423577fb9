//! Wake-ups for callers waiting on another process's computation (`lock_on_miss`).
//!
//! The process that computed a key releases its lease lock and `PUBLISH`es the key on
//! [`CHANNEL`] in one script. Each Redis store keeps one subscriber connection, opened on the
//! first wait, which wakes the local waiters of that key. Waiters are grouped into a fixed number
//! of slots by the key's hash: a fill wakes the waiters of its slot, who read the key again (a
//! waiter of another key in the same slot reads once more and goes back to waiting). A lost
//! message costs a waiter only its bounded fallback re-check, never a hang.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use event_listener::{Event, EventListener};
use foldhash::fast::FixedState;
use redis::Client;

/// The channel fills are published on.
pub(crate) const CHANNEL: &str = "cache-runtime:filled";

const SLOTS: usize = 64;

/// The waiters of one Redis store, and its subscriber.
#[derive(Debug)]
pub(crate) struct Fills {
    slots: [Event; SLOTS],
    hasher: FixedState,
    subscriber: Option<Client>,
    started: AtomicBool,
    connect_timeout: Duration,
}

impl Fills {
    /// Fills heard through a subscriber connection made with `subscriber` (none: waiters only
    /// re-check on their fallback timer).
    pub(crate) fn new(subscriber: Option<Client>, connect_timeout: Duration) -> Self {
        Fills {
            slots: std::array::from_fn(|_| Event::new()),
            hasher: FixedState::default(),
            subscriber,
            started: AtomicBool::new(false),
            connect_timeout,
        }
    }

    fn slot(&self, key: &[u8]) -> &Event {
        &self.slots[(self.hasher.hash_one(key) as usize) % SLOTS]
    }

    /// A listener woken when `key` is filled. Make it before reading the key, so that a fill
    /// between the read and the wait is not missed.
    pub(crate) fn listen(self: &Arc<Self>, key: &str) -> EventListener {
        if !self.started.swap(true, Ordering::Relaxed) {
            self.start_subscriber();
        }
        self.slot(key.as_bytes()).listen()
    }

    fn notify(&self, key: &[u8]) {
        self.slot(key).notify(usize::MAX);
    }

    /// Runs the subscriber on the driver until the store is dropped; it reconnects after a
    /// failure.
    fn start_subscriber(self: &Arc<Self>) {
        let (Some(client), Some(driver)) = (self.subscriber.clone(), crate::driver::handle())
        else {
            return;
        };
        let fills = Arc::downgrade(self);
        let connect_timeout = self.connect_timeout;
        driver.spawn(async move {
            while fills.strong_count() > 0 {
                match subscribe(&client, &fills, connect_timeout).await {
                    Err(error) if is_no_permission(&error) => {
                        tracing::warn!(
                            channel = CHANNEL,
                            %error,
                            "the ACL user may not subscribe to the fill channel; waiters fall \
                             back to re-reading every 50-150 ms (grant `&cache-runtime:filled`)"
                        );
                        return;
                    }
                    Err(error) => {
                        tracing::debug!(%error, "fill subscriber disconnected; reconnecting")
                    }
                    Ok(()) => {}
                }
                let pause = Duration::from_millis(100 + fastrand::u64(0..200));
                tokio::time::sleep(pause).await;
            }
        });
    }
}

/// Whether the server refused the subscription itself: an ACL user without the channel. Asking
/// again would be refused again.
fn is_no_permission(error: &redis::RedisError) -> bool {
    error.code() == Some("NOPERM") || error.to_string().contains("NOPERM")
}

/// After this long without a message the subscriber asks the server (`PING`): a connection can
/// stay open and deaf (a partition, a peer gone without a reset).
const HEALTH_CHECK_AFTER: Duration = Duration::from_secs(3);

/// Listens on [`CHANNEL`] until the connection fails (or stops answering) or the store is gone.
async fn subscribe(
    client: &Client,
    fills: &Weak<Fills>,
    connect_timeout: Duration,
) -> redis::RedisResult<()> {
    let timed_out = || redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
    let mut pubsub = tokio::time::timeout(connect_timeout, client.get_async_pubsub())
        .await
        .map_err(|_| timed_out())??;
    tokio::time::timeout(connect_timeout, pubsub.subscribe(CHANNEL))
        .await
        .map_err(|_| timed_out())??;
    let (mut sink, mut messages) = pubsub.split();
    let mut heard = tokio::time::Instant::now();
    loop {
        let next = std::future::poll_fn(|cx| {
            futures_core::Stream::poll_next(std::pin::Pin::new(&mut messages), cx)
        });
        // Wakes up now and then to notice a dropped store or a deaf connection.
        match tokio::time::timeout(Duration::from_secs(1), next).await {
            Ok(Some(message)) => {
                heard = tokio::time::Instant::now();
                match fills.upgrade() {
                    Some(fills) => fills.notify(message.get_payload_bytes()),
                    None => return Ok(()),
                }
            }
            Ok(None) => return Err(timed_out()),
            Err(_) if fills.strong_count() == 0 => return Ok(()),
            Err(_) if heard.elapsed() >= HEALTH_CHECK_AFTER => {
                tokio::time::timeout(connect_timeout, sink.ping::<redis::Value>())
                    .await
                    .map_err(|_| timed_out())??;
                heard = tokio::time::Instant::now();
            }
            Err(_) => {}
        }
    }
}
