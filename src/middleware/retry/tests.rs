//! Tests of the retry layer: budget, backoff, replay, and the decisions
//! end to end through the service, with a scripted inner service and the
//! paused clock.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::BodyExt;
use tower::{Layer, Service, ServiceExt};

use super::*;
use crate::config::{RetryBudgetSettings, RetryPolicy};
use crate::downstream::rescue::{self, ERROR_HEADER, NO_RETRY_HEADER, Rescue};
use crate::middleware::Deadline;
use crate::middleware::balance::EndpointHint;
use crate::middleware::classify::Classifier;
use crate::wire::BoxError;
use crate::wire::body::{self, Request, Response};

const MS: Duration = Duration::from_millis(1);

/// What the inner service saw of one attempt.
#[derive(Clone, Debug)]
struct Seen {
    headers: HeaderMap,
    avoid: Option<SocketAddr>,
    body: Bytes,
}

/// An inner service answering from a script, recording what it saw.
#[derive(Clone)]
struct Scripted {
    script: Arc<Mutex<VecDeque<Result<Response, BoxError>>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Scripted {
    fn new(answers: Vec<Result<Response, BoxError>>) -> Self {
        Self {
            script: Arc::new(Mutex::new(answers.into())),
            seen: Arc::default(),
        }
    }

    fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn seen(&self, i: usize) -> Seen {
        self.seen.lock().unwrap()[i].clone()
    }
}

impl Service<Request> for Scripted {
    type Response = Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let answer = self.script.lock().unwrap().pop_front();
        let seen = self.seen.clone();
        Box::pin(async move {
            let hint = req.extensions().get::<EndpointHint>().cloned();
            let avoid = hint.as_ref().and_then(EndpointHint::avoid);
            // Where the balancer would record its pick.
            if let (Some(hint), Some(Ok(rsp))) = (&hint, &answer)
                && let Some(Picked(addr)) = rsp.extensions().get::<Picked>()
            {
                hint.record(*addr);
            }
            let (parts, body) = req.into_parts();
            let body = body.collect().await?.to_bytes();
            seen.lock().unwrap().push(Seen {
                headers: parts.headers,
                avoid,
                body,
            });
            answer.unwrap_or_else(|| Ok(status(200)))
        })
    }
}

fn status(code: u16) -> Response {
    let mut rsp = Response::new(body::empty());
    *rsp.status_mut() = StatusCode::from_u16(code).unwrap();
    rsp
}

/// The endpoint a scripted answer comes from, recorded in the attempt's
/// hint as the balancer does.
#[derive(Clone, Copy)]
struct Picked(SocketAddr);

fn from(code: u16, port: u16) -> Response {
    let mut rsp = status(code);
    rsp.extensions_mut()
        .insert(Picked(SocketAddr::from(([10, 0, 0, 1], port))));
    rsp
}

fn io(kind: std::io::ErrorKind) -> BoxError {
    Box::new(std::io::Error::from(kind))
}

fn roomy() -> Arc<RetryBudget> {
    RetryBudget::new(RetryBudgetSettings::default())
}

fn empty_budget() -> Arc<RetryBudget> {
    RetryBudget::new(RetryBudgetSettings {
        ratio: 0.0,
        min_per_second: 0,
        ..RetryBudgetSettings::default()
    })
}

fn service(inner: &Scripted, budget: Arc<RetryBudget>) -> Retry<Scripted> {
    let layer = RetryLayer::with_seed(
        RetryPolicy::default(),
        budget,
        Classifier::new(&[502, 503, 504]),
        7,
    );
    layer.layer(inner.clone())
}

fn request(method: Method) -> Request {
    let mut req = Request::new(body::empty());
    *req.method_mut() = method;
    req
}

async fn send(svc: &mut Retry<Scripted>, req: Request) -> Result<Response, BoxError> {
    svc.ready().await?.call(req).await
}

#[tokio::test(start_paused = true)]
async fn budget_permits_ratio_plus_floor_and_blocks_beyond() {
    let budget = RetryBudget::new(RetryBudgetSettings {
        ratio: 0.2,
        min_per_second: 1,
        ttl: Duration::from_secs(2),
        max_concurrent: NonZeroUsize::new(100).unwrap(),
    });
    for _ in 0..10 {
        budget.deposit();
    }
    // 20 % of 10 requests, plus the reserve of 1/s × 2 s.
    for i in 0..4 {
        assert!(budget.try_retry().is_ok(), "retry {i} refused");
    }
    assert_eq!(budget.try_retry().unwrap_err(), Refusal::Exhausted);
    assert_eq!(
        budget
            .counters()
            .retries
            .load(std::sync::atomic::Ordering::Relaxed),
        4
    );
    // Past the TTL deposits and withdrawals are forgotten: the reserve is back.
    tokio::time::advance(Duration::from_secs(3)).await;
    assert!(budget.try_retry().is_ok());
    assert!(budget.try_retry().is_ok());
    assert_eq!(budget.try_retry().unwrap_err(), Refusal::Exhausted);
}

#[tokio::test(start_paused = true)]
async fn concurrent_retries_are_capped() {
    let budget = RetryBudget::new(RetryBudgetSettings {
        max_concurrent: NonZeroUsize::MIN,
        ..RetryBudgetSettings::default()
    });
    let held = budget.try_retry().expect("first retry");
    assert_eq!(budget.try_retry().unwrap_err(), Refusal::Concurrency);
    drop(held);
    assert_eq!(budget.in_progress(), 0);
    assert!(budget.try_retry().is_ok());
}

#[test]
fn backoff_grows_to_its_cap_with_full_jitter() {
    let mut b = Backoff::new(25 * MS, 250 * MS, fastrand::Rng::with_seed(1));
    let ceilings: Vec<_> = (1..=6).map(|n| b.ceiling(n)).collect();
    assert_eq!(
        ceilings,
        [25 * MS, 50 * MS, 100 * MS, 200 * MS, 250 * MS, 250 * MS]
    );
    let waits: Vec<_> = (0..1000).map(|_| b.wait(3)).collect();
    assert!(waits.iter().all(|w| *w <= 100 * MS));
    // Full jitter: the draws cover the range, not just its top.
    assert!(waits.iter().any(|w| *w < 10 * MS));
    assert!(waits.iter().any(|w| *w > 90 * MS));
    let mut again = Backoff::new(25 * MS, 250 * MS, fastrand::Rng::with_seed(1));
    let mut first = Backoff::new(25 * MS, 250 * MS, fastrand::Rng::with_seed(1));
    assert_eq!(again.wait(2), first.wait(2), "a seed fixes the draws");
}

#[tokio::test(start_paused = true)]
async fn a_503_is_retried_on_another_endpoint_with_the_attempt_header() {
    let inner = Scripted::new(vec![Ok(from(503, 1)), Ok(from(200, 2))]);
    let mut svc = service(&inner, roomy());
    let rsp = send(&mut svc, request(Method::GET)).await.unwrap();
    assert_eq!(rsp.status(), StatusCode::OK);
    assert_eq!(inner.calls(), 2);
    assert_eq!(inner.seen(0).headers[&ATTEMPT_HEADER], "1");
    assert_eq!(inner.seen(1).headers[&ATTEMPT_HEADER], "2");
    assert_eq!(inner.seen(0).avoid, None);
    assert_eq!(
        inner.seen(1).avoid,
        Some(SocketAddr::from(([10, 0, 0, 1], 1)))
    );
}

#[tokio::test(start_paused = true)]
async fn local_refusals_are_never_retried() {
    let shed = Rescue::new(StatusCode::SERVICE_UNAVAILABLE, "shed-queue-full")
        .no_retry()
        .response();
    let open = || -> BoxError { crate::middleware::classify::Local::wrap("breaker open").into() };
    let no_endpoint: BoxError = Box::new(crate::middleware::balance::NoEndpoint::new());
    for answer in [Ok(shed), Err(open()), Err(no_endpoint)] {
        let inner = Scripted::new(vec![answer]);
        let mut svc = service(&inner, roomy());
        let _ = send(&mut svc, request(Method::GET)).await;
        assert_eq!(inner.calls(), 1, "a local refusal was retried");
    }
}

#[tokio::test(start_paused = true)]
async fn breaker_open_is_not_retried_and_keeps_its_answer() {
    let open: BoxError = Box::new(crate::middleware::breaker::BreakerOpen::new(
        Duration::from_secs(2),
    ));
    let inner = Scripted::new(vec![Err(open)]);
    let mut svc = service(&inner, roomy());
    let err = send(&mut svc, request(Method::GET)).await.unwrap_err();
    assert_eq!(inner.calls(), 1);
    assert_eq!(rescue::classify(&err).reason, "breaker-open");
}

#[tokio::test(start_paused = true)]
async fn budget_exhausted_returns_the_attempts_answer_marked() {
    let inner = Scripted::new(vec![Ok(status(503))]);
    let mut svc = service(&inner, empty_budget());
    let rsp = send(&mut svc, request(Method::GET)).await.unwrap();
    assert_eq!(inner.calls(), 1);
    assert_eq!(rsp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(rsp.headers()[ERROR_HEADER], "budget-exhausted");
    assert_eq!(rsp.headers()[NO_RETRY_HEADER], "1");

    let inner = Scripted::new(vec![Err(io(std::io::ErrorKind::ConnectionReset))]);
    let mut svc = service(&inner, empty_budget());
    let err = send(&mut svc, request(Method::GET)).await.unwrap_err();
    let r = rescue::classify(&err);
    assert_eq!(
        (r.status, r.reason, r.no_retry),
        (StatusCode::BAD_GATEWAY, "budget-exhausted", true)
    );
}

#[tokio::test(start_paused = true)]
async fn max_attempts_is_a_ceiling_and_the_last_answer_is_marked() {
    let inner = Scripted::new((0..5).map(|_| Ok(status(503))).collect());
    let mut svc = service(&inner, roomy());
    let rsp = send(&mut svc, request(Method::GET)).await.unwrap();
    assert_eq!(inner.calls(), 3);
    assert_eq!(rsp.headers()[NO_RETRY_HEADER], "1");
    assert!(!rsp.headers().contains_key(ERROR_HEADER));
}

#[tokio::test(start_paused = true)]
async fn post_that_may_have_reached_the_upstream_is_not_retried() {
    let inner = Scripted::new(vec![Err(io(std::io::ErrorKind::ConnectionReset))]);
    let mut svc = service(&inner, roomy());
    let err = send(&mut svc, request(Method::POST)).await.unwrap_err();
    assert_eq!(inner.calls(), 1);
    assert!(rescue::classify(&err).no_retry);
    // A 503 means it was read, too.
    let inner = Scripted::new(vec![Ok(status(503))]);
    let mut svc = service(&inner, roomy());
    let _ = send(&mut svc, request(Method::POST)).await;
    assert_eq!(inner.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn post_is_retried_when_it_never_arrived_or_has_an_idempotency_key() {
    let inner = Scripted::new(vec![Err(io(std::io::ErrorKind::ConnectionRefused))]);
    let mut svc = service(&inner, roomy());
    let rsp = send(&mut svc, request(Method::POST)).await.unwrap();
    assert_eq!((inner.calls(), rsp.status()), (2, StatusCode::OK));

    let inner = Scripted::new(vec![Err(io(std::io::ErrorKind::ConnectionReset))]);
    let mut svc = service(&inner, roomy());
    let mut req = request(Method::POST);
    req.headers_mut()
        .insert("idempotency-key", "abc".parse().unwrap());
    let rsp = send(&mut svc, req).await.unwrap();
    assert_eq!((inner.calls(), rsp.status()), (2, StatusCode::OK));
}

#[tokio::test(start_paused = true)]
async fn no_retry_starts_that_the_deadline_cannot_fit() {
    let inner = Scripted::new(vec![Ok(status(503))]);
    let mut svc = service(&inner, roomy());
    let mut req = request(Method::GET);
    // Less than the smallest possible backoff ceiling plus nothing: the
    // seeded first wait is above 1 ms, so the retry cannot fit.
    req.extensions_mut().insert(Deadline(
        tokio::time::Instant::now() + Duration::from_micros(1),
    ));
    let rsp = send(&mut svc, req).await.unwrap();
    assert_eq!(inner.calls(), 1);
    assert_eq!(rsp.headers()[NO_RETRY_HEADER], "1");
}

#[tokio::test(start_paused = true)]
async fn a_long_retry_after_is_not_waited_for() {
    let mut rsp = status(503);
    rsp.headers_mut()
        .insert(http::header::RETRY_AFTER, "30".parse().unwrap());
    let inner = Scripted::new(vec![Ok(rsp)]);
    let mut svc = service(&inner, roomy());
    let _ = send(&mut svc, request(Method::GET)).await;
    assert_eq!(inner.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_body_within_the_buffer_is_replayed_whole() {
    let inner = Scripted::new(vec![Ok(status(503))]);
    let mut svc = service(&inner, roomy());
    let mut req = Request::new(body::full("hello, twice"));
    *req.method_mut() = Method::PUT;
    send(&mut svc, req).await.unwrap();
    assert_eq!(inner.calls(), 2);
    assert_eq!(inner.seen(1).body, "hello, twice");
}

#[tokio::test(start_paused = true)]
async fn replay_buffer_cap_stops_replay_once_sent() {
    let replay = Replay::new(body::full(vec![7u8; 100]), 64);
    let first = replay.body().collect().await.unwrap().to_bytes();
    assert_eq!(first.len(), 100, "the first attempt streams it whole");
    assert!(replay.overflowed());
    assert!(!replay.can_replay());

    let replay = Replay::new(body::full(vec![7u8; 100]), 128);
    let _ = replay.body().collect().await.unwrap();
    assert!(replay.can_replay());
    assert_eq!(replay.body().collect().await.unwrap().to_bytes().len(), 100);

    // Never read (connect refused): replayable whatever its size.
    let replay = Replay::new(body::full(vec![7u8; 100]), 1);
    drop(replay.body());
    assert!(replay.can_replay());
    assert_eq!(replay.body().collect().await.unwrap().to_bytes().len(), 100);
}

/// A body whose last frame is empty and which knows it has ended once that
/// frame is read, like hyper's HTTP/2 request body.
struct EndsWithEmpty(VecDeque<Bytes>);

impl http_body::Body for EndsWithEmpty {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(http_body::Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }
}

#[tokio::test]
async fn empty_data_frames_are_not_sent_on_and_the_end_is_seen_with_the_last_data() {
    let client = EndsWithEmpty(VecDeque::from([
        Bytes::from_static(b"msg"),
        Bytes::new(),
        Bytes::from_static(b"end"),
    ]));
    let replay = Replay::new(body::boxed(client), 1024);
    let mut attempt = replay.body();
    let mut sent = Vec::new();
    while let Some(frame) = attempt.frame().await {
        sent.push(frame.unwrap().into_data().unwrap());
        if sent.last().is_some_and(|b| b == "end") {
            // What hyper asks before it writes the frame: this one ends it.
            assert!(http_body::Body::is_end_stream(&attempt));
        }
    }
    assert_eq!(sent, ["msg", "end"]);
    drop(attempt);
    let again = replay.body().collect().await.unwrap().to_bytes();
    assert_eq!(again, "msgend", "a retry replays the same bytes");
    // An empty last frame (a client's end of stream) is not sent either.
    let client = EndsWithEmpty(VecDeque::from([Bytes::from_static(b"msg"), Bytes::new()]));
    let mut attempt = Replay::new(body::boxed(client), 1024).body();
    assert_eq!(
        attempt.frame().await.unwrap().unwrap().into_data().unwrap(),
        "msg"
    );
    assert!(attempt.frame().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn an_oversized_body_sent_once_is_not_retried() {
    let inner = Scripted::new(vec![Ok(status(503))]);
    let policy = RetryPolicy {
        replay_buffer: 4,
        max_attempts: NonZeroU32::new(3).unwrap(),
        ..RetryPolicy::default()
    };
    let mut svc = RetryLayer::new(policy, roomy(), Classifier::new(&[503])).layer(inner.clone());
    let mut req = Request::new(body::full("more than four bytes"));
    *req.method_mut() = Method::PUT;
    let rsp = svc.ready().await.unwrap().call(req).await.unwrap();
    assert_eq!(inner.calls(), 1);
    assert_eq!(rsp.headers()[NO_RETRY_HEADER], "1");
}

#[tokio::test(start_paused = true)]
async fn a_refused_h2_stream_is_retried_even_for_a_post() {
    let refused: BoxError = Box::new(h2::Error::from(h2::Reason::REFUSED_STREAM));
    let inner = Scripted::new(vec![Err(refused)]);
    let mut svc = service(&inner, roomy());
    let rsp = send(&mut svc, request(Method::POST)).await.unwrap();
    assert_eq!((inner.calls(), rsp.status()), (2, StatusCode::OK));
    // Any other stream error proves nothing about a POST.
    let cancel: BoxError = Box::new(h2::Error::from(h2::Reason::INTERNAL_ERROR));
    let inner = Scripted::new(vec![Err(cancel)]);
    let mut svc = service(&inner, roomy());
    let _ = send(&mut svc, request(Method::POST)).await;
    assert_eq!(inner.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_upstream_retry_after_within_the_cap_is_honoured() {
    let mut rsp = status(503);
    rsp.headers_mut()
        .insert(http::header::RETRY_AFTER, "1".parse().unwrap());
    let inner = Scripted::new(vec![Ok(rsp)]);
    let mut svc = service(&inner, roomy());
    let started = tokio::time::Instant::now();
    let rsp = send(&mut svc, request(Method::GET)).await.unwrap();
    assert_eq!((inner.calls(), rsp.status()), (2, StatusCode::OK));
    assert!(started.elapsed() >= Duration::from_secs(1), "retried early");
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_fails_the_attempt_and_retry_does_not_retry_it() {
    let yaml = "listeners: [{name: l, address: 127.0.0.1:1, routes: [{name: r, cluster: c}]}]
clusters: [{name: c, endpoints: [\"127.0.0.1:2\"], breaker: {mode: force_open}}]";
    let config = crate::config::parse(yaml, None).unwrap();
    let breaker = crate::middleware::breaker::Breaker::new("c", config.clusters[0].breaker.clone());
    let classifier = Classifier::new(&[503]);
    let inner = Scripted::new(vec![]);
    let breaker_layer = crate::middleware::breaker::BreakerLayer::new(breaker, classifier.clone());
    let mut svc = RetryLayer::new(RetryPolicy::default(), roomy(), classifier)
        .layer(breaker_layer.layer(inner.clone()));
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(request(Method::GET))
        .await
        .unwrap_err();
    assert_eq!(inner.calls(), 0, "the breaker let an attempt through");
    let r = rescue::classify(&err);
    assert_eq!((r.reason, r.no_retry), ("breaker-open", true));
}

#[test]
fn a_retry_to_an_untried_endpoint_starts_at_once_unless_the_upstream_asks_to_wait() {
    let policy = RetryPolicy {
        backoff_base: 200 * MS,
        backoff_max: 200 * MS,
        ..RetryPolicy::default()
    };
    let judged = |retry_after| state::Judged {
        outcome: budget::AttemptOutcome::Failure,
        retryable: Some(state::Failure::Status(503)),
        unprocessed: false,
        retry_after,
    };
    let facts = |untried_endpoint| state::Facts {
        attempt: 1,
        safe: true,
        elapsed: MS,
        remaining: None,
        replayable: true,
        untried_endpoint,
    };
    let mut backoff = Backoff::new(200 * MS, 200 * MS, fastrand::Rng::with_seed(7));
    for _ in 0..100 {
        assert_eq!(
            state::decide(&judged(None), facts(true), &policy, &mut backoff),
            state::Decision::Retry(Duration::ZERO)
        );
    }
    // Only the same endpoint (or one already failed) is left: back off.
    let waits: Vec<_> = (0..100)
        .map(|_| state::decide(&judged(None), facts(false), &policy, &mut backoff))
        .collect();
    assert!(
        waits
            .iter()
            .any(|d| matches!(d, state::Decision::Retry(w) if *w > 10 * MS)),
        "{waits:?}"
    );
    // The upstream's Retry-After holds even with a fresh endpoint.
    assert_eq!(
        state::decide(&judged(Some(100 * MS)), facts(true), &policy, &mut backoff),
        state::Decision::Retry(100 * MS)
    );
}

/// A trailers-only gRPC answer with `code`, and a pushback if given.
fn grpc_answer(code: &'static str, pushback: Option<&'static str>) -> Response {
    let mut rsp = status(200);
    let h = rsp.headers_mut();
    h.insert("content-type", "application/grpc".parse().unwrap());
    h.insert("grpc-status", code.parse().unwrap());
    if let Some(ms) = pushback {
        h.insert("grpc-retry-pushback-ms", ms.parse().unwrap());
    }
    rsp
}

fn grpc_call() -> Request {
    let mut req = request(Method::POST);
    req.headers_mut()
        .insert("content-type", "application/grpc".parse().unwrap());
    req
}

#[tokio::test(start_paused = true)]
async fn a_trailers_only_unavailable_grpc_call_is_retried_though_it_is_a_post() {
    let inner = Scripted::new(vec![
        Ok(grpc_answer("14", None)),
        Ok(grpc_answer("0", None)),
    ]);
    let mut svc = service(&inner, roomy());
    let rsp = send(&mut svc, grpc_call()).await.unwrap();
    assert_eq!(rsp.headers()["grpc-status"], "0");
    assert_eq!(inner.calls(), 2);
    // gRFC A6: the retry says how many attempts came before it.
    assert!(
        !inner
            .seen(0)
            .headers
            .contains_key("grpc-previous-rpc-attempts")
    );
    assert_eq!(inner.seen(1).headers["grpc-previous-rpc-attempts"], "1");
}

#[tokio::test(start_paused = true)]
async fn grpc_pushback_is_honoured_and_a_negative_one_stops_retries() {
    let inner = Scripted::new(vec![Ok(grpc_answer("14", Some("-1")))]);
    let mut svc = service(&inner, roomy());
    let rsp = send(&mut svc, grpc_call()).await.unwrap();
    assert_eq!(rsp.headers()["grpc-status"], "14");
    assert_eq!(inner.calls(), 1);

    let inner = Scripted::new(vec![
        Ok(grpc_answer("14", Some("300"))),
        Ok(grpc_answer("0", None)),
    ]);
    let mut svc = service(&inner, roomy());
    let started = tokio::time::Instant::now();
    let rsp = send(&mut svc, grpc_call()).await.unwrap();
    assert_eq!(rsp.headers()["grpc-status"], "0");
    assert!(
        started.elapsed() >= 300 * MS,
        "waited {:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn other_grpc_failures_are_not_retried_by_default_nor_unsafe_ones() {
    // INTERNAL is a failure (breaker, ejection) but not retryable.
    let inner = Scripted::new(vec![Ok(grpc_answer("13", None))]);
    let mut svc = service(&inner, roomy());
    send(&mut svc, grpc_call()).await.unwrap();
    assert_eq!(inner.calls(), 1);
    // DEADLINE_EXCEEDED listed: retried only when safe to repeat.
    let policy = RetryPolicy {
        grpc_codes: crate::wire::grpc::Codes::of(&[4, 14]),
        ..RetryPolicy::default()
    };
    let layer = |inner: &Scripted| {
        RetryLayer::with_seed(policy.clone(), roomy(), Classifier::new(&[503]), 7)
            .layer(inner.clone())
    };
    let inner = Scripted::new(vec![Ok(grpc_answer("4", None))]);
    send(&mut layer(&inner), grpc_call()).await.unwrap();
    assert_eq!(inner.calls(), 1, "a POST that may have been served");
    let inner = Scripted::new(vec![Ok(grpc_answer("4", None)), Ok(grpc_answer("0", None))]);
    let mut keyed = grpc_call();
    keyed
        .headers_mut()
        .insert("idempotency-key", "k1".parse().unwrap());
    send(&mut layer(&inner), keyed).await.unwrap();
    assert_eq!(inner.calls(), 2, "an idempotent call");
}
