//! Times each upstream attempt into a histogram, and traces it.
//!
//! Pushed innermost in the cluster stack (just above the client), so it
//! measures what the upstream costs per attempt — connect, send, response
//! headers — without queueing, retries or backoff. A request traced over
//! OTLP (it carries an [`AttemptParent`]) gets a client span per attempt
//! here, whose `traceparent` goes upstream.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::trace::{AttemptParent, AttemptSpan};
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

impl<S, B, RB> tower::Service<http::Request<B>> for Timed<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TimedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let span = req
            .extensions()
            .get::<AttemptParent>()
            .cloned()
            .map(|parent| {
                let endpoint = req.uri().authority().map(|a| a.as_str().to_owned());
                parent.attempt(endpoint.as_deref().unwrap_or("-"), req.headers_mut())
            });
        TimedFuture {
            inner: self.inner.call(req),
            histogram: self.histogram.clone(),
            start: Instant::now(),
            span,
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
        span: Option<AttemptSpan>,
    }
}

impl<F, RB, E> Future for TimedFuture<F>
where
    F: Future<Output = Result<http::Response<RB>, E>>,
    E: std::fmt::Display,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        this.histogram.observe(this.start.elapsed().as_secs_f64());
        if let Some(span) = this.span.take() {
            span.end(match &out {
                Ok(rsp) => Ok(rsp.status().as_u16()),
                Err(e) => Err(e.to_string()),
            });
        }
        Poll::Ready(out)
    }
}
