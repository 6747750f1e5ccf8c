//! The pooled upstream client of one cluster.
//!
//! One [`Pool`](crate::upstream::pool::Pool) per cluster: connections are
//! kept per endpoint address (the balancer rewrites each request's URI to
//! the chosen endpoint), while connect timeout, idle timeout, idle limit
//! and protocol are cluster settings.
//!
//! A request abandoned by a timeout (its future dropped) never leaves a
//! stuck connection in the pool: an HTTP/1 connection with a request in
//! flight is closed, not returned; an HTTP/2 connection is shared and stays,
//! so a keep-alive PING bounds how long a half-open one can be reused.
//!
//! A cluster with a `tls:` block dials through [`TlsConnector`] instead of
//! the plain connector; everything else about the pool is the same.

use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use hyper_util::client::legacy::connect::HttpConnector;

use crate::config::{ClusterSettings, UpstreamProtocol};
use crate::tls::client::TlsConnector;
use crate::upstream::counted::{ConnectionMetrics, CountingConnector};
use crate::upstream::pool::{Limits, Pool as Connections, Protocol};
use crate::wire::BoxError;
use crate::wire::body::{Request, Response};

/// A cluster's connection pool as a tower service.
#[derive(Clone, Debug)]
pub struct UpstreamClient {
    pool: Pool,
    version: http::Version,
}

/// The pool, over plain TCP or over TLS; connections are counted.
#[derive(Clone, Debug)]
enum Pool {
    Plain(Connections<CountingConnector<HttpConnector>>),
    Tls(Connections<CountingConnector<TlsConnector>>),
}

impl UpstreamClient {
    /// Builds the pool for a cluster, its connections not counted anywhere
    /// (health checks, tests).
    pub fn new(settings: &ClusterSettings) -> Self {
        Self::counted(settings, ConnectionMetrics::default())
    }

    /// Builds the pool for a cluster, counting its connections in `metrics`.
    pub fn counted(settings: &ClusterSettings, metrics: ConnectionMetrics) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(settings.connect_timeout));
        connector.set_nodelay(true);
        connector.enforce_http(true);
        let (protocol, version) = match settings.protocol {
            UpstreamProtocol::Http1 => (Protocol::Http1, http::Version::HTTP_11),
            // One h2 connection carries every request to an endpoint, and
            // dropping a timed-out request only resets its stream: the
            // connection itself stays in the pool even when the peer is
            // half-open. A PING unanswered within the connect timeout
            // closes it; idle connections are pinged too, so a dead one is
            // culled before a request picks it.
            UpstreamProtocol::Http2 => (
                Protocol::Http2 {
                    keepalive_interval: settings.http2_keepalive_interval,
                    keepalive_timeout: settings.connect_timeout,
                },
                http::Version::HTTP_2,
            ),
        };
        let limits = Limits {
            max_idle: settings.pool_max_idle_per_endpoint,
            max_idle_total: settings.pool_max_idle_per_cluster,
            idle_timeout: settings.pool_idle_timeout,
        };
        let pool = match &settings.tls {
            None => Pool::Plain(Connections::new(
                CountingConnector::new(connector, metrics),
                protocol,
                limits,
            )),
            Some(tls) => Pool::Tls(Connections::new(
                CountingConnector::new(
                    TlsConnector::new(
                        connector,
                        tls.client_config.get().clone(),
                        tls.sni.clone(),
                        settings.connect_timeout,
                        tls.handshake_timeout,
                    ),
                    metrics,
                ),
                protocol,
                limits,
            )),
        };
        Self { pool, version }
    }
}

impl UpstreamClient {
    /// True when a pool built for `a` serves `b` unchanged, so a reload can
    /// keep its warm connections.
    pub fn same_settings(a: &ClusterSettings, b: &ClusterSettings) -> bool {
        a.protocol == b.protocol
            && a.connect_timeout == b.connect_timeout
            && a.pool_idle_timeout == b.pool_idle_timeout
            && a.pool_max_idle_per_endpoint == b.pool_max_idle_per_endpoint
            && a.pool_max_idle_per_cluster == b.pool_max_idle_per_cluster
            && a.http2_keepalive_interval == b.http2_keepalive_interval
            // Equal only when built from the same certificate bytes: a
            // rotated file gets a new pool for new connections.
            && a.tls == b.tls
    }
}

impl tower::Service<Request> for UpstreamClient {
    type Response = Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // The pool checks out a connection per request; it is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        // The downstream version says nothing about the upstream hop; the
        // pool refuses an HTTP/2 request on an HTTP/1 connection.
        *req.version_mut() = self.version;
        match &self.pool {
            Pool::Plain(pool) => pool.request(req),
            Pool::Tls(pool) => pool.request(req),
        }
    }
}
