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
//!
//! An answered request's line ([`AccessLine`]) is written when its
//! response body is done (it rides in the body's guard), so it carries
//! the bytes sent; its `duration_ms` is still the time to the response
//! headers, the figure `seawall_request_duration_seconds` measures.
//!
//! A gRPC call's outcome is its `grpc-status`, known only when it ends:
//! [`GrpcEnd`] rides with the response body and counts it once in
//! `seawall_grpc_responses_total` (and puts it on the access log line).

use std::sync::Arc;

use http::header::HeaderValue;
use http::{Method, StatusCode, Uri, Version};
use tokio::time::Instant;

use crate::routing::Route;
use crate::snapshot::{RouteTarget, Snapshot};
use crate::telemetry::grpc::status_label;
use crate::wire::body::Response;
use crate::wire::grpc::{self, CANCELLED};
use crate::wire::headers;
use crate::wire::reason::{ERROR_HEADER, Rescue};
use crate::wire::trail::Trail;

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
#[derive(Clone)]
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
    trail: Option<Trail>,
}

impl Pending {
    pub(super) fn new(
        snapshot: Arc<Snapshot>,
        origin: Origin,
        route: Option<Arc<Route<RouteTarget>>>,
        exchange: Exchange,
        trail: Option<Trail>,
    ) -> Self {
        Self {
            snapshot,
            origin,
            route,
            exchange: Some(exchange),
            trail,
        }
    }

    /// The answer's last touches and its metrics; the access log line (when
    /// the log is on) is returned, to be dropped, and so written, with the
    /// response body.
    pub(super) fn finish(
        &mut self,
        forwarded: Result<(Response, Arc<Route<RouteTarget>>), Rescue>,
        grpc: bool,
    ) -> (Response, Option<AccessLine>) {
        let (mut rsp, route) = match forwarded {
            Ok((rsp, route)) => (rsp, Some(route)),
            Err(refused) => (super::rescue::answer(refused, grpc), None),
        };
        let Some(log) = self.exchange.take() else {
            return (rsp, None);
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
        let line = self.record(route, log, status, reason);
        (rsp, line)
    }

    /// Counts one answer of `status` with seawall's `reason`; its access
    /// log line, when the log is on.
    fn record(
        &self,
        route: Option<Arc<Route<RouteTarget>>>,
        log: Exchange,
        status: StatusCode,
        reason: String,
    ) -> Option<AccessLine> {
        let elapsed = log.start.elapsed().as_secs_f64();
        let route_metrics = route.as_ref().map(|r| &r.target.metrics);
        if reason.is_empty() {
            if let Some(m) = route_metrics {
                m.answered(status.as_u16(), elapsed);
            }
        } else {
            self.snapshot.metrics.refused(
                route_metrics.map(|m| &m.labels),
                &self.origin.listener,
                status.as_u16(),
                &reason,
            );
            if let Some(m) = route_metrics {
                m.observe(elapsed);
            }
        }
        self.snapshot.config.log.access_log.then(|| AccessLine {
            origin: self.origin.clone(),
            exchange: log,
            route,
            status: status.as_u16(),
            reason,
            elapsed,
            trail: self.trail.clone(),
        })
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let Some(log) = self.exchange.take() else {
            return;
        };
        // Unanswered: the client went away before the response headers.
        let gone = StatusCode::from_u16(CLIENT_GONE_STATUS).unwrap_or(StatusCode::BAD_REQUEST);
        // The line, if any, is written here, as it drops.
        drop(self.record(self.route.clone(), log, gone, CLIENT_GONE.to_owned()));
    }
}

/// One access log line, written when it is dropped: with the response
/// body, so the bytes sent are known, or at once for an abandoned request.
///
/// Every line has the listener, client, method, path, route, cluster,
/// status, reason code (empty for an upstream's answer), the time to the
/// response headers in ms, request body bytes read (`bytes_in`), response
/// body bytes sent (`bytes_out`), the last attempt's upstream `endpoint`
/// (`-` when none was reached), the `attempts` that reached one, the
/// request id and the `traceparent`; in JSON the numbers are numbers. A
/// gRPC call's line also has its `grpc_status` (a code name, `-` for other
/// requests).
pub(super) struct AccessLine {
    origin: Origin,
    exchange: Exchange,
    route: Option<Arc<Route<RouteTarget>>>,
    status: u16,
    reason: String,
    elapsed: f64,
    trail: Option<Trail>,
}

impl Drop for AccessLine {
    fn drop(&mut self) {
        let (route, cluster) = match &self.route {
            Some(r) => (r.settings.name.as_str(), r.settings.cluster.as_str()),
            None => ("-", "-"),
        };
        let trail = self.trail.as_ref();
        let endpoint = trail.and_then(Trail::endpoint);
        let log = &self.exchange;
        tracing::info!(
            target: "seawall::access",
            listener = &*self.origin.listener,
            client = %self.origin.remote,
            method = %log.method,
            path = log.uri.path(),
            route,
            cluster,
            status = self.status,
            reason = %self.reason,
            duration_ms = (self.elapsed * 1e6).round() / 1e3,
            bytes_in = trail.map_or(0, Trail::bytes_in),
            bytes_out = trail.map_or(0, Trail::bytes_out),
            endpoint = %endpoint.map_or_else(|| "-".to_owned(), |e| e.to_string()),
            attempts = trail.map_or(0, Trail::attempts),
            grpc_status = trail
                .and_then(Trail::grpc_status)
                .map_or("-", |s| status_label(Some(s))),
            request_id = log.request_id.to_str().unwrap_or("-"),
            traceparent = log.traceparent.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-"),
            "request"
        );
    }
}

/// A gRPC call's status, counted once when it is known (see the module
/// docs): from trailers-only response headers at once, else from the
/// trailers; a body that ends without them counts as `none`, and one
/// dropped unfinished (the client went away) as `cancelled`.
pub(super) struct GrpcEnd {
    route: Option<Arc<Route<RouteTarget>>>,
    trail: Option<Trail>,
    counted: bool,
}

impl GrpcEnd {
    /// Watches the answer to a gRPC call on `route` whose response
    /// headers are `head`.
    pub(super) fn new(
        route: Option<Arc<Route<RouteTarget>>>,
        trail: Option<Trail>,
        head: &http::HeaderMap,
    ) -> Self {
        let mut end = Self {
            route,
            trail,
            counted: false,
        };
        if let Some(status) = grpc::status(head) {
            end.count(Some(status));
        }
        end
    }

    /// The body's trailers went by.
    pub(super) fn trailers(&mut self, trailers: &http::HeaderMap) {
        self.count(Some(grpc::status(trailers).unwrap_or(grpc::UNKNOWN)));
    }

    /// The body ended.
    pub(super) fn ended(&mut self) {
        self.count(None);
    }

    fn count(&mut self, status: Option<u32>) {
        if std::mem::replace(&mut self.counted, true) {
            return;
        }
        if let Some(route) = &self.route {
            route.target.metrics.grpc_ended(status);
        }
        if let (Some(trail), Some(status)) = (&self.trail, status) {
            trail.grpc_ended(status);
        }
    }
}

impl Drop for GrpcEnd {
    fn drop(&mut self) {
        self.count(Some(CANCELLED));
    }
}
