//! The namespaces of internal state under a cache's prefix, kept apart from cached entries and
//! plain keys by construction.
//!
//! ```text
//! {prefix}:lock:{order:42}          a lock (the braces are a hash tag)
//! {prefix}:lock:{order:42}:fence    its fencing counter
//! {prefix}:rate:app::create:{7}     a rate limit's state (the rendered key is the hash tag)
//! {prefix}:tag:{user:42}            the version of a `#[cached]` tag
//! {prefix}:user:42\0lock            the lease of `lock_on_miss` on the entry `user:42`
//! ```
//!
//! Every lock, rate-limit and tag key holds a `{`, which no key template renders (literal braces
//! are placeholder syntax and values are escaped), so a `#[cached]` key never lands on one. A
//! plain operation may not write a key that [`is_reserved`] or that holds a NUL byte, and
//! `clear()` leaves them all in place.

use super::canonical::Sink;
use super::text;

/// Locks: `{prefix}:lock:{…}`.
pub(crate) const LOCK: &str = "lock:";
/// Rate limits: `{prefix}:rate:…:{…}`.
pub(crate) const RATE: &str = "rate:";
/// Tag versions: `{prefix}:tag:{…}`.
pub(crate) const TAG: &str = "tag:";
/// What ends the lease key of `lock_on_miss` after the entry's key.
pub(crate) const LEASE_SUFFIX: &str = "\0lock";

/// Whether `key` (after the prefix and its `:`) is internal state: a lock, a fencing counter, a
/// rate limit's state, a tag's version or a lease.
pub(crate) fn is_reserved(key: &[u8]) -> bool {
    let namespaced = [LOCK, RATE, TAG]
        .iter()
        .any(|namespace| key.starts_with(namespace.as_bytes()));
    (namespaced && key.contains(&b'{')) || key.ends_with(LEASE_SUFFIX.as_bytes())
}

/// Appends `value` escaped as a key template escapes a placeholder's string value, so that the
/// plain [`Locks`](crate::Locks) and [`RateLimiter`](crate::RateLimiter) name a resource exactly
/// as the attributes do.
pub(crate) fn put_escaped<S: Sink + text::Truncate>(out: &mut S, value: &str) {
    // A `str` is a scalar: rendering it cannot fail.
    let _ = text::render(value, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_keys() {
        for key in [
            &b"lock:{order:42}"[..],
            b"lock:{order:42}:fence",
            b"rate:app::f:{7}",
            b"user:42\0lock",
            b"tag:{user:42}",
        ] {
            assert!(is_reserved(key), "{key:?}");
        }
        for key in [
            &b"lock"[..],
            b"lock:42",
            b"rate:42",
            b"user:{",
            b"locks:{x}",
        ] {
            assert!(!is_reserved(key), "{key:?}");
        }
    }
}
