//! The TCP proxy's HTTP control API, on its own port so it is never subject
//! to the toxics it sets:
//!
//! - `GET /_proxy/toxics` → the current toxics
//! - `POST /_proxy/toxics` with [`ToxicFile`] JSON → replaces them
//! - `DELETE /_proxy/toxics` → none
//! - `GET /_proxy/stats` → `{"accepted": N, "open": M, "resets": R}`

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::Counters;
use super::toxics::{ToxicFile, Toxics};

/// Serves the control API forever (the caller aborts the task at exit).
pub async fn serve(listener: TcpListener, set: watch::Sender<Toxics>, counters: Arc<Counters>) {
    let set = Arc::new(set);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (set, counters) = (Arc::clone(&set), Arc::clone(&counters));
        let service = service_fn(move |req| {
            let (set, counters) = (Arc::clone(&set), Arc::clone(&counters));
            async move { Ok::<_, Infallible>(handle(req, &set, &counters).await) }
        });
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = conn.await {
                tracing::debug!(%error, "control connection failed");
            }
        });
    }
}

async fn handle(
    req: Request<Incoming>,
    set: &watch::Sender<Toxics>,
    counters: &Counters,
) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/_proxy/stats") => reply(
            StatusCode::OK,
            json!({
                "accepted": counters.accepted.load(Ordering::Relaxed),
                "open": counters.open.load(Ordering::Relaxed),
                "resets": counters.resets.load(Ordering::Relaxed),
            }),
        ),
        (&Method::GET, "/_proxy/toxics") => {
            reply(StatusCode::OK, json!({"toxics": set.borrow().describe()}))
        }
        (&Method::DELETE, "/_proxy/toxics") => {
            set.send_replace(Toxics::default());
            tracing::info!("toxics cleared");
            reply(StatusCode::OK, json!({"toxics": "none"}))
        }
        (&Method::POST, "/_proxy/toxics") => match read(req).await {
            Ok(toxics) => {
                let text = toxics.describe();
                tracing::info!(toxics = %text, "toxics set");
                set.send_replace(toxics);
                reply(StatusCode::OK, json!({"toxics": text}))
            }
            Err(error) => reply(StatusCode::BAD_REQUEST, json!({"error": error})),
        },
        _ => reply(
            StatusCode::NOT_FOUND,
            json!({"error": "no such control endpoint"}),
        ),
    }
}

async fn read(req: Request<Incoming>) -> Result<Toxics, String> {
    let bytes = Limited::new(req.into_body(), 64 * 1024)
        .collect()
        .await
        .map_err(|e| format!("reading the toxics: {e}"))?
        .to_bytes();
    let file: ToxicFile = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    file.validate()
}

fn reply(status: StatusCode, value: serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response
}
