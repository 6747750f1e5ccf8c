//! The queue's bounds: the limit in force (learned, or the fixed
//! `max_concurrent`), and, with a learned limit, a queue that only bridges
//! the gap between a slot freeing and the next request.

use std::time::Duration;

use super::Queue;
use crate::config::AdaptiveLimitSettings;
use crate::middleware::Priority;
use crate::middleware::admission::adaptive::{AdaptiveLimit, AdaptiveSettings};

/// The shortest wait for a slot under a learned limit.
const MIN_GAP_WAIT: Duration = Duration::from_millis(1);

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
    /// How many endpoints the requests are spread over (the learned
    /// limit's tolerated queue grows with it).
    pub(crate) fn set_spread(&mut self, endpoints: usize) {
        if let Some(a) = &mut self.adaptive {
            a.set_spread(endpoints);
        }
    }

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

    /// The queue's bound for an arrival of `priority`. With a learned limit
    /// the queue only bridges the gap between a slot freeing and the next
    /// request arriving (the limit is the protection): a sixteenth of the
    /// limit, at least 2. Critical requests may queue up to `max_queue`
    /// (waiting for the next slot, which goes to them first): with the
    /// short queue, bursts of critical requests found it full of critical
    /// waiters and 2% of them were refused while sheddable ones were being
    /// served.
    pub(super) fn max_queue(&self, priority: Priority) -> usize {
        match &self.adaptive {
            Some(_) if priority != Priority::Critical => {
                self.limits.max_queue.min((self.limit() / 16).max(2))
            }
            _ => self.limits.max_queue,
        }
    }

    /// The longest wait for a slot. With a learned limit, half the time
    /// between two slots freeing (no-load latency / limit / 2), at least
    /// [`MIN_GAP_WAIT`]. The limit keeps the upstream busy (it settles a
    /// request or two above what the upstream serves at once), so the
    /// queue only has to hand a slot freed about now to a request that has
    /// just arrived; a waiter that saw no slot free for half the usual gap
    /// is likely to see the next one taken by the waiter ahead of it. A
    /// longer wait only delays the refusal of what the upstream cannot
    /// take: half the no-load latency (the earlier bound) put the
    /// refusals' p99 at 21 ms in front of a 36 ms upstream at a limit of
    /// 9, where a caller needs the answer at once to go elsewhere; this
    /// put it at 4-9 ms there, and at 3 ms in front of 10 slots of 20 ms.
    /// (tokio's timer rounds up to the next millisecond.)
    ///
    /// A critical request is the exception: it waits up to
    /// `max_queue_wait` (or its deadline) for the next slot, which goes to
    /// it before anything less important. Refusing it after the gap wait
    /// refused half the critical requests of an overload while sheddable
    /// ones took the slots freed a moment later.
    pub(super) fn max_queue_wait(&self, priority: Priority) -> Duration {
        match self.baseline() {
            Some(_) if priority == Priority::Critical => self.limits.max_queue_wait,
            Some(base) => {
                let slots = u32::try_from(self.limit().max(1)).unwrap_or(u32::MAX);
                let gap = (base / slots / 2).max(MIN_GAP_WAIT);
                self.limits.max_queue_wait.min(gap)
            }
            None => self.limits.max_queue_wait,
        }
    }
}
