//! The pool against a raw HTTP/1.1 upstream on a real socket.

use std::sync::atomic::{AtomicUsize, Ordering};

use hyper_util::client::legacy::connect::HttpConnector;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::upstream::ConnectFailed;
use crate::upstream::counted::{ConnectionMetrics, CountingConnector};

type TestPool = Pool<CountingConnector<HttpConnector>>;

/// A raw HTTP/1.1 upstream: answers each request on a connection with a
/// keep-alive response, and closes a connection `close_after` after
/// its first answer when set. Counts the connections it accepted.
async fn upstream(close_after: Option<Duration>) -> (Authority, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority = Authority::try_from(listener.local_addr().unwrap().to_string()).unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                loop {
                    let Ok(n) = s.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        seen.drain(..end + 4);
                        let rsp = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if s.write_all(rsp).await.is_err() {
                            return;
                        }
                        if let Some(after) = close_after {
                            tokio::time::sleep(after).await;
                            return;
                        }
                    }
                }
            });
        }
    });
    (authority, accepted)
}

fn pool(max_idle: usize, idle_timeout: Duration) -> (TestPool, ConnectionMetrics) {
    capped_pool(max_idle, usize::MAX, idle_timeout)
}

fn capped_pool(
    max_idle: usize,
    max_idle_total: usize,
    idle_timeout: Duration,
) -> (TestPool, ConnectionMetrics) {
    let metrics = ConnectionMetrics::default();
    let mut tcp = HttpConnector::new();
    tcp.set_nodelay(true);
    let pool = Pool::new(
        CountingConnector::new(tcp, metrics.clone()),
        Protocol::Http1,
        Limits {
            max_idle,
            max_idle_total,
            idle_timeout,
        },
    );
    (pool, metrics)
}

fn request(authority: &Authority) -> Request {
    http::Request::get(format!("http://{authority}/x"))
        .body(crate::wire::body::empty())
        .unwrap()
}

async fn get(pool: &TestPool, authority: &Authority) -> Result<u16, BoxError> {
    let rsp = pool.request(request(authority)).await?;
    let status = rsp.status().as_u16();
    http_body_util::BodyExt::collect(rsp.into_body()).await?;
    Ok(status)
}

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what}: not within 2 s");
}

#[tokio::test]
async fn reuses_one_connection_for_sequential_requests() {
    let (authority, accepted) = upstream(None).await;
    let (pool, metrics) = pool(8, Duration::from_secs(30));
    for _ in 0..5 {
        assert_eq!(get(&pool, &authority).await.unwrap(), 200);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    assert_eq!(metrics.open.get(), 1);
}

/// The balancer leaves connection setup out of latency by this mark.
#[tokio::test]
async fn responses_carry_their_connection_ready_instant() {
    let (authority, _) = upstream(None).await;
    let (pool, _) = pool(8, Duration::from_secs(30));
    let mut readies = Vec::new();
    for _ in 0..2 {
        let rsp = pool.request(request(&authority)).await.unwrap();
        readies.push(rsp.extensions().get::<ConnectionReady>().copied());
        http_body_util::BodyExt::collect(rsp.into_body())
            .await
            .unwrap();
    }
    let first = readies[0].expect("first response is marked").0;
    let second = readies[1].expect("second response is marked").0;
    assert_eq!(first, second, "the second request reused the connection");
}

#[tokio::test]
async fn a_connection_the_upstream_closed_while_idle_is_not_used() {
    let (authority, accepted) = upstream(Some(Duration::from_millis(1))).await;
    let (pool, metrics) = pool(8, Duration::from_secs(30));
    assert_eq!(get(&pool, &authority).await.unwrap(), 200);
    eventually("the closed connection is gone", || metrics.open.get() == 0).await;
    assert_eq!(get(&pool, &authority).await.unwrap(), 200);
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn idle_connections_close_after_the_idle_timeout() {
    let (authority, _) = upstream(None).await;
    let (pool, metrics) = pool(8, Duration::from_millis(150));
    assert_eq!(get(&pool, &authority).await.unwrap(), 200);
    assert_eq!(metrics.open.get(), 1);
    eventually("the idle connection is closed", || metrics.open.get() == 0).await;
}

/// A body still arriving when the headers are read: the connection
/// goes back to the pool when it ends, and the idle timeout applies to
/// it too.
#[tokio::test]
async fn a_connection_freed_after_its_body_also_closes_when_idle() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority = Authority::try_from(listener.local_addr().unwrap().to_string()).unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let _ = s.read(&mut buf).await.unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        s.write_all(b"ok").await.unwrap();
        // Keep the connection open: only the pool may close it.
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let (pool, metrics) = pool(8, Duration::from_millis(150));
    assert_eq!(get(&pool, &authority).await.unwrap(), 200);
    assert_eq!(metrics.open.get(), 1);
    eventually("the idle connection is closed", || metrics.open.get() == 0).await;
}

#[tokio::test]
async fn keeps_at_most_max_idle_connections_per_endpoint() {
    let (authority, accepted) = upstream(None).await;
    let (pool, metrics) = pool(1, Duration::from_secs(30));
    let (a, b, c) = tokio::join!(
        get(&pool, &authority),
        get(&pool, &authority),
        get(&pool, &authority)
    );
    assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), (200, 200, 200));
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        3,
        "three at once need three"
    );
    eventually("extra connections closed", || metrics.open.get() == 1).await;
}

#[tokio::test]
async fn a_refused_connect_is_a_connect_failure() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority = Authority::try_from(listener.local_addr().unwrap().to_string()).unwrap();
    drop(listener);
    let (pool, _) = pool(8, Duration::from_secs(30));
    let err = get(&pool, &authority).await.unwrap_err();
    assert!(err.is::<ConnectFailed>(), "{err:?}");
}

/// Many endpoints each used once keep at most the cluster's cap of idle
/// connections between them, and those kept are used again.
#[tokio::test]
async fn keeps_at_most_max_idle_connections_per_cluster() {
    let mut upstreams = Vec::new();
    for _ in 0..5 {
        upstreams.push(upstream(None).await);
    }
    let (pool, metrics) = capped_pool(8, 2, Duration::from_secs(30));
    for (authority, _) in &upstreams {
        assert_eq!(get(&pool, authority).await.unwrap(), 200);
    }
    eventually("connections over the cluster cap closed", || {
        metrics.open.get() == 2
    })
    .await;
    // The first two came back first and were kept: reused, not redialled.
    for (authority, _) in &upstreams[..2] {
        assert_eq!(get(&pool, authority).await.unwrap(), 200);
    }
    let accepted: Vec<_> = upstreams
        .iter()
        .map(|(_, n)| n.load(Ordering::SeqCst))
        .collect();
    assert_eq!(accepted, vec![1; 5]);
}
