//! The downstream request handler: check, route, forward, rescue, log.
//!
//! This is the outermost part of the request path. It loads the snapshot
//! once, refuses what must not be forwarded (bad Host, oversized body or
//! target, CONNECT, no route), reads the start of the body before
//! admission ([`prebuffer`]), prepares the request for the next hop
//! (hop-by-hop headers out, `X-Forwarded-*`, `Via`, `x-request-id` in),
//! calls the route stack, turns any error into exactly one response via
//! [`rescue`], counts and logs the answer (or the client's abandoning
//! it: `observe.rs`), and watches the response body for a cut ([`cut`]).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::Either;
use http::header::{self, HeaderValue};
use http::{Method, StatusCode, Version};
use http_body_util::Limited;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use tokio::time::Instant;
use tower::Service;
use tracing::Instrument;

use super::activity::Activity;
use super::cut;
use super::hygiene;
use super::observe::{Exchange, GrpcEnd, Origin, Pending};
use super::prebuffer;
use super::rescue;
use super::tunnel;
use crate::config::{RouteSettings, ServerLimits};
use crate::middleware::Priority;
use crate::routing::Route;
use crate::snapshot::{RouteTarget, Shared};
use crate::stack::RouteService;
use crate::wire::body::{self, Response};
use crate::wire::headers;
use crate::wire::reason::{ERROR_HEADER, PRIORITY_HEADER, Rescue};
use crate::wire::trail::Trail;

/// Per-connection state of the handler (cloned per request).
#[derive(Clone, Debug)]
pub struct Proxy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Shared,
    listener: Arc<str>,
    remote: SocketAddr,
    /// `remote`'s IP as an `X-Forwarded-For` element, made once.
    client: HeaderValue,
    scheme: &'static str,
    activity: Arc<Activity>,
}

impl Proxy {
    /// Handler for one downstream connection of `listener`.
    pub fn new(
        shared: Shared,
        listener: String,
        remote: SocketAddr,
        activity: Arc<Activity>,
    ) -> Self {
        Self::with_scheme(shared, listener, remote, activity, "http")
    }

    /// Like [`Proxy::new`], for a connection that arrived with `scheme`
    /// (`https` on a TLS listener), as sent in `X-Forwarded-Proto`.
    pub fn with_scheme(
        shared: Shared,
        listener: String,
        remote: SocketAddr,
        activity: Arc<Activity>,
        scheme: &'static str,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                shared,
                listener: listener.into(),
                remote,
                client: headers::client_value(remote.ip()),
                scheme,
                activity,
            }),
        }
    }

    /// Handles one request; never fails (errors become responses).
    ///
    /// Everything up to the first await (checks, routing, header rewrites)
    /// runs here, and only what must wait is a future: hyper keeps it in a
    /// box per connection, so its size is memory every connection holds
    /// and bytes copied for every request.
    pub fn handle(
        self,
        mut req: http::Request<Incoming>,
    ) -> impl Future<Output = Result<Response, Infallible>> + Send + 'static {
        let start = Instant::now();
        let mut busy = self.inner.activity.begin();
        if http_body::Body::is_end_stream(req.body()) {
            busy.body_read();
        }
        let snapshot = self.inner.shared.load_full();
        let method = req.method().clone();
        let version = req.version();
        let grpc = rescue::is_grpc_call(req.headers(), version);
        let request_id = headers::ensure_request_id(req.headers_mut());
        let traceparent = headers::find(req.headers(), &headers::TRACEPARENT).cloned();
        // The OTLP server span, when tracing is on (boxed: this future's
        // size is memory every connection holds).
        let mut traced = snapshot
            .tracing
            .as_ref()
            .map(|t| Box::new(t.request(req.headers(), &method, req.uri().path())));
        // One span per request; the route stack's events nest inside it.
        let span = tracing::debug_span!(
            "request",
            request_id = request_id.to_str().unwrap_or("-"),
            route = tracing::field::Empty,
            cluster = tracing::field::Empty,
            attempt = tracing::field::Empty,
        );
        let exchange = Exchange {
            start,
            method,
            version,
            uri: req.uri().clone(),
            request_id,
            traceparent,
        };
        // The rest is a `map` over the send rather than an `async` block:
        // a block would hold the send future twice (as captured, and as
        // awaited), and this future lives in every connection's task.
        // Only the access log reads the trail: none is made without it.
        let trail = snapshot.config.log.access_log.then(Trail::default);
        let (sending, route) = match self.prepare(&snapshot, req, start, &span, trail.clone()) {
            Ok(mut prepared) => {
                let route = prepared.route.clone();
                if let Some(traced) = &traced {
                    traced.routed(&route.settings.name, &route.settings.cluster);
                    prepared.parts.extensions.insert(traced.parent());
                }
                (
                    Either::Left(prepared.send(grpc).instrument(span)),
                    Some(route),
                )
            }
            Err(refused) => (Either::Right(std::future::ready(Err(refused))), None),
        };
        // Dropped unanswered, it counts and logs the request as abandoned.
        let origin = Origin {
            listener: self.inner.listener.clone(),
            remote: self.inner.remote,
        };
        // A gRPC call's status is counted on its route, refused or not.
        let matched = if grpc { route.clone() } else { None };
        let mut pending = Pending::new(snapshot, origin, route, exchange, trail.clone());
        sending.map(move |forwarded| {
            let route = forwarded.as_ref().ok().map(|(_, route)| route.clone());
            let (rsp, line) = pending.finish(forwarded, grpc);
            busy.answered();
            let status = grpc.then(|| GrpcEnd::new(matched, trail.clone(), rsp.headers()));
            if let Some(traced) = traced.as_mut() {
                let reason = headers::find(rsp.headers(), &ERROR_HEADER);
                let reason = reason.and_then(|v| v.to_str().ok()).unwrap_or("");
                traced.answered(rsp.status().as_u16(), reason);
            }
            // The connection stays busy (not idle) until the body is sent,
            // and the access log line is written and the span ended when
            // it is.
            let guard = (busy, line, traced);
            Ok(rsp.map(|b| {
                let watched = cut::Watched::new(b, route, grpc, guard);
                body::boxed(watched.counting(trail).reporting(status))
            }))
        })
    }

    /// Checks, routes and rewrites the request, which arrived at `arrival`,
    /// for the next hop; `Err` is an early local refusal.
    fn prepare(
        &self,
        snapshot: &crate::snapshot::Snapshot,
        mut req: http::Request<Incoming>,
        arrival: Instant,
        span: &tracing::Span,
        trail: Option<Trail>,
    ) -> Result<Prepared, Rescue> {
        if req.method() == Method::CONNECT {
            return Err(Rescue::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "connect-refused",
            ));
        }
        let Some(listener) = snapshot
            .config
            .listeners
            .iter()
            .find(|l| *l.name == *self.inner.listener)
        else {
            return Err(Rescue::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "listener-removed",
            ));
        };
        hygiene::check_target(req.uri(), listener.limits.max_uri_bytes)?;
        hygiene::check_framing(&req)?;
        hygiene::check_h2_fields(&req)?;
        let host = hygiene::request_host(&req)?;
        let max_body = listener.limits.max_body_bytes;
        if hygiene::content_length(&req).is_some_and(|len| len > max_body) {
            return Err(Rescue::new(StatusCode::PAYLOAD_TOO_LARGE, "body-too-large"));
        }
        let table = snapshot
            .listeners
            .get(&*self.inner.listener)
            .ok_or(Rescue::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "listener-removed",
            ))?;
        let route = table
            .find(&host, req.uri().path(), req.method())
            .ok_or(Rescue::new(StatusCode::NOT_FOUND, "no-route"))?
            .clone();
        span.record("route", route.settings.name.as_str());
        span.record("cluster", route.settings.cluster.as_str());

        let tunnel = req.version() == Version::HTTP_11 && headers::is_tunnel_upgrade(req.headers());
        let downstream_upgrade = tunnel.then(|| hyper::upgrade::on(&mut req));
        let (mut parts, incoming) = req.into_parts();
        if !headers::has_any(&parts.headers, &[header::HOST]) {
            // HTTP/2 carries the host in :authority; an HTTP/1 upstream needs Host.
            if let Some(auth) = parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            {
                parts.headers.insert(header::HOST, auth);
            }
        }
        headers::strip_hop_by_hop(&mut parts.headers, tunnel);
        headers::add_forwarded(
            &mut parts.headers,
            &self.inner.client,
            self.inner.scheme,
            host,
        );
        headers::add_via(&mut parts.headers, parts.version);
        let priority = priority(&route.settings, &parts.headers, &listener.limits);
        if priority != Priority::Default {
            // Absent means default: the common case inserts nothing.
            parts.extensions.insert(priority);
        }
        if let Some(trail) = &trail {
            parts.extensions.insert(trail.clone());
        }
        Ok(Prepared {
            parts,
            incoming,
            route,
            limits: listener.limits.clone(),
            arrival,
            downstream_upgrade,
            trail,
        })
    }
}

/// The request's priority: its `x-seawall-priority` header when the
/// listener trusts it and it names one, else the route's.
fn priority(route: &RouteSettings, headers: &http::HeaderMap, limits: &ServerLimits) -> Priority {
    limits
        .trust_priority_header
        .then(|| headers.get(PRIORITY_HEADER))
        .flatten()
        .and_then(|v| Priority::parse(v.as_bytes()))
        .unwrap_or_else(|| route.priority.into())
}

/// A request checked, routed and rewritten, ready for its route stack.
struct Prepared {
    parts: http::request::Parts,
    incoming: Incoming,
    route: Arc<Route<RouteTarget>>,
    limits: ServerLimits,
    arrival: Instant,
    downstream_upgrade: Option<OnUpgrade>,
    trail: Option<Trail>,
}

impl Prepared {
    /// Reads the start of the body, then sends the request through the
    /// route stack and turns a failure into its response (in gRPC's terms
    /// for a `grpc` call ended by a timeout).
    ///
    /// Taken apart before the `async move` block, so each field is held
    /// once (an `async fn` would hold `self` and then its fields again).
    fn send(
        self,
        grpc: bool,
    ) -> impl Future<Output = Result<(Response, Arc<Route<RouteTarget>>), Rescue>> {
        let Prepared {
            mut parts,
            incoming,
            route,
            limits,
            arrival,
            downstream_upgrade,
            trail,
        } = self;
        async move {
            // Read the start of the body before taking an admission slot.
            let incoming =
                prebuffer::ahead_of_admission(&mut parts, incoming, &route, &limits, arrival)
                    .await?;
            let limited = Limited::new(
                incoming,
                usize::try_from(limits.max_body_bytes).unwrap_or(usize::MAX),
            );
            let body = match &trail {
                Some(trail) => body::boxed(trail.count_in(limited)),
                None => body::boxed(limited),
            };
            let result = call(
                route.target.service.clone(),
                http::Request::from_parts(parts, body),
            )
            .await;
            let mut rsp = match result {
                Ok(rsp) => rsp,
                Err(err) => {
                    let rescue = rescue::classify(&err);
                    tracing::debug!(route = %route.settings.name, reason = rescue.reason, error = %err, "request failed");
                    rescue::answer(rescue, grpc)
                }
            };
            match downstream_upgrade {
                Some(down) if rsp.status() == StatusCode::SWITCHING_PROTOCOLS => {
                    tunnel::spawn(down, hyper::upgrade::on(&mut rsp));
                    headers::strip_hop_by_hop(rsp.headers_mut(), true);
                }
                _ => headers::strip_hop_by_hop(rsp.headers_mut(), false),
            }
            Ok((rsp, route))
        }
    }
}

/// Drives one request through a route stack. Spelled out (rather than
/// `ServiceExt::oneshot`) because the generic `Oneshot` future trips the
/// compiler's higher-ranked `Send` inference inside hyper's executor bounds;
/// not an `async fn`, which would hold the request twice.
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn would keep the request in its state twice"
)]
fn call(
    mut svc: RouteService,
    req: crate::wire::body::Request,
) -> impl Future<Output = Result<Response, crate::wire::BoxError>> {
    async move {
        std::future::poll_fn(|cx| svc.poll_ready(cx)).await?;
        svc.call(req).await
    }
}
