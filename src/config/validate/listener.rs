//! Validation of one listener and its routes.

use std::num::NonZeroUsize;

use super::super::file::{ClusterFile, ListenerFile, RouteFile, SizeFile};
use super::super::settings::{ListenerSettings, RouteSettings, ServerLimits};
use super::super::{ConfigError, values};
use super::admission::admission;
use super::hardening::hardening;
use super::{Seen, defaults, error, name, positive_duration, timeouts};
use serde_saphyr::Spanned;

/// Validates `raw` (at key path `key`); routes must name one of `clusters`
/// (whose `admission:` blocks a route's own block overrides).
pub(super) fn listener(
    raw: &ListenerFile,
    key: &str,
    clusters: &[ClusterFile],
) -> Result<ListenerSettings, ConfigError> {
    let name = name(&raw.name, &format!("{key}.name"))?;
    let address = values::bind_address(&raw.address.value)
        .map_err(|m| error(&raw.address, &format!("{key}.address"), m))?;
    let limits = limits(raw, key)?;
    let tls = super::tls::listener(raw.tls.as_ref(), &format!("{key}.tls"))?;

    if raw.routes.value.is_empty() {
        return Err(error(
            &raw.routes,
            &format!("{key}.routes"),
            format!("listener \"{name}\" has no routes; add at least one (e.g. path_prefix `/`)"),
        ));
    }
    let mut names = Seen::default();
    let mut routes = Vec::with_capacity(raw.routes.value.len());
    for (j, route_raw) in raw.routes.value.iter().enumerate() {
        let route_key = format!("{key}.routes[{j}]");
        names.insert(&route_raw.name, &format!("{route_key}.name"), "route name")?;
        routes.push(route(route_raw, &route_key, clusters)?);
    }
    Ok(ListenerSettings {
        name,
        address,
        limits,
        routes,
        tls,
    })
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
    let max_header_bytes = size(
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
    let max_body_bytes = size(
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
        http2: hardening.http2,
    })
}

/// Parses an optional size, rejecting zero.
pub(super) fn size(
    raw: Option<&Spanned<SizeFile>>,
    key: &str,
    default: u64,
) -> Result<u64, ConfigError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    let value = values::size(&raw.value).map_err(|m| error(raw, key, m))?;
    if value == 0 {
        return Err(error(raw, key, "size must be greater than zero"));
    }
    Ok(value)
}

fn route(
    raw: &RouteFile,
    key: &str,
    clusters: &[ClusterFile],
) -> Result<RouteSettings, ConfigError> {
    let matches = raw.matches.as_ref();
    let host = match matches.and_then(|m| m.host.as_ref()) {
        Some(h) => Some(
            values::route_host(&h.value).map_err(|m| error(h, &format!("{key}.match.host"), m))?,
        ),
        None => None,
    };
    let path_prefix = match matches.and_then(|m| m.path_prefix.as_ref()) {
        Some(p) => {
            let k = format!("{key}.match.path_prefix");
            if !p.value.starts_with('/') {
                return Err(error(
                    p,
                    &k,
                    format!("path_prefix \"{}\" must start with `/`", p.value),
                ));
            }
            if let Some(c) = p
                .value
                .chars()
                .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#'))
            {
                return Err(error(
                    p,
                    &k,
                    format!(
                        "path_prefix \"{}\" contains {c:?}; it matches the path only",
                        p.value
                    ),
                ));
            }
            p.value.clone()
        }
        None => defaults::PATH_PREFIX.to_owned(),
    };
    let methods = match matches.and_then(|m| m.methods.as_ref()) {
        Some(list) if list.value.is_empty() => {
            return Err(error(
                list,
                &format!("{key}.match.methods"),
                "an empty method list matches nothing; omit `methods` to match any method",
            ));
        }
        Some(list) => {
            for (k, m) in list.value.iter().enumerate() {
                values::method(&m.value)
                    .map_err(|msg| error(m, &format!("{key}.match.methods[{k}]"), msg))?;
            }
            Some(list.value.iter().map(|m| m.value.clone()).collect())
        }
        None => None,
    };
    let cluster = &raw.cluster;
    let target = clusters.iter().position(|c| c.name.value == cluster.value);
    let Some(index) = target else {
        let known: Vec<&str> = clusters.iter().map(|c| c.name.value.as_str()).collect();
        let known = if known.is_empty() {
            "none defined".to_owned()
        } else {
            known.join(", ")
        };
        return Err(error(
            cluster,
            &format!("{key}.cluster"),
            format!(
                "unknown cluster \"{}\" (known clusters: {known})",
                cluster.value
            ),
        ));
    };
    let admission = match &raw.admission {
        Some(own) => {
            let route_key = format!("{key}.admission");
            let cluster_key = format!("clusters[{index}].admission");
            let inherited = clusters[index].admission.as_ref();
            let mut blocks = vec![(own, route_key.as_str())];
            blocks.extend(inherited.map(|b| (b, cluster_key.as_str())));
            Some(admission(&blocks)?)
        }
        None => None,
    };
    let route_retry_key = format!("{key}.retry");
    let cluster_retry_key = format!("clusters[{index}].retry");
    let retry = super::retry::route(
        raw.retry.as_ref().map(|b| (b, route_retry_key.as_str())),
        clusters[index]
            .retry
            .as_ref()
            .map(|b| (b, cluster_retry_key.as_str())),
    )?;
    Ok(RouteSettings {
        retry,
        name: raw.name.value.clone(),
        host,
        path_prefix,
        methods,
        cluster: cluster.value.clone(),
        timeouts: timeouts::overrides(raw.timeouts.as_ref(), &format!("{key}.timeouts"))?,
        admission,
    })
}
