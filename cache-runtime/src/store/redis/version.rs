//! The oldest Redis this crate runs on, and the check [`crate::Cache::ping`] makes of it.

use crate::error::CacheErrorKind;

/// The oldest Redis server [`crate::Cache::ping`] accepts, as (major, minor): 6.2. The crate
/// needs ACL users (6.0) and scripts that read the server's `TIME` and write after it (effects
/// replication, the default since 5.0); its tests run on 7.0.
pub const MIN_REDIS_VERSION: (u32, u32) = (6, 2);

/// Refuses a server whose `INFO server` reply (one text, or one per node of a cluster) reports a
/// `redis_version` older than [`MIN_REDIS_VERSION`]. A reply without a readable version (a
/// compatible server that reports none) passes.
pub(crate) fn check_server_version(info: &redis::Value) -> Result<(), CacheErrorKind> {
    use redis::Value;
    match info {
        Value::BulkString(bytes) => check_info(&String::from_utf8_lossy(bytes)),
        Value::SimpleString(text) | Value::VerbatimString { text, .. } => check_info(text),
        Value::Map(nodes) => nodes
            .iter()
            .try_for_each(|(_, info)| check_server_version(info)),
        Value::Array(nodes) => nodes.iter().try_for_each(check_server_version),
        _ => Ok(()),
    }
}

fn check_info(info: &str) -> Result<(), CacheErrorKind> {
    let Some(version) = info
        .lines()
        .find_map(|line| line.trim().strip_prefix("redis_version:"))
    else {
        return Ok(());
    };
    let mut parts = version.split('.').map(|part| part.parse::<u32>());
    let (Some(Ok(major)), Some(Ok(minor))) = (parts.next(), parts.next()) else {
        return Ok(());
    };
    if (major, minor) >= MIN_REDIS_VERSION {
        return Ok(());
    }
    let (min_major, min_minor) = MIN_REDIS_VERSION;
    Err(CacheErrorKind::UnsupportedServer(format!(
        "the server runs Redis {version}; this crate needs Redis {min_major}.{min_minor} or newer"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        for accepted in [
            "redis_version:7.0.15",
            "redis_version:6.2.0",
            "x:1\r\nredis_version:10.0.0\r\n",
            "no version here",
            "redis_version:unknown",
        ] {
            assert!(check_info(accepted).is_ok(), "{accepted}");
        }
        let refused = check_info("# Server\r\nredis_version:6.0.20\r\n").unwrap_err();
        assert_eq!(
            refused.to_string(),
            "the server runs Redis 6.0.20; this crate needs Redis 6.2 or newer"
        );
        let text =
            |version: &str| redis::Value::BulkString(format!("redis_version:{version}").into());
        let cluster =
            |old: &str| redis::Value::Map(vec![(text("a"), text("7.0.1")), (text("b"), text(old))]);
        assert!(check_server_version(&cluster("7.2.0")).is_ok());
        assert!(
            check_server_version(&cluster("6.0.1")).is_err(),
            "one old node is enough"
        );
    }
}
