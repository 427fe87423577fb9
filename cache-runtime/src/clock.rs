//! Where a [`Cache`](crate::Cache) reads the time.
//!
//! Entries carry wall-clock times (milliseconds since the Unix epoch) so that any process reading
//! them agrees on freshness. On every hit the system clock is read coarsely: the kernel's coarse
//! monotonic clock (through `coarsetime`, a few ns instead of ~25 for a precise read) plus the
//! wall-clock offset taken once at start-up. Expiry is exact to one clock tick (1–4 ms), and a
//! wall-clock jump after start-up does not expire or revive entries in this process.
//!
//! Tests install a [`ManualClock`] on one `Cache` and move it by hand: no global, no sleeping.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `now + wait`, or a time decades away when that does not fit in an `Instant` (a wait of
/// `Duration::MAX` means "no limit", never a panic).
pub(crate) fn deadline_after(wait: Duration) -> std::time::Instant {
    const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 3600);
    let now = std::time::Instant::now();
    now.checked_add(wait)
        .or_else(|| now.checked_add(FAR))
        .unwrap_or(now)
}

/// A clock that only moves when told to: the test hook for TTL and expiry logic.
///
/// ```
/// use cache_runtime::{Cache, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let cache = Cache::builder().clock(clock.clone()).build().unwrap();
/// clock.advance(Duration::from_secs(61));
/// # drop(cache);
/// ```
#[derive(Clone, Default)]
pub struct ManualClock {
    micros: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at the current wall-clock time.
    pub fn new() -> Self {
        let clock = ManualClock::default();
        clock.micros.store(system_micros(), Ordering::Relaxed);
        clock
    }

    /// Moves the clock forward (to the microsecond).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_micros()).unwrap_or(u64::MAX);
        self.micros.fetch_add(by, Ordering::Relaxed);
    }

    /// The time it shows, in milliseconds since the Unix epoch.
    pub fn now_millis(&self) -> u64 {
        self.now_micros() / 1_000
    }

    /// The time it shows, in microseconds since the Unix epoch.
    pub fn now_micros(&self) -> u64 {
        self.micros.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("micros", &self.now_micros())
            .finish()
    }
}

/// The clock of one `Cache`: the system's, or a manual one.
#[derive(Clone, Debug, Default)]
pub(crate) enum Clock {
    #[default]
    System,
    Manual(ManualClock),
}

impl Clock {
    pub(crate) fn now_millis(&self) -> u64 {
        match self {
            Clock::System => coarse_millis(),
            Clock::Manual(clock) => clock.now_millis(),
        }
    }

    /// A precise reading in microseconds since the Unix epoch, for rate limits: the TSC-based
    /// monotonic clock of `quanta` (not the coarse one) plus the wall-clock offset taken once.
    pub(crate) fn now_micros(&self) -> u64 {
        match self {
            Clock::System => precise_micros(),
            Clock::Manual(clock) => clock.now_micros(),
        }
    }
}

fn precise_micros() -> u64 {
    static START: LazyLock<(quanta::Instant, u64)> =
        LazyLock::new(|| (quanta::Instant::now(), system_micros()));
    let (start, start_micros) = *START;
    let elapsed = quanta::Instant::now().saturating_duration_since(start);
    start_micros.saturating_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX))
}

#[cfg(feature = "redis")]
/// Milliseconds on the coarse monotonic clock since the process first asked, never zero: for
/// intervals that a wall-clock step must not stretch or shrink (the near cache's health).
pub(crate) fn monotonic_millis() -> u64 {
    static START: LazyLock<coarsetime::Instant> =
        LazyLock::new(coarsetime::Instant::now_without_cache_update);
    coarsetime::Instant::now_without_cache_update()
        .duration_since(*START)
        .as_millis()
        .saturating_add(1)
}

/// Wall-clock milliseconds from the coarse monotonic clock.
fn coarse_millis() -> u64 {
    static START: LazyLock<(coarsetime::Instant, u64)> = LazyLock::new(|| {
        (
            coarsetime::Instant::now_without_cache_update(),
            system_millis(),
        )
    });
    let (start, start_millis) = *START;
    let elapsed = coarsetime::Instant::now_without_cache_update().duration_since(start);
    start_millis.saturating_add(elapsed.as_millis())
}

fn system_millis() -> u64 {
    system_micros() / 1_000
}

fn system_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
        })
}
