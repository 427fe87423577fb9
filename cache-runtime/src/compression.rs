//! Compression of large payloads: LZ4 (lz4_flex, pure Rust), chosen for the hit path, where
//! decompressing costs far less than the bytes it saves cost to move and keep.
//!
//! A compressed payload is the uncompressed length (`u32`, little endian) and then the LZ4
//! block. An entry says by a flag in its header whether its payload is compressed, so entries
//! written before compression existed, or below the threshold, read as they always did.

use crate::entry::DecodeError;

/// Which payloads are stored compressed. Set per cache: [`CacheBuilder::compression`] or the
/// URL parameter `compress_above` (`compress_above=16384`, `compress_above=off`).
///
/// [`CacheBuilder::compression`]: crate::CacheBuilder::compression
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Never compress.
    Off,
    /// Compress payloads of at least this many bytes (when compressing makes them smaller).
    Above(usize),
}

/// Payloads of 16 KiB and more are compressed unless the cache says otherwise: below that,
/// the time to compress buys too few bytes.
pub const DEFAULT_COMPRESSION: Compression = Compression::Above(16 * 1024);

impl Default for Compression {
    fn default() -> Self {
        DEFAULT_COMPRESSION
    }
}

/// The most a compressed payload may claim to expand to: Redis's largest string (512 MiB). A
/// larger claim is a corrupt entry, refused before any memory is set aside for it.
const MAX_EXPANDED: usize = 512 << 20;
/// LZ4 expands at most about 255 times; a claim beyond that is corrupt too.
const MAX_RATIO: usize = 255;

impl Compression {
    /// The payload in `out[from..]` compressed in place, if this setting asks for it and it
    /// comes out smaller; whether it was.
    pub(crate) fn apply(self, out: &mut Vec<u8>, from: usize) -> bool {
        let len = out.len() - from;
        match self {
            Compression::Above(threshold) if len >= threshold && len <= MAX_EXPANDED => {
                let compressed = lz4_flex::block::compress(&out[from..]);
                if compressed.len() + 4 >= len {
                    return false;
                }
                out.truncate(from);
                out.extend_from_slice(&(len as u32).to_le_bytes());
                out.extend_from_slice(&compressed);
                true
            }
            _ => false,
        }
    }
}

/// The payload a compressed one expands to.
pub(crate) fn expand(compressed: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let corrupt = |problem: String| DecodeError::Decompress { problem };
    let (len, block) = match compressed.split_first_chunk::<4>() {
        Some((len, block)) => (u32::from_le_bytes(*len) as usize, block),
        None => return Err(corrupt("shorter than its length".to_owned())),
    };
    if len > MAX_EXPANDED || len > block.len().saturating_mul(MAX_RATIO).saturating_add(16) {
        return Err(corrupt(format!(
            "claims {len} bytes from {} compressed",
            block.len()
        )));
    }
    lz4_flex::block::decompress(block, len).map_err(|error| corrupt(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compressed(payload: &[u8], setting: Compression) -> (Vec<u8>, bool) {
        let mut out = b"head".to_vec();
        out.extend_from_slice(payload);
        let applied = setting.apply(&mut out, 4);
        (out, applied)
    }

    #[test]
    fn compresses_what_is_large_and_shrinks() {
        let json = br#"{"id":1,"name":"a name","tags":["x","y"]}"#.repeat(100);
        let (out, applied) = compressed(&json, Compression::Above(1024));
        assert!(applied && out.len() < json.len() / 4, "{}", out.len());
        assert_eq!(&out[..4], b"head");
        assert_eq!(expand(&out[4..]).unwrap(), json);
        // Below the threshold, or off: untouched.
        assert!(!compressed(&json, Compression::Above(json.len() + 1)).1);
        assert!(!compressed(&json, Compression::Off).1);
        // Bytes that do not shrink stay as they are.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as u8
            })
            .collect();
        assert!(!compressed(&noise, Compression::Above(0)).1);
    }

    #[test]
    fn a_corrupt_payload_is_an_error_never_a_panic_or_a_huge_allocation() {
        assert!(expand(b"").is_err());
        assert!(expand(&[1, 2]).is_err());
        assert!(expand(&u32::MAX.to_le_bytes()).is_err());
        let mut claim = (100_000u32).to_le_bytes().to_vec();
        claim.extend_from_slice(&[0x1f; 10]);
        assert!(expand(&claim).is_err(), "10 bytes cannot expand to 100 kB");
        let json = b"abcdefgh".repeat(1000);
        let (mut out, _) = compressed(&json, Compression::Above(0));
        let last = out.len() - 1;
        out.truncate(last);
        assert!(expand(&out[4..]).is_err());
    }
}
