//! What `#[cached]` expands to. **Not a stable API**: only the macros of the same release may
//! call it (the runtime pins `cache-macros` to its exact version).

mod call;
mod companion;
mod fresh;
mod kind;
mod limit;
mod lock;
mod read;
mod refresh;
mod store;

use std::cell::Cell;

pub use call::{
    begin, fetch_async, fetch_async_spawning, fetch_blocking, fetch_blocking_spawning, Begin, Call,
    Fetch,
};
pub use companion::{invalidate, invalidate_async, key_string, peek, peek_async};
pub use kind::{OptionKind, PlainKind, ResultKind, ReturnKind, Storable};
pub use limit::{
    admit_async, admit_blocking, admit_or_wait, limit_key, limit_script, LimitSite, Rejects,
};
pub use lock::{
    close_tag, lock_async, lock_blocking, lock_key, lock_scripts, run_locked_async,
    run_locked_blocking, LockSite,
};

pub use crate::key::{Key, KeyError};
pub use crate::limit::{Algorithm, RateLimitPolicy, RateLimited};
pub use crate::lock::{LockError, LockPolicy};
pub use crate::policy::CachePolicy;
pub use crate::stats::FnStats;
pub use crate::{AsCache, Cache};
pub use core::time::Duration;

use crate::stats::{Counters, Registered};

/// One cached function: its name and counters. A `static` in the expansion.
#[derive(Debug)]
pub struct FnSite {
    registered: Registered,
}

impl FnSite {
    /// A site not yet named; it is named on first use.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        FnSite {
            registered: Registered::new(),
        }
    }

    /// Names a free function (`module::function`) and registers it for [`crate::stats`].
    #[inline]
    pub fn named(&'static self, name: &'static str) -> &'static Self {
        self.registered.register(|| name.into());
        self
    }

    /// Names a method (`Type::method`) and registers it for [`crate::stats`].
    #[inline]
    pub fn named_method<SelfTy: ?Sized>(&'static self, method: &'static str) -> &'static Self {
        self.registered
            .register(|| method_name::<SelfTy>(method).into());
        self
    }

    pub(crate) fn name(&self) -> &str {
        self.registered.name.get().map_or("", |name| name)
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.registered.counters
    }
}

/// `Type::method`, as [`crate::stats`] names a method.
pub fn method_name<SelfTy: ?Sized>(method: &str) -> String {
    format!("{}::{method}", std::any::type_name::<SelfTy>())
}

/// The counters of the function named `function` (`module::function` or `Type::method`).
pub fn stats_of(function: &str) -> FnStats {
    crate::stats::stats_of(function)
}

/// The default cache of functions without `store = …`.
#[inline]
pub fn default_cache() -> &'static Cache {
    Cache::global()
}

/// Whether the next call reads the store or only writes it (`refresh`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CallMode {
    /// Read, and compute on a miss.
    #[default]
    Normal,
    /// Compute and store without reading.
    Refresh,
}

thread_local! {
    static NEXT_CALL: Cell<CallMode> = const { Cell::new(CallMode::Normal) };
}

/// Makes the next cached call on this thread a refresh. `refresh` companions call it right before
/// calling the function, whose expansion reads it first thing (before any `.await`).
pub fn refresh_next_call() {
    NEXT_CALL.with(|mode| mode.set(CallMode::Refresh));
}

/// The mode of this call, resetting it for the next one.
#[inline]
pub fn take_call_mode() -> CallMode {
    NEXT_CALL.with(|mode| mode.replace(CallMode::Normal))
}

/// The policy of a function returning neither `Option` nor `Result`.
pub const fn policy_for_plain(policy: CachePolicy) -> CachePolicy {
    if policy.caches_none() {
        panic!("the policy has `cache_none`, but the function does not return `Option`");
    }
    if policy.caches_err() {
        panic!("the policy has `cache_err`, but the function does not return `Result`");
    }
    policy
}

/// The policy of a function returning `Option`.
pub const fn policy_for_option(policy: CachePolicy) -> CachePolicy {
    if policy.caches_err() {
        panic!("the policy has `cache_err`, but the function returns `Option`, not `Result`");
    }
    policy
}

/// The policy of a function returning `Result`.
pub const fn policy_for_result(policy: CachePolicy) -> CachePolicy {
    if policy.caches_none() {
        panic!("the policy has `cache_none`, but the function returns `Result`, not `Option`");
    }
    policy
}
