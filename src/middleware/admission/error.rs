//! The admission layer's one error: the request was refused before it used
//! any upstream capacity.
//!
//! A [`Shed`] is a *local* rejection (503 with
//! `x-seawall-error: shed-*`, a `Retry-After` and the no-retry mark). It says
//! nothing about the upstream's health, so the breaker and outlier detection
//! must ignore it: they can ask [`Shed::is_local`] on any error in a
//! `source()` chain (or simply downcast to `Shed`). Only this module builds
//! one, so every 503 `shed-*` that seawall sends came from here.

use std::fmt;
use std::time::Duration;

use crate::middleware::Priority;

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShedReason {
    /// Every slot was busy and the queue was at `max_queue`.
    QueueFull,
    /// The queue was standing (CoDel: its minimum delay over an interval
    /// exceeded the target), or the request waited `max_queue_wait`.
    QueueDelay,
    /// The caller's remaining deadline was shorter than the expected service
    /// time, at arrival or when its turn came.
    Deadline,
}

impl ShedReason {
    /// The reason code sent in `x-seawall-error` and used as a metric label.
    pub const fn code(self) -> &'static str {
        match self {
            Self::QueueFull => "shed-queue-full",
            Self::QueueDelay => "shed-queue-delay",
            Self::Deadline => "shed-deadline",
        }
    }
}

/// A request refused by admission control.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Shed {
    /// Why it was refused.
    pub reason: ShedReason,
    /// When the caller may try again: the estimated time to drain the queue,
    /// jittered, at least one second.
    pub retry_after: Duration,
    /// The priority of the request refused.
    pub priority: Priority,
}

impl Shed {
    /// Only admission control refuses requests.
    pub(super) fn new(reason: ShedReason, retry_after: Duration, priority: Priority) -> Self {
        Self {
            reason,
            retry_after,
            priority,
        }
    }

    /// Always true: shedding is seawall's own decision, never evidence
    /// against the upstream. Breakers and outlier detection skip errors for
    /// which this holds.
    pub const fn is_local(&self) -> bool {
        true
    }
}

impl fmt::Display for Shed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "request shed by admission control ({})",
            self.reason.code()
        )
    }
}

impl std::error::Error for Shed {}
