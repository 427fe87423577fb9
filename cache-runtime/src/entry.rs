//! The stored entry: a small versioned header, then the payload.
//!
//! ```text
//! offset  size  field
//!      0     2  magic 0xCA 0xC4
//!      2     1  format version (2)
//!      3     1  codec id (1 = MessagePack)
//!      4     1  flags (bit 0: a negative result, None or Err; bit 1: payload compressed;
//!                 bit 2: tagged)
//!      5     8  created at, ms since the Unix epoch, little endian
//!     13     8  fresh until, ms
//!     21     8  stale until, ms (a reader may serve the entry until then)
//!     29     4  compute time of the value, µs
//!     33     8  fingerprint of the stored type ([`fingerprint`])
//!     41     8  when tagged: the stamp of the tag versions it was computed under
//!  41/49     …  payload, in the codec named above; when compressed, its length (4 bytes)
//!                 and its LZ4 block ([`Compression`])
//! ```
//!
//! One read gives everything freshness needs. Bytes that do not decode (corrupt, foreign, an
//! older format, another type) are a [`DecodeError`]: the caller treats them as a miss, counts
//! them and overwrites them. The fingerprint makes a value of another type a miss even where
//! its payload would decode (a `u32` read as an `f64`). Format 1 (before the fingerprint) reads
//! as an unknown format: a miss, recomputed once.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec::{Codec, CodecError};
use crate::compression::{self, Compression};

const MAGIC: [u8; 2] = [0xCA, 0xC4];
/// The entry format this build writes and reads.
pub const FORMAT_VERSION: u8 = 2;
const HEADER_LEN: usize = 41;
const NEGATIVE: u8 = 1;
const COMPRESSED: u8 = 2;
const TAGGED: u8 = 4;

/// What the header says about an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryHeader {
    /// The codec of the payload.
    pub codec: Codec,
    /// A `None` / `Err` result, stored for `negative_ttl`.
    pub negative: bool,
    /// When it was stored, ms since the Unix epoch.
    pub created_at: u64,
    /// Until when it is fresh, ms since the Unix epoch.
    pub fresh_until: u64,
    /// Until when it may be served at all, ms since the Unix epoch.
    pub stale_until: u64,
    /// How long the value took to compute, µs.
    pub compute_micros: u32,
    /// The stored type: [`fingerprint`] of it.
    pub fingerprint: u64,
    /// The stamp of the versions of the entry's tags when its computation began (`#[cached(tags
    /// = …)]`); 0 for an untagged entry.
    pub tags: u64,
}

/// A fingerprint of `T`: FNV-1a (64 bits) of its type name, after the spellings serde treats
/// alike are made one (`&T` is `T`, `str` is `String`, `[T]` is `Vec<T>`). The same type gives
/// the same fingerprint in every process built by the same compiler; a new compiler that names a
/// type differently costs one recomputation.
///
/// ```
/// use cache_runtime::entry::fingerprint;
/// assert_eq!(fingerprint::<str>(), fingerprint::<String>());
/// assert_eq!(fingerprint::<&[u8]>(), fingerprint::<Vec<u8>>());
/// assert_ne!(fingerprint::<u32>(), fingerprint::<f64>());
/// ```
pub fn fingerprint<T: ?Sized>() -> u64 {
    let name = std::any::type_name::<T>().trim_start_matches('&');
    let name = name.strip_prefix("mut ").unwrap_or(name);
    let mut hash = Fnv::default();
    match name {
        "str" => hash.write(b"alloc::string::String"),
        _ => match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
            Some(element) => {
                hash.write(b"alloc::vec::Vec<");
                hash.write(element.as_bytes());
                hash.write(b">");
            }
            None => hash.write(name.as_bytes()),
        },
    }
    hash.0
}

/// FNV-1a, 64 bits: the type fingerprint, and the stamp of an entry's tag versions.
pub(crate) struct Fnv(pub(crate) u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Why stored bytes are not a usable entry.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than a header.
    #[error("entry of {len} bytes is shorter than the {HEADER_LEN}-byte header")]
    TooShort {
        /// How many bytes there were.
        len: usize,
    },
    /// The bytes do not start with the entry magic: not written by this crate.
    #[error("bytes are not a cache entry (no magic number)")]
    NotAnEntry,
    /// A format version this build does not read.
    #[error("entry format version {version} is not {FORMAT_VERSION}")]
    UnknownFormat {
        /// The version found.
        version: u8,
    },
    /// A codec id this build does not know.
    #[error("entry codec id {id} is unknown")]
    UnknownCodec {
        /// The id found.
        id: u8,
    },
    /// The entry holds a value of another type.
    #[error("entry holds another type than the one asked for")]
    OtherType,
    /// The payload does not decode as the expected type.
    #[error("entry payload does not decode: {0}")]
    Payload(#[from] CodecError),
    /// The payload is flagged compressed but does not decompress.
    #[error("entry payload does not decompress: {problem}")]
    Decompress {
        /// What is wrong with it.
        problem: String,
    },
}

/// An entry's payload: the value's bytes in the header's codec, compressed or not.
#[derive(Clone, Copy, Debug)]
pub struct Payload<'a> {
    bytes: &'a [u8],
    compressed: bool,
}

impl Payload<'_> {
    /// Decodes the value with `codec`, decompressing it first if it is compressed.
    pub fn decode<T: DeserializeOwned>(self, codec: Codec) -> Result<T, DecodeError> {
        if self.compressed {
            Ok(codec.decode(&compression::expand(self.bytes)?)?)
        } else {
            Ok(codec.decode(self.bytes)?)
        }
    }

    /// Whether it is stored compressed.
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }
}

/// Writes a header and the encoded `value`, compressed if `compression` asks for it.
///
/// ```
/// use cache_runtime::entry::{decode, encode, EntryHeader};
/// use cache_runtime::{Codec, Compression};
///
/// let header = EntryHeader {
///     codec: Codec::MessagePack, negative: false,
///     created_at: 1, fresh_until: 2, stale_until: 3, compute_micros: 4,
///     fingerprint: cache_runtime::entry::fingerprint::<&str>(), tags: 0,
/// };
/// let bytes = encode(&header, &"hello", Compression::Off).unwrap();
/// let (read, value): (EntryHeader, String) = decode(&bytes).unwrap();
/// assert_eq!((read, value.as_str()), (header, "hello"));
/// ```
pub fn encode<T: Serialize + ?Sized>(
    header: &EntryHeader,
    value: &T,
    compression: Compression,
) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(HEADER_LEN + 64);
    out.extend_from_slice(&MAGIC);
    out.push(FORMAT_VERSION);
    out.push(header.codec.id());
    out.push(if header.negative { NEGATIVE } else { 0 });
    out.extend_from_slice(&header.created_at.to_le_bytes());
    out.extend_from_slice(&header.fresh_until.to_le_bytes());
    out.extend_from_slice(&header.stale_until.to_le_bytes());
    out.extend_from_slice(&header.compute_micros.to_le_bytes());
    out.extend_from_slice(&header.fingerprint.to_le_bytes());
    if header.tags != 0 {
        out[4] |= TAGGED;
        out.extend_from_slice(&header.tags.to_le_bytes());
    }
    let payload_at = out.len();
    header.codec.encode(value, &mut out)?;
    if compression.apply(&mut out, payload_at) {
        out[4] |= COMPRESSED;
    }
    Ok(out)
}

/// Reads the header and returns it with the payload.
pub fn decode_header(bytes: &[u8]) -> Result<(EntryHeader, Payload<'_>), DecodeError> {
    if bytes.len() < HEADER_LEN {
        return Err(if bytes.len() >= 2 && bytes[..2] != MAGIC {
            DecodeError::NotAnEntry
        } else {
            DecodeError::TooShort { len: bytes.len() }
        });
    }
    if bytes[..2] != MAGIC {
        return Err(DecodeError::NotAnEntry);
    }
    if bytes[2] != FORMAT_VERSION {
        return Err(DecodeError::UnknownFormat { version: bytes[2] });
    }
    let codec = Codec::from_id(bytes[3]).ok_or(DecodeError::UnknownCodec { id: bytes[3] })?;
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
    let header = EntryHeader {
        codec,
        negative: bytes[4] & NEGATIVE != 0,
        created_at: u64_at(5),
        fresh_until: u64_at(13),
        stale_until: u64_at(21),
        compute_micros: u32::from_le_bytes(bytes[29..33].try_into().unwrap_or([0; 4])),
        fingerprint: u64_at(33),
        tags: 0,
    };
    let mut header = header;
    let mut payload_at = HEADER_LEN;
    if bytes[4] & TAGGED != 0 {
        if bytes.len() < HEADER_LEN + 8 {
            return Err(DecodeError::TooShort { len: bytes.len() });
        }
        header.tags = u64_at(HEADER_LEN);
        payload_at += 8;
    }
    let payload = Payload {
        bytes: &bytes[payload_at..],
        compressed: bytes[4] & COMPRESSED != 0,
    };
    Ok((header, payload))
}

/// Reads a whole entry holding a `T`; an entry of another type is [`DecodeError::OtherType`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<(EntryHeader, T), DecodeError> {
    let (header, payload) = decode_header(bytes)?;
    if header.fingerprint != fingerprint::<T>() {
        return Err(DecodeError::OtherType);
    }
    Ok((header, payload.decode(header.codec)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression::DEFAULT_COMPRESSION;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    fn header() -> EntryHeader {
        EntryHeader {
            codec: Codec::MessagePack,
            negative: true,
            created_at: 1_700_000_000_000,
            fresh_until: 1_700_000_600_000,
            stale_until: 1_700_000_900_000,
            compute_micros: 1234,
            fingerprint: 0,
            tags: 0,
        }
    }

    fn header_of<T>() -> EntryHeader {
        EntryHeader {
            fingerprint: fingerprint::<T>(),
            ..header()
        }
    }

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: T) {
        for compression in [Compression::Off, Compression::Above(0)] {
            let bytes = encode(&header_of::<T>(), &value, compression).unwrap();
            let (read, back): (EntryHeader, T) = decode(&bytes).unwrap();
            assert_eq!(read, header_of::<T>());
            assert_eq!(back, value);
        }
    }

    #[test]
    fn a_large_value_is_stored_compressed_and_reads_back() {
        let value = vec!["the same line of a large document".to_owned(); 1000];
        let plain = encode(&header_of::<Vec<String>>(), &value, Compression::Off).unwrap();
        let small = encode(&header_of::<Vec<String>>(), &value, DEFAULT_COMPRESSION).unwrap();
        assert!(
            small.len() * 10 < plain.len(),
            "{} vs {}",
            small.len(),
            plain.len()
        );
        for bytes in [&plain, &small] {
            let (read, back): (EntryHeader, Vec<String>) = decode(bytes).unwrap();
            assert_eq!((read, &back), (header_of::<Vec<String>>(), &value));
        }
        let (_, payload) = decode_header(&small).unwrap();
        assert!(payload.is_compressed());
        let mut corrupt = small.clone();
        corrupt.truncate(small.len() - 3);
        assert!(matches!(
            decode::<Vec<String>>(&corrupt),
            Err(DecodeError::Decompress { .. })
        ));
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    #[serde(untagged)]
    enum Untagged {
        Number(u64),
        Text(String),
        Record { id: u64, tags: Vec<String> },
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Inner {
        a: u32,
        b: Option<String>,
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Flattened {
        id: u64,
        #[serde(flatten)]
        inner: Inner,
        #[serde(flatten)]
        rest: BTreeMap<String, serde_json::Value>,
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    #[serde(tag = "kind")]
    enum Internally {
        Circle { r: f64 },
        Square { side: f64 },
    }

    #[test]
    fn every_serde_shape_round_trips() {
        round_trip(Untagged::Number(7));
        round_trip(Untagged::Text("seven".into()));
        round_trip(Untagged::Record {
            id: 7,
            tags: vec!["a".into()],
        });
        round_trip(Flattened {
            id: 1,
            inner: Inner {
                a: 2,
                b: Some("x".into()),
            },
            rest: [(
                "extra".to_string(),
                serde_json::json!({"n": [1, 2.5, null, "s"]}),
            )]
            .into(),
        });
        round_trip(
            serde_json::json!({"a": [1, -2, 3.5, true, null, {"b": "c"}], "u": 18446744073709551615u64}),
        );
        round_trip(Internally::Square { side: 2.0 });
        round_trip(Some(Ok::<_, String>(vec![(1u8, 'x')])));
        round_trip(());
    }

    #[test]
    fn garbage_is_a_decode_error_never_a_panic() {
        for bytes in [
            &b""[..],
            b"x",
            b"hello world, this is not an entry at all",
            &[0xCA, 0xC4, 9],
        ] {
            assert!(decode::<String>(bytes).is_err());
        }
        let mut bytes = encode(&header_of::<String>(), &"text", Compression::Off).unwrap();
        assert!(matches!(decode::<u64>(&bytes), Err(DecodeError::OtherType)));
        let seven = encode(&header_of::<u32>(), &7u32, Compression::Off).unwrap();
        assert!(matches!(decode::<f64>(&seven), Err(DecodeError::OtherType)));
        let mislabelled = encode(&header_of::<u64>(), &"text", Compression::Off).unwrap();
        assert!(matches!(
            decode::<u64>(&mislabelled),
            Err(DecodeError::Payload(_))
        ));
        bytes[2] = 9;
        assert!(matches!(
            decode::<String>(&bytes),
            Err(DecodeError::UnknownFormat { version: 9 })
        ));
        bytes[2] = FORMAT_VERSION;
        bytes[3] = 77;
        assert!(matches!(
            decode::<String>(&bytes),
            Err(DecodeError::UnknownCodec { id: 77 })
        ));
    }
}
