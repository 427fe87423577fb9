//! A small web service with `#[cached]` on a read and `#[rate_limit]` on a write, answering 429
//! with the `RateLimit`, `RateLimit-Policy` and `Retry-After` headers.
//!
//! ```sh
//! cargo run --release -p cache-examples --bin web_service              # serves 127.0.0.1:3000
//! curl -i localhost:3000/users/7                                        # cached for a minute
//! for i in 1 2 3 4 5 6; do curl -i -X POST -d pen localhost:3000/users/7/items; done
//! cargo run --release -p cache-examples --bin web_service -- --self-check   # the same, scripted
//! ```
//!
//! The store is `CACHE_URL` (`memory://` by default; `redis://…` shares the limits between
//! instances). `GET /metrics` serves the cache's and the limit's counters for Prometheus
//! (cache-runtime's feature `metrics` and the Prometheus exporter, installed first).

mod app;
#[path = "../common/logging.rs"]
mod logging;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;

use metrics_exporter_prometheus::PrometheusBuilder;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    logging::init();
    // Before any cached call: the counters bind to the recorder installed at their first use.
    let metrics = PrometheusBuilder::new()
        .install_recorder()
        .expect("the only metrics recorder");
    let self_check = std::env::args().any(|arg| arg == "--self-check");
    let address = if self_check {
        "127.0.0.1:0"
    } else {
        "127.0.0.1:3000"
    };
    let listener = tokio::net::TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    if !self_check {
        println!("listening on http://{bound}");
        return axum::serve(listener, app::router(metrics)).await;
    }
    tokio::spawn(async move { axum::serve(listener, app::router(metrics)).await });
    let checks = tokio::task::spawn_blocking(move || run_checks(bound));
    checks.await.expect("the checks ran")
}

/// Requests over loopback, printed as they are answered.
fn run_checks(server: SocketAddr) -> std::io::Result<()> {
    for _ in 0..3 {
        let (status, _, body) = request(server, "GET", "/users/7", "")?;
        print!("GET /users/7 -> {status}: {body}");
    }
    println!(
        "database reads for 3 GETs: {}",
        app::DATABASE_READS.load(Ordering::Relaxed)
    );
    for call in 1..=6 {
        let (status, headers, body) = request(server, "POST", "/users/7/items", "pen")?;
        print!("POST #{call} /users/7/items -> {status}: {body}");
        for header in headers
            .iter()
            .filter(|line| line.to_lowercase().starts_with("r"))
        {
            println!("    {header}");
        }
    }
    let (status, _, body) = request(server, "GET", "/metrics", "")?;
    println!("GET /metrics -> {status}, the counters of the requests above:");
    for line in body.lines().filter(|line| {
        line.starts_with("cache_requests_total")
            || line.starts_with("cache_computations_total")
            || line.starts_with("rate_limit_decisions_total")
    }) {
        println!("    {line}");
    }
    Ok(())
}

/// One HTTP/1.1 request; the status code, the header lines and the body.
fn request(
    server: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, Vec<String>, String)> {
    let mut stream = TcpStream::connect(server)?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {server}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    Ok((status, lines.map(str::to_owned).collect(), body.to_owned()))
}
