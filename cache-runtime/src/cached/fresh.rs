//! How usable a stored entry is now: fresh, due for an early refresh, stale but servable, or
//! gone. One read of the header decides, before the value is decoded.
//!
//! ```text
//!  created        fresh_until                       stale_until
//!     |── fresh ──────|── stale_while_revalidate ──|
//!     |   (XFetch may |── stale_if_error ───────────────────|
//!     |    refresh)   |
//! ```
//! Early expiry is XFetch (Vattani, Chierichetti, Lowenstein, VLDB 2015): a reader refreshes when
//! `now − delta·beta·ln(U) ≥ fresh_until`, with `U` uniform in (0, 1] and `delta` the measured
//! compute time, that is with probability `exp(−remaining / (beta·delta))`.

use crate::entry::EntryHeader;
use crate::CachePolicy;

/// What an entry is good for now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Judged {
    /// Past every window, or never there: compute.
    Gone,
    /// Fresh: serve it.
    Fresh,
    /// Fresh, but the early-expiry draw says refresh: serve it and refresh in the background.
    Early,
    /// Past its TTL, within `stale_while_revalidate`: serve it and refresh in the background.
    Revalidate,
    /// Past its TTL, within `stale_if_error` only: compute, and serve it if computing fails.
    Fallback,
}

impl Judged {
    /// Whether a call serves the entry without computing first.
    pub(crate) fn serves(self) -> bool {
        matches!(self, Judged::Fresh | Judged::Early | Judged::Revalidate)
    }
}

/// Judges `header` at `now` (ms since the Unix epoch) under `policy`; `draw` gives early
/// expiry's `U`, and is only called when early expiry is on and the entry is fresh.
pub(crate) fn judge(
    header: &EntryHeader,
    now: u64,
    policy: &CachePolicy,
    draw: impl FnOnce() -> f64,
) -> Judged {
    if now >= header.stale_until {
        return Judged::Gone;
    }
    if now < header.fresh_until {
        return match policy.early_expiry_beta() {
            Some(beta)
                if refreshes_early(
                    header.fresh_until - now,
                    header.compute_micros,
                    beta,
                    draw(),
                ) =>
            {
                Judged::Early
            }
            _ => Judged::Fresh,
        };
    }
    let past = now - header.fresh_until;
    let within = |window: Option<std::time::Duration>| {
        window.is_some_and(|window| u128::from(past) < window.as_millis())
    };
    if within(policy.stale_while_revalidate_window()) {
        Judged::Revalidate
    } else if within(policy.stale_if_error_window()) {
        Judged::Fallback
    } else {
        Judged::Gone
    }
}

/// XFetch's test: `−delta·beta·ln(u) ≥ remaining`, times in milliseconds.
pub(crate) fn refreshes_early(remaining_ms: u64, compute_micros: u32, beta: f64, u: f64) -> bool {
    let delta_ms = f64::from(compute_micros) / 1000.0;
    -(delta_ms * beta * u.ln()) >= remaining_ms as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Codec;
    use std::time::Duration;

    fn header(fresh_until: u64, stale_until: u64, compute_micros: u32) -> EntryHeader {
        EntryHeader {
            codec: Codec::MessagePack,
            negative: false,
            created_at: 0,
            fresh_until,
            stale_until,
            compute_micros,
            fingerprint: 0,
            tags: 0,
        }
    }

    /// Over 10⁵ seeded draws, the share of early refreshes at each remaining time is within
    /// 0.01 (more than four standard deviations at 10⁵ draws) of `exp(−remaining/(beta·delta))`.
    #[test]
    fn the_refresh_probability_follows_xfetch() {
        const DRAWS: u32 = 100_000;
        let mut rng = fastrand::Rng::with_seed(7);
        let delta_ms = 100.0;
        for beta in [0.5, 1.0, 2.0] {
            let policy = CachePolicy::from_secs(60).early_expiry(beta);
            for remaining in [1u64, 20, 50, 100, 200, 400] {
                let entry = header(1_000_000, 1_000_000, 100_000);
                let now = 1_000_000 - remaining;
                let early = (0..DRAWS)
                    .filter(|_| judge(&entry, now, &policy, || 1.0 - rng.f64()) == Judged::Early)
                    .count();
                let measured = f64::from(early as u32) / f64::from(DRAWS);
                let expected = (-(remaining as f64) / (beta * delta_ms)).exp();
                assert!(
                    (measured - expected).abs() < 0.01,
                    "beta {beta}, {remaining} ms left: measured {measured:.4}, expected {expected:.4}"
                );
            }
        }
    }

    #[test]
    fn windows_past_the_ttl() {
        let policy = CachePolicy::from_secs(10)
            .stale_while_revalidate(Duration::from_secs(5))
            .stale_if_error(Duration::from_secs(60));
        let entry = header(10_000, 70_000, 1000);
        let judged = |now| judge(&entry, now, &policy, || unreachable!("early expiry is off"));
        assert_eq!(judged(9_999), Judged::Fresh);
        assert_eq!(judged(10_000), Judged::Revalidate);
        assert_eq!(judged(14_999), Judged::Revalidate);
        assert_eq!(judged(15_000), Judged::Fallback);
        assert_eq!(judged(69_999), Judged::Fallback);
        assert_eq!(judged(70_000), Judged::Gone);
    }

    #[test]
    fn a_value_computed_instantly_never_refreshes_early() {
        let policy = CachePolicy::from_secs(10).early_expiry(1000.0);
        let entry = header(10_000, 10_000, 0);
        assert_eq!(judge(&entry, 9_999, &policy, || 1e-300), Judged::Fresh);
    }
}
