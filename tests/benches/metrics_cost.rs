//! The cost of the `metrics` feature on a memory hit: `#[cached]` hits (plain and async, 64 hot
//! keys, `fn(u64) -> String` of 64 bytes) timed in a loop, with the feature on and a Prometheus
//! recorder installed, or with the feature off (`--no-default-features`). One run prints one
//! line per shape; `scripts/metrics-cost` alternates the two builds and compares them.
//!
//! ```text
//! cargo bench -p cache-tests --bench metrics_cost                          # feature on
//! cargo bench -p cache-tests --bench metrics_cost --no-default-features    # feature off
//! ```

use std::hint::black_box;
use std::time::Instant;

const HOT_KEYS: u64 = 64;
/// Calls per pass; `METRICS_COST_CALLS` sets another count (fewer, under callgrind).
fn calls() -> u64 {
    std::env::var("METRICS_COST_CALLS")
        .ok()
        .and_then(|calls| calls.parse().ok())
        .unwrap_or(2_000_000)
}

#[cache_runtime::cached(ttl = 600)]
async fn async_hit(id: u64) -> String {
    format!("{id:064}")
}

#[cache_runtime::cached(ttl = 600)]
fn plain_hit(id: u64) -> String {
    format!("{id:064}")
}

/// Nanoseconds per call of `call` over `CALLS` calls, the median of three passes.
fn per_call(mut call: impl FnMut(u64)) -> f64 {
    let calls = calls();
    let mut passes: Vec<f64> = (0..3)
        .map(|_| {
            let started = Instant::now();
            for i in 0..calls {
                call(i % HOT_KEYS);
            }
            started.elapsed().as_nanos() as f64 / calls as f64
        })
        .collect();
    passes.sort_by(f64::total_cmp);
    passes[1]
}

fn main() {
    #[cfg(feature = "metrics")]
    let _recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("the only recorder");
    let build = if cfg!(feature = "metrics") {
        "on"
    } else {
        "off"
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for id in 0..HOT_KEYS {
        plain_hit(id);
        runtime.block_on(async_hit(id));
    }
    let plain = per_call(|id| {
        black_box(plain_hit(black_box(id)));
    });
    let calls = calls();
    let hits = runtime.block_on(async {
        let started = Instant::now();
        for i in 0..calls {
            black_box(async_hit(black_box(i % HOT_KEYS)).await);
        }
        started.elapsed().as_nanos() as f64 / calls as f64
    });
    println!("metrics {build}: plain hit {plain:.1} ns, async hit {hits:.1} ns");
    let stats = plain_hit::stats();
    assert!(stats.hits >= 3 * calls, "{stats:?}");
}
