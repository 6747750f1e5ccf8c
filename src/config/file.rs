//! The serde model of `seawall.yaml`: it mirrors the file, nothing more.
//!
//! Every struct denies unknown keys, so a misspelt key is an error with its
//! line and column instead of a silently ignored setting. Values that a
//! semantic check may reject (names, references, durations, addresses, sizes)
//! are wrapped in [`Spanned`] so that `validate` can point at them. Optional
//! keys are `Option`: their defaults live in one place, `validate`. The
//! balance section is a flat struct rather than a tagged enum because
//! serde loses spans inside internally tagged enums.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, Visitor};
use serde_saphyr::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// Admin listener; defaults to loopback.
    pub admin: Option<AdminFile>,
    /// Log output.
    pub log: Option<LogFile>,
    /// Graceful shutdown.
    pub shutdown: Option<ShutdownFile>,
    /// Process memory.
    pub memory: Option<MemoryFile>,
    /// Downstream listeners (at least one).
    pub listeners: Spanned<Vec<ListenerFile>>,
    /// Upstream clusters.
    pub clusters: Spanned<Vec<ClusterFile>>,
}

/// `admin:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdminFile {
    /// `host:port` to bind the admin API.
    pub address: Option<Spanned<String>>,
    /// File holding the bearer token for non-GET requests.
    pub token_file: Option<Spanned<String>>,
    /// Environment variable holding that token.
    pub token_env: Option<Spanned<String>>,
}

/// `log:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogFile {
    /// `EnvFilter` directive.
    pub level: Option<Spanned<String>>,
    /// `text` or `json`.
    pub format: Option<LogFormatFile>,
    /// One line per request.
    pub access_log: Option<bool>,
}

/// `log.format`
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LogFormatFile {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// `shutdown:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShutdownFile {
    /// Time in-flight requests get after SIGTERM.
    pub drain_timeout: Option<Spanned<String>>,
}

/// `memory:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MemoryFile {
    /// Hand heap memory freed by a burst back to the OS once quiet.
    pub release_when_idle: Option<bool>,
}

/// One entry of `listeners:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListenerFile {
    /// Unique name.
    pub name: Spanned<String>,
    /// `ip:port` to bind.
    pub address: Spanned<String>,
    /// Time to receive a request head.
    pub header_read_timeout: Option<Spanned<String>>,
    /// Idle keep-alive time.
    pub keepalive_timeout: Option<Spanned<String>>,
    /// Largest request head.
    pub max_header_bytes: Option<Spanned<SizeFile>>,
    /// Largest request body.
    pub max_body_bytes: Option<Spanned<SizeFile>>,
    /// HTTP/2 streams per connection.
    pub max_concurrent_streams: Option<Spanned<u32>>,
    /// Longest request target.
    pub max_uri_bytes: Option<Spanned<SizeFile>>,
    /// Body bytes read before admission.
    pub request_buffer_bytes: Option<Spanned<SizeFile>>,
    /// Most open downstream connections.
    pub max_connections: Option<Spanned<u64>>,
    /// HTTP/2 abuse limits.
    pub http2: Option<Http2File>,
    /// Routes (at least one).
    pub routes: Spanned<Vec<RouteFile>>,
    /// TLS termination.
    pub tls: Option<super::file_tls::ListenerTlsFile>,
}

/// `listeners[].http2:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Http2File {
    /// Client resets of not yet accepted streams tolerated.
    pub max_pending_accept_reset_streams: Option<Spanned<u64>>,
    /// Resets caused by client errors tolerated.
    pub max_local_error_reset_streams: Option<Spanned<u64>>,
    /// Send buffer per stream.
    pub max_send_buf_size: Option<Spanned<SizeFile>>,
    /// PING interval on a silent connection.
    pub keepalive_interval: Option<Spanned<String>>,
    /// Time to wait for a PING's answer.
    pub keepalive_timeout: Option<Spanned<String>>,
}

/// One entry of `listeners[].routes:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteFile {
    /// Unique name within the listener.
    pub name: Spanned<String>,
    /// What requests this route takes; absent means everything.
    #[serde(rename = "match")]
    pub matches: Option<MatchFile>,
    /// Name of the cluster requests go to.
    pub cluster: Spanned<String>,
    /// This route's own timeouts, replacing the cluster's.
    pub timeouts: Option<TimeoutsFile>,
    /// The route's own compartment; absent keys come from the cluster's.
    pub admission: Option<AdmissionFile>,
    /// The route's retry policy; absent keys come from the cluster's.
    pub retry: Option<super::file_retry::RetryFile>,
}

/// `routes[].match:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MatchFile {
    /// Exact host or `*.suffix`.
    pub host: Option<Spanned<String>>,
    /// Path prefix, starting with `/`.
    pub path_prefix: Option<Spanned<String>>,
    /// HTTP methods.
    pub methods: Option<Spanned<Vec<Spanned<String>>>>,
}

/// One entry of `clusters:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClusterFile {
    /// Unique name, referenced by routes.
    pub name: Spanned<String>,
    /// `host:port` of each upstream instance.
    pub endpoints: Spanned<Vec<Spanned<String>>>,
    /// `http1` or `http2`.
    pub protocol: Option<ProtocolFile>,
    /// TCP connect timeout.
    pub connect_timeout: Option<Spanned<String>>,
    /// Idle pooled connection lifetime.
    pub pool_idle_timeout: Option<Spanned<String>>,
    /// Idle pooled connections per endpoint.
    pub pool_max_idle_per_endpoint: Option<usize>,
    /// DNS re-resolution period.
    pub resolve_interval: Option<Spanned<String>>,
    /// Load balancing.
    pub balance: Option<BalanceFile>,
    /// Request, attempt and body timeouts.
    pub timeouts: Option<TimeoutsFile>,
    /// HTTP/2 PING interval on a silent connection.
    pub http2_keepalive_interval: Option<Spanned<String>>,
    /// Bulkhead, queue and shedding.
    pub admission: Option<AdmissionFile>,
    /// Statuses counted as upstream failures.
    pub failure_statuses: Option<Spanned<Vec<Spanned<u16>>>>,
    /// Circuit breaker.
    pub breaker: Option<super::file_resilience::BreakerFile>,
    /// Outlier ejection.
    pub outlier: Option<super::file_resilience::OutlierFile>,
    /// Active health checks.
    pub health_check: Option<super::file_resilience::HealthCheckFile>,
    /// TLS to the endpoints.
    pub tls: Option<super::file_tls::ClusterTlsFile>,
    /// Retry policy and budget.
    pub retry: Option<super::file_retry::RetryFile>,
}

/// `clusters[].timeouts:` and `routes[].timeouts:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TimeoutsFile {
    /// Total time for a request, retries and response body included.
    pub request: Option<Spanned<String>>,
    /// Time for one attempt, to the response headers.
    pub attempt: Option<Spanned<String>>,
    /// Time from the request sent in full to the response headers.
    pub response_header: Option<Spanned<String>>,
    /// Longest pause within a request or response body.
    pub body_idle: Option<Spanned<String>>,
}

/// `clusters[].admission:` and `routes[].admission:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdmissionFile {
    /// Most requests in flight.
    pub max_concurrent: Option<Spanned<u64>>,
    /// Most requests waiting.
    pub max_queue: Option<Spanned<u64>>,
    /// Longest wait for a slot.
    pub max_queue_wait: Option<Spanned<String>>,
    /// CoDel target delay.
    pub target: Option<Spanned<String>>,
    /// CoDel interval.
    pub interval: Option<Spanned<String>>,
    /// Newest first while the queue is standing.
    pub adaptive_lifo: Option<bool>,
}

/// `clusters[].protocol`
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ProtocolFile {
    /// HTTP/1.1.
    Http1,
    /// HTTP/2 prior knowledge.
    Http2,
}

/// `clusters[].balance:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BalanceFile {
    /// Which algorithm; `p2c_peak_ewma` by default.
    pub policy: Option<PolicyFile>,
    /// PeakEWMA only: latency assumed before the first answer.
    pub default_rtt: Option<Spanned<String>>,
    /// PeakEWMA only: how fast old latencies fade.
    pub decay: Option<Spanned<String>>,
}

/// `clusters[].balance.policy`
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PolicyFile {
    /// Power of two choices over PeakEWMA.
    P2cPeakEwma,
    /// Each endpoint in turn.
    RoundRobin,
}

/// A byte size as written: a plain integer (bytes) or a string with a unit.
#[derive(Debug)]
pub(crate) enum SizeFile {
    /// `16384`
    Bytes(u64),
    /// `16KiB`
    Text(String),
}

impl<'de> Deserialize<'de> for SizeFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;

        impl Visitor<'_> for SizeVisitor {
            type Value = SizeFile;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size in bytes or a string such as `16KiB` or `10MiB`")
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SizeFile, E> {
                Ok(SizeFile::Bytes(v))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SizeFile, E> {
                u64::try_from(v)
                    .map(SizeFile::Bytes)
                    .map_err(|_| E::custom(format!("size {v} is negative")))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SizeFile, E> {
                Ok(SizeFile::Text(v.to_owned()))
            }
        }

        deserializer.deserialize_any(SizeVisitor)
    }
}
