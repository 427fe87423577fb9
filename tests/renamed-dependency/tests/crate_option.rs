//! `crate = "…"`: this package knows the runtime only as `renamed_cache`, so the expansion's
//! default `::cache_runtime` path would not resolve here.

use renamed_cache::cached;

#[cached(ttl = 60, crate = "renamed_cache")]
fn square(n: u64) -> u64 {
    n * n
}

#[cached(ttl = 60, key = "cube:{n}", crate = "::renamed_cache")]
async fn cube(n: u64) -> u64 {
    n * n * n
}

#[test]
fn the_crate_path_is_used_everywhere() {
    assert_eq!(square(4), 16);
    assert_eq!(square(4), 16);
    assert_eq!(square::stats().hits, 1);
    assert_eq!(square::peek(&4), Some(16));
}

#[test]
fn async_functions_too() {
    let value = block_on(cube(3));
    assert_eq!(value, 27);
    assert_eq!(cube::key(&3).unwrap(), "cache:cube:3");
}

/// Polls a future that never waits (a hit or a compute with no `.await` inside) to completion.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut context) {
            return value;
        }
    }
}
