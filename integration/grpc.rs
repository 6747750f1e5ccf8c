//! gRPC-aware resilience end to end (issue 20): gRPC calls are judged by
//! their `grpc-status`, not their HTTP 200, for retries, ejection and the
//! breaker, and every answer seawall makes up for a gRPC call is a gRPC
//! one. Real upstream processes on loopback speaking h2c; the client is an
//! h2c client sending what a gRPC client sends.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use bytes::Bytes;
use common::{
    Reply, Seawall, Upstream, basic_config, eventually, h1_client, h2c_client, send_with,
};
use http::{Request, StatusCode, Version};
use http_body_util::Full;

/// `basic_config` over h2c with extra cluster keys.
fn config(ups: &[&Upstream], extra: &str) -> String {
    let addrs: Vec<_> = ups.iter().map(|u| u.addr).collect();
    let mut yaml = basic_config(&addrs);
    yaml.push_str("    protocol: http2\n");
    yaml.push_str(extra);
    yaml
}

/// A unary gRPC call (a 5-byte empty message) to `path`.
fn call(sw: &Seawall, path: &str, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut req = Request::post(sw.url(path))
        .version(Version::HTTP_2)
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(Full::new(Bytes::from_static(&[0, 0, 0, 0, 0])))
        .unwrap()
}

/// The call's `grpc-status`: trailers-only, or in the trailers.
fn status(reply: &Reply) -> Option<String> {
    reply.header("grpc-status").map(str::to_owned).or_else(|| {
        let t = reply.trailers.as_ref()?;
        Some(t.get("grpc-status")?.to_str().ok()?.to_owned())
    })
}

/// Three replicas answering gRPC calls with `grpc-status: 0` in trailers.
async fn three() -> [Upstream; 3] {
    let ups = [
        Upstream::spawn("a").await,
        Upstream::spawn("b").await,
        Upstream::spawn("c").await,
    ];
    for up in &ups {
        up.set_config(serde_json::json!({"grpc_status": 0})).await;
    }
    ups
}

#[tokio::test]
async fn unavailable_from_one_replica_is_retried_and_the_replica_ejected() {
    let ups = three().await;
    ups[2]
        .set_config(serde_json::json!({"grpc_status": 14}))
        .await;
    let sw = Seawall::start(&config(&[&ups[0], &ups[1], &ups[2]], "")).await;
    let client = h2c_client();
    let mut ok = 0;
    for _ in 0..300 {
        let reply = send_with(&client, call(&sw, "/pkg.Svc/Get", &[]))
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        ok += usize::from(status(&reply).as_deref() == Some("0"));
    }
    // Before issue 20 a trailers-only UNAVAILABLE was an HTTP 200 success:
    // a third of the calls failed, and the replica kept its share.
    assert!(ok >= 300 * 999 / 1000, "{ok} of 300 OK");
    assert!(
        sw.ejected(ups[2].addr).await,
        "the UNAVAILABLE replica is in rotation"
    );
}

#[tokio::test]
async fn a_failure_in_the_trailers_is_counted_but_never_retried() {
    let ups = three().await;
    ups[2]
        .set_config(serde_json::json!({"grpc_status": 14, "grpc_streamed": true}))
        .await;
    let sw = Seawall::start(&config(&[&ups[0], &ups[1], &ups[2]], "")).await;
    let client = h2c_client();
    let mut failed = 0;
    for _ in 0..200 {
        let reply = send_with(&client, call(&sw, "/pkg.Svc/List", &[]))
            .await
            .unwrap();
        if status(&reply).as_deref() == Some("14") {
            // The body had started: the client hears the upstream's status.
            assert_eq!(reply.header("x-upstream-name"), Some("c"));
            failed += 1;
        }
    }
    // Counted: ejected after `consecutive_failures` (5) of them.
    assert!(
        (1..=10).contains(&failed),
        "{failed} failures reached the client"
    );
    assert!(
        sw.ejected(ups[2].addr).await,
        "a replica failing in its trailers is in rotation"
    );
    let stats = ups[2].stats().await;
    assert_eq!(
        stats.requests, failed as u64,
        "retried after the body began"
    );
}

#[tokio::test]
async fn pushback_minus_one_stops_retries() {
    let up = Upstream::spawn("a").await;
    up.set_config(serde_json::json!({"grpc_status": 14})).await;
    let sw = Seawall::start(&config(
        &[&up],
        "    outlier: { consecutive_failures: 0 }\n",
    ))
    .await;
    let client = h2c_client();
    let reply = send_with(
        &client,
        call(&sw, "/?header=grpc-retry-pushback-ms:-1", &[]),
    )
    .await
    .unwrap();
    assert_eq!(status(&reply).as_deref(), Some("14"));
    assert_eq!(up.stats().await.requests, 1, "retried despite pushback -1");
    // Without it, the same call is retried (max_attempts 3).
    send_with(&client, call(&sw, "/", &[])).await.unwrap();
    assert_eq!(up.stats().await.requests, 4);
}

#[tokio::test]
async fn seawall_refusals_reach_a_grpc_client_as_grpc_statuses() {
    let up = Upstream::spawn("a").await;
    let extra = "    admission: { max_concurrent: 1, max_queue: 0 }\n";
    let sw = Seawall::start(&config(&[&up], extra)).await;
    let client = h2c_client();
    // Shed: one call holds the only slot.
    let holder = {
        let client = client.clone();
        let req = call(&sw, "/?delay=1s", &[]);
        tokio::spawn(async move { send_with(&client, req).await })
    };
    eventually("the slot is taken", || async {
        up.stats().await.in_flight == 1
    })
    .await;
    let shed = send_with(&client, call(&sw, "/", &[])).await.unwrap();
    assert_eq!(shed.status, StatusCode::OK);
    assert_eq!(status(&shed).as_deref(), Some("14"), "shed is UNAVAILABLE");
    assert!(shed.header("x-seawall-error").unwrap().starts_with("shed"));
    assert!(
        shed.header("grpc-message")
            .unwrap()
            .starts_with("seawall: shed")
    );
    holder.await.unwrap().unwrap();
    // A deadline: DEADLINE_EXCEEDED.
    let late = send_with(
        &client,
        call(&sw, "/?delay=3s", &[("grpc-timeout", "1500m")]),
    )
    .await
    .unwrap();
    assert_eq!(status(&late).as_deref(), Some("4"), "{:?}", late.headers);
    // Breaker forced open: UNAVAILABLE with the pushback of Retry-After.
    let admin = format!("http://{}/clusters/app/breaker?mode=force_open", sw.admin);
    let forced = send_with(
        &h1_client(),
        Request::post(&admin).body(Full::new(Bytes::new())).unwrap(),
    )
    .await
    .unwrap();
    assert!(forced.status.is_success(), "{:?}", forced.body);
    let open = send_with(&client, call(&sw, "/", &[])).await.unwrap();
    assert_eq!(status(&open).as_deref(), Some("14"));
    assert_eq!(open.header("x-seawall-error"), Some("breaker-open"));
    assert!(open.header("grpc-retry-pushback-ms").is_some());
}

#[tokio::test]
async fn resource_exhausted_is_overload_not_a_reason_to_eject() {
    let ups = three().await;
    ups[2]
        .set_config(serde_json::json!({"grpc_status": 8}))
        .await;
    let extra = "    retry: { enabled: false }\n";
    let sw = Seawall::start(&config(&[&ups[0], &ups[1], &ups[2]], extra)).await;
    let client = h2c_client();
    let mut exhausted = 0;
    for _ in 0..60 {
        let reply = send_with(&client, call(&sw, "/", &[])).await.unwrap();
        exhausted += usize::from(status(&reply).as_deref() == Some("8"));
    }
    assert!(exhausted >= 5, "only {exhausted} reached the busy replica");
    assert!(!sw.ejected(ups[2].addr).await, "a busy replica was ejected");
}

#[tokio::test]
async fn a_route_with_request_none_waits_for_a_late_start_and_body_idle_still_cuts() {
    let up = Upstream::spawn("a").await;
    up.set_config(serde_json::json!({"grpc_status": 0})).await;
    let mut yaml = config(&[&up], "    timeouts: { request: 500ms, body_idle: 1s }\n");
    // A second route for long-lived calls, before the catch-all one.
    yaml = yaml.replace(
        "      - name: default\n",
        "      - name: watch\n        match:\n          path_prefix: /pkg.Svc/Watch\n        cluster: app\n        timeouts: { request: none }\n      - name: default\n",
    );
    let sw = Seawall::start(&yaml).await;
    let client = h2c_client();
    // The cluster's 500 ms bound the start of an ordinary call...
    let late = send_with(&client, call(&sw, "/pkg.Svc/Get?delay=1500ms", &[]))
        .await
        .unwrap();
    assert_eq!(status(&late).as_deref(), Some("4"), "{:?}", late.headers);
    // ...not on the route that says `request: none`.
    let watch = send_with(&client, call(&sw, "/pkg.Svc/Watch?delay=1500ms", &[]))
        .await
        .unwrap();
    assert_eq!(status(&watch).as_deref(), Some("0"), "{:?}", watch.headers);
    // Still, a stream stalled past body_idle (1 s) is cut, as DEADLINE_EXCEEDED.
    let stalled = send_with(
        &client,
        call(&sw, "/pkg.Svc/Watch?body_bytes=200000&chunk_delay=2s", &[]),
    )
    .await
    .unwrap();
    assert_eq!(
        status(&stalled).as_deref(),
        Some("4"),
        "{:?}",
        stalled.trailers
    );
}
