//! What seawall refuses before anything reaches the upstream: bad Host,
//! oversized heads and bodies, CONNECT, and clients too slow to send a head.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::{Seawall, Upstream, basic_config, raw_request_for};

/// Refusals keep the connection open (keep-alive), so reads stop here.
const LIMIT: Duration = Duration::from_millis(1500);

async fn raw(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    raw_request_for(addr, bytes, LIMIT).await
}

fn status_of(response: &str) -> &str {
    response
        .split_whitespace()
        .nth(1)
        .unwrap_or("<no response>")
}

#[tokio::test]
async fn bad_host_headers_get_400_and_reach_nothing() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let cases: [(&[u8], &str); 5] = [
        (b"GET / HTTP/1.1\r\n\r\n", "missing-host"),
        (
            b"GET / HTTP/1.1\r\nHost: a.local\r\nHost: b.local\r\n\r\n",
            "duplicate-host",
        ),
        (
            b"GET http://a.local/ HTTP/1.1\r\nHost: b.local\r\n\r\n",
            "conflicting-host",
        ),
        (b"GET / HTTP/1.1\r\nHost: bad host\r\n\r\n", "invalid-host"),
        (
            b"GET / HTTP/1.1\r\nHost: a.local:8x\r\n\r\n",
            "invalid-host",
        ),
    ];
    for (request, reason) in cases {
        let rsp = raw(sw.addr, request).await;
        assert_eq!(status_of(&rsp), "400", "{reason}: {rsp}");
        assert!(
            rsp.to_lowercase()
                .contains(&format!("x-seawall-error: {reason}")),
            "{rsp}"
        );
    }
    assert_eq!(up.stats().await.requests, 0, "nothing forwarded");
}

#[tokio::test]
async fn absolute_form_matching_host_is_forwarded() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let rsp = raw(
        sw.addr,
        b"GET http://a.local/x HTTP/1.1\r\nHost: a.local\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&rsp), "200", "{rsp}");
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let up = Upstream::spawn("a").await;
    let cfg = basic_config(&[up.addr]).replace("max_body_bytes: 64MiB", "max_body_bytes: 1KiB");
    let sw = Seawall::start(&cfg).await;
    // Declared too large: refused before reading or forwarding anything.
    let rsp = raw(
        sw.addr,
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&rsp), "413", "{rsp}");
    assert!(rsp.contains("body-too-large"), "{rsp}");
    assert_eq!(up.stats().await.requests, 0);
    // Chunked, discovered while streaming: still 413, never a success.
    let chunk = "x".repeat(1000);
    let body = format!("3e8\r\n{chunk}\r\n3e8\r\n{chunk}\r\n0\r\n\r\n");
    let req = format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{body}");
    let rsp = raw(sw.addr, req.as_bytes()).await;
    assert_eq!(status_of(&rsp), "413", "{rsp}");
    // Within the limit: forwarded.
    let ok = raw(
        sw.addr,
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    )
    .await;
    assert_eq!(status_of(&ok), "200", "{ok}");
}

#[tokio::test]
async fn oversized_head_gets_431() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let big = "v".repeat(64 * 1024);
    let req = format!("GET / HTTP/1.1\r\nHost: a\r\nX-Big: {big}\r\n\r\n");
    let rsp = raw(sw.addr, req.as_bytes()).await;
    assert_eq!(status_of(&rsp), "431", "{rsp}");
    assert_eq!(up.stats().await.requests, 0);
}

#[tokio::test]
async fn connect_method_is_refused() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let rsp = raw(
        sw.addr,
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&rsp), "405", "{rsp}");
    assert_eq!(up.stats().await.requests, 0);
}

#[tokio::test]
async fn slowloris_head_is_cut_at_header_read_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let up = Upstream::spawn("a").await;
    let cfg =
        basic_config(&[up.addr]).replace("header_read_timeout: 2s", "header_read_timeout: 500ms");
    let sw = Seawall::start(&cfg).await;
    let mut s = tokio::net::TcpStream::connect(sw.addr).await.unwrap();
    let start = tokio::time::Instant::now();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    // The server closes (read returns 0 or an error) without a response.
    let read = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("connection not closed within 5s");
    let elapsed = start.elapsed();
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "expected close, got {read:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(450),
        "closed too early: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(2500),
        "closed too late: {elapsed:?}"
    );
    assert_eq!(up.stats().await.requests, 0);
}

#[tokio::test]
async fn idle_keepalive_connection_is_closed_after_keepalive_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let up = Upstream::spawn("a").await;
    let cfg = basic_config(&[up.addr]).replace(
        "header_read_timeout: 2s",
        "header_read_timeout: 10s\n    keepalive_timeout: 400ms",
    );
    let sw = Seawall::start(&cfg).await;
    let mut s = tokio::net::TcpStream::connect(sw.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let start = tokio::time::Instant::now();
    // Drain whatever is left of the response, then expect the close.
    loop {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) => continue,
            Err(_) => panic!("idle connection not closed within 5s"),
        }
    }
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300),
        "closed too early: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(3),
        "closed too late: {elapsed:?}"
    );
}

/// Reads until the server closes; returns how long that took. Panics after
/// 10 s.
async fn closed_after(s: &mut tokio::net::TcpStream) -> Duration {
    use tokio::io::AsyncReadExt;
    let start = tokio::time::Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return start.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("connection not closed within 10s"),
        }
    }
}

/// Between requests an HTTP/1 connection is held for `keepalive_timeout`,
/// even when that is longer than `header_read_timeout` (so a load balancer
/// in front, told to idle out first, never races seawall's close); the
/// header read timeout runs only once a head has begun.
#[tokio::test]
async fn keepalive_holds_idle_connections_and_header_read_timeout_only_begun_heads() {
    use common::read_head;
    use tokio::io::AsyncWriteExt;
    let up = Upstream::spawn("a").await;
    let cfg = basic_config(&[up.addr]).replace(
        "header_read_timeout: 2s",
        "header_read_timeout: 500ms\n    keepalive_timeout: 3s",
    );
    let sw = Seawall::start(&cfg).await;
    let request = b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n";
    let mut idle = tokio::net::TcpStream::connect(sw.addr).await.unwrap();
    let mut slow = tokio::net::TcpStream::connect(sw.addr).await.unwrap();
    for s in [&mut idle, &mut slow] {
        s.write_all(request).await.unwrap();
        let (head, _) = read_head(s).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
    // A head begun after the first exchange: cut at the header read
    // timeout, long before the keep-alive timeout.
    slow.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ")
        .await
        .unwrap();
    let slow_cut = tokio::spawn(async move { closed_after(&mut slow).await });
    // Silent for three header read timeouts, then reused.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    idle.write_all(request).await.unwrap();
    let (head, _) = read_head(&mut idle).await;
    assert!(head.starts_with("HTTP/1.1 200"), "reused: {head}");
    let slow_cut = slow_cut.await.unwrap();
    assert!(
        slow_cut >= Duration::from_millis(400) && slow_cut < Duration::from_millis(2500),
        "begun head cut after {slow_cut:?}"
    );
    // Then idle: closed at the keep-alive timeout.
    let idle_cut = closed_after(&mut idle).await;
    assert!(
        idle_cut >= Duration::from_millis(2500) && idle_cut < Duration::from_secs(6),
        "idle connection closed after {idle_cut:?}"
    );
    assert_eq!(up.stats().await.requests, 3);
}
