//! Two processes share one Redis: the second hits what the first stored.

use std::process::Command;

use cache_runtime::{cached, Cache};
use cache_tests::servers::{RedisServer, ServerOptions};
use cache_tests::Runs;

static RUNS: Runs = Runs::new();

#[cached(ttl = 60, key = "report:{id}")]
fn report(id: u64) -> String {
    RUNS.record();
    format!("report {id} by process {}", std::process::id())
}

/// The first process: run by `the_second_process_hits_what_the_first_stored` with `CACHE_URL`.
#[test]
#[ignore = "run as a child process by the_second_process_hits_what_the_first_stored"]
fn first_process_stores() {
    assert!(
        std::env::var("CACHE_URL").is_ok(),
        "run me through the parent test"
    );
    report(1);
    assert_eq!(RUNS.count(), 1);
}

#[test]
fn the_second_process_hits_what_the_first_stored() {
    let server = RedisServer::start(ServerOptions::default());
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "first_process_stores", "--quiet"])
        .env("CACHE_URL", server.url())
        .status()
        .unwrap();
    assert!(status.success(), "the first process failed");

    cache_runtime::set_default(Cache::from_url(&server.url()).unwrap()).unwrap();
    let value = report(1);
    assert_eq!(RUNS.count(), 0, "this process did not compute");
    assert!(!value.ends_with(&std::process::id().to_string()), "{value}");
    assert_eq!(report::stats().hits, 1);
}
