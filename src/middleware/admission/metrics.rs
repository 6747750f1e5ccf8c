//! Counters and gauges of one compartment, as plain atomics.
//!
//! `telemetry::collect` reads these at scrape time and exports them as
//! `seawall_admission_*{cluster, compartment}` and `seawall_shed_total`. They are updated under the compartment's lock or with
//! relaxed atomics: a scrape may see one gauge a request ahead of another,
//! never a torn value.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use super::error::{Shed, ShedReason};
use crate::middleware::Priority;

/// A compartment's counters (`_total`) and gauges.
#[derive(Debug, Default)]
pub struct AdmissionMetrics {
    /// Gauge: requests holding a slot.
    pub in_flight: AtomicUsize,
    /// Gauge: requests waiting for a slot.
    pub queued: AtomicUsize,
    /// Gauge: CoDel judges the queue standing (shedding by delay).
    pub standing: AtomicBool,
    /// Gauge: the service-time estimate, in microseconds (0 = none yet).
    pub service_time_micros: AtomicU64,
    /// Counter: requests given a slot (at once or after waiting).
    pub admitted_total: AtomicU64,
    /// Counter: refused with `shed-queue-full`.
    pub shed_queue_full_total: AtomicU64,
    /// Counter: refused with `shed-queue-delay`.
    pub shed_queue_delay_total: AtomicU64,
    /// Counter: refused with `shed-deadline`.
    pub shed_deadline_total: AtomicU64,
    /// How long admitted requests waited, by priority (`Priority::index`).
    pub queue_wait: [QueueWait; 3],
    /// Requests refused, by priority (`Priority::index`).
    pub shed_by_priority: [AtomicU64; 3],
    /// Requests admitted, by priority (`Priority::index`).
    pub admitted_by_priority: [AtomicU64; 3],
    /// The concurrency limit in force (learned, or the fixed one).
    pub limit: AtomicUsize,
    /// The learned no-load latency, microseconds (0 until known, or fixed).
    pub baseline_micros: AtomicU64,
}

/// The waits of requests that queued and got a slot.
#[derive(Debug, Default)]
pub struct QueueWait {
    /// How many.
    pub count: AtomicU64,
    /// Their total wait, in microseconds.
    pub sum_micros: AtomicU64,
    /// Per bucket of [`QUEUE_WAIT_BOUNDS`] (not cumulative); the last
    /// bucket counts waits above every bound.
    pub buckets: [AtomicU64; QUEUE_WAIT_BOUNDS.len() + 1],
}

/// Upper bounds, in seconds, of the queue-wait histogram buckets: from the
/// CoDel target's scale up to `max_queue_wait`'s.
pub const QUEUE_WAIT_BOUNDS: [f64; 10] =
    [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

impl AdmissionMetrics {
    /// The shed counter for `reason`.
    pub fn shed_total(&self, reason: ShedReason) -> u64 {
        self.shed_counter(reason).load(Relaxed)
    }

    pub(super) fn shed(&self, shed: &Shed) {
        self.shed_counter(shed.reason).fetch_add(1, Relaxed);
        self.shed_by_priority[shed.priority.index()].fetch_add(1, Relaxed);
    }

    pub(super) fn admitted(&self, waited: Option<Duration>, priority: Priority) {
        self.admitted_total.fetch_add(1, Relaxed);
        self.admitted_by_priority[priority.index()].fetch_add(1, Relaxed);
        if let Some(waited) = waited {
            let wait = &self.queue_wait[priority.index()];
            let micros = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
            wait.count.fetch_add(1, Relaxed);
            wait.sum_micros.fetch_add(micros, Relaxed);
            let secs = waited.as_secs_f64();
            let bucket = QUEUE_WAIT_BOUNDS
                .iter()
                .position(|bound| secs <= *bound)
                .unwrap_or(QUEUE_WAIT_BOUNDS.len());
            wait.buckets[bucket].fetch_add(1, Relaxed);
        }
    }

    pub(super) fn gauges(
        &self,
        in_flight: usize,
        queued: usize,
        standing: bool,
        service: Option<Duration>,
    ) {
        self.in_flight.store(in_flight, Relaxed);
        self.queued.store(queued, Relaxed);
        self.standing.store(standing, Relaxed);
        let micros = service.map_or(0, |s| u64::try_from(s.as_micros()).unwrap_or(u64::MAX));
        self.service_time_micros.store(micros, Relaxed);
    }

    pub(super) fn learned(&self, limit: usize, baseline: Option<Duration>) {
        self.limit.store(limit, Relaxed);
        let micros = baseline.map_or(0, |b| u64::try_from(b.as_micros()).unwrap_or(u64::MAX));
        self.baseline_micros.store(micros, Relaxed);
    }

    fn shed_counter(&self, reason: ShedReason) -> &AtomicU64 {
        match reason {
            ShedReason::QueueFull => &self.shed_queue_full_total,
            ShedReason::QueueDelay => &self.shed_queue_delay_total,
            ShedReason::Deadline => &self.shed_deadline_total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_wait_lands_in_its_bucket_and_long_waits_in_the_last() {
        let m = AdmissionMetrics::default();
        m.admitted(Some(Duration::from_millis(3)), Priority::Default);
        m.admitted(Some(Duration::from_secs(5)), Priority::Default);
        m.admitted(None, Priority::Default);
        m.admitted(Some(Duration::from_millis(20)), Priority::Critical);
        let wait = &m.queue_wait[Priority::Default.index()];
        let counts: Vec<u64> = wait.buckets.iter().map(|b| b.load(Relaxed)).collect();
        assert_eq!(counts[2], 1, "3 ms is in the 5 ms bucket: {counts:?}");
        assert_eq!(
            counts[QUEUE_WAIT_BOUNDS.len()],
            1,
            "5 s is above every bound"
        );
        assert_eq!(
            counts.iter().sum::<u64>(),
            2,
            "a request that did not wait is not a wait"
        );
        assert_eq!(wait.count.load(Relaxed), 2);
        let critical = &m.queue_wait[Priority::Critical.index()];
        assert_eq!(
            critical.count.load(Relaxed),
            1,
            "waits are kept by priority"
        );
        assert_eq!(
            critical.buckets[4].load(Relaxed),
            1,
            "20 ms is in the 25 ms bucket"
        );
    }
}
