//! Cache policies as values.
//!
//! A [`CachePolicy`] is built with `const fn`s, so a policy declared as a `const` is checked by
//! the compiler: a zero TTL or a `negative_ttl` longer than the TTL stops compilation.
//!
//! ```
//! use cache_runtime::CachePolicy;
//! use std::time::Duration;
//!
//! pub const USERS: CachePolicy = CachePolicy::new(Duration::from_secs(600))
//!     .cache_none()
//!     .negative_ttl(Duration::from_secs(30));
//!
//! assert_eq!(USERS.ttl_for(true), Duration::from_secs(30));
//! ```
//!
//! ```compile_fail
//! use cache_runtime::CachePolicy;
//! // error[E0080]: evaluation of constant value failed: `ttl` must be greater than zero
//! const BROKEN: CachePolicy = CachePolicy::from_secs(0);
//! ```

use core::time::Duration;

/// How long results are kept, and which results are kept at all.
///
/// By default only `Some` / `Ok` results are stored; [`cache_none`](Self::cache_none) and
/// [`cache_err`](Self::cache_err) store `None` / `Err` too, for
/// [`negative_ttl`](Self::negative_ttl) when one is given.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CachePolicy {
    ttl: Duration,
    negative_ttl: Option<Duration>,
    cache_none: bool,
    cache_err: bool,
    early_expiry: Option<f64>,
    stale_while_revalidate: Option<Duration>,
    stale_if_error: Option<Duration>,
    lock_on_miss: Option<Duration>,
}

/// The longest wait of [`CachePolicy::lock_on_miss`] when none is given (`#[cached(lock_on_miss)]`).
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(3);

/// The `beta` of [`CachePolicy::early_expiry`] when none is given (`#[cached(early_expiry)]`).
pub const DEFAULT_BETA: f64 = 1.0;

impl CachePolicy {
    /// A policy keeping results for `ttl`. Panics (a compile error in a `const`) if `ttl` is zero.
    ///
    /// ```
    /// # use cache_runtime::CachePolicy;
    /// const P: CachePolicy = CachePolicy::new(std::time::Duration::from_millis(250));
    /// ```
    pub const fn new(ttl: Duration) -> Self {
        if ttl.is_zero() {
            panic!("CachePolicy: `ttl` must be greater than zero");
        }
        CachePolicy {
            ttl,
            negative_ttl: None,
            cache_none: false,
            cache_err: false,
            early_expiry: None,
            stale_while_revalidate: None,
            stale_if_error: None,
            lock_on_miss: None,
        }
    }

    /// [`CachePolicy::new`] with the TTL in whole seconds.
    ///
    /// ```
    /// # use cache_runtime::CachePolicy;
    /// const P: CachePolicy = CachePolicy::from_secs(600);
    /// ```
    pub const fn from_secs(secs: u64) -> Self {
        Self::new(Duration::from_secs(secs))
    }

    /// Store `None` results too (for functions returning `Option`).
    ///
    /// ```
    /// # use cache_runtime::CachePolicy;
    /// const P: CachePolicy = CachePolicy::from_secs(60).cache_none();
    /// ```
    pub const fn cache_none(mut self) -> Self {
        self.cache_none = true;
        self
    }

    /// Store `Err` results too (for functions returning `Result`).
    ///
    /// ```
    /// # use cache_runtime::CachePolicy;
    /// const P: CachePolicy = CachePolicy::from_secs(60).cache_err();
    /// ```
    pub const fn cache_err(mut self) -> Self {
        self.cache_err = true;
        self
    }

    /// Keep `None` / `Err` results for this shorter time. Panics (a compile error in a `const`)
    /// if it is zero, longer than the TTL, or given without `cache_none` / `cache_err`.
    ///
    /// ```
    /// # use cache_runtime::CachePolicy;
    /// # use std::time::Duration;
    /// const P: CachePolicy = CachePolicy::from_secs(60).cache_err().negative_ttl(Duration::from_secs(5));
    /// ```
    pub const fn negative_ttl(mut self, negative_ttl: Duration) -> Self {
        if negative_ttl.is_zero() {
            panic!("CachePolicy: `negative_ttl` must be greater than zero");
        }
        if negative_ttl.as_nanos() > self.ttl.as_nanos() {
            panic!("CachePolicy: `negative_ttl` must not be longer than `ttl`");
        }
        if !self.cache_none && !self.cache_err {
            panic!("CachePolicy: `negative_ttl` needs `cache_none()` or `cache_err()` first");
        }
        self.negative_ttl = Some(negative_ttl);
        self
    }

    /// Early expiry (XFetch, Vattani et al., VLDB 2015): a hit refreshes the entry in the
    /// background with a probability that rises as expiry nears, `exp(-remaining / (beta ·
    /// delta))`, where `delta` is the measured compute time of the stored value. A larger `beta`
    /// refreshes earlier ([`DEFAULT_BETA`] is 1.0). Panics (a compile error in a `const`) unless
    /// `beta` is a finite number greater than zero.
    ///
    /// ```
    /// # use cache_runtime::CachePolicy;
    /// const P: CachePolicy = CachePolicy::from_secs(60).early_expiry(2.0);
    /// ```
    pub const fn early_expiry(mut self, beta: f64) -> Self {
        if !(beta > 0.0 && beta.is_finite()) {
            panic!("CachePolicy: `early_expiry` (beta) must be a finite number greater than zero");
        }
        self.early_expiry = Some(beta);
        self
    }

    /// Past its TTL, an entry is served for this long more while one background refresh runs.
    /// Panics (a compile error in a `const`) if it is zero.
    ///
    /// ```
    /// # use cache_runtime::CachePolicy;
    /// # use std::time::Duration;
    /// const P: CachePolicy = CachePolicy::from_secs(60).stale_while_revalidate(Duration::from_secs(60));
    /// ```
    pub const fn stale_while_revalidate(mut self, window: Duration) -> Self {
        if window.is_zero() {
            panic!("CachePolicy: `stale_while_revalidate` must be greater than zero");
        }
        self.stale_while_revalidate = Some(window);
        self
    }

    /// Past its TTL, an entry is kept this long more and returned when the function fails (returns
    /// `Err`, or panics). Panics (a compile error in a `const`) if it is zero.
    ///
    /// ```
    /// # use cache_runtime::CachePolicy;
    /// # use std::time::Duration;
    /// const P: CachePolicy = CachePolicy::from_secs(60).stale_if_error(Duration::from_secs(3600));
    /// ```
    pub const fn stale_if_error(mut self, window: Duration) -> Self {
        if window.is_zero() {
            panic!("CachePolicy: `stale_if_error` must be greater than zero");
        }
        self.stale_if_error = Some(window);
        self
    }

    /// On Redis, one caller across all processes computes a missing key under a short lease lock;
    /// the others wait up to `longest_wait` for its value, then compute themselves. The lease
    /// lasts `longest_wait` too, so a holder that crashed holds nobody up for longer. Panics (a
    /// compile error in a `const`) if it is zero.
    ///
    /// ```
    /// # use cache_runtime::CachePolicy;
    /// # use std::time::Duration;
    /// const P: CachePolicy = CachePolicy::from_secs(60).lock_on_miss(Duration::from_secs(3));
    /// ```
    pub const fn lock_on_miss(mut self, longest_wait: Duration) -> Self {
        if longest_wait.is_zero() {
            panic!("CachePolicy: `lock_on_miss` must be greater than zero");
        }
        self.lock_on_miss = Some(longest_wait);
        self
    }

    /// The `beta` of early expiry, if it is on.
    pub const fn early_expiry_beta(&self) -> Option<f64> {
        self.early_expiry
    }

    /// The stale-while-revalidate window, if any.
    pub const fn stale_while_revalidate_window(&self) -> Option<Duration> {
        self.stale_while_revalidate
    }

    /// The stale-if-error window, if any.
    pub const fn stale_if_error_window(&self) -> Option<Duration> {
        self.stale_if_error
    }

    /// The longest wait (and lease) of the lock on a miss, if it is on.
    pub const fn lock_on_miss_wait(&self) -> Option<Duration> {
        self.lock_on_miss
    }

    /// The longest an entry of this policy is kept: its TTL and the longer stale window.
    pub const fn lifetime(&self) -> Duration {
        self.ttl.saturating_add(self.stale_window())
    }

    /// How long an entry is kept past its TTL: the longer of the two stale windows.
    pub const fn stale_window(&self) -> Duration {
        match (self.stale_while_revalidate, self.stale_if_error) {
            (Some(a), Some(b)) if a.as_nanos() > b.as_nanos() => a,
            (_, Some(b)) => b,
            (Some(a), None) => a,
            (None, None) => Duration::ZERO,
        }
    }

    /// The time a stored result stays fresh.
    pub const fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The time a stored `None` / `Err` stays fresh: `negative_ttl`, or else the TTL.
    pub const fn ttl_for(&self, negative: bool) -> Duration {
        match (negative, self.negative_ttl) {
            (true, Some(negative_ttl)) => negative_ttl,
            _ => self.ttl,
        }
    }

    /// Whether `None` results are stored.
    pub const fn caches_none(&self) -> bool {
        self.cache_none
    }

    /// Whether `Err` results are stored.
    pub const fn caches_err(&self) -> bool {
        self.cache_err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_ttl_applies_only_to_negative_results() {
        const P: CachePolicy = CachePolicy::from_secs(60)
            .cache_none()
            .negative_ttl(Duration::from_secs(5));
        assert_eq!(P.ttl_for(false), Duration::from_secs(60));
        assert_eq!(P.ttl_for(true), Duration::from_secs(5));
        assert!(P.caches_none() && !P.caches_err());
    }

    #[test]
    fn the_stale_window_is_the_longer_one() {
        const P: CachePolicy = CachePolicy::from_secs(60)
            .stale_while_revalidate(Duration::from_secs(5))
            .stale_if_error(Duration::from_secs(50));
        assert_eq!(P.stale_window(), Duration::from_secs(50));
        assert_eq!(CachePolicy::from_secs(1).stale_window(), Duration::ZERO);
    }

    #[test]
    #[should_panic(expected = "finite number greater than zero")]
    fn beta_must_be_positive() {
        let _ = CachePolicy::from_secs(5).early_expiry(f64::NAN);
    }

    #[test]
    #[should_panic(expected = "longer than `ttl`")]
    fn negative_ttl_longer_than_ttl_is_refused() {
        let _ = CachePolicy::from_secs(5)
            .cache_err()
            .negative_ttl(Duration::from_secs(6));
    }
}
