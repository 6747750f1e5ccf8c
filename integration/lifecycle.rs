//! seawall as a process: config errors and exit codes, admin endpoints,
//! streaming large bodies in bounded memory, and draining on SIGTERM.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use seawall::server::Drained;

use common::{
    Seawall, SeawallProcess, TempDir, Upstream, basic_config, eventually, fetch, seawall_bin,
};
use http::Request;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

#[test]
fn bad_config_exits_64_naming_file_line_column_and_key() {
    let dir = TempDir::new("badcfg");
    let path = dir.0.join("bad.yaml");
    let yaml = "listeners:\n  - name: ingress\n    address: 127.0.0.1:0\n    routes:\n      - name: r\n        cluster: nope\nclusters:\n  - name: app\n    endpoints: [\"127.0.0.1:1\"]\n";
    std::fs::write(&path, yaml).unwrap();
    for args in [
        vec!["--config".into(), path.clone()],
        vec!["check".into(), path.clone()],
    ] {
        let out = Command::new(seawall_bin()).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("bad.yaml:6:18"), "line and column: {err}");
        assert!(
            err.contains("listeners[0].routes[0].cluster"),
            "key path: {err}"
        );
        assert!(err.contains("unknown cluster"), "{err}");
    }
}

#[test]
fn check_accepts_the_shipped_config_and_prints_a_summary() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/config/seawall.yaml");
    let out = Command::new(seawall_bin())
        .args(["check", shipped])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ingress") && text.contains("demo"), "{text}");
    let version = Command::new(seawall_bin())
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("seawall "));
}

#[test]
fn check_into_a_closed_pipe_exits_cleanly() {
    // `seawall check f | head -1`: stdout's reader is gone before seawall
    // writes. The verdict is about the file, not the pipe: exit 0, no panic.
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/config/seawall.yaml");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(seawall_bin())
        .args(["check", shipped])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Starts draining `sw`, waits for its listener to close, then sends a GET
/// on `stream` (a connection seawall accepted before the drain) and returns
/// everything read until seawall closes it. Panics unless the drain ends
/// clean.
async fn request_during_drain(sw: Seawall, mut stream: tokio::net::TcpStream) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = sw.addr;
    let drain = tokio::spawn(sw.drain());
    eventually("the listener closes", || async {
        tokio::net::TcpStream::connect(addr).await.is_err()
    })
    .await;
    stream.write_all(GET).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out))
        .await
        .expect("answered and closed within 5 s")
        .unwrap();
    assert_eq!(drain.await.unwrap(), seawall::server::Drained::Clean);
    String::from_utf8_lossy(&out).into_owned()
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: a.local\r\n\r\n";

#[tokio::test]
async fn drain_answers_the_first_request_of_a_connection_accepted_before_it() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let stream = tokio::net::TcpStream::connect(sw.addr).await.unwrap();
    // seawall accepts it at once; its request is not sent yet.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let text = request_during_drain(sw, stream).await;
    // Answered, then closed (the helper read to the end): with `Connection:
    // close` when the drain caught the request in progress, or right after
    // a response that had already gone out.
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

#[tokio::test]
async fn drain_answers_a_request_on_an_idle_keep_alive_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let mut stream = tokio::net::TcpStream::connect(sw.addr).await.unwrap();
    stream.write_all(GET).await.unwrap();
    let mut first = vec![0u8; 4096];
    let n = stream.read(&mut first).await.unwrap();
    assert!(first[..n].starts_with(b"HTTP/1.1 200"), "first answer");
    // The connection is idle and kept alive; the drain begins, and the
    // client reuses the connection at that moment, as clients do.
    let text = request_during_drain(sw, stream).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

fn process_config(upstream: std::net::SocketAddr) -> String {
    basic_config(&[upstream]).replace("level: warn", "level: info")
}

#[tokio::test]
async fn admin_reports_live_ready_and_effective_config() {
    let up = Upstream::spawn("a").await;
    let sw = SeawallProcess::spawn(&process_config(up.addr));
    let live = fetch(&format!("http://{}/live", sw.admin)).await;
    assert_eq!(live.status, 200);
    let ready = fetch(&format!("http://{}/ready", sw.admin)).await;
    assert_eq!(ready.status, 200, "{:?}", ready.body);
    let config = fetch(&format!("http://{}/config", sw.admin)).await.json();
    assert_eq!(config["generation"], 1);
    assert_eq!(config["config"]["clusters"][0]["name"], "app");
    assert_eq!(config["config"]["clusters"][0]["connect_timeout"], "500ms");
}

#[tokio::test]
async fn streams_50_mb_each_way_with_bounded_memory() {
    const SIZE: usize = 50 * 1024 * 1024;
    const CHUNK: usize = 64 * 1024;
    let up = Upstream::spawn("a").await;
    let sw = SeawallProcess::spawn(&process_config(up.addr));
    let baseline_kib = sw.status_kib("VmRSS");

    // Upload: generated chunk by chunk, never held whole by the test either.
    let chunks = futures_util::stream::iter(
        (0..SIZE / CHUNK)
            .map(|_| Ok::<_, std::io::Error>(Frame::data(Bytes::from(vec![7u8; CHUNK])))),
    );
    let client: Client<_, StreamBody<_>> = Client::builder(TokioExecutor::new()).build_http();
    let req = Request::post(format!("http://{}/upload", sw.addr))
        .body(StreamBody::new(chunks))
        .unwrap();
    let rsp = tokio::time::timeout(Duration::from_secs(60), client.request(req))
        .await
        .unwrap()
        .unwrap();
    let body = rsp.into_body().collect().await.unwrap().to_bytes();
    let echo: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        echo["body_bytes"], SIZE as u64,
        "upstream received every byte"
    );

    // Download: counted as it arrives.
    let req = common::get(&format!("http://{}/?body_bytes={SIZE}", sw.addr));
    let rsp = tokio::time::timeout(Duration::from_secs(60), common::h1_client().request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rsp.status(), 200);
    let mut body = rsp.into_body();
    let mut received = 0usize;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            received += data.len();
        }
    }
    assert_eq!(received, SIZE);

    // Peak memory grew far less than one body: nothing was buffered whole.
    let peak_kib = sw.status_kib("VmHWM");
    let growth_mib = peak_kib.saturating_sub(baseline_kib) / 1024;
    assert!(
        growth_mib < 24,
        "peak RSS grew by {growth_mib} MiB while moving 2×50 MiB (baseline {baseline_kib} KiB)"
    );
}

#[tokio::test]
async fn sigterm_drains_accepted_requests_then_exits() {
    let up = Upstream::spawn("a").await;
    let mut sw = SeawallProcess::spawn(&process_config(up.addr));
    let url = format!("http://{}/?delay=800ms", sw.addr);
    // Three over HTTP/1.1 and two over h2c: h2 connections get a GOAWAY and
    // must still finish the streams they have open.
    let in_flight: Vec<_> = (0..5)
        .map(|i| {
            let url = url.clone();
            tokio::spawn(async move {
                if i < 3 {
                    fetch(&url).await.status
                } else {
                    common::send_h2c(common::get(&url))
                        .await
                        .expect("h2c request")
                        .status
                }
            })
        })
        .collect();
    up.wait_for_stats("5 requests in flight", |s| s.in_flight == 5)
        .await;
    sw.signal("TERM");
    // New connections are refused promptly while the old ones finish.
    let addr = sw.addr;
    eventually("the listener stops accepting after SIGTERM", || async {
        tokio::net::TcpStream::connect(addr).await.is_err()
    })
    .await;
    for request in in_flight {
        assert_eq!(
            request.await.unwrap(),
            200,
            "an accepted request was lost in the drain"
        );
    }
    assert_eq!(sw.wait_exit(Duration::from_secs(10)).await, Some(0));
}

/// Sends a burst: `conns` connections at once, each with its own client,
/// each making `per_conn` requests for a 16 KiB body; all must succeed.
async fn burst(addr: std::net::SocketAddr, conns: usize, per_conn: usize) {
    let tasks: Vec<_> = (0..conns)
        .map(|_| {
            tokio::spawn(async move {
                let client = common::h1_client();
                for _ in 0..per_conn {
                    let req = common::get(&format!("http://{addr}/?body_bytes=16384"));
                    let reply = common::send_with(&client, req).await.unwrap();
                    assert_eq!(reply.status, 200);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

fn memory_releases(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("seawall_memory_releases_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no seawall_memory_releases_total in:\n{metrics}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hands_back_the_memory_a_burst_freed_once_quiet() {
    let up = Upstream::spawn("a").await;
    // A fixed limit: 128 connections at once saturate this machine's two
    // cores, and the learned limit (the default) rightly reads the latency
    // that adds as a queue and sheds part of the burst. This test is about
    // the memory the burst leaves behind, so every request must be served.
    let config = process_config(up.addr).replace(
        "resolve_interval: 200ms",
        "resolve_interval: 200ms\n    admission: { max_concurrent: 256 }",
    );
    let on = SeawallProcess::spawn(&config);
    let off = SeawallProcess::spawn(&format!("{config}memory:\n  release_when_idle: false\n"));
    burst(on.addr, 128, 20).await;
    // The burst's connections are closed (each client dropped): their
    // buffers are free but still held by malloc. Read at once: the release
    // comes only after a whole quiet second.
    let held = on.status_kib("RssAnon");
    burst(off.addr, 128, 20).await;
    // Polled slowly: a scrape every 10 ms would itself keep the process
    // busy (and the release waits for a quiet second).
    let metrics = format!("http://{}/metrics", on.admin);
    let mut waited = std::time::Duration::ZERO;
    while memory_releases(&fetch(&metrics).await.text()) == 0 {
        assert!(
            waited < 4 * QUIET_WAIT,
            "no memory release within {waited:?}"
        );
        tokio::time::sleep(QUIET_WAIT / 6).await;
        waited += QUIET_WAIT / 6;
    }
    let released = on.status_kib("RssAnon");
    assert!(
        released + 512 <= held,
        "anonymous memory {held} KiB after the burst, {released} KiB after the release"
    );
    // Turned off, nothing is released however quiet it gets.
    tokio::time::sleep(QUIET_WAIT).await;
    let text = fetch(&format!("http://{}/metrics", off.admin)).await.text();
    assert_eq!(memory_releases(&text), 0);
}

/// Long enough for two of the release task's one-second ticks.
const QUIET_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

#[tokio::test]
async fn ready_turns_503_when_a_drain_starts_and_admin_stays_up_through_it() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let admin = sw.admin;
    let ready = fetch(&format!("http://{admin}/ready")).await;
    assert_eq!(ready.status, 200, "{:?}", ready.body);
    // A slow request keeps the drain going while the probes look.
    let slow_url = format!("http://{}/?delay=1500ms", sw.addr);
    let slow = tokio::spawn(async move { fetch(&slow_url).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let drain = tokio::spawn(sw.drain());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ready = fetch(&format!("http://{admin}/ready")).await;
    assert_eq!(ready.status, 503, "{:?}", ready.body);
    assert_eq!(ready.json()["draining"], true);
    let live = fetch(&format!("http://{admin}/live")).await;
    assert_eq!(
        live.status, 200,
        "the admin listener serves during the drain"
    );
    assert_eq!(slow.await.unwrap().status, 200);
    assert_eq!(drain.await.unwrap(), Drained::Clean);
}

#[test]
fn version_names_the_commit_and_zero_worker_threads_means_the_default() {
    let out = Command::new(seawall_bin())
        .arg("--version")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("seawall {} (", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    assert!(!text.contains("()"), "no commit in {text}");
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/config/seawall.yaml");
    let out = Command::new(seawall_bin())
        .args(["check", shipped])
        .env("SEAWALL_WORKER_THREADS", "0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
}

#[tokio::test]
async fn health_exits_0_for_a_ready_seawall_and_1_otherwise() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    let health = |url: String| async move {
        tokio::process::Command::new(seawall_bin())
            .args(["health", &url])
            .output()
            .await
            .unwrap()
            .status
            .code()
    };
    assert_eq!(health(format!("http://{}/ready", sw.admin)).await, Some(0));
    assert_eq!(health(format!("http://{}/nope", sw.admin)).await, Some(1));
    // Nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    assert_eq!(health(format!("http://{addr}/ready")).await, Some(1));
}

/// `POST url`, with the bearer `token` when given.
async fn post(url: &str, token: Option<&str>) -> common::Reply {
    let mut req = Request::post(url);
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    common::send(req.body(common::empty()).unwrap())
        .await
        .unwrap()
}

/// seawall as a process whose admin token (in a file of `dir`) is `token`.
fn process_with_token(
    upstream: std::net::SocketAddr,
    dir: &TempDir,
    token: &str,
) -> SeawallProcess {
    let token_path = dir.0.join("token");
    std::fs::write(&token_path, format!("{token}\n")).unwrap();
    let yaml = process_config(upstream).replace(
        "  address: 127.0.0.1:0\nlog:",
        &format!(
            "  address: 127.0.0.1:0\n  token_file: {}\nlog:",
            token_path.display()
        ),
    );
    SeawallProcess::spawn(&yaml)
}

#[tokio::test]
async fn admin_lists_its_endpoints_and_sets_the_log_level_with_the_token() {
    let up = Upstream::spawn("a").await;
    let dir = TempDir::new("log-level");
    let token = "log-level-token-0123456789";
    let sw = process_with_token(up.addr, &dir, token);
    let admin = |path: &str| format!("http://{}{path}", sw.admin);

    let index = fetch(&admin("/")).await;
    assert_eq!(index.status, 200);
    let listed = index.json()["endpoints"].clone();
    for path in ["/metrics", "/ready", "/log-level", "/drain", "/reload"] {
        assert!(
            listed.as_array().unwrap().iter().any(|e| e["path"] == path),
            "{path} in {listed}"
        );
    }

    // The harness runs seawall with RUST_LOG=seawall=info.
    let level = fetch(&admin("/log-level")).await;
    assert_eq!(level.status, 200);
    assert_eq!(level.json()["level"], "seawall=info");
    let refused = post(&admin("/log-level?level=debug"), None).await;
    assert_eq!(refused.status, 401, "a state change needs the token");
    assert_eq!(
        fetch(&admin("/log-level")).await.json()["level"],
        "seawall=info"
    );

    let set = post(&admin("/log-level?level=debug"), Some(token)).await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    assert_eq!(fetch(&admin("/log-level")).await.json()["level"], "debug");
    // Read as `log.level` is: `warning` is `warn`, a lone non-level word is refused.
    let warning = post(&admin("/log-level?level=warning"), Some(token)).await;
    assert_eq!(warning.json()["level"], "warn");
    let bad = post(&admin("/log-level?level=verbose"), Some(token)).await;
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("not a log level"), "{}", bad.text());
    assert_eq!(fetch(&admin("/log-level")).await.json()["level"], "warn");
}

#[tokio::test]
async fn post_drain_drains_like_sigterm_and_admin_serves_through_it() {
    let up = Upstream::spawn("a").await;
    let dir = TempDir::new("drain");
    let token = "drain-token-0123456789";
    let mut sw = process_with_token(up.addr, &dir, token);
    let admin_addr = sw.admin;
    let admin = move |path: &str| format!("http://{admin_addr}{path}");
    // A slow request keeps the drain going while the probes look.
    let slow_url = format!("http://{}/?delay=1500ms", sw.addr);
    let slow = tokio::spawn(async move { fetch(&slow_url).await.status });
    up.wait_for_stats("the slow request in flight", |s| s.in_flight == 1)
        .await;

    assert_eq!(post(&admin("/drain"), None).await.status, 401);
    assert_eq!(
        fetch(&admin("/ready")).await.status,
        200,
        "no drain without the token"
    );
    let accepted = post(&admin("/drain"), Some(token)).await;
    assert_eq!(accepted.status, 202, "{:?}", accepted.body);

    let ready_url = admin("/ready");
    eventually("/ready turns 503 once the drain starts", || {
        let url = ready_url.clone();
        async move { fetch(&url).await.status == 503 }
    })
    .await;
    let metrics = fetch(&admin("/metrics")).await;
    assert_eq!(metrics.status, 200, "scrapes work during the drain");
    assert_eq!(fetch(&admin("/live")).await.status, 200);
    assert_eq!(slow.await.unwrap(), 200, "the in-flight request finished");
    assert_eq!(sw.wait_exit(Duration::from_secs(10)).await, Some(0));
}
