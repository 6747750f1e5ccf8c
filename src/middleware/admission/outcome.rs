//! What the queue's decisions hand back: a new request's fate, a waiter
//! leaving the queue, and what a finished request tells the learned limit.

use std::time::Duration;

use tokio::time::Instant;

use super::error::{Shed, ShedReason};
use crate::middleware::Priority;

/// What happens to a new request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// It holds a slot now.
    Admit,
    /// It must wait; [`Queue::enqueue`] adds it. At `expires` it is refused
    /// with `reason` if still waiting.
    Wait {
        /// When its wait ends, by `max_queue_wait` or by its deadline.
        expires: Instant,
        /// The reason it is refused with then.
        reason: ShedReason,
    },
    /// It is refused.
    Shed(Shed),
}

/// What happened to a waiter that left the queue.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Handoff<T> {
    /// The waiter's payload.
    pub payload: T,
    /// The waiter's priority.
    pub priority: Priority,
    /// Requests in flight right after its grant (itself included).
    pub in_flight_at_grant: usize,
    /// `Ok(time waited)` with a slot, or why it was refused.
    pub outcome: Result<Duration, Shed>,
}

/// What a finished request tells the limit: how long it held its slot
/// (from the grant to its response headers or error), how many were in
/// flight when it got the slot (itself included), and how it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sample {
    /// Slot held for this long.
    pub held: Duration,
    /// In flight right after its grant.
    pub in_flight_at_grant: usize,
    /// What the outcome says about the upstream's load.
    pub verdict: Verdict,
}

/// What an outcome says about the upstream's load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Answered: its latency is a sample of the upstream's.
    Answered,
    /// Timed out, or refused as overloaded (503, 429): a drop.
    Overloaded,
    /// Failed fast (connect error, reset) or otherwise says nothing about
    /// queueing: only the service-time estimate sees it.
    Silent,
}
