//! Validation of a listener's limits against hostile clients: target
//! length, request buffering, the connection cap and the HTTP/2 abuse
//! limits. Kept apart from `listener.rs` so that file stays about routes.

use serde_saphyr::Spanned;

use super::super::ConfigError;
use super::super::file::{Http2File, ListenerFile, SizeFile};
use super::super::settings::Http2Limits;
use super::{defaults, error, positive_duration};

/// The hardening part of a listener's `ServerLimits`.
pub(super) struct Hardening {
    pub max_uri_bytes: usize,
    pub request_buffer_bytes: usize,
    pub max_connections: usize,
    pub http2: Http2Limits,
}

/// Validates the hardening keys of `raw` (at key path `key`).
pub(super) fn hardening(raw: &ListenerFile, key: &str) -> Result<Hardening, ConfigError> {
    let max_uri_bytes = size(
        raw.max_uri_bytes.as_ref(),
        &format!("{key}.max_uri_bytes"),
        defaults::MAX_URI_BYTES,
        "a request target",
    )?;
    let request_buffer_bytes = size(
        raw.request_buffer_bytes.as_ref(),
        &format!("{key}.request_buffer_bytes"),
        defaults::REQUEST_BUFFER_BYTES,
        "the body buffer",
    )?;
    let max_connections = count(
        raw.max_connections.as_ref(),
        &format!("{key}.max_connections"),
        defaults::MAX_CONNECTIONS,
    )?;
    Ok(Hardening {
        max_uri_bytes,
        request_buffer_bytes,
        max_connections,
        http2: http2(raw.http2.as_ref(), &format!("{key}.http2"))?,
    })
}

fn http2(raw: Option<&Http2File>, key: &str) -> Result<Http2Limits, ConfigError> {
    let field = |name: &str| format!("{key}.{name}");
    Ok(Http2Limits {
        max_pending_accept_reset_streams: count(
            raw.and_then(|r| r.max_pending_accept_reset_streams.as_ref()),
            &field("max_pending_accept_reset_streams"),
            defaults::H2_MAX_PENDING_ACCEPT_RESET_STREAMS,
        )?,
        max_local_error_reset_streams: count(
            raw.and_then(|r| r.max_local_error_reset_streams.as_ref()),
            &field("max_local_error_reset_streams"),
            defaults::H2_MAX_LOCAL_ERROR_RESET_STREAMS,
        )?,
        max_send_buf_size: size(
            raw.and_then(|r| r.max_send_buf_size.as_ref()),
            &field("max_send_buf_size"),
            defaults::H2_MAX_SEND_BUF_SIZE,
            "a stream's send buffer",
        )?,
        keepalive_interval: positive_duration(
            raw.and_then(|r| r.keepalive_interval.as_ref()),
            &field("keepalive_interval"),
            defaults::H2_KEEPALIVE_INTERVAL,
        )?,
        keepalive_timeout: positive_duration(
            raw.and_then(|r| r.keepalive_timeout.as_ref()),
            &field("keepalive_timeout"),
            defaults::H2_KEEPALIVE_TIMEOUT,
        )?,
    })
}

/// A positive size that fits in memory.
fn size(
    raw: Option<&Spanned<SizeFile>>,
    key: &str,
    default: u64,
    what: &str,
) -> Result<usize, ConfigError> {
    let Some(raw) = raw else {
        return Ok(usize::try_from(default).unwrap_or(usize::MAX));
    };
    let value = super::super::values::size(&raw.value).map_err(|m| error(raw, key, m))?;
    if value == 0 {
        return Err(error(raw, key, format!("{what} cannot be zero bytes")));
    }
    usize::try_from(value).map_err(|_| error(raw, key, "too large for this platform"))
}

/// A positive count.
fn count(raw: Option<&Spanned<u64>>, key: &str, default: u64) -> Result<usize, ConfigError> {
    let Some(raw) = raw else {
        return Ok(usize::try_from(default).unwrap_or(usize::MAX));
    };
    if raw.value == 0 {
        return Err(error(raw, key, "must be at least 1"));
    }
    usize::try_from(raw.value).map_err(|_| error(raw, key, "too large for this platform"))
}
