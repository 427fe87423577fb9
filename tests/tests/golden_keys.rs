//! Default keys are stable: the same inputs give the same key in another process, and the same
//! key as when this file was written (the golden values below).

use std::collections::BTreeMap;
use std::process::Command;

use cache_runtime::cached;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Query {
    pub tags: BTreeMap<String, u32>,
    pub text: Option<String>,
}

#[cached(ttl = 60)]
fn by_id(id: u64, region: &str) -> String {
    format!("{id}{region}")
}

#[cached(ttl = 60, version = 3)]
fn by_query(query: &Query) -> Vec<u64> {
    query.tags.values().map(|&v| u64::from(v)).collect()
}

fn keys() -> Vec<String> {
    let query = Query {
        tags: [("b".into(), 2), ("a".into(), 1)].into(),
        text: Some("x y".into()),
    };
    vec![
        by_id::key(&42, "eu").unwrap(),
        by_id::key(&u64::MAX, "").unwrap(),
        by_query::key(&query).unwrap(),
    ]
}

const GOLDEN: [&str; 3] = [
    "cache:golden_keys::by_id:v0:1d6ddcb76f67fc4ddd0940eeb7c9a10a",
    "cache:golden_keys::by_id:v0:2a86a7836af1b6fd552fe2a2e8cfaacb",
    "cache:golden_keys::by_query:v3:2d73bc28f9ea1c230df93d33c8a80796",
];

#[test]
fn keys_match_the_committed_golden_values() {
    assert_eq!(keys(), GOLDEN);
}

/// Run by `another_process_computes_the_same_keys` in a child process.
#[test]
#[ignore = "helper: run by another_process_computes_the_same_keys"]
fn print_keys() {
    for key in keys() {
        println!("KEY {key}");
    }
}

#[test]
fn another_process_computes_the_same_keys() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "print_keys",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .expect("the test binary runs again");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    // libtest may print its "test print_keys ... " label on the first key's line.
    let child: Vec<&str> = stdout
        .lines()
        .filter_map(|line| Some(&line[line.find("KEY ")? + 4..]))
        .collect();
    assert_eq!(child, keys());
}
