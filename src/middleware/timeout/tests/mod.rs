//! Tests of the timeout layers on tokio's paused clock: each timer fires at
//! exactly its bound, with the error that names it; the route's `request`
//! timeout bounds the response's start and a flowing body outlives it,
//! while a caller's budget and `total` bound the whole exchange; the
//! budget travels decremented; expired work never reaches the inner service.

mod state;

use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use tokio::time::{Instant, sleep, sleep_until};
use tower::{Layer, Service, ServiceExt};
use tower_test::mock;

use super::*;
use crate::config::TimeoutSettings;
use crate::middleware::{AttemptEnd, CallDeadline, Deadline};
use crate::wire::body::{self, Body};

const MS: fn(u64) -> Duration = Duration::from_millis;

fn timeouts(request: u64, attempt: Option<u64>, header: Option<u64>) -> TimeoutSettings {
    TimeoutSettings {
        request: MS(request),
        total: None,
        attempt: attempt.map(MS),
        response_header: header.map(MS),
        body_idle: Duration::from_secs(60),
    }
}

fn request(headers: &[(&str, &str)]) -> Request {
    let mut req = http::Request::new(body::empty());
    for (k, v) in headers {
        req.headers_mut().insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    req
}

/// A body of `chunks` chunks, each after `every`; `None`: then stalls forever.
fn trickle(every: Duration, chunks: Option<usize>) -> Body {
    let stream = futures_util::stream::unfold(0usize, move |n| async move {
        if chunks.is_some_and(|c| n >= c) {
            return None;
        }
        if chunks.is_none() && n >= 1 {
            std::future::pending::<()>().await;
        }
        sleep(every).await;
        Some((
            Ok::<_, BoxError>(Frame::data(Bytes::from_static(b"x"))),
            n + 1,
        ))
    });
    body::boxed(StreamBody::new(stream))
}

type Handle = mock::Handle<Request, Response>;

fn deadline_over_mock(
    t: &TimeoutSettings,
) -> (SetDeadline<Attempt<mock::Mock<Request, Response>>>, Handle) {
    let (svc, handle) = mock::pair::<Request, Response>();
    let svc = DeadlineLayer::new(t).layer(AttemptLayer::new(t).layer(svc));
    (svc, handle)
}

fn err_is<E: std::error::Error + 'static>(result: Result<Response, BoxError>) -> bool {
    result.err().is_some_and(|e| e.is::<E>())
}

#[tokio::test(start_paused = true)]
async fn request_timeout_fails_with_deadline_exceeded_at_its_bound() {
    let (svc, mut handle) = deadline_over_mock(&timeouts(200, None, None));
    let start = Instant::now();
    let call = tokio::spawn(svc.oneshot(request(&[])));
    let (req, _pending) = handle.next_request().await.unwrap();
    assert_eq!(
        req.extensions().get::<Deadline>(),
        Some(&Deadline(start + MS(200)))
    );
    assert!(err_is::<DeadlineExceeded>(call.await.unwrap()));
    assert_eq!(start.elapsed(), MS(200));
}

#[tokio::test(start_paused = true)]
async fn caller_budget_shorter_than_route_wins() {
    let (svc, mut handle) = deadline_over_mock(&timeouts(1000, None, None));
    let start = Instant::now();
    let call = tokio::spawn(svc.oneshot(request(&[("x-seawall-timeout-ms", "50")])));
    let (req, _pending) = handle.next_request().await.unwrap();
    assert_eq!(req.headers()[TIMEOUT_MS_HEADER], "50");
    assert!(err_is::<DeadlineExceeded>(call.await.unwrap()));
    assert_eq!(start.elapsed(), MS(50));
}

#[tokio::test(start_paused = true)]
async fn route_timeout_bounds_the_start_of_a_generous_callers_call() {
    let (svc, mut handle) = deadline_over_mock(&timeouts(100, None, None));
    let start = Instant::now();
    let call = tokio::spawn(svc.oneshot(request(&[("grpc-timeout", "10S")])));
    let (req, _pending) = handle.next_request().await.unwrap();
    // What is forwarded bounds the whole call: the caller's budget, not
    // the route's bound on the response's start.
    assert_eq!(req.headers()[TIMEOUT_MS_HEADER], "10000");
    assert_eq!(req.headers()[GRPC_TIMEOUT_HEADER], "10000000u");
    let err = call.await.unwrap().unwrap_err();
    let err = err.downcast_ref::<DeadlineExceeded>().unwrap();
    assert_eq!(err.bound, Bound::Request);
    assert_eq!(start.elapsed(), MS(100));
}

#[tokio::test(start_paused = true)]
async fn without_a_cap_no_budget_is_forwarded() {
    let (svc, mut handle) = deadline_over_mock(&timeouts(1000, None, None));
    let grpc = [("content-type", "application/grpc")];
    let _call = tokio::spawn(svc.oneshot(request(&grpc)));
    let (req, _pending) = handle.next_request().await.unwrap();
    assert!(!req.headers().contains_key(TIMEOUT_MS_HEADER));
    assert!(!req.headers().contains_key(GRPC_TIMEOUT_HEADER));
}

#[tokio::test(start_paused = true)]
async fn total_is_forwarded_and_bounds_the_start_when_shorter() {
    let mut t = timeouts(1000, None, None);
    t.total = Some(MS(200));
    let (svc, mut handle) = deadline_over_mock(&t);
    let start = Instant::now();
    let call = tokio::spawn(svc.oneshot(request(&[])));
    let (req, _pending) = handle.next_request().await.unwrap();
    assert_eq!(req.headers()[TIMEOUT_MS_HEADER], "200");
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(
        err.downcast_ref::<DeadlineExceeded>().unwrap().bound,
        Bound::Total
    );
    assert_eq!(start.elapsed(), MS(200));
}

#[tokio::test(start_paused = true)]
async fn spent_budget_is_refused_without_reaching_the_upstream() {
    for header in [("x-seawall-timeout-ms", "0"), ("grpc-timeout", "0m")] {
        let (svc, mut handle) = deadline_over_mock(&timeouts(1000, None, None));
        let start = Instant::now();
        assert!(err_is::<DeadlineExceeded>(
            svc.oneshot(request(&[header])).await
        ));
        assert_eq!(start.elapsed(), Duration::ZERO);
        // The service is gone and sent nothing.
        assert!(handle.next_request().await.is_none());
    }
}

#[tokio::test(start_paused = true)]
async fn malformed_budget_is_ignored_and_the_route_timeout_applies() {
    let (svc, mut handle) = deadline_over_mock(&timeouts(300, None, None));
    let start = Instant::now();
    let call = tokio::spawn(svc.oneshot(request(&[("x-seawall-timeout-ms", "-5")])));
    let (req, _pending) = handle.next_request().await.unwrap();
    // Not passed on: there is no budget to forward.
    assert!(!req.headers().contains_key(TIMEOUT_MS_HEADER));
    assert!(err_is::<DeadlineExceeded>(call.await.unwrap()));
    assert_eq!(start.elapsed(), MS(300));
}

#[tokio::test(start_paused = true)]
async fn attempt_forwards_the_budget_left_when_it_is_sent() {
    let (svc, mut handle) = mock::pair::<Request, Response>();
    let svc = AttemptLayer::new(&timeouts(1000, None, None)).layer(svc);
    let mut req = request(&[("x-seawall-timeout-ms", "999")]);
    req.extensions_mut()
        .insert(CallDeadline(Instant::now() + MS(300)));
    // Time spent queueing before the attempt starts comes off the budget.
    sleep(MS(120)).await;
    let _call = tokio::spawn(svc.oneshot(req));
    let (req, _pending) = handle.next_request().await.unwrap();
    assert_eq!(req.headers()[TIMEOUT_MS_HEADER], "180");
    assert!(!req.headers().contains_key(GRPC_TIMEOUT_HEADER));
}

#[tokio::test(start_paused = true)]
async fn attempt_past_the_deadline_is_never_sent() {
    let (svc, mut handle) = mock::pair::<Request, Response>();
    let svc = AttemptLayer::new(&timeouts(1000, Some(100), None)).layer(svc);
    let mut req = request(&[]);
    req.extensions_mut().insert(Deadline(Instant::now()));
    assert!(err_is::<DeadlineExceeded>(svc.oneshot(req).await));
    assert!(handle.next_request().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn attempt_timeout_fires_at_its_bound_and_caps_the_forwarded_budget() {
    let (svc, mut handle) = deadline_over_mock(&timeouts(1000, Some(100), None));
    let start = Instant::now();
    let call = tokio::spawn(svc.oneshot(request(&[])));
    let (req, _pending) = handle.next_request().await.unwrap();
    assert_eq!(req.headers()[TIMEOUT_MS_HEADER], "100");
    // The balancer below learns when this try's own timeout fires.
    assert_eq!(
        req.extensions().get::<AttemptEnd>(),
        Some(&AttemptEnd(start + MS(100)))
    );
    assert!(err_is::<AttemptTimeout>(call.await.unwrap()));
    assert_eq!(start.elapsed(), MS(100));
}

#[tokio::test(start_paused = true)]
async fn with_a_retry_hint_the_attempt_end_rides_in_it() {
    let (svc, mut handle) = mock::pair::<Request, Response>();
    let svc = AttemptLayer::new(&timeouts(1000, Some(100), None)).layer(svc);
    let mut req = request(&[]);
    req.extensions_mut()
        .insert(crate::middleware::balance::EndpointHint::default());
    let start = Instant::now();
    let _call = tokio::spawn(svc.oneshot(req));
    let (req, _pending) = handle.next_request().await.unwrap();
    let hint = req
        .extensions()
        .get::<crate::middleware::balance::EndpointHint>();
    assert_eq!(hint.and_then(|h| h.attempt_end()), Some(start + MS(100)));
    assert!(req.extensions().get::<AttemptEnd>().is_none());
}

#[tokio::test(start_paused = true)]
async fn request_deadline_wins_a_tie_with_the_attempt_timeout() {
    let (svc, mut handle) = deadline_over_mock(&timeouts(100, Some(100), None));
    let call = tokio::spawn(svc.oneshot(request(&[])));
    let _req = handle.next_request().await.unwrap();
    assert!(err_is::<DeadlineExceeded>(call.await.unwrap()));
}

#[tokio::test(start_paused = true)]
async fn header_timeout_counts_from_the_end_of_the_upload() {
    let (svc, mut handle) = deadline_over_mock(&timeouts(5000, None, Some(100)));
    let start = Instant::now();
    let mut req = request(&[]);
    *req.body_mut() = trickle(MS(100), Some(3)); // sent in full at 300 ms
    let call = tokio::spawn(svc.oneshot(req));
    let (req, _pending) = handle.next_request().await.unwrap();
    let upload = tokio::spawn(req.into_body().collect());
    assert!(err_is::<HeaderTimeout>(call.await.unwrap()));
    assert_eq!(start.elapsed(), MS(400));
    assert!(upload.await.unwrap().is_ok());
}

#[tokio::test(start_paused = true)]
async fn header_timeout_of_a_bodiless_request_starts_at_once() {
    let (svc, mut handle) = deadline_over_mock(&timeouts(5000, None, Some(100)));
    let start = Instant::now();
    let call = tokio::spawn(svc.oneshot(request(&[])));
    let _req = handle.next_request().await.unwrap();
    assert!(err_is::<HeaderTimeout>(call.await.unwrap()));
    assert_eq!(start.elapsed(), MS(100));
}

/// The body of a response sent at once on a stack with timeouts `t`, to
/// a request with `headers`: 100 chunks 100 ms apart (10 s).
async fn streamed(t: &TimeoutSettings, headers: &[(&str, &str)]) -> Result<usize, BoxError> {
    let (mut svc, mut handle) = deadline_over_mock(t);
    svc.ready().await.unwrap();
    let call = svc.call(request(headers));
    let (_req, send) = handle.next_request().await.unwrap();
    send.send_response(http::Response::new(trickle(MS(100), Some(100))));
    let body = call.await.unwrap().into_body().collect().await?;
    Ok(body.to_bytes().len())
}

#[tokio::test(start_paused = true)]
async fn a_flowing_body_outlives_the_request_timeout() {
    let start = Instant::now();
    let len = streamed(&timeouts(300, None, None), &[]).await.unwrap();
    assert_eq!((len, start.elapsed()), (100, MS(10_000)));
}

#[tokio::test(start_paused = true)]
async fn the_callers_deadline_cuts_the_body_when_it_passes() {
    let start = Instant::now();
    let caller = [("x-seawall-timeout-ms", "500")];
    let err = streamed(&timeouts(300, None, None), &caller)
        .await
        .unwrap_err();
    let err = err.downcast_ref::<DeadlineExceeded>().unwrap();
    assert_eq!((err.bound, start.elapsed()), (Bound::Caller, MS(500)));
}

#[tokio::test(start_paused = true)]
async fn total_cuts_the_body_where_it_says() {
    let mut t = timeouts(300, None, None);
    t.total = Some(MS(1000));
    let start = Instant::now();
    let err = streamed(&t, &[]).await.unwrap_err();
    let err = err.downcast_ref::<DeadlineExceeded>().unwrap();
    assert_eq!((err.bound, start.elapsed()), (Bound::Total, MS(1000)));
}

#[tokio::test(start_paused = true)]
async fn stalled_body_fails_after_the_idle_timeout() {
    let body = TimedBody::new(trickle(MS(10), None), MS(100), Direction::Download, None);
    let start = Instant::now();
    let err = body.collect().await.unwrap_err();
    let idle = err.downcast_ref::<BodyIdleTimeout>().unwrap();
    assert_eq!(idle.direction, Direction::Download);
    assert_eq!(start.elapsed(), MS(110));
}

#[tokio::test(start_paused = true)]
async fn trickle_faster_than_the_idle_timeout_completes() {
    let body = TimedBody::new(trickle(MS(80), Some(5)), MS(100), Direction::Upload, None);
    let bytes = body.collect().await.unwrap().to_bytes();
    assert_eq!(bytes.len(), 5);
}

#[tokio::test(start_paused = true)]
async fn idle_timer_does_not_run_while_the_reader_is_not_reading() {
    let t0 = Instant::now();
    let stream = futures_util::stream::iter([0u64, 550]).then(move |at| async move {
        sleep_until(t0 + MS(at)).await;
        Ok::<_, BoxError>(Frame::data(Bytes::from_static(b"x")))
    });
    let body = TimedBody::new(StreamBody::new(stream), MS(100), Direction::Download, None);
    let mut body = std::pin::pin!(body);
    assert!(body.as_mut().frame().await.unwrap().is_ok());
    sleep(MS(500)).await; // a slow reader, not a stalled writer
    assert!(body.as_mut().frame().await.unwrap().is_ok());
}

use futures_util::StreamExt as _;
