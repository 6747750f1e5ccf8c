//! Resource exhaustion by slow or numerous clients: a trickled request body
//! must not hold an admission slot, and connections past the listener's
//! cap are closed at once while the ones inside it keep working.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::{Seawall, Upstream, basic_config, eventually, fetch, raw_request_for};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

const SLOW_CLIENTS: usize = 50;

/// Bulkhead of two slots; uploads may pause 1 s between bytes.
fn small_bulkhead(up: std::net::SocketAddr) -> String {
    basic_config(&[up]).replace(
        "    resolve_interval: 200ms\n",
        "    resolve_interval: 200ms\n    timeouts:\n      body_idle: 1s\n    admission:\n      max_concurrent: 2\n      max_queue: 4\n      max_queue_wait: 300ms\n",
    )
}

/// Opens a POST that promises 1000 body bytes and sends its first one.
async fn slow_post(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nx")
        .await
        .unwrap();
    s
}

/// 50 clients trickle their bodies (one byte per 400 ms, inside the 1 s
/// idle limit) into a cluster with two admission slots. A normal request
/// is still served at once: a body being read ahead holds no slot. When
/// they stop sending they are cut with 408 and the upstream saw none of
/// them.
#[tokio::test]
async fn trickled_bodies_hold_no_admission_slot() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&small_bulkhead(up.addr)).await;
    let mut slow = Vec::new();
    for _ in 0..SLOW_CLIENTS {
        slow.push(slow_post(sw.addr).await);
    }
    // Keep trickling through three idle periods while normal requests run.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        for s in &mut slow {
            s.write_all(b"x").await.unwrap();
        }
        let start = Instant::now();
        let reply = fetch(&sw.url("/")).await;
        assert_eq!(reply.status, 200, "{:?}", reply.header("x-seawall-error"));
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "{:?}",
            start.elapsed()
        );
    }
    // Now they stall: each gets 408 within the idle limit (plus slack).
    let start = Instant::now();
    for s in &mut slow {
        let mut buf = vec![0u8; 1024];
        let n = timeout(Duration::from_secs(3), s.read(&mut buf))
            .await
            .expect("no answer to a stalled upload")
            .unwrap();
        let head = String::from_utf8_lossy(&buf[..n]);
        assert!(head.starts_with("HTTP/1.1 408"), "{head}");
        assert!(head.contains("downstream-body-timeout"), "{head}");
    }
    assert!(start.elapsed() < Duration::from_secs(3));
    assert_eq!(up.stats().await.requests, 3, "only the normal requests");
}

/// With `max_connections: 3`, a fourth connection is closed without a
/// response while three are open, and served once one of them closes.
#[tokio::test]
async fn connections_past_the_cap_are_closed_at_once() {
    let up = Upstream::spawn("a").await;
    let cfg = basic_config(&[up.addr]).replace(
        "    max_body_bytes: 64MiB\n",
        "    max_body_bytes: 64MiB\n    max_connections: 3\n",
    );
    let sw = Seawall::start(&cfg).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(sw.addr).await.unwrap();
        // A completed exchange proves the connection holds a slot.
        s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let (head, _) = common::read_head(&mut s).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        held.push(s);
    }
    let start = Instant::now();
    let refused = raw_request_for(
        sw.addr,
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(refused, "", "served past the cap");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "not closed at once"
    );
    drop(held.pop());
    eventually("a slot frees when a connection closes", || async {
        let rsp = raw_request_for(
            sw.addr,
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            Duration::from_secs(1),
        )
        .await;
        rsp.starts_with("HTTP/1.1 200")
    })
    .await;
}

/// Out of descriptors, `accept` fails with EMFILE at once, again and
/// again. seawall pauses instead of spinning (CPU stays low while the
/// backlog is full), and serves again once descriptors are free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_backs_off_without_spinning_when_out_of_descriptors() {
    let up = Upstream::spawn("a").await;
    let sw = common::SeawallProcess::spawn_with_nofile(&basic_config(&[up.addr]), 64);
    // Each held connection is served once, so it owns a descriptor.
    let mut held = Vec::new();
    for _ in 0..100 {
        let Ok(s) = TcpStream::connect(sw.addr).await else {
            break;
        };
        held.push(s);
    }
    // Let the process settle into EMFILE, then measure one second of it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = sw.cpu_ticks();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let used = sw.cpu_ticks() - before;
    // Clock ticks are 1/100 s: a busy loop would use ~100 per second.
    assert!(
        used <= 20,
        "{used} ticks of CPU in 1 s while out of descriptors"
    );
    drop(held);
    eventually("serving again after descriptors are freed", || async {
        let rsp = raw_request_for(
            sw.addr,
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            Duration::from_secs(1),
        )
        .await;
        rsp.starts_with("HTTP/1.1 200")
    })
    .await;
}

/// A connection that sends nothing, or only the start of the HTTP/2
/// preface, is closed at the header read timeout like any slow head, not
/// left open until the (much longer) keep-alive timeout.
#[tokio::test]
async fn silent_and_partial_preface_connections_are_cut_at_header_read_timeout() {
    let up = Upstream::spawn("a").await;
    let cfg = basic_config(&[up.addr]).replace(
        "header_read_timeout: 2s",
        "header_read_timeout: 500ms\n    keepalive_timeout: 30s",
    );
    let sw = Seawall::start(&cfg).await;
    for opening in [&b""[..], b"P", b"PRI * HTTP/2.0\r\n"] {
        let mut s = TcpStream::connect(sw.addr).await.unwrap();
        s.write_all(opening).await.unwrap();
        let start = Instant::now();
        let mut buf = [0u8; 256];
        let read = timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{opening:?}: still open after 5 s"));
        assert!(matches!(read, Ok(0) | Err(_)), "{opening:?}: {read:?}");
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(400) && elapsed < Duration::from_secs(2),
            "{opening:?}: closed after {elapsed:?}"
        );
    }
}
