//! The three algorithms as arithmetic on one key's state, in whole microseconds: what the memory
//! store runs, and what the Redis scripts ([`super::scripts`]) run on the server's clock.
//!
//! GCRA keeps the theoretical arrival time (TAT) of the next call in units of 1/`limit` µs, so
//! that the emission interval (`window / limit`) is the whole number `window_micros` and no
//! rounding ever drifts: in `t` seconds of saturation exactly `burst + ⌊t·rate⌋` calls pass.
//!
//! ```text
//! gcra:   new = max(tat, now) + W                 (all in 1/limit µs; W = window in µs)
//!         admit iff new − now ≤ burst · W;  then tat = new
//! fixed:  admit iff count in window ⌊now / W⌋ < limit
//! slide:  admit iff admissions in (now − W, now] < limit
//! ```

use std::collections::VecDeque;

use super::policy::{Algorithm, RateLimitPolicy};
use crate::store::ClientState;

/// One key's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LimitState {
    /// GCRA: the theoretical arrival time, in 1/`limit` µs since the Unix epoch, and that
    /// `limit` (a policy with another limit converts the time to its own units).
    Gcra { tat: u128, limit: u64 },
    /// Fixed window: the window's index (`now / window`) and the calls admitted in it.
    Window { index: u64, count: u64 },
    /// Sliding window: the admission times (µs) still inside the window, oldest first.
    Log(VecDeque<u64>),
}

/// What one check decided, in µs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) admitted: bool,
    pub(crate) remaining: u64,
    /// Rejections: how long until the same call would pass.
    pub(crate) retry_after: u64,
    /// How long until the full quota is back.
    pub(crate) reset_after: u64,
    /// When the state is no longer needed (µs since the epoch): past it, no state equals it.
    pub(crate) expires_at: u64,
}

/// On the memory store a key's state lives in its state map, changed in place by each check.
impl ClientState for LimitState {
    fn weight(&self) -> usize {
        match self {
            LimitState::Gcra { .. } | LimitState::Window { .. } => 16,
            LimitState::Log(times) => 8 * times.len(),
        }
    }

    fn pinned(&self) -> bool {
        false
    }

    fn boxed_clone(&self) -> Box<dyn ClientState> {
        Box::new(self.clone())
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// Checks one call at `now` (µs) against `state` (`None`: no state), updating it.
pub(crate) fn check(policy: &RateLimitPolicy, state: &mut Option<LimitState>, now: u64) -> Outcome {
    match policy.counted_by() {
        Algorithm::Gcra => gcra(policy, state, now),
        Algorithm::FixedWindow => fixed_window(policy, state, now),
        Algorithm::SlidingWindow => sliding_window(policy, state, now),
    }
}

fn gcra(policy: &RateLimitPolicy, state: &mut Option<LimitState>, now: u64) -> Outcome {
    let limit = policy.limit();
    let window = policy.window_micros();
    let tolerance = policy.burst_size() * window;
    let now_units = u128::from(now) * u128::from(limit);
    let tat = match state {
        Some(LimitState::Gcra { tat, limit: units }) if *units == limit => (*tat).max(now_units),
        // Written under another limit: the same instant in this policy's units.
        Some(LimitState::Gcra { tat, limit: units }) => {
            let micros = tat.div_ceil(u128::from((*units).max(1)));
            (micros * u128::from(limit)).max(now_units)
        }
        _ => now_units,
    };
    // How far the TAT is ahead of now: at most the tolerance, so the rest is u64 arithmetic.
    let behind = u64::try_from(tat - now_units).unwrap_or(u64::MAX);
    let ahead = behind.saturating_add(window);
    let micros_up = |units: u64| units.div_ceil(limit);
    if ahead <= tolerance {
        *state = Some(LimitState::Gcra {
            tat: tat + u128::from(window),
            limit,
        });
        Outcome {
            admitted: true,
            remaining: (tolerance - ahead) / window,
            retry_after: 0,
            reset_after: micros_up(ahead),
            expires_at: now + micros_up(ahead),
        }
    } else {
        Outcome {
            admitted: false,
            remaining: 0,
            retry_after: micros_up(ahead - tolerance),
            reset_after: micros_up(behind),
            expires_at: now.saturating_add(micros_up(behind)),
        }
    }
}

fn fixed_window(policy: &RateLimitPolicy, state: &mut Option<LimitState>, now: u64) -> Outcome {
    let window = policy.window_micros();
    let index = now / window;
    let count = match state {
        Some(LimitState::Window { index: at, count }) if *at == index => *count,
        _ => 0,
    };
    let ends = (index + 1) * window;
    let admitted = count < policy.limit();
    let count = count + u64::from(admitted);
    *state = Some(LimitState::Window { index, count });
    Outcome {
        admitted,
        // A count made under a higher limit may exceed this one.
        remaining: policy.limit().saturating_sub(count),
        retry_after: if admitted { 0 } else { ends - now },
        reset_after: ends - now,
        expires_at: ends,
    }
}

fn sliding_window(policy: &RateLimitPolicy, state: &mut Option<LimitState>, now: u64) -> Outcome {
    let window = policy.window_micros();
    if !matches!(state, Some(LimitState::Log(_))) {
        *state = Some(LimitState::Log(VecDeque::new()));
    }
    let Some(LimitState::Log(times)) = state else {
        unreachable!("set just above")
    };
    // An admission at `t` counts while `now < t + window`.
    while times.front().is_some_and(|&t| t + window <= now) {
        times.pop_front();
    }
    let admitted = (times.len() as u64) < policy.limit();
    if admitted {
        times.push_back(now);
    }
    // Under a lower limit than the log was kept for, more than one admission must leave the
    // window first: the call passes once the `limit`-th newest one has.
    let over = times
        .len()
        .saturating_sub(usize::try_from(policy.limit()).unwrap_or(usize::MAX));
    let frees = times.get(over).copied().unwrap_or(now);
    let newest = times.back().copied().unwrap_or(now);
    Outcome {
        admitted,
        remaining: policy.limit().saturating_sub(times.len() as u64),
        retry_after: if admitted { 0 } else { frees + window - now },
        reset_after: newest + window - now,
        expires_at: newest + window,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run(policy: &RateLimitPolicy, times: impl IntoIterator<Item = u64>) -> Vec<bool> {
        let mut state = None;
        times
            .into_iter()
            .map(|now| check(policy, &mut state, now).admitted)
            .collect()
    }

    #[test]
    fn gcra_burst_then_one_per_interval() {
        // 3 per 3 s with a burst of 2: 2 at once, then one per second.
        let policy = RateLimitPolicy::new(3, Duration::from_secs(3)).burst(2);
        let t0 = 1_700_000_000_000_000;
        let admitted = run(
            &policy,
            [t0, t0, t0, t0 + 999_999, t0 + 1_000_000, t0 + 1_000_000],
        );
        assert_eq!(admitted, [true, true, false, false, true, false]);
    }

    #[test]
    fn gcra_uneven_interval_does_not_drift() {
        // 3 per second (an interval of 333,333.3 µs), a burst of 2, a call every millisecond for
        // 1,000 s: exactly burst + ⌊t·rate⌋ pass. An interval rounded to a whole µs would drift.
        let policy = RateLimitPolicy::per_second(3).burst(2);
        let t0 = 1_700_000_000_000_000u64;
        let admitted = run(&policy, (0..=1_000_000u64).map(|ms| t0 + ms * 1_000));
        assert_eq!(admitted.iter().filter(|&&ok| ok).count(), 2 + 3_000);
    }

    #[test]
    fn retry_after_is_exact() {
        for policy in [
            RateLimitPolicy::new(7, Duration::from_secs(1)).burst(3),
            RateLimitPolicy::per_second(7).algorithm(Algorithm::FixedWindow),
            RateLimitPolicy::per_second(7).algorithm(Algorithm::SlidingWindow),
        ] {
            let mut state = None;
            let mut now = 1_700_000_000_123_456u64;
            for _ in 0..50 {
                let outcome = check(&policy, &mut state, now);
                if !outcome.admitted {
                    let mut probe = state.clone();
                    let early = now + outcome.retry_after - 1;
                    assert!(!check(&policy, &mut probe, early).admitted, "{policy:?}");
                    now += outcome.retry_after;
                    assert!(check(&policy, &mut state, now).admitted, "{policy:?}");
                }
                now += 17_000;
            }
        }
    }

    #[test]
    fn sliding_window_never_exceeds_the_limit_in_any_window() {
        let policy =
            RateLimitPolicy::new(5, Duration::from_millis(100)).algorithm(Algorithm::SlidingWindow);
        let times: Vec<u64> = (0..2_000u64).map(|i| i * 7_919 % 1_000_003).collect();
        let mut sorted = times.clone();
        sorted.sort_unstable();
        let admitted: Vec<u64> = sorted
            .iter()
            .zip(run(&policy, sorted.iter().copied()))
            .filter_map(|(t, ok)| ok.then_some(*t))
            .collect();
        for (i, &start) in admitted.iter().enumerate() {
            let inside = admitted[i..]
                .iter()
                .take_while(|&&t| t < start + 100_000)
                .count();
            assert!(
                inside <= 5,
                "{inside} admissions in the window from {start}"
            );
        }
    }

    #[test]
    fn fixed_window_resets_at_the_boundary() {
        let policy =
            RateLimitPolicy::new(2, Duration::from_secs(1)).algorithm(Algorithm::FixedWindow);
        let admitted = run(
            &policy,
            [
                5_000_000, 5_100_000, 5_999_999, 6_000_000, 6_000_001, 6_000_002,
            ],
        );
        assert_eq!(admitted, [true, true, false, true, true, false]);
    }
}
