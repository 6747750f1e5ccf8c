//! Answers normal (non-control) requests: resolves the behaviour, waits for a
//! capacity slot, counts the request body without keeping it, waits, and
//! replies with the JSON echo or a generated body. Every answer names the
//! replica in `x-upstream-name`, so a load driver can count each replica's
//! share without parsing bodies.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_TYPE, HeaderValue, TRAILER};
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode, Version};
use serde_json::json;

use crate::behaviour::Behaviour;
use crate::body::{self, UpstreamBody};
use crate::control;
use crate::query::Query;
use crate::state::State;
use crate::upgrade;

/// The service function behind every connection.
pub async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<UpstreamBody>, Infallible> {
    if req.uri().path().starts_with(control::PREFIX) {
        return Ok(control::handle(&state, req).await);
    }
    let mut in_flight = state.begin();
    let query = match Query::parse(req.uri().query()) {
        Ok(query) => query,
        Err(error) => return Ok(bad_request(&error)),
    };
    let behaviour = Behaviour::resolve(query, &state.faults(), fastrand::f64());
    tracing::debug!(method = %req.method(), uri = %req.uri(), ?behaviour, "request");
    state.serve(&mut in_flight).await;

    if behaviour.hang {
        // Holds `in_flight` until the client gives up and hyper drops us.
        return std::future::pending().await;
    }
    if upgrade::requested(&req) && behaviour.status == StatusCode::OK {
        tokio::time::sleep(behaviour.delay).await;
        let mut response = upgrade::accept(req, in_flight);
        add_headers(&mut response, &behaviour, Version::HTTP_11);
        return Ok(response);
    }

    let (parts, body) = req.into_parts();
    let body_bytes = match count(body).await {
        Ok(n) => n,
        Err(error) => return Ok(bad_request(&format!("reading the request body: {error}"))),
    };
    tokio::time::sleep(behaviour.delay).await;
    if let Some(caller) = &state.caller {
        return Ok(relay(&state, caller, &parts, &behaviour).await);
    }

    let grpc = is_grpc(&parts)
        .then(|| state.faults().grpc_for(fastrand::f64()))
        .flatten();
    if let Some(code) = grpc {
        return Ok(grpc_answer(&state, code, &behaviour, in_flight));
    }
    let (reply, content_type) = match behaviour.body_bytes {
        Some(len) => (
            UpstreamBody::generated(len, behaviour.chunk_delay),
            "application/octet-stream",
        ),
        None => (
            UpstreamBody::full(echo(&state.name, &parts, body_bytes).to_string()),
            "application/json",
        ),
    };
    let reply = if behaviour.trailers {
        reply.with_trailers()
    } else {
        reply
    };
    let reply = if behaviour.reset {
        reply.with_reset()
    } else {
        reply
    };
    let mut response = Response::new(reply.tracking(in_flight));
    *response.status_mut() = behaviour.status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if behaviour.trailers {
        // hyper's HTTP/1 encoder only sends trailer fields declared here.
        headers.insert(TRAILER, HeaderValue::from_static(body::TRAILER_NAMES));
    }
    add_headers(&mut response, &behaviour, parts.version);
    if let Ok(name) = HeaderValue::from_str(&state.name) {
        response.headers_mut().insert("x-upstream-name", name);
    }
    Ok(response)
}

fn is_grpc(parts: &Parts) -> bool {
    parts
        .headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// A gRPC call under a gRPC fault: HTTP 200 whatever the code; a failure
/// in a trailers-only answer, or (`grpc_streamed`, and every success) in
/// the trailers after a body.
fn grpc_answer(
    state: &State,
    code: u32,
    behaviour: &Behaviour,
    in_flight: crate::state::InFlight,
) -> Response<UpstreamBody> {
    let streamed = code == 0 || state.faults().grpc_streamed;
    let reply = if streamed {
        let data = match behaviour.body_bytes {
            Some(len) => UpstreamBody::generated(len, behaviour.chunk_delay),
            None => UpstreamBody::full(&b"\0\0\0\0\0"[..]),
        };
        data.with_grpc_status(code)
    } else {
        UpstreamBody::empty()
    };
    let mut response = Response::new(reply.tracking(in_flight));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    if !streamed {
        headers.insert("grpc-status", HeaderValue::from(code));
    }
    if let Ok(name) = HeaderValue::from_str(&state.name) {
        headers.insert("x-upstream-name", name);
    }
    for (name, value) in &behaviour.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

/// Middle-hop mode: the next hop's status, unless this replica is told to
/// fail by itself (a fault status wins, as a failing service would).
async fn relay(
    state: &State,
    caller: &crate::call::Caller,
    parts: &Parts,
    behaviour: &Behaviour,
) -> Response<UpstreamBody> {
    let mut response = if behaviour.status != StatusCode::OK {
        Response::new(UpstreamBody::empty())
    } else {
        match caller.call(parts).await {
            Ok((status, no_retry)) => {
                let mut response = Response::new(UpstreamBody::empty());
                *response.status_mut() = status;
                if let Some(mark) = no_retry {
                    response.headers_mut().insert(crate::call::NO_RETRY, mark);
                }
                response
            }
            Err(error) => {
                tracing::debug!(%error, "call failed");
                let mut response = Response::new(UpstreamBody::empty());
                *response.status_mut() = StatusCode::BAD_GATEWAY;
                response
                    .headers_mut()
                    .insert("x-upstream-error", crate::call::failed());
                response
            }
        }
    };
    if behaviour.status != StatusCode::OK {
        *response.status_mut() = behaviour.status;
    }
    if let Ok(name) = HeaderValue::from_str(&state.name) {
        response.headers_mut().insert("x-upstream-name", name);
    }
    response
}

/// Reads the body to its end, keeping only the count: tests upload tens of
/// megabytes and the upstream must not hold them.
async fn count(mut body: Incoming) -> Result<u64, hyper::Error> {
    let mut n = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            n += data.len() as u64;
        }
    }
    Ok(n)
}

/// The JSON echo of what the upstream received.
fn echo(name: &str, parts: &Parts, body_bytes: u64) -> serde_json::Value {
    let mut headers: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (header, value) in &parts.headers {
        headers
            .entry(header.as_str())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    json!({
        "upstream": name,
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "version": format!("{:?}", parts.version),
        "headers": headers,
        "body_bytes": body_bytes,
    })
}

fn add_headers(response: &mut Response<UpstreamBody>, behaviour: &Behaviour, version: Version) {
    let headers = response.headers_mut();
    for (name, value) in &behaviour.headers {
        headers.append(name.clone(), value.clone());
    }
    // HTTP/2 forbids connection-specific headers.
    if behaviour.close && version < Version::HTTP_2 {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
}

fn bad_request(error: &str) -> Response<UpstreamBody> {
    let mut response = control::json_response(StatusCode::BAD_REQUEST, &json!({"error": error}));
    response
        .headers_mut()
        .insert("x-upstream-error", HeaderValue::from_static("bad-request"));
    response
}
