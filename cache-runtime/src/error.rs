//! Errors: of configuration (at start-up) and of cache operations.

use std::fmt;

/// A cache configuration that cannot be used. Each variant names the input and what is valid.
/// Passwords in URLs are never printed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The URL names no scheme.
    #[error(
        "cache URL has no scheme (`scheme://`); valid: `memory://`, `redis://`, `rediss://`, \
         `redis+cluster://`, `rediss+cluster://`, `redis+sentinel://`, `rediss+sentinel://`"
    )]
    NoScheme,
    /// The URL's scheme is not one of the stores'.
    #[error(
        "cache URL scheme `{scheme}://` is not a store; valid: `memory://`, `redis://`, \
         `rediss://`, `redis+cluster://`, `rediss+cluster://`, `redis+sentinel://`, \
         `rediss+sentinel://`"
    )]
    UnsupportedScheme {
        /// The scheme found.
        scheme: String,
    },
    /// A URL parameter has a bad name or value.
    #[error("cache URL parameter `{name}`: {problem}")]
    BadParameter {
        /// The parameter.
        name: String,
        /// What is wrong and what would be valid.
        problem: String,
    },
    /// The store could not be set up with this configuration.
    #[error("cannot set up the store at {target}: {problem}")]
    Store {
        /// Where, without the password.
        target: String,
        /// What went wrong.
        problem: String,
    },
    /// The configuration asks for a store or a mode this build of cache-runtime leaves out.
    #[error(
        "{what} needs the `{feature}` feature of cache-runtime, which this build leaves out; \
         enable it: `cache-runtime = {{ version = \"…\", features = [\"{feature}\"] }}`"
    )]
    FeatureNotEnabled {
        /// What was asked for: a URL scheme, a builder option.
        what: String,
        /// The cargo feature that provides it.
        feature: &'static str,
    },
    /// The key prefix cannot be used.
    #[error("cache key prefix {prefix:?}: {problem}")]
    BadPrefix {
        /// The prefix given.
        prefix: String,
        /// What is wrong and what would be valid.
        problem: &'static str,
    },
}

/// A plain cache operation that failed: which operation, on which key, and why. `Clone`, so that
/// an error type holding it can be the error of a `#[cached]` function (`on_store_error = fail`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("cache `{operation}`{key} failed: {kind}", key = KeyNote(key.as_deref()))]
pub struct CacheError {
    operation: &'static str,
    key: Option<String>,
    kind: CacheErrorKind,
}

struct KeyNote<'a>(Option<&'a str>);

impl fmt::Display for KeyNote<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(key) => write!(f, " of key `{key}`"),
            None => Ok(()),
        }
    }
}

/// Why a cache operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CacheErrorKind {
    /// The store was skipped: its circuit breaker is open after repeated failures.
    #[error("the store is skipped while its circuit is open")]
    CircuitOpen,
    /// The store did not answer within its time budget.
    #[error("the store did not answer in time")]
    Timeout,
    /// The connection to the store failed.
    #[error("connection: {0}")]
    Connection(String),
    /// The store answered with an error (a wrong type, a rejected command, bad credentials).
    #[error("the store answered: {0}")]
    Server(String),
    /// The stored bytes are not a value of the requested type.
    #[error("the stored value does not decode: {0}")]
    Decode(String),
    /// The value could not be encoded.
    #[error("the value does not encode: {0}")]
    Encode(String),
    /// The stored value is not an integer (`incr`, `decr`).
    #[error("the stored value is not an integer")]
    NotAnInteger,
    /// The server is older than [`MIN_REDIS_VERSION`](crate::MIN_REDIS_VERSION) (`ping`).
    #[error("{0}")]
    UnsupportedServer(String),
    /// The key belongs to a lock or a rate limit (`lock:…{…}`, `rate:…{…}`, or it holds a NUL
    /// byte): plain operations may read it, never write it.
    #[error(
        "the key is reserved for locks and rate limits (`lock:` or `rate:` with a `{{`) or holds \
         a NUL byte; choose another key"
    )]
    ReservedKey,
    /// The counter would leave the `i64` range (`incr`, `decr`); it keeps its value.
    #[error("the result would overflow a 64-bit signed integer; the counter is unchanged")]
    Overflow,
}

impl CacheError {
    pub(crate) fn new(operation: &'static str, key: Option<&str>, kind: CacheErrorKind) -> Self {
        CacheError {
            operation,
            key: key.map(str::to_owned),
            kind,
        }
    }

    /// The same failure, reported as `operation`'s.
    pub(crate) fn with_operation(mut self, operation: &'static str) -> Self {
        self.operation = operation;
        self
    }

    /// The operation: `get`, `set`, `incr` …
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// The key, as given (without the prefix), if the operation had one.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Why it failed.
    pub fn kind(&self) -> &CacheErrorKind {
        &self.kind
    }

    /// Whether the store was down, slow or skipped (rather than answering with an error).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self.kind,
            CacheErrorKind::CircuitOpen | CacheErrorKind::Timeout | CacheErrorKind::Connection(_)
        )
    }
}
