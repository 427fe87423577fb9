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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CachePolicy {
    ttl: Duration,
    negative_ttl: Option<Duration>,
    cache_none: bool,
    cache_err: bool,
}

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
    #[should_panic(expected = "longer than `ttl`")]
    fn negative_ttl_longer_than_ttl_is_refused() {
        let _ = CachePolicy::from_secs(5)
            .cache_err()
            .negative_ttl(Duration::from_secs(6));
    }
}
