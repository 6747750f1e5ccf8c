//! The breaker's behaviour, step by step on explicit instants, and the
//! service's bookkeeping with the paused clock.

mod overload;

use std::num::NonZeroU32;
use std::time::Duration;

use tokio::time::Instant;
use tokio_test::{assert_pending, assert_ready_err, assert_ready_ok};
use tower::{Layer, Service, ServiceExt};
use tower_test::mock;

use super::state::{Admission, BreakerState, Cause, Kind, Phase, Transition};
use super::*;
use crate::config::{BreakerMode, BreakerSettings, BreakerWindow};
use crate::middleware::balance::NoEndpoint;
use crate::middleware::classify::{Classifier, Local, Outcome};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

fn settings() -> BreakerSettings {
    BreakerSettings {
        mode: BreakerMode::Auto,
        consecutive_failures: 5,
        failure_rate: 0.0,
        slow_call_rate: 0.0,
        // The throttle has its own tests (throttle.rs and below).
        accept_multiplier: 0.0,
        slow_call_threshold: SEC,
        window: BreakerWindow::Count(10),
        minimum_calls: 10,
        open_duration: SEC,
        max_open_duration: 8 * SEC,
        jitter: 0.0,
        half_open_probes: NonZeroU32::new(2).unwrap(),
    }
}

fn machine(s: BreakerSettings) -> BreakerState {
    BreakerState::new(s, fastrand::Rng::with_seed(1))
}

/// Admits one call at `now` and records its outcome after `took`.
fn call(
    b: &mut BreakerState,
    now: Instant,
    outcome: Outcome,
    took: Duration,
) -> Option<Transition> {
    match b.acquire(now).0 {
        Admission::Admit(kind) => b.record(kind, outcome, took, now),
        Admission::Reject(_) | Admission::Throttle => panic!("refused at {:?}", b.phase()),
    }
}

fn trip(b: &mut BreakerState, now: Instant) {
    for _ in 0..5 {
        call(b, now, Outcome::Failure, MS);
    }
    assert_eq!(b.phase(), Phase::Open);
}

#[test]
fn opens_after_n_consecutive_failures() {
    let t0 = Instant::now();
    let mut b = machine(settings());
    for _ in 0..4 {
        assert_eq!(call(&mut b, t0, Outcome::Failure, MS), None);
    }
    // A success in between restarts the count.
    call(&mut b, t0, Outcome::Success, MS);
    for _ in 0..4 {
        call(&mut b, t0, Outcome::Failure, MS);
    }
    assert_eq!(b.phase(), Phase::Closed);
    let t = call(&mut b, t0, Outcome::Failure, MS);
    assert_eq!(t, Some(Transition::Opened(Cause::ConsecutiveFailures, SEC)));
    assert_eq!(b.acquire(t0 + 300 * MS).0, Admission::Reject(700 * MS));
}

#[test]
fn opens_on_failure_rate_only_after_minimum_calls() {
    let t0 = Instant::now();
    let mut b = machine(BreakerSettings {
        consecutive_failures: 0,
        failure_rate: 0.5,
        ..settings()
    });
    // F, S, F, ...: 5 of 9 failed (above 50%) but fewer than 10 calls.
    for i in 0..9 {
        let outcome = if i % 2 == 0 {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        assert_eq!(call(&mut b, t0, outcome, MS), None, "call {i}");
    }
    // The tenth call meets the minimum: 5 of 10 failed, the rate is judged.
    let t = call(&mut b, t0, Outcome::Success, MS);
    assert_eq!(t, Some(Transition::Opened(Cause::FailureRate, SEC)));
}

#[test]
fn time_window_forgets_old_failures() {
    let t0 = Instant::now();
    let mut b = machine(BreakerSettings {
        consecutive_failures: 0,
        failure_rate: 0.5,
        minimum_calls: 4,
        window: BreakerWindow::Time(10 * SEC),
        ..settings()
    });
    call(&mut b, t0, Outcome::Failure, MS);
    call(&mut b, t0, Outcome::Failure, MS);
    // Eleven seconds later the failures are out of the window.
    let t1 = t0 + 11 * SEC;
    for _ in 0..3 {
        assert_eq!(call(&mut b, t1, Outcome::Success, MS), None);
    }
    assert_eq!(call(&mut b, t1, Outcome::Failure, MS), None);
    assert_eq!(b.phase(), Phase::Closed);
}

#[test]
fn slow_call_rate_trips() {
    let t0 = Instant::now();
    let mut b = machine(BreakerSettings {
        slow_call_rate: 0.8,
        minimum_calls: 5,
        ..settings()
    });
    for _ in 0..3 {
        assert_eq!(call(&mut b, t0, Outcome::Success, 2 * SEC), None);
    }
    call(&mut b, t0, Outcome::Success, MS);
    // 4 of 5 slow: 80%.
    let t = call(&mut b, t0, Outcome::Success, 2 * SEC);
    assert_eq!(t, Some(Transition::Opened(Cause::SlowCallRate, SEC)));
}

#[test]
fn half_open_admits_exactly_n_probes_and_closes_on_their_success() {
    let t0 = Instant::now();
    let mut b = machine(settings());
    trip(&mut b, t0);
    let t1 = t0 + SEC;
    let (first, transition) = b.acquire(t1);
    assert_eq!(transition, Some(Transition::HalfOpened));
    assert_eq!(first, Admission::Admit(Kind::Probe));
    assert_eq!(b.acquire(t1).0, Admission::Admit(Kind::Probe));
    assert!(matches!(b.acquire(t1).0, Admission::Reject(_)));
    assert_eq!(b.record(Kind::Probe, Outcome::Success, MS, t1), None);
    // A finished probe does not free a slot: the two probes are the test.
    assert!(matches!(b.acquire(t1).0, Admission::Reject(_)));
    let t = b.record(Kind::Probe, Outcome::Success, MS, t1);
    assert_eq!(t, Some(Transition::Closed));
    assert_eq!(b.acquire(t1).0, Admission::Admit(Kind::Normal));
}

#[test]
fn dropped_probe_frees_its_slot() {
    let t0 = Instant::now();
    let mut b = machine(settings());
    trip(&mut b, t0);
    let t1 = t0 + SEC;
    b.acquire(t1);
    b.acquire(t1);
    assert!(matches!(b.acquire(t1).0, Admission::Reject(_)));
    b.cancel(Kind::Probe, 30 * SEC, t1);
    assert_eq!(b.acquire(t1).0, Admission::Admit(Kind::Probe));
}

#[test]
fn reopen_backoff_grows_and_caps() {
    let mut now = Instant::now();
    let mut b = machine(settings());
    trip(&mut b, now);
    let mut opens = Vec::new();
    for _ in 0..5 {
        // Wait out the open time (at most the cap), then fail the probe.
        now += 8 * SEC;
        let Admission::Admit(kind) = b.acquire(now).0 else {
            panic!("no probe")
        };
        match b.record(kind, Outcome::Failure, MS, now) {
            Some(Transition::Opened(Cause::ProbeFailed, d)) => opens.push(d),
            other => panic!("expected reopen, got {other:?}"),
        }
    }
    assert_eq!(opens, [2 * SEC, 4 * SEC, 8 * SEC, 8 * SEC, 8 * SEC]);
    // Closing resets the backoff.
    now += 8 * SEC;
    for _ in 0..2 {
        let Admission::Admit(kind) = b.acquire(now).0 else {
            panic!("no probe")
        };
        b.record(kind, Outcome::Success, MS, now);
    }
    assert_eq!(b.phase(), Phase::Closed);
    for _ in 0..4 {
        call(&mut b, now, Outcome::Failure, MS);
    }
    let t = call(&mut b, now, Outcome::Failure, MS);
    assert_eq!(t, Some(Transition::Opened(Cause::ConsecutiveFailures, SEC)));
}

#[test]
fn jitter_only_shortens_the_open_time() {
    let t0 = Instant::now();
    let mut b = machine(BreakerSettings {
        jitter: 0.5,
        ..settings()
    });
    for _ in 0..4 {
        call(&mut b, t0, Outcome::Failure, MS);
    }
    let Some(Transition::Opened(_, d)) = call(&mut b, t0, Outcome::Failure, MS) else {
        panic!("did not open");
    };
    assert!(d <= SEC && d >= SEC / 2 && d != SEC, "{d:?}");
}

#[test]
fn local_rejections_never_trip_it() {
    let t0 = Instant::now();
    let mut b = machine(settings());
    let classifier = Classifier::new(&[503]);
    let errors: [crate::wire::BoxError; 2] =
        [Box::new(NoEndpoint::new()), Box::new(Local::wrap("shed"))];
    for error in errors.iter().cycle().take(50) {
        call(&mut b, t0, classifier.error(error), MS);
    }
    assert_eq!(b.phase(), Phase::Closed);
}

#[test]
fn manual_modes_override() {
    let t0 = Instant::now();
    let mut b = machine(settings());
    b.set_mode(BreakerMode::ForceOpen);
    assert!(matches!(b.acquire(t0).0, Admission::Reject(_)));
    b.set_mode(BreakerMode::ForceClosed);
    for _ in 0..20 {
        call(&mut b, t0, Outcome::Failure, MS);
    }
    assert_eq!(b.phase(), Phase::Closed);
    b.set_mode(BreakerMode::MetricsOnly);
    trip(&mut b, t0);
    // Open, but only on paper.
    assert_eq!(b.acquire(t0).0, Admission::Admit(Kind::Unrecorded));
}

#[tokio::test(start_paused = true)]
async fn service_fails_fast_when_open_and_counts() {
    let breaker = Breaker::with_rng("app", settings(), fastrand::Rng::with_seed(3));
    let layer = BreakerLayer::new(breaker.clone(), Classifier::new(&[503]));
    let (inner, mut handle) = mock::pair::<http::Request<()>, http::Response<()>>();
    let mut svc = layer.layer(inner);
    for _ in 0..5 {
        let fut = svc.ready().await.unwrap().call(http::Request::new(()));
        let (_, send) = handle.next_request().await.unwrap();
        send.send_response(http::Response::builder().status(503).body(()).unwrap());
        assert_eq!(fut.await.unwrap().status(), 503);
    }
    assert_eq!(breaker.phase(), Phase::Open);
    let mut fut = tokio_test::task::spawn(svc.ready().await.unwrap().call(http::Request::new(())));
    let err = assert_ready_err!(fut.poll());
    assert!(err.downcast_ref::<BreakerOpen>().is_some());
    assert_eq!(
        breaker
            .counters()
            .rejected
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // After the open time a probe goes through; dropping it frees the slot.
    tokio::time::advance(SEC).await;
    let probe = tokio_test::task::spawn(svc.ready().await.unwrap().call(http::Request::new(())));
    assert_eq!(breaker.phase(), Phase::HalfOpen);
    drop(probe);
    // The inner service saw the dropped probe's request; nobody awaits it.
    drop(handle.next_request().await);
    for _ in 0..2 {
        let mut fut =
            tokio_test::task::spawn(svc.ready().await.unwrap().call(http::Request::new(())));
        assert_pending!(fut.poll());
        let (_, send) = handle.next_request().await.unwrap();
        send.send_response(http::Response::new(()));
        assert_ready_ok!(fut.poll());
    }
    assert_eq!(breaker.phase(), Phase::Closed);
}
