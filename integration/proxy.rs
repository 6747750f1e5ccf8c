//! Forwarding through a real seawall to real upstream processes: h1, h2c,
//! header hygiene, trailers, WebSocket upgrade, routing, upstream failures.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{Reply, Seawall, Upstream, basic_config, fetch, send, send_h2c};
use http::Request;
use http_body_util::Full;

fn headers_seen(echo: &serde_json::Value, name: &str) -> Vec<String> {
    echo["headers"][name]
        .as_array()
        .map(|vs| {
            vs.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn proxies_http1_and_returns_request_id() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let rsp = fetch(&sw.url("/hello?x=1")).await;
    assert_eq!(rsp.status, 200);
    let echo = rsp.json();
    assert_eq!(echo["upstream"], "a");
    assert_eq!(echo["path"], "/hello");
    assert_eq!(echo["query"], "x=1");
    let id = rsp
        .header("x-request-id")
        .expect("x-request-id")
        .to_string();
    assert_eq!(id.len(), 32, "generated request id");
    assert_eq!(
        headers_seen(&echo, "x-request-id"),
        vec![id],
        "upstream sees the same id"
    );
}

#[tokio::test]
async fn keeps_a_callers_request_id() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let req = Request::get(sw.url("/"))
        .header("x-request-id", "abc-123")
        .body(Full::default())
        .unwrap();
    let rsp = send(req).await.unwrap();
    assert_eq!(rsp.header("x-request-id"), Some("abc-123"));
    assert_eq!(headers_seen(&rsp.json(), "x-request-id"), vec!["abc-123"]);
}

#[tokio::test]
async fn proxies_h2c_downstream_to_h1_and_h2_upstreams() {
    let up = Upstream::spawn("a").await;
    let h1_cfg = basic_config(&[up.addr]);
    let sw = Seawall::start(&h1_cfg).await;
    let req = Request::get(sw.url("/h2")).body(Full::default()).unwrap();
    let rsp = send_h2c(req).await.unwrap();
    assert_eq!(rsp.status, 200);
    let echo = rsp.json();
    assert_eq!(echo["version"], "HTTP/1.1");
    assert!(
        !headers_seen(&echo, "host").is_empty(),
        "h1 upstream gets a Host from :authority"
    );

    let h2_cfg = h1_cfg.replace(
        "connect_timeout: 500ms",
        "connect_timeout: 500ms\n    protocol: http2",
    );
    let sw2 = Seawall::start(&h2_cfg).await;
    let rsp = fetch(&sw2.url("/to-h2")).await;
    assert_eq!(rsp.status, 200);
    assert_eq!(rsp.json()["version"], "HTTP/2.0");
}

#[tokio::test]
async fn strips_hop_by_hop_and_adds_forwarding_headers() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let req = Request::get(sw.url("/?header=x-resp-hop:1&header=connection:x-resp-hop"))
        .header("connection", "x-hop-secret")
        .header("x-hop-secret", "1")
        .header("keep-alive", "timeout=5")
        .header("proxy-connection", "keep-alive")
        .header("te", "gzip")
        .header("x-end-to-end", "kept")
        .header("x-forwarded-for", "10.1.2.3")
        .body(Full::default())
        .unwrap();
    let rsp = send(req).await.unwrap();
    let echo = rsp.json();
    for gone in [
        "x-hop-secret",
        "keep-alive",
        "proxy-connection",
        "te",
        "connection",
    ] {
        assert!(
            headers_seen(&echo, gone).is_empty(),
            "{gone} must not reach the upstream: {echo}"
        );
    }
    assert_eq!(headers_seen(&echo, "x-end-to-end"), vec!["kept"]);
    assert_eq!(
        headers_seen(&echo, "x-forwarded-for"),
        vec!["10.1.2.3, 127.0.0.1"]
    );
    assert_eq!(headers_seen(&echo, "x-forwarded-proto"), vec!["http"]);
    assert_eq!(headers_seen(&echo, "x-forwarded-host"), vec!["127.0.0.1"]);
    assert_eq!(headers_seen(&echo, "via"), vec!["1.1 seawall"]);
    assert!(
        !rsp.headers.contains_key("x-resp-hop"),
        "response hop-by-hop stripped too"
    );
}

#[tokio::test]
async fn passes_trailers_for_grpc_style_calls() {
    let up = Upstream::spawn("a").await;
    let cfg = basic_config(&[up.addr]);
    for upstream_protocol in ["http1", "http2"] {
        let cfg = cfg.replace(
            "connect_timeout: 500ms",
            &format!("connect_timeout: 500ms\n    protocol: {upstream_protocol}"),
        );
        let sw = Seawall::start(&cfg).await;
        let req = Request::post(sw.url("/grpc?trailers=1&body_bytes=10"))
            .header("te", "trailers")
            .header("content-type", "application/grpc")
            .body(Full::new(Bytes::from_static(b"hello")))
            .unwrap();
        let rsp: Reply = send_h2c(req).await.unwrap();
        assert_eq!(rsp.status, 200);
        assert_eq!(rsp.body.len(), 10);
        let trailers = rsp
            .trailers
            .unwrap_or_else(|| panic!("no trailers via {upstream_protocol} upstream"));
        assert_eq!(trailers["grpc-status"], "0");
        assert_eq!(trailers["x-upstream-trailer"], "done");
    }
}

#[tokio::test]
async fn tunnels_websocket_upgrade_both_ways() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let mut s = tokio::net::TcpStream::connect(sw.addr).await.unwrap();
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: ws.local\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").await.unwrap();
    let head = read_head(&mut s).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    for msg in [&b"ping through the tunnel"[..], b"second message"] {
        s.write_all(msg).await.unwrap();
        let mut back = vec![0u8; msg.len()];
        tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut back))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back, msg);
    }
}

#[tokio::test]
async fn routes_by_longest_prefix_then_host_then_method() {
    let (a, b, c) = (
        Upstream::spawn("a").await,
        Upstream::spawn("b").await,
        Upstream::spawn("c").await,
    );
    let cfg = format!(
        r#"
admin: {{ address: "127.0.0.1:0" }}
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes:
      - {{ name: root, match: {{ path_prefix: / }}, cluster: a }}
      - {{ name: api, match: {{ path_prefix: /api }}, cluster: b }}
      - {{ name: api-host, match: {{ host: api.example.com, path_prefix: /api }}, cluster: c }}
      - {{ name: writes, match: {{ path_prefix: /api/items, methods: [POST] }}, cluster: c }}
clusters:
  - {{ name: a, endpoints: ["{}"] }}
  - {{ name: b, endpoints: ["{}"] }}
  - {{ name: c, endpoints: ["{}"] }}
"#,
        a.addr, b.addr, c.addr
    );
    let sw = Seawall::start(&cfg).await;
    let who = async |method: &str, host: &str, path: &str| {
        let req = Request::builder()
            .method(method)
            .uri(sw.url(path))
            .header("host", host)
            .body(Full::default())
            .unwrap();
        let rsp = send(req).await.unwrap();
        assert_eq!(rsp.status, 200, "{method} {host}{path}");
        rsp.json()["upstream"].as_str().unwrap().to_string()
    };
    assert_eq!(who("GET", "x.local", "/").await, "a");
    assert_eq!(
        who("GET", "x.local", "/apis").await,
        "b",
        "plain string prefix"
    );
    assert_eq!(who("GET", "x.local", "/api/items").await, "b");
    assert_eq!(
        who("GET", "API.example.com:80", "/api/x").await,
        "c",
        "host match ignores case and port"
    );
    assert_eq!(who("POST", "x.local", "/api/items/1").await, "c");
    assert_eq!(who("GET", "x.local", "/api/items/1").await, "b");
}

#[tokio::test]
async fn unmatched_route_is_404_with_reason() {
    let up = Upstream::spawn("a").await;
    let cfg = basic_config(&[up.addr]).replace("path_prefix: /", "path_prefix: /only");
    let sw = Seawall::start(&cfg).await;
    let rsp = fetch(&sw.url("/else")).await;
    assert_eq!(rsp.status, 404);
    assert_eq!(rsp.header("x-seawall-error"), Some("no-route"));
    assert_eq!(up.stats().await.requests, 0);
}

#[tokio::test]
async fn refused_connection_is_502_with_reason() {
    // Bind then drop a listener so the port is (very likely) closed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let sw = Seawall::start(&basic_config(&[closed])).await;
    let rsp = fetch(&sw.url("/")).await;
    assert_eq!(rsp.status, 502);
    assert_eq!(rsp.header("x-seawall-error"), Some("upstream-connect"));
}

#[tokio::test]
async fn upstream_reset_mid_response_is_502_or_truncated_never_complete() {
    let mut up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    // The upstream dies while answering a slow request.
    let url = sw.url("/?delay=2s");
    let pending = tokio::spawn(async move {
        common::h1_client()
            .request(common::get(&url))
            .await
            .unwrap()
            .status()
    });
    up.wait_for_stats("the slow request in flight", |s| s.in_flight == 1)
        .await;
    up.kill().await;
    let status = tokio::time::timeout(Duration::from_secs(10), pending)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, 502);
}

#[tokio::test]
async fn upstream_5xx_is_passed_through() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let rsp = fetch(&sw.url("/?status=503")).await;
    assert_eq!(rsp.status, 503);
    assert_eq!(
        rsp.header("x-seawall-error"),
        None,
        "not synthesized by seawall"
    );
}

#[tokio::test]
async fn w3c_traceparent_passes_through_untouched() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let req = Request::get(sw.url("/"))
        .header("traceparent", tp)
        .header("tracestate", "congo=t61rcWkgMzE")
        .body(Full::default())
        .unwrap();
    let echo = send(req).await.unwrap().json();
    assert_eq!(headers_seen(&echo, "traceparent"), vec![tp]);
    assert_eq!(headers_seen(&echo, "tracestate"), vec!["congo=t61rcWkgMzE"]);
}

/// Reads one response head from `s`, lower-cased.
async fn read_head(s: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut byte))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 1, "closed mid-head: {}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).to_lowercase()
}

/// Reads one response head and its `content-length` body from `s`.
async fn read_response(s: &mut tokio::net::TcpStream) -> (String, Vec<u8>) {
    use tokio::io::AsyncReadExt;
    let head = read_head(s).await;
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .expect("content-length");
    let mut body = vec![0u8; len];
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut body))
        .await
        .unwrap()
        .unwrap();
    (head, body)
}

#[tokio::test]
async fn keeps_an_http_1_0_keep_alive_connection_open() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let mut s = tokio::net::TcpStream::connect(sw.addr).await.unwrap();
    let req = b"GET / HTTP/1.0\r\nHost: a.local\r\nConnection: keep-alive\r\n\r\n";
    for i in 0..2 {
        s.write_all(req).await.unwrap();
        let (head, _) = read_response(&mut s).await;
        assert!(head.starts_with("http/1.0 200"), "request {i}: {head}");
        assert!(
            head.contains("connection: keep-alive"),
            "request {i}: an HTTP/1.0 client asking for keep-alive is told it has it: {head}"
        );
    }
    // Without the header, HTTP/1.0 means one request per connection.
    s.write_all(b"GET / HTTP/1.0\r\nHost: a.local\r\n\r\n")
        .await
        .unwrap();
    let (head, _) = read_response(&mut s).await;
    assert!(!head.contains("connection: keep-alive"), "{head}");
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0, "closed after the last HTTP/1.0 response");
}
