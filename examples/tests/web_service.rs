//! The web service example answers as its documentation says: a cached read hits the database
//! once, and the sixth write in a minute gets 429 with the rate-limit headers.

use std::process::Command;

#[test]
fn the_sixth_write_in_a_minute_gets_429_with_headers() {
    let output = Command::new(env!("CARGO_BIN_EXE_web_service"))
        .arg("--self-check")
        .env("CACHE_URL", "memory://")
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.matches("GET /users/7 -> 200").count(), 3, "{stdout}");
    assert!(stdout.contains("database reads for 3 GETs: 1"), "{stdout}");
    for call in 1..=5 {
        assert!(
            stdout.contains(&format!("POST #{call} /users/7/items -> 200")),
            "{stdout}"
        );
    }
    assert!(stdout.contains("POST #6 /users/7/items -> 429"), "{stdout}");
    let after_429 = &stdout[stdout.find("-> 429").unwrap()..];
    assert!(after_429.contains("retry-after: "), "{stdout}");
    assert!(
        after_429.contains("ratelimit-policy: \"default\";q=5;w=60"),
        "{stdout}"
    );
    assert!(
        after_429.contains("ratelimit: \"default\";r=0;t="),
        "{stdout}"
    );

    // `/metrics`, scraped after those requests: the same counts, labelled by function.
    let scraped = &stdout[stdout.find("GET /metrics -> 200").expect(&stdout)..];
    for line in [
        r#"cache_requests_total{function="web_service::app::load_user",result="miss"} 1"#,
        r#"cache_requests_total{function="web_service::app::load_user",result="hit"} 2"#,
        r#"cache_computations_total{function="web_service::app::load_user"} 1"#,
        r#"rate_limit_decisions_total{function="web_service::app::add_item",decision="admitted"} 5"#,
        r#"rate_limit_decisions_total{function="web_service::app::add_item",decision="limited"} 1"#,
    ] {
        assert!(scraped.contains(line), "{line}\nnot in\n{scraped}");
    }
}
