//! Open-loop load: requests start on a schedule, whatever the earlier ones are doing, so a slow
//! expiry shows up as latency and recomputes instead of as a lower request rate.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::variants::{unix_millis, Variant, BODY_STARTS, CACHE, DELTA_MS};

/// What one process saw in one run.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Report {
    /// Per request: when it started (ms since the Unix epoch) and its latency (µs).
    pub requests: Vec<(u64, u64)>,
    /// When each body run started, ms since the Unix epoch.
    pub body_starts: Vec<u64>,
    /// Requests that did not get a stored value at once.
    pub waited: u64,
}

/// Runs `variant` at `rate` requests per second for `duration`, after one warm-up call.
pub async fn run(variant: Variant, rate: f64, delta_ms: u64, duration: Duration) -> Report {
    DELTA_MS.store(delta_ms, Relaxed);
    let cache = CACHE.get().expect("cache set");
    let _ = cache.delete(variant.key()).await;
    variant.call().await;
    BODY_STARTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
    let waited_before = variant.waited();

    let requests = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut due = 0.0;
    while started.elapsed() < duration {
        ticker.tick().await;
        // Requests due by now, spread over the ticks.
        due += rate / 1000.0;
        while due >= 1.0 {
            due -= 1.0;
            let requests = requests.clone();
            tasks.push(tokio::spawn(async move {
                let (at, begun) = (unix_millis(), Instant::now());
                variant.call().await;
                let micros = begun.elapsed().as_micros() as u64;
                requests
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((at, micros));
            }));
        }
    }
    for task in tasks {
        let _ = task.await;
    }
    let requests = std::mem::take(&mut *requests.lock().unwrap_or_else(PoisonError::into_inner));
    let body_starts =
        std::mem::take(&mut *BODY_STARTS.lock().unwrap_or_else(PoisonError::into_inner));
    Report {
        requests,
        body_starts,
        waited: variant.waited() - waited_before,
    }
}
