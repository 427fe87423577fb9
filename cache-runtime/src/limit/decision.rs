//! What a check decides: [`Admitted`] or [`RateLimited`], each able to render the standard
//! response headers (`RateLimit-Policy`, `RateLimit`, and `Retry-After` on a rejection), as
//! draft-ietf-httpapi-ratelimit-headers-09 writes them:
//!
//! ```text
//! RateLimit-Policy: "default";q=100;w=60
//! RateLimit: "default";r=0;t=24
//! Retry-After: 1
//! ```

use std::fmt;
use std::time::Duration;

use super::policy::RateLimitPolicy;

/// The policy's name in the headers.
const POLICY_NAME: &str = "default";

/// A call let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admitted {
    limit: u64,
    window: Duration,
    remaining: u64,
    reset_after: Duration,
}

/// A call turned away, because the limit is reached or (with [`FailMode::Closed`]) because
/// the store could not be asked. Give it to the caller: it says when to come back.
///
/// [`FailMode::Closed`]: crate::FailMode::Closed
///
/// ```
/// # use cache_runtime::{RateLimitPolicy, RateLimiter, Cache};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let limiter = RateLimiter::new(&Cache::builder().build().unwrap(), "login", RateLimitPolicy::per_second(1)).unwrap();
/// assert!(limiter.check("alice").await.is_ok());
/// let limited = limiter.check("alice").await.unwrap_err();
/// assert_eq!(limited.remaining(), 0);
/// assert!(limited.retry_after() <= std::time::Duration::from_secs(1));
/// let headers = limited.headers();
/// assert_eq!(headers[2], ("Retry-After", "1".to_string()));
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub struct RateLimited {
    limit: u64,
    window: Duration,
    remaining: u64,
    retry_after: Duration,
    reset_after: Duration,
    unavailable: bool,
}

impl Admitted {
    pub(crate) fn new(policy: &RateLimitPolicy, remaining: u64, reset_after: Duration) -> Self {
        Admitted {
            limit: policy.limit(),
            window: policy.window(),
            remaining,
            reset_after,
        }
    }

    /// Calls per window.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Calls that may still pass right now.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// How long until the full quota is back.
    pub fn reset_after(&self) -> Duration {
        self.reset_after
    }

    /// `RateLimit-Policy` and `RateLimit`, for a successful response.
    pub fn headers(&self) -> [(&'static str, String); 2] {
        [
            ("RateLimit-Policy", policy_header(self.limit, self.window)),
            ("RateLimit", limit_header(self.remaining, self.reset_after)),
        ]
    }
}

impl RateLimited {
    pub(crate) fn new(
        policy: &RateLimitPolicy,
        retry_after: Duration,
        reset_after: Duration,
    ) -> Self {
        RateLimited {
            limit: policy.limit(),
            window: policy.window(),
            remaining: 0,
            retry_after,
            reset_after: reset_after.max(retry_after),
            unavailable: false,
        }
    }

    /// The rejection of [`FailMode::Closed`](crate::FailMode::Closed) when the store cannot be
    /// asked: come back after `retry_after`.
    pub(crate) fn unavailable(policy: &RateLimitPolicy, retry_after: Duration) -> Self {
        RateLimited {
            unavailable: true,
            ..RateLimited::new(policy, retry_after, retry_after)
        }
    }

    /// Calls per window.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Calls that may still pass right now: 0.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// The earliest time from now at which the same call would be admitted (with no other
    /// traffic in between).
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }

    /// How long until the full quota is back.
    pub fn reset_after(&self) -> Duration {
        self.reset_after
    }

    /// Whether the call was turned away because the store could not be asked (fail closed),
    /// rather than because the limit was reached.
    pub fn is_unavailable(&self) -> bool {
        self.unavailable
    }

    /// `RateLimit-Policy`, `RateLimit` and `Retry-After` (whole seconds, rounded up, at least 1),
    /// for a 429 response.
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            ("RateLimit-Policy", policy_header(self.limit, self.window)),
            ("RateLimit", limit_header(self.remaining, self.reset_after)),
            (
                "Retry-After",
                whole_seconds_up(self.retry_after).max(1).to_string(),
            ),
        ]
    }
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unavailable {
            return write!(
                f,
                "rate limit not checked: its store is unavailable; retry after {:?}",
                self.retry_after
            );
        }
        write!(
            f,
            "rate limit of {} per {:?} reached; retry after {:?}",
            self.limit, self.window, self.retry_after
        )
    }
}

fn whole_seconds_up(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

fn policy_header(limit: u64, window: Duration) -> String {
    format!(
        "\"{POLICY_NAME}\";q={limit};w={}",
        whole_seconds_up(window).max(1)
    )
}

fn limit_header(remaining: u64, reset_after: Duration) -> String {
    format!(
        "\"{POLICY_NAME}\";r={remaining};t={}",
        whole_seconds_up(reset_after)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_up() {
        let policy = RateLimitPolicy::new(100, Duration::from_secs(60));
        let limited = RateLimited::new(
            &policy,
            Duration::from_millis(1),
            Duration::from_millis(23_400),
        );
        assert_eq!(
            limited.headers(),
            [
                ("RateLimit-Policy", "\"default\";q=100;w=60".to_string()),
                ("RateLimit", "\"default\";r=0;t=24".to_string()),
                ("Retry-After", "1".to_string()),
            ]
        );
        let limited = RateLimited::new(&policy, Duration::from_millis(2_001), Duration::ZERO);
        assert_eq!(limited.headers()[2].1, "3");
        assert_eq!(limited.reset_after(), Duration::from_millis(2_001));
    }
}
