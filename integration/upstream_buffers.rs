//! What seawall's upstream connections may buffer (issue 26): an HTTP/1
//! connection's read buffer is capped ([`H1_READ_BUF_MAX`]), and an HTTP/2
//! connection's flow-control windows ([`H2_STREAM_WINDOW`] per stream,
//! [`H2_CONN_WINDOW`] per connection) bound what a response to a client
//! that never reads can pile up without letting such clients stall the
//! connection for everyone else. What these bounds mean for seawall's
//! memory is measured in `abuse_memory.rs`.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::abuse::h1_non_reader;
use common::{Seawall, Upstream, basic_config, get, read_head, send};
use seawall::upstream::pool::{H1_READ_BUF_MAX, H2_CONN_WINDOW, H2_STREAM_WINDOW};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{sleep, timeout};

/// Answers every connection's first request with a head of `head_bytes`
/// (one large header) and an empty body.
async fn big_head_upstream(head_bytes: usize) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = read_head(&mut s).await;
                let filler = "x".repeat(head_bytes);
                let rsp =
                    format!("HTTP/1.1 200 OK\r\nx-big: {filler}\r\ncontent-length: 0\r\n\r\n");
                let _ = s.write_all(rsp.as_bytes()).await;
                let mut buf = [0u8; 1024];
                while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    addr
}

/// The upstream read buffer's cap also bounds an upstream's response head:
/// one under it is forwarded; one far past it is a 502, never buffered
/// whole (hyper checks the cap before each read, so one read may take a
/// head somewhat past it).
#[tokio::test]
async fn an_upstream_head_far_past_the_read_buffer_is_a_502() {
    for (head, status) in [(H1_READ_BUF_MAX - 4096, 200), (3 * H1_READ_BUF_MAX, 502)] {
        let up = big_head_upstream(head).await;
        let sw = Seawall::start(&basic_config(&[up])).await;
        let reply = send(get(&sw.url("/"))).await.unwrap();
        let reason = reply.header("x-seawall-error").map(str::to_owned);
        assert_eq!(reply.status, status, "head of {head} B: {reason:?}");
        if status == 200 {
            assert_eq!(reply.header("x-big").map(str::len), Some(head));
        }
    }
}

/// Clients that never read do not stall a shared HTTP/2 upstream
/// connection for everyone else. Each such stream holds its window's
/// worth of the connection's window until it ends, so the connection
/// window leaves room for `H2_CONN_WINDOW / H2_STREAM_WINDOW` (128) of
/// them. With hyper's defaults (2 MiB per stream, 5 MiB per connection)
/// three were enough to stop every other response's body on it.
#[tokio::test]
async fn non_readers_do_not_stall_a_shared_http2_upstream_connection() {
    const NON_READERS: usize = 8;
    const BODY: usize = 1 << 20;
    assert!(NON_READERS as u32 * H2_STREAM_WINDOW <= H2_CONN_WINDOW / 4);
    let up = Upstream::spawn("h2").await;
    let sw = Seawall::start(&(basic_config(&[up.addr]) + "    protocol: http2\n")).await;
    let url = sw.url(&format!("/?body_bytes={BODY}"));
    // The first request opens the endpoint's one shared connection.
    assert_eq!(send(get(&url)).await.unwrap().body.len(), BODY);
    let mut held = Vec::new();
    for _ in 0..NON_READERS {
        held.push(h1_non_reader(sw.addr, "/?body_bytes=1073741824").await);
    }
    // Each non-reader's response fills the sockets on its way, then its
    // stream's window (a few MiB each over loopback).
    sleep(Duration::from_secs(3)).await;
    let reply = timeout(Duration::from_secs(15), send(get(&url)))
        .await
        .expect("a response stalled behind the non-readers")
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.len(), BODY);
    drop(held);
}
