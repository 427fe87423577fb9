//! Cache keys: built from a function's identity and its key arguments.
//!
//! A default key reads `{prefix}:{module}::{fn}:v{version}:{digest}`, where the digest is BLAKE3
//! over the [canonical](canonical) encoding of the return type's name, the generic type
//! arguments and the key arguments. A template key (`key = "user:{id}"`) reads
//! `{prefix}:user:42`, each placeholder filled as [`text`] describes.
//!
//! The embedded store never needs the digest: it keys on the exact bytes the digest is taken over
//! ([`Key::as_bytes`]), which is both faster and collision-free. [`Key`]'s `Display` gives the
//! string a shared store (Redis) holds.

pub(crate) mod canonical;
pub(crate) mod namespace;
pub(crate) mod text;

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::sync::OnceLock;

use serde::Serialize;

use canonical::Sink;

use crate::Cache;

type KeyBytes = Vec<u8>;

/// Marks where the digested part of a default key starts; `0xFF` never appears in UTF-8 text, so
/// no template or plain key can equal a default key's bytes.
const DIGESTED: u8 = 0xFF;

/// How many bytes of the BLAKE3 digest the key string shows (as hex): 128 bits.
const DIGEST_BYTES: usize = 16;

/// A buffer of a key no longer used is kept for the thread's next key up to this capacity, so
/// that a call whose key it is needs no allocation.
const SPARE_CAPACITY: usize = 1024;

thread_local! {
    static SPARE: Cell<KeyBytes> = const { Cell::new(KeyBytes::new()) };
}

/// An empty buffer: this thread's spare one, or a new one.
fn key_buffer() -> KeyBytes {
    let mut bytes = SPARE.try_with(Cell::take).unwrap_or_default();
    bytes.clear();
    if bytes.capacity() == 0 {
        bytes.reserve(96);
    }
    bytes
}

/// The part of a function's default keys after the prefix (`:`, the head, the digest marker
/// and the return type's name): the same on every call, so encoded once, in a `static` of the
/// expansion.
#[derive(Debug)]
pub struct KeyHead(OnceLock<EncodedHead>);

/// A head as [`encode_head`] writes it, and where in it the digest marker is.
#[derive(Debug)]
struct EncodedHead {
    bytes: Box<[u8]>,
    marker_at: usize,
}

impl KeyHead {
    /// Not yet encoded; encoded on first use.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        KeyHead(OnceLock::new())
    }
}

/// `:`, the head, the digest marker and the return type's name, as a default key holds them
/// after its prefix.
fn encode_head(head: &[&str], returns: &str) -> EncodedHead {
    let mut bytes = KeyBytes::with_capacity(64);
    bytes.put(b":");
    for part in head {
        bytes.put(part.as_bytes());
    }
    let marker_at = bytes.len();
    bytes.put(&[DIGESTED]);
    canonical::put_str(&mut bytes, returns.as_bytes());
    EncodedHead {
        bytes: bytes.into(),
        marker_at,
    }
}

/// A key argument whose `Serialize` implementation failed: the call runs uncached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a cache key argument could not be serialized: {message}")]
pub struct KeyError {
    message: String,
    not_scalar: bool,
}

impl KeyError {
    /// Internal: a placeholder value that must be written in its canonical form instead.
    pub(crate) fn not_scalar() -> KeyError {
        KeyError {
            message: String::new(),
            not_scalar: true,
        }
    }

    pub(crate) fn is_not_scalar(&self) -> bool {
        self.not_scalar
    }
}

impl serde::ser::Error for KeyError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        KeyError {
            message: msg.to_string(),
            not_scalar: false,
        }
    }
}

/// The key of one cached call, built in place by the expansion of `#[cached]`.
///
/// A serialization failure is kept in the key rather than returned by each step, so the key is
/// never moved while it is built; [`Key::checked`] reports it.
#[derive(Clone)]
pub struct Key {
    bytes: KeyBytes,
    digested_from: Option<usize>,
    error: Option<KeyError>,
}

impl Key {
    /// A default key whose readable head is `head` (in parts: `[type_name, "::load:v0:"]` for
    /// a method) and whose return type is written `returns`.
    pub fn digest(cache: &Cache, head: &[&str], returns: &str) -> Self {
        Self::digest_after(cache, &encode_head(head, returns))
    }

    /// A default key of a free function, whose head (`["app::users::get_user:v0:"]`) and return
    /// type are the same on every call: encoded once in `kept`.
    #[inline]
    pub fn digest_kept(
        cache: &Cache,
        kept: &'static KeyHead,
        head: &[&str],
        returns: &str,
    ) -> Self {
        Self::digest_after(cache, kept.0.get_or_init(|| encode_head(head, returns)))
    }

    /// A default key: the prefix, then `head` as [`encode_head`] writes it.
    #[inline]
    fn digest_after(cache: &Cache, head: &EncodedHead) -> Self {
        let mut bytes = key_buffer();
        bytes.put(cache.prefix().as_bytes());
        let digested_from = bytes.len() + head.marker_at;
        bytes.put(&head.bytes);
        Key {
            bytes,
            digested_from: Some(digested_from),
            error: None,
        }
    }

    /// A key rendered from a template.
    pub fn template(cache: &Cache) -> Self {
        let mut bytes = key_buffer();
        bytes.put(cache.prefix().as_bytes());
        bytes.put(b":");
        Key {
            bytes,
            digested_from: None,
            error: None,
        }
    }

    /// Default keys: a generic type argument, by its type name.
    pub fn type_arg<T: ?Sized>(&mut self) {
        canonical::put_str(&mut self.bytes, std::any::type_name::<T>().as_bytes());
    }

    /// Default keys: a const generic argument.
    pub fn const_arg<T: Serialize>(&mut self, value: T) {
        self.arg(&value);
    }

    /// Default keys: a key argument, by its canonical encoding.
    #[inline]
    pub fn arg<T: Serialize + ?Sized>(&mut self, value: &T) {
        if self.error.is_none() {
            if let Err(error) = canonical::encode(value, &mut self.bytes) {
                self.error = Some(error);
            }
        }
    }

    /// Templates: literal text.
    pub fn text(&mut self, text: &str) {
        self.bytes.put(text.as_bytes());
    }

    /// Templates: a placeholder's value.
    pub fn value<T: Serialize + ?Sized>(&mut self, value: &T) {
        if self.error.is_none() {
            if let Err(error) = text::render(value, &mut self.bytes) {
                self.error = Some(error);
            }
        }
    }

    /// The key, or the first argument that failed to serialize.
    #[inline]
    pub fn checked(&self) -> Result<&Key, &KeyError> {
        match &self.error {
            Some(error) => Err(error),
            None => Ok(self),
        }
    }

    /// The exact bytes that identify the entry in the embedded store.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Display for Key {
    /// The full stored key, as a shared store holds it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&stored_bytes(
            &self.bytes,
            self.digested_from,
        )))
    }
}

#[cfg(feature = "redis")]
impl redis::ToRedisArgs for Key {
    /// The full stored key's bytes, as [`Display`](fmt::Display) writes it (prefixes, module
    /// paths and rendered templates are UTF-8): no formatting on a command's way out.
    fn write_redis_args<W: ?Sized + redis::RedisWrite>(&self, out: &mut W) {
        out.write_arg(&stored_bytes(&self.bytes, self.digested_from));
    }
}

/// The text of a key as the memory store holds it (the bytes of [`Key::as_bytes`], or a plain
/// operation's key): what Redis would hold.
pub(crate) fn stored_key_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&as_stored(bytes)).into_owned()
}

/// A key as the memory store holds it (the bytes of [`Key::as_bytes`], or a plain operation's
/// key), as Redis holds it: the name its invalidation pushes give it. Owned only for a default
/// key, whose Redis name ends in a digest of its arguments rather than holding them.
pub(crate) fn as_stored(bytes: &[u8]) -> Cow<'_, [u8]> {
    // Prefixes, module paths and rendered templates are UTF-8: 0xFF only marks a digest.
    stored_bytes(bytes, bytes.iter().position(|&b| b == DIGESTED))
}

/// The bytes of the key a shared store holds: `bytes` as they are, or up to the digest marker
/// at `digested_from` and then the hex digest of the rest.
fn stored_bytes(bytes: &[u8], digested_from: Option<usize>) -> Cow<'_, [u8]> {
    match digested_from {
        None => Cow::Borrowed(bytes),
        Some(at) => {
            let digest = blake3::hash(&bytes[at + 1..]);
            let mut stored = Vec::with_capacity(at + DIGEST_BYTES * 2);
            stored.extend_from_slice(&bytes[..at]);
            text::put_hex(&mut stored, &digest.as_bytes()[..DIGEST_BYTES]);
            Cow::Owned(stored)
        }
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            Some(error) => write!(f, "Key(error: {error})"),
            None => write!(f, "Key({self})"),
        }
    }
}

impl Drop for Key {
    /// Keeps the buffer for this thread's next key (unless it grew large).
    fn drop(&mut self) {
        if self.bytes.capacity() <= SPARE_CAPACITY {
            let bytes = std::mem::take(&mut self.bytes);
            let _ = SPARE.try_with(|spare| spare.set(bytes));
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.bytes == other.bytes && self.error == other.error
    }
}

impl Eq for Key {}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_key(cache: &Cache, id: u64) -> Key {
        let mut key = Key::digest(cache, &["app::users::get_user:v0:"], "User");
        key.arg(&id);
        key
    }

    #[test]
    fn default_key_shape() {
        let cache = Cache::builder().prefix("svc").build().unwrap();
        let key = default_key(&cache, 7).to_string();
        let (head, digest) = key.rsplit_once(':').unwrap();
        assert_eq!(head, "svc:app::users::get_user:v0");
        assert_eq!(digest.len(), 32);
        assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(key, default_key(&cache, 8).to_string());
    }

    #[test]
    fn a_kept_head_and_a_reused_buffer_give_the_same_key() {
        static HEAD: KeyHead = KeyHead::new();
        let kept = |cache: &Cache, id: u64| {
            let mut key = Key::digest_kept(cache, &HEAD, &["app::users::get_user:v0:"], "User");
            key.arg(&id);
            key
        };
        let cache = Cache::builder().prefix("svc").build().unwrap();
        let other = Cache::builder().prefix("other-service").build().unwrap();
        for _ in 0..2 {
            // The buffer a long key leaves behind is reused, emptied, by the next key.
            let mut long = Key::template(&cache);
            long.text(&"x".repeat(500));
            drop(long);
            assert_eq!(kept(&cache, 7), default_key(&cache, 7));
            assert_eq!(
                kept(&cache, 7).to_string(),
                default_key(&cache, 7).to_string()
            );
            // The kept head holds no prefix: another cache's keys have theirs.
            assert_eq!(kept(&other, 7), default_key(&other, 7));
            assert!(kept(&other, 7)
                .to_string()
                .starts_with("other-service:app::users::"));
        }
    }

    #[cfg(feature = "redis")]
    #[test]
    fn a_key_reaches_redis_as_its_text() {
        use redis::ToRedisArgs;
        let cache = Cache::builder().prefix("svc").build().unwrap();
        let mut template = Key::template(&cache);
        template.text("user:");
        template.value(&42u64);
        template.value("é b");
        for key in [default_key(&cache, 7), template] {
            assert_eq!(key.to_redis_args(), vec![key.to_string().into_bytes()]);
        }
    }

    #[test]
    fn template_key_is_readable() {
        let cache = Cache::builder().prefix("svc").build().unwrap();
        let mut key = Key::template(&cache);
        key.text("user:");
        key.value(&42u64);
        key.text(":");
        key.value("a b");
        assert!(key.checked().is_ok());
        assert_eq!(key.to_string(), "svc:user:42:a%20b");
        assert_eq!(key.as_bytes(), b"svc:user:42:a%20b");
    }
}
