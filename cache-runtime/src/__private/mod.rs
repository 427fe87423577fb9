//! What the attributes expand to. **Not a stable API**: only the macros of the same release may
//! call it (the runtime pins `cache-macros` to its exact version).

mod limit;
mod lock;

pub use crate::cached::batch::{
    batch_async, batch_blocking, batch_ids, Batch, BatchId, BatchMap, BatchOutput, BatchValue,
};
pub use crate::cached::call::{begin, begin_after, Begin, Call, Fetch, Read};
pub use crate::cached::companion::{invalidate, invalidate_async, key_string, peek, peek_async};
pub use crate::cached::drive::{
    fetch_async, fetch_async_spawning, fetch_blocking, fetch_blocking_spawning,
};
pub use crate::cached::kind::{
    policy_for_option, policy_for_plain, policy_for_result, OptionKind, PlainKind, ResultKind,
    ReturnKind, Storable,
};
pub use crate::cached::mode::{call_mode, refresh_async, refresh_blocking, CallMode, Refreshing};
pub use crate::cached::tags::tag_key;
pub use crate::cached::FnSite;
pub use crate::site::{method_name, Counted, Site};
#[cfg(feature = "redis")]
pub use limit::limit_script;
pub use limit::{admit_async, admit_blocking, admit_or_wait, limit_key, LimitSite, Rejects};
pub use lock::{
    close_tag, lock_async, lock_blocking, lock_key, lock_scripts, run_locked_async,
    run_locked_blocking, LockSite,
};

pub use crate::key::{Key, KeyError, KeyHead};
pub use crate::limit::{Algorithm, RateLimitPolicy, RateLimited};
pub use crate::lock::{LockError, LockPolicy, DEFAULT_LEASE};
pub use crate::policy::{CachePolicy, DEFAULT_BETA, DEFAULT_LOCK_WAIT};
pub use crate::stats::{stats_of, FnStats};
pub use crate::{AsCache, Cache};
pub use core::time::Duration;

/// The default cache of functions without `store = …`.
#[inline]
pub fn default_cache() -> &'static Cache {
    Cache::global()
}
