//! Upstream connections of one cluster, kept warm between requests.
//!
//! Built on hyper's connection API (`hyper::client::conn`), the way
//! linkerd2-proxy and Pingora keep their own pools, rather than on
//! hyper-util's legacy `Client`: under callgrind seawall with that client
//! ran ~6,400 more instructions per proxied request than with this pool
//! (its map hashed with SipHash twice per request, a checkout racing a
//! connect, `Pooled` wrappers), a tenth of seawall's user-space work
//! (`benches/load/instructions.sh` measures it).
//!
//! - **HTTP/1**: each connection carries one request at a time. It goes back
//!   to its endpoint's idle list as soon as hyper has read the whole
//!   response (at once for a small body, else when its body ends); the
//!   newest idle connection is used first. At most `max_idle` wait per
//!   endpoint, none longer than `idle_timeout` (checked on checkout and by a
//!   reaper task). A request that meets a pooled connection the upstream
//!   closed while it sat idle, and that hyper did not start to write, is sent
//!   again on another connection; nothing else is ever resent here (retries
//!   are the retry layer's).
//! - **HTTP/2**: one shared connection per endpoint, with keep-alive PINGs
//!   (also while idle), so a half-open connection is closed, not reused.
//!
//! Every response carries the instant its connection became ready
//! ([`ConnectionReady`]), so the balancer can leave connection setup out of
//! an endpoint's latency estimate. A connection's own task drives it; when
//! the pool forgets a connection (dropped, expired, over `max_idle`) its
//! last handle goes and the task closes it.

use std::future::{Future, poll_fn};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme, Uri};
use hyper::client::conn::{http1, http2};
use hyper::rt::{Read, Write};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::wire::BoxError;
use futures_util::future::BoxFuture;

use super::facts::{ConnectFailed, ConnectionReady};
use crate::wire::body::{self, Body, Request, Response};

/// How the pool speaks to upstreams.
#[derive(Clone, Copy, Debug)]
pub enum Protocol {
    /// HTTP/1.1, one request per connection at a time.
    Http1,
    /// HTTP/2 prior knowledge (or ALPN `h2`), one shared connection.
    Http2 {
        /// PING interval, also while idle.
        keepalive_interval: Duration,
        /// How long a PING may go unanswered before the connection closes.
        keepalive_timeout: Duration,
    },
}

/// The pool's limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Idle HTTP/1 connections kept per endpoint.
    pub max_idle: usize,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
}

/// A cluster's pool over connector `C` (a `tower::Service<Uri>` whose
/// connections hyper can drive). Cheap to clone; clones share connections.
#[derive(Debug)]
pub struct Pool<C> {
    inner: Arc<Inner<C>>,
}

impl<C> Clone for Pool<C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

#[derive(Debug)]
struct Inner<C> {
    connector: C,
    protocol: Protocol,
    limits: Limits,
    hosts: Mutex<Vec<Host>>,
    reaping: AtomicBool,
}

/// What the pool holds for one endpoint. Endpoints per cluster are few, so
/// a list scanned by authority beats hashing on every request.
#[derive(Debug)]
struct Host {
    authority: Authority,
    idle: Vec<Idle>,
    shared: Option<Shared>,
}

#[derive(Debug)]
struct Idle {
    tx: http1::SendRequest<Body>,
    ready: ConnectionReady,
    since: Instant,
}

#[derive(Clone, Debug)]
struct Shared {
    tx: http2::SendRequest<Body>,
    ready: ConnectionReady,
}

impl<C, IO> Pool<C>
where
    C: tower::Service<Uri, Response = IO> + Clone + Send + Sync + 'static,
    C::Error: Into<BoxError>,
    C::Future: Send,
    IO: Read + Write + Unpin + Send + 'static,
{
    /// A pool dialling through `connector`.
    pub fn new(connector: C, protocol: Protocol, limits: Limits) -> Self {
        Self {
            inner: Arc::new(Inner {
                connector,
                protocol,
                limits,
                hosts: Mutex::new(Vec::new()),
                reaping: AtomicBool::new(false),
            }),
        }
    }

    /// Sends `req` to the endpoint its URI names (`http://ip:port/...`, as
    /// the balancer writes it); the response body is boxed.
    ///
    /// The checks and rewrites run here; the send is one `async move`
    /// block that owns a handle on the pool, boxed once. (An `async fn`
    /// would keep the request in its state twice, as passed and as bound,
    /// and push the box past the allocator's fast path.)
    pub fn request(&self, mut req: Request) -> BoxFuture<'static, Result<Response, BoxError>> {
        let Some(authority) = req.uri().authority().cloned() else {
            return Box::pin(std::future::ready(Err(
                "upstream request without an endpoint address".into(),
            )));
        };
        match self.inner.protocol {
            Protocol::Http1 => {
                if !req.headers().contains_key(header::HOST)
                    && let Ok(host) = HeaderValue::from_str(authority.as_str())
                {
                    req.headers_mut().insert(header::HOST, host);
                }
                let path = req
                    .uri()
                    .path_and_query()
                    .cloned()
                    .unwrap_or_else(|| PathAndQuery::from_static("/"));
                *req.uri_mut() = Uri::from(path);
                Box::pin(self.clone().send_h1(req, authority))
            }
            Protocol::Http2 { .. } => Box::pin(self.clone().send_h2(req, authority)),
        }
    }

    #[expect(
        clippy::manual_async_fn,
        reason = "an async fn would keep the request in its state twice"
    )]
    fn send_h1(
        self,
        mut req: Request,
        authority: Authority,
    ) -> impl Future<Output = Result<Response, BoxError>> + Send + 'static {
        async move {
            let mut fresh = false;
            loop {
                let pooled = if fresh {
                    None
                } else {
                    self.inner.checkout(&authority)
                };
                let (mut tx, ready, reused) = match pooled {
                    Some(idle) => (idle.tx, idle.ready, true),
                    None => {
                        // Boxed: the connect path's state would otherwise
                        // make every request's future kilobytes larger.
                        let (tx, ready) = Box::pin(self.open_h1(&authority)).await?;
                        (tx, ready, false)
                    }
                };
                match tx.try_send_request(req).await {
                    Ok(mut rsp) => {
                        rsp.extensions_mut().insert(ready);
                        self.give_back(authority, tx, ready);
                        return Ok(rsp.map(body::boxed));
                    }
                    Err(e) => {
                        req = unsent(e, reused)?;
                        fresh = true;
                    }
                }
            }
        }
    }

    #[expect(
        clippy::manual_async_fn,
        reason = "an async fn would keep the request in its state twice"
    )]
    fn send_h2(
        self,
        mut req: Request,
        authority: Authority,
    ) -> impl Future<Output = Result<Response, BoxError>> + Send + 'static {
        async move {
            let mut fresh = false;
            loop {
                let shared = if fresh {
                    None
                } else {
                    self.inner.shared(&authority)
                };
                let (mut tx, ready, reused) = match shared {
                    Some(shared) => (shared.tx, shared.ready, true),
                    None => {
                        let (tx, ready) = Box::pin(self.open_h2(&authority)).await?;
                        (tx, ready, false)
                    }
                };
                tx.ready().await?;
                match tx.try_send_request(req).await {
                    Ok(mut rsp) => {
                        rsp.extensions_mut().insert(ready);
                        return Ok(rsp.map(body::boxed));
                    }
                    Err(e) => {
                        req = unsent(e, reused)?;
                        fresh = true;
                    }
                }
            }
        }
    }

    /// A new HTTP/1 connection to `authority`, driven by its own task.
    async fn open_h1(
        &self,
        authority: &Authority,
    ) -> Result<(http1::SendRequest<Body>, ConnectionReady), ConnectFailed> {
        let io = self.connect(authority).await?;
        let (tx, conn) = http1::handshake(io)
            .await
            .map_err(|e| ConnectFailed(e.into()))?;
        drive(conn.with_upgrades());
        Ok((tx, ConnectionReady(Instant::now())))
    }

    /// A new HTTP/2 connection to `authority`, driven by its own task and
    /// shared from the pool.
    async fn open_h2(
        &self,
        authority: &Authority,
    ) -> Result<(http2::SendRequest<Body>, ConnectionReady), ConnectFailed> {
        let io = self.connect(authority).await?;
        let mut builder = http2::Builder::new(TokioExecutor::new());
        builder.timer(TokioTimer::new());
        if let Protocol::Http2 {
            keepalive_interval,
            keepalive_timeout,
        } = self.inner.protocol
        {
            builder
                .keep_alive_interval(keepalive_interval)
                .keep_alive_timeout(keepalive_timeout)
                .keep_alive_while_idle(true);
        }
        let (tx, conn) = builder
            .handshake(io)
            .await
            .map_err(|e| ConnectFailed(e.into()))?;
        drive(conn);
        let ready = ConnectionReady(Instant::now());
        self.inner.share(authority, tx.clone(), ready);
        Ok((tx, ready))
    }

    async fn connect(&self, authority: &Authority) -> Result<IO, ConnectFailed> {
        let uri = Uri::builder()
            .scheme(Scheme::HTTP)
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|e| ConnectFailed(e.into()))?;
        self.inner
            .connector
            .clone()
            .oneshot(uri)
            .await
            .map_err(|e| ConnectFailed(e.into()))
    }

    /// Puts an HTTP/1 connection back once hyper has read its response.
    fn give_back(
        &self,
        authority: Authority,
        mut tx: http1::SendRequest<Body>,
        ready: ConnectionReady,
    ) {
        if tx.is_ready() {
            self.inner.put(authority, tx, ready);
            return;
        }
        // The body is still coming: the connection is free when it ends.
        let pool = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            if poll_fn(|cx| tx.poll_ready(cx)).await.is_ok()
                && let Some(inner) = pool.upgrade()
            {
                inner.put(authority, tx, ready);
            }
        });
    }
}

impl<C: Send + Sync + 'static> Inner<C> {
    /// Keeps an idle HTTP/1 connection (up to `max_idle` per endpoint), and
    /// at the first one starts the reaper.
    fn put(
        self: &Arc<Self>,
        authority: Authority,
        tx: http1::SendRequest<Body>,
        ready: ConnectionReady,
    ) {
        let idle = Idle {
            tx,
            ready,
            since: Instant::now(),
        };
        {
            let mut hosts = self.hosts();
            let host = host_entry(&mut hosts, authority);
            if host.idle.len() >= self.limits.max_idle {
                return;
            }
            host.idle.push(idle);
        }
        if !self.reaping.load(Ordering::Relaxed) && !self.reaping.swap(true, Ordering::Relaxed) {
            self.reap();
        }
    }

    /// The task that closes connections idle for longer than the idle
    /// timeout; it ends with the pool.
    fn reap(self: &Arc<Self>) {
        let period = self.limits.idle_timeout.max(Duration::from_millis(100));
        let pool: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = pool.upgrade() else { return };
                inner.expire(Instant::now());
            }
        });
    }
}

impl<C> Inner<C> {
    fn hosts(&self) -> std::sync::MutexGuard<'_, Vec<Host>> {
        // A panic while holding the lock leaves plain data behind: use it.
        self.hosts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The newest idle connection to `authority` that is still usable.
    fn checkout(&self, authority: &Authority) -> Option<Idle> {
        let mut hosts = self.hosts();
        let host = hosts.iter_mut().find(|h| h.authority == *authority)?;
        while let Some(idle) = host.idle.pop() {
            if idle.tx.is_ready() && idle.since.elapsed() < self.limits.idle_timeout {
                return Some(idle);
            }
        }
        None
    }

    fn shared(&self, authority: &Authority) -> Option<Shared> {
        let hosts = self.hosts();
        let shared = hosts
            .iter()
            .find(|h| h.authority == *authority)?
            .shared
            .as_ref()?;
        (!shared.tx.is_closed()).then(|| shared.clone())
    }

    fn share(&self, authority: &Authority, tx: http2::SendRequest<Body>, ready: ConnectionReady) {
        let mut hosts = self.hosts();
        let host = host_entry(&mut hosts, authority.clone());
        if host.shared.as_ref().is_none_or(|s| s.tx.is_closed()) {
            host.shared = Some(Shared { tx, ready });
        }
    }

    /// Forgets idle connections past the idle timeout and closed ones.
    fn expire(&self, now: Instant) {
        let limit = self.limits.idle_timeout;
        let mut hosts = self.hosts();
        for host in hosts.iter_mut() {
            host.idle
                .retain(|i| i.tx.is_ready() && now.saturating_duration_since(i.since) < limit);
            if host.shared.as_ref().is_some_and(|s| s.tx.is_closed()) {
                host.shared = None;
            }
        }
        hosts.retain(|h| !h.idle.is_empty() || h.shared.is_some());
    }
}

/// The request back from a send that failed before hyper wrote any of it,
/// when it may go out again: only if the connection came from the pool
/// (the upstream closed it while it sat idle). The caller then sends it
/// on a new connection, so a request is sent at most twice. Anything else
/// is the request's error.
fn unsent(
    mut e: hyper::client::conn::TrySendError<Request>,
    reused: bool,
) -> Result<Request, BoxError> {
    match e.take_message() {
        Some(req) if reused => Ok(req),
        _ => Err(e.into_error().into()),
    }
}

/// Gives a connection its own task, which ends when the connection does.
fn drive<F>(conn: F)
where
    F: std::future::Future<Output = Result<(), hyper::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream connection closed with an error");
        }
    });
}

fn host_entry(hosts: &mut Vec<Host>, authority: Authority) -> &mut Host {
    let at = match hosts.iter().position(|h| h.authority == authority) {
        Some(at) => at,
        None => {
            hosts.push(Host {
                authority,
                idle: Vec::new(),
                shared: None,
            });
            hosts.len() - 1
        }
    };
    &mut hosts[at]
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use hyper_util::client::legacy::connect::HttpConnector;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
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
        let metrics = ConnectionMetrics::default();
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        let pool = Pool::new(
            CountingConnector::new(tcp, metrics.clone()),
            Protocol::Http1,
            Limits {
                max_idle,
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
}
