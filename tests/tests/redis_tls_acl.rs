//! TLS with a CA made for the test, an ACL user with a password, and a wrong password reported at
//! start-up without the password in it.

use std::time::Duration;

use cache_runtime::{Cache, RedisConfig};
use cache_tests::servers::{RedisServer, ServerOptions, ACL_PASSWORD, ACL_USER};

#[tokio::test]
async fn tls_and_an_acl_user_connect() {
    let server = RedisServer::start(ServerOptions {
        tls: true,
        acl_user: true,
        ..ServerOptions::default()
    });
    let tls = server.tls.as_ref().unwrap();
    let config = RedisConfig::node("127.0.0.1", tls.port)
        .username(ACL_USER)
        .password(ACL_PASSWORD)
        .root_certificate(tls.ca_pem.clone());
    let cache = Cache::builder()
        .prefix("tls")
        .redis(config.clone())
        .build()
        .unwrap();
    cache.ping().await.unwrap();
    cache
        .set("secret-ok", &"yes", Some(Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(
        cache.get::<String>("secret-ok").await.unwrap().as_deref(),
        Some("yes")
    );

    // The same from a URL, the CA from a file.
    let ca_file = std::env::temp_dir().join(format!("cache-tests-ca-{}.pem", std::process::id()));
    std::fs::write(&ca_file, &tls.ca_pem).unwrap();
    let url = format!(
        "rediss://{ACL_USER}:{ACL_PASSWORD}@127.0.0.1:{}/0?prefix=tls&ca_file={}",
        tls.port,
        ca_file.display()
    );
    let from_url = Cache::from_url(&url).unwrap();
    assert_eq!(
        from_url
            .get::<String>("secret-ok")
            .await
            .unwrap()
            .as_deref(),
        Some("yes")
    );
    let _ = std::fs::remove_file(&ca_file);

    // A wrong password: a clear error at start-up, never the password.
    let wrong = Cache::builder()
        .redis(config.clone().password("not-the-pw-31337"))
        .build()
        .unwrap();
    let error = wrong.ping().await.unwrap_err();
    let shown = format!("{error} {error:?} {wrong:?}");
    assert!(
        !shown.contains("not-the-pw-31337") && !shown.contains(ACL_PASSWORD),
        "{shown}"
    );
    assert!(error.to_string().contains("`ping`"), "{error}");
    assert!(
        shown.contains("WRONGPASS") || shown.to_lowercase().contains("auth"),
        "{shown}"
    );

    // A server certificate from an unknown CA is refused.
    let untrusted = Cache::builder()
        .redis(
            RedisConfig::node("127.0.0.1", tls.port)
                .tls()
                .username(ACL_USER)
                .password(ACL_PASSWORD),
        )
        .build()
        .unwrap();
    assert!(untrusted.ping().await.is_err());

    // The handle never shows the password.
    assert!(!format!("{cache:?}").contains(ACL_PASSWORD));
}
