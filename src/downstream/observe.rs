//! What a request leaves behind: its metrics and its access log line,
//! including for a request the client abandoned.
//!
//! A request is *pending* from its arrival until its response headers are
//! ready. If its handler future is dropped before that (the client closed
//! the connection or reset the stream while seawall waited on the
//! upstream), the [`Pending`] guard's drop counts it in
//! `seawall_requests_total` with reason `client-gone` and status 499 (the
//! code nginx logs for a client that closed its request), and writes its
//! access log line, so such requests never vanish from the numbers.

use std::sync::Arc;

use http::header::HeaderValue;
use http::{Method, StatusCode, Uri, Version};
use tokio::time::Instant;

use crate::routing::Route;
use crate::snapshot::{RouteTarget, Snapshot};
use crate::wire::body::Response;
use crate::wire::headers;
use crate::wire::reason::{ERROR_HEADER, Rescue};

/// The reason code of a request its client abandoned.
pub const CLIENT_GONE: &str = "client-gone";

/// The status logged and counted for a request its client abandoned.
const CLIENT_GONE_STATUS: u16 = 499;

/// What the access log and the answer need of the downstream request.
pub(super) struct Exchange {
    pub(super) start: Instant,
    pub(super) method: Method,
    pub(super) version: Version,
    pub(super) uri: Uri,
    pub(super) request_id: HeaderValue,
    pub(super) traceparent: Option<HeaderValue>,
}

/// Where a request came in.
pub(super) struct Origin {
    pub(super) listener: Arc<str>,
    pub(super) remote: std::net::SocketAddr,
}

/// A request not yet answered (see the module docs).
pub(super) struct Pending {
    snapshot: Arc<Snapshot>,
    origin: Origin,
    route: Option<Arc<Route<RouteTarget>>>,
    exchange: Option<Exchange>,
}

impl Pending {
    pub(super) fn new(
        snapshot: Arc<Snapshot>,
        origin: Origin,
        route: Option<Arc<Route<RouteTarget>>>,
        exchange: Exchange,
    ) -> Self {
        Self {
            snapshot,
            origin,
            route,
            exchange: Some(exchange),
        }
    }

    /// The answer's last touches, its metrics and its access log line.
    pub(super) fn finish(
        &mut self,
        forwarded: Result<(Response, Arc<Route<RouteTarget>>), Rescue>,
    ) -> Response {
        let (mut rsp, route) = match forwarded {
            Ok((rsp, route)) => (rsp, Some(route)),
            Err(refused) => (refused.response(), None),
        };
        let Some(log) = self.exchange.take() else {
            return rsp;
        };
        // The upstream hop's version says nothing about the downstream one.
        // An HTTP/1.0 client is answered as HTTP/1.1 on purpose: hyper
        // writes `HTTP/1.0` for such a peer either way, and only for a 1.1
        // response does it keep a `Connection: keep-alive` connection open
        // (and say so); a 1.0 response makes it close after every request.
        *rsp.version_mut() = match log.version {
            Version::HTTP_10 => Version::HTTP_11,
            v => v,
        };
        let status = rsp.status();
        let reason = headers::find(rsp.headers(), &ERROR_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        rsp.headers_mut()
            .insert(headers::REQUEST_ID, log.request_id.clone());
        self.record(route.as_deref(), &log, status, &reason);
        rsp
    }

    /// Counts and logs one answer of `status` with seawall's `reason`.
    fn record(
        &self,
        route: Option<&Route<RouteTarget>>,
        log: &Exchange,
        status: StatusCode,
        reason: &str,
    ) {
        let elapsed = log.start.elapsed().as_secs_f64();
        let route_metrics = route.map(|r| &r.target.metrics);
        if reason.is_empty() {
            if let Some(m) = route_metrics {
                m.answered(status.as_u16(), elapsed);
            }
        } else {
            self.snapshot.metrics.refused(
                route_metrics.map(|m| &m.labels),
                &self.origin.listener,
                status.as_u16(),
                reason,
            );
            if let Some(m) = route_metrics {
                m.observe(elapsed);
            }
        }
        if !self.snapshot.config.log.access_log {
            return;
        }
        let (route, cluster) = match route {
            Some(r) => (r.settings.name.as_str(), r.settings.cluster.as_str()),
            None => ("-", "-"),
        };
        tracing::info!(
            target: "seawall::access",
            listener = &*self.origin.listener,
            client = %self.origin.remote,
            method = %log.method,
            path = log.uri.path(),
            route,
            cluster,
            status = status.as_u16(),
            reason = %reason,
            duration_ms = (elapsed * 1e6).round() / 1e3,
            request_id = log.request_id.to_str().unwrap_or("-"),
            traceparent = log.traceparent.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-"),
            "request"
        );
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let Some(log) = self.exchange.take() else {
            return;
        };
        // Unanswered: the client went away before the response headers.
        let gone = StatusCode::from_u16(CLIENT_GONE_STATUS).unwrap_or(StatusCode::BAD_REQUEST);
        self.record(self.route.clone().as_deref(), &log, gone, CLIENT_GONE);
    }
}
