//! The driver: one thread of the library's own, running a current-thread tokio runtime, that
//! owns every timer the library sets and every Redis connection of the process.
//!
//! redis-rs runs each connection as a task on a tokio runtime and times replies out on that
//! runtime's timer. Running them on a runtime of our own means a connection outlives the runtime
//! of whoever first used it (a `#[tokio::test]`, a short-lived `block_on`), works under any
//! executor, and lets plain `fn`s wait for a reply without blocking a runtime that must make
//! progress for the reply to arrive. Waits (a lock's, a rate limit's, a lease's) sleep on its
//! timer for the same reason: no caller needs a tokio runtime with timers, or any runtime.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

use tokio::runtime::{Builder, Handle};

/// The driver's handle; `None` if the OS refused a thread or an event loop (logged once).
static DRIVER: LazyLock<Option<Handle>> = LazyLock::new(|| {
    let started = Builder::new_current_thread()
        .enable_all()
        .build()
        .and_then(|runtime| {
            let handle = runtime.handle().clone();
            std::thread::Builder::new()
                .name("cache-driver".to_owned())
                .spawn(move || runtime.block_on(std::future::pending::<()>()))
                .map(|_| handle)
        });
    started
        .inspect_err(|error| tracing::error!(%error, "cannot start the cache driver thread"))
        .ok()
});

/// The driver runtime: connections are created inside it, and work that outlives a call (a
/// scan, a background release) is spawned on it. `None` if it could not start.
pub(crate) fn handle() -> Option<&'static Handle> {
    DRIVER.as_ref()
}

/// Runs `future` in the caller's task, but in the driver's context: whatever it spawns
/// (a reconnection) runs on the driver, and its timers are the driver's, whichever executor the
/// caller is on. No task hop on the way, so a hit costs what a raw `GET` costs. `None` if the
/// driver is not running.
pub(crate) async fn run<F: Future>(future: F) -> Option<F::Output> {
    Some(
        InDriver {
            handle: handle()?,
            future,
        }
        .await,
    )
}

pin_project_lite::pin_project! {
    /// A future polled with the driver runtime entered.
    struct InDriver<F> {
        handle: &'static Handle,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for InDriver<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = this.handle.enter();
        this.future.poll(cx)
    }
}

/// Runs `future` to completion on this thread, parking the thread while the future waits:
/// how a plain `fn` runs the library's async code, so that every algorithm is written once.
///
/// Whatever the future waits for makes progress elsewhere: Redis I/O and timers on the driver
/// thread (futures built through [`run`] enter its context), another caller's computation on
/// that caller's thread. So this never needs the caller's runtime to make progress, works
/// inside a tokio runtime of either flavour (holding that worker for the wait, as any blocking
/// call does), and nests: a plain `fn` called from the body of another (a recursive `fib`)
/// runs its own `block_on` inside the outer one's poll, each with its own wake-up flag.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let signal = Signal::take();
    let waker = Waker::from(Arc::clone(&signal));
    let mut cx = Context::from_waker(&waker);
    let output = loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            break output;
        }
        signal.wait();
    };
    drop(waker);
    Signal::give_back(signal);
    output
}

/// The wake-up flag of one [`block_on`] and the thread to unpark.
struct Signal {
    woken: AtomicBool,
    thread: Thread,
}

thread_local! {
    /// A signal free for this thread's next [`block_on`]: one allocation per thread, not per
    /// call. A nested `block_on` finds it taken and makes its own.
    static SPARE: Cell<Option<Arc<Signal>>> = const { Cell::new(None) };
}

impl Signal {
    fn take() -> Arc<Signal> {
        SPARE.with(Cell::take).unwrap_or_else(|| {
            Arc::new(Signal {
                woken: AtomicBool::new(false),
                thread: std::thread::current(),
            })
        })
    }

    /// Keeps `signal` for the next call, unless a waker of it is still out there (then a late
    /// wake-up could not be told from a new one).
    fn give_back(signal: Arc<Signal>) {
        if Arc::strong_count(&signal) == 1 {
            signal.woken.store(false, Ordering::Relaxed);
            SPARE.with(|spare| spare.set(Some(signal)));
        }
    }

    fn wait(&self) {
        while !self.woken.swap(false, Ordering::Acquire) {
            std::thread::park();
        }
    }
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.woken.swap(true, Ordering::Release) {
            self.thread.unpark();
        }
    }
}

/// Waits until `listener` is woken or `pause` has passed, from any executor (the timer is the
/// driver's): a wait for a release or a fill, with a fallback re-check should the wake-up be
/// lost. Without the driver it returns at once, and the caller checks again.
pub(crate) async fn wait_for(listener: event_listener::EventListener, pause: std::time::Duration) {
    let timed = async move {
        let _ = tokio::time::timeout(pause, listener).await;
    };
    let _ = run(timed).await;
}

/// Sleeps for `duration` on the driver's timer, from any executor (the timer is made inside the
/// driver's context, so no tokio runtime, or one without timers, is needed); `false` if the
/// driver is not running (nothing was waited).
pub(crate) async fn pause(duration: std::time::Duration) -> bool {
    run(async move { tokio::time::sleep(duration).await })
        .await
        .is_some()
}
