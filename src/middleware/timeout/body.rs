//! Body wrappers: an idle (and deadline) timer on a streaming body, and a
//! signal for when a request body has been sent in full.
//!
//! A stalled body must end in an *error*, never in a clean end of stream:
//! hyper then aborts the message (HTTP/1 closes the connection before the
//! terminal chunk, HTTP/2 resets the stream), so a truncated body is never
//! presented as complete (a gRPC call's cut becomes `grpc-status` trailers
//! in `downstream::cut`). The idle timer only runs while seawall is waiting
//! for the body (its poll returned `Pending`): time the consumer spends not
//! asking, e.g. a slow downstream reader, is not the producer's stall.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep, sleep, sleep_until};

use super::error::{BodyIdleTimeout, DeadlineExceeded, Direction};
use super::state::Bound;
use crate::wire::BoxError;

pin_project! {
    /// A body that fails when it stalls for `idle`, or when `deadline` passes.
    pub struct TimedBody<B> {
        #[pin]
        inner: B,
        idle: Duration,
        direction: Direction,
        // Created on the first stall and reset on later ones: one timer per
        // body, not one per chunk.
        idle_timer: Option<Pin<Box<Sleep>>>,
        armed: bool,
        #[pin]
        deadline: Option<Sleep>,
        bound: Bound,
    }
}

impl<B> TimedBody<B> {
    /// Wraps `inner`; `deadline` also cuts the body when it passes, with a
    /// [`DeadlineExceeded`] naming its bound.
    pub fn new(
        inner: B,
        idle: Duration,
        direction: Direction,
        deadline: Option<(Instant, Bound)>,
    ) -> Self {
        Self {
            inner,
            idle,
            direction,
            idle_timer: None,
            armed: false,
            deadline: deadline.map(|(at, _)| sleep_until(at)),
            bound: deadline.map_or(Bound::Total, |(_, bound)| bound),
        }
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        if let Some(deadline) = this.deadline.as_pin_mut()
            && deadline.poll(cx).is_ready()
        {
            return Poll::Ready(Some(Err(DeadlineExceeded::new(*this.bound).into())));
        }
        match this.inner.poll_frame(cx) {
            Poll::Ready(frame) => {
                *this.armed = false;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let at = Instant::now() + *this.idle;
                let timer = this
                    .idle_timer
                    .get_or_insert_with(|| Box::pin(sleep(*this.idle)));
                if !*this.armed {
                    timer.as_mut().reset(at);
                    *this.armed = true;
                }
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        Poll::Ready(Some(Err(
                            BodyIdleTimeout::new(*this.idle, *this.direction).into()
                        )))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project! {
    /// A request body that reports the instant it has been sent in full.
    pub struct NotifyEnd<B> {
        #[pin]
        inner: B,
        sent: Option<oneshot::Sender<Instant>>,
    }
}

impl<B: Body> NotifyEnd<B> {
    /// Wraps `inner`; the receiver gets the instant of its last frame (at
    /// once for an empty body). It gets an error if the body is dropped or
    /// fails before its end: then the request was never sent in full.
    pub fn new(inner: B) -> (Self, oneshot::Receiver<Instant>) {
        let (tx, rx) = oneshot::channel();
        let sent = if inner.is_end_stream() {
            let _ = tx.send(Instant::now());
            None
        } else {
            Some(tx)
        };
        (Self { inner, sent }, rx)
    }
}

impl<B: Body> Body for NotifyEnd<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let mut this = self.project();
        let frame = std::task::ready!(this.inner.as_mut().poll_frame(cx));
        // hyper stops polling once `is_end_stream` is true, so the end is
        // noticed after the last frame, not only at `None`.
        let ended = match &frame {
            None => true,
            Some(Ok(_)) => this.inner.is_end_stream(),
            Some(Err(_)) => {
                this.sent.take();
                false
            }
        };
        if ended && let Some(tx) = this.sent.take() {
            let _ = tx.send(Instant::now());
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
