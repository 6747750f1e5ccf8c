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

use http::StatusCode;

use super::error::Shed;
use super::shared::{Permit, Waiter};
use super::state::Verdict;
use crate::middleware::timeout::{AttemptTimeout, DeadlineExceeded, HeaderTimeout};
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
    T: LoadSignal,
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
                    let result = ready!(future.poll(cx)).map_err(Into::into);
                    if let Some(permit) = permit.take() {
                        permit.complete(*started, verdict(&result));
                    }
                    return Poll::Ready(result);
                }
            };
            this.state.set(next);
        }
    }
}

/// An answer that can say the upstream is overloaded (for the learned
/// limit): an HTTP response with 503 or 429.
pub trait LoadSignal {
    /// True when the answer is an overload refusal.
    fn overloaded(&self) -> bool;
}

impl<B> LoadSignal for http::Response<B> {
    fn overloaded(&self) -> bool {
        matches!(
            self.status(),
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
        )
    }
}

/// What an outcome says about the upstream's load, for the learned limit:
/// a timeout or an overload answer (503, 429) is a drop; a fast failure
/// (connect error, reset) says nothing about queueing, and an error a
/// layer below made up (an open breaker) neither.
fn verdict<T: LoadSignal>(result: &Result<T, BoxError>) -> Verdict {
    match result {
        Ok(rsp) if rsp.overloaded() => Verdict::Overloaded,
        Ok(_) => Verdict::Answered,
        Err(error) => {
            let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error.as_ref());
            while let Some(e) = next {
                if e.is::<AttemptTimeout>() || e.is::<HeaderTimeout>() || e.is::<DeadlineExceeded>()
                {
                    return Verdict::Overloaded;
                }
                next = e.source();
            }
            Verdict::Silent
        }
    }
}
