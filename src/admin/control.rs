//! The admin index (`GET /`), the runtime log level (`GET`/`POST
//! /log-level`) and `POST /drain`.
//!
//! `POST /drain` starts the same graceful drain as SIGTERM (for a
//! Kubernetes `preStop` hook, or any orchestrator that cannot send a
//! signal): `/ready` answers 503 at once, listeners stop accepting,
//! in-flight requests finish up to `shutdown.drain_timeout`, and the
//! process exits; the admin listener keeps serving probes and scrapes
//! until then. Both `POST`s pass the admin token check first, as every
//! state-changing admin call does.

use http::StatusCode;

use crate::telemetry::{self, LevelError};

/// Every admin endpoint: method, path, what it does.
pub(super) const ENDPOINTS: [(&str, &str, &str); 11] = [
    ("GET", "/", "this list"),
    ("GET", "/live", "200 while the process runs"),
    (
        "GET",
        "/ready",
        "200 when listeners are bound and no drain started",
    ),
    (
        "GET",
        "/metrics",
        "Prometheus metrics (OpenMetrics when asked for)",
    ),
    (
        "GET",
        "/config",
        "the config in force, its generation, the last reload",
    ),
    ("GET", "/clusters", "endpoints, health, ejections, breakers"),
    ("GET", "/log-level", "the log filter in force"),
    (
        "POST",
        "/log-level?level=LEVEL",
        "sets the log filter (token)",
    ),
    ("POST", "/reload", "reloads the config file (token)"),
    (
        "POST",
        "/clusters/NAME/breaker?mode=MODE",
        "overrides a breaker (token)",
    ),
    (
        "POST",
        "/drain",
        "starts a graceful drain, as SIGTERM does (token)",
    ),
];

/// `GET /`.
pub(super) fn index() -> serde_json::Value {
    let endpoints: Vec<_> = ENDPOINTS
        .iter()
        .map(|(method, path, about)| {
            serde_json::json!({ "method": method, "path": path, "about": about })
        })
        .collect();
    serde_json::json!({ "endpoints": endpoints })
}

/// `GET /log-level`.
pub(super) fn log_level() -> (StatusCode, serde_json::Value) {
    match telemetry::log_level() {
        Some(level) => (StatusCode::OK, serde_json::json!({ "level": level })),
        None => unavailable(),
    }
}

/// `POST /log-level?level=...`.
pub(super) fn set_log_level(query: Option<&str>) -> (StatusCode, serde_json::Value) {
    let Some(wanted) = query.and_then(|q| param(q, "level")) else {
        return (
            StatusCode::BAD_REQUEST,
            serde_json::json!({ "error": "give the level, e.g. POST /log-level?level=debug or ?level=info,seawall=debug" }),
        );
    };
    match telemetry::set_log_level(&wanted) {
        Ok(level) => {
            tracing::warn!(%level, "log level set through the admin API");
            (StatusCode::OK, serde_json::json!({ "level": level }))
        }
        Err(LevelError::Invalid(why)) => {
            (StatusCode::BAD_REQUEST, serde_json::json!({ "error": why }))
        }
        Err(LevelError::Unavailable) => unavailable(),
    }
}

fn unavailable() -> (StatusCode, serde_json::Value) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        serde_json::json!({ "error": "logging was not set up by seawall (embedded in another program)" }),
    )
}

/// The value of `name` in a query string, percent-decoded (`%2C` for a
/// comma, `%3D` for `=`); `+` is a space as in forms.
fn param(query: &str, name: &str) -> Option<String> {
    let raw = query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))?;
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(u8::try_from(h * 16 + l).ok()?);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_found_and_decoded() {
        assert_eq!(param("level=debug", "level").as_deref(), Some("debug"));
        assert_eq!(
            param("x=1&level=info,seawall=debug", "level").as_deref(),
            Some("info,seawall=debug")
        );
        assert_eq!(
            param("level=info%2Cseawall%3Ddebug", "level").as_deref(),
            Some("info,seawall=debug")
        );
        assert_eq!(param("level=50%", "level").as_deref(), Some("50%"));
        assert_eq!(param("levels=debug", "level"), None);
        assert_eq!(param("other=1", "level"), None);
    }

    #[test]
    fn the_index_lists_every_endpoint_once() {
        let doc = index();
        let listed = doc["endpoints"].as_array().unwrap();
        assert_eq!(listed.len(), ENDPOINTS.len());
        for path in ["/metrics", "/ready", "/drain", "/log-level"] {
            assert!(listed.iter().any(|e| e["path"] == path), "{path}");
        }
    }
}
