//! The near cache's ears: one RESP3 connection per primary with `CLIENT TRACKING on BCAST
//! PREFIX {prefix}:`, whose invalidation pushes remove keys from the L1 as they arrive, and a
//! `PING` every quarter of the staleness bound whose `PONG` says how far the L1 is up to date
//! (see `crate::near`).
//!
//! ```text
//! session: connect (every primary) ─► CLIENT TRACKING on BCAST ─► flush ─► ┌ PING all ─► heard_through(sent)
//!                                                                           └ sleep max_lag/4 ─┘
//! a PING unanswered within max_lag, a closed connection, other primaries (a Cluster's, the
//! Sentinels') ─► the session ends: flush, and a new one after a pause
//! ```
//!
//! Broadcast mode rather than the default mode with `REDIRECT`: the server keeps no table of
//! the keys each client read (no memory per read key, no `tracking_table_max_keys` evictions that
//! would send spurious invalidations), the tracking connection is independent of the data
//! connection (no redirect to re-point after a reconnect), and on a Cluster each primary is
//! armed once. The cost is a push for every write under the prefix, also of keys this process
//! never read: one hash look-up each. Measured in BENCHMARKS.md.

use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, PushInfo, PushKind, RedisError, Value};

use super::link::tracking_client;
use super::scan::nodes;
use super::RedisStore;
use crate::clock::monotonic_millis;
use crate::near::Near;

/// Starts tracking `prefix` for `near` on the driver; it stops when `near` is dropped.
pub(crate) fn track(store: &RedisStore, prefix: &str, near: &Arc<Near>) {
    let Some(driver) = crate::driver::handle() else {
        return;
    };
    driver.spawn(run(
        store.clone(),
        format!("{prefix}:"),
        Arc::downgrade(near),
    ));
}

async fn run(store: RedisStore, prefix: String, near: Weak<Near>) {
    // Sessions in a row that could not arm: the pause before the next doubles (50 ms to 2 s), and
    // the first of a streak is a warning, so that a server refusing `CLIENT TRACKING` (an ACL
    // user without it, a proxy that does not speak RESP3) is named once and not hammered.
    let mut unarmed = 0u32;
    loop {
        let Some(strong) = near.upgrade() else {
            return;
        };
        let max_lag = strong.max_lag();
        drop(strong);
        let mut armed = false;
        let ended = session(&store, &prefix, &near, max_lag, &mut armed).await;
        let Some(strong) = near.upgrade() else {
            return;
        };
        strong.flush();
        drop(strong);
        unarmed = if armed { 0 } else { unarmed.saturating_add(1) };
        match ended {
            Err(error) if unarmed == 1 => tracing::warn!(
                target = %store.config(),
                %error,
                "near cache not armed: reads go to Redis until tracking is armed"
            ),
            Err(error) => {
                tracing::debug!(%error, "near cache tracking lost; the L1 is bypassed until re-armed")
            }
            Ok(()) => {}
        }
        let pause = Duration::from_millis(50 << unarmed.min(6)).min(Duration::from_secs(2));
        tokio::time::sleep(pause + Duration::from_millis(fastrand::u64(0..50))).await;
    }
}

/// One stretch of tracking, `armed` once every primary tracks; ends with why it ended.
async fn session(
    store: &RedisStore,
    prefix: &str,
    near: &Weak<Near>,
    max_lag: Duration,
    armed: &mut bool,
) -> Result<(), RedisError> {
    let nodes = nodes(store).await.map_err(failure)?;
    let mut connections = Vec::with_capacity(nodes.len());
    for (host, port) in &nodes {
        let client = tracking_client(store.config(), host, *port)?;
        let heard = near.clone();
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(store.config().connect_timeout))
            .set_response_timeout(Some(max_lag))
            .set_push_sender(move |push: PushInfo| {
                hear(&heard, push);
                Ok::<(), ()>(())
            });
        let mut connection = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        redis::cmd("CLIENT")
            .arg(&["TRACKING", "on", "BCAST", "PREFIX", prefix][..])
            .query_async::<()>(&mut connection)
            .await?;
        connections.push(connection);
    }
    // Whatever the L1 held was heard by no armed connection: it goes.
    match near.upgrade() {
        Some(near) => near.flush(),
        None => return Ok(()),
    }
    *armed = true;
    let pause = max_lag / 4;
    // A cluster's primaries, or the primary Sentinels name, can change: checked about once a
    // second, re-armed on the new ones.
    let topology_every = (1_000 / pause.as_millis().max(1)).max(1) as u64;
    let mut pings = 0u64;
    loop {
        let sent = monotonic_millis();
        ping_all(&mut connections).await?;
        match near.upgrade() {
            Some(near) => near.heard_through(sent),
            None => return Ok(()),
        }
        pings += 1;
        let moves = store.config().cluster || store.config().sentinel_master.is_some();
        if moves
            && pings % topology_every == 0
            && super::scan::nodes(store).await.map_err(failure)? != nodes
        {
            return Ok(());
        }
        tokio::time::sleep(pause).await;
    }
}

async fn ping_all(connections: &mut [MultiplexedConnection]) -> Result<(), RedisError> {
    for connection in connections {
        redis::cmd("PING").query_async::<()>(connection).await?;
    }
    Ok(())
}

/// A push on a tracking connection: keys that changed, `null` when the server flushed, or the
/// library's word that the connection closed.
fn hear(near: &Weak<Near>, push: PushInfo) {
    let Some(near) = near.upgrade() else {
        return;
    };
    match push.kind {
        PushKind::Invalidate => match push.data.first() {
            Some(Value::Array(keys)) => {
                for key in keys {
                    if let Value::BulkString(key) = key {
                        near.heard_invalidation(key);
                    }
                }
            }
            _ => near.flush(),
        },
        PushKind::Disconnection => near.flush(),
        _ => {}
    }
}

fn failure(failure: super::Failure) -> RedisError {
    match failure {
        super::Failure::Redis(error) => error,
        other => RedisError::from((redis::ErrorKind::Io, "the store failed", other.to_string())),
    }
}
