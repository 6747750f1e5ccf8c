//! The response futures of the deadline and attempt layers.
//!
//! The deadline future bounds the response's *start* (to its headers) and
//! hands the end of the whole exchange, if anything caps it, to the
//! response body. It checks its timer *before* polling the inner future:
//! when the request deadline and an attempt timeout fire together, the
//! answer is the request's (`timeout`, local) and not the attempt's
//! (`attempt-timeout`, blamed on the upstream). Dropping the inner future on
//! a timeout is what cancels the attempt: hyper-util then closes that
//! connection instead of returning it to the pool.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep, sleep_until};

use super::body::TimedBody;
use super::error::{AttemptTimeout, DeadlineExceeded, Direction, HeaderTimeout};
use super::state::{Bound, Deadlines};
use crate::wire::BoxError;
use crate::wire::body::{self, Response};

pin_project! {
    /// Fails with [`DeadlineExceeded`] when the response has not started
    /// by the start deadline; puts the response body under the idle timeout
    /// and the end of the whole exchange, if anything caps it.
    pub struct DeadlineFuture<F> {
        // `None`: refused before reaching the inner service.
        #[pin]
        inner: Option<F>,
        #[pin]
        sleep: Sleep,
        deadlines: Deadlines,
        body_idle: Duration,
    }
}

impl<F> DeadlineFuture<F> {
    pub(crate) fn new(inner: F, deadlines: Deadlines, body_idle: Duration) -> Self {
        Self {
            inner: Some(inner),
            sleep: sleep_until(deadlines.start.0),
            deadlines,
            body_idle,
        }
    }

    /// A request whose budget was spent on arrival.
    pub(crate) fn expired() -> Self {
        let now = Instant::now();
        Self {
            inner: None,
            sleep: sleep_until(now),
            deadlines: Deadlines {
                start: (now, Bound::Caller),
                end: None,
            },
            body_idle: Duration::ZERO,
        }
    }
}

impl<F, E> Future for DeadlineFuture<F>
where
    F: Future<Output = Result<Response, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let start = this.deadlines.start.1;
        let Some(inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(Err(DeadlineExceeded::new(start).into()));
        };
        if this.sleep.poll(cx).is_ready() {
            return Poll::Ready(Err(DeadlineExceeded::new(start).into()));
        }
        let rsp = ready!(inner.poll(cx)).map_err(|e| {
            let e: BoxError = e.into();
            // An attempt refused for the same deadline, a hair before this
            // timer fired: name the bound, which only this layer knows.
            if e.is::<DeadlineExceeded>() {
                DeadlineExceeded::new(start).into()
            } else {
                e
            }
        })?;
        let (idle, end) = (*this.body_idle, this.deadlines.end);
        Poll::Ready(Ok(rsp.map(|b| {
            body::boxed(TimedBody::new(b, idle, Direction::Download, end))
        })))
    }
}

pin_project! {
    /// Fails with [`AttemptTimeout`] or [`HeaderTimeout`] when the attempt
    /// takes too long; fails at once when the deadline had passed already.
    pub struct AttemptFuture<F> {
        // `None`: refused before reaching the inner service.
        #[pin]
        inner: Option<F>,
        #[pin]
        attempt: Option<Sleep>,
        attempt_after: Duration,
        header: HeaderTimer,
    }
}

/// The response-header timer: armed when the request has been sent in full.
pub(crate) enum HeaderTimer {
    /// No response-header timeout, or the request body never ended.
    Off,
    /// Waiting for the request body's last frame.
    Waiting(oneshot::Receiver<Instant>, Duration),
    /// Counting down to the headers.
    Armed(Pin<Box<Sleep>>, Duration),
}

impl HeaderTimer {
    /// Ready with the timeout when it fires.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Duration> {
        if let Self::Waiting(rx, after) = self {
            let after = *after;
            match Pin::new(rx).poll(cx) {
                Poll::Ready(Ok(sent)) => {
                    *self = Self::Armed(Box::pin(sleep_until(sent + after)), after);
                }
                Poll::Ready(Err(_)) => *self = Self::Off,
                Poll::Pending => return Poll::Pending,
            }
        }
        match self {
            Self::Armed(sleep, after) => sleep.as_mut().poll(cx).map(|()| *after),
            _ => Poll::Pending,
        }
    }
}

impl<F> AttemptFuture<F> {
    /// `attempt`: when the attempt times out, and its length (for the
    /// error it then fails with).
    pub(crate) fn new(inner: F, attempt: Option<(Instant, Duration)>, header: HeaderTimer) -> Self {
        Self {
            inner: Some(inner),
            attempt: attempt.map(|(end, _)| sleep_until(end)),
            attempt_after: attempt.map_or(Duration::ZERO, |(_, after)| after),
            header,
        }
    }

    /// An attempt not started because the request deadline had passed.
    pub(crate) fn expired() -> Self {
        Self {
            inner: None,
            attempt: None,
            attempt_after: Duration::ZERO,
            header: HeaderTimer::Off,
        }
    }
}

impl<F, E> Future for AttemptFuture<F>
where
    F: Future<Output = Result<Response, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            // The deadline layer outside names the bound.
            return Poll::Ready(Err(DeadlineExceeded::new(Bound::Request).into()));
        };
        if let Poll::Ready(result) = inner.poll(cx) {
            return Poll::Ready(result.map_err(Into::into));
        }
        if let Some(sleep) = this.attempt.as_pin_mut()
            && sleep.poll(cx).is_ready()
        {
            return Poll::Ready(Err(AttemptTimeout::new(*this.attempt_after).into()));
        }
        match this.header.poll(cx) {
            Poll::Ready(after) => Poll::Ready(Err(HeaderTimeout::new(after).into())),
            Poll::Pending => Poll::Pending,
        }
    }
}
