//! Where entries live.
//!
//! - [`MemoryStore`]: the embedded store, bounded by entries or bytes, per-entry TTL, built on
//!   `quick_cache`. It keeps values decoded (no codec on a hit) and keys on exact bytes (no
//!   digest on a hit).

mod memory;

pub(crate) use memory::{Decoded, StoredEntry, StoredValue};
pub use memory::{MemoryBound, MemoryStore};
