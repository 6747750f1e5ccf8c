//! The breaker's response future: classifies the outcome once the inner
//! stack answers (response headers or error) and reports it on the ticket.
//! Dropped first, the ticket's own drop frees a probe slot.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::shared::Ticket;
use super::state::Call;
use crate::middleware::classify::{Classifier, Grpc, Outcome, Watched};
use crate::middleware::timeout::{AttemptTimeout, HeaderTimeout};
use crate::wire::BoxError;

pin_project! {
    /// Resolves to the inner response, or to `BreakerOpen` at once.
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
            ticket: Option<Ticket>,
            classifier: Classifier,
        },
        Refused {
            error: Option<BoxError>,
        },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn called(future: F, ticket: Ticket, classifier: Classifier) -> Self {
        let ticket = Some(ticket);
        Self {
            state: State::Called {
                future,
                ticket,
                classifier,
            },
        }
    }

    pub(crate) fn refused(error: BoxError) -> Self {
        let error = Some(error);
        Self {
            state: State::Refused { error },
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
            StateProj::Refused { error } => Poll::Ready(Err(error
                .take()
                .unwrap_or_else(|| "breaker future polled after completion".into()))),
            StateProj::Called {
                future,
                ticket,
                classifier,
            } => {
                let result = ready!(future.poll(cx)).map_err(Into::into);
                let Some(ticket) = ticket.take() else {
                    return Poll::Ready(result);
                };
                let call = match result {
                    Ok(response) => {
                        let reading = classifier.read(&response);
                        if reading.grpc == Grpc::Streamed {
                            // A gRPC stream: its status comes in the trailers.
                            let elapsed = ticket.elapsed();
                            let classifier = classifier.clone();
                            return Poll::Ready(Ok(response.map(|body| {
                                body.on_end(move |end| {
                                    ticket.finish_after(classifier.end(end).into(), elapsed);
                                })
                            })));
                        }
                        ticket.finish(reading.outcome.into());
                        return Poll::Ready(Ok(response));
                    }
                    Err(ref error) => judge_error(classifier, error),
                };
                ticket.finish(call);
                Poll::Ready(result)
            }
        }
    }
}

/// An error as the breaker counts it: a timeout of the attempt (or of the
/// response headers) is told apart from a failure, because it may only
/// mean the upstream is busy.
fn judge_error(classifier: &Classifier, error: &BoxError) -> Call {
    match classifier.error(error) {
        Outcome::Failure if timed_out(error.as_ref()) => Call::TimedOut,
        outcome => outcome.into(),
    }
}

fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<AttemptTimeout>() || e.is::<HeaderTimeout>() {
            return true;
        }
        next = e.source();
    }
    false
}
