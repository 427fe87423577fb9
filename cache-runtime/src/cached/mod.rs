//! `#[cached]`: the engine behind the attribute. One call looks up its key, judges what it found
//! ([`fresh`]), and on a miss computes once per key ([`flight`], [`call`]) and stores the result
//! ([`write`]); early expiry and stale-while-revalidate recompute off the caller's path
//! ([`refresh`]); the companions (`invalidate`, `peek`, `refresh`) act on one key
//! ([`companion`], [`mode`]); [`tags`] void groups of entries at once; [`batch`] loads many keys
//! in one call. [`invalidation`] makes an invalidation win over every computation that started
//! before it.

pub(crate) mod batch;
pub(crate) mod call;
pub(crate) mod companion;
pub(crate) mod drive;
pub(crate) mod flight;
mod fresh;
mod guarded;
pub(crate) mod invalidation;
pub(crate) mod kind;
#[cfg(feature = "redis")]
mod lease;
pub(crate) mod mode;
mod read;
mod refresh;
pub(crate) mod tags;
mod write;

use crate::site::Site;
use crate::stats::Counters;

/// One cached function: its name and counters. A `static` in the expansion.
pub type FnSite = Site<Counters>;
