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
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};

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

/// Whether a call reads the store or only writes it (`refresh`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CallMode {
    /// Read, and compute on a miss.
    #[default]
    Normal,
    /// Compute and store without reading.
    Refresh,
}

/// How many `refresh` companions are under way in the process: while none is, a call's mode
/// costs one atomic load.
static REFRESHES: AtomicUsize = AtomicUsize::new(0);

type Refreshing = Cell<Option<Box<str>>>;

tokio::task_local! {
    /// The `async fn` a `refresh` companion is refreshing, within the companion's future.
    static REFRESHING_TASK: Refreshing;
}

thread_local! {
    /// The plain `fn` a `refresh` companion is refreshing, while the companion runs.
    static REFRESHING_THREAD: Refreshing = const { Cell::new(None) };
}

/// Counts a `refresh` companion while it runs.
struct RefreshUnderWay;

impl RefreshUnderWay {
    fn start() -> Self {
        REFRESHES.fetch_add(1, SeqCst);
        RefreshUnderWay
    }
}

impl Drop for RefreshUnderWay {
    fn drop(&mut self) {
        REFRESHES.fetch_sub(1, SeqCst);
    }
}

/// Runs `call` (an `async fn`, attributes stacked over it included) as a refresh of the cached
/// function named `function`: its first cached call of that function computes and stores
/// without reading. The signal lives in this future only, so no other task can take it, and
/// another function called meanwhile is not refreshed.
pub async fn refresh_async<F: Future>(function: impl Into<Box<str>>, call: F) -> F::Output {
    let _counted = RefreshUnderWay::start();
    REFRESHING_TASK
        .scope(Cell::new(Some(function.into())), call)
        .await
}

/// [`refresh_async`] for a plain `fn`: the signal lives on this thread while `call` runs, and is
/// gone when it returns, whether or not the cached function was reached.
pub fn refresh_blocking<R>(function: impl Into<Box<str>>, call: impl FnOnce() -> R) -> R {
    struct Restore(Option<Box<str>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            REFRESHING_THREAD.with(|slot| slot.set(self.0.take()));
        }
    }
    let _counted = RefreshUnderWay::start();
    let _restore = Restore(REFRESHING_THREAD.with(|slot| slot.replace(Some(function.into()))));
    call()
}

/// Whether this call of the `async fn` at `site` is the refresh a companion asked for (taking the
/// signal) or a normal call.
#[inline]
pub fn call_mode_async(site: &FnSite) -> CallMode {
    if REFRESHES.load(Relaxed) == 0 {
        return CallMode::Normal;
    }
    REFRESHING_TASK
        .try_with(|slot| take_if_named(slot, site))
        .unwrap_or_default()
}

/// [`call_mode_async`] for a plain `fn`.
#[inline]
pub fn call_mode_blocking(site: &FnSite) -> CallMode {
    if REFRESHES.load(Relaxed) == 0 {
        return CallMode::Normal;
    }
    REFRESHING_THREAD.with(|slot| take_if_named(slot, site))
}

fn take_if_named(slot: &Refreshing, site: &FnSite) -> CallMode {
    match slot.take() {
        Some(name) if *name == *site.name() => CallMode::Refresh,
        other => {
            slot.set(other);
            CallMode::Normal
        }
    }
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
