//! Runtime fault defaults, set with `POST /_upstream/config` and applied to
//! every normal request (query parameters still override them).
//!
//! The JSON mirrors [`FaultFile`] with unknown keys rejected: a chaos test
//! that misspells `error_rate` must fail loudly, not run without faults.

use std::time::Duration;

use hyper::StatusCode;
use seawall::config::duration;
use serde::{Deserialize, Serialize};

/// The JSON accepted by `POST /_upstream/config`; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultFile {
    /// Status of a failed request (default 503 with `error_rate`, else the
    /// status of every request).
    status: Option<u16>,
    /// Delay before the response headers, e.g. `"100ms"`.
    delay: Option<String>,
    /// Fraction in `[0, 1]` of requests answered with `status`; the rest 200.
    error_rate: Option<f64>,
    /// Accept requests and never answer them.
    #[serde(default)]
    hang: bool,
    /// Fraction in `[0, 1]` of requests whose response is cut mid-body.
    reset_rate: Option<f64>,
    /// Most requests served at once; the rest wait (a worker pool). Replaces
    /// `--capacity` while set; 0 means unlimited.
    capacity: Option<usize>,
    /// `grpc-status` answered to gRPC calls (to the `error_rate` share of
    /// them, or to all); HTTP status faults do not apply to gRPC calls.
    grpc_status: Option<u32>,
    /// Send `grpc_status` in trailers after the body, instead of a
    /// trailers-only answer.
    #[serde(default)]
    grpc_streamed: bool,
}

/// Validated fault defaults. Serialized back by `GET /_upstream/config`.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Faults {
    /// See [`FaultFile`]; `None` means "not set".
    #[serde(serialize_with = "status_opt")]
    pub status: Option<StatusCode>,
    /// Delay before the response headers.
    #[serde(with = "duration::serde_str")]
    pub delay: Duration,
    /// Fraction of requests that fail.
    pub error_rate: Option<f64>,
    /// Never answer.
    pub hang: bool,
    /// Fraction of responses cut mid-body.
    pub reset_rate: Option<f64>,
    /// Concurrency capacity override (`Some(0)` = unlimited).
    pub capacity: Option<usize>,
    /// `grpc-status` of failed gRPC calls.
    pub grpc_status: Option<u32>,
    /// gRPC failures after the body, in its trailers.
    pub grpc_streamed: bool,
}

impl FaultFile {
    /// Checks every value and returns typed faults, or a message for a 400.
    pub fn validate(self) -> Result<Faults, String> {
        let status = self
            .status
            .map(|code| StatusCode::from_u16(code).map_err(|_| format!("bad status {code}")))
            .transpose()?;
        let delay = match self.delay {
            Some(text) => duration::parse(&text).map_err(|e| format!("delay: {e}"))?,
            None => Duration::ZERO,
        };
        for (key, rate) in [
            ("error_rate", self.error_rate),
            ("reset_rate", self.reset_rate),
        ] {
            if let Some(rate) = rate
                && !(0.0..=1.0).contains(&rate)
            {
                return Err(format!("{key} must be within [0, 1], got {rate}"));
            }
        }
        Ok(Faults {
            status,
            delay,
            error_rate: self.error_rate,
            hang: self.hang,
            reset_rate: self.reset_rate,
            capacity: self.capacity,
            grpc_status: self.grpc_status,
            grpc_streamed: self.grpc_streamed,
        })
    }
}

impl Faults {
    /// The status for one request. `draw` is uniform in `[0, 1)`, passed in
    /// so tests can fix it.
    pub fn status_for(&self, draw: f64) -> StatusCode {
        match self.error_rate {
            Some(rate) if draw < rate => self.status.unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            Some(_) => StatusCode::OK,
            None => self.status.unwrap_or(StatusCode::OK),
        }
    }
}

impl Faults {
    /// The `grpc-status` for one gRPC call, drawn as [`Faults::status_for`];
    /// `None` when no gRPC fault is set.
    pub fn grpc_for(&self, draw: f64) -> Option<u32> {
        let code = self.grpc_status?;
        Some(match self.error_rate {
            Some(rate) if draw >= rate => 0,
            _ => code,
        })
    }
}

fn status_opt<S: serde::Serializer>(status: &Option<StatusCode>, s: S) -> Result<S::Ok, S::Error> {
    match status {
        Some(code) => s.serialize_some(&code.as_u16()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Faults, String> {
        serde_json::from_str::<FaultFile>(json)
            .map_err(|e| e.to_string())?
            .validate()
    }

    #[test]
    fn error_rate_splits_between_status_and_ok() {
        let faults = parse(r#"{"error_rate": 0.3}"#).unwrap();
        assert_eq!(faults.status_for(0.29), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(faults.status_for(0.3), StatusCode::OK);
        let faults = parse(r#"{"error_rate": 1.0, "status": 500}"#).unwrap();
        assert_eq!(faults.status_for(0.999), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn capacity_and_reset_rate_round_trip() {
        let faults = parse(r#"{"capacity": 4, "reset_rate": 0.5}"#).unwrap();
        assert_eq!((faults.capacity, faults.reset_rate), (Some(4), Some(0.5)));
    }

    #[test]
    fn status_alone_applies_to_every_request() {
        let faults = parse(r#"{"status": 502, "delay": "100ms"}"#).unwrap();
        assert_eq!(faults.status_for(0.99), StatusCode::BAD_GATEWAY);
        assert_eq!(faults.delay, Duration::from_millis(100));
    }

    #[test]
    fn rejects_misspelt_keys_and_bad_values() {
        assert!(
            parse(r#"{"error_rat": 0.3}"#)
                .unwrap_err()
                .contains("unknown field")
        );
        assert!(parse(r#"{"error_rate": 1.5}"#).is_err());
        assert!(parse(r#"{"reset_rate": -0.1}"#).is_err());
        assert!(parse(r#"{"delay": "5"}"#).is_err());
        assert!(parse(r#"{"status": 1000}"#).is_err());
    }
}
