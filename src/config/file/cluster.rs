//! The serde model of one entry of `clusters:`, with its `balance:` block.
//! The balance block is a flat struct rather than a tagged enum because
//! serde loses spans inside internally tagged enums.

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::admission::AdmissionFile;
use super::resilience::{BreakerFile, HealthCheckFile, OutlierFile};
use super::retry::RetryFile;
use super::timeouts::TimeoutsFile;
use super::tls::ClusterTlsFile;

/// One entry of `clusters:`.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct ClusterFile {
    /// Unique name, referenced by routes.
    #[cfg_attr(test, schemars(with = "String"))]
    pub name: Spanned<String>,
    /// `host:port` of each upstream instance.
    #[cfg_attr(test, schemars(with = "Vec<String>"))]
    pub endpoints: Spanned<Vec<Spanned<String>>>,
    /// `http1` or `http2`.
    pub protocol: Option<ProtocolFile>,
    /// TCP connect timeout.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub connect_timeout: Option<Spanned<String>>,
    /// Idle pooled connection lifetime.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub pool_idle_timeout: Option<Spanned<String>>,
    /// Idle pooled connections per endpoint.
    pub pool_max_idle_per_endpoint: Option<usize>,
    /// Idle pooled connections in the whole cluster.
    pub pool_max_idle_per_cluster: Option<usize>,
    /// DNS re-resolution period.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub resolve_interval: Option<Spanned<String>>,
    /// Load balancing.
    pub balance: Option<BalanceFile>,
    /// Request, attempt and body timeouts.
    pub timeouts: Option<TimeoutsFile>,
    /// HTTP/2 PING interval on a silent connection.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub http2_keepalive_interval: Option<Spanned<String>>,
    /// Bulkhead, queue and shedding.
    pub admission: Option<AdmissionFile>,
    /// Statuses counted as upstream failures.
    #[cfg_attr(test, schemars(with = "Option<Vec<u16>>"))]
    pub failure_statuses: Option<Spanned<Vec<Spanned<u16>>>>,
    /// gRPC statuses counted as upstream failures.
    #[cfg_attr(test, schemars(with = "Option<Vec<String>>"))]
    pub failure_grpc_codes: Option<Spanned<Vec<Spanned<String>>>>,
    /// Circuit breaker.
    pub breaker: Option<BreakerFile>,
    /// Outlier ejection.
    pub outlier: Option<OutlierFile>,
    /// Active health checks.
    pub health_check: Option<HealthCheckFile>,
    /// TLS to the endpoints.
    pub tls: Option<ClusterTlsFile>,
    /// Retry policy and budget.
    pub retry: Option<RetryFile>,
}

/// `clusters[].protocol`
#[derive(Clone, Copy, Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub(crate) enum ProtocolFile {
    /// HTTP/1.1.
    Http1,
    /// HTTP/2 prior knowledge.
    Http2,
}

/// `clusters[].balance:`
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct BalanceFile {
    /// Which algorithm; `p2c_peak_ewma` by default.
    pub policy: Option<PolicyFile>,
    /// PeakEWMA only: latency assumed before the first answer.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub default_rtt: Option<Spanned<String>>,
    /// P2C only: how fast old latencies fade.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub decay: Option<Spanned<String>>,
    /// P2C only: ramp a new or readmitted endpoint's share over this long.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub slow_start: Option<Spanned<String>>,
}

/// `clusters[].balance.policy`
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub(crate) enum PolicyFile {
    /// Power of two choices on in-flight requests, latency-aware.
    P2cPeakEwma,
    /// Each endpoint in turn.
    RoundRobin,
}
