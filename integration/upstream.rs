//! Black-box tests of `seawall-upstream`: every behaviour proved against the
//! real process on port 0, through the shared harness in `common/`.
//!
//! Timing assertions have a firm lower bound (the behaviour happened) and a
//! generous upper bound (a slow, noisy CI machine still passes).

mod common;

use std::time::Duration;

use common::*;
use http::{Request, StatusCode, Version};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

/// Upper bound for anything that should be "prompt".
const SLOW: Duration = Duration::from_secs(10);

#[tokio::test]
async fn echoes_the_request_and_counts_a_50_mb_upload() {
    let up = Upstream::spawn("echo-a").await;
    let len = 50 * 1024 * 1024;
    let req = Request::post(up.url("/some/path?x=1&y=two"))
        .header("x-test", "a")
        .header("x-multi", "1")
        .header("x-multi", "2")
        .body(generated(len))
        .unwrap();
    let reply = send(req).await.unwrap();

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let echo = reply.json();
    assert_eq!(echo["upstream"], "echo-a");
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/some/path");
    assert_eq!(echo["query"], "x=1&y=two");
    assert_eq!(echo["version"], "HTTP/1.1");
    assert_eq!(echo["headers"]["x-test"], json!(["a"]));
    assert_eq!(echo["headers"]["x-multi"], json!(["1", "2"]));
    assert_eq!(echo["body_bytes"], len);
}

#[tokio::test]
async fn echo_over_h2c_reports_http2() {
    let up = Upstream::spawn("echo-h2").await;
    let reply = send_h2c(get(&up.url("/h2"))).await.unwrap();
    assert_eq!(reply.version, Version::HTTP_2);
    assert_eq!(reply.json()["version"], "HTTP/2.0");
    assert_eq!(reply.json()["query"], json!(null));
}

#[tokio::test]
async fn status_and_header_parameters_shape_the_response() {
    let up = Upstream::spawn("status").await;
    let reply = send(get(&up.url("/?status=503"))).await.unwrap();
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.json()["upstream"], "status");

    let reply = send_h2c(get(&up.url("/?status=418&header=x-a:1&header=x-a:2")))
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::IM_A_TEAPOT);
    let values: Vec<_> = reply.headers.get_all("x-a").iter().collect();
    assert_eq!(values, ["1", "2"]);
}

#[tokio::test]
async fn bad_parameter_values_are_rejected_with_400() {
    let up = Upstream::spawn("bad").await;
    let reply = send(get(&up.url("/?delay=5"))).await.unwrap();
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.header("x-upstream-error"), Some("bad-request"));
    assert!(reply.text().contains("delay=5"), "{}", reply.text());
}

#[tokio::test]
async fn delay_holds_back_the_response() {
    let up = Upstream::spawn("delay").await;
    let start = Instant::now();
    let reply = send(get(&up.url("/?delay=300ms"))).await.unwrap();
    let elapsed = start.elapsed();
    assert_eq!(reply.status, StatusCode::OK);
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < SLOW, "{elapsed:?}");
}

#[tokio::test]
async fn body_bytes_streams_exactly_that_many_bytes() {
    let up = Upstream::spawn("bytes").await;
    let url = up.url("/?body_bytes=1000003");
    let reply = send(get(&url)).await.unwrap();
    assert_eq!(reply.body.len(), 1_000_003);
    assert_eq!(reply.header("content-length"), Some("1000003"));
    assert_eq!(
        reply.header("content-type"),
        Some("application/octet-stream")
    );

    let reply = send_h2c(get(&url)).await.unwrap();
    assert_eq!(reply.body.len(), 1_000_003);
}

#[tokio::test]
async fn chunk_delay_paces_the_body() {
    let up = Upstream::spawn("paced").await;
    // Five 64 KiB chunks: four pauses between them.
    let start = Instant::now();
    let reply = send(get(&up.url("/?body_bytes=327680&chunk_delay=60ms")))
        .await
        .unwrap();
    let elapsed = start.elapsed();
    assert_eq!(reply.body.len(), 327_680);
    assert!(elapsed >= Duration::from_millis(240), "{elapsed:?}");
    assert!(elapsed < SLOW, "{elapsed:?}");
}

fn assert_upstream_trailers(reply: &Reply) {
    let trailers = reply.trailers.as_ref().expect("trailers were sent");
    assert_eq!(trailers["x-upstream-trailer"], "done");
    assert_eq!(trailers["grpc-status"], "0");
}

#[tokio::test]
async fn trailers_arrive_over_h2c() {
    let up = Upstream::spawn("trailers-h2").await;
    let reply = send_h2c(get(&up.url("/?trailers=1&body_bytes=100000")))
        .await
        .unwrap();
    assert_eq!(reply.body.len(), 100_000);
    assert_upstream_trailers(&reply);
}

#[tokio::test]
async fn trailers_arrive_over_h1_when_the_client_accepts_them() {
    let up = Upstream::spawn("trailers-h1").await;
    let req = Request::get(up.url("/?trailers=1"))
        .header("te", "trailers")
        .body(empty())
        .unwrap();
    let reply = send(req).await.unwrap();
    assert_eq!(reply.header("transfer-encoding"), Some("chunked"));
    assert_eq!(reply.json()["upstream"], "trailers-h1");
    assert_upstream_trailers(&reply);

    // Without `TE: trailers` HTTP/1 may not send them; the body is intact.
    let reply = send(get(&up.url("/?trailers=1&body_bytes=10")))
        .await
        .unwrap();
    assert_eq!(reply.body.len(), 10);
    assert!(reply.trailers.is_none(), "{:?}", reply.trailers);
}

#[tokio::test]
async fn hang_never_answers_and_stays_in_flight_until_the_client_leaves() {
    let up = Upstream::spawn("hang").await;
    let url = up.url("/?hang=1");
    let outcome = timeout(Duration::from_millis(300), send(get(&url))).await;
    assert!(outcome.is_err(), "a hung request was answered: {outcome:?}");
    // The client gave up and closed its connection; the upstream notices.
    up.wait_for_stats("the abandoned request leaves in_flight", |s| {
        s.in_flight == 0
    })
    .await;

    let hung = tokio::spawn(async move { send(get(&url)).await.map(|r| r.status) });
    let stats = up
        .wait_for_stats("the hung request is in flight", |s| s.in_flight == 1)
        .await;
    assert_eq!(stats.requests, 2);
    hung.abort();
    up.wait_for_stats("the aborted request leaves in_flight", |s| s.in_flight == 0)
        .await;
}

#[tokio::test]
async fn error_rate_one_fails_every_request_until_reset() {
    let up = Upstream::spawn("faulty").await;
    up.set_config(json!({"error_rate": 1.0})).await;
    for _ in 0..10 {
        let reply = send(get(&up.url("/"))).await.unwrap();
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    }
    // The query overrides the fault defaults.
    let reply = send(get(&up.url("/?status=200"))).await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);

    up.reset_config().await;
    for _ in 0..10 {
        let reply = send(get(&up.url("/"))).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn configured_faults_spare_the_control_endpoints() {
    let up = Upstream::spawn("hung-config").await;
    up.set_config(json!({"hang": true, "status": 500, "delay": "30s"}))
        .await;
    let outcome = timeout(Duration::from_millis(300), send(get(&up.url("/")))).await;
    assert!(outcome.is_err(), "answered despite hang: {outcome:?}");
    // Stats answer at once, and count the hung request.
    let start = Instant::now();
    assert_eq!(up.stats().await.requests, 1);
    assert!(start.elapsed() < SLOW, "{:?}", start.elapsed());

    let reply = send(get(&up.url("/?hang=0&delay=0s"))).await.unwrap();
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    up.reset_config().await;
}

#[tokio::test]
async fn config_with_a_misspelt_key_is_rejected_and_changes_nothing() {
    let up = Upstream::spawn("strict").await;
    let req = Request::post(up.url("/_upstream/config"))
        .body(full(r#"{"error_rat": 1.0}"#))
        .unwrap();
    let reply = send(req).await.unwrap();
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.text().contains("error_rat"), "{}", reply.text());
    assert_eq!(
        send(get(&up.url("/"))).await.unwrap().status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn stats_count_normal_requests_only() {
    let up = Upstream::spawn("stats").await;
    assert_eq!(
        up.stats().await,
        Stats {
            requests: 0,
            in_flight: 0
        }
    );
    for i in 0..5 {
        send(get(&up.url(&format!("/n/{i}")))).await.unwrap();
        up.stats().await;
    }
    send(get(&up.url("/_upstream/config"))).await.unwrap();
    assert_eq!(
        up.stats().await,
        Stats {
            requests: 5,
            in_flight: 0
        }
    );
}

#[tokio::test]
async fn upgrade_switches_protocols_and_echoes_raw_bytes() {
    let up = Upstream::spawn("upgrade").await;
    let mut stream = TcpStream::connect(up.addr).await.unwrap();
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        )
        .await
        .unwrap();
    let (head, rest) = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("upgrade: websocket"),
        "{head}"
    );
    assert!(rest.is_empty());

    for message in [&b"ping\x00\xff"[..], &[7u8; 100_000][..]] {
        stream.write_all(message).await.unwrap();
        let mut echoed = vec![0; message.len()];
        timeout(SLOW, stream.read_exact(&mut echoed))
            .await
            .expect("echo within the time limit")
            .unwrap();
        assert_eq!(echoed, message);
    }
    stream.shutdown().await.unwrap();
    let mut tail = Vec::new();
    timeout(SLOW, stream.read_to_end(&mut tail))
        .await
        .unwrap()
        .unwrap();
    assert!(tail.is_empty());
}

#[tokio::test]
async fn malformed_request_gets_400() {
    let up = Upstream::spawn("malformed").await;
    let response = raw_request(up.addr, b"NOT HTTP AT ALL\r\n\r\n").await;
    assert!(response.starts_with("HTTP/1.1 400"), "{response:?}");
}

#[tokio::test]
async fn close_parameter_closes_the_h1_connection() {
    let up = Upstream::spawn("close").await;
    let start = Instant::now();
    let response = raw_request(up.addr, b"GET /?close=1 HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response:?}");
    assert!(response.contains("connection: close"), "{response:?}");
    // The server closed: `raw_request` did not wait out its 5 s limit.
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn sigterm_exits_cleanly_even_with_a_hung_request() {
    let mut up = Upstream::spawn("term").await;
    let url = up.url("/?hang=1");
    let _hung = tokio::spawn(async move { send(get(&url)).await.map(|r| r.status) });
    up.wait_for_stats("the hung request is in flight", |s| s.in_flight == 1)
        .await;
    let status = up.terminate().await;
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn sigint_exits_cleanly() {
    let mut up = Upstream::spawn("int").await;
    up.signal("INT");
    let status = up.wait().await;
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn paused_upstream_answers_only_after_resume() {
    let up = Upstream::spawn("paused").await;
    up.pause();
    let mut pending = tokio::spawn(send(get(&up.url("/"))));
    let early = timeout(Duration::from_millis(300), &mut pending).await;
    assert!(early.is_err(), "a paused upstream answered: {early:?}");
    up.resume();
    let reply = timeout(SLOW, pending).await.unwrap().unwrap().unwrap();
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn killed_upstream_refuses_connections() {
    let mut up = Upstream::spawn("killed").await;
    up.kill().await;
    let outcome = send(get(&up.url("/"))).await;
    assert!(outcome.is_err(), "{outcome:?}");
}

/// The gRPC test service of `common::grpc`, called directly: what each
/// method answers, as a tonic client reads it.
#[tokio::test]
async fn the_grpc_test_service_answers_what_it_is_asked() {
    use common::grpc::{GrpcClient, GrpcUpstream};
    use tonic::Code;
    let up = GrpcUpstream::spawn("grpc-a").await;
    let mut client = GrpcClient::connect(up.addr).await;

    let reply = client.unary(Code::Ok, "").await.unwrap();
    assert_eq!((reply.server.as_str(), reply.seq), ("grpc-a", 0));
    let status = client.unary(Code::Unavailable, "asked").await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.message(), "asked");
    let status = client
        .unary_after_message(Code::ResourceExhausted, "after")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(status.message(), "after");
    client.unary_after_message(Code::Ok, "").await.unwrap();

    let watched = client
        .watch(4, Duration::from_millis(200), Code::Ok, &[])
        .await;
    watched.end.unwrap();
    let seqs: Vec<u32> = watched.replies.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [0, 1, 2, 3]);
    assert!(watched.elapsed >= Duration::from_millis(600), "paced");
    assert!(watched.elapsed < SLOW);
    let watched = client.watch(2, Duration::ZERO, Code::Aborted, &[]).await;
    assert_eq!(watched.replies.len(), 2);
    assert_eq!(watched.end.unwrap_err().code(), Code::Aborted);

    // Stopped mid-stream, as a killed process: the client sees an error,
    // never a complete stream.
    let mut client = GrpcClient::connect(up.addr).await;
    let watching = tokio::spawn(async move {
        client
            .watch(10, Duration::from_millis(100), Code::Ok, &[])
            .await
    });
    tokio::time::sleep(Duration::from_millis(350)).await;
    up.stop();
    let watched = watching.await.unwrap();
    assert!(watched.end.is_err(), "{:?}", watched.end);
    assert!(watched.replies.len() < 10);
}
