//! Admission control: a bulkhead with a bounded queue that refuses work it
//! cannot serve in time, at once, instead of letting it pile up.
//!
//! # The algorithm
//!
//! Each compartment (a cluster, or a route with its own `admission:` block)
//! has `max_concurrent` slots and a queue of at most `max_queue` waiters.
//! A request takes a free slot, or waits, or is refused with a 503:
//!
//! * **Bulkhead.** Slots bound what one upstream can hold of seawall (and
//!   of the upstream's own capacity): a slow dependency fills its own
//!   compartment and nobody else's. A free slot with nobody waiting is taken
//!   at once; otherwise FIFO order is kept.
//! * **Bounded queue** (`shed-queue-full`). A queue absorbs bursts; an
//!   unbounded one only converts overload into latency for everyone.
//! * **CoDel** (`shed-queue-delay`). Queue *length* is a poor signal (ten
//!   waiters are nothing for a 1 ms service and seconds for a 500 ms one), so
//!   the queue also watches its *delay*, as folly's server queues do: when
//!   the minimum sojourn over an `interval` (100 ms) exceeds `target` (5 ms),
//!   the queue is standing, not absorbing a burst. Then waiters older than
//!   `target` are refused at the next dequeue, and new arrivals are refused
//!   unless their expected wait (`position × service_time / max_concurrent`)
//!   is within `target`. The verdict is revisited every interval, so shedding
//!   stops one interval after the queue drains. `max_queue_wait` is the
//!   absolute bound behind it, for bursts that CoDel lets through.
//! * **Adaptive LIFO** (optional). While the queue is standing, serve the
//!   newest waiter first: the oldest ones are the likeliest to have been
//!   given up on by their callers, and serving fresh work keeps the latency
//!   of admitted requests low; FIFO again as soon as the queue drains.
//! * **Deadlines** (`shed-deadline`). A request whose [`Deadline`] is closer
//!   than the expected service time (an EWMA of recent slot holding times,
//!   measured here) is refused at arrival, and again when its turn comes; a
//!   queued request's wait also ends when it could no longer finish. Work
//!   that would die upstream is not sent there.
//!
//! A refusal carries `Retry-After` = estimated drain time (`queue length ×
//! service_time / max_concurrent`), jittered up to +50% so refused clients do
//! not come back together, and at least 1 s (see [`Shed`]; `proxy::rescue`
//! maps it to the response). Shedding is local: [`Shed::is_local`].
//!
//! # Admission in `call`, never in `poll_ready`
//!
//! `poll_ready` only asks the inner service and reserves nothing. hyper
//! polls readiness on idle keep-alive connections, so a slot taken in
//! `poll_ready` would be hoarded by a connection that sends nothing (and a
//! tower `LoadShed` over a `Buffer` sheds spuriously for the same kind of
//! reason). Instead `call` decides: admitted requests call the inner service
//! at once; queued ones take the already-ready inner service with them (a
//! clone replaces it) and call it when granted.
//!
//! # Shared state, cancellation, resize
//!
//! A compartment is an [`AdmissionState`] behind `Arc`, shared by every
//! clone of the stack on every connection. The decisions live in a pure
//! state machine (`state.rs`, tested with explicit instants); a slot is a
//! permit that releases itself on drop, so a client hanging up while queued
//! or in flight frees it without leaks. [`AdmissionState::resize`] swaps the
//! limits in place, keeping held permits, so a reload can resize a
//! compartment without resetting it.
//!
//! # Metrics
//!
//! [`AdmissionMetrics`] (from [`AdmissionState::metrics`]): gauges
//! `in_flight`, `queued`, `standing`, `service_time_micros`; counters
//! `admitted_total` and `shed_{queue_full,queue_delay,deadline}_total`; a
//! queue-wait histogram by priority (`queue_wait`).

pub mod adaptive;
mod codel;
mod error;
mod future;
mod layer;
mod metrics;
mod outcome;
mod shared;
mod state;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::task::{Context, Poll};

use tower::Service;

pub use error::{Shed, ShedReason};
pub use future::LoadSignal;
pub use future::ResponseFuture;
pub use layer::AdmissionLayer;
pub use metrics::{AdmissionMetrics, QUEUE_WAIT_BOUNDS, QueueWait};
pub use shared::AdmissionState;

use super::{Deadline, Priority};
use crate::wire::BoxError;
use shared::Acquire;

/// Admits requests to `inner` through a shared [`AdmissionState`].
#[derive(Clone, Debug)]
pub struct Admission<S> {
    inner: S,
    state: Arc<AdmissionState>,
}

impl<S> Admission<S> {
    /// Admits requests to `inner` through the compartment `state`.
    pub fn new(inner: S, state: Arc<AdmissionState>) -> Self {
        Self { inner, state }
    }
}

impl<S, B> Service<http::Request<B>> for Admission<S>
where
    S: Service<http::Request<B>> + Clone,
    S::Response: LoadSignal,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, http::Request<B>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Reserves nothing here: see the module doc.
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let deadline = request.extensions().get::<Deadline>().map(|d| d.0);
        let priority = request
            .extensions()
            .get::<Priority>()
            .copied()
            .unwrap_or_default();
        match self.state.acquire(deadline, priority) {
            Acquire::Admitted(permit) => ResponseFuture::running(self.inner.call(request), permit),
            Acquire::Waiting(waiter) => {
                // The ready service goes with the request; this clone polls
                // readiness afresh for the next one.
                let fresh = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, fresh);
                ResponseFuture::waiting(waiter, ready, request)
            }
            Acquire::Shed(shed) => {
                tracing::debug!(reason = shed.reason.code(), "shed");
                ResponseFuture::shed(shed)
            }
        }
    }
}
