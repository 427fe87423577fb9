//! Whether a call reads the store or only writes it: a `refresh` companion runs the function
//! with a signal, scoped to its own future (or call), that the function's first cached call
//! takes. One thread-local slot serves both kinds of function: an `async fn`'s companion puts
//! the signal there only while its future is polled.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::task::{Context, Poll};

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

thread_local! {
    /// The function a `refresh` companion is refreshing: set on this thread while the companion's
    /// future is polled (an `async fn`) or its call runs (a plain `fn`), and only then.
    static REFRESHING: Cell<Option<Box<str>>> = const { Cell::new(None) };
}

/// Counts a `refresh` companion while it runs.
#[derive(Debug)]
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

pin_project_lite::pin_project! {
    /// A call under a refresh signal: the signal is on the thread while the call is polled, and
    /// back in here between polls, until the first cached call of the function takes it.
    #[derive(Debug)]
    pub struct Refreshing<F> {
        signal: Option<Box<str>>,
        #[pin]
        call: F,
        counted: RefreshUnderWay,
    }
}

impl<F: Future> Future for Refreshing<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let outer = put_signal(this.signal.take());
        let polled = this.call.poll(cx);
        *this.signal = put_signal(outer);
        polled
    }
}

/// Puts `signal` in the thread's slot; what was there.
fn put_signal(signal: Option<Box<str>>) -> Option<Box<str>> {
    REFRESHING.with(|slot| slot.replace(signal))
}

/// Runs `call` (an `async fn`, attributes stacked over it included) as a refresh of the cached
/// function named `function`: its first cached call of that function computes and stores
/// without reading. The signal lives in this future only, so no other task can take it, and
/// another function called meanwhile is not refreshed.
pub fn refresh_async<F: Future>(function: impl Into<Box<str>>, call: F) -> Refreshing<F> {
    Refreshing {
        signal: Some(function.into()),
        call,
        counted: RefreshUnderWay::start(),
    }
}

/// [`refresh_async`] for a plain `fn`: the signal lives on this thread while `call` runs, and is
/// gone when it returns, whether or not the cached function was reached.
pub fn refresh_blocking<R>(function: impl Into<Box<str>>, call: impl FnOnce() -> R) -> R {
    struct Restore(Option<Box<str>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            REFRESHING.with(|slot| slot.set(self.0.take()));
        }
    }
    let _counted = RefreshUnderWay::start();
    let _restore = Restore(REFRESHING.with(|slot| slot.replace(Some(function.into()))));
    call()
}

/// Whether this call of the function at `site` is the refresh a companion asked for (taking the
/// signal) or a normal call.
#[inline]
pub fn call_mode(site: &FnSite) -> CallMode {
    if REFRESHES.load(Relaxed) == 0 {
        return CallMode::Normal;
    }
    REFRESHING.with(|slot| match slot.take() {
        Some(name) if *name == *site.name() => CallMode::Refresh,
        other => {
            slot.set(other);
            CallMode::Normal
        }
    })
}
