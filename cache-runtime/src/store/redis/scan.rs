//! Walking the keys of a prefix on Redis: `SCAN … MATCH` on every primary (never `KEYS`), in
//! batches, for `Cache::scan_keys` and `Cache::clear`.

use tokio::sync::mpsc;

use super::{Failure, Link, RedisStore};
use crate::error::{CacheError, CacheErrorKind};

/// Keys asked of each `SCAN` call.
const SCAN_BATCH: usize = 500;

/// `text` with Redis glob characters escaped: it matches only itself.
pub(crate) fn escape_glob(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// A [`crate::Cache::scan_keys`] pattern as a Redis glob: `*` stays a wildcard, `\*` is a
/// literal `*`, everything else is escaped.
pub(crate) fn pattern_to_glob(pattern: &str) -> String {
    let mut glob = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'*') => {
                chars.next();
                glob.push_str("\\*");
            }
            '*' => glob.push('*'),
            other => glob.push_str(&escape_glob(other.encode_utf8(&mut [0; 4]))),
        }
    }
    glob
}

/// Scans the keys matching `pattern` on the driver, sending each without its first
/// `prefix_len` bytes; dropping the receiver stops the scan.
pub(crate) fn scan_keys(
    store: RedisStore,
    pattern: String,
    prefix_len: usize,
) -> mpsc::Receiver<Result<String, CacheError>> {
    let (sender, receiver) = mpsc::channel(SCAN_BATCH);
    let scan = async move {
        let outcome = async {
            let mut batches = Batches::new(&store, pattern).await?;
            while let Some(keys) = batches.next().await? {
                for key in keys {
                    let key = key.get(prefix_len..).unwrap_or_default().to_owned();
                    if sender.send(Ok(key)).await.is_err() {
                        return Ok::<(), Failure>(()); // the stream was dropped
                    }
                }
            }
            Ok(())
        };
        if let Err(failure) = outcome.await {
            let error = CacheError::new("scan_keys", None, failure.kind());
            let _ = sender.send(Err(error)).await;
        }
    };
    match crate::driver::handle() {
        Some(driver) => {
            driver.spawn(scan);
            receiver
        }
        None => {
            let error = CacheError::new(
                "scan_keys",
                None,
                CacheErrorKind::Connection(Failure::Driver.to_string()),
            );
            let (sender, receiver) = mpsc::channel(1);
            let _ = sender.try_send(Err(error));
            receiver
        }
    }
}

/// Unlinks every key matching `pattern` that `kept` does not keep, batch by batch; how many.
pub(crate) async fn unlink_matching(
    store: &RedisStore,
    pattern: String,
    kept: impl Fn(&str) -> bool,
) -> Result<u64, Failure> {
    let mut removed = 0;
    let mut batches = Batches::new(store, pattern).await?;
    while let Some(mut keys) = batches.next().await? {
        keys.retain(|key| !kept(key));
        if keys.is_empty() {
            continue;
        }
        let mut cmd = redis::cmd("UNLINK");
        cmd.arg(keys);
        removed += store.query::<u64>(cmd).await?;
    }
    Ok(removed)
}

/// The batches of keys matching a pattern, node after node.
struct Batches<'a> {
    store: &'a RedisStore,
    pattern: String,
    nodes: std::vec::IntoIter<(String, u16)>,
    /// The node being scanned and the cursor to continue from.
    current: Option<((String, u16), u64)>,
}

impl<'a> Batches<'a> {
    async fn new(store: &'a RedisStore, pattern: String) -> Result<Self, Failure> {
        let mut nodes = nodes(store).await?.into_iter();
        let current = nodes.next().map(|node| (node, 0));
        Ok(Batches {
            store,
            pattern,
            nodes,
            current,
        })
    }

    /// The next non-empty batch, or `None` when every node is done.
    async fn next(&mut self) -> Result<Option<Vec<String>>, Failure> {
        while let Some((node, cursor)) = self.current.take() {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor)
                .arg("MATCH")
                .arg(&self.pattern)
                .arg("COUNT")
                .arg(SCAN_BATCH);
            let target = node.clone();
            let (next, keys): (u64, Vec<String>) = self
                .store
                .run(move |mut link: Link| async move { link.query_node(&cmd, target).await })
                .await?;
            self.current = match next {
                0 => self.nodes.next().map(|node| (node, 0)),
                next => Some((node, next)),
            };
            if !keys.is_empty() {
                return Ok(Some(keys));
            }
        }
        Ok(None)
    }
}

/// The nodes to scan (and to track for a near cache): the server itself, the primary the
/// Sentinels name now, or every primary of a cluster, named as the client's own topology names
/// them (`CLUSTER SLOTS` gives each primary's preferred endpoint: a hostname where the cluster
/// announces one), so that routing by address finds its connection.
pub(crate) async fn nodes(store: &RedisStore) -> Result<Vec<(String, u16)>, Failure> {
    let single = store.config().nodes.first().cloned().unwrap_or_default();
    store
        .run(|mut link: Link| async move {
            if let Link::Sentinel(sentinel) = &link {
                return sentinel.primary().await.map(|primary| vec![primary]);
            }
            match link.is_cluster() {
                false => Ok(vec![single]),
                true => redis::cmd("CLUSTER")
                    .arg("SLOTS")
                    .query_async(&mut link)
                    .await
                    .map(|slots| primaries(&slots)),
            }
        })
        .await
}

/// The primaries of a `CLUSTER SLOTS` reply: `[[start, end, [host, port, id, …], replicas…], …]`,
/// each once.
fn primaries(slots: &redis::Value) -> Vec<(String, u16)> {
    use redis::Value;
    let text = |value: &Value| match value {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(text) => Some(text.clone()),
        _ => None,
    };
    let mut found: Vec<(String, u16)> = Vec::new();
    let Value::Array(ranges) = slots else {
        return found;
    };
    for range in ranges {
        let Value::Array(fields) = range else {
            continue;
        };
        let Some(Value::Array(primary)) = fields.get(2) else {
            continue;
        };
        let host = primary.first().and_then(text);
        let port = match primary.get(1) {
            Some(Value::Int(port)) => u16::try_from(*port).ok(),
            _ => None,
        };
        if let (Some(host), Some(port)) = (host, port) {
            if !host.is_empty() && !found.contains(&(host.clone(), port)) {
                found.push((host, port));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_escape_all_but_the_wildcard() {
        assert_eq!(pattern_to_glob("u:?[x]*\\*"), "u:\\?\\[x\\]*\\*");
        assert_eq!(escape_glob("p[1]"), "p\\[1\\]");
    }

    #[test]
    fn primaries_come_from_cluster_slots_once_each() {
        use redis::Value;
        let node = |host: &str, port: i64| {
            Value::Array(vec![
                Value::BulkString(host.into()),
                Value::Int(port),
                Value::BulkString(b"id".to_vec()),
            ])
        };
        let range = |start, end, primary, replica| {
            Value::Array(vec![Value::Int(start), Value::Int(end), primary, replica])
        };
        let reply = Value::Array(vec![
            range(
                0,
                100,
                node("cache-a.internal", 7000),
                node("10.0.0.9", 7003),
            ),
            range(
                101,
                200,
                node("cache-b.internal", 7001),
                node("10.0.0.8", 7004),
            ),
            range(
                201,
                300,
                node("cache-a.internal", 7000),
                node("10.0.0.9", 7003),
            ),
        ]);
        assert_eq!(
            primaries(&reply),
            [
                ("cache-a.internal".to_owned(), 7000),
                ("cache-b.internal".to_owned(), 7001)
            ]
        );
    }
}
