//! The body as the driver runs it: inside its tracing span, a panic caught.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project_lite::pin_project! {
    /// The body as it runs: inside its span, a panic caught (for `stale_if_error`; without a
    /// stale value it goes on). One small future per function, where the span's and the catch's
    /// own wrappers would be three.
    pub(super) struct Guarded<F> {
        span: tracing::Span,
        #[pin]
        body: F,
    }
}

impl<F> Guarded<F> {
    pub(super) fn new(span: tracing::Span, body: F) -> Self {
        Guarded { span, body }
    }
}

impl<F: Future> Future for Guarded<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        match std::panic::catch_unwind(AssertUnwindSafe(|| this.body.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}
