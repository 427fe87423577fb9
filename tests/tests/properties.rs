//! Property tests over arbitrary input: the entry decoder and the URL parser never panic, and
//! no part of a password, whatever characters it holds (`?`, `@`, `/`, `#`, `%` …, escaped or
//! not), appears in an error, a `Debug` or a `Display`.

use cache_runtime::entry::{self, EntryHeader};
use cache_runtime::{Cache, Codec, RedisConfig};
use proptest::prelude::*;

fn header_of<T>() -> EntryHeader {
    EntryHeader {
        codec: Codec::MessagePack,
        negative: false,
        created_at: 0,
        fresh_until: u64::MAX,
        stale_until: u64::MAX,
        compute_micros: 0,
        fingerprint: entry::fingerprint::<T>(),
        tags: 0,
    }
}

/// `text` with every byte outside `[A-Za-z0-9]` written `%XX`.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b.is_ascii_alphanumeric() {
            true => (b as char).to_string(),
            false => format!("%{b:02X}"),
        })
        .collect()
}

/// The first run of `window` characters of `secret` (with a letter or digit in it) found in
/// `shown`.
fn leaked<'a>(secret: &'a str, shown: &str, window: usize) -> Option<&'a str> {
    let chars: Vec<(usize, char)> = secret.char_indices().collect();
    (0..chars.len().saturating_sub(window - 1)).find_map(|start| {
        let from = chars[start].0;
        let to = chars
            .get(start + window)
            .map_or(secret.len(), |&(at, _)| at);
        let part = &secret[from..to];
        (part.chars().any(|c| c.is_ascii_alphanumeric()) && shown.contains(part)).then_some(part)
    })
}

/// What is shown of parsing `url`: the error, or the configuration and cache built from it.
fn shown(url: &str) -> String {
    let config = match RedisConfig::from_url(url) {
        Ok(config) => format!("{config} {config:?}"),
        Err(error) => format!("{error} {error:?}"),
    };
    let cache = match Cache::from_url(url) {
        Ok(cache) => format!("{cache:?} {:?}", cache.redis_stats()),
        Err(error) => format!("{error} {error:?}"),
    };
    format!("{config} {cache}")
}

const TAILS: &[&str] = &[
    "127.0.0.1:6390/0",
    "127.0.0.1:6390/0?prefix=app",
    "127.0.0.1:notaport/0",
    "127.0.0.1:6390/zero",
    "127.0.0.1:6390/0?bogus=1",
    "127.0.0.1:6390/0?connect_timeout=soon",
    "[::1/0",
    "/0",
    "h1:6390,h2:6391/0",
    "127.0.0.1:0/0",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_entry_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = entry::decode_header(&bytes);
        let _ = entry::decode::<String>(&bytes);
        let _ = entry::decode::<Vec<u64>>(&bytes);
        let _ = entry::decode::<serde_json::Value>(&bytes);
    }

    #[test]
    fn a_good_header_over_any_payload_never_panics(
        payload in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        let mut bytes = entry::encode(&header_of::<String>(), "", cache_runtime::Compression::Off).unwrap();
        bytes.truncate(bytes.len() - 1);
        bytes.extend_from_slice(&payload);
        let _ = entry::decode::<String>(&bytes);
        let mut bytes = entry::encode(&header_of::<serde_json::Value>(), &(), cache_runtime::Compression::Off).unwrap();
        bytes.truncate(bytes.len() - 1);
        bytes.extend_from_slice(&payload);
        let _ = entry::decode::<serde_json::Value>(&bytes);
    }

    #[test]
    fn a_tagged_entry_keeps_its_stamp_and_any_cut_of_it_is_an_error(
        stamp in any::<u64>(),
        value in ".{0,40}",
        cut in 0usize..60,
    ) {
        let header = EntryHeader { tags: stamp, ..header_of::<String>() };
        let bytes = entry::encode(&header, &value, cache_runtime::Compression::Off).unwrap();
        let (read, back): (EntryHeader, String) = entry::decode(&bytes).unwrap();
        prop_assert_eq!((read.tags, back), (stamp, value));
        if cut < bytes.len() {
            prop_assert!(entry::decode::<String>(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn the_url_parser_never_panics(
        scheme in prop::sample::select(vec![
            "", "redis://", "rediss://", "redis+cluster://", "rediss+cluster://", "memory://",
            "http://", "redis:/",
        ]),
        rest in "\\PC{0,48}",
    ) {
        let url = format!("{scheme}{rest}");
        let _ = RedisConfig::from_url(&url);
        let _ = Cache::from_url(&url);
    }

    #[test]
    fn no_part_of_a_password_is_ever_shown(
        password in "[A-Za-z0-9?@/#%:&=+ ]{8,24}",
        escaped in any::<bool>(),
        tail in prop::sample::select(TAILS.to_vec()),
    ) {
        let written = if escaped { percent_encode(&password) } else { password.clone() };
        let url = format!("redis://app:{written}@{tail}");
        let shown = shown(&url);
        prop_assert!(
            leaked(&password, &shown, 6).is_none(),
            "{:?} of the password {password:?} shown: {shown}",
            leaked(&password, &shown, 6)
        );
    }
}
