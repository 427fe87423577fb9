//! The payload codec, measured: encode + decode of a typical record with MessagePack
//! (rmp-serde, the default), JSON and CBOR, and the size each produces.
//!
//! ```text
//! cargo bench -p cache-tests --bench codec
//! ```

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
    email: String,
    roles: Vec<String>,
    score: f64,
    active: bool,
    manager: Option<u64>,
}

fn user() -> User {
    User {
        id: 42,
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
        roles: vec!["admin".into(), "billing".into(), "support".into()],
        score: 98.25,
        active: true,
        manager: Some(7),
    }
}

fn codecs(c: &mut Criterion) {
    let user = user();
    let msgpack = rmp_serde::to_vec_named(&user).unwrap();
    let json = serde_json::to_vec(&user).unwrap();
    let mut cbor = Vec::new();
    ciborium::into_writer(&user, &mut cbor).unwrap();
    println!(
        "encoded size: MessagePack {} B, JSON {} B, CBOR {} B",
        msgpack.len(),
        json.len(),
        cbor.len()
    );

    let mut group = c.benchmark_group("encode + decode a User");
    group.bench_function("MessagePack (rmp-serde, named)", |b| {
        b.iter(|| {
            let bytes = rmp_serde::to_vec_named(black_box(&user)).unwrap();
            black_box(rmp_serde::from_slice::<User>(&bytes).unwrap())
        })
    });
    group.bench_function("JSON (serde_json)", |b| {
        b.iter(|| {
            let bytes = serde_json::to_vec(black_box(&user)).unwrap();
            black_box(serde_json::from_slice::<User>(&bytes).unwrap())
        })
    });
    group.bench_function("CBOR (ciborium)", |b| {
        b.iter(|| {
            let mut bytes = Vec::new();
            ciborium::into_writer(black_box(&user), &mut bytes).unwrap();
            black_box(ciborium::from_reader::<User, _>(bytes.as_slice()).unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, codecs);
criterion_main!(benches);
