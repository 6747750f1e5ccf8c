//! Outlier ejection and health-check state, and how the balancer uses them.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::super::outlier::{Change, EndpointHealth, max_ejected};
use super::super::*;
use crate::config::{HealthCheckSettings, OutlierSettings};
use crate::middleware::classify::{Classifier, Outcome};

const SEC: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

fn outlier() -> OutlierSettings {
    OutlierSettings {
        consecutive_failures: 3,
        base_ejection_time: 10 * SEC,
        max_ejection_time: 25 * SEC,
        max_ejection_percent: 0.1,
        cancelled_after: 2 * SEC,
        failure_percentage: 0.0,
        failure_percentage_request_volume: 20,
        failure_percentage_window: 10 * SEC,
    }
}

fn cluster(n: u16) -> Arc<EndpointSet> {
    let set = EndpointSet::new();
    set.update((1..=n).map(|p| SocketAddr::from(([10, 0, 0, 1], p))));
    set.set_outlier(outlier(), Classifier::new(&[503]));
    set
}

fn fail(set: &EndpointSet, e: &Endpoint, times: usize, now: Instant) {
    for _ in 0..times {
        set.report(e, |_| Outcome::Failure, now);
    }
}

#[test]
fn cap_lets_one_of_three_go_and_never_all() {
    assert_eq!(max_ejected(3, 0.1), 1);
    assert_eq!(max_ejected(3, 0.5), 2);
    assert_eq!(max_ejected(3, 1.0), 2);
    assert_eq!(max_ejected(1, 1.0), 0);
    assert_eq!(max_ejected(10, 0.0), 0);
    assert_eq!(max_ejected(10, 0.34), 3);
}

#[tokio::test(start_paused = true)]
async fn ejects_after_consecutive_failures_only() {
    let set = cluster(3);
    let now = Instant::now();
    let e = set.endpoints()[0].clone();
    fail(&set, &e, 2, now);
    set.report(&e, |_| Outcome::Success, now);
    fail(&set, &e, 2, now);
    assert!(e.available(now), "a success restarts the streak");
    // Local refusals say nothing about the endpoint.
    set.report(&e, |_| Outcome::Ignored, now);
    fail(&set, &e, 1, now);
    assert!(!e.available(now));
    assert_eq!(e.ejections(), 1);
}

#[tokio::test(start_paused = true)]
async fn cap_in_three_endpoint_cluster_keeps_the_rest_in() {
    let set = cluster(3);
    let now = Instant::now();
    let eps = set.endpoints();
    fail(&set, &eps[0], 3, now);
    fail(&set, &eps[1], 3, now);
    assert!(!eps[0].available(now));
    assert!(eps[1].available(now), "10% of 3 still allows exactly one");
    assert_eq!(set.available(now).len(), 2);
}

#[tokio::test(start_paused = true)]
async fn rejoins_after_its_time_which_grows_and_caps() {
    let set = cluster(3);
    let mut now = Instant::now();
    let e = set.endpoints()[0].clone();
    let mut times = Vec::new();
    for _ in 0..3 {
        fail(&set, &e, 3, now);
        let start = now;
        while !e.available(now) {
            now += SEC;
        }
        times.push(now - start);
    }
    assert_eq!(times, [10 * SEC, 20 * SEC, 25 * SEC]);
    assert_eq!(e.readmissions(), 3);
}

#[tokio::test(start_paused = true)]
async fn long_cancellations_count_as_failures() {
    let set = cluster(3);
    let e = set.endpoints()[0].clone();
    for _ in 0..3 {
        let guard = InFlight::reporting(e.clone(), set.clone(), None, Instant::now());
        tokio::time::advance(SEC).await;
        drop(guard);
    }
    assert!(
        e.available(Instant::now()),
        "1 s cancellations are not failures"
    );
    for _ in 0..3 {
        let guard = InFlight::reporting(e.clone(), set.clone(), None, Instant::now());
        tokio::time::advance(3 * SEC).await;
        drop(guard);
    }
    assert!(!e.available(Instant::now()));
}

#[tokio::test(start_paused = true)]
async fn all_ejected_or_unhealthy_means_panic_mode() {
    let set = cluster(2);
    let now = Instant::now();
    let check = health_settings();
    for e in set.endpoints().iter() {
        for _ in 0..2 {
            e.update_health(|h| ((), h.check(&check, false, now, now)));
        }
    }
    assert_eq!(set.available(now).len(), 2);
}

fn health_settings() -> HealthCheckSettings {
    HealthCheckSettings {
        path: "/health".into(),
        interval: SEC,
        jitter: 0.0,
        timeout: SEC,
        healthy_threshold: NonZeroU32::new(3).unwrap(),
        unhealthy_threshold: NonZeroU32::new(2).unwrap(),
        readmit_ejected: true,
    }
}

#[test]
fn health_check_thresholds() {
    let now = Instant::now();
    let s = health_settings();
    let mut h = EndpointHealth::default();
    assert!(h.check(&s, false, now, now).is_empty());
    assert!(
        h.check(&s, true, now, now).is_empty(),
        "a pass restarts the count"
    );
    assert!(h.check(&s, false, now, now).is_empty());
    assert_eq!(h.check(&s, false, now, now), [Change::Unhealthy]);
    assert!(!h.healthy());
    assert!(h.check(&s, true, now, now).is_empty());
    assert!(h.check(&s, true, now, now).is_empty());
    assert_eq!(h.check(&s, true, now, now), [Change::Healthy]);
}

fn ejected_at(now: Instant) -> EndpointHealth {
    let mut h = EndpointHealth::default();
    for _ in 0..3 {
        h.failure(&outlier(), true, now);
    }
    assert!(h.ejected(now).0);
    h
}

#[test]
fn healthy_threshold_passes_after_the_ejection_readmit_it_early() {
    let t0 = Instant::now();
    let mut h = ejected_at(t0);
    let s = health_settings();
    // healthy_threshold is 3: one pass, or two, do not readmit.
    assert!(h.check(&s, true, t0 + SEC, t0 + SEC).is_empty());
    assert!(h.check(&s, true, t0 + 2 * SEC, t0 + 2 * SEC).is_empty());
    assert!(h.ejected(t0 + 2 * SEC).0);
    assert_eq!(
        h.check(&s, true, t0 + 3 * SEC, t0 + 3 * SEC),
        [Change::Readmitted]
    );
    assert!(!h.ejected(t0 + 3 * SEC).0);
}

#[test]
fn one_passing_probe_does_not_readmit_and_a_failure_restarts_the_count() {
    let t0 = Instant::now();
    let mut h = ejected_at(t0);
    let s = health_settings();
    assert!(h.check(&s, true, t0 + SEC, t0 + SEC).is_empty());
    assert!(h.check(&s, true, t0 + 2 * SEC, t0 + 2 * SEC).is_empty());
    assert!(h.check(&s, false, t0 + 3 * SEC, t0 + 3 * SEC).is_empty());
    for i in 4..6 {
        assert!(h.check(&s, true, t0 + i * SEC, t0 + i * SEC).is_empty());
    }
    assert!(h.ejected(t0 + 6 * SEC).0, "two passes since the failure");
}

#[test]
fn a_probe_started_before_the_ejection_does_not_count() {
    let t0 = Instant::now();
    let mut h = ejected_at(t0 + SEC);
    let s = health_settings();
    // Started before the ejection, passed after it.
    assert!(h.check(&s, true, t0, t0 + 2 * SEC).is_empty());
    for i in 3..5 {
        assert!(h.check(&s, true, t0 + i * SEC, t0 + i * SEC).is_empty());
    }
    assert!(h.ejected(t0 + 5 * SEC).0);
    assert_eq!(
        h.check(&s, true, t0 + 5 * SEC, t0 + 5 * SEC),
        [Change::Readmitted]
    );
}

/// The outlier settings with failure-rate ejection at 30%.
fn with_rate() -> OutlierSettings {
    OutlierSettings {
        failure_percentage: 0.3,
        ..outlier()
    }
}

#[test]
fn a_streak_of_a_partially_failing_endpoint_is_not_ended_by_probes() {
    let t0 = Instant::now();
    let s = with_rate();
    let mut h = EndpointHealth::default();
    // Half its requests fail, then three in a row: ejected (by the streak,
    // before failure-rate ejection has its volume).
    for _ in 0..3 {
        h.success(&s, t0);
        assert!(h.failure(&s, true, t0).is_none());
    }
    h.success(&s, t0);
    assert!(h.failure(&s, true, t0).is_none());
    assert!(h.failure(&s, true, t0).is_none());
    assert!(matches!(h.failure(&s, true, t0), Some(Change::Ejected(_))));
    let hc = health_settings();
    for i in 1..10 {
        assert!(h.check(&hc, true, t0 + i * SEC, t0 + i * SEC).is_empty());
        assert!(h.ejected(t0 + i * SEC).0, "readmitted by probe {i}");
    }
    assert_eq!(h.ejected(t0 + 10 * SEC), (false, Some(Change::Readmitted)));
}

#[test]
fn a_streak_after_a_healthy_run_or_with_no_success_is_ended_by_probes() {
    let t0 = Instant::now();
    let s = with_rate();
    let hc = health_settings();
    // A replica that served, then died: a low share in its window.
    let mut served = EndpointHealth::default();
    for _ in 0..50 {
        served.success(&s, t0);
    }
    // One that never answered: no success at all.
    let mut dead = EndpointHealth::default();
    for h in [&mut served, &mut dead] {
        for _ in 0..3 {
            h.failure(&s, true, t0);
        }
        assert!(h.ejected(t0).0);
        assert!(h.check(&hc, true, t0 + SEC, t0 + SEC).is_empty());
        assert!(h.check(&hc, true, t0 + 2 * SEC, t0 + 2 * SEC).is_empty());
        assert_eq!(
            h.check(&hc, true, t0 + 3 * SEC, t0 + 3 * SEC),
            [Change::Readmitted]
        );
    }
}

#[test]
fn readmit_ejected_off_keeps_it_out_for_its_time() {
    let t0 = Instant::now();
    let mut h = ejected_at(t0);
    let s = HealthCheckSettings {
        readmit_ejected: false,
        ..health_settings()
    };
    for i in 1..10 {
        assert!(h.check(&s, true, t0 + i * SEC, t0 + i * SEC).is_empty());
        assert!(h.ejected(t0 + i * SEC).0);
    }
    // base_ejection_time is 10 s.
    assert_eq!(h.ejected(t0 + 10 * SEC), (false, Some(Change::Readmitted)));
}

#[tokio::test(start_paused = true)]
async fn an_attempt_cancelled_by_its_own_timeout_is_a_failure_whatever_cancelled_after() {
    let set = cluster(3);
    let e = set.endpoints()[0].clone();
    // 500 ms per-try timeouts, far below cancelled_after (2 s).
    for _ in 0..3 {
        let end = Instant::now() + 500 * MS;
        let guard = InFlight::reporting(e.clone(), set.clone(), Some(end), Instant::now());
        tokio::time::advance(500 * MS).await;
        drop(guard);
    }
    assert!(!e.available(Instant::now()), "three attempt timeouts eject");
}

#[tokio::test(start_paused = true)]
async fn a_cancellation_before_the_attempt_timeout_is_judged_by_cancelled_after() {
    let set = cluster(3);
    let e = set.endpoints()[0].clone();
    // The client went away after 400 ms of a 500 ms attempt: not the endpoint's doing.
    for _ in 0..3 {
        let end = Instant::now() + 500 * MS;
        let guard = InFlight::reporting(e.clone(), set.clone(), Some(end), Instant::now());
        tokio::time::advance(400 * MS).await;
        drop(guard);
    }
    assert!(e.available(Instant::now()));
}

#[tokio::test(start_paused = true)]
async fn unhealthy_endpoint_is_not_picked() {
    let set = cluster(3);
    let now = Instant::now();
    let bad = set.endpoints()[1].clone();
    for _ in 0..2 {
        bad.update_health(|h| ((), h.check(&health_settings(), false, now, now)));
    }
    let available = set.available(now);
    let mut rng = fastrand::Rng::with_seed(5);
    for _ in 0..200 {
        let chosen = pick(&available, now, None, &mut rng).unwrap();
        assert_ne!(chosen.addr(), bad.addr());
    }
}

#[tokio::test(start_paused = true)]
async fn a_half_failing_endpoint_is_ejected_for_its_rate_and_kept_out() {
    let set = EndpointSet::new();
    set.update((1..=3).map(|p| SocketAddr::from(([10, 0, 0, 1], p))));
    set.set_outlier(
        OutlierSettings {
            failure_percentage: 0.3,
            ..outlier()
        },
        Classifier::new(&[503]),
    );
    let endpoints = set.endpoints();
    let (bad, good) = (&endpoints[0], &endpoints[1..]);
    let t0 = Instant::now();
    // 100 ms apart: the bad one fails every other request (never 3 in a
    // row, so consecutive-failure ejection alone would keep it in).
    let mut i = 0u32;
    while bad.available(Instant::now()) {
        assert!(i < 100, "never ejected");
        let now = Instant::now();
        let outcome = if i.is_multiple_of(2) {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        set.report(bad, |_| outcome, now);
        for e in good {
            set.report(e, |_| Outcome::Success, now);
        }
        tokio::time::advance(100 * MS).await;
        i += 1;
    }
    // Judged once it had 20 requests in the window.
    assert!((19..=21).contains(&i), "ejected after {i} requests");
    let ejected = Instant::now();
    // Its health check keeps passing (it was passing all along): it stays
    // out for its whole ejection time (10 s) all the same.
    let check = health_settings();
    for s in 1..10 {
        let at = ejected + s * SEC;
        tokio::time::advance(SEC).await;
        bad.update_health(|h| ((), h.check(&check, true, at, at)));
        assert!(!bad.available(Instant::now()), "back after {s} s");
    }
    tokio::time::advance(SEC).await;
    assert!(bad.available(Instant::now()));
    assert_eq!((bad.ejections(), bad.readmissions()), (1, 1));
    assert!(t0.elapsed() < 15 * SEC);
}

#[tokio::test(start_paused = true)]
async fn replicas_failing_alike_are_not_ejected_for_their_rate() {
    let set = EndpointSet::new();
    set.update((1..=3).map(|p| SocketAddr::from(([10, 0, 0, 1], p))));
    set.set_outlier(
        OutlierSettings {
            failure_percentage: 0.3,
            ..outlier()
        },
        Classifier::new(&[503]),
    );
    for i in 0..100u32 {
        let now = Instant::now();
        let outcome = if i.is_multiple_of(2) {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        for e in set.endpoints().iter() {
            set.report(e, |_| outcome, now);
        }
        tokio::time::advance(100 * MS).await;
    }
    assert!(set.endpoints().iter().all(|e| e.ejections() == 0));
}
