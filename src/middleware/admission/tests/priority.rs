//! Criticality: under overload sheddable requests are refused first, then
//! default ones; critical ones only when nothing else is left to refuse.

use tokio::time::Instant;

use super::super::error::ShedReason;
use super::super::state::Arrival;
use super::state::{arrive_as, queue, split};
use super::{MS, limits};
use crate::middleware::Priority::{self, Critical, Default, Sheddable};

fn shed(arrival: &Arrival) -> Option<ShedReason> {
    match arrival {
        Arrival::Shed(s) => Some(s.reason),
        _ => None,
    }
}

#[test]
fn a_full_queue_makes_room_for_higher_priority_by_refusing_the_newest_lowest() {
    let t0 = Instant::now();
    let mut q = queue(limits(1, 3), t0);
    arrive_as(&mut q, t0, None, "busy", Default);
    for (name, p) in [("s1", Sheddable), ("s2", Sheddable), ("d1", Default)] {
        assert_eq!(shed(&arrive_as(&mut q, t0, None, name, p).0), None);
    }
    // Full: a critical arrival pushes out the newest sheddable waiter.
    let (arrival, evicted) = arrive_as(&mut q, t0, None, "c1", Critical);
    assert!(matches!(arrival, Arrival::Wait { .. }));
    let evicted = evicted.expect("someone made room");
    assert_eq!(evicted.payload, "s2");
    assert_eq!(
        evicted.outcome.map_err(|s| (s.reason, s.priority)),
        Err((ShedReason::QueueFull, Sheddable))
    );
    // A sheddable arrival cannot push anyone out: it is refused itself.
    let (arrival, evicted) = arrive_as(&mut q, t0, None, "s3", Sheddable);
    assert_eq!(shed(&arrival), Some(ShedReason::QueueFull));
    assert!(evicted.is_none());
    assert_eq!(q.queued(), 3);
}

#[test]
fn critical_is_refused_only_when_the_queue_holds_nothing_else() {
    let t0 = Instant::now();
    let mut q = queue(limits(1, 2), t0);
    arrive_as(&mut q, t0, None, "busy", Default);
    arrive_as(&mut q, t0, None, "c1", Critical);
    arrive_as(&mut q, t0, None, "d1", Default);
    let (arrival, evicted) = arrive_as(&mut q, t0, None, "c2", Critical);
    assert!(matches!(arrival, Arrival::Wait { .. }));
    assert_eq!(evicted.map(|h| h.payload), Some("d1"));
    let (arrival, _) = arrive_as(&mut q, t0, None, "c3", Critical);
    assert_eq!(shed(&arrival), Some(ShedReason::QueueFull));
}

#[test]
fn higher_priorities_are_served_first_fifo_within_each() {
    let t0 = Instant::now();
    let mut q = queue(limits(1, 8), t0);
    arrive_as(&mut q, t0, None, "busy", Default);
    for (name, p) in [
        ("s1", Sheddable),
        ("d1", Default),
        ("c1", Critical),
        ("s2", Sheddable),
        ("d2", Default),
        ("c2", Critical),
    ] {
        arrive_as(&mut q, t0, None, name, p);
    }
    let mut order = Vec::new();
    for i in 1..=6 {
        order.extend(split(q.release(t0 + i * MS, Some(MS)).0).0);
    }
    assert_eq!(order, ["c1", "c2", "d1", "d2", "s1", "s2"]);
}

#[test]
fn a_standing_queue_refuses_sheddable_arrivals_first_and_critical_never() {
    let t0 = Instant::now();
    let mut q = queue(limits(1, 64), t0);
    arrive_as(&mut q, t0, None, "busy", Default);
    // Waiters older than the target through a whole interval: standing.
    for _ in 0..30 {
        arrive_as(&mut q, t0, None, "w", Default);
    }
    for k in 1..=12u32 {
        q.release(t0 + k * 20 * MS, Some(20 * MS));
    }
    assert!(q.overloaded(), "the queue should be standing");
    let now = t0 + 241 * MS;
    // Standing refused the old waiters; a new request holds the slot.
    assert_eq!(
        arrive_as(&mut q, now, None, "holder", Default).0,
        Arrival::Admit
    );
    let verdict = |q: &mut _, p: Priority| shed(&arrive_as(q, now, None, "n", p).0);
    assert_eq!(verdict(&mut q, Sheddable), Some(ShedReason::QueueDelay));
    assert_eq!(verdict(&mut q, Default), Some(ShedReason::QueueDelay));
    assert_eq!(verdict(&mut q, Critical), None, "critical waits");
}
