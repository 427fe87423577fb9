//! Why a store operation did not give an answer. The memory store always answers; Redis may
//! not.

use std::fmt;

#[cfg(feature = "redis")]
use crate::error::CacheErrorKind;

/// Why a command did not give a reply.
#[cfg(feature = "redis")]
#[derive(Debug)]
pub(crate) enum Failure {
    /// The circuit is open: Redis was not asked.
    CircuitOpen,
    /// No reply within the time budget.
    Timeout,
    /// Redis or the connection reported an error.
    Redis(redis::RedisError),
    /// The driver thread is not running.
    Driver,
}

/// Without Redis there is only the memory store, which always answers.
#[cfg(not(feature = "redis"))]
#[derive(Debug)]
pub(crate) enum Failure {}

#[cfg(feature = "redis")]
impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::CircuitOpen => f.write_str("Redis is skipped while its circuit is open"),
            Failure::Timeout => f.write_str("Redis did not answer in time"),
            Failure::Redis(error) => write!(f, "{error}"),
            Failure::Driver => f.write_str("the Redis driver thread is not running"),
        }
    }
}

#[cfg(feature = "redis")]
impl Failure {
    /// What a plain operation reports.
    pub(crate) fn kind(self) -> CacheErrorKind {
        match self {
            Failure::CircuitOpen => CacheErrorKind::CircuitOpen,
            Failure::Timeout => CacheErrorKind::Timeout,
            Failure::Driver => CacheErrorKind::Connection(Failure::Driver.to_string()),
            Failure::Redis(error) if error.is_timeout() => CacheErrorKind::Timeout,
            Failure::Redis(error) if is_server_reply(&error) => {
                CacheErrorKind::Server(error.to_string())
            }
            Failure::Redis(error) => CacheErrorKind::Connection(error.to_string()),
        }
    }
}

/// Whether `error` is the server's answer (a script error, `NOPERM`, `WRONGTYPE`) rather than
/// the connection's trouble.
#[cfg(feature = "redis")]
pub(super) fn is_server_reply(error: &redis::RedisError) -> bool {
    !(error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_unrecoverable_error()
        || error.is_cluster_error())
}

#[cfg(not(feature = "redis"))]
impl fmt::Display for Failure {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}
