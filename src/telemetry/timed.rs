//! Times each upstream attempt into a histogram.
//!
//! Pushed innermost in the cluster stack (just above the client), so it
//! measures what the upstream costs per attempt — connect, send, response
//! headers — without queueing, retries or backoff.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use prometheus_client::metrics::histogram::Histogram;
use tokio::time::Instant;

/// Wraps a service with [`Timed`].
#[derive(Clone, Debug)]
pub struct TimedLayer {
    histogram: Histogram,
}

impl TimedLayer {
    /// Observes into `histogram`.
    pub fn new(histogram: Histogram) -> Self {
        Self { histogram }
    }
}

impl<S> tower::Layer<S> for TimedLayer {
    type Service = Timed<S>;

    fn layer(&self, inner: S) -> Timed<S> {
        Timed {
            inner,
            histogram: self.histogram.clone(),
        }
    }
}

/// Observes the time from `call` to the inner future's completion.
#[derive(Clone, Debug)]
pub struct Timed<S> {
    inner: S,
    histogram: Histogram,
}

impl<S, R> tower::Service<R> for Timed<S>
where
    S: tower::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TimedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        TimedFuture {
            inner: self.inner.call(req),
            histogram: self.histogram.clone(),
            start: Instant::now(),
        }
    }
}

pin_project! {
    /// The inner future, timed.
    pub struct TimedFuture<F> {
        #[pin]
        inner: F,
        histogram: Histogram,
        start: Instant,
    }
}

impl<F: Future> Future for TimedFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        this.histogram.observe(this.start.elapsed().as_secs_f64());
        Poll::Ready(out)
    }
}
