//! Typed distributed-tracing settings.

use std::time::Duration;

use serde::Serialize;

/// Where and how spans are exported; `None` in [`super::Config`] when
/// tracing is off.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TracingSettings {
    /// The collector: for `http`, the URL spans are POSTed to (with
    /// `/v1/traces` added when it has no path); for `grpc`, its address.
    pub otlp_endpoint: String,
    /// The OTLP transport.
    pub protocol: OtlpProtocol,
    /// The share of new traces recorded, in `[0, 1]`; a caller's sampled
    /// flag is always followed.
    pub sampling: f64,
    /// The `service.name` resource attribute.
    pub service_name: String,
    /// Most finished spans held for export; more are dropped and counted.
    pub queue: usize,
    /// Longest one export may take before its spans count as dropped.
    #[serde(with = "crate::config::duration::serde_str")]
    pub export_timeout: Duration,
}

/// OTLP transports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OtlpProtocol {
    /// OTLP/HTTP, protobuf bodies.
    Http,
    /// OTLP/gRPC.
    Grpc,
}
