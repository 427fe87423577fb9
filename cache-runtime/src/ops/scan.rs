//! Walking the keys under a prefix: patterns where only `*` is a wildcard, and the
//! [`KeyStream`] that yields the keys (listed from the memory store, or scanned on Redis by
//! `store/redis/scan.rs`).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
#[cfg(feature = "redis")]
use tokio::sync::mpsc;

use crate::error::CacheError;

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
