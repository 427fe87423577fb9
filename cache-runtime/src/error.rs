//! Configuration errors, reported at start-up.

/// A cache configuration that cannot be used. Each variant names the input and what is valid.
/// Passwords in URLs are never printed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The URL names no scheme.
    #[error("cache URL has no scheme (`scheme://`); valid: `memory://`")]
    NoScheme,
    /// The URL's scheme is not one this build serves.
    #[error(
        "cache URL scheme `{scheme}://` is not served by this build; valid: `memory://` \
         (`redis://`, `rediss://` and `redis+cluster://` need the Redis store)"
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
    /// The key prefix cannot be used.
    #[error("cache key prefix {prefix:?}: {problem}")]
    BadPrefix {
        /// The prefix given.
        prefix: String,
        /// What is wrong and what would be valid.
        problem: &'static str,
    },
}
