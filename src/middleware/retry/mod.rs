//! Retries that turn a flaky attempt into a success without turning an
//! outage into a retry storm.
//!
//! # Why budgets and not max retries?
//!
//! "Retry up to 3 times" is a promise about one request and says nothing
//! about the load it adds: when an upstream fails for everyone, every
//! request makes its 3 retries and the dying upstream gets 4× its traffic,
//! exactly when it can least take it. Across hops it multiplies: three
//! proxies in a chain, each retrying 3 times, send up to 4³ = 64 attempts
//! to the leaf for one client request. A *budget* caps the retries of the
//! whole cluster instead: retries may not exceed `ratio` (20 %) of the
//! requests of the last `ttl` (10 s), plus a small reserve
//! (`min_per_second` × ttl) so a quiet cluster can still retry at all
//! (Finagle's retry budget; linkerd's and tower's [`TpsBudget`]). A blip —
//! a few flaky attempts — is retried in full; an outage gets at most 20 %
//! extra load. `max_attempts` stays as a hard ceiling per request, and a
//! cap on retries in progress at once bounds bursts the window cannot see.
//!
//! # No amplification across hops
//!
//! A failure this hop could have retried but did not (ceiling, budget,
//! deadline, method, body) is answered with the attempt's own answer plus
//! `x-seawall-no-retry: 1`, and `x-seawall-error: budget-exhausted` when the
//! budget refused. A seawall further up never retries a response carrying
//! the mark (it also marks sheds and open breakers): this hop already spent
//! the retries that failure deserved. So in a chain of seawalls in front of
//! a failing leaf only the hop next to the leaf retries, and the leaf sees
//! at most `(1 + ratio)` × the client's requests, plus the reserve. The
//! mark wins over everything, idempotency keys included: a shed request was
//! not processed, but retrying it at every hop is the storm. Each attempt
//! carries `x-seawall-attempt: N` upstream, for logs and the next hop.
//!
//! # What is retried
//!
//! Conditions are configurable: `connect-failure`, `reset` (before the
//! response headers), `refused-stream` (HTTP/2 REFUSED_STREAM or a graceful
//! GOAWAY), `attempt-timeout`, and listed statuses (503 by default). They
//! are recognised with the shared [`Classifier`]: local refusals (breaker
//! open, shed, no endpoint) are never retried. Non-idempotent methods are
//! retried only when the request provably never reached the upstream
//! (connect failure, refused stream) or carries an `Idempotency-Key`: a
//! reset after the upstream read a POST may have charged a card.
//!
//! # How
//!
//! A retry goes to an endpoint the request has not tried when the balancer
//! has one ([`EndpointHint`] carries the tried endpoints down and the
//! balancer's answer back), and then it starts at once: backoff protects an
//! endpoint that just failed, and an untried one has not. A retry that must
//! go back to a tried endpoint waits an exponential backoff with full
//! jitter ([`Backoff`]). The upstream's `Retry-After` is honoured either way
//! when longer (a longer one than `max_retry_after` is not retried). No retry starts that cannot finish:
//! the wait plus an attempt as long as the last must fit in the
//! [`Deadline`]. The body is kept for replay up to `replay_buffer` bytes
//! while the first attempt streams it ([`Replay`]).
//!
//! The layer sits inside admission (a request holds one slot across all its
//! attempts, so retries cannot raise concurrency) and outside the breaker
//! (every attempt is counted; an open breaker fails an attempt at once and
//! is not retried). Decisions are pure functions in [`state`].
//!
//! [`TpsBudget`]: tower::retry::budget::TpsBudget
//! [`EndpointHint`]: crate::middleware::balance::EndpointHint
//! [`Deadline`]: crate::middleware::Deadline
//! [`Classifier`]: crate::middleware::classify::Classifier

pub mod backoff;
mod budget;
mod error;
mod future;
mod layer;
pub mod replay;
pub mod state;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::task::{Context, Poll};

use tower::Service;

pub use backoff::Backoff;
pub use budget::{AttemptOutcome, Refusal, RetryBudget, RetryCounters, RetryPermit};
pub use error::GaveUp;
pub use future::{ATTEMPT_HEADER, ResponseFuture};
pub use layer::RetryLayer;
pub use replay::Replay;

use crate::wire::BoxError;
use crate::wire::body::{Request, Response};

/// Retries failed attempts of the inner service (see the module docs).
#[derive(Clone, Debug)]
pub struct Retry<S> {
    inner: S,
    cx: Arc<future::Context>,
}

impl<S> Service<Request> for Retry<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    type Response = Response;
    type Error = BoxError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The readied service makes the first attempt; retries ready clones.
        let ready = self.inner.clone();
        let first = std::mem::replace(&mut self.inner, ready);
        Box::pin(future::run(first, self.cx.clone(), request))
    }
}
