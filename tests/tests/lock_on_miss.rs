//! `lock_on_miss` across OS processes on one Redis: a cold key is computed once, and a holder
//! killed with SIGKILL holds the others up for about one lease.
//!
//! The children are this test binary run again on one ignored test, with `CACHE_URL` set. The
//! body records each run in Redis itself (`INCR`), so runs in every process are counted.

use std::process::Child;
use std::time::{Duration, Instant};

use cache_runtime::{cached, Cache};
use cache_tests::servers::{get_int, keys_of, rerun_ignored, RedisServer, ServerOptions};

/// The body counts its runs in Redis and takes `BODY_MILLIS` (env) to compute.
#[cached(ttl = 60, key = "report:{id}", lock_on_miss = "2s")]
fn report(id: u64) -> String {
    let url = std::env::var("CACHE_URL").expect("CACHE_URL");
    let mut raw = redis::Client::open(url).unwrap().get_connection().unwrap();
    let _: i64 = redis::cmd("INCR").arg("runs").query(&mut raw).unwrap();
    let millis = std::env::var("BODY_MILLIS").map_or(300, |m| m.parse().unwrap());
    std::thread::sleep(Duration::from_millis(millis));
    format!("report {id} by {}", std::process::id())
}

/// One child: says it is ready, waits for `go`, then calls `report` from 4 threads at once.
#[test]
#[ignore = "run as a child process by the tests below"]
fn child_calls_report() {
    let url = std::env::var("CACHE_URL").expect("run me through a parent test");
    cache_runtime::set_default(Cache::from_url(&url).unwrap()).unwrap();
    let mut raw = redis::Client::open(url).unwrap().get_connection().unwrap();
    let _: i64 = redis::cmd("INCR").arg("ready").query(&mut raw).unwrap();
    while !redis::cmd("EXISTS")
        .arg("go")
        .query::<bool>(&mut raw)
        .unwrap()
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    let id = std::env::var("REPORT_ID").map_or(1, |id| id.parse().unwrap());
    let threads: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || report(id)))
        .collect();
    let values: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(values.windows(2).all(|w| w[0] == w[1]), "{values:?}");
    let stats = report::stats();
    println!(
        "computes={} lock_waits={} hits={}",
        stats.computes, stats.lock_waits, stats.hits
    );
}

fn child(server: &RedisServer, report_id: u64, body_millis: u64) -> Child {
    rerun_ignored(
        "child_calls_report",
        &[
            ("CACHE_URL", server.url()),
            ("REPORT_ID", report_id.to_string()),
            ("BODY_MILLIS", body_millis.to_string()),
        ],
    )
}

fn wait_until(raw: &mut redis::Connection, key: &str, value: i64) {
    for _ in 0..2_000 {
        if get_int(raw, key) >= value {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("`{key}` never reached {value}");
}

#[test]
fn a_cold_key_is_computed_once_across_four_processes() {
    let server = RedisServer::start(ServerOptions::default());
    let mut raw = server.raw();
    let children: Vec<Child> = (0..4).map(|_| child(&server, 1, 300)).collect();
    wait_until(&mut raw, "ready", 4);
    let _: () = redis::cmd("SET").arg("go").arg(1).query(&mut raw).unwrap();

    let mut waits = 0;
    for child in children {
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "a child failed: {stdout}");
        let line = stdout.lines().find(|l| l.starts_with("computes=")).unwrap();
        waits += line
            .split(' ')
            .find_map(|part| part.strip_prefix("lock_waits="))
            .map_or(0, |n| n.parse::<u64>().unwrap());
    }
    assert_eq!(
        get_int(&mut raw, "runs"),
        1,
        "16 callers in 4 processes, one run"
    );
    assert!(waits >= 1, "the other processes waited on the lease");
    let keys = keys_of(&mut raw);
    assert!(keys.contains_key("cache:report:1"), "{keys:?}");
    assert!(
        !keys.keys().any(|key| key.ends_with("\0lock")),
        "the lease was released: {keys:?}"
    );
}

#[test]
fn a_holder_killed_mid_computation_holds_the_others_up_for_about_one_lease() {
    let server = RedisServer::start(ServerOptions::default());
    let mut raw = server.raw();
    let mut holder = child(&server, 2, 60_000);
    wait_until(&mut raw, "ready", 1);
    let _: () = redis::cmd("SET").arg("go").arg(1).query(&mut raw).unwrap();
    wait_until(&mut raw, "runs", 1);
    holder.kill().unwrap(); // SIGKILL: the lease is never released
    holder.wait().unwrap();
    assert!(
        keys_of(&mut raw).keys().any(|key| key.ends_with("\0lock")),
        "the dead holder's lease is still there"
    );

    std::env::set_var("CACHE_URL", server.url());
    std::env::set_var("BODY_MILLIS", "10");
    cache_runtime::set_default(Cache::from_url(&server.url()).unwrap()).unwrap();
    let started = Instant::now();
    let value = report(2);
    let waited = started.elapsed();
    assert!(value.ends_with(&std::process::id().to_string()), "{value}");
    assert_eq!(
        get_int(&mut raw, "runs"),
        2,
        "this process computed after the lease ran out"
    );
    assert_eq!(report::stats().lock_waits, 1);
    // The lease is 2 s; the margin covers the fallback re-read and a slow machine.
    assert!(waited < Duration::from_secs(4), "waited {waited:?}");
}
