//! The driver: one thread of the library's own, running a current-thread tokio runtime, that
//! owns every timer the library sets and every Redis connection of the process.
//!
//! redis-rs runs each connection as a task on a tokio runtime and times replies out on that
//! runtime's timer. Running them on a runtime of our own means a connection outlives the runtime
//! of whoever first used it (a `#[tokio::test]`, a short-lived `block_on`), works under any
//! executor, and lets plain `fn`s wait for a reply without blocking a runtime that must make
//! progress for the reply to arrive. Waits (a lock's, a rate limit's, a lease's) sleep on its
//! timer for the same reason: no caller needs a tokio runtime with timers, or any runtime.

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::sync::LazyLock;
use std::task::{Context, Poll};

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

/// Runs `future` on the driver and blocks this thread until it is done. Safe inside a tokio
/// runtime: the caller's thread sleeps, the driver thread does the work.
pub(crate) fn block_on<F>(future: F) -> Option<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (sender, receiver) = mpsc::sync_channel(1);
    handle()?.spawn(async move {
        let _ = sender.send(future.await);
    });
    receiver.recv().ok()
}

/// Sleeps for `duration` on the driver's timer, from any executor (the timer is made inside the
/// driver's context, so no tokio runtime, or one without timers, is needed); `false` if the
/// driver is not running (nothing was waited).
pub(crate) async fn pause(duration: std::time::Duration) -> bool {
    run(async move { tokio::time::sleep(duration).await })
        .await
        .is_some()
}
