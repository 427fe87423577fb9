use cache_runtime::cached;

#[cached(ttl = 60)]
fn fib(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

fn main() {
    assert_eq!(fib(20), 6765);
    assert_eq!(fib::peek(&20), Some(6765));
}
