//! The near cache across OS processes: this test writes a key 50 times on one Redis; a child
//! process (this binary run again on an ignored test) reads it through its near cache in a tight
//! loop. After each write returns, the child serves the new value once the invalidation arrives,
//! and never an older value after a newer one; most of its reads are near hits.

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

use cache_runtime::{cached, Cache};
use cache_tests::servers::{rerun_ignored, RedisServer};

const WRITES: u64 = 50;

static NEAR: OnceLock<Cache> = OnceLock::new();

#[cached(ttl = 600, key = "p:1", store = NEAR.get().unwrap())]
async fn read() -> u64 {
    0
}

/// The reader: prints `saw N` for each newer value, fails on an older one, ends at the last.
#[test]
#[ignore = "run as a child process by the test below"]
fn child_reads_through_its_near_cache() {
    let url = std::env::var("CACHE_URL").expect("run me through the parent test");
    NEAR.set(Cache::from_url(&url).unwrap()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut last = 0;
        while last < WRITES {
            let value = read().await;
            assert!(value >= last, "read {value} after {last}");
            if value > last {
                println!("saw {value}");
                last = value;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    });
    let stats = read::stats();
    println!("hits {} near {}", stats.hits, stats.near_hits);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_sees_each_write_once_its_invalidation_arrives() {
    let server = RedisServer::single();
    let writer = Cache::from_url(&format!("{}?prefix=np", server.url())).unwrap();
    // Stored before the child starts: it never misses, so it never writes.
    writer.set("p:1", &0u64, None).await.unwrap();
    let url = format!(
        "{}?prefix=np&near_cache=100&near_cache_max_lag=200ms",
        server.url()
    );
    let mut child = rerun_ignored("child_reads_through_its_near_cache", &[("CACHE_URL", url)]);
    let (lines, heard) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    for version in 1..=WRITES {
        writer.set("p:1", &version, None).await.unwrap();
        let expected = format!("saw {version}");
        loop {
            let line = heard
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("the child did not see version {version}"));
            if line == expected {
                break;
            }
            assert!(!line.starts_with("saw "), "{line} before {expected}");
        }
        // Let the child answer from its near cache for a while before the next write.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "the child failed: {status}");
    let summary = heard.recv_timeout(Duration::from_secs(5)).unwrap();
    let near: u64 = summary.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(
        near > WRITES,
        "{summary}: the near cache answered most reads"
    );
}
