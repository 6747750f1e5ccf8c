//! Black-box tests of the chaos faults of `seawall-upstream`: the capacity
//! knob, the mid-response reset, and the fault-injecting TCP proxy mode.
//! Each proves the fault is visible to a client, since the chaos scenarios
//! rely on exactly that.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use http::{Method, Request, StatusCode};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;

#[tokio::test]
async fn capacity_serves_at_most_n_at_once_and_the_rest_wait() {
    let up = Upstream::spawn_with("cap", &["--capacity", "2"]).await;
    let url = up.url("/x?delay=200ms");
    let start = Instant::now();
    let replies = futures_util::future::join_all((0..4).map(|_| fetch(&url))).await;
    assert!(replies.iter().all(|r| r.status == StatusCode::OK));
    assert_eq!(replies[0].header("x-upstream-name"), Some("cap"));
    // Two waves of 200 ms: the second pair waited for the first.
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(400), "took {took:?}");

    // Raised at runtime: four at once finish in one wave.
    up.set_config(json!({"capacity": 4})).await;
    let start = Instant::now();
    futures_util::future::join_all((0..4).map(|_| fetch(&url))).await;
    assert!(start.elapsed() < Duration::from_millis(390));
}

#[tokio::test]
async fn reset_cuts_the_body_after_the_head() {
    let up = Upstream::spawn("reset").await;
    let reply = send(get(&up.url("/x?reset=1"))).await;
    assert!(
        reply.is_err(),
        "a cut body must not look complete: {reply:?}"
    );
    up.set_config(json!({"reset_rate": 1.0})).await;
    assert!(send(get(&up.url("/x"))).await.is_err());
    assert_eq!(fetch(&up.url("/x?reset=0")).await.status, StatusCode::OK);
}

/// A `seawall-upstream --proxy-to` process: (relay address, control address).
async fn proxy_to(target: SocketAddr) -> (Child, SocketAddr, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_seawall-upstream"))
        .args(["--listen", "127.0.0.1:0", "--proxy-to", &target.to_string()])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addrs = Vec::new();
    for prefix in ["listening on ", "control on "] {
        let line = lines.next_line().await.unwrap().unwrap();
        addrs.push(line.strip_prefix(prefix).unwrap().parse().unwrap());
    }
    let (relay, control) = (addrs[0], addrs[1]);
    (child, relay, control)
}

async fn toxics(control: SocketAddr, method: Method, body: &str) {
    let req = Request::builder()
        .method(method)
        .uri(format!("http://{control}/_proxy/toxics"))
        .body(full(body.to_owned()))
        .unwrap();
    let reply = send(req).await.unwrap();
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
}

#[tokio::test]
async fn tcp_proxy_adds_latency_blackholes_and_resets_at_runtime() {
    let up = Upstream::spawn("behind").await;
    let (_proxy, relay, control) = proxy_to(up.addr).await;
    let url = format!("http://{relay}/x");
    assert_eq!(fetch(&url).await.header("x-upstream-name"), Some("behind"));

    toxics(control, Method::POST, r#"{"latency":"150ms"}"#).await;
    let start = Instant::now();
    fetch(&url).await;
    assert!(start.elapsed() >= Duration::from_millis(150));

    // A pooled connection opened before the blackhole is hit too.
    let client = h1_client();
    toxics(control, Method::DELETE, "").await;
    send_with(&client, get(&url)).await.unwrap();
    toxics(control, Method::POST, r#"{"timeout":"0ms"}"#).await;
    let hung = tokio::time::timeout(Duration::from_millis(300), send_with(&client, get(&url)));
    assert!(
        hung.await.is_err(),
        "a blackholed request must not be answered"
    );

    toxics(control, Method::POST, r#"{"reset_peer":"0ms"}"#).await;
    assert!(send(get(&url)).await.is_err());
    toxics(control, Method::DELETE, "").await;
    assert_eq!(fetch(&url).await.status, StatusCode::OK);

    let bad = Request::post(format!("http://{control}/_proxy/toxics"))
        .body(full(r#"{"latancy":"1ms"}"#))
        .unwrap();
    assert_eq!(send(bad).await.unwrap().status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn call_mode_passes_the_next_hops_status_on() {
    let leaf = Upstream::spawn("leaf").await;
    let base = format!("http://{}", leaf.addr);
    let mid = Upstream::spawn_with("mid", &["--call", &base]).await;
    leaf.set_config(json!({"status": 503})).await;
    let reply = send(
        Request::get(mid.url("/x"))
            .header("x-seawall-timeout-ms", "900")
            .body(empty())
            .unwrap(),
    )
    .await
    .unwrap();
    // The leaf fails and the middle hop passes its status on.
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.header("x-upstream-name"), Some("mid"));
    assert_eq!(leaf.stats().await.requests, 1);
    leaf.reset_config().await;
    assert_eq!(fetch(&mid.url("/ok")).await.status, StatusCode::OK);
    assert_eq!(leaf.stats().await.requests, 2);
}
