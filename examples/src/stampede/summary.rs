//! From raw reports to the table's figures: expiries, recomputes, and latency around expiries
//! against steady state.

use crate::load::Report;

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub requests: usize,
    pub expiries: usize,
    pub recomputes_per_expiry: f64,
    pub waited_per_expiry: f64,
    pub steady: Percentiles,
    pub boundary: Percentiles,
    pub commands_per_request: Option<f64>,
}

/// Latency percentiles, µs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
}

fn percentiles(mut latencies: Vec<u64>) -> Percentiles {
    latencies.sort_unstable();
    let at = |q: f64| {
        let index = ((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1);
        latencies.get(index).copied().unwrap_or(0)
    };
    Percentiles {
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
    }
}

/// Merges the reports of every process of one run. An expiry is a group of body runs that
/// start within `2·delta` of each other; the boundary window is `2·delta` either side of its
/// first run.
pub fn summarize(reports: &[Report], delta_ms: u64, commands: Option<u64>) -> Row {
    let mut starts: Vec<u64> = reports.iter().flat_map(|r| r.body_starts.clone()).collect();
    starts.sort_unstable();
    let mut expiries: Vec<u64> = Vec::new();
    for start in &starts {
        if expiries
            .last()
            .is_none_or(|first| start - first > 2 * delta_ms)
        {
            expiries.push(*start);
        }
    }
    let near = |at: u64| {
        expiries
            .iter()
            .any(|&e| at + 2 * delta_ms >= e && at <= e + 2 * delta_ms)
    };
    let (mut steady, mut boundary) = (Vec::new(), Vec::new());
    for &(at, micros) in reports.iter().flat_map(|r| r.requests.iter()) {
        match near(at) {
            true => boundary.push(micros),
            false => steady.push(micros),
        }
    }
    let requests = steady.len() + boundary.len();
    let per_expiry = |n: f64| n / expiries.len().max(1) as f64;
    let waited: u64 = reports.iter().map(|r| r.waited).sum();
    Row {
        requests,
        expiries: expiries.len(),
        recomputes_per_expiry: per_expiry(starts.len() as f64),
        waited_per_expiry: per_expiry(waited as f64),
        steady: percentiles(steady),
        boundary: percentiles(boundary),
        commands_per_request: commands.map(|c| c as f64 / requests.max(1) as f64),
    }
}
