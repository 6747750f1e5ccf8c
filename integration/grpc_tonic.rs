//! Issue 20 with a real gRPC stack: a tonic client through seawall to tonic
//! servers, so what is checked is what a gRPC application sees (its
//! `tonic::Code`s and messages), not frames.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::grpc::{GrpcClient, GrpcUpstream};
use common::{Captured, Seawall, basic_config, eventually, fetch, h1_client, send_with};
use tonic::Code;

/// seawall over h2c in front of `ups`, with extra cluster keys.
async fn seawall(ups: &[&GrpcUpstream], extra: &str) -> Seawall {
    let addrs: Vec<_> = ups.iter().map(|u| u.addr).collect();
    let mut yaml = basic_config(&addrs);
    yaml.push_str("    protocol: http2\n");
    yaml.push_str(extra);
    Seawall::start(&yaml).await
}

/// Two healthy replicas and one answering `UNAVAILABLE` to every call
/// (last), behind seawall, and a client of it.
async fn one_sick_of_three() -> (Seawall, GrpcClient, [GrpcUpstream; 3]) {
    let ups = [
        GrpcUpstream::spawn("a").await,
        GrpcUpstream::spawn("b").await,
        GrpcUpstream::spawn_failing("sick", Code::Unavailable).await,
    ];
    let sw = seawall(&[&ups[0], &ups[1], &ups[2]], "").await;
    let client = GrpcClient::connect(sw.addr).await;
    (sw, client, ups)
}

#[tokio::test]
async fn a_replica_answering_unavailable_is_retried_around_and_ejected() {
    let (sw, mut client, [_a, _b, sick]) = one_sick_of_three().await;
    // The bound: at least 99.9% OK, within the retry budget.
    let mut ok = 0;
    for _ in 0..1_000 {
        match client.unary(Code::Ok, "").await {
            Ok(reply) => {
                assert_ne!(reply.server, "sick");
                ok += 1;
            }
            Err(status) => eprintln!("{status:?}"),
        }
    }
    assert!(ok >= 999, "{ok} of 1,000 OK");
    assert!(
        sw.ejected(sick.addr).await,
        "the UNAVAILABLE replica is in rotation"
    );
}

/// h2 servers count empty DATA frames that do not end a stream and end the
/// connection (GOAWAY ENHANCE_YOUR_CALM) after 100 of them. seawall once
/// sent one per forwarded call, so every ~150 calls a connection died with
/// the calls on it.
#[tokio::test]
async fn a_thousand_calls_on_one_connection_all_succeed() {
    let up = GrpcUpstream::spawn("a").await;
    let sw = seawall(&[&up], "").await;
    let mut client = GrpcClient::connect(sw.addr).await;
    let mut failed = Vec::new();
    for _ in 0..1_000 {
        if let Err(status) = client.unary(Code::Ok, "").await {
            failed.push(status);
        }
    }
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        failed.first()
    );
}

#[tokio::test]
async fn unavailable_after_a_message_is_seen_counted_and_never_retried() {
    let (sw, mut client, [_a, _b, sick]) = one_sick_of_three().await;
    let mut unavailable = 0;
    for _ in 0..60 {
        if let Err(status) = client.unary_after_message(Code::Ok, "").await {
            // The response had begun: its failure reaches the client as is.
            assert_eq!(status.code(), Code::Unavailable, "{status:?}");
            unavailable += 1;
        }
    }
    // Ejected after `consecutive_failures` (5) of them.
    assert!(
        (1..=10).contains(&unavailable),
        "{unavailable} reached the client"
    );
    assert!(sw.ejected(sick.addr).await);
}

#[tokio::test]
async fn seawall_refusals_reach_tonic_as_their_documented_codes() {
    let up = GrpcUpstream::spawn("a").await;
    let sw = seawall(&[&up], "").await;
    let mut client = GrpcClient::connect(sw.addr).await;
    // The breaker forced open: UNAVAILABLE, as for an open breaker.
    let admin = |mode: &str| format!("http://{}/clusters/app/breaker?mode={mode}", sw.admin);
    let h1 = h1_client();
    let post = |url: String| {
        let req = http::Request::post(url)
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        send_with(&h1, req)
    };
    assert!(post(admin("force_open")).await.unwrap().status.is_success());
    let open = client.unary(Code::Ok, "").await.unwrap_err();
    assert_eq!(open.code(), Code::Unavailable, "{open:?}");
    assert_eq!(open.message(), "seawall: breaker-open");
    assert!(post(admin("auto")).await.unwrap().status.is_success());
    // A deadline the caller set: DEADLINE_EXCEEDED, after about it.
    let late = client
        .watch(
            5,
            Duration::from_millis(400),
            Code::Ok,
            &[("grpc-timeout", "600m")],
        )
        .await;
    let status = late.end.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(status.message().contains("seawall"), "{status:?}");
}

#[tokio::test]
async fn a_shed_call_reaches_tonic_as_unavailable_with_pushback() {
    let up = GrpcUpstream::spawn("a").await;
    // One slot, no queue: a second call while a slow one holds it is shed.
    let extra = "    admission: { max_concurrent: 1, max_queue: 0 }\n";
    let sw = seawall(&[&up], extra).await;
    let mut holder = GrpcClient::connect(sw.addr).await;
    let mut client = holder.clone();
    let holding =
        tokio::spawn(async move { holder.unary_delayed(Duration::from_millis(1500)).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let shed = client.unary(Code::Ok, "").await.unwrap_err();
    assert_eq!(shed.code(), Code::Unavailable, "{shed:?}");
    assert_eq!(shed.message(), "seawall: shed-queue-full");
    let pushback = shed.metadata().get("grpc-retry-pushback-ms");
    let ms: u64 = pushback.unwrap().to_str().unwrap().parse().unwrap();
    assert!(
        ms >= 1000,
        "pushback {ms} ms: the Retry-After, at least 1 s"
    );
    assert!(holding.await.unwrap().is_ok(), "the holder is served");
    // Once it is done, calls are served again.
    assert!(client.unary(Code::Ok, "").await.is_ok());
}

/// 10,000 replies of 4 KiB (40 MiB) to a client that stops reading after
/// 100: seawall holds no more of the stream than HTTP/2 flow control lets
/// through (the windows and send buffers of the hops), so the upstream
/// stalls; then every reply arrives, whole and in order.
#[tokio::test]
async fn ten_thousand_streamed_messages_pass_whole_in_order_and_only_as_fast_as_read() {
    const COUNT: u32 = 10_000;
    const PAD: u32 = 4096;
    const WINDOW: u32 = 64 * 1024;
    let up = GrpcUpstream::spawn("a").await;
    let sw = seawall(&[&up], "").await;
    let mut client = GrpcClient::connect_with_window(sw.addr, Some(WINDOW)).await;
    let mut stream = client.open_stream(COUNT, PAD).await.unwrap();
    let mut seq = 0;
    while seq < 100 {
        let reply = stream.message().await.unwrap().expect("a reply");
        assert_eq!(reply.seq, seq);
        seq += 1;
    }
    // The reader stalls; let every buffer on the way fill.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let produced = up.produced();
    // What may sit between the upstream's stream and the client's reads:
    // the client's window; seawall's downstream send buffer (hyper's
    // 400 KiB default) and one frame in hand; seawall's upstream receive
    // window (hyper's 2 MiB client default); tonic's send buffer (400 KiB)
    // and encode buffer (32 KiB); and a 64 KiB margin.
    let held: u32 = WINDOW + 400 * 1024 + 16 * 1024 + 2048 * 1024 + 400 * 1024 + 32 * 1024;
    let bound = (held + 64 * 1024) / PAD;
    eprintln!("{produced} replies produced for {seq} read (bound {bound})");
    assert!(
        produced - seq <= bound,
        "{produced} produced for {seq} read: more than {bound} held on the way"
    );
    while let Some(reply) = stream.message().await.unwrap() {
        assert_eq!(reply.seq, seq, "in order");
        assert_eq!(reply.pad.len(), PAD as usize, "whole");
        seq += 1;
    }
    assert_eq!((seq, up.produced()), (COUNT, COUNT));
}

/// gRPC calls are counted by the status they ended with, whether it came
/// in the headers (trailers-only), in the trailers, or from seawall; the
/// access log line says it too.
#[tokio::test]
async fn grpc_status_is_counted_and_logged() {
    let logs = Captured::default();
    let _guard = logs.install(tracing::Level::INFO);
    let up = GrpcUpstream::spawn("a").await;
    let addrs = [up.addr];
    let yaml = basic_config(&addrs).replace("access_log: false", "access_log: true");
    let sw = Seawall::start(&format!("{yaml}    protocol: http2\n")).await;
    let mut client = GrpcClient::connect(sw.addr).await;
    for _ in 0..3 {
        client.unary(Code::Ok, "").await.unwrap();
    }
    // Trailers-only, and in the trailers after a message; neither is a
    // failure code, so neither is retried.
    let missing = client.unary(Code::NotFound, "no such").await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let aborted = client
        .unary_after_message(Code::Aborted, "")
        .await
        .unwrap_err();
    assert_eq!(aborted.code(), Code::Aborted);
    // seawall's own refusal.
    let admin = format!("http://{}/clusters/app/breaker?mode=force_open", sw.admin);
    let req = http::Request::post(admin)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    assert!(
        send_with(&h1_client(), req)
            .await
            .unwrap()
            .status
            .is_success()
    );
    assert_eq!(
        client.unary(Code::Ok, "").await.unwrap_err().code(),
        Code::Unavailable
    );

    let series = |status: &str| {
        format!(
            "seawall_grpc_responses_total{{listener=\"ingress\",route=\"default\",\
             cluster=\"app\",grpc_status=\"{status}\"}} "
        )
    };
    let url = format!("http://{}/metrics", sw.admin);
    let text = fetch(&url).await.text();
    for (status, want) in [
        ("ok", 3),
        ("not_found", 1),
        ("aborted", 1),
        ("unavailable", 1),
    ] {
        let line = format!("{}{want}", series(status));
        assert!(text.lines().any(|l| l == line), "{line}\n{text}");
    }
    let logs_ref = &logs;
    eventually("six access lines", || async move {
        logs_ref.access_lines().len() >= 6
    })
    .await;
    let statuses: Vec<_> = logs
        .access_lines()
        .iter()
        .map(|l| l["grpc_status"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        statuses,
        ["ok", "ok", "ok", "not_found", "aborted", "unavailable"]
    );
}
