//! The balancer's response future: measures the round trip and releases the
//! endpoint's in-flight slot however the request ends.
//!
//! The RTT is taken when the response *headers* arrive (the body may stream
//! for minutes and says nothing about the endpoint's queue). An error records
//! its elapsed time as a lower bound: a failing endpoint must look expensive,
//! not cheap. If the future is dropped first, the [`InFlight`] guard's own
//! drop releases the slot.
//!
//! Connection setup is not service time. A response on a connection opened
//! for this request carries its [`ConnectionReady`] mark, and the RTT is
//! counted from that instant: in tower's balancer the endpoint connects in
//! `poll_ready`, before the measured call; here the pool connects inside the
//! call, and without this one slow handshake (a TLS upstream, a container
//! whose network is still coming up) would make a fast replica look slow
//! until its estimate decayed, and P2C would not pick it meanwhile.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::inflight::InFlight;
use crate::middleware::classify::{Classifier, Watched};
use crate::upstream::ConnectionReady;
use crate::wire::BoxError;

pin_project! {
    /// Resolves to the inner service's response, reporting its outcome and
    /// latency to the endpoint it was sent to.
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
    RB: Watched,
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
                let ready = result
                    .as_ref()
                    .ok()
                    .and_then(|r| r.extensions().get::<ConnectionReady>());
                // One clock read for the RTT, the EWMA and the outlier report.
                let now = Instant::now();
                let rtt = guard.elapsed_at(now);
                let rtt =
                    ready.map_or(rtt, |ready| rtt.min(now.saturating_duration_since(ready.0)));
                let result = result.map_err(Into::into);
                if result.as_ref().is_ok_and(Classifier::deferred) {
                    // A gRPC stream: the endpoint's latency now, its
                    // outcome at the trailers.
                    let verdict = guard.complete_later(rtt, now);
                    return Poll::Ready(result.map(|response| {
                        response.map(|body| body.on_end(move |end| verdict.report(end)))
                    }));
                }
                guard.complete_with(rtt, result.is_ok(), now, |classifier| match &result {
                    Ok(response) => classifier.response(response),
                    Err(error) => classifier.error(error),
                });
                Poll::Ready(result)
            }
        }
    }
}
