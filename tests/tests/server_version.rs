//! `ping()` states the oldest Redis it runs on and refuses an older server with a clear error.
//! An old server is played by a loopback stand-in that answers `PING` and `INFO` only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

use cache_runtime::{Cache, CacheErrorKind, MIN_REDIS_VERSION};
use cache_tests::servers::RedisServer;

/// A loopback server reporting `version`; its port.
fn stand_in(version: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream, version));
        }
    });
    port
}

/// Reads RESP commands (arrays of bulk strings) and answers them until the client hangs up.
fn serve(stream: TcpStream, version: &str) -> Option<()> {
    let mut writer = stream.try_clone().ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok().filter(|&read| read > 0)?;
        let count: usize = line.trim().strip_prefix('*')?.parse().ok()?;
        let mut command = String::new();
        for index in 0..count {
            line.clear();
            reader.read_line(&mut line).ok()?;
            let len: usize = line.trim().strip_prefix('$')?.parse().ok()?;
            let mut arg = vec![0; len + 2];
            reader.read_exact(&mut arg).ok()?;
            if index == 0 {
                command = String::from_utf8_lossy(&arg[..len]).to_uppercase();
            }
        }
        let reply = match command.as_str() {
            "PING" => "+PONG\r\n".to_owned(),
            "INFO" => {
                let body = format!("# Server\r\nredis_version:{version}\r\n");
                format!("${}\r\n{body}\r\n", body.len())
            }
            _ => "-ERR unknown command\r\n".to_owned(),
        };
        writer.write_all(reply.as_bytes()).ok()?;
    }
}

#[tokio::test]
async fn an_old_server_is_refused_at_start_up() {
    assert_eq!(MIN_REDIS_VERSION, (6, 2));
    let old = Cache::from_url(&format!("redis://127.0.0.1:{}/0", stand_in("6.0.20"))).unwrap();
    let error = old.ping().await.unwrap_err();
    assert!(
        matches!(error.kind(), CacheErrorKind::UnsupportedServer(_)),
        "{error}"
    );
    let shown = error.to_string();
    assert!(
        shown.contains("6.0.20") && shown.contains("6.2 or newer"),
        "{shown}"
    );

    let recent = Cache::from_url(&format!("redis://127.0.0.1:{}/0", stand_in("7.2.4"))).unwrap();
    recent.ping().await.unwrap();
    let server = RedisServer::single();
    Cache::from_url(&server.url())
        .unwrap()
        .ping()
        .await
        .unwrap();
}
