//! The admin listener: `GET /` (the list), `/live`, `/ready`, `/metrics`,
//! `/config`, `/clusters`, `/log-level`, `POST /reload`,
//! `POST /clusters/<name>/breaker?mode=...` (see `admin/clusters.rs`),
//! `POST /log-level` and `POST /drain` (see `admin/control.rs`).
//!
//! Separate from the data listeners so probes and operators are never
//! queued behind user traffic, and bound to loopback unless configured
//! otherwise (it shows the effective config). Methods that change state
//! pass [`auth::authorize`] first (a bearer token, when configured).

mod clusters;
mod collect;
mod control;

pub use collect::StateCollector;

use std::convert::Infallible;
use std::sync::Arc;

use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub mod auth;
pub mod probe;

use crate::downstream::Listeners;
use crate::reload::{Outcome, ReloadHandle};
use crate::snapshot::Shared;
use crate::telemetry::exposition;
use crate::wire::body::{self, Body};

/// What the admin endpoints read.
#[derive(Debug, Clone)]
pub struct AdminState {
    /// The current snapshot.
    pub shared: Shared,
    /// The bound data listeners.
    pub listeners: Arc<Listeners>,
    /// The reload writer task.
    pub reload: ReloadHandle,
    /// Cancelled when a drain starts: `/ready` answers 503 from then on,
    /// while the admin listener keeps serving probes and scrapes.
    pub draining: CancellationToken,
    /// Cancelled by `POST /drain`: asks the process to drain and exit, as
    /// SIGTERM does.
    pub stop: CancellationToken,
}

/// Serves the admin API until `shutdown` fires.
pub async fn serve(listener: TcpListener, state: AdminState, shutdown: CancellationToken) {
    if let Ok(address) = listener.local_addr() {
        let config = state.shared.load();
        if auth::exposed_without_token(address, config.config.admin.token.as_ref()) {
            tracing::warn!(%address, "admin API reachable from other hosts without a token; set admin.token_file or admin.token_env");
        }
    }
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(10));
    let builder = Arc::new(builder);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::debug!(error = %e, "admin accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let (builder, state) = (builder.clone(), state.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, req).await) }
            });
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(state: &AdminState, req: Request<Incoming>) -> Response<Body> {
    // State-changing requests need the admin token when one is configured.
    if !auth::is_read_only(req.method()) {
        let snapshot = state.shared.load();
        if let Err(refused) = auth::authorize(req.headers(), snapshot.config.admin.token.as_ref()) {
            return refused;
        }
    }
    if req.method() == Method::POST
        && let Some(rest) = req.uri().path().strip_prefix("/clusters/")
    {
        let (status, doc) = clusters::set_breaker(&state.shared.load(), rest, req.uri().query());
        return json(status, &doc);
    }
    if req.uri().path() == "/reload" {
        if req.method() != Method::POST {
            return text(StatusCode::METHOD_NOT_ALLOWED, "use POST\n".into());
        }
        let outcome = state.reload.reload().await;
        let status = match outcome {
            Outcome::Rejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::OK,
        };
        return json(status, &serde_json::json!(outcome));
    }
    if req.method() == Method::POST {
        match req.uri().path() {
            "/drain" => {
                if !state.stop.is_cancelled() {
                    tracing::info!("drain requested through the admin API");
                }
                state.stop.cancel();
                return json(
                    StatusCode::ACCEPTED,
                    &serde_json::json!({ "draining": true }),
                );
            }
            "/log-level" => {
                let (status, doc) = control::set_log_level(req.uri().query());
                return json(status, &doc);
            }
            _ => {}
        }
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed\n".into(),
        );
    }
    match req.uri().path() {
        "/metrics" => metrics(state, req.headers()),
        "/" => json(StatusCode::OK, &control::index()),
        "/log-level" => {
            let (status, doc) = control::log_level();
            json(status, &doc)
        }
        "/live" => text(StatusCode::OK, "live\n".into()),
        "/ready" => ready(state),
        "/config" => {
            let snapshot = state.shared.load();
            let doc = serde_json::json!({
                "generation": snapshot.generation,
                "config": &*snapshot.config,
                "reload": state.reload.status().to_json(),
            });
            json(StatusCode::OK, &doc)
        }
        "/clusters" => json(StatusCode::OK, &clusters::list(&state.shared.load())),
        _ => text(StatusCode::NOT_FOUND, "not found\n".into()),
    }
}

/// Ready when every configured listener is bound and no drain has started:
/// seawall's own readiness. A cluster without endpoints is reported in the
/// body but does not make seawall unready: taking this pod out of its
/// Service because a dependency is down is the cascade seawall exists to
/// stop.
fn ready(state: &AdminState) -> Response<Body> {
    let snapshot = state.shared.load();
    let bound_names = state.listeners.addresses();
    let bound = snapshot
        .config
        .listeners
        .iter()
        .all(|l| bound_names.iter().any(|(n, _)| *n == l.name));
    let empty: Vec<&str> = snapshot
        .clusters
        .iter()
        .filter(|(_, c)| c.endpoints.is_empty())
        .map(|(name, _)| name.as_str())
        .collect();
    let draining = state.draining.is_cancelled();
    let ok = bound && !draining;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(
        status,
        &serde_json::json!({
            "ready": ok,
            "listeners_bound": bound,
            "draining": draining,
            "clusters_without_endpoints": empty,
        }),
    )
}

/// The metrics in OpenMetrics when the scraper asks for it (Prometheus
/// does), else in the Prometheus text format (see
/// [`exposition`](crate::telemetry::exposition)).
fn metrics(state: &AdminState, headers: &http::HeaderMap) -> Response<Body> {
    let accept = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let openmetrics = state.shared.load().metrics.encode();
    let (body, kind) = if exposition::wants_openmetrics(accept) {
        (openmetrics, exposition::OPENMETRICS_CONTENT_TYPE)
    } else {
        (
            exposition::to_text(&openmetrics),
            exposition::TEXT_CONTENT_TYPE,
        )
    };
    let mut rsp = text(StatusCode::OK, body);
    rsp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    rsp
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut rsp = Response::new(body::full(body));
    *rsp.status_mut() = status;
    rsp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    rsp
}

fn json(status: StatusCode, doc: &serde_json::Value) -> Response<Body> {
    let mut rsp = Response::new(body::full(doc.to_string() + "\n"));
    *rsp.status_mut() = status;
    rsp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    rsp
}
