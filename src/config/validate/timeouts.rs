//! Validation of a `timeouts:` block, on a cluster or a route.
//!
//! The same file shape serves both: on a cluster absent keys take the
//! defaults, on a route they stay absent and fall back to the cluster's
//! value when the stack is assembled. Zero is rejected like every duration
//! in the file: a zero timeout would fail every request.

use std::time::Duration;

use serde_saphyr::Spanned;

use super::super::error::ConfigError;
use super::super::file::timeouts::TimeoutsFile;
use super::super::settings::defaults;
use super::super::settings::timeouts::{TimeoutOverrides, TimeoutSettings};
use super::scalar::positive_duration;

/// A cluster's timeouts: the block's values over the defaults.
pub(super) fn cluster(
    raw: Option<&TimeoutsFile>,
    key: &str,
) -> Result<TimeoutSettings, ConfigError> {
    let defaults = TimeoutSettings {
        request: defaults::REQUEST_TIMEOUT,
        total: None,
        attempt: None,
        response_header: None,
        body_idle: defaults::BODY_IDLE_TIMEOUT,
    };
    Ok(defaults.with(&overrides(raw, key)?))
}

/// A route's own timeouts; absent keys stay `None`.
pub(super) fn overrides(
    raw: Option<&TimeoutsFile>,
    key: &str,
) -> Result<TimeoutOverrides, ConfigError> {
    let Some(raw) = raw else {
        return Ok(TimeoutOverrides::default());
    };
    Ok(TimeoutOverrides {
        request: optional(
            raw.request.as_ref(),
            key,
            "request",
            Some(defaults::REQUEST_TIMEOUT),
        )?,
        total: optional(raw.total.as_ref(), key, "total", None)?,
        attempt: optional(raw.attempt.as_ref(), key, "attempt", None)?,
        response_header: optional(raw.response_header.as_ref(), key, "response_header", None)?,
        body_idle: optional(
            raw.body_idle.as_ref(),
            key,
            "body_idle",
            Some(defaults::BODY_IDLE_TIMEOUT),
        )?,
    })
}

/// A positive duration when present; `default` (zero for keys that are
/// off when absent) only shapes the error text.
fn optional(
    raw: Option<&Spanned<String>>,
    key: &str,
    field: &str,
    default: Option<Duration>,
) -> Result<Option<Duration>, ConfigError> {
    match raw {
        // `request: none`: the response's start is not bounded by the
        // route (a long poll, a stream whose server sends its headers with
        // its first message); the caller's deadline, `total` and, once it
        // streams, `body_idle` still are.
        Some(raw) if field == "request" && raw.value == "none" => Ok(Some(defaults::UNBOUNDED)),
        Some(raw) => positive_duration(
            Some(raw),
            &format!("{key}.{field}"),
            default.unwrap_or(Duration::ZERO),
        )
        .map(Some),
        None => Ok(None),
    }
}
