//! `on_limit = wait`: a call over the limit waits for its turn, up to `max_wait`, and is turned
//! away at once when its turn lies further out.

use cache_runtime::{rate_limit, RateLimited};
use cache_tests::Runs;

static PACED_RUNS: Runs = Runs::new();

#[derive(Debug)]
struct Busy(RateLimited);

impl From<RateLimited> for Busy {
    fn from(limited: RateLimited) -> Self {
        Busy(limited)
    }
}

/// 20 per second, one at a time: 5 calls at once take about 200 ms in all.
#[rate_limit(limit = 20, window = 1, burst = 1, on_limit = wait, max_wait = "2s")]
async fn paced(n: u32) -> Result<u32, Busy> {
    PACED_RUNS.record();
    Ok(n)
}

#[rate_limit(limit = 1, window = 60, on_limit = wait, max_wait = "100ms")]
async fn hourly() -> Result<(), Busy> {
    Ok(())
}

fn stats_of(name: &str) -> cache_runtime::LimitStats {
    cache_runtime::limit_stats()
        .into_iter()
        .find(|stats| stats.name.ends_with(name))
        .expect("registered")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_over_the_limit_wait_their_turn() {
    let calls: Vec<_> = (0..5).map(|n| tokio::spawn(paced(n))).collect();
    for call in calls {
        assert!(call.await.unwrap().is_ok());
    }
    assert_eq!(PACED_RUNS.count(), 5);
    let stats = stats_of("::paced");
    assert_eq!((stats.admitted, stats.limited), (5, 0));
    assert!(stats.waited >= 4, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_past_max_wait_is_turned_away_at_once() {
    assert!(hourly().await.is_ok());
    let Busy(limited) = hourly().await.unwrap_err();
    assert!(limited.retry_after().as_secs() >= 59, "{limited:?}");
    let stats = stats_of("::hourly");
    assert_eq!((stats.admitted, stats.limited, stats.waited), (1, 1, 0));
}
