//! The guard a request holds on the endpoint it was sent to: it counts the
//! request in flight, records its latency, and reports its outcome to the
//! set's outlier detection.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::endpoint::Endpoint;
use super::set::EndpointSet;
use crate::middleware::classify::{Classifier, End, Outcome};

/// Counts one request against an endpoint for as long as it lives.
///
/// Created when the balancer picks the endpoint; [`InFlight::complete`]
/// records the latency when the answer (or an error) arrives. Dropped without
/// completing (the caller cancelled, e.g. a per-try timeout), it records the
/// elapsed time as a lower bound, so a hung endpoint looks expensive rather
/// than idle; either way the in-flight count goes back down.
///
/// Created with [`InFlight::reporting`], it also feeds outlier ejection: the
/// outcome on completion, and a cancellation as a failure when it came at
/// or after the attempt's own per-try timeout (the endpoint did not answer
/// in time; Envoy counts it as a gateway error) or, for a cancellation the
/// endpoint did not cause (the client went away, a route deadline), after
/// `cancelled_after`. A hung endpoint is only ever seen through
/// cancellations.
#[derive(Debug)]
pub struct InFlight {
    endpoint: Arc<Endpoint>,
    started: Instant,
    completed: bool,
    set: Option<Arc<EndpointSet>>,
    /// When the attempt's own per-try timeout fires, if it has one.
    attempt_end: Option<Instant>,
}

impl InFlight {
    /// Starts counting a request against `endpoint`.
    pub fn new(endpoint: Arc<Endpoint>) -> Self {
        Self::new_at(endpoint, Instant::now())
    }

    /// [`InFlight::new`], counted from `started` (the clock already read).
    fn new_at(endpoint: Arc<Endpoint>, started: Instant) -> Self {
        if endpoint.in_flight.fetch_add(1, Ordering::AcqRel) == 0 {
            // Idle until now: its last answer may be old, its requests are not.
            endpoint.ewma().busy_from(started);
        }
        Self {
            endpoint,
            started,
            completed: false,
            set: None,
            attempt_end: None,
        }
    }

    /// Starts counting a request against `endpoint`, reporting its outcome
    /// to `set`'s outlier detection.
    /// `now` is when the balancer picked it (one clock read for the pick
    /// and the count).
    pub fn reporting(
        endpoint: Arc<Endpoint>,
        set: Arc<EndpointSet>,
        attempt_end: Option<Instant>,
        now: Instant,
    ) -> Self {
        let mut guard = Self::new_at(endpoint, now);
        guard.set = Some(set);
        guard.attempt_end = attempt_end;
        guard
    }

    /// The endpoint this request was sent to.
    pub fn endpoint(&self) -> &Arc<Endpoint> {
        &self.endpoint
    }

    /// Time since the request was counted.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Time from the request's count to `now`.
    pub fn elapsed_at(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.started)
    }

    /// Records that the request took `rtt`, then stops counting it.
    pub fn complete(self, rtt: Duration) {
        self.complete_at(rtt, Instant::now());
    }

    /// [`InFlight::complete`] with the clock already read.
    fn complete_at(mut self, rtt: Duration, now: Instant) {
        self.endpoint.observe(rtt, now);
        self.completed = true;
    }

    /// Records that the request failed after `rtt` without an answer (no
    /// connection, reset, protocol error): a lower bound, as for a
    /// cancellation. A refused connection fails in microseconds, and read
    /// as an RTT it would make the dead endpoint the cheapest of all.
    pub fn fail(self, rtt: Duration) {
        self.fail_at(rtt, Instant::now());
    }

    /// [`InFlight::fail`] with the clock already read.
    fn fail_at(mut self, rtt: Duration, now: Instant) {
        self.endpoint.ewma().observe_at_least(rtt, now);
        self.completed = true;
    }

    /// [`InFlight::complete`] at `now`, and the outcome later, through the
    /// returned `Verdict`.
    pub fn complete_later(self, rtt: Duration, now: Instant) -> Verdict {
        let verdict = Verdict {
            endpoint: self.endpoint.clone(),
            set: self.set.clone(),
        };
        self.complete_at(rtt, now);
        verdict
    }

    /// [`InFlight::complete`] for an answer, [`InFlight::fail`] for `None`,
    /// and reports the outcome `judge` reads with the cluster's classifier;
    /// all at `now`, the instant the answer (or error) arrived.
    pub fn complete_with(
        self,
        rtt: Duration,
        answered: bool,
        now: Instant,
        judge: impl FnOnce(&Classifier) -> Outcome,
    ) {
        if let Some(set) = &self.set {
            set.report(&self.endpoint, judge, now);
        }
        if answered {
            self.complete_at(rtt, now);
        } else {
            self.fail_at(rtt, now);
        }
    }
}

/// The outcome of a request still to be reported, when its body ends
/// (a streamed gRPC response: its status is in the trailers).
pub struct Verdict {
    endpoint: Arc<Endpoint>,
    set: Option<Arc<EndpointSet>>,
}

impl Verdict {
    /// Reports how the response ended to the set's outlier detection.
    pub fn report(self, end: End) {
        if let Some(set) = &self.set {
            set.report(&self.endpoint, |c| c.end(end), Instant::now());
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.completed {
            let now = Instant::now();
            let elapsed = now.saturating_duration_since(self.started);
            self.endpoint.ewma().observe_at_least(elapsed, now);
            if let Some(set) = &self.set {
                // Cancelled by its own per-try timeout: the endpoint's fault.
                let timed_out = self.attempt_end.is_some_and(|end| now >= end);
                set.report_cancelled(&self.endpoint, elapsed, timed_out, now);
            }
        }
        self.endpoint.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
