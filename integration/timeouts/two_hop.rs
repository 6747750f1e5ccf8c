//! Deadline propagation across two seawalls: client → hop 1 → hop 2 →
//! echoing upstream, all on port 0. The upstream's echo shows the budget
//! the last hop forwarded; its stats show whether work reached it at all.

use std::time::Duration;

use http::{Request, StatusCode};
use tokio::time::Instant;

use super::common::Seawall;
use super::common::*;
use super::{MS, SERIAL, config, timed, within};

/// The upstream and two chained seawalls; hop 2's route timeout is `hop2`.
async fn chain(hop2: &str) -> (Upstream, Seawall, Seawall) {
    let up = Upstream::spawn("two-hop").await;
    let second = Seawall::start(&config(up.addr, hop2, "")).await;
    let first = Seawall::start(&config(second.addr, "request: 5s", "")).await;
    (up, second, first)
}

fn with_budget(url: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut req = Request::get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(empty()).expect("valid request")
}

/// The single value of an echoed request header.
fn echoed(reply: &Reply, name: &str) -> String {
    let values = &reply.json()["headers"][name];
    assert_eq!(values.as_array().map(Vec::len), Some(1), "{name}: {values}");
    values[0].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn budget_reaches_the_upstream_decremented_by_both_hops() {
    let _serial = SERIAL.lock().await;
    let (_up, _second, first) = chain("request: 5s").await;
    let req = with_budget(
        &first.url("/"),
        &[
            ("x-seawall-timeout-ms", "1000"),
            ("grpc-timeout", "1S"),
            ("content-type", "application/grpc"),
        ],
    );
    let (reply, _) = timed(req).await;
    assert_eq!(reply.status, StatusCode::OK);
    let ms: u64 = echoed(&reply, "x-seawall-timeout-ms").parse().unwrap();
    println!("caller sent 1000 ms; the upstream got {ms} ms after two hops");
    assert!((800..1000).contains(&ms), "decremented, not reset: {ms}");
    let grpc = echoed(&reply, "grpc-timeout");
    assert!(grpc.ends_with('u') || grpc.ends_with('n'), "{grpc}");
    let grpc_ms = grpc[..grpc.len() - 1].parse::<u64>().unwrap() / 1000;
    assert!((800..1000).contains(&grpc_ms), "grpc-timeout {grpc}");
}

#[tokio::test]
async fn second_hop_route_timeout_bounds_the_start_not_the_forwarded_budget() {
    let _serial = SERIAL.lock().await;
    let (_up, _second, first) = chain("request: 300ms").await;
    let budget = [("x-seawall-timeout-ms", "60000")];
    let (reply, _) = timed(with_budget(&first.url("/"), &budget)).await;
    assert_eq!(reply.status, StatusCode::OK);
    // The route's timeout bounds only the response's start: forwarding it
    // would have the next hop cut a stream this hop lets flow.
    let ms: u64 = echoed(&reply, "x-seawall-timeout-ms").parse().unwrap();
    assert!((59_000..60_000).contains(&ms), "the caller's budget: {ms}");
    // ... and it still ends a start that takes longer.
    let (reply, elapsed) = timed(with_budget(&first.url("/?delay=1s"), &budget)).await;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(reply.header("x-seawall-error"), Some("timeout"));
    within("hop 2 request 300ms, upstream delay 1s", elapsed, MS(300));
}

#[tokio::test]
async fn without_a_budget_none_is_forwarded() {
    let _serial = SERIAL.lock().await;
    let (_up, _second, first) = chain("request: 300ms").await;
    let reply = fetch(&first.url("/")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let headers = &reply.json()["headers"];
    assert!(headers["x-seawall-timeout-ms"].is_null(), "{headers}");
}

#[tokio::test]
async fn work_that_cannot_finish_in_the_budget_ends_at_the_budget() {
    let _serial = SERIAL.lock().await;
    let (up, _second, first) = chain("request: 5s").await;
    let req = with_budget(&first.url("/?delay=1s"), &[("x-seawall-timeout-ms", "100")]);
    let (reply, elapsed) = timed(req).await;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(reply.header("x-seawall-error"), Some("timeout"));
    within(
        "two hops, budget 100ms, upstream delay 1s",
        elapsed,
        MS(100),
    );
    // The upstream was reached but abandoned: nothing waits for it now.
    up.wait_for_stats("upstream request abandoned", |s| s.in_flight == 0)
        .await;
}

#[tokio::test]
async fn spent_budget_is_refused_at_once_and_never_reaches_the_upstream() {
    let _serial = SERIAL.lock().await;
    let (up, second, first) = chain("request: 5s").await;
    // 1 ms at hop 1 is less than 1 ms when hop 1 forwards: hop 2 gets 0.
    let (reply, elapsed) = timed(with_budget(
        &first.url("/"),
        &[("x-seawall-timeout-ms", "1")],
    ))
    .await;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(reply.header("x-seawall-error"), Some("timeout"));
    println!("budget 1 ms through two hops: 504 in {elapsed:?}");
    let start = Instant::now();
    let (reply, elapsed) = timed(with_budget(&second.url("/"), &[("grpc-timeout", "0n")])).await;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(reply.header("x-seawall-no-retry"), Some("1"));
    println!("budget 0 at hop 2: 504 in {elapsed:?}");
    assert!(start.elapsed() < Duration::from_millis(100));
    assert_eq!(up.stats().await.requests, 0, "no work reached the upstream");
}
