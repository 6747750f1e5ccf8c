//! The cluster circuit breaker: stop sending to a dependency that is failing,
//! find out by itself when it has recovered.
//!
//! # Closed, Open, HalfOpen
//!
//! **Closed**: requests go through and their outcomes (judged by the one
//! [`Classifier`]) are counted. Between "everything" and "nothing" sits a
//! throttle ([`throttle`]): while the upstream accepts only part of the
//! load, the excess is refused (503 `breaker-throttled`) and about
//! `accept_multiplier` times what it accepts goes through.
//!
//! **Overload is not an outage.** Resilience4j, Hystrix and failure accrual
//! (linkerd, Finagle) open on a failure rate or a failure streak, and an
//! upstream that is merely overloaded produces both: its queue makes calls
//! time out while others succeed, the breaker opens, and a capacity dip
//! becomes a full outage, often a second time just after capacity came
//! back. Here the rule is what the upstream *accepts*:
//!
//! - a hard failure (refused or broken connection, reset, failure status)
//!   counts toward `consecutive_failures`: a dead dependency opens the
//!   breaker within a handful of calls, as before;
//! - a timed-out attempt ([`state::Call::TimedOut`]) only feeds the
//!   throttle while anything else succeeds; it opens the breaker when
//!   nothing at all has succeeded for [`state::STALL`] (1 s) while
//!   `consecutive_failures` calls failed, timed out or were throttled (a
//!   paused or hung dependency);
//! - the failure share of the window opens it only at `failure_rate`,
//!   which by default is 100%: nothing in the window succeeded. Timeouts
//!   are in the share, but a timeout trips it only once nothing has
//!   succeeded for [`state::STALL`]: on a cold start under overload the
//!   first twenty calls to end can all be timeouts (thirty callers at once
//!   queued in an upstream of five slots) while the next ones succeed;
//! - the share of calls slower than `slow_call_threshold` is an opt-in
//!   trigger for dependencies that answer too late to be useful.
//!
//! The rate triggers judge nothing until the window holds `minimum_calls`
//! (and the throttle refuses nothing on fewer): two failures out of three
//! calls at 3 a.m. are noise, not an outage. The window is either the last
//! N calls or the last T of time (constant memory, whole-bucket expiry).
//! The throttle reads the last 2 s, and forgets a dip as soon as
//! `minimum_calls` admitted calls in a row succeed, so refusals stop within
//! moments of the upstream accepting again.
//!
//! **Open**: every request fails at once with 503 `breaker-open`, a
//! `Retry-After` of the time left open, and the no-retry mark. Failing fast
//! is the point: callers stop queueing behind a dead dependency and it gets
//! room to recover. The open time doubles with each trip that follows a
//! failed probe (capped at `max_open_duration`), and is shortened by a random
//! `jitter` share so a fleet of sidecars tripped by one outage does not probe
//! in lockstep.
//!
//! **HalfOpen**: once the open time is over, `half_open_probes` requests go
//! through as probes; the rest are refused. That many successes close the
//! breaker (and reset the backoff); one failure, or one slow probe when the
//! slow trigger is on, reopens it. A probe that never finishes — its future
//! dropped by a timeout or a client that left — frees its slot when dropped,
//! so the breaker cannot wedge in HalfOpen.
//!
//! # Choices
//!
//! - One breaker per cluster, outside the balancer: it isolates the
//!   *dependency*; a single bad replica is the balancer's outlier ejection's
//!   business, and ejection reacts first (its threshold is lower), so a
//!   healthy cluster with one bad replica does not trip the breaker.
//! - Retry sits outside: each attempt is counted, and an open breaker fails
//!   an attempt at once (it is marked so nobody retries it).
//! - Decisions live in a pure [`state`] machine; [`Breaker`] adds the mutex,
//!   logs each transition once and counts them for metrics.
//! - Manual override per cluster: `auto`, `force_open`, `force_closed`,
//!   `metrics_only` (transitions logged and counted, nothing refused), from
//!   config or `POST /clusters/<name>/breaker?mode=...` on the admin port.
//! - Admission happens in `call`, never in `poll_ready`: hyper polls
//!   readiness on idle connections, and a probe slot taken there would be
//!   held by a connection that sends nothing.

mod error;
mod events;
mod future;
mod layer;
mod shared;
pub mod state;
#[cfg(test)]
mod tests;
pub mod throttle;
mod window;

use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::Instant;
use tower::Service;

pub use error::BreakerOpen;
pub use future::ResponseFuture;
pub use layer::BreakerLayer;
pub use shared::{Breaker, Counters, Ticket};
pub use state::Phase;

use crate::middleware::classify::Classifier;
use crate::wire::BoxError;

/// Guards an inner service with a cluster's [`Breaker`].
#[derive(Clone, Debug)]
pub struct BreakerService<S> {
    inner: S,
    breaker: Arc<Breaker>,
    classifier: Classifier,
}

impl<S, B, RB> Service<http::Request<B>> for BreakerService<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Error: Into<BoxError>,
    RB: crate::middleware::classify::Watched,
{
    type Response = http::Response<RB>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        match self.breaker.acquire(Instant::now()) {
            Ok(ticket) => {
                ResponseFuture::called(self.inner.call(request), ticket, self.classifier.clone())
            }
            Err(open) => ResponseFuture::refused(open.into()),
        }
    }
}
