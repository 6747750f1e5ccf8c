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

fn outlier() -> OutlierSettings {
    OutlierSettings {
        consecutive_failures: 3,
        base_ejection_time: 10 * SEC,
        max_ejection_time: 25 * SEC,
        max_ejection_percent: 0.1,
        cancelled_after: 2 * SEC,
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
        let guard = InFlight::reporting(e.clone(), set.clone());
        tokio::time::advance(SEC).await;
        drop(guard);
    }
    assert!(
        e.available(Instant::now()),
        "1 s cancellations are not failures"
    );
    for _ in 0..3 {
        let guard = InFlight::reporting(e.clone(), set.clone());
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
            e.update_health(|h| ((), h.check(&check, false, now)));
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
    }
}

#[test]
fn health_check_thresholds() {
    let now = Instant::now();
    let s = health_settings();
    let mut h = EndpointHealth::default();
    assert!(h.check(&s, false, now).is_empty());
    assert!(
        h.check(&s, true, now).is_empty(),
        "a pass restarts the count"
    );
    assert!(h.check(&s, false, now).is_empty());
    assert_eq!(h.check(&s, false, now), [Change::Unhealthy]);
    assert!(!h.healthy());
    assert!(h.check(&s, true, now).is_empty());
    assert!(h.check(&s, true, now).is_empty());
    assert_eq!(h.check(&s, true, now), [Change::Healthy]);
}

#[test]
fn passing_health_check_readmits_an_ejected_endpoint() {
    let now = Instant::now();
    let mut h = EndpointHealth::default();
    for _ in 0..3 {
        h.failure(&outlier(), true, now);
    }
    assert!(h.ejected(now).0);
    assert_eq!(h.check(&health_settings(), true, now), [Change::Readmitted]);
    assert!(!h.ejected(now).0);
}

#[tokio::test(start_paused = true)]
async fn unhealthy_endpoint_is_not_picked() {
    let set = cluster(3);
    let now = Instant::now();
    let bad = set.endpoints()[1].clone();
    for _ in 0..2 {
        bad.update_health(|h| ((), h.check(&health_settings(), false, now)));
    }
    let available = set.available(now);
    let mut rng = fastrand::Rng::with_seed(5);
    for _ in 0..200 {
        let chosen = pick(&available, now, &mut rng).unwrap();
        assert_ne!(chosen.addr(), bad.addr());
    }
}
