//! Rate limits: `#[rate_limit(limit = 100, window = 60, key = "{user_id}")]` and the plain
//! [`RateLimiter`].
//!
//! - [`policy`]: the limit as a `const`-checked value, and the algorithm (GCRA by default).
//! - [`state`]: each algorithm as integer arithmetic on one key's state (the memory store).
//! - [`scripts`]: the same on Redis, one atomic script per check on the server's clock.
//! - [`limiter`]: a check against the store, its decision ([`decision`]) and counters.

mod decision;
mod limiter;
mod policy;
#[cfg(feature = "redis")]
mod scripts;
mod state;
mod stats;

pub use decision::{Admitted, RateLimited};
pub use limiter::RateLimiter;
pub use policy::{Algorithm, FailMode, RateLimitPolicy};
pub use stats::{limit_stats, LimitStats};

pub(crate) use limiter::{check, count, unchecked, wait};
#[cfg(feature = "redis")]
pub(crate) use scripts::text as script_text;
pub use stats::LimitCounters;
