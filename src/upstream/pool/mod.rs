//! Upstream connections of one cluster, kept warm between requests.
//!
//! Built on hyper's connection API (`hyper::client::conn`), the way
//! linkerd2-proxy and Pingora keep their own pools, rather than on
//! hyper-util's legacy `Client`, whose map hashes with SipHash twice per
//! request, races a checkout against a connect and wraps every connection
//! (the figures are in `benches/RESULTS.md`).
//!
//! - **HTTP/1**: each connection carries one request at a time. It goes back
//!   to its endpoint's idle list as soon as hyper has read the whole
//!   response (at once for a small body, else when its body ends); the
//!   newest idle connection is used first. At most `max_idle` wait per
//!   endpoint and `max_idle_total` in the whole cluster, none longer than
//!   `idle_timeout` (checked on checkout and by a reaper task). An idle
//!   connection holds hyper's two 8 KiB buffers, so the cluster cap, not the
//!   number of endpoints, bounds what idle connections cost; an endpoint
//!   without connections costs the pool nothing (its entry goes with its
//!   last connection). A request that meets a pooled connection the upstream
//!   closed while it sat idle, and that hyper did not start to write, is sent
//!   again on another connection; nothing else is ever resent here (retries
//!   are the retry layer's).
//! - **HTTP/2**: one shared connection per endpoint, with keep-alive PINGs
//!   (also while idle), so a half-open connection is closed, not reused.
//!   Its flow-control windows ([`H2_STREAM_WINDOW`], [`H2_CONN_WINDOW`])
//!   bound what a response to a client that does not read piles up here,
//!   without letting such clients stall the connection for the others.
//!
//! Every response carries the instant its connection became ready
//! ([`ConnectionReady`]), so the balancer can leave connection setup out of
//! an endpoint's latency estimate. A connection's own task drives it; when
//! the pool forgets a connection (dropped, expired, over `max_idle`) its
//! last handle goes and the task closes it.

mod connect;
mod idle;

pub use connect::{H1_READ_BUF_MAX, H2_CONN_WINDOW, H2_STREAM_WINDOW};

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::uri::{Authority, PathAndQuery, Uri};
use hyper::client::conn::{http1, http2};
use hyper::rt::{Read, Write};
use tokio::time::Instant;

use crate::wire::{BoxError, headers};
use futures_util::future::BoxFuture;

use super::facts::ConnectionReady;
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
    /// Idle HTTP/1 connections kept in the whole cluster.
    pub max_idle_total: usize,
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
    hosts: Mutex<Hosts>,
    reaping: AtomicBool,
}

/// What the pool holds, per endpoint. A hash map with a fast hasher (not a
/// list scanned by authority): a lookup costs the same among 3 endpoints or
/// 1,000. Keyed by the authority's text as the balancer writes it
/// (`ip:port`), not by `Authority`, whose `Hash` feeds the hasher one
/// lower-cased byte at a time: that made two lookups per request cost
/// ~1,400 instructions, where hashing the text whole costs a tenth.
#[derive(Debug, Default)]
struct Hosts {
    by_authority: HashMap<Box<str>, Host, foldhash::fast::RandomState>,
    /// Idle HTTP/1 connections over all endpoints.
    idle: usize,
}

/// What the pool holds for one endpoint.
#[derive(Debug, Default)]
struct Host {
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
                hosts: Mutex::new(Hosts::default()),
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
                if !headers::has_any(req.headers(), &[header::HOST])
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
                    Ok(rsp) if both_framings(&rsp) => {
                        // Neither the body's end nor the connection's next
                        // response can be trusted: drop both, and the
                        // connection with them (it is not given back).
                        return Err(BothFramings.into());
                    }
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

/// An HTTP/1 response carrying both `Content-Length` and
/// `Transfer-Encoding`. hyper reads such a body as chunked, but the
/// `Content-Length` stays among the headers, and forwarded downstream it
/// would frame a truncated body that looks complete. RFC 9112 §6.3 lets a
/// recipient treat it as an error, which is what nginx does (502): it is
/// answered 502 `upstream-protocol` (`downstream::rescue`'s fallback for
/// an upstream error it does not otherwise know).
#[derive(Debug, thiserror::Error)]
#[error("upstream response with both Content-Length and Transfer-Encoding")]
pub struct BothFramings;

fn both_framings<B>(rsp: &http::Response<B>) -> bool {
    rsp.headers().contains_key(header::TRANSFER_ENCODING)
        && rsp.headers().contains_key(header::CONTENT_LENGTH)
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

#[cfg(test)]
mod tests;
