//! Where entries live.
//!
//! - [`MemoryStore`]: the embedded store, bounded by entries or bytes, per-entry TTL, built on
//!   `quick_cache`'s single-threaded cache in shards (`shards.rs`: a hit writes nothing another
//!   thread reads). It keeps values decoded (no codec on a hit) and keys on exact bytes (no
//!   digest on a hit).
//! - Redis (`RedisConfig`, feature `redis`): a single node or a Cluster (feature `cluster`),
//!   over TLS or not (feature `tls`), through one multiplexed, auto-reconnecting connection per
//!   configuration, behind a circuit breaker.

mod failure;
mod lease;
mod memory;
#[cfg(feature = "redis")]
mod redis;
mod shards;
mod weight;

#[cfg(feature = "redis")]
pub(crate) use self::redis::check_server_version;
#[cfg(feature = "redis")]
pub(crate) use self::redis::{scan as redis_scan, tracking::track, RedisStore, CHANNEL};
#[cfg(feature = "redis")]
pub use self::redis::{
    RedisConfig, RedisStats, DEFAULT_CIRCUIT_COOLDOWN, DEFAULT_CIRCUIT_FAILURES,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT, MIN_REDIS_VERSION,
};
pub(crate) use failure::Failure;
pub(crate) use lease::{Fence, Lease, EXTEND_SOURCE, RELEASE_SOURCE};
pub(crate) use memory::{ClientState, Decoded, StoredEntry, StoredValue};
pub use memory::{MemoryBound, MemoryStore};

/// The store behind a [`crate::Cache`].
#[derive(Clone, Debug)]
pub(crate) enum Backend {
    Memory(MemoryStore),
    #[cfg(feature = "redis")]
    Redis(RedisStore),
}
