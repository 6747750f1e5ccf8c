//! HTTP/2 abuse against a listener: rapid reset (CVE-2023-44487), a
//! CONTINUATION flood, more streams than the listener allows, and a reader
//! with a zero window. Each abuser gets GOAWAY, refused streams or bounded
//! buffers; a neighbour connection opened alongside keeps getting answers.
//! Raw frames rather than an h2 client, which would obey the very limits
//! under test.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::{Seawall, Upstream, basic_config, get, h2_frame, read_goaway, send_h2c};
use h2::Reason;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// A neighbour's request on its own connection is answered.
async fn neighbour_is_served(sw: &Seawall) {
    let reply = timeout(Duration::from_secs(5), send_h2c(get(&sw.url("/"))))
        .await
        .expect("neighbour request timed out")
        .unwrap();
    assert_eq!(reply.status, 200);
}

/// The rapid-reset pattern, in one burst: 1000 streams each opened and
/// cancelled at once (HEADERS then RST_STREAM CANCEL). The server sees the
/// resets before it has accepted the streams, counts them, and ends the
/// connection with GOAWAY `ENHANCE_YOUR_CALM` after
/// `max_pending_accept_reset_streams` (20).
#[tokio::test]
async fn rapid_reset_gets_goaway_and_spares_neighbours() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let mut s = TcpStream::connect(sw.addr).await.unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(h2_frame(4, 0, 0, &[]));
    for i in 0..1000u32 {
        let stream = 2 * i + 1;
        // END_STREAM | END_HEADERS; :method GET, :scheme http, :path /, :authority a
        out.extend(h2_frame(
            1,
            0x5,
            stream,
            &[0x82, 0x86, 0x84, 0x41, 0x01, b'a'],
        ));
        out.extend(h2_frame(
            3,
            0,
            stream,
            &u32::from(Reason::CANCEL).to_be_bytes(),
        ));
    }
    let _ = s.write_all(&out).await;
    let code = timeout(Duration::from_secs(5), read_goaway(&mut s))
        .await
        .expect("no GOAWAY within 5s");
    assert_eq!(code, Some(u32::from(Reason::ENHANCE_YOUR_CALM)));
    neighbour_is_served(&sw).await;
    let seen = up.stats().await.requests;
    assert!(
        seen < 100,
        "{seen} of 1000 reset streams reached the upstream"
    );
}

/// An endless header block: HEADERS without END_HEADERS, then tiny
/// CONTINUATION frames. h2 caps the number of CONTINUATION frames from the
/// listener's header limit and answers GOAWAY instead of buffering on.
#[tokio::test]
async fn continuation_flood_gets_goaway_and_spares_neighbours() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let mut s = TcpStream::connect(sw.addr).await.unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(h2_frame(4, 0, 0, &[]));
    // :method GET, :scheme http, :path /, :authority a
    out.extend(h2_frame(1, 0, 1, &[0x82, 0x86, 0x84, 0x41, 0x01, b'a']));
    // x-a: hello (literal, new name), 10 000 times in tiny frames
    let field = [
        0x00, 0x03, b'x', b'-', b'a', 0x05, b'h', b'e', b'l', b'l', b'o',
    ];
    for _ in 0..10_000 {
        out.extend(h2_frame(9, 0, 1, &field));
    }
    // The server may close before it has read everything.
    let _ = s.write_all(&out).await;
    let code = timeout(Duration::from_secs(5), read_goaway(&mut s))
        .await
        .expect("no GOAWAY within 5s");
    assert_eq!(code, Some(u32::from(Reason::ENHANCE_YOUR_CALM)));
    neighbour_is_served(&sw).await;
    assert_eq!(up.stats().await.requests, 1, "only the neighbour's request");
}

/// Reads frames for `for_how_long` and returns the error codes of the
/// RST_STREAM frames seen, by stream.
async fn read_resets(s: &mut TcpStream, for_how_long: Duration) -> Vec<(u32, u32)> {
    let mut data = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let end = tokio::time::Instant::now() + for_how_long;
    while let Ok(Ok(n)) = tokio::time::timeout_at(end, s.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
    }
    let mut resets = Vec::new();
    while data.len() >= 9 {
        let len = usize::from(data[0]) << 16 | usize::from(data[1]) << 8 | usize::from(data[2]);
        if data.len() < 9 + len {
            break;
        }
        if data[3] == 3 {
            let stream = u32::from_be_bytes(data[5..9].try_into().unwrap()) & 0x7fff_ffff;
            resets.push((stream, u32::from_be_bytes(data[9..13].try_into().unwrap())));
        }
        data.drain(..9 + len);
    }
    resets
}

/// A client that ignores the advertised `max_concurrent_streams` (4) and
/// opens 10 slow streams gets the excess refused (RST_STREAM
/// REFUSED_STREAM); only 4 reach the upstream, and a neighbour is served.
#[tokio::test]
async fn streams_past_the_limit_are_refused_and_spare_neighbours() {
    let up = Upstream::spawn("a").await;
    let cfg = basic_config(&[up.addr]).replace(
        "    max_body_bytes: 64MiB\n",
        "    max_body_bytes: 64MiB\n    max_concurrent_streams: 4\n",
    );
    let sw = Seawall::start(&cfg).await;
    let mut s = TcpStream::connect(sw.addr).await.unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(h2_frame(4, 0, 0, &[]));
    // Acknowledge the server's SETTINGS (sent first on every connection),
    // so its stream limit is in force.
    out.extend(h2_frame(4, 0x1, 0, &[]));
    s.write_all(&out).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut out = Vec::new();
    let mut path = vec![0x82, 0x86, 0x41, 0x01, b'a', 0x04, 10];
    path.extend(b"/?delay=1s");
    for i in 0..10u32 {
        out.extend(h2_frame(1, 0x5, 2 * i + 1, &path));
    }
    s.write_all(&out).await.unwrap();
    let resets = read_resets(&mut s, Duration::from_millis(600)).await;
    let refused = resets
        .iter()
        .filter(|(_, code)| *code == u32::from(Reason::REFUSED_STREAM))
        .count();
    assert_eq!(refused, 6, "{resets:?}");
    neighbour_is_served(&sw).await;
    common::eventually("the four admitted streams reach the upstream", || async {
        up.stats().await.requests == 5
    })
    .await;
}

/// Sends a POST with the given `content-length` values and a 5-byte body
/// over h2c; returns the status or the stream error.
async fn h2_post_with_lengths(
    addr: std::net::SocketAddr,
    lengths: &[&str],
) -> Result<http::Response<h2::RecvStream>, h2::Error> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(conn);
    let mut client = client.ready().await?;
    let mut req = http::Request::post(format!("http://{addr}/"))
        .body(())
        .unwrap();
    for len in lengths {
        req.headers_mut()
            .append("content-length", len.parse().unwrap());
    }
    let (rsp, mut body) = client.send_request(req, false)?;
    body.send_data(bytes::Bytes::from_static(b"hello"), true)?;
    rsp.await
}

/// A `content-length` list over HTTP/2: h2 resets the stream when the
/// values differ (nothing forwarded), and equal ones reach the upstream as
/// a single header. This is why seawall has no framing check of its own.
#[tokio::test]
async fn h2_content_length_lists_are_refused_or_collapsed() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let err = h2_post_with_lengths(sw.addr, &["5", "6"])
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Some(Reason::PROTOCOL_ERROR), "{err:?}");
    assert_eq!(up.stats().await.requests, 0);
    let rsp = h2_post_with_lengths(sw.addr, &["5", "5"]).await.unwrap();
    assert_eq!(rsp.status(), 200);
    let body = rsp.into_body();
    let echo = collect(body).await;
    assert_eq!(
        echo["headers"]["content-length"],
        serde_json::json!(["5"]),
        "{echo}"
    );
    assert_eq!(echo["body_bytes"], 5);
}

async fn collect(mut body: h2::RecvStream) -> serde_json::Value {
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&bytes).unwrap()
}

/// A client that advertises a zero window and asks for large bodies: each
/// stream's send buffer is bounded (`http2.max_send_buf_size`), the
/// upstream is backpressured instead of read into memory, and seawall's
/// RSS stays far below what the client asked for (20 × 5 MB).
#[tokio::test]
async fn zero_window_reader_cannot_make_seawall_buffer_bodies() {
    let up = Upstream::spawn("a").await;
    let cfg = basic_config(&[up.addr]).replace(
        "    max_body_bytes: 64MiB\n",
        "    max_body_bytes: 64MiB\n    max_concurrent_streams: 20\n    http2:\n      max_send_buf_size: 64KiB\n",
    );
    let sw = common::SeawallProcess::spawn(&cfg);
    let before = sw.status_kib("VmRSS");
    let mut s = TcpStream::connect(sw.addr).await.unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    // SETTINGS_INITIAL_WINDOW_SIZE (0x4) = 0, then ack the server's.
    out.extend(h2_frame(4, 0, 0, &[0x00, 0x04, 0, 0, 0, 0]));
    out.extend(h2_frame(4, 0x1, 0, &[]));
    let path = b"/?body_bytes=5000000";
    let mut headers = vec![0x82, 0x86, 0x41, 0x01, b'a', 0x04, path.len() as u8];
    headers.extend(path);
    for i in 0..20u32 {
        out.extend(h2_frame(1, 0x5, 2 * i + 1, &headers));
    }
    s.write_all(&out).await.unwrap();
    common::eventually("all 20 streams reach the upstream", || async {
        up.stats().await.requests == 20
    })
    .await;
    // Give a non-backpressured proxy time to read the bodies in.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let grown = sw.status_kib("VmRSS").saturating_sub(before);
    assert!(grown < 30 * 1024, "RSS grew by {grown} KiB");
    let reply = timeout(
        Duration::from_secs(5),
        send_h2c(get(&format!("http://{}/", sw.addr))),
    )
    .await
    .expect("neighbour request timed out")
    .unwrap();
    assert_eq!(reply.status, 200);
    drop(s);
}

/// A field value with leading or trailing whitespace is malformed over
/// HTTP/2 (RFC 9113 §8.2.1): refused with 400, never forwarded, and the
/// connection keeps serving well-formed requests.
#[tokio::test]
async fn h2_field_values_with_padding_are_refused() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let tcp = TcpStream::connect(sw.addr).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(conn);
    let mut client = client.ready().await.unwrap();
    let addr = sw.addr;
    for value in [" leading", "trailing ", "\ttab", "tab\t"] {
        let mut req = http::Request::get(format!("http://{addr}/"))
            .body(())
            .unwrap();
        req.headers_mut()
            .insert("x-padded", http::HeaderValue::from_str(value).unwrap());
        let (rsp, _) = client.send_request(req, true).unwrap();
        let rsp = rsp.await.unwrap();
        assert_eq!(rsp.status(), 400, "{value:?}");
        assert_eq!(rsp.headers()["x-seawall-error"], "invalid-header-value");
        client = client.ready().await.unwrap();
    }
    assert_eq!(up.stats().await.requests, 0, "a padded value was forwarded");
    let req = http::Request::get(format!("http://{addr}/"))
        .body(())
        .unwrap();
    let (rsp, _) = client.send_request(req, true).unwrap();
    assert_eq!(rsp.await.unwrap().status(), 200);
}

/// A client that opens with HTTP/2's request line but then breaks the
/// connection preface gets GOAWAY `PROTOCOL_ERROR` (RFC 9113 §3.4) and the
/// connection closed, not a bare EOF or an HTTP/1 answer.
#[tokio::test]
async fn a_broken_h2_preface_gets_goaway_protocol_error() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    for opening in [
        &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\rQ"[..],
        b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n",
        b"PRI * HTTP/2.0\r\nHost: a\r\n\r\n",
    ] {
        let mut s = TcpStream::connect(sw.addr).await.unwrap();
        s.write_all(opening).await.unwrap();
        let code = timeout(Duration::from_secs(5), read_goaway(&mut s))
            .await
            .expect("neither GOAWAY nor close within 5s");
        assert_eq!(
            code,
            Some(u32::from(Reason::PROTOCOL_ERROR)),
            "{:?}",
            String::from_utf8_lossy(opening)
        );
        let mut rest = Vec::new();
        let closed = timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
        assert!(matches!(closed, Ok(Ok(_)) | Ok(Err(_))), "left open");
    }
    assert_eq!(up.stats().await.requests, 0);
}

/// HEADERS for `GET /?delay=300ms` on `stream` (END_STREAM | END_HEADERS):
/// an upstream slow enough that every stream is in progress when reset.
fn slow_get(stream: u32) -> Vec<u8> {
    let path = b"/?delay=300ms";
    let mut block = vec![0x82, 0x86, 0x04, path.len() as u8];
    block.extend(path);
    block.extend([0x41, 0x01, b'a']);
    h2_frame(1, 0x5, stream, &block)
}

fn cancel(stream: u32) -> Vec<u8> {
    h2_frame(3, 0, stream, &u32::from(Reason::CANCEL).to_be_bytes())
}

/// Paced rapid reset: each stream is reset a few milliseconds after its
/// HEADERS, once hyper has accepted it, which h2's own limit does not
/// count. `batch` streams go out per write. Returns the GOAWAY's code and
/// how long after the first reset it came.
async fn paced_reset(addr: std::net::SocketAddr, batch: u32) -> (Option<u32>, Duration) {
    let s = TcpStream::connect(addr).await.unwrap();
    let (mut r, mut w) = s.into_split();
    let mut opening = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    opening.extend(h2_frame(4, 0, 0, &[]));
    w.write_all(&opening).await.unwrap();
    let first_reset = std::sync::Arc::new(std::sync::OnceLock::new());
    let writer = tokio::spawn({
        let first_reset = first_reset.clone();
        async move {
            for round in 0..2000u32 {
                let streams: Vec<u32> = (0..batch).map(|i| 2 * (round * batch + i) + 1).collect();
                let heads: Vec<u8> = streams.iter().flat_map(|s| slow_get(*s)).collect();
                if w.write_all(&heads).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
                let resets: Vec<u8> = streams.iter().flat_map(|s| cancel(*s)).collect();
                first_reset.get_or_init(tokio::time::Instant::now);
                if w.write_all(&resets).await.is_err() {
                    return;
                }
            }
        }
    });
    let code = timeout(Duration::from_secs(20), read_goaway(&mut r))
        .await
        .expect("no GOAWAY within 20s");
    let after = first_reset.get().expect("no reset sent").elapsed();
    writer.abort();
    (code, after)
}

/// Paced rapid reset, 50 streams per write and one at a time, ends in
/// GOAWAY `ENHANCE_YOUR_CALM` within a second, and a neighbour is served.
#[tokio::test]
async fn paced_rapid_reset_gets_goaway_within_a_second() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    for batch in [50, 1] {
        let (code, after) = paced_reset(sw.addr, batch).await;
        assert_eq!(
            code,
            Some(u32::from(Reason::ENHANCE_YOUR_CALM)),
            "{batch} per write"
        );
        assert!(
            after < Duration::from_secs(1),
            "{batch} per write: GOAWAY {after:?} after the first reset"
        );
        println!("{batch} per write: GOAWAY {after:?} after the first reset");
    }
    neighbour_is_served(&sw).await;
}

/// A client that cancels part of its calls, as gRPC clients do on a
/// deadline or when hedging, is never cut off: 300 calls, 2 in 5 cancelled
/// while in progress, every other one answered on the same connection.
#[tokio::test]
async fn a_client_cancelling_some_calls_is_never_cut_off() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let tcp = TcpStream::connect(sw.addr).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    let conn = tokio::spawn(conn);
    let addr = sw.addr;
    let mut answered = 0;
    for round in 0..30 {
        let mut calls = Vec::new();
        for i in 0..10 {
            let mut client = client.clone().ready().await.unwrap();
            let req = http::Request::get(format!("http://{addr}/?delay=20ms"))
                .body(())
                .unwrap();
            let (rsp, mut body) = client.send_request(req, false).unwrap();
            let cancelled = i % 5 < 2;
            calls.push(tokio::spawn(async move {
                if cancelled {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    body.send_reset(Reason::CANCEL);
                    return None;
                }
                body.send_data(bytes::Bytes::new(), true).unwrap();
                Some(rsp.await.map(|r| r.status()))
            }));
        }
        for call in calls {
            match call.await.unwrap() {
                Some(Ok(status)) => {
                    assert_eq!(status, 200, "round {round}");
                    answered += 1;
                }
                Some(Err(e)) => panic!("round {round}: a call failed: {e:?}"),
                None => {}
            }
        }
    }
    assert_eq!(answered, 180);
    assert!(!conn.is_finished(), "the connection was closed");
}
