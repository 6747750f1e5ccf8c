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

#[test]
fn under_a_learned_limit_that_refused_the_short_queue_binds_all_but_critical_requests() {
    // The shipped defaults: a learned limit (starting at 32). A burst
    // queues while the queue has refused nothing; once it has (here a
    // waiter whose wait ran out), it only bridges the dispatch gap
    // (32 / 16 = 2 waiters) for an interval. Critical requests wait for
    // the next slot whatever that short bound says: a burst of them found
    // it full of critical waiters and 2% of them were refused while
    // sheddable requests were being served.
    let t0 = Instant::now();
    let mut q = queue(crate::config::AdmissionSettings::default(), t0);
    for i in 0..32 {
        let (arrival, _) = arrive_as(&mut q, t0, None, "busy", Default);
        assert!(matches!(arrival, Arrival::Admit), "slot {i}");
    }
    for name in ["b1", "b2", "b3"] {
        let (arrival, _) = arrive_as(&mut q, t0, None, name, Sheddable);
        assert!(matches!(arrival, Arrival::Wait { .. }), "{name} refused");
    }
    let now = t0 + 1000 * MS;
    for id in 0..3 {
        assert!(q.remove(id, now, true).is_some(), "waiter {id}");
    }
    for name in ["s1", "s2"] {
        assert_eq!(shed(&arrive_as(&mut q, now, None, name, Sheddable).0), None);
    }
    let (arrival, _) = arrive_as(&mut q, now, None, "s3", Sheddable);
    assert_eq!(shed(&arrival), Some(ShedReason::QueueFull));
    for name in ["c1", "c2", "c3", "c4", "c5"] {
        let (arrival, evicted) = arrive_as(&mut q, now, None, name, Critical);
        assert!(matches!(arrival, Arrival::Wait { .. }), "{name} refused");
        assert!(evicted.is_none(), "{name} pushed out a waiter");
    }
    assert_eq!(q.queued(), 7);
    // The short bound still holds for everything but critical: default
    // arrivals take the sheddable waiters' places, then are refused.
    for (name, out) in [("d1", "s2"), ("d2", "s1")] {
        let (arrival, evicted) = arrive_as(&mut q, now, None, name, Default);
        assert!(matches!(arrival, Arrival::Wait { .. }), "{name} refused");
        assert_eq!(evicted.map(|h| h.payload), Some(out));
    }
    let (arrival, _) = arrive_as(&mut q, now, None, "d3", Default);
    assert_eq!(shed(&arrival), Some(ShedReason::QueueFull));
}
