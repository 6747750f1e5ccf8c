//! The queue's bounds: the limit in force (learned, or the fixed
//! `max_concurrent`), and, with a learned limit, a queue that only bridges
//! the gap between a slot freeing and the next request.

use std::time::Duration;

use super::Queue;
use crate::config::AdaptiveLimitSettings;
use crate::middleware::admission::adaptive::{AdaptiveLimit, AdaptiveSettings};

/// The learned limit's settings from the config's.
pub(super) fn bounds(a: AdaptiveLimitSettings) -> AdaptiveSettings {
    AdaptiveSettings {
        min: a.min,
        max: a.max,
        initial: a.initial,
        refresh: a.refresh,
    }
}

impl<T> Queue<T> {
    /// Requests that may be in flight now: the learned limit, or the fixed
    /// `max_concurrent`.
    pub(crate) fn limit(&self) -> usize {
        match &self.adaptive {
            Some(a) => usize::try_from(a.limit()).unwrap_or(usize::MAX),
            None => self.limits.max_concurrent.get(),
        }
    }

    /// The learned no-load latency, with an adaptive limit.
    pub(crate) fn baseline(&self) -> Option<Duration> {
        self.adaptive.as_ref().and_then(AdaptiveLimit::baseline)
    }

    /// The queue's bound. With a learned limit the queue only bridges the
    /// gap between a slot freeing and the next request arriving (the limit
    /// is the protection): a sixteenth of the limit, at least 2.
    pub(super) fn max_queue(&self) -> usize {
        match &self.adaptive {
            Some(_) => self.limits.max_queue.min((self.limit() / 16).max(2)),
            None => self.limits.max_queue,
        }
    }

    /// The longest wait for a slot: with a learned limit, a few
    /// milliseconds (half the no-load latency, at least 5 ms).
    pub(super) fn max_queue_wait(&self) -> Duration {
        match self.baseline() {
            Some(base) => self
                .limits
                .max_queue_wait
                .min((base / 2).max(Duration::from_millis(5))),
            None => self.limits.max_queue_wait,
        }
    }
}
