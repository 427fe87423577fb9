//! Helpers shared by the behaviour tests: body-run counters and caches on a manual clock.

use std::sync::atomic::{AtomicUsize, Ordering};

pub mod proxy;
pub mod sentinels;
pub mod servers;

use std::future::Future;

use cache_runtime::{Cache, ManualClock};

/// Runs `future` to completion on a fresh single-thread runtime: the cache's async operations
/// from a plain `#[test]`.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}

/// Counts how many times a function body ran.
#[derive(Debug, Default)]
pub struct Runs(AtomicUsize);

impl Runs {
    /// A counter at zero.
    pub const fn new() -> Self {
        Runs(AtomicUsize::new(0))
    }

    /// Records one run; returns how many ran before it.
    pub fn record(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst)
    }

    /// How many runs so far.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// A memory cache whose time moves only when its clock is advanced. Give each test its own:
/// `static C: LazyLock<Clocked> = LazyLock::new(Clocked::new);` and `store = C.cache`.
#[derive(Debug)]
pub struct Clocked {
    /// The clock; `advance` it.
    pub clock: ManualClock,
    /// The cache reading it.
    pub cache: Cache,
}

impl Clocked {
    /// A fresh memory cache on a fresh manual clock.
    pub fn new() -> Self {
        Self::seeded(0)
    }

    /// The same, with early expiry's random draws from a generator seeded with `seed`.
    pub fn seeded(seed: u64) -> Self {
        let clock = ManualClock::new();
        let cache = Cache::builder()
            .clock(clock.clone())
            .random_seed(seed)
            .build()
            .expect("default configuration");
        Clocked { clock, cache }
    }
}

/// Polls `done` up to 2,000 times, 5 ms apart (10 s in all), for work running in the
/// background; panics naming `what` if it never happens.
pub fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..2_000 {
        if done() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("{what} did not happen within 10 s");
}

/// Calls `attempt` every 50 ms until it says yes, for up to 10 s; whether it did. For work in
/// the background that a test awaits (Redis coming back, a circuit closing).
pub async fn eventually_async(mut attempt: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..200 {
        if attempt().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

impl Default for Clocked {
    fn default() -> Self {
        Self::new()
    }
}
