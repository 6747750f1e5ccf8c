//! Hostile HTTP/1 input on a bare socket: request smuggling vectors from the
//! public catalogues, oversized targets, h2c upgrades, absolute-form targets
//! aimed elsewhere. Each vector gets its status and the upstream sees
//! nothing (or, where a request is legitimately served, exactly one
//! well-formed request to a configured cluster).
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::{Seawall, Upstream, basic_config, raw_request_for};

/// Long enough for a refusal; keep-alive connections are cut here.
const LIMIT: Duration = Duration::from_millis(1500);

fn status_of(response: &str) -> &str {
    response
        .split_whitespace()
        .nth(1)
        .unwrap_or("<closed without a response>")
}

/// The framing vectors: each must get a 400 (from hyper's parser or from
/// seawall's own checks) and must never reach the upstream.
const SMUGGLING: &[(&str, &str)] = &[
    (
        "TE.TE: xchunked",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    ),
    (
        "TE.TE: space before colon",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    ),
    (
        "TE.TE: chunked, identity",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    ),
    (
        "TE.TE: second TE header not chunked",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: cow\r\n\r\n0\r\n\r\n",
    ),
    (
        "TE.TE: vertical tab in value",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n",
    ),
    (
        "TE on HTTP/1.0",
        "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ),
    (
        "duplicate CL, different values",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    ),
    (
        "CL list, even of equal values",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello",
    ),
    (
        "CL list with different values",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nhello!",
    ),
    (
        "CL with a plus sign",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello",
    ),
    (
        "CL with a minus sign",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\nhello",
    ),
    (
        "CL with inner space",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\nhelloworld",
    ),
    (
        "CL in hex",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello",
    ),
    (
        "obs-fold header continuation",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n chunked\r\n\r\n0\r\n\r\n",
    ),
    (
        "invalid chunk size",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    ),
    (
        "overflowing chunk size",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nhello\r\n0\r\n\r\n",
    ),
    (
        "negative chunk size",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
    ),
    (
        "chunk data longer than its size",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
    ),
    ("chunk extension flood", "@EXT@"),
    (
        "TE: chunked, chunked",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
    ),
    (
        "TE: chunked on two lines",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ),
    (
        "TE: gzip alone",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n",
    ),
    (
        "TE: gzip, chunked",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    ),
    (
        "TE: chunked, gzip",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    ),
    (
        "NUL in a header value",
        "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n",
    ),
    (
        "bare CR in a header value",
        "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n",
    ),
    (
        "space in the header name",
        "GET / HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n",
    ),
];

#[tokio::test]
async fn smuggling_vectors_get_400_and_reach_nothing() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let mut failures = Vec::new();
    let mut before = 0;
    for (name, request) in SMUGGLING {
        let request = if *request == "@EXT@" {
            extension_flood()
        } else {
            (*request).to_owned()
        };
        let rsp = raw_request_for(sw.addr, request.as_bytes(), LIMIT).await;
        let status = status_of(&rsp);
        if status != "400" {
            failures.push(format!("{name}: {status}"));
        }
        let seen = up.stats().await.requests;
        if seen != before {
            failures.push(format!(
                "{name}: forwarded ({} requests upstream)",
                seen - before
            ));
            before = seen;
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A transfer coding list other than one `chunked` is refused and the
/// connection closed at once (no keep-alive wait), so the bytes after the
/// head are never read as a request.
#[tokio::test]
async fn doubled_chunked_is_refused_and_the_connection_closed() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let request = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n\
                   0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    let start = tokio::time::Instant::now();
    let rsp = raw_request_for(sw.addr, request.as_bytes(), Duration::from_secs(10)).await;
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "connection left open: {rsp}"
    );
    assert_eq!(status_of(&rsp), "400", "{rsp}");
    assert!(rsp.contains("invalid-transfer-encoding"), "{rsp}");
    assert!(rsp.contains("connection: close"), "{rsp}");
    assert_eq!(rsp.matches("HTTP/1.1 ").count(), 1, "one response: {rsp}");
    assert_eq!(up.stats().await.requests, 0);
}

/// `Connection` may name any header as hop-by-hop, but never Host: seawall
/// routes on the client's Host, and the upstream must see the same one.
#[tokio::test]
async fn connection_naming_host_keeps_the_clients_host() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    for connection in ["Host, close", "close, host", "HOST,close"] {
        let request =
            format!("GET / HTTP/1.1\r\nHost: site.example\r\nConnection: {connection}\r\n\r\n");
        let rsp = raw_request_for(sw.addr, request.as_bytes(), LIMIT).await;
        assert_eq!(status_of(&rsp), "200", "{rsp}");
        assert_eq!(
            echo(&rsp)["headers"]["host"],
            serde_json::json!(["site.example"]),
            "{connection}: {rsp}"
        );
    }
}

/// One chunk whose extension runs to 1 MiB: a parser that keeps extensions
/// would hold them all.
fn extension_flood() -> String {
    let ext = "a".repeat(1 << 20);
    format!(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;{ext}\r\nhello\r\n0\r\n\r\n"
    )
}

/// The JSON echo of the upstream, from a raw response.
fn echo(rsp: &str) -> serde_json::Value {
    let body = rsp.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("no echo ({e}) in {rsp}"))
}

/// hyper reads a message carrying both framings as chunked, drops the
/// `Content-Length` and closes the connection after it (RFC 9112 §6.3).
/// seawall re-frames what it forwards, so the upstream receives exactly
/// the message seawall read, and the bytes an attacker meant as a second,
/// smuggled request are never parsed as one.
#[tokio::test]
async fn both_framings_are_read_as_chunked_and_the_tail_is_dropped() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    let vectors = [
        format!(
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"
        ),
        format!(
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n{smuggled}"
        ),
        format!(
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n{smuggled}"
        ),
    ];
    for (i, request) in vectors.iter().enumerate() {
        let rsp = raw_request_for(sw.addr, request.as_bytes(), LIMIT).await;
        assert_eq!(status_of(&rsp), "200", "{rsp}");
        assert_eq!(
            rsp.matches("HTTP/1.1 ").count(),
            1,
            "one response only: {rsp}"
        );
        let echo = echo(&rsp);
        assert_eq!(echo["path"], "/", "{echo}");
        let expected = if i == 1 { 8 } else { 0 };
        assert_eq!(echo["body_bytes"], expected, "{echo}");
        assert_eq!(
            up.stats().await.requests,
            i as u64 + 1,
            "no smuggled request"
        );
    }
}

#[tokio::test]
async fn repeated_equal_content_length_reaches_upstream_once() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let rsp = raw_request_for(
        sw.addr,
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        LIMIT,
    )
    .await;
    assert_eq!(status_of(&rsp), "200", "{rsp}");
    let echo = echo(&rsp);
    assert_eq!(
        echo["headers"]["content-length"],
        serde_json::json!(["5"]),
        "{echo}"
    );
}

#[tokio::test]
async fn long_targets_get_414_and_longer_heads_431() {
    let up = Upstream::spawn("a").await;
    let cfg = basic_config(&[up.addr]).replace(
        "    max_body_bytes: 64MiB\n",
        "    max_body_bytes: 64MiB\n    max_uri_bytes: 2KiB\n",
    );
    let sw = Seawall::start(&cfg).await;
    let fits = format!(
        "GET /{} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "a".repeat(2000)
    );
    assert_eq!(
        status_of(&raw_request_for(sw.addr, fits.as_bytes(), LIMIT).await),
        "200"
    );
    let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(4000));
    let rsp = raw_request_for(sw.addr, long.as_bytes(), LIMIT).await;
    assert_eq!(status_of(&rsp), "414", "{rsp}");
    assert!(rsp.contains("uri-too-long"), "{rsp}");
    // Past the whole head limit (16KiB), hyper refuses it before seawall.
    let huge = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(40_000));
    let rsp = raw_request_for(sw.addr, huge.as_bytes(), LIMIT).await;
    assert_eq!(status_of(&rsp), "431", "{rsp}");
    assert_eq!(up.stats().await.requests, 1, "only the request that fits");
}

/// `Upgrade: h2c` is served as plain HTTP/1.1 (RFC 9110 §7.8 lets a server
/// ignore Upgrade): never a 101, never a tunnel, and the upgrade headers do
/// not reach the upstream, which therefore cannot switch protocols behind
/// seawall's back (h2c smuggling).
#[tokio::test]
async fn h2c_upgrade_is_served_as_plain_http1_without_upgrade_headers() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let rsp = raw_request_for(
        sw.addr,
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
        LIMIT,
    )
    .await;
    assert_eq!(status_of(&rsp), "200", "{rsp}");
    let headers = &echo(&rsp)["headers"];
    for name in ["upgrade", "http2-settings", "connection"] {
        assert!(headers.get(name).is_none(), "{name} forwarded: {headers}");
    }
}

/// No open proxy: an absolute-form target naming another server, with a
/// matching Host, still goes to the configured cluster, never to the
/// server it names.
#[tokio::test]
async fn absolute_form_cannot_pick_the_upstream() {
    let up = Upstream::spawn("configured").await;
    let elsewhere = Upstream::spawn("elsewhere").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let target = elsewhere.addr;
    let request = format!(
        "GET http://{target}/steal HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n"
    );
    let rsp = raw_request_for(sw.addr, request.as_bytes(), LIMIT).await;
    assert_eq!(status_of(&rsp), "200", "{rsp}");
    assert_eq!(echo(&rsp)["upstream"], "configured");
    assert_eq!(
        elsewhere.stats().await.requests,
        0,
        "reached the named server"
    );
}

/// No SSRF via Host: a host-matched route refuses other hosts (404), and
/// a Host naming an internal address only ever reaches the configured
/// cluster.
#[tokio::test]
async fn host_header_cannot_reach_unconfigured_hosts() {
    let up = Upstream::spawn("a").await;
    let elsewhere = Upstream::spawn("internal").await;
    let cfg = basic_config(&[up.addr]).replace(
        "          path_prefix: /\n",
        "          host: api.local\n          path_prefix: /\n",
    );
    let sw = Seawall::start(&cfg).await;
    for host in [
        "169.254.169.254".to_owned(),
        elsewhere.addr.to_string(),
        "localhost".to_owned(),
    ] {
        let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let rsp = raw_request_for(sw.addr, request.as_bytes(), LIMIT).await;
        assert_eq!(status_of(&rsp), "404", "{host}: {rsp}");
        assert!(rsp.contains("no-route"), "{rsp}");
    }
    assert_eq!(
        up.stats().await.requests + elsewhere.stats().await.requests,
        0
    );
}

/// Bare LF line endings: RFC 9112 §2.2 lets a recipient accept them and
/// hyper does. seawall re-serialises the head with CRLF, so the upstream
/// never sees a bare LF and cannot disagree with seawall about where the
/// head ends: one request in, one well-formed request out.
#[tokio::test]
async fn bare_lf_heads_are_reframed_not_passed_through() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let rsp = raw_request_for(
        sw.addr,
        b"POST / HTTP/1.1\nHost: a\nContent-Length: 5\nConnection: close\n\nhello",
        LIMIT,
    )
    .await;
    assert_eq!(status_of(&rsp), "200", "{rsp}");
    assert_eq!(echo(&rsp)["body_bytes"], 5);
    assert_eq!(up.stats().await.requests, 1);
}

/// seawall started from a file whose admin token is `token`, read from a
/// token file (returned, with the directory holding it).
async fn with_admin_token(token: &str) -> (Upstream, common::TempDir, std::path::PathBuf, Seawall) {
    let up = Upstream::spawn("a").await;
    let dir = common::TempDir::new("admin-token");
    let token_path = dir.0.join("token");
    std::fs::write(&token_path, format!("{token}\n")).unwrap();
    let cfg = basic_config(&[up.addr]).replace(
        "  address: 127.0.0.1:0\nlog:",
        &format!(
            "  address: 127.0.0.1:0\n  token_file: {}\nlog:",
            token_path.display()
        ),
    );
    let sw = Seawall::start_from_file(&cfg).await;
    (up, dir, token_path, sw)
}

/// With a token configured, a state-changing admin request needs it
/// (401 otherwise); reading endpoints stay open for probes.
#[tokio::test]
async fn admin_changes_need_the_bearer_token() {
    let (_up, _dir, _token, sw) = with_admin_token("correct-horse-battery-staple").await;
    let post = |auth: &str| {
        format!(
            "POST /reload HTTP/1.1\r\nHost: admin\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
    };
    for auth in [
        "",
        "Authorization: Bearer wrong\r\n",
        "Authorization: correct-horse-battery-staple\r\n",
    ] {
        let rsp = raw_request_for(sw.admin, post(auth).as_bytes(), LIMIT).await;
        assert_eq!(status_of(&rsp), "401", "{auth:?}: {rsp}");
    }
    let ok = post("Authorization: Bearer correct-horse-battery-staple\r\n");
    let rsp = raw_request_for(sw.admin, ok.as_bytes(), LIMIT).await;
    // Past the guard: the reload runs (the file is unchanged).
    assert_eq!(status_of(&rsp), "200", "{rsp}");
    assert!(rsp.contains("unchanged"), "{rsp}");
    let live = raw_request_for(
        sw.admin,
        b"GET /live HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n",
        LIMIT,
    )
    .await;
    assert_eq!(status_of(&live), "200", "{live}");
}

/// A rotated admin token (the file rewritten, then a reload) applies live:
/// the new token is accepted and the old one refused.
#[tokio::test]
async fn a_rotated_admin_token_applies_on_reload() {
    let (_up, _dir, token_path, sw) = with_admin_token("first-token-long-enough").await;
    std::fs::write(&token_path, "second-token-long-enough\n").unwrap();
    let outcome = sw.running.reload.reload().await;
    assert!(
        matches!(outcome, seawall::reload::Outcome::Applied { .. }),
        "{outcome:?}"
    );
    let post = |token: &str| {
        format!(
            "POST /reload HTTP/1.1\r\nHost: admin\r\nAuthorization: Bearer {token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
    };
    let old = raw_request_for(sw.admin, post("first-token-long-enough").as_bytes(), LIMIT).await;
    assert_eq!(status_of(&old), "401", "{old}");
    let new = raw_request_for(sw.admin, post("second-token-long-enough").as_bytes(), LIMIT).await;
    assert_eq!(status_of(&new), "200", "{new}");
}

/// An upstream that answers every request on a connection with both
/// `Content-Length: 5` and a 23-byte chunked body; returns its address and
/// the number of requests each connection carried.
async fn both_framings_upstream() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<usize>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let per_conn = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let counts = per_conn.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let counts = counts.clone();
            let index = {
                let mut c = counts.lock().unwrap();
                c.push(0);
                c.len() - 1
            };
            tokio::spawn(async move {
                let mut data = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    data.extend_from_slice(&buf[..n]);
                    while let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                        data.drain(..end + 4);
                        counts.lock().unwrap()[index] += 1;
                        let rsp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\
                                   Transfer-Encoding: chunked\r\n\r\n\
                                   12\r\nabcdefghijklmnopqr\r\n0\r\n\r\n";
                        if s.write_all(rsp.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, per_conn)
}

/// An upstream response with both framings is an error (RFC 9112 §6.3),
/// never a truncated body that looks complete: 502 `upstream-protocol`,
/// and the connection it came on is never used again.
#[tokio::test]
async fn an_upstream_response_with_both_framings_is_a_502_and_its_connection_dropped() {
    let (addr, per_conn) = both_framings_upstream().await;
    let sw = Seawall::start(&basic_config(&[addr])).await;
    for _ in 0..3 {
        let rsp = raw_request_for(
            sw.addr,
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(status_of(&rsp), "502", "{rsp}");
        assert!(rsp.contains("x-seawall-error: upstream-protocol"), "{rsp}");
        assert!(!rsp.contains("abcde"), "part of the body was served: {rsp}");
    }
    let per_conn = per_conn.lock().unwrap().clone();
    assert!(per_conn.len() >= 3, "{per_conn:?}");
    assert!(
        per_conn.iter().all(|&n| n <= 1),
        "a connection was reused after such a response: {per_conn:?}"
    );
}
