//! Whether a call reads the store or only writes it: a `refresh` companion runs the function
//! with a signal, scoped to its own future (or thread), that the function's first cached call
//! takes.

use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};

use super::FnSite;

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
