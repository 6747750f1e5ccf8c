//! The admission decision as a pure state machine: slots, a bounded queue,
//! CoDel, adaptive LIFO, deadlines and `Retry-After`.
//!
//! No I/O, no tasks, no clock: every method takes `now`, and waiters carry
//! an opaque payload `T` (the service uses a channel sender to wake a
//! waiter; tests use plain labels). The shared, locked wrapper in
//! `shared.rs` turns these decisions into woken futures, so every rule here
//! is tested step by step with explicit instants.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::adaptive::AdaptiveLimit;
use super::codel::{Codel, ServiceTime};
use super::error::{Shed, ShedReason};
pub(crate) use super::outcome::{Arrival, Handoff, Sample, Verdict};
use crate::config::AdmissionSettings;
use crate::middleware::Priority;
use limits::bounds;

mod limits;

#[derive(Debug)]
struct Waiter<T> {
    id: u64,
    priority: Priority,
    enqueued: Instant,
    deadline: Option<Instant>,
    expires: Instant,
    reason: ShedReason,
    payload: T,
}

/// Slots in use, the waiting line, and the estimators that decide.
#[derive(Debug)]
pub(crate) struct Queue<T> {
    pub(super) limits: AdmissionSettings,
    in_flight: usize,
    /// One line per priority (`Priority::index`), each oldest first.
    waiters: [VecDeque<Waiter<T>>; 3],
    next_id: u64,
    codel: Codel,
    service: ServiceTime,
    /// The learned limit, when the compartment has no fixed one.
    pub(super) adaptive: Option<AdaptiveLimit>,
    /// When the queue last refused a request (full, or waited too long).
    refused_at: Option<Instant>,
    rng: fastrand::Rng,
}

impl<T> Queue<T> {
    /// An empty queue; `rng` jitters `Retry-After` (seed it in tests).
    pub(crate) fn new(limits: AdmissionSettings, now: Instant, rng: fastrand::Rng) -> Self {
        let codel = Codel::new(limits.target, limits.interval, now);
        Self {
            adaptive: limits.adaptive.map(|a| AdaptiveLimit::new(bounds(a), now)),
            limits,
            in_flight: 0,
            waiters: Default::default(),
            next_id: 0,
            codel,
            service: ServiceTime::default(),
            refused_at: None,
            rng,
        }
    }

    /// Slots in use (may exceed `max_concurrent` just after a shrink).
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Requests waiting.
    pub(crate) fn queued(&self) -> usize {
        self.waiters.iter().map(VecDeque::len).sum()
    }

    /// Requests waiting at `priority` or above: those served before it.
    fn ahead_of(&self, priority: Priority) -> usize {
        self.waiters[priority.index()..]
            .iter()
            .map(VecDeque::len)
            .sum()
    }

    /// Whether CoDel currently judges the queue standing.
    pub(crate) fn overloaded(&self) -> bool {
        self.codel.overloaded()
    }

    /// The service-time estimate, once a request has completed.
    pub(crate) fn service_time(&self) -> Option<Duration> {
        self.service.get()
    }

    /// Decides a new request's fate. Checks, in order: a deadline it cannot
    /// meet even if served at once; a free slot with nobody waiting; the
    /// queue standing (CoDel) and the wait it would face above `target`
    /// (a sheddable request is refused at once, a critical one waits); the
    /// queue full, unless a lower-priority waiter can make room. Returns
    /// `Some(verdict)` as the second value when CoDel's verdict changed.
    pub(crate) fn arrive(
        &mut self,
        now: Instant,
        deadline: Option<Instant>,
        priority: Priority,
    ) -> (Arrival, Option<bool>) {
        let change = self.roll(now);
        if self.unmeetable(now, deadline) {
            return (
                Arrival::Shed(self.refuse(now, ShedReason::Deadline, priority)),
                change,
            );
        }
        if self.in_flight < self.limit() && self.queued() == 0 {
            self.in_flight += 1;
            self.codel.observe(Duration::ZERO);
            return (Arrival::Admit, change);
        }
        let standing = self.codel.overloaded()
            && match priority {
                Priority::Sheddable => true,
                Priority::Default => self
                    .expected_wait(self.ahead_of(priority) + 1)
                    .is_none_or(|wait| wait > self.codel.target()),
                Priority::Critical => false,
            };
        if standing {
            return (
                Arrival::Shed(self.refuse(now, ShedReason::QueueDelay, priority)),
                change,
            );
        }
        let bound = self.max_queue(priority, now);
        if self.queued() >= bound && self.lowest_waiting() >= Some(priority) {
            return (
                Arrival::Shed(self.refuse(now, ShedReason::QueueFull, priority)),
                change,
            );
        }
        if bound == 0 {
            return (
                Arrival::Shed(self.refuse(now, ShedReason::QueueFull, priority)),
                change,
            );
        }
        let mut expires = now + self.max_queue_wait(priority, now);
        let mut reason = ShedReason::QueueDelay;
        if let Some(deadline) = deadline {
            let latest_start = deadline
                .checked_sub(self.service.get().unwrap_or_default())
                .unwrap_or(now);
            if latest_start < expires {
                (expires, reason) = (latest_start, ShedReason::Deadline);
            }
        }
        (Arrival::Wait { expires, reason }, change)
    }

    /// The lowest priority with a waiter.
    fn lowest_waiting(&self) -> Option<Priority> {
        Priority::ALL
            .into_iter()
            .find(|p| !self.waiters[p.index()].is_empty())
    }

    /// Adds a waiter after [`Arrival::Wait`] (with its `expires` and
    /// `reason`); returns its id, and the waiter it pushed out when the
    /// queue was full: the newest of the lowest priority, refused.
    pub(crate) fn enqueue(
        &mut self,
        now: Instant,
        deadline: Option<Instant>,
        (expires, reason): (Instant, ShedReason),
        priority: Priority,
        payload: T,
    ) -> (u64, Option<Handoff<T>>) {
        let evicted = if self.queued() >= self.max_queue(priority, now) {
            self.lowest_waiting()
                .and_then(|p| self.waiters[p.index()].pop_back())
                .map(|w| Handoff {
                    priority: w.priority,
                    outcome: Err(self.refuse(now, ShedReason::QueueFull, w.priority)),
                    payload: w.payload,
                    in_flight_at_grant: 0,
                })
        } else {
            None
        };
        let id = self.next_id;
        self.next_id += 1;
        self.waiters[priority.index()].push_back(Waiter {
            id,
            priority,
            enqueued: now,
            deadline,
            expires,
            reason,
            payload,
        });
        (id, evicted)
    }

    /// Takes waiter `id` out of the queue: its client went away
    /// (`expired == false`) or its wait ended (`true`; the sojourn then
    /// counts for CoDel). `None` if it already left.
    pub(crate) fn remove(&mut self, id: u64, now: Instant, expired: bool) -> Option<(T, Shed)> {
        let line = self
            .waiters
            .iter_mut()
            .find(|line| line.iter().any(|w| w.id == id))?;
        let at = line.iter().position(|w| w.id == id)?;
        let w = line.remove(at)?;
        if expired {
            self.codel
                .observe(now.saturating_duration_since(w.enqueued));
        }
        let shed = if expired {
            self.refuse(now, w.reason, w.priority)
        } else {
            self.shed(w.reason, w.priority)
        };
        Some((w.payload, shed))
    }

    /// A slot is given back; `sample` is the request's service time when it
    /// completed (a cancelled request has none). Hands freed slots on.
    #[cfg(test)]
    pub(crate) fn release(
        &mut self,
        now: Instant,
        sample: Option<Duration>,
    ) -> (Vec<Handoff<T>>, Option<bool>) {
        let sample = sample.map(|held| Sample {
            held,
            in_flight_at_grant: self.in_flight,
            verdict: Verdict::Silent,
        });
        self.finish(now, sample)
    }

    /// [`release`](Self::release) with what the request's outcome says
    /// about the upstream's load, for the learned limit.
    pub(crate) fn finish(
        &mut self,
        now: Instant,
        sample: Option<Sample>,
    ) -> (Vec<Handoff<T>>, Option<bool>) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if let Some(sample) = sample {
            self.service.observe(sample.held);
            if let Some(adaptive) = &mut self.adaptive
                && sample.verdict != Verdict::Silent
            {
                let at_grant = u32::try_from(sample.in_flight_at_grant).unwrap_or(u32::MAX);
                let dropped = sample.verdict == Verdict::Overloaded;
                adaptive.on_sample(now, sample.held, at_grant, dropped);
            }
        }
        self.dispatch(now)
    }

    /// New limits, keeping every slot already held. Waiters beyond a smaller
    /// `max_queue` (the newest) are refused; a larger `max_concurrent`
    /// serves waiters at once; a smaller one takes effect as slots return.
    pub(crate) fn resize(
        &mut self,
        limits: AdmissionSettings,
        now: Instant,
    ) -> (Vec<Handoff<T>>, Option<bool>) {
        self.codel.set(limits.target, limits.interval);
        if limits.adaptive != self.limits.adaptive {
            // New bounds start a new learning; unchanged ones keep it.
            self.adaptive = limits.adaptive.map(|a| AdaptiveLimit::new(bounds(a), now));
        }
        self.limits = limits;
        let mut out = Vec::new();
        while self.queued() > self.max_queue(Priority::Critical, now) {
            let lowest = self.lowest_waiting();
            if let Some(w) = lowest.and_then(|p| self.waiters[p.index()].pop_back()) {
                let outcome = Err(self.refuse(now, ShedReason::QueueFull, w.priority));
                out.push(Handoff {
                    priority: w.priority,
                    payload: w.payload,
                    outcome,
                    in_flight_at_grant: 0,
                });
            }
        }
        let (more, change) = self.dispatch(now);
        out.extend(more);
        (out, change)
    }

    /// Gives free slots to waiters: first refuses, from the oldest of each
    /// line, those past their own expiry or, while the queue is standing,
    /// past `target`; then serves the highest priority first, the oldest
    /// (or, standing with `adaptive_lifo`, the newest) of its line, unless
    /// its deadline can no longer be met.
    fn dispatch(&mut self, now: Instant) -> (Vec<Handoff<T>>, Option<bool>) {
        let change = self.roll(now);
        let mut out = Vec::new();
        for p in Priority::ALL {
            self.expire_line(p, now, &mut out);
        }
        while self.in_flight < self.limit() {
            let lifo = self.limits.adaptive_lifo && self.codel.overloaded();
            let Some(line) = self.waiters.iter_mut().rev().find(|l| !l.is_empty()) else {
                break;
            };
            let next = if lifo {
                line.pop_back()
            } else {
                line.pop_front()
            };
            let Some(w) = next else { break };
            let waited = now.saturating_duration_since(w.enqueued);
            self.codel.observe(waited);
            let outcome = if self.unmeetable(now, w.deadline) {
                Err(self.refuse(now, ShedReason::Deadline, w.priority))
            } else {
                self.in_flight += 1;
                Ok(waited)
            };
            out.push(Handoff {
                priority: w.priority,
                payload: w.payload,
                outcome,
                in_flight_at_grant: self.in_flight,
            });
        }
        (out, change)
    }

    /// Refuses, from the oldest of `priority`'s line, the waiters past
    /// their own expiry or, while the queue is standing, past `target`
    /// (critical waiters only by their own expiry: they are served first,
    /// and standing is what the others are refused for).
    fn expire_line(&mut self, priority: Priority, now: Instant, out: &mut Vec<Handoff<T>>) {
        let by_delay = priority != Priority::Critical;
        while let Some(front) = self.waiters[priority.index()].front() {
            let age = now.saturating_duration_since(front.enqueued);
            let reason = if now >= front.expires {
                front.reason
            } else if by_delay && self.codel.overloaded() && age > self.codel.target() {
                ShedReason::QueueDelay
            } else {
                break;
            };
            self.codel.observe(age);
            if let Some(w) = self.waiters[priority.index()].pop_front() {
                out.push(Handoff {
                    priority: w.priority,
                    outcome: Err(self.refuse(now, reason, w.priority)),
                    payload: w.payload,
                    in_flight_at_grant: 0,
                });
            }
        }
    }

    /// Closes CoDel's interval if due (the oldest waiter's age stands in
    /// when nobody left the queue).
    fn roll(&mut self, now: Instant) -> Option<bool> {
        let head_age = self
            .waiters
            .iter()
            .filter_map(VecDeque::front)
            .map(|w| now.saturating_duration_since(w.enqueued))
            .max();
        self.codel.roll(now, head_age)
    }

    /// True when the deadline has passed or is closer than the expected
    /// service time (no estimate yet: only a passed deadline counts).
    fn unmeetable(&self, now: Instant, deadline: Option<Instant>) -> bool {
        let Some(deadline) = deadline else {
            return false;
        };
        let left = deadline.saturating_duration_since(now);
        left.is_zero() || self.service.get().is_some_and(|s| left < s)
    }
}
