//! The tower service, with mocks on the paused clock.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use http::StatusCode;
use tokio::time::Instant;
use tokio_test::{assert_pending, assert_ready_err, assert_ready_ok, task};
use tower::{Service, ServiceExt};
use tower_test::mock;

use super::super::{Admission, AdmissionLayer, AdmissionState, Shed, ShedReason};
use super::{MS, limits};
use crate::config::AdmissionSettings;
use crate::downstream::rescue::{self, NO_RETRY_HEADER};
use crate::middleware::Deadline;
use crate::wire::BoxError;

type Req = http::Request<&'static str>;
type Svc = Admission<mock::Mock<Req, &'static str>>;

fn setup(
    settings: AdmissionSettings,
) -> (Svc, mock::Handle<Req, &'static str>, Arc<AdmissionState>) {
    let state = AdmissionState::with_seed("test", settings, 7);
    let (mock, handle) = mock::pair::<Req, &'static str>();
    let svc = tower::Layer::layer(&AdmissionLayer::new(state.clone()), mock);
    (svc, handle, state)
}

fn req(body: &'static str) -> Req {
    http::Request::new(body)
}

/// Polls `svc` ready and calls it with `body`.
impl crate::middleware::admission::LoadSignal for &'static str {
    fn overloaded(&self) -> bool {
        false
    }
}

async fn send(svc: &mut Svc, body: &'static str) -> task::Spawn<<Svc as Service<Req>>::Future> {
    svc.ready().await.expect("ready");
    task::spawn(svc.call(req(body)))
}

fn gauges(state: &AdmissionState) -> (usize, usize) {
    let m = state.metrics();
    (m.in_flight.load(Relaxed), m.queued.load(Relaxed))
}

fn shed_of(err: &BoxError) -> &Shed {
    err.downcast_ref::<Shed>().expect("a Shed error")
}

#[tokio::test(start_paused = true)]
async fn sheds_when_queue_is_full_with_503_retry_after_and_no_retry() {
    let (mut svc, mut handle, state) = setup(limits(1, 1));
    let mut first = send(&mut svc, "a").await;
    let mut queued = send(&mut svc, "b").await;
    let mut refused = send(&mut svc, "c").await;
    assert_pending!(first.poll());
    assert_pending!(queued.poll());
    let err = assert_ready_err!(refused.poll());
    assert_eq!(shed_of(&err).reason, ShedReason::QueueFull);
    assert!(shed_of(&err).is_local());
    let rsp = rescue::classify(&err).response();
    assert_eq!(rsp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(rsp.headers()[rescue::ERROR_HEADER], "shed-queue-full");
    assert_eq!(rsp.headers()[http::header::RETRY_AFTER], "1");
    assert_eq!(rsp.headers()[NO_RETRY_HEADER], "1");
    assert_eq!(state.metrics().shed_total(ShedReason::QueueFull), 1);
    // Only the admitted request reached the upstream.
    let (request, respond) = handle.next_request().await.expect("first request");
    assert_eq!(*request.body(), "a");
    assert_eq!(gauges(&state), (1, 1));
    drop(respond);
}

#[tokio::test(start_paused = true)]
async fn queued_requests_are_served_in_fifo_order() {
    let (mut svc, mut handle, _state) = setup(limits(1, 8));
    let mut pending = Vec::new();
    for body in ["a", "b", "c", "d"] {
        pending.push(send(&mut svc, body).await);
    }
    let mut order = Vec::new();
    while !pending.is_empty() {
        pending.retain_mut(|f| f.poll().is_pending());
        if let Some((request, respond)) = handle.next_request().await {
            order.push(*request.body());
            respond.send_response("ok");
        }
        if order.len() == 4 {
            pending.retain_mut(|f| f.poll().is_pending());
        }
    }
    assert_eq!(order, ["a", "b", "c", "d"]);
}

#[tokio::test(start_paused = true)]
async fn poll_ready_takes_no_permit() {
    let (svc, _handle, state) = setup(limits(1, 0));
    // Many idle "connections", each polling readiness over and over.
    let mut idle: Vec<Svc> = (0..50).map(|_| svc.clone()).collect();
    for s in &mut idle {
        for _ in 0..10 {
            s.ready().await.expect("ready");
        }
    }
    assert_eq!(gauges(&state), (0, 0));
    // The one slot is still there for a request that is actually sent.
    let mut svc = svc;
    let mut f = send(&mut svc, "real").await;
    assert_pending!(f.poll());
    assert_eq!(gauges(&state), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn dropping_a_queued_request_leaves_the_queue() {
    let (mut svc, mut handle, state) = setup(limits(1, 8));
    let mut first = send(&mut svc, "a").await;
    let mut gone = send(&mut svc, "gone").await;
    let mut next = send(&mut svc, "c").await;
    assert_pending!(first.poll());
    assert_pending!(gone.poll());
    assert_eq!(gauges(&state), (1, 2));
    drop(gone);
    assert_eq!(gauges(&state), (1, 1));
    let (_, respond) = handle.next_request().await.expect("a");
    respond.send_response("a");
    assert_ready_ok!(first.poll());
    assert_pending!(next.poll());
    let (request, _respond) = handle.next_request().await.expect("c");
    assert_eq!(*request.body(), "c", "the dropped waiter was skipped");
    assert_eq!(gauges(&state), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn dropping_an_in_flight_request_releases_its_permit() {
    let (mut svc, mut handle, state) = setup(limits(1, 8));
    let mut first = send(&mut svc, "a").await;
    let mut waiting = send(&mut svc, "b").await;
    assert_pending!(first.poll());
    assert_pending!(waiting.poll());
    let _ = handle.next_request().await.expect("a");
    drop(first);
    // The freed slot went straight to the waiter.
    assert!(waiting.is_woken());
    assert_pending!(waiting.poll());
    let (request, respond) = handle.next_request().await.expect("b");
    assert_eq!(*request.body(), "b");
    respond.send_response("b");
    assert_ready_ok!(waiting.poll());
    assert_eq!(gauges(&state), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn dropping_a_waiter_just_granted_gives_the_permit_back() {
    let (mut svc, mut handle, state) = setup(limits(1, 8));
    let mut first = send(&mut svc, "a").await;
    let mut granted = send(&mut svc, "b").await;
    assert_pending!(first.poll());
    assert_pending!(granted.poll());
    let (_, respond) = handle.next_request().await.expect("a");
    respond.send_response("a");
    assert_ready_ok!(first.poll());
    // "b" holds the slot in its channel but was never polled again.
    assert_eq!(gauges(&state), (1, 0));
    drop(granted);
    assert_eq!(gauges(&state), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn queued_request_is_refused_after_max_queue_wait() {
    let settings = AdmissionSettings {
        max_queue_wait: 200 * MS,
        ..limits(1, 8)
    };
    let (mut svc, _handle, state) = setup(settings);
    let mut first = send(&mut svc, "a").await;
    let mut waiting = send(&mut svc, "b").await;
    assert_pending!(first.poll());
    assert_pending!(waiting.poll());
    tokio::time::advance(199 * MS).await;
    assert_pending!(waiting.poll());
    tokio::time::advance(2 * MS).await;
    let err = assert_ready_err!(waiting.poll());
    assert_eq!(shed_of(&err).reason, ShedReason::QueueDelay);
    assert_eq!(gauges(&state), (1, 0));
}

/// Completes one request taking `service` so the layer has an estimate.
async fn warm_up(svc: &mut Svc, handle: &mut mock::Handle<Req, &'static str>, service: Duration) {
    let mut f = send(svc, "warm").await;
    assert_pending!(f.poll());
    let (_, respond) = handle.next_request().await.expect("warm");
    tokio::time::advance(service).await;
    respond.send_response("warm");
    assert_ready_ok!(f.poll());
}

fn with_deadline(body: &'static str, after: Duration) -> Req {
    let mut r = req(body);
    r.extensions_mut().insert(Deadline(Instant::now() + after));
    r
}

#[tokio::test(start_paused = true)]
async fn deadline_shorter_than_service_time_is_shed_at_enqueue() {
    let (mut svc, mut handle, state) = setup(limits(2, 8));
    warm_up(&mut svc, &mut handle, 100 * MS).await;
    svc.ready().await.expect("ready");
    let mut short = task::spawn(svc.call(with_deadline("short", 50 * MS)));
    let err = assert_ready_err!(short.poll());
    assert_eq!(shed_of(&err).reason, ShedReason::Deadline);
    assert_eq!(rescue::classify(&err).reason, "shed-deadline");
    svc.ready().await.expect("ready");
    let mut long = task::spawn(svc.call(with_deadline("long", 500 * MS)));
    assert_pending!(long.poll());
    assert_eq!(state.metrics().shed_total(ShedReason::Deadline), 1);
}

#[tokio::test(start_paused = true)]
async fn deadline_that_cannot_be_met_is_shed_while_queued() {
    let (mut svc, mut handle, state) = setup(limits(1, 8));
    warm_up(&mut svc, &mut handle, 100 * MS).await;
    let mut first = send(&mut svc, "a").await;
    assert_pending!(first.poll());
    svc.ready().await.expect("ready");
    let mut hurried = task::spawn(svc.call(with_deadline("hurried", 250 * MS)));
    assert_pending!(hurried.poll());
    // Its last useful start is 250 - 100 ms from now: refused then, not
    // sent to time out upstream.
    tokio::time::advance(149 * MS).await;
    assert_pending!(hurried.poll());
    tokio::time::advance(2 * MS).await;
    let err = assert_ready_err!(hurried.poll());
    assert_eq!(shed_of(&err).reason, ShedReason::Deadline);
    assert_eq!(gauges(&state), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn resize_keeps_held_permits_and_serves_waiters_when_grown() {
    let (mut svc, mut handle, state) = setup(limits(2, 8));
    let mut a = send(&mut svc, "a").await;
    let mut b = send(&mut svc, "b").await;
    let mut c = send(&mut svc, "c").await;
    for f in [&mut a, &mut b, &mut c] {
        assert_pending!(f.poll());
    }
    state.resize(limits(1, 8));
    assert_eq!(gauges(&state), (2, 1));
    let (_, ra) = handle.next_request().await.expect("a");
    let (_, _rb) = handle.next_request().await.expect("b");
    ra.send_response("a");
    assert_ready_ok!(a.poll());
    // Two held, limit one: the freed slot is not handed on.
    assert_eq!(gauges(&state), (1, 1));
    assert!(!c.is_woken());
    state.resize(limits(4, 8));
    assert!(c.is_woken());
    assert_pending!(c.poll());
    assert_eq!(gauges(&state), (2, 0));
}
