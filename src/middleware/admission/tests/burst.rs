//! A learned limit's queue and bursts: while the queue has refused nothing,
//! a burst above the limit waits up to CoDel's `target` (a stall of the
//! machine releases at once what arrived during it, and the upstream drains
//! it in a few milliseconds); once the queue has refused, it only bridges
//! the gap between a slot freeing and the next request.

use tokio::time::Instant;

use super::super::error::ShedReason;
use super::super::state::{Arrival, Queue, Sample, Verdict};
use super::MS;
use super::state::{arrive_as, queue};
use crate::config::AdmissionSettings;
use crate::middleware::Priority::Default;

/// The shipped defaults after 400 requests of 1 ms, one at a time: the
/// limit has learned the no-load latency and walked down near the use.
fn learned() -> (Queue<&'static str>, Instant) {
    let t0 = Instant::now();
    let mut q = queue(AdmissionSettings::default(), t0);
    let mut now = t0;
    for _ in 0..400 {
        assert!(matches!(q.arrive(now, None, Default).0, Arrival::Admit));
        now += MS;
        let sample = Sample {
            held: MS,
            in_flight_at_grant: 1,
            verdict: Verdict::Answered,
        };
        q.finish(now, Some(sample));
    }
    assert!(q.baseline().is_some(), "learned the no-load latency");
    (q, now)
}

/// Fills every slot at `now`.
fn fill(q: &mut Queue<&'static str>, now: Instant) {
    for _ in 0..q.limit() {
        assert!(matches!(
            arrive_as(q, now, None, "busy", Default).0,
            Arrival::Admit
        ));
    }
}

fn wait_of(arrival: &Arrival, now: Instant) -> Option<std::time::Duration> {
    match arrival {
        Arrival::Wait { expires, .. } => Some(expires.saturating_duration_since(now)),
        Arrival::Shed(_) | Arrival::Admit => None,
    }
}

#[test]
fn a_burst_waits_up_to_target_while_the_queue_has_refused_nothing() {
    let (mut q, now) = learned();
    fill(&mut q, now);
    // Far more than the short queue (a sixteenth of the limit, at least 2).
    let burst = q.limit() + 8;
    for i in 0..burst {
        let (arrival, evicted) = arrive_as(&mut q, now, None, "burst", Default);
        assert_eq!(wait_of(&arrival, now), Some(5 * MS), "waiter {i}");
        assert!(evicted.is_none());
    }
    assert_eq!(q.queued(), burst);
}

#[test]
fn after_a_refusal_the_queue_only_bridges_the_gap_for_an_interval() {
    let (mut q, now) = learned();
    fill(&mut q, now);
    // One waiter whose wait runs out: the queue refused, so it is pressed.
    assert!(wait_of(&arrive_as(&mut q, now, None, "late", Default).0, now).is_some());
    let later = now + 5 * MS;
    assert!(q.remove(0, later, true).is_some());
    let short = (q.limit() / 16).max(2);
    for i in 0..short {
        let (arrival, _) = arrive_as(&mut q, later, None, "w", Default);
        let wait = wait_of(&arrival, later).expect("waits");
        assert!(wait >= MS && wait < 5 * MS, "waiter {i}: {wait:?}");
    }
    let (arrival, _) = arrive_as(&mut q, later, None, "over", Default);
    assert!(
        matches!(&arrival, Arrival::Shed(s) if s.reason == ShedReason::QueueFull),
        "{arrival:?}"
    );
    // An interval (100 ms) without a refusal: bursts may queue again.
    let calm = later + 101 * MS;
    let (arrival, _) = arrive_as(&mut q, calm, None, "calm", Default);
    assert_eq!(wait_of(&arrival, calm), Some(5 * MS));
}
