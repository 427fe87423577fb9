use cache_runtime::__private::Key as KeyBuilder;
use cache_runtime::Cache;
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

fn parts(c: &mut Criterion) {
    let cache = Cache::builder().build().unwrap();
    let mut i = 0u64;
    c.bench_function("key build", |b| {
        b.iter(|| {
            i += 1;
            let mut k =
                KeyBuilder::digest(&cache, &[concat!(module_path!(), "::ours:v0:")], "String");
            k.arg(&black_box(i % 64));
            black_box(k)
        })
    });
    c.bench_function("clock", |b| {
        b.iter(|| black_box(cache.get_bytes("nothing")))
    });
    let s = "x".repeat(64);
    c.bench_function("string clone", |b| {
        b.iter(|| black_box(black_box(&s).clone()))
    });
}
criterion_group!(benches, parts);
criterion_main!(benches);
