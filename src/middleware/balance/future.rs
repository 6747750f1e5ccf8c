//! The balancer's response future: measures the round trip and releases the
//! endpoint's in-flight slot however the request ends.
//!
//! The RTT is taken when the response *headers* arrive (the body may stream
//! for minutes and says nothing about the endpoint's queue). An error records
//! its elapsed time too: a failing endpoint must look expensive, not cheap.
//! If the future is dropped first, the [`InFlight`] guard's own drop releases
//! the slot.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::SelectedEndpoint;
use super::endpoint::InFlight;
use crate::BoxError;

pin_project! {
    /// Resolves to the inner service's response, tagged with the
    /// [`SelectedEndpoint`] it came from.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    #[derive(Debug)]
    enum State<F> {
        Called {
            #[pin]
            future: F,
            guard: Option<InFlight>,
        },
        Failed {
            error: Option<BoxError>,
        },
    }
}

impl<F> ResponseFuture<F> {
    /// A request handed to the inner service, counted by `guard`.
    pub(crate) fn called(future: F, guard: InFlight) -> Self {
        let guard = Some(guard);
        Self {
            state: State::Called { future, guard },
        }
    }

    /// A request that failed before reaching the inner service.
    pub(crate) fn failed(error: BoxError) -> Self {
        let error = Some(error);
        Self {
            state: State::Failed { error },
        }
    }
}

impl<F, RB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<RB>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<http::Response<RB>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Failed { error } => Poll::Ready(Err(error
                .take()
                .unwrap_or_else(|| "balance future polled after completion".into()))),
            StateProj::Called { future, guard } => {
                let result = ready!(future.poll(cx));
                let Some(guard) = guard.take() else {
                    return Poll::Ready(Err("balance future polled after completion".into()));
                };
                let selected = SelectedEndpoint(guard.endpoint().addr());
                let rtt = guard.elapsed();
                let result = result.map_err(Into::into);
                guard.complete_with(rtt, result.is_ok(), |classifier| match &result {
                    Ok(response) => classifier.response(response),
                    Err(error) => classifier.error(error),
                });
                Poll::Ready(result.map(|mut response| {
                    response.extensions_mut().insert(selected);
                    response
                }))
            }
        }
    }
}
