//! The admission response future: wait for a slot (if queued), call the
//! inner service, hold the slot until the response headers arrive.
//!
//! The slot is released when the inner future resolves (the service time
//! sample is taken then) or when this future is dropped, whichever comes
//! first; a streaming body afterwards holds no slot, as with tower's
//! `ConcurrencyLimit`: the upstream has answered, and a long download must
//! not lock out short requests. A future dropped while queued leaves the
//! queue through the waiter's own drop.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower::Service;

use super::error::Shed;
use super::shared::{Permit, Waiter};
use crate::wire::BoxError;

pin_project! {
    /// Resolves to the inner service's response, or to a [`Shed`] error.
    #[derive(Debug)]
    pub struct ResponseFuture<S, R, F> {
        #[pin]
        state: State<S, R, F>,
    }
}

pin_project! {
    #[project = StateProj]
    #[derive(Debug)]
    enum State<S, R, F> {
        Waiting {
            waiter: Waiter,
            inner: Option<S>,
            request: Option<R>,
        },
        Running {
            #[pin]
            future: F,
            permit: Option<Permit>,
            started: Instant,
        },
        Refused {
            shed: Option<Shed>,
        },
    }
}

impl<S, R, F> ResponseFuture<S, R, F> {
    /// Admitted at once: `future` is the inner call.
    pub(super) fn running(future: F, permit: Permit) -> Self {
        let (permit, started) = (Some(permit), Instant::now());
        Self {
            state: State::Running {
                future,
                permit,
                started,
            },
        }
    }

    /// Queued: `inner` (already ready) is called once a slot is granted.
    pub(super) fn waiting(waiter: Waiter, inner: S, request: R) -> Self {
        let (inner, request) = (Some(inner), Some(request));
        Self {
            state: State::Waiting {
                waiter,
                inner,
                request,
            },
        }
    }

    /// Refused.
    pub(super) fn shed(shed: Shed) -> Self {
        let shed = Some(shed);
        Self {
            state: State::Refused { shed },
        }
    }
}

impl<S, R, T, E> Future for ResponseFuture<S, R, S::Future>
where
    S: Service<R, Response = T, Error = E>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            let next = match this.state.as_mut().project() {
                StateProj::Refused { shed } => {
                    return Poll::Ready(Err(match shed.take() {
                        Some(shed) => shed.into(),
                        None => "admission future polled after completion".into(),
                    }));
                }
                StateProj::Waiting {
                    waiter,
                    inner,
                    request,
                } => {
                    let grant = ready!(Pin::new(waiter).poll(cx));
                    match (grant, inner.take(), request.take()) {
                        (Ok(permit), Some(mut inner), Some(request)) => State::Running {
                            future: inner.call(request),
                            permit: Some(permit),
                            started: Instant::now(),
                        },
                        (Err(shed), ..) => State::Refused { shed: Some(shed) },
                        _ => State::Refused { shed: None },
                    }
                }
                StateProj::Running {
                    future,
                    permit,
                    started,
                } => {
                    let result = ready!(future.poll(cx));
                    if let Some(permit) = permit.take() {
                        permit.complete(started.elapsed());
                    }
                    return Poll::Ready(result.map_err(Into::into));
                }
            };
            this.state.set(next);
        }
    }
}
