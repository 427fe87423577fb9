//! The plain operations of a [`Cache`]: typed `get`/`set` and friends, with the same meaning on
//! the memory store and on Redis.
//!
//! Values are stored in the [entry format](crate::entry) (a header, then MessagePack), so a key
//! that holds something else (a counter, a foreign value) is a [`CacheErrorKind::Decode`] error,
//! never a wrong value. Counters (`incr`, `decr`) hold the decimal text Redis counts in.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::entry::{self, EntryHeader};
use crate::error::{CacheError, CacheErrorKind};
use crate::key::namespace;
#[cfg(feature = "redis")]
use crate::store::Failure;
use crate::store::{Backend, StoredEntry, StoredValue};
use crate::{Cache, Codec};

mod counter;
mod scan;

pub use scan::KeyStream;

/// How long a key has left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyTtl {
    /// There is no such key.
    Missing,
    /// The key never expires.
    Persistent,
    /// The key expires after this long.
    Expires(Duration),
}

pub(crate) fn millis(ttl: Duration) -> u64 {
    // Redis counts whole milliseconds; a sub-millisecond TTL rounds up rather than to "forever".
    u64::try_from(ttl.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

impl Cache {
    /// The full key: the prefix, `:`, then `key`.
    pub(crate) fn full_key(&self, key: &str) -> String {
        format!("{}:{key}", self.prefix())
    }

    /// `name` over the full keys of `keys` (`MGET`, `UNLINK`).
    #[cfg(feature = "redis")]
    fn keys_command(&self, name: &str, keys: &[&str]) -> redis::Cmd {
        let mut cmd = redis::cmd(name);
        for key in keys {
            cmd.arg(self.full_key(key));
        }
        cmd
    }

    /// Refuses a write to the keys of locks and rate limits (see [`namespace`]) and to keys
    /// holding a NUL byte (leases end in one): a plain operation never changes them.
    pub(crate) fn writable(operation: &'static str, key: &str) -> Result<(), CacheError> {
        if namespace::is_reserved(key.as_bytes()) || key.contains('\0') {
            return Err(CacheError::new(
                operation,
                Some(key),
                CacheErrorKind::ReservedKey,
            ));
        }
        Ok(())
    }

    pub(crate) fn check_ttl(
        operation: &'static str,
        key: &str,
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        match ttl {
            Some(ttl) if ttl.is_zero() => Err(CacheError::new(
                operation,
                Some(key),
                CacheErrorKind::Encode(
                    "a TTL must be above zero; give `None` for no expiry".into(),
                ),
            )),
            _ => Ok(()),
        }
    }

    pub(crate) fn expires_at(&self, ttl: Option<Duration>) -> u64 {
        ttl.map_or(u64::MAX, |ttl| {
            self.now_millis().saturating_add(millis(ttl))
        })
    }

    fn encode_value<T: Serialize + ?Sized>(
        &self,
        operation: &'static str,
        key: &str,
        value: &T,
        ttl: Option<Duration>,
    ) -> Result<Vec<u8>, CacheError> {
        let expires = self.expires_at(ttl);
        let header = EntryHeader {
            codec: Codec::MessagePack,
            negative: false,
            created_at: self.now_millis(),
            fresh_until: expires,
            stale_until: expires,
            compute_micros: 0,
            fingerprint: entry::fingerprint::<T>(),
            tags: 0,
        };
        entry::encode(&header, value, self.compression()).map_err(|error| {
            CacheError::new(
                operation,
                Some(key),
                CacheErrorKind::Encode(error.to_string()),
            )
        })
    }

    fn decode_value<T: DeserializeOwned>(
        operation: &'static str,
        key: &str,
        bytes: &[u8],
    ) -> Result<T, CacheError> {
        entry::decode::<T>(bytes)
            .map(|(_, value)| value)
            .map_err(|error| {
                CacheError::new(
                    operation,
                    Some(key),
                    CacheErrorKind::Decode(error.to_string()),
                )
            })
    }

    /// The value under `key`, if there is one.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, CacheError> {
        match self.get_bytes(key).await? {
            Some(bytes) => Self::decode_value("get", key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Stores `value` under `key`, for `ttl` (`None`: until removed or evicted). As with
    /// `invalidate`, a `#[cached]` computation of the same key begun before it never stores over
    /// it.
    pub async fn set<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        // `set_bytes` checks the TTL.
        let bytes = self.encode_value("set", key, value, ttl)?;
        self.set_bytes(key, &bytes, ttl).await
    }

    /// Stores `value` under `key` only if no live value is there; whether it was stored.
    pub async fn add<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Option<Duration>,
    ) -> Result<bool, CacheError> {
        const OP: &str = "add";
        Self::writable(OP, key)?;
        Self::check_ttl(OP, key, ttl)?;
        let bytes = self.encode_value(OP, key, value, ttl)?;
        let full = self.full_key(key);
        let _superseded = self.supersede(full.as_bytes()).await;
        match self.backend() {
            Backend::Memory(store) => {
                let expires_at = self.expires_at(ttl);
                Ok(store.update(
                    full.as_bytes(),
                    self.now_millis(),
                    |current| match current {
                        Some(_) => (None, false),
                        None => (
                            Some(StoredEntry::new(
                                expires_at,
                                StoredValue::Encoded(bytes.as_slice().into()),
                            )),
                            true,
                        ),
                    },
                ))
            }
            #[cfg(feature = "redis")]
            Backend::Redis(store) => {
                let mut cmd = redis::cmd("SET");
                cmd.arg(&full).arg(bytes).arg("NX");
                if let Some(ttl) = ttl {
                    cmd.arg("PX").arg(millis(ttl));
                }
                let reply: Option<String> = store.query(cmd).await.map_err(fail(OP, key))?;
                Ok(reply.is_some())
            }
        }
    }

    /// The values under `keys`, in order, in one round trip (`MGET`).
    pub async fn get_many<T: DeserializeOwned>(
        &self,
        keys: &[&str],
    ) -> Result<Vec<Option<T>>, CacheError> {
        const OP: &str = "get_many";
        let found: Vec<Option<Vec<u8>>> = match self.backend() {
            Backend::Memory(_) => keys.iter().map(|key| self.memory_bytes(key)).collect(),
            #[cfg(feature = "redis")]
            Backend::Redis(_) if keys.is_empty() => Vec::new(),
            #[cfg(feature = "redis")]
            Backend::Redis(store) => store
                .query(self.keys_command("MGET", keys))
                .await
                .map_err(|failure| CacheError::new(OP, keys.first().copied(), failure.kind()))?,
        };
        keys.iter()
            .zip(found)
            .map(|(key, bytes)| {
                bytes
                    .map(|bytes| Self::decode_value(OP, key, &bytes))
                    .transpose()
            })
            .collect()
    }

    /// Stores every `(key, value)` for `ttl`, in one round trip (a pipeline of `SET`s; one per
    /// node on a cluster).
    pub async fn set_many<T: Serialize>(
        &self,
        items: &[(&str, T)],
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        const OP: &str = "set_many";
        let mut encoded = Vec::with_capacity(items.len());
        for (key, value) in items {
            Self::writable(OP, key)?;
            Self::check_ttl(OP, key, ttl)?;
            encoded.push((*key, self.encode_value(OP, key, value, ttl)?));
        }
        let mut _superseded = Vec::with_capacity(encoded.len());
        for (key, _) in &encoded {
            _superseded.push(self.supersede(self.full_key(key).as_bytes()).await);
        }
        match self.backend() {
            Backend::Memory(store) => {
                let expires_at = self.expires_at(ttl);
                for (key, bytes) in encoded {
                    let entry = StoredEntry::new(expires_at, StoredValue::Encoded(bytes.into()));
                    store.insert(self.full_key(key).as_bytes(), entry);
                }
                Ok(())
            }
            #[cfg(feature = "redis")]
            Backend::Redis(_) if encoded.is_empty() => Ok(()),
            #[cfg(feature = "redis")]
            Backend::Redis(store) => {
                let first = encoded.first().map(|(key, _)| *key);
                let commands: Vec<redis::Cmd> = encoded
                    .into_iter()
                    .map(|(key, bytes)| {
                        let mut cmd = redis::cmd("SET");
                        cmd.arg(self.full_key(key)).arg(bytes);
                        if let Some(ttl) = ttl {
                            cmd.arg("PX").arg(millis(ttl));
                        }
                        cmd
                    })
                    .collect();
                store
                    .run(move |mut link| async move { link.run_all(commands).await })
                    .await
                    .map_err(|failure| CacheError::new(OP, first, failure.kind()))
            }
        }
    }

    /// Removes `key`; whether it was there.
    pub async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        Ok(self
            .delete_many(&[key])
            .await
            .map_err(|error| error.with_operation("delete"))?
            == 1)
    }

    /// Removes `keys` in one round trip; how many were there.
    pub async fn delete_many(&self, keys: &[&str]) -> Result<u64, CacheError> {
        const OP: &str = "delete_many";
        for key in keys {
            Self::writable(OP, key)?;
        }
        self.remove_keys(OP, keys).await
    }

    /// Removes `keys` (under the prefix, internal state included: a tag's version) in one round
    /// trip, each superseded first; how many were there. `operation` names a failure (only
    /// Redis fails).
    #[cfg_attr(not(feature = "redis"), allow(unused_variables))]
    pub(crate) async fn remove_keys(
        &self,
        operation: &'static str,
        keys: &[&str],
    ) -> Result<u64, CacheError> {
        let mut _superseded = Vec::with_capacity(keys.len());
        for key in keys {
            _superseded.push(self.supersede(self.full_key(key).as_bytes()).await);
        }
        match self.backend() {
            Backend::Memory(store) => {
                let now = self.now_millis();
                let removed = keys
                    .iter()
                    .filter(|key| store.remove_live(self.full_key(key).as_bytes(), now))
                    .count();
                Ok(removed as u64)
            }
            #[cfg(feature = "redis")]
            Backend::Redis(_) if keys.is_empty() => Ok(0),
            #[cfg(feature = "redis")]
            Backend::Redis(store) => store
                .query(self.keys_command("UNLINK", keys))
                .await
                .map_err(|failure| {
                    CacheError::new(operation, keys.first().copied(), failure.kind())
                }),
        }
    }

    /// Whether `key` holds a live value.
    pub async fn exists(&self, key: &str) -> Result<bool, CacheError> {
        match self.backend() {
            Backend::Memory(store) => {
                let now = self.now_millis();
                Ok(store.get_any(self.full_key(key).as_bytes(), now).is_some())
            }
            #[cfg(feature = "redis")]
            Backend::Redis(store) => {
                let mut cmd = redis::cmd("EXISTS");
                cmd.arg(self.full_key(key));
                store
                    .query::<u64>(cmd)
                    .await
                    .map(|n| n == 1)
                    .map_err(fail("exists", key))
            }
        }
    }

    /// Gives `key` a new TTL; whether the key was there.
    pub async fn expire(&self, key: &str, ttl: Duration) -> Result<bool, CacheError> {
        const OP: &str = "expire";
        Self::writable(OP, key)?;
        Self::check_ttl(OP, key, Some(ttl))?;
        match self.backend() {
            Backend::Memory(store) => {
                let expires_at = self.expires_at(Some(ttl));
                Ok(store.update(
                    self.full_key(key).as_bytes(),
                    self.now_millis(),
                    |current| match current {
                        Some(entry) => {
                            let mut entry = entry.clone();
                            entry.expires_at = expires_at;
                            (Some(entry), true)
                        }
                        None => (None, false),
                    },
                ))
            }
            #[cfg(feature = "redis")]
            Backend::Redis(store) => {
                let full = self.full_key(key);
                let mut cmd = redis::cmd("PEXPIRE");
                cmd.arg(&full).arg(millis(ttl));
                let expired = store.query::<u64>(cmd).await;
                if let Some(near) = self.near() {
                    near.invalidate(full.as_bytes());
                }
                expired.map(|n| n == 1).map_err(fail(OP, key))
            }
        }
    }

    /// How long `key` has left.
    pub async fn ttl(&self, key: &str) -> Result<KeyTtl, CacheError> {
        match self.backend() {
            Backend::Memory(store) => {
                let now = self.now_millis();
                Ok(match store.get_any(self.full_key(key).as_bytes(), now) {
                    None => KeyTtl::Missing,
                    Some(entry) if entry.expires_at == u64::MAX => KeyTtl::Persistent,
                    Some(entry) => KeyTtl::Expires(Duration::from_millis(entry.expires_at - now)),
                })
            }
            #[cfg(feature = "redis")]
            Backend::Redis(store) => {
                let mut cmd = redis::cmd("PTTL");
                cmd.arg(self.full_key(key));
                let pttl: i64 = store.query(cmd).await.map_err(fail("ttl", key))?;
                Ok(match pttl {
                    -1 => KeyTtl::Persistent,
                    ..0 => KeyTtl::Missing,
                    ms => KeyTtl::Expires(Duration::from_millis(ms.unsigned_abs())),
                })
            }
        }
    }

    /// Checks that the store answers (`PING`) and is recent enough (Redis
    /// [`MIN_REDIS_VERSION`](crate::MIN_REDIS_VERSION) or newer, from `INFO server`): the start-up
    /// check of a Redis cache, which reports an unreachable server, bad credentials or an old
    /// server. A user not allowed `INFO` passes on the `PING` alone.
    pub async fn ping(&self) -> Result<(), CacheError> {
        match self.backend() {
            Backend::Memory(_) => Ok(()),
            #[cfg(feature = "redis")]
            Backend::Redis(store) => {
                let fail = |failure: Failure| CacheError::new("ping", None, failure.kind());
                store
                    .query::<String>(redis::cmd("PING"))
                    .await
                    .map_err(fail)?;
                let mut info = redis::cmd("INFO");
                info.arg("server");
                // One reply per node on a cluster.
                match store.query::<redis::Value>(info).await {
                    Ok(info) => crate::store::check_server_version(&info)
                        .map_err(|kind| CacheError::new("ping", None, kind)),
                    Err(Failure::Redis(error)) if error.code() == Some("NOPERM") => Ok(()),
                    Err(failure) => Err(fail(failure)),
                }
            }
        }
    }

    /// The bytes stored under `key`, as they are: an entry written by `#[cached]` or
    /// [`set`](Self::set) comes back in the [entry format](crate::entry).
    pub async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        match self.backend() {
            Backend::Memory(_) => Ok(self.memory_bytes(key)),
            #[cfg(feature = "redis")]
            Backend::Redis(store) => {
                let mut cmd = redis::cmd("GET");
                cmd.arg(self.full_key(key));
                store.query(cmd).await.map_err(fail("get", key))
            }
        }
    }

    /// Stores `bytes` under `key` as they are, for `ttl`.
    pub async fn set_bytes(
        &self,
        key: &str,
        bytes: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        Self::writable("set", key)?;
        Self::check_ttl("set", key, ttl)?;
        let _superseded = self.supersede(self.full_key(key).as_bytes()).await;
        match self.backend() {
            Backend::Memory(store) => {
                let entry =
                    StoredEntry::new(self.expires_at(ttl), StoredValue::Encoded(bytes.into()));
                store.insert(self.full_key(key).as_bytes(), entry);
                Ok(())
            }
            #[cfg(feature = "redis")]
            Backend::Redis(store) => {
                let mut cmd = redis::cmd("SET");
                cmd.arg(self.full_key(key)).arg(bytes);
                if let Some(ttl) = ttl {
                    cmd.arg("PX").arg(millis(ttl));
                }
                store.query::<()>(cmd).await.map_err(fail("set", key))
            }
        }
    }

    fn memory_bytes(&self, key: &str) -> Option<Vec<u8>> {
        self.memory_store()?
            .get_any(self.full_key(key).as_bytes(), self.now_millis())?
            .to_bytes()
    }
}

#[cfg(feature = "redis")]
pub(crate) fn fail<'k>(
    operation: &'static str,
    key: &'k str,
) -> impl FnOnce(Failure) -> CacheError + 'k {
    move |failure| CacheError::new(operation, Some(key), failure.kind())
}
