//! The pure queue, driven with explicit instants.

use std::time::Duration;

use tokio::time::Instant;

use super::super::error::ShedReason;
use super::super::state::{Arrival, Handoff, Queue};
use super::{MS, limits};
use crate::config::AdmissionSettings;
use crate::middleware::Priority;

pub(super) fn queue(settings: AdmissionSettings, t0: Instant) -> Queue<&'static str> {
    Queue::new(settings, t0, fastrand::Rng::with_seed(42))
}

/// Arrives and, if told to wait, enqueues `name`; returns the arrival.
fn arrive(
    q: &mut Queue<&'static str>,
    now: Instant,
    deadline: Option<Instant>,
    name: &'static str,
) -> Arrival {
    arrive_as(q, now, deadline, name, Priority::Default).0
}

/// [`arrive`] at `priority`; also returns the waiter it pushed out.
pub(super) fn arrive_as(
    q: &mut Queue<&'static str>,
    now: Instant,
    deadline: Option<Instant>,
    name: &'static str,
    priority: Priority,
) -> (Arrival, Option<Handoff<&'static str>>) {
    let (arrival, _) = q.arrive(now, deadline, priority);
    let mut evicted = None;
    if let Arrival::Wait { expires, reason } = &arrival {
        evicted = q
            .enqueue(now, deadline, (*expires, *reason), priority, name)
            .1;
    }
    (arrival, evicted)
}

fn shed_reason(arrival: &Arrival) -> Option<ShedReason> {
    match arrival {
        Arrival::Shed(shed) => Some(shed.reason),
        _ => None,
    }
}

/// Names granted, in order, and names refused with their reason.
pub(super) fn split(
    handoffs: Vec<Handoff<&'static str>>,
) -> (Vec<&'static str>, Vec<(&'static str, ShedReason)>) {
    let mut granted = Vec::new();
    let mut shed = Vec::new();
    for h in handoffs {
        match h.outcome {
            Ok(_) => granted.push(h.payload),
            Err(s) => shed.push((h.payload, s.reason)),
        }
    }
    (granted, shed)
}

fn release(
    q: &mut Queue<&'static str>,
    now: Instant,
    sample: Option<Duration>,
) -> (Vec<&'static str>, Vec<(&'static str, ShedReason)>) {
    split(q.release(now, sample).0)
}

#[test]
fn admits_up_to_max_concurrent_then_queues() {
    let t0 = Instant::now();
    let mut q = queue(limits(2, 4), t0);
    assert_eq!(arrive(&mut q, t0, None, "a"), Arrival::Admit);
    assert_eq!(arrive(&mut q, t0, None, "b"), Arrival::Admit);
    assert!(matches!(
        arrive(&mut q, t0, None, "c"),
        Arrival::Wait { .. }
    ));
    assert_eq!((q.in_flight(), q.queued()), (2, 1));
}

#[test]
fn sheds_when_queue_is_full() {
    let t0 = Instant::now();
    let mut q = queue(limits(1, 2), t0);
    for name in ["a", "b", "c"] {
        assert_eq!(shed_reason(&arrive(&mut q, t0, None, name)), None);
    }
    let refused = arrive(&mut q, t0, None, "d");
    assert_eq!(shed_reason(&refused), Some(ShedReason::QueueFull));
    assert_eq!(q.queued(), 2);
}

#[test]
fn serves_waiters_in_fifo_order() {
    let t0 = Instant::now();
    let mut q = queue(limits(1, 8), t0);
    for name in ["x", "a", "b", "c"] {
        arrive(&mut q, t0, None, name);
    }
    let mut order = Vec::new();
    for i in 1..=3 {
        order.extend(release(&mut q, t0 + i * MS, Some(MS)).0);
    }
    assert_eq!(order, ["a", "b", "c"]);
}

#[test]
fn codel_tolerates_a_burst_then_sheds_after_an_interval_of_standing_delay() {
    let t0 = Instant::now();
    let mut q = queue(limits(1, 8), t0);
    for name in ["x", "a", "b", "c"] {
        arrive(&mut q, t0, None, name);
    }
    // "a" waited 50 ms (> 5 ms target), but "x" was admitted at once in
    // this interval: a burst, allowed to queue.
    assert_eq!(release(&mut q, t0 + 50 * MS, Some(50 * MS)).0, ["a"]);
    assert!(matches!(
        arrive(&mut q, t0 + 60 * MS, None, "d"),
        Arrival::Wait { .. }
    ));
    assert_eq!(release(&mut q, t0 + 100 * MS, Some(50 * MS)).0, ["b"]);
    assert!(!q.overloaded());
    assert!(matches!(
        arrive(&mut q, t0 + 120 * MS, None, "e"),
        Arrival::Wait { .. }
    ));
    // The second interval closes with a minimum sojourn of 100 ms:
    // standing. Every waiter older than the target is refused.
    let (granted, shed) = release(&mut q, t0 + 200 * MS, Some(50 * MS));
    assert!(q.overloaded());
    assert!(granted.is_empty(), "{granted:?}");
    let names: Vec<_> = shed.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["c", "d", "e"]);
    assert!(shed.iter().all(|(_, r)| *r == ShedReason::QueueDelay));
    // A free slot is still taken, but nobody may queue for ~50 ms.
    assert_eq!(arrive(&mut q, t0 + 201 * MS, None, "f"), Arrival::Admit);
    let refused = arrive(&mut q, t0 + 202 * MS, None, "g");
    assert_eq!(shed_reason(&refused), Some(ShedReason::QueueDelay));
}

#[test]
fn codel_stops_shedding_one_interval_after_the_queue_drains() {
    let t0 = Instant::now();
    let mut q = queue(limits(1, 8), t0);
    arrive(&mut q, t0, None, "x");
    arrive(&mut q, t0, None, "a");
    release(&mut q, t0 + 50 * MS, Some(50 * MS));
    arrive(&mut q, t0 + 60 * MS, None, "b");
    release(&mut q, t0 + 100 * MS, Some(50 * MS));
    arrive(&mut q, t0 + 110 * MS, None, "c");
    let (_, shed) = release(&mut q, t0 + 200 * MS, Some(50 * MS));
    assert!(q.overloaded());
    assert_eq!(shed, [("c", ShedReason::QueueDelay)]);
    // Admitted at once: a zero sojourn in the new interval.
    assert_eq!(arrive(&mut q, t0 + 210 * MS, None, "d"), Arrival::Admit);
    release(&mut q, t0 + 250 * MS, Some(40 * MS));
    assert_eq!(arrive(&mut q, t0 + 300 * MS, None, "e"), Arrival::Admit);
    assert!(!q.overloaded());
    assert!(matches!(
        arrive(&mut q, t0 + 301 * MS, None, "f"),
        Arrival::Wait { .. }
    ));
}

/// Makes the queue standing at t0 + 200 ms with three young waiters
/// (c, d, e queued 4, 2 and 1 ms before), serves one per millisecond and
/// returns the order served and the waiters refused.
fn order_while_standing(adaptive_lifo: bool) -> (Vec<&'static str>, Vec<&'static str>) {
    let t0 = Instant::now();
    let settings = AdmissionSettings {
        adaptive_lifo,
        ..limits(1, 8)
    };
    let mut q = queue(settings, t0);
    arrive(&mut q, t0, None, "a");
    arrive(&mut q, t0, None, "b");
    release(&mut q, t0 + 60 * MS, Some(MS));
    // The second interval: "p" waits 60 ms, nobody is admitted at once.
    arrive(&mut q, t0 + 100 * MS, None, "p");
    release(&mut q, t0 + 160 * MS, Some(MS));
    for (at, name) in [(196, "c"), (198, "d"), (199, "e")] {
        arrive(&mut q, t0 + at * MS, None, name);
    }
    let (mut order, mut refused) = release(&mut q, t0 + 200 * MS, Some(MS));
    assert!(q.overloaded());
    for i in 1..=2 {
        let (granted, shed) = release(&mut q, t0 + (200 + i) * MS, Some(MS));
        order.extend(granted);
        refused.extend(shed);
    }
    (order, refused.into_iter().map(|(name, _)| name).collect())
}

#[test]
fn adaptive_lifo_serves_newest_first_while_standing() {
    // Newest first; "c" passes the 5 ms target while the fresh ones are
    // served, and is refused.
    let (order, refused) = order_while_standing(true);
    assert_eq!((order, refused), (vec!["e", "d"], vec!["c"]));
    let (order, refused) = order_while_standing(false);
    assert_eq!(order, ["c", "d", "e"]);
    assert!(refused.is_empty());
}

#[test]
fn refuses_at_arrival_a_deadline_shorter_than_service_time() {
    let t0 = Instant::now();
    let mut q = queue(limits(4, 8), t0);
    arrive(&mut q, t0, None, "warm");
    release(&mut q, t0 + 100 * MS, Some(100 * MS));
    let now = t0 + 100 * MS;
    let refused = arrive(&mut q, now, Some(now + 50 * MS), "short");
    assert_eq!(shed_reason(&refused), Some(ShedReason::Deadline));
    assert_eq!(
        arrive(&mut q, now, Some(now + 150 * MS), "long"),
        Arrival::Admit
    );
    let passed = arrive(&mut q, now, Some(now), "passed");
    assert_eq!(shed_reason(&passed), Some(ShedReason::Deadline));
}

#[test]
fn refuses_at_dequeue_a_deadline_that_became_unmeetable() {
    let t0 = Instant::now();
    let mut q = queue(limits(1, 8), t0);
    arrive(&mut q, t0, None, "warm");
    release(&mut q, t0, Some(100 * MS));
    arrive(&mut q, t0, None, "slow");
    arrive(&mut q, t0, Some(t0 + 250 * MS), "hurried");
    // "slow" took a second: the estimate jumps to 190 ms, more than the
    // 150 ms "hurried" has left when its turn comes.
    let (granted, shed) = release(&mut q, t0 + 100 * MS, Some(1000 * MS));
    assert!(granted.is_empty());
    assert_eq!(shed, [("hurried", ShedReason::Deadline)]);
    assert_eq!(q.in_flight(), 0);
}

#[test]
fn waiter_past_its_wait_is_refused_with_its_reason() {
    let t0 = Instant::now();
    let mut q = queue(limits(1, 8), t0);
    arrive(&mut q, t0, None, "a");
    let Arrival::Wait { expires, reason } = arrive(&mut q, t0, None, "b") else {
        panic!("b should wait");
    };
    assert_eq!(
        (expires, reason),
        (t0 + Duration::from_secs(1), ShedReason::QueueDelay)
    );
    // Its timer fired: it leaves with a refusal; a second removal finds nothing.
    let (name, shed) = q.remove(0, expires, true).expect("still queued");
    assert_eq!((name, shed.reason), ("b", ShedReason::QueueDelay));
    assert!(q.remove(0, expires, true).is_none());
    assert_eq!(q.queued(), 0);
}

#[test]
fn cancelled_waiter_leaves_the_queue_without_a_slot() {
    let t0 = Instant::now();
    let mut q = queue(limits(1, 8), t0);
    arrive(&mut q, t0, None, "a");
    arrive(&mut q, t0, None, "gone");
    arrive(&mut q, t0, None, "c");
    assert!(q.remove(0, t0 + MS, false).is_some());
    assert_eq!(release(&mut q, t0 + 2 * MS, Some(MS)).0, ["c"]);
    assert_eq!((q.in_flight(), q.queued()), (1, 0));
}

#[test]
fn resize_keeps_held_permits() {
    let t0 = Instant::now();
    let mut q = queue(limits(2, 8), t0);
    for name in ["a", "b", "c", "d"] {
        arrive(&mut q, t0, None, name);
    }
    // Shrink to one slot and a queue of one: both held slots stay held,
    // the newest waiter is refused.
    let (handoffs, _) = q.resize(limits(1, 1), t0 + MS);
    assert_eq!(split(handoffs).1, [("d", ShedReason::QueueFull)]);
    assert_eq!(q.in_flight(), 2);
    assert!(release(&mut q, t0 + 2 * MS, Some(MS)).0.is_empty());
    assert_eq!(release(&mut q, t0 + 3 * MS, Some(MS)).0, ["c"]);
    // Growing serves waiters at once.
    arrive(&mut q, t0 + 4 * MS, None, "e");
    let (handoffs, _) = q.resize(limits(3, 8), t0 + 5 * MS);
    assert_eq!(split(handoffs).0, ["e"]);
    assert_eq!(q.in_flight(), 2);
}

#[test]
fn retry_after_is_the_jittered_drain_time_and_at_least_one_second() {
    let t0 = Instant::now();
    let mut q = queue(limits(2, 4), t0);
    let refused = arrive(&mut q, t0, Some(t0), "late");
    let Arrival::Shed(shed) = refused else {
        panic!("deadline passed")
    };
    assert_eq!(
        shed.retry_after,
        Duration::from_secs(1),
        "no estimate, empty queue"
    );
    arrive(&mut q, t0, None, "warm");
    release(&mut q, t0, Some(Duration::from_secs(1)));
    for name in ["a", "b", "c", "d", "e", "f"] {
        arrive(&mut q, t0, None, name);
    }
    // 4 waiters × 1 s / 2 slots = 2 s to drain, plus 0–50% jitter.
    let mut seen = Vec::new();
    for _ in 0..20 {
        let Arrival::Shed(shed) = arrive(&mut q, t0, None, "x") else {
            panic!("full")
        };
        assert!(
            (2000 * MS..3000 * MS).contains(&shed.retry_after),
            "{shed:?}"
        );
        seen.push(shed.retry_after);
    }
    seen.dedup();
    assert!(seen.len() > 10, "jitter varies: {seen:?}");
}
