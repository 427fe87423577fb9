//! Tags and batch loading on Redis, side by side in one run, on a server this bench starts:
//!
//! - a hit of a function with two tags (one `MGET` of the entry and both versions) vs the same
//!   function without tags (one `GET`): 7 interleaved rounds of sequential hits;
//! - 100 ids of which 10 miss: one batch call (one `MGET`, 10 `SET`s) vs 100 calls of the
//!   single-id function on the same keys, awaited one after another and all at once.
//!
//! Prints min / median / max of the rounds, the ratio per round, and the commands each sent
//! (`INFO commandstats`).
//!
//! ```text
//! cargo bench -p cache-tests --bench tags_batch
//! ```

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Instant;

use cache_runtime::{cached, Cache};
use cache_tests::servers::{command_counts, command_delta, RedisServer, ServerOptions};

const ROUNDS: usize = 7;
const HITS: u64 = 2_000;
const BLOCK: u64 = 100;
const HOT: u64 = 64;

static CACHE: OnceLock<Cache> = OnceLock::new();

fn cache() -> &'static Cache {
    CACHE.get().expect("set in main")
}

fn value(id: u64) -> String {
    format!("{id:0>64}")
}

#[cached(ttl = 600, key = "plain:{id}:{org}", store = cache())]
async fn untagged(id: u64, org: u64) -> String {
    value(id + org)
}

#[cached(ttl = 600, key = "tagged:{id}:{org}", tags = ["user:{id}", "org:{org}"], store = cache())]
async fn tagged(id: u64, org: u64) -> String {
    value(id + org)
}

static MEMORY: std::sync::LazyLock<Cache> =
    std::sync::LazyLock::new(|| Cache::builder().build().unwrap());

#[cached(ttl = 600, key = "plain:{id}:{org}", store = MEMORY)]
fn untagged_in_memory(id: u64, org: u64) -> String {
    value(id + org)
}

#[cached(ttl = 600, key = "tagged:{id}:{org}", tags = ["user:{id}", "org:{org}"], store = MEMORY)]
fn tagged_in_memory(id: u64, org: u64) -> String {
    value(id + org)
}

/// Nanoseconds per hit of `call` over `n` hits of the hot keys.
fn per_hit_ns(n: u64, call: fn(u64, u64) -> String) -> f64 {
    let started = Instant::now();
    for i in 0..n {
        std::hint::black_box(call(i % HOT, i % HOT % 4));
    }
    started.elapsed().as_secs_f64() * 1e9 / n as f64
}

#[cached(ttl = 600, key = "user:{id}", store = cache())]
async fn user(id: u64) -> String {
    value(id)
}

#[cached(ttl = 600, key = "user:{id}", batch = ids, store = cache())]
async fn users(ids: Vec<u64>) -> HashMap<u64, String> {
    ids.into_iter().map(|id| (id, value(id))).collect()
}

fn spread(values: &[f64], unit: &str) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (min, median, max) = (
        sorted[0],
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1],
    );
    format!("{min:.1} / {median:.1} / {max:.1} {unit}")
}

fn ratios(ours: &[f64], base: &[f64]) -> Vec<f64> {
    ours.iter().zip(base).map(|(a, b)| a / b).collect()
}

/// Microseconds per call of `call` over `n` sequential calls.
async fn per_call<F: AsyncFn(u64)>(n: u64, call: F) -> f64 {
    let started = Instant::now();
    for i in 0..n {
        call(i).await;
    }
    started.elapsed().as_secs_f64() * 1e6 / n as f64
}

fn main() {
    let server = RedisServer::start(ServerOptions::default());
    CACHE.set(Cache::from_url(&server.url()).unwrap()).unwrap();
    let mut raw = server.raw();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Warm: every hot key stored, both ways.
        for i in 0..HOT {
            untagged(i, i % 4).await;
            tagged(i, i % 4).await;
        }
        let before = command_counts(&mut raw);
        per_call(HOT, async |i| drop(untagged(i, i % 4).await)).await;
        let untagged_sent = command_delta(&before, &command_counts(&mut raw));
        let before = command_counts(&mut raw);
        per_call(HOT, async |i| drop(tagged(i, i % 4).await)).await;
        let tagged_sent = command_delta(&before, &command_counts(&mut raw));

        // Each round alternates blocks of 100 hits of each, so that both see the same machine.
        let (mut plain, mut with_tags) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let (mut a, mut b) = (0.0, 0.0);
            for _ in 0..HITS / BLOCK {
                a += per_call(BLOCK, async |i| drop(untagged(i % HOT, i % HOT % 4).await)).await;
                b += per_call(BLOCK, async |i| drop(tagged(i % HOT, i % HOT % 4).await)).await;
            }
            plain.push(a / (HITS / BLOCK) as f64);
            with_tags.push(b / (HITS / BLOCK) as f64);
        }
        println!("## A hit with two tags vs without (Redis, sequential, {HITS} hits per round)\n");
        println!("| | hit (min / median / max of {ROUNDS} rounds) | commands for {HOT} hits |");
        println!("| --- | --- | --- |");
        println!(
            "| untagged | {} | {untagged_sent:?} |",
            spread(&plain, "µs")
        );
        println!(
            "| two tags | {} | {tagged_sent:?} |",
            spread(&with_tags, "µs")
        );
        println!(
            "| ratio per round | {} | goal ≤ 1.2× |\n",
            spread(&ratios(&with_tags, &plain), "×")
        );

        // The same on the memory store, where the tags' cost is not hidden by a round trip.
        let (mut plain, mut with_tags) = (Vec::new(), Vec::new());
        per_hit_ns(HOT, untagged_in_memory);
        per_hit_ns(HOT, tagged_in_memory);
        for _ in 0..ROUNDS {
            plain.push(per_hit_ns(200_000, untagged_in_memory));
            with_tags.push(per_hit_ns(200_000, tagged_in_memory));
        }
        println!("## The same on the memory store (plain fn, 200,000 hits per round)\n");
        println!("| | hit (min / median / max of {ROUNDS} rounds) |");
        println!("| --- | --- |");
        println!("| untagged | {} |", spread(&plain, "ns"));
        println!("| two tags | {} |", spread(&with_tags, "ns"));
        println!(
            "| ratio per round | {} |\n",
            spread(&ratios(&with_tags, &plain), "×")
        );

        // 100 ids, 10 of which miss each round (invalidated first).
        let ids: Vec<u64> = (1_000..1_100).collect();
        users(ids.clone()).await;
        let invalidate_ten = async |round: usize| {
            for id in ids.iter().skip(round % 10).step_by(10) {
                users::invalidate(id).await;
            }
        };
        invalidate_ten(0).await;
        let before = command_counts(&mut raw);
        assert_eq!(users(ids.clone()).await.len(), 100);
        let batch_sent = command_delta(&before, &command_counts(&mut raw));
        invalidate_ten(0).await;
        let before = command_counts(&mut raw);
        for id in &ids {
            user(*id).await;
        }
        let singles_sent = command_delta(&before, &command_counts(&mut raw));

        let (mut batch, mut sequential, mut concurrent) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            invalidate_ten(round).await;
            let started = Instant::now();
            std::hint::black_box(users(ids.clone()).await);
            batch.push(started.elapsed().as_secs_f64() * 1e6);
            invalidate_ten(round + 1).await;
            let started = Instant::now();
            for id in &ids {
                std::hint::black_box(user(*id).await);
            }
            sequential.push(started.elapsed().as_secs_f64() * 1e6);
            invalidate_ten(round + 2).await;
            let started = Instant::now();
            let calls = ids.iter().map(|id| user(*id));
            std::hint::black_box(futures_util::future::join_all(calls).await);
            concurrent.push(started.elapsed().as_secs_f64() * 1e6);
        }
        println!("## 100 ids, 10 missing: one batch vs 100 single calls (Redis)\n");
        println!("| | time (min / median / max of {ROUNDS} rounds) | commands |");
        println!("| --- | --- | --- |");
        println!(
            "| `users(ids)` (batch) | {} | {batch_sent:?} |",
            spread(&batch, "µs")
        );
        println!(
            "| 100 × `user(id)`, one after another | {} | {singles_sent:?} |",
            spread(&sequential, "µs")
        );
        println!(
            "| 100 × `user(id)`, all at once | {} | as above |",
            spread(&concurrent, "µs")
        );
        println!(
            "| sequential ÷ batch, per round | {} | |",
            spread(&ratios(&sequential, &batch), "×")
        );
        println!(
            "| all at once ÷ batch, per round | {} | |",
            spread(&ratios(&concurrent, &batch), "×")
        );
    });
}
