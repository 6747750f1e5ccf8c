//! Abuse and load shared by the tests that run them side by side
//! (`mixed_load.rs`, `abuse_memory.rs`): open-loop legitimate traffic that
//! counts its successes, slowloris clients, idle keep-alive connections,
//! HTTP/1 and HTTP/2 clients that never read, and a thread with a runtime of
//! its own for the attackers, so their tasks do not queue in front of the
//! legitimate client's (a test measures seawall, not its own scheduler).
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::{Instant, MissedTickBehavior, timeout};

use super::{SeawallProcess, TestClient, get, h2_frame, read_head, send_with};

/// Sends GETs at `rate` for `length`, open loop; returns (ok, latencies).
/// A request is ok when it is answered 200.
pub async fn legit(
    client: Arc<TestClient>,
    url: String,
    rate: u32,
    length: Duration,
) -> (usize, Vec<Duration>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let end = Instant::now() + length;
    let mut tasks = Vec::new();
    while Instant::now() < end {
        tick.tick().await;
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            let ok = matches!(send_with(&client, get(&url)).await, Ok(r) if r.status == 200);
            (ok, start.elapsed())
        }));
    }
    let mut ok = 0;
    let mut latencies = Vec::new();
    for t in tasks {
        let (good, latency) = t.await.unwrap();
        ok += usize::from(good);
        latencies.push(latency);
    }
    (ok, latencies)
}

/// One slowloris client until `end`: a partial head, a header line every
/// 500 ms, and a new connection whenever seawall cuts the old one.
/// Returns how many connections it opened.
pub async fn slowloris(addr: SocketAddr, end: Instant) -> u32 {
    let mut opened = 0;
    let mut buf = [0u8; 512];
    while Instant::now() < end {
        let Ok(mut s) = TcpStream::connect(addr).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        opened += 1;
        let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").await;
        while Instant::now() < end {
            match timeout(Duration::from_millis(500), s.read(&mut buf)).await {
                Err(_) => {
                    if s.write_all(b"X-Slow: 1\r\n").await.is_err() {
                        break;
                    }
                }
                Ok(_) => break, // closed (or answered): reconnect
            }
        }
    }
    opened
}

/// `count` slowloris clients until `end`; the connections they opened.
pub async fn slowloris_crowd(addr: SocketAddr, count: usize, end: Instant) -> u32 {
    let lorises: Vec<_> = (0..count)
        .map(|_| tokio::spawn(slowloris(addr, end)))
        .collect();
    let mut opened = 0;
    for l in lorises {
        opened += l.await.unwrap();
    }
    opened
}

/// Sends one small request on a new connection, reads the whole answer,
/// and keeps the connection: it is then an idle keep-alive connection.
pub async fn idle_connection(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /?body_bytes=16 HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let (head, mut rest) = read_head(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut buf = [0u8; 64];
    while rest.len() < 16 {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed mid-body");
        rest.extend_from_slice(&buf[..n]);
    }
    s
}

/// An HTTP/1.1 client that sends `GET path` and never reads.
pub async fn h1_non_reader(addr: SocketAddr, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    s
}

/// An HTTP/2 client that opens `streams` streams, each a `GET path`,
/// grants the server the largest windows there are, and never reads.
pub async fn h2_non_reader(addr: SocketAddr, path: &str, streams: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    let max_window = 0x7fff_ffffu32;
    // SETTINGS_INITIAL_WINDOW_SIZE (0x4), then the connection's window.
    let mut settings = vec![0x00, 0x04];
    settings.extend(max_window.to_be_bytes());
    out.extend(h2_frame(4, 0, 0, &settings));
    out.extend(h2_frame(4, 0x1, 0, &[]));
    out.extend(h2_frame(8, 0, 0, &(max_window - 65_535).to_be_bytes()));
    // A literal :path with a one-byte length (no Huffman, under 127).
    let len = u8::try_from(path.len())
        .ok()
        .filter(|&l| l < 127)
        .expect("short path");
    let mut headers = vec![0x82, 0x86, 0x41, 0x01, b'a', 0x04, len];
    headers.extend(path.as_bytes());
    for i in 0..streams as u32 {
        out.extend(h2_frame(1, 0x5, 2 * i + 1, &headers));
    }
    s.write_all(&out).await.unwrap();
    s
}

/// Raises this process's soft limit on open files to its hard limit (the
/// seawall and upstream processes it starts inherit it), and checks that
/// at least `needed` descriptors may be open.
pub fn raise_nofile(needed: u64) {
    let pid = std::process::id().to_string();
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let hard: u64 = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .expect("open files limit in /proc/self/limits");
    let ok = std::process::Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={hard}:{hard}")])
        .status()
        .expect("run prlimit")
        .success();
    assert!(ok, "prlimit --nofile={hard}:{hard} failed");
    assert!(hard >= needed, "open files limit {hard} < {needed}");
}

/// Runs the future `make` builds on a new thread with a current-thread
/// runtime of its own; resolves to its output.
pub fn apart<F, Fut>(make: F) -> oneshot::Receiver<Fut::Output>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future,
    Fut::Output: Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _ = tx.send(rt.block_on(make()));
    });
    rx
}

/// The largest buffer the kernel gives a TCP socket (`net.ipv4.NAME`'s
/// maximum), in bytes.
pub fn sysctl_max(name: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}")).unwrap();
    text.split_whitespace().nth(2).unwrap().parse().unwrap()
}

/// Polls RSS for `within` or until it is at most `target`; returns the
/// last reading and when it was taken.
pub async fn fall_back(sw: &SeawallProcess, target: u64, within: Duration) -> (u64, Duration) {
    let start = Instant::now();
    loop {
        let rss = sw.status_kib("VmRSS");
        if rss <= target || start.elapsed() >= within {
            return (rss, start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Samples the process's RSS and descriptors every 50 ms until `end`;
/// the highest of each seen.
pub async fn sample(sw: &SeawallProcess, end: Instant) -> (u64, usize) {
    let (mut rss, mut fds) = (0, 0);
    while Instant::now() < end {
        rss = rss.max(sw.status_kib("VmRSS"));
        fds = fds.max(sw.open_fds());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (rss, fds)
}
