//! The queue's bounds: the limit in force (learned, or the fixed
//! `max_concurrent`), and, with a learned limit, a queue that absorbs a
//! burst for up to CoDel's `target` until it has to refuse, and then only
//! bridges the gap between a slot freeing and the next request.

use std::time::Duration;

use tokio::time::Instant;

use super::Queue;
use crate::config::AdaptiveLimitSettings;
use crate::middleware::Priority;
use crate::middleware::admission::adaptive::{AdaptiveLimit, AdaptiveSettings};
use crate::middleware::admission::error::{Shed, ShedReason};

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

    /// Whether the queue refused a request (full, or waited too long) in
    /// the last CoDel `interval`: the upstream is taking less than is
    /// offered, not absorbing a burst.
    fn pressed(&self, now: Instant) -> bool {
        self.refused_at
            .is_some_and(|at| now.saturating_duration_since(at) < self.limits.interval)
    }

    /// The queue's bound for an arrival of `priority`. With a learned limit
    /// that is [pressed](Self::pressed), the queue only bridges the gap
    /// between a slot freeing and the next request arriving (the limit is
    /// the protection): a sixteenth of the limit, at least 2. Otherwise it
    /// is `max_queue`, and the wait (below) bounds it instead. Critical
    /// requests may always queue up to `max_queue` (waiting for the next
    /// slot, which goes to them first): with the short queue, bursts of
    /// critical requests found it full of critical waiters and 2% of them
    /// were refused while sheddable ones were being served.
    pub(super) fn max_queue(&self, priority: Priority, now: Instant) -> usize {
        match &self.adaptive {
            Some(_) if priority != Priority::Critical && self.pressed(now) => {
                self.limits.max_queue.min((self.limit() / 16).max(2))
            }
            _ => self.limits.max_queue,
        }
    }

    /// The longest wait for a slot. With a learned limit that is
    /// [pressed](Self::pressed), half the time between two slots freeing
    /// (no-load latency / limit / 2), at least [`MIN_GAP_WAIT`]. The limit
    /// keeps the upstream busy (it settles a request or two above what the
    /// upstream serves at once), so the queue only has to hand a slot freed
    /// about now to a request that has just arrived; a waiter that saw no
    /// slot free for half the usual gap is likely to see the next one taken
    /// by the waiter ahead of it. A longer wait only delays the refusal of
    /// what the upstream cannot take: half the no-load latency (the earlier
    /// bound) put the refusals' p99 at 21 ms in front of a 36 ms upstream
    /// at a limit of 9, where a caller needs the answer at once to go
    /// elsewhere; this put it at 4-9 ms there, and at 3 ms in front of 10
    /// slots of 20 ms. (tokio's timer rounds up to the next millisecond.)
    ///
    /// Not pressed, a waiter may wait up to CoDel's `target` (5 ms by
    /// default): a burst that drains within it is a good queue, not an
    /// overload (`tests/burst.rs`). A stall of the machine releases what
    /// arrived during it at once, above a limit sized for the steady rate.
    /// (Under CPU contention that saturates both cores this did not reduce
    /// chaos 7's refusals: there the upstream itself slows down.) An
    /// overload that starts refuses its first waiters after `target`, and
    /// from then on the short bounds hold.
    ///
    /// A critical request is the exception: it waits up to
    /// `max_queue_wait` (or its deadline) for the next slot, which goes to
    /// it before anything less important. Refusing it after the gap wait
    /// refused half the critical requests of an overload while sheddable
    /// ones took the slots freed a moment later.
    pub(super) fn max_queue_wait(&self, priority: Priority, now: Instant) -> Duration {
        match self.baseline() {
            Some(_) if priority == Priority::Critical => self.limits.max_queue_wait,
            Some(base) if self.pressed(now) => {
                let slots = u32::try_from(self.limit().max(1)).unwrap_or(u32::MAX);
                let gap = (base / slots / 2).max(MIN_GAP_WAIT);
                self.limits.max_queue_wait.min(gap)
            }
            Some(_) => self.limits.max_queue_wait.min(self.codel.target()),
            None => self.limits.max_queue_wait,
        }
    }

    /// Expected wait of the `position`-th waiter: the slots ahead of it
    /// drain at `max_concurrent / service_time` requests per second.
    pub(super) fn expected_wait(&self, position: usize) -> Option<Duration> {
        let per_slot = self.service.get()?;
        let n = u32::try_from(position).unwrap_or(u32::MAX);
        let slots = u32::try_from(self.limit()).unwrap_or(u32::MAX).max(1);
        Some(per_slot.saturating_mul(n) / slots)
    }

    /// [`shed`](Self::shed), for a request refused at `now`: a refusal
    /// for the queue (not for a client's deadline) makes it
    /// [pressed](Self::pressed).
    pub(super) fn refuse(&mut self, now: Instant, reason: ShedReason, priority: Priority) -> Shed {
        if matches!(reason, ShedReason::QueueFull | ShedReason::QueueDelay) {
            self.refused_at = Some(now);
        }
        self.shed(reason, priority)
    }

    /// A refusal with `Retry-After` = time to drain the current queue,
    /// jittered up by 0–50% so refused clients do not return together, and
    /// at least one second.
    pub(super) fn shed(&mut self, reason: ShedReason, priority: Priority) -> Shed {
        let drain = self.expected_wait(self.queued()).unwrap_or_default();
        let jittered = drain.mul_f64(1.0 + self.rng.f64() * 0.5);
        Shed::new(reason, jittered.max(Duration::from_secs(1)), priority)
    }
}
