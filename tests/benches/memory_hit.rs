//! Hit and miss cost on the embedded store, side by side in one run (async and plain hits,
//! async and plain misses, and a recursive plain `fn` whose every level misses):
//! `#[cached]` vs the `cached` crate's `#[cached]` vs a direct `moka::future::Cache`.
//! Same shape for all: `async fn(u64) -> String` of 64 bytes, 64 hot keys.
//!
//! ```text
//! cargo bench -p cache-tests --bench memory_hit
//! ```

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{criterion_group, criterion_main, Criterion};

const HOT_KEYS: u64 = 64;

fn value(id: u64) -> String {
    format!("{id:064}")
}

#[cache_runtime::cached(ttl = 600)]
async fn ours(id: u64) -> String {
    value(id)
}

#[cache_runtime::cached(ttl = 600)]
fn ours_plain(id: u64) -> String {
    value(id)
}

#[cached::proc_macro::cached]
async fn theirs(id: u64) -> String {
    value(id)
}

#[cached::proc_macro::cached(ttl_secs = 600)]
async fn theirs_timed(id: u64) -> String {
    value(id)
}

#[cached::proc_macro::cached]
fn theirs_plain(id: u64) -> String {
    value(id)
}

#[cache_runtime::cached(ttl = 600)]
async fn ours_miss(id: u64) -> String {
    value(id)
}

#[cached::proc_macro::cached(max_size = 100_000)]
async fn theirs_miss(id: u64) -> String {
    value(id)
}

#[cache_runtime::cached(ttl = 600)]
fn ours_plain_miss(id: u64) -> String {
    value(id)
}

#[cached::proc_macro::cached(max_size = 100_000)]
fn theirs_plain_miss(id: u64) -> String {
    value(id)
}

/// Fibonacci of `n` in a fresh `run`: n + 1 misses, each nested in the one above it.
#[cache_runtime::cached(ttl = 600)]
fn ours_fib(run: u64, n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        ours_fib(run, n - 1).wrapping_add(ours_fib(run, n - 2))
    }
}

#[cached::proc_macro::cached(max_size = 10_000_000)]
fn theirs_fib(run: u64, n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        theirs_fib(run, n - 1).wrapping_add(theirs_fib(run, n - 2))
    }
}

fn hits(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let moka: moka::future::Cache<u64, String> = moka::future::Cache::new(100_000);
    runtime.block_on(async {
        for id in 0..HOT_KEYS {
            ours(id).await;
            theirs(id).await;
            theirs_timed(id).await;
            ours_plain(id);
            theirs_plain(id);
            moka.insert(id, value(id)).await;
        }
    });

    let mut group = c.benchmark_group("hit, async fn(u64) -> String");
    let next = AtomicU64::new(0);
    let key = || next.fetch_add(1, Ordering::Relaxed) % HOT_KEYS;
    group.bench_function("cache-runtime #[cached]", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(ours(black_box(key())).await) })
    });
    group.bench_function("cached crate #[cached]", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(theirs(black_box(key())).await) })
    });
    group.bench_function("cached crate #[cached(ttl_secs = 600)]", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(theirs_timed(black_box(key())).await) })
    });
    group.bench_function("moka::future::Cache::get", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(moka.get(&black_box(key())).await) })
    });
    group.finish();

    let mut group = c.benchmark_group("hit, fn(u64) -> String");
    group.bench_function("cache-runtime #[cached]", |b| {
        b.iter(|| black_box(ours_plain(black_box(key()))))
    });
    group.bench_function("cached crate #[cached]", |b| {
        b.iter(|| black_box(theirs_plain(black_box(key()))))
    });
    group.finish();
}

fn misses(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let moka: moka::future::Cache<u64, String> = moka::future::Cache::new(100_000);
    let mut group = c.benchmark_group("miss (compute + store), async fn(u64) -> String");
    let next = AtomicU64::new(1 << 40);
    let fresh = || next.fetch_add(1, Ordering::Relaxed);
    group.bench_function("cache-runtime #[cached]", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(ours_miss(fresh()).await) })
    });
    group.bench_function("cached crate #[cached(max_size)]", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(theirs_miss(fresh()).await) })
    });
    group.bench_function("moka get + insert", |b| {
        b.to_async(&runtime).iter(|| async {
            let id = fresh();
            if moka.get(&id).await.is_none() {
                moka.insert(id, value(id)).await;
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("miss (compute + store), fn(u64) -> String");
    group.bench_function("cache-runtime #[cached]", |b| {
        b.iter(|| black_box(ours_plain_miss(fresh())))
    });
    group.bench_function("cached crate #[cached(max_size)]", |b| {
        b.iter(|| black_box(theirs_plain_miss(fresh())))
    });
    group.finish();

    let mut group = c.benchmark_group("recursive misses, fn fib(run, 40) in a fresh run");
    group.bench_function("cache-runtime #[cached]", |b| {
        b.iter(|| black_box(ours_fib(fresh(), 40)))
    });
    group.bench_function("cached crate #[cached(max_size)]", |b| {
        b.iter(|| black_box(theirs_fib(fresh(), 40)))
    });
    group.finish();
}

criterion_group!(benches, hits, misses);
criterion_main!(benches);
