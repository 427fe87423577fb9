//! Rate-limit policies as values, built with `const fn`s: a policy declared as a `const` is
//! checked by the compiler (a zero limit, a zero window, a burst of zero stop compilation).

use core::time::Duration;

/// The largest integer the Redis script computes with exactly (Lua numbers are doubles).
const EXACT_LIMIT: u128 = 1 << 53;

/// How admissions are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// The generic cell rate algorithm (the default): `limit` per `window` spread evenly, with up
    /// to `burst` at once after an idle spell. One timestamp per key.
    Gcra,
    /// At most `limit` in each window aligned to the clock (`[k·window, (k+1)·window)`). One
    /// counter per key; up to 2 × `limit` can pass around a window boundary.
    FixedWindow,
    /// At most `limit` in every window of length `window`, wherever it starts: exact, one
    /// timestamp per admission kept for a window.
    SlidingWindow,
}

impl Algorithm {
    /// The option value, as `#[rate_limit(algorithm = …)]` writes it.
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::Gcra => "gcra",
            Algorithm::FixedWindow => "fixed_window",
            Algorithm::SlidingWindow => "sliding_window",
        }
    }
}

/// What a check decides when the store cannot be asked (Redis down, timed out, circuit open).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailMode {
    /// Admit the call (the default): a cache outage does not become a service outage.
    Open,
    /// Reject the call with a [`RateLimited`](crate::RateLimited) whose
    /// [`is_unavailable`](crate::RateLimited::is_unavailable) is true.
    Closed,
}

/// A rate limit: `limit` calls per `window`, counted by an [`Algorithm`].
///
/// ```
/// use cache_runtime::{Algorithm, RateLimitPolicy};
/// use std::time::Duration;
///
/// pub const API: RateLimitPolicy = RateLimitPolicy::new(100, Duration::from_secs(60)).burst(10);
/// pub const EXACT: RateLimitPolicy =
///     RateLimitPolicy::per_second(5).algorithm(Algorithm::SlidingWindow);
/// assert_eq!(API.burst_size(), 10);
/// ```
///
/// ```compile_fail
/// use cache_runtime::RateLimitPolicy;
/// // error[E0080]: evaluation of constant value failed: `limit` must be at least 1
/// const BROKEN: RateLimitPolicy = RateLimitPolicy::per_second(0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RateLimitPolicy {
    limit: u64,
    window_micros: u64,
    burst: u64,
    algorithm: Algorithm,
    fail: FailMode,
}

impl RateLimitPolicy {
    /// `limit` calls per `window`, GCRA, a burst of `limit`, failing open. Panics (a compile
    /// error in a `const`) if `limit` is zero or `window` is under a microsecond.
    pub const fn new(limit: u64, window: Duration) -> Self {
        if limit == 0 {
            panic!("RateLimitPolicy: `limit` must be at least 1");
        }
        let window_micros = window.as_micros();
        if window_micros == 0 {
            panic!("RateLimitPolicy: `window` must be at least one microsecond");
        }
        if window_micros >= EXACT_LIMIT {
            panic!("RateLimitPolicy: `window` must be under 2^53 microseconds (285 years)");
        }
        RateLimitPolicy {
            limit,
            window_micros: window_micros as u64,
            burst: limit,
            algorithm: Algorithm::Gcra,
            fail: FailMode::Open,
        }
        .checked()
    }

    /// `limit` calls per second.
    pub const fn per_second(limit: u64) -> Self {
        Self::new(limit, Duration::from_secs(1))
    }

    /// GCRA only: how many calls may pass at once after an idle spell (default `limit`).
    /// Panics (a compile error in a `const`) if zero or if the algorithm is not GCRA.
    pub const fn burst(mut self, burst: u64) -> Self {
        if burst == 0 {
            panic!("RateLimitPolicy: `burst` must be at least 1");
        }
        self.burst = burst;
        self.checked()
    }

    /// The counting algorithm (default [`Algorithm::Gcra`]).
    pub const fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self.checked()
    }

    /// Rejects calls when the store cannot be asked (default: admit them).
    pub const fn fail_closed(mut self) -> Self {
        self.fail = FailMode::Closed;
        self
    }

    /// The combinations the stores compute exactly.
    const fn checked(self) -> Self {
        if !matches!(self.algorithm, Algorithm::Gcra) && self.burst != self.limit {
            panic!("RateLimitPolicy: `burst` applies to the GCRA algorithm only");
        }
        if (self.burst as u128) * (self.window_micros as u128) >= EXACT_LIMIT {
            panic!("RateLimitPolicy: `burst` × `window` must be under 2^53 microseconds");
        }
        if (self.limit as u128) >= EXACT_LIMIT {
            panic!("RateLimitPolicy: `limit` must be under 2^53");
        }
        self
    }

    /// Calls per window.
    pub const fn limit(&self) -> u64 {
        self.limit
    }

    /// The window.
    pub const fn window(&self) -> Duration {
        Duration::from_micros(self.window_micros)
    }

    pub(crate) const fn window_micros(&self) -> u64 {
        self.window_micros
    }

    /// Calls that may pass at once (GCRA); `limit` for the window algorithms.
    pub const fn burst_size(&self) -> u64 {
        self.burst
    }

    /// The counting algorithm.
    pub const fn counted_by(&self) -> Algorithm {
        self.algorithm
    }

    /// What a check decides when the store cannot be asked.
    pub const fn fail_mode(&self) -> FailMode {
        self.fail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let policy = RateLimitPolicy::new(100, Duration::from_secs(60));
        assert_eq!(policy.burst_size(), 100);
        assert_eq!(policy.counted_by(), Algorithm::Gcra);
        assert_eq!(policy.fail_mode(), FailMode::Open);
        assert_eq!(policy.window(), Duration::from_secs(60));
    }

    #[test]
    #[should_panic(expected = "`burst` applies to the GCRA algorithm only")]
    fn burst_needs_gcra() {
        let _ = RateLimitPolicy::per_second(5)
            .burst(2)
            .algorithm(Algorithm::FixedWindow);
    }
}
