//! Validation of one listener: its address, the limits of its HTTP server
//! (timeouts, sizes, and the hardening against hostile clients: target
//! length, request buffering, the connection cap and the HTTP/2 abuse
//! limits), its TLS, and the list of its routes.

use std::num::NonZeroUsize;

use serde_saphyr::Spanned;

use super::super::error::ConfigError;
use super::super::file::cluster::ClusterFile;
use super::super::file::listener::{Http2File, ListenerFile};
use super::super::file::scalar::SizeFile;
use super::super::settings::defaults;
use super::super::settings::listener::{Http2Limits, ListenerSettings, ServerLimits};
use super::collect::Errors;
use super::scalar::{self, positive_duration, positive_size};
use super::{Seen, error, route, tls};

/// Validates `raw` (at key path `key`); routes must name one of `clusters`
/// (whose `admission:` blocks a route's own block overrides). Its name is
/// checked by the caller, with the other listeners' names.
pub(super) fn listener(
    raw: &ListenerFile,
    key: &str,
    clusters: &[ClusterFile],
) -> Result<ListenerSettings, Vec<ConfigError>> {
    let mut errors = Errors::default();
    let name = raw.name.value.clone();
    let address = errors.take(
        scalar::bind_address(&raw.address.value)
            .map_err(|m| error(&raw.address, &format!("{key}.address"), m)),
    );
    let limits = errors.take(limits(raw, key));
    let tls = errors.take(tls::listener(raw.tls.as_ref(), &format!("{key}.tls")));

    if raw.routes.value.is_empty() {
        errors.take::<()>(Err(error(
            &raw.routes,
            &format!("{key}.routes"),
            format!("listener \"{name}\" has no routes; add at least one (e.g. path_prefix `/`)"),
        )));
    }
    let mut names = Seen::default();
    let mut routes = Vec::with_capacity(raw.routes.value.len());
    for (j, route_raw) in raw.routes.value.iter().enumerate() {
        let route_key = format!("{key}.routes[{j}]");
        errors.take(names.insert(&route_raw.name, &format!("{route_key}.name"), "route name"));
        if let Some(route) = errors.take_all(route::route(route_raw, &route_key, clusters)) {
            routes.push(route);
        }
    }
    let listener = (|| {
        Some(ListenerSettings {
            name,
            address: address?,
            limits: limits?,
            routes,
            tls: tls?,
        })
    })();
    errors.finish(listener)
}

fn limits(raw: &ListenerFile, key: &str) -> Result<ServerLimits, ConfigError> {
    let header_read_timeout = positive_duration(
        raw.header_read_timeout.as_ref(),
        &format!("{key}.header_read_timeout"),
        defaults::HEADER_READ_TIMEOUT,
    )?;
    let keepalive_timeout = positive_duration(
        raw.keepalive_timeout.as_ref(),
        &format!("{key}.keepalive_timeout"),
        defaults::KEEPALIVE_TIMEOUT,
    )?;
    let header_key = format!("{key}.max_header_bytes");
    let max_header_bytes = positive_size(
        raw.max_header_bytes.as_ref(),
        &header_key,
        defaults::MAX_HEADER_BYTES,
    )?;
    let max_header_bytes = match &raw.max_header_bytes {
        Some(at) if max_header_bytes < defaults::MIN_HEADER_BYTES => {
            return Err(error(
                at,
                &header_key,
                format!(
                    "{max_header_bytes} bytes is too small for a request head; use at least 1KiB (default 16KiB)"
                ),
            ));
        }
        at => usize::try_from(max_header_bytes)
            .ok()
            .and_then(NonZeroUsize::new)
            .ok_or_else(|| {
                let (line, column) = at
                    .as_ref()
                    .map_or((0, 0), |s| (s.referenced.line(), s.referenced.column()));
                ConfigError::at(
                    line,
                    column,
                    Some(header_key.clone()),
                    "too large for this platform".into(),
                )
            })?,
    };
    let max_body_bytes = positive_size(
        raw.max_body_bytes.as_ref(),
        &format!("{key}.max_body_bytes"),
        defaults::MAX_BODY_BYTES,
    )?;
    let max_concurrent_streams = match &raw.max_concurrent_streams {
        Some(raw) if raw.value == 0 => {
            return Err(error(
                raw,
                &format!("{key}.max_concurrent_streams"),
                "0 streams would refuse every HTTP/2 request; use at least 1 (default 100)",
            ));
        }
        Some(raw) => raw.value,
        None => defaults::MAX_CONCURRENT_STREAMS,
    };
    let hardening = hardening(raw, key)?;
    Ok(ServerLimits {
        header_read_timeout,
        keepalive_timeout,
        max_header_bytes,
        max_body_bytes,
        max_concurrent_streams,
        max_uri_bytes: hardening.max_uri_bytes,
        request_buffer_bytes: hardening.request_buffer_bytes,
        max_connections: hardening.max_connections,
        trust_priority_header: raw.trust_priority_header.unwrap_or(false),
        http2: hardening.http2,
    })
}

/// The hardening part of a listener's `ServerLimits`.
struct Hardening {
    max_uri_bytes: usize,
    request_buffer_bytes: usize,
    max_connections: usize,
    http2: Http2Limits,
}

/// Validates the hardening keys of `raw` (at key path `key`).
fn hardening(raw: &ListenerFile, key: &str) -> Result<Hardening, ConfigError> {
    let max_uri_bytes = buffer_size(
        raw.max_uri_bytes.as_ref(),
        &format!("{key}.max_uri_bytes"),
        defaults::MAX_URI_BYTES,
        "a request target",
    )?;
    let request_buffer_bytes = buffer_size(
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
        max_send_buf_size: buffer_size(
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
fn buffer_size(
    raw: Option<&Spanned<SizeFile>>,
    key: &str,
    default: u64,
    what: &str,
) -> Result<usize, ConfigError> {
    let Some(raw) = raw else {
        return Ok(usize::try_from(default).unwrap_or(usize::MAX));
    };
    let value = scalar::size(&raw.value).map_err(|m| error(raw, key, m))?;
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
