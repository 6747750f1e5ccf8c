//! Timeouts and deadline propagation: every wait is bounded, and a caller's
//! deadline travels with the request so no hop works for nobody.
//!
//! # Two layers, two deadlines
//!
//! [`SetDeadline`] is the outermost timeout of a route. It fixes the
//! request's deadlines once, on arrival ([`state::Deadlines`]):
//!
//! - the *start*: `now + min(request, caller's budget, total)`, by which the
//!   response must have started. It is the [`Deadline`] request extension
//!   (admission reads it to refuse work that cannot start in time, retry to
//!   stop retrying), and it fails the request with [`DeadlineExceeded`]
//!   (504 `timeout`, or `total-timeout`) when it passes, whatever is
//!   happening inside: queueing, attempts, backoff.
//! - the *end*: `now + min(caller's budget, total)`, by which the whole
//!   exchange must be over, response body included; the [`CallDeadline`]
//!   extension. Without a caller's budget or a `total` there is none.
//!
//! Once the response has started, the body is bounded by `body_idle` (the
//! longest pause) and by the end, if any, never by the route's `request`
//! timeout: a server-sent-events stream, a download or a gRPC server stream
//! that keeps flowing is doing its job, and cutting it after 15 s is the
//! trap Envoy's default sets (nginx and HAProxy bound only the pauses).
//! A caller's deadline is honoured to the end: the caller stops waiting for
//! the whole answer, not just its headers.
//!
//! [`Attempt`] sits inside retry and breaker, so each try gets its own bound
//! ([`AttemptTimeout`], 504 `attempt-timeout`) and the breaker counts it as
//! an upstream failure, while the deadline layer's expiry never is one. The
//! optional response-header timeout ([`HeaderTimeout`], 504
//! `upstream-header-timeout`) starts only once the request body has been
//! sent in full: it measures the upstream's think time, so a large, slow
//! upload is not blamed on the upstream. A separate reason code tells an
//! operator which of the two limits to look at.
//!
//! # Propagation
//!
//! The budget travels as a remaining duration (`x-seawall-timeout-ms`, and
//! gRPC's `grpc-timeout`), not a wall-clock instant, so hops need no clock
//! agreement. Each attempt rewrites the headers with what is left of the
//! *end* at the moment it is sent, after queueing and backoff, shortened to
//! the attempt timeout, so the next hop gets a decremented budget and stops
//! working when this hop stops waiting. The route's `request` timeout is
//! not forwarded: the next hop (a seawall, a gRPC server) reads a budget as
//! a bound on the whole call, and would cut the stream this hop lets flow.
//! With nothing to forward, budget headers are removed (a malformed one
//! too). A budget that is spent on arrival (`0`) is refused at once and
//! never forwarded; an attempt whose start deadline passed before it could
//! begin is never sent.
//!
//! A malformed budget header is ignored (logged at debug) rather than
//! refused with 400: the header is advice from a caller's library, the route
//! timeout still bounds the request, and failing requests because of a
//! client's formatting would turn an optional feature into an outage.
//!
//! # Bodies
//!
//! Both bodies get an idle timer ([`body::TimedBody`]): a stalled upload
//! fails the request with [`BodyIdleTimeout`] (408), a stalled download (or
//! one still running at the end) is cut with an error so hyper aborts it
//! (HTTP/1 closes before the terminal chunk, HTTP/2 sends RST_STREAM) and
//! the client never mistakes a truncated body for a complete one. The
//! downstream handler logs and counts the cut, and ends a gRPC call with
//! `grpc-status` trailers instead (`downstream::cut`).
//!
//! # Why not `tower::timeout`
//!
//! tower's `Timeout` bounds one future with one duration. Here the deadline
//! comes from the request, must be published to inner layers, must reach
//! the response body, and must win ties with the attempt timer; tower-http's
//! variant answers 408, which blames the client for a slow upstream.

pub mod body;
mod error;
mod future;
mod layer;
pub mod state;
#[cfg(test)]
mod tests;

/// Builders of this module's errors for other modules' tests.
#[cfg(test)]
pub(crate) mod tests_support {
    use std::time::Duration;

    use super::*;
    use crate::wire::BoxError;

    /// A [`DeadlineExceeded`] of the route's request timeout.
    pub(crate) fn deadline() -> BoxError {
        DeadlineExceeded::new(state::Bound::Request).into()
    }
    /// A [`DeadlineExceeded`] of the route's total cap.
    pub(crate) fn total() -> BoxError {
        DeadlineExceeded::new(state::Bound::Total).into()
    }
    /// A [`BodyIdleTimeout`] of a download.
    pub(crate) fn download_idle() -> BoxError {
        BodyIdleTimeout::new(Duration::from_secs(1), Direction::Download).into()
    }
    /// An [`AttemptTimeout`].
    pub(crate) fn attempt() -> BoxError {
        AttemptTimeout::new(Duration::from_secs(1)).into()
    }
    /// A [`HeaderTimeout`].
    pub(crate) fn header() -> BoxError {
        HeaderTimeout::new(Duration::from_secs(1)).into()
    }
    /// A [`BodyIdleTimeout`] of an upload.
    pub(crate) fn upload_idle() -> BoxError {
        BodyIdleTimeout::new(Duration::from_secs(1), Direction::Upload).into()
    }
}

use std::task::{Context, Poll};

use tokio::time::Instant;
use tower::Service;

pub use error::{AttemptTimeout, BodyIdleTimeout, DeadlineExceeded, Direction, HeaderTimeout};
pub use future::{AttemptFuture, DeadlineFuture};
pub use layer::{AttemptLayer, DeadlineLayer};
pub use state::{Bound, GRPC_TIMEOUT_HEADER, TIMEOUT_MS_HEADER};

use self::body::{NotifyEnd, TimedBody};
use self::future::HeaderTimer;
use self::state::{CallerBudget, Deadlines};
use super::balance::EndpointHint;
use super::{AttemptEnd, CallDeadline, Deadline};
use crate::wire::BoxError;
use crate::wire::body::{Request, Response, boxed};

/// Sets the request's [`Deadline`] and enforces it (see the module docs).
#[derive(Clone, Debug)]
pub struct SetDeadline<S> {
    inner: S,
    layer: DeadlineLayer,
}

impl<S> Service<Request> for SetDeadline<S>
where
    S: Service<Request, Response = Response>,
    S::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = BoxError;
    type Future = DeadlineFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let now = Instant::now();
        let caller = CallerBudget::from_headers(req.headers());
        if caller.malformed {
            tracing::debug!(budget = ?caller.budget, "ignored a malformed deadline header");
        }
        if caller.budget.is_some_and(|b| b.is_zero()) {
            tracing::debug!("request arrived with its deadline spent; not forwarded");
            return DeadlineFuture::expired();
        }
        let layer = &self.layer;
        let fixed = Deadlines::fix(now, layer.request, layer.total, caller.budget);
        let deadlines = publish(req.extensions_mut(), fixed);
        let idle = self.layer.body_idle;
        // A body that is already complete (GET, HEAD, Content-Length: 0) has
        // no pause to time: skip the wrapper and its allocation.
        let req = if http_body::Body::is_end_stream(req.body()) {
            req
        } else {
            req.map(|b| boxed(TimedBody::new(b, idle, Direction::Upload, None)))
        };
        DeadlineFuture::new(self.inner.call(req), deadlines, idle)
    }
}

/// Stores `fixed` as the request's [`Deadline`] and [`CallDeadline`],
/// tightened by those set when the request arrived (in place: a second
/// insert would allocate again); returns what was stored.
fn publish(extensions: &mut http::Extensions, fixed: Deadlines) -> Deadlines {
    let outer_end = extensions.get::<CallDeadline>().map(|d| d.0);
    let outer_start = extensions.get::<Deadline>().map(|d| d.0);
    let deadlines = fixed.within(outer_start, outer_end);
    match extensions.get_mut::<Deadline>() {
        Some(outer) => outer.0 = deadlines.start.0,
        None => {
            extensions.insert(Deadline(deadlines.start.0));
        }
    }
    if let Some((end, _)) = deadlines.end {
        match extensions.get_mut::<CallDeadline>() {
            Some(outer) => outer.0 = end,
            None => {
                extensions.insert(CallDeadline(end));
            }
        }
    }
    deadlines
}

/// Tells the balancer below when this try's own timeout fires, so it can
/// blame a cancellation then on the endpoint: in the retry layer's hint
/// when there is one (no allocation), else in an [`AttemptEnd`].
fn tell_balancer(extensions: &mut http::Extensions, at: Instant) {
    if let Some(hint) = extensions.get_mut::<EndpointHint>() {
        hint.set_attempt_end(at);
    } else if let Some(end) = extensions.get_mut::<AttemptEnd>() {
        end.0 = at;
    } else {
        extensions.insert(AttemptEnd(at));
    }
}

/// Bounds one attempt and forwards the remaining budget (see the module docs).
#[derive(Clone, Debug)]
pub struct Attempt<S> {
    inner: S,
    layer: AttemptLayer,
}

impl<S> Service<Request> for Attempt<S>
where
    S: Service<Request, Response = Response>,
    S::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = BoxError;
    type Future = AttemptFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let now = Instant::now();
        let attempt_end = self.layer.attempt.map(|a| now + a);
        if req
            .extensions()
            .get::<Deadline>()
            .is_some_and(|d| d.0 <= now)
        {
            return AttemptFuture::expired();
        }
        if let Some(at) = attempt_end {
            tell_balancer(req.extensions_mut(), at);
        }
        let end = req.extensions().get::<CallDeadline>().map(|d| d.0);
        match state::forward_budget(now, end, attempt_end) {
            Some(budget) => state::write_budget(req.headers_mut(), budget),
            None => state::clear_budget(req.headers_mut()),
        }
        let header = match self.layer.response_header {
            Some(after) => {
                let (parts, body) = req.into_parts();
                let (body, sent) = NotifyEnd::new(body);
                req = Request::from_parts(parts, boxed(body));
                HeaderTimer::Waiting(sent, after)
            }
            None => HeaderTimer::Off,
        };
        let attempt = attempt_end.zip(self.layer.attempt);
        AttemptFuture::new(self.inner.call(req), attempt, header)
    }
}
