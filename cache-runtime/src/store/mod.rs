//! Where entries live.
//!
//! - [`MemoryStore`]: the embedded store, bounded by entries or bytes, per-entry TTL, built on
//!   `quick_cache`. It keeps values decoded (no codec on a hit) and keys on exact bytes (no
//!   digest on a hit).
//! - Redis ([`RedisConfig`]): a single node or a Cluster, over TLS or not, through one
//!   multiplexed, auto-reconnecting connection per configuration, behind a circuit breaker.

mod memory;
mod redis;
mod weight;

pub(crate) use self::redis::check_server_version;
pub(crate) use self::redis::{Failure, HeldLease, Link, RedisStore, CHANNEL};
pub use self::redis::{
    RedisConfig, RedisStats, DEFAULT_CIRCUIT_COOLDOWN, DEFAULT_CIRCUIT_FAILURES,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT, MIN_REDIS_VERSION,
};
pub(crate) use memory::{ClientState, Decoded, StoredEntry, StoredValue};
pub use memory::{MemoryBound, MemoryStore};

/// The store behind a [`crate::Cache`].
#[derive(Clone, Debug)]
pub(crate) enum Backend {
    Memory(MemoryStore),
    Redis(RedisStore),
}
