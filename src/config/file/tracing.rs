//! The serde model of the `tracing:` block.

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::scalar::NumberOrText;

/// `tracing:`
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct TracingFile {
    /// The OTLP collector's URL; tracing is off without it.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub otlp_endpoint: Option<Spanned<String>>,
    /// `http` (OTLP/HTTP protobuf) or `grpc`.
    pub protocol: Option<OtlpProtocolFile>,
    /// Share of new traces recorded.
    #[cfg_attr(test, schemars(with = "Option<NumberOrText>"))]
    pub sampling: Option<Spanned<NumberOrText>>,
    /// `service.name` of the spans.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub service_name: Option<Spanned<String>>,
    /// Most finished spans waiting for export.
    #[cfg_attr(test, schemars(with = "Option<u32>"))]
    pub queue: Option<Spanned<u32>>,
    /// Longest one export may take.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub export_timeout: Option<Spanned<String>>,
}

/// `tracing.protocol`
#[derive(Clone, Copy, Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub(crate) enum OtlpProtocolFile {
    /// OTLP/HTTP with protobuf bodies (port 4318).
    Http,
    /// OTLP/gRPC (port 4317).
    Grpc,
}
