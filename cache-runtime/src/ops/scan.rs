//! Walking the keys under a prefix: [`Cache::scan_keys`] and [`Cache::clear`], patterns where
//! only `*` is a wildcard, and the [`KeyStream`] that yields the keys (listed from the memory
//! store, or scanned on Redis by `store/redis/scan.rs`).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
#[cfg(feature = "redis")]
use tokio::sync::mpsc;

use crate::error::CacheError;
#[cfg(feature = "redis")]
use crate::key::namespace;
use crate::key::stored_key_text;
#[cfg(feature = "redis")]
use crate::store::redis_scan;
use crate::store::Backend;
use crate::Cache;

/// Whether `key` matches `pattern`: `*` matches any run of characters, `\*` a literal `*`,
/// every other character itself.
pub(crate) fn matches(pattern: &str, key: &str) -> bool {
    // Split into literal pieces around unescaped `*`s.
    let mut pieces = vec![String::new()];
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'*') => {
                chars.next();
                if let Some(piece) = pieces.last_mut() {
                    piece.push('*');
                }
            }
            '*' => pieces.push(String::new()),
            other => {
                if let Some(piece) = pieces.last_mut() {
                    piece.push(other);
                }
            }
        }
    }
    let (first, rest) = pieces
        .split_first()
        .map_or(("", &[][..]), |(f, r)| (f.as_str(), r));
    let Some(mut remaining) = key.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining.is_empty();
    };
    for piece in middle {
        match remaining.find(piece.as_str()) {
            Some(at) => remaining = &remaining[at + piece.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last.as_str())
}

/// The keys of [`crate::Cache::scan_keys`], without the prefix. On Redis they arrive batch by
/// batch; dropping the stream stops the scan.
#[derive(Debug)]
pub struct KeyStream {
    source: Source,
}

#[derive(Debug)]
enum Source {
    Listed(VecDeque<String>),
    #[cfg(feature = "redis")]
    Scanning(mpsc::Receiver<Result<String, CacheError>>),
}

impl KeyStream {
    pub(crate) fn listed(keys: Vec<String>) -> Self {
        KeyStream {
            source: Source::Listed(keys.into()),
        }
    }

    /// The keys a Redis scan sends, batch by batch.
    #[cfg(feature = "redis")]
    pub(crate) fn scanning(receiver: mpsc::Receiver<Result<String, CacheError>>) -> Self {
        KeyStream {
            source: Source::Scanning(receiver),
        }
    }
}

impl Stream for KeyStream {
    type Item = Result<String, CacheError>;

    #[cfg_attr(not(feature = "redis"), allow(unused_variables))]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match &mut self.get_mut().source {
            Source::Listed(keys) => Poll::Ready(keys.pop_front().map(Ok)),
            #[cfg(feature = "redis")]
            Source::Scanning(receiver) => receiver.poll_recv(cx),
        }
    }
}

impl Cache {
    /// Removes every cached entry and plain key under this cache's prefix, and nothing else
    /// (SCAN + UNLINK in batches; never FLUSHDB, never KEYS); how many were removed. Locks,
    /// their fencing counters, leases and rate limits stay.
    pub async fn clear(&self) -> Result<u64, CacheError> {
        match self.backend() {
            Backend::Memory(store) => {
                // Expired entries go too, but only live ones count, as on Redis.
                let (prefix, now) = (format!("{}:", self.prefix()), self.now_millis());
                let keys = store.cached_keys_with_prefix(prefix.as_bytes(), 0);
                Ok(keys
                    .iter()
                    .filter(|key| store.remove_live(key, now))
                    .count() as u64)
            }
            #[cfg(feature = "redis")]
            Backend::Redis(store) => {
                let pattern = format!("{}:*", redis_scan::escape_glob(self.prefix()));
                let prefix_len = self.prefix().len() + 1;
                let kept = move |key: &str| namespace::is_reserved(&key.as_bytes()[prefix_len..]);
                let cleared = redis_scan::unlink_matching(store, pattern, kept).await;
                if let Some(near) = self.near() {
                    near.flush();
                }
                cleared.map_err(|failure| CacheError::new("clear", None, failure.kind()))
            }
        }
    }

    /// The keys under this cache's prefix that match `pattern` (without the prefix), as a
    /// stream. `*` matches any run of characters; every other character matches itself, so
    /// user input with `?`, `[` or `\` in it cannot widen the match (write `\*` for a literal
    /// `*`). On Redis this is `SCAN … MATCH` on every node, in batches, never `KEYS`.
    ///
    /// A key written by `#[cached]` with a default key shows as its full digest form.
    pub fn scan_keys(&self, pattern: &str) -> KeyStream {
        let prefix_len = self.prefix().len() + 1;
        match self.backend() {
            Backend::Memory(store) => {
                let prefix = format!("{}:", self.prefix());
                let mut keys: Vec<String> = store
                    .keys_with_prefix(prefix.as_bytes(), self.now_millis())
                    .iter()
                    .map(|key| stored_key_text(key))
                    .filter_map(|key| key.get(prefix_len..).map(str::to_owned))
                    .filter(|key| matches(pattern, key))
                    .collect();
                keys.sort_unstable();
                KeyStream::listed(keys)
            }
            #[cfg(feature = "redis")]
            Backend::Redis(store) => {
                let pattern = format!(
                    "{}:{}",
                    redis_scan::escape_glob(self.prefix()),
                    redis_scan::pattern_to_glob(pattern)
                );
                KeyStream::scanning(redis_scan::scan_keys(store.clone(), pattern, prefix_len))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_like_redis_globs() {
        for (pattern, key, expected) in [
            ("user:*", "user:42", true),
            ("user:*", "user:", true),
            ("user:*", "users:1", false),
            ("*:42", "user:42", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "acb", false),
            ("user:?", "user:1", false),
            ("user:?", "user:?", true),
            ("[ab]", "a", false),
            ("[ab]", "[ab]", true),
            ("x\\*", "x*", true),
            ("x\\*", "xy", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("a*a", "a", false),
        ] {
            assert_eq!(matches(pattern, key), expected, "{pattern} vs {key}");
        }
    }
}
