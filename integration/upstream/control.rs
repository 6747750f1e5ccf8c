//! The control endpoints under `/_upstream/`. They are never subject to
//! faults and never counted, so a test can always read stats and undo a
//! fault, even while every normal request hangs.
//!
//! - `GET /_upstream/stats` → `{"requests": N, "in_flight": M, "serving": S}`
//!   (`serving`: holding a capacity slot; `in_flight - serving` are waiting)
//! - `GET /_upstream/config` → the current fault defaults
//! - `POST /_upstream/config` with [`FaultFile`] JSON → replaces them
//! - `DELETE /_upstream/config` → no faults

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use crate::body::UpstreamBody;
use crate::faults::{FaultFile, Faults};
use crate::state::State;

/// Prefix of every control path.
pub const PREFIX: &str = "/_upstream/";

/// Largest config document accepted.
const MAX_CONFIG_BYTES: usize = 64 * 1024;

/// Answers a request whose path starts with [`PREFIX`].
pub async fn handle(state: &State, req: Request<Incoming>) -> Response<UpstreamBody> {
    let path = req.uri().path().trim_start_matches(PREFIX);
    match (req.method(), path) {
        (&Method::GET, "stats") => {
            let (requests, in_flight) = state.counts();
            let serving = state.serving();
            json_response(
                StatusCode::OK,
                &json!({"requests": requests, "in_flight": in_flight, "serving": serving}),
            )
        }
        (&Method::GET, "config") => faults_response(&state.faults()),
        (&Method::POST | &Method::PUT, "config") => match read_faults(req).await {
            Ok(faults) => {
                tracing::info!(?faults, "fault defaults replaced");
                state.set_faults(faults.clone());
                faults_response(&faults)
            }
            Err(error) => json_response(StatusCode::BAD_REQUEST, &json!({"error": error})),
        },
        (&Method::DELETE, "config") => {
            tracing::info!("fault defaults reset");
            state.set_faults(Faults::default());
            faults_response(&Faults::default())
        }
        (_, "stats" | "config") => json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"error": "method not allowed"}),
        ),
        _ => json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": "no such control endpoint"}),
        ),
    }
}

async fn read_faults(req: Request<Incoming>) -> Result<Faults, String> {
    let bytes = Limited::new(req.into_body(), MAX_CONFIG_BYTES)
        .collect()
        .await
        .map_err(|e| format!("reading the config: {e}"))?
        .to_bytes();
    let file: FaultFile = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    file.validate()
}

fn faults_response(faults: &Faults) -> Response<UpstreamBody> {
    match serde_json::to_value(faults) {
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(e) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"error": e.to_string()}),
        ),
    }
}

/// A JSON response with the given status.
pub fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<UpstreamBody> {
    let mut response = Response::new(UpstreamBody::full(value.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
