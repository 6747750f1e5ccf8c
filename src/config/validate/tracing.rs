//! Validation of the `tracing:` block: off without `otlp_endpoint`.

use super::super::error::ConfigError;
use super::super::file::tracing::{OtlpProtocolFile, TracingFile};
use super::super::settings::defaults;
use super::super::settings::tracing::{OtlpProtocol, TracingSettings};
use super::error;
use super::scalar::{positive_duration, ratio};

/// `tracing:`; `None` when no collector is set.
pub(super) fn tracing(file: Option<&TracingFile>) -> Result<Option<TracingSettings>, ConfigError> {
    let Some(file) = file else { return Ok(None) };
    let Some(raw) = &file.otlp_endpoint else {
        return Ok(None);
    };
    let uri: http::Uri = raw.value.parse().map_err(|_| {
        error(
            raw,
            "tracing.otlp_endpoint",
            format!(
                "`{}` is not a URL; write e.g. `http://otel-collector:4318`",
                raw.value
            ),
        )
    })?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(error(
            raw,
            "tracing.otlp_endpoint",
            format!(
                "`{}` needs an http:// or https:// scheme and a host, e.g. `http://otel-collector:4318`",
                raw.value
            ),
        ));
    }
    let protocol = match file.protocol {
        Some(OtlpProtocolFile::Grpc) => OtlpProtocol::Grpc,
        Some(OtlpProtocolFile::Http) | None => OtlpProtocol::Http,
    };
    let otlp_endpoint = match (protocol, uri.path()) {
        (OtlpProtocol::Http, "" | "/") => format!("{}/v1/traces", raw.value.trim_end_matches('/')),
        _ => raw.value.clone(),
    };
    let sampling = ratio(
        file.sampling.as_ref(),
        "tracing.sampling",
        defaults::TRACE_SAMPLING,
    )?;
    let service_name = match &file.service_name {
        Some(name) if name.value.trim().is_empty() => {
            return Err(error(
                name,
                "tracing.service_name",
                "the service name is empty",
            ));
        }
        Some(name) => name.value.clone(),
        None => defaults::TRACE_SERVICE_NAME.to_owned(),
    };
    let queue = match &file.queue {
        Some(q) if q.value == 0 => {
            return Err(error(
                q,
                "tracing.queue",
                "the queue must hold at least one span",
            ));
        }
        Some(q) => q.value,
        None => defaults::TRACE_QUEUE,
    };
    let export_timeout = positive_duration(
        file.export_timeout.as_ref(),
        "tracing.export_timeout",
        defaults::TRACE_EXPORT_TIMEOUT,
    )?;
    Ok(Some(TracingSettings {
        otlp_endpoint,
        protocol,
        sampling,
        service_name,
        queue: queue as usize,
        export_timeout,
    }))
}
