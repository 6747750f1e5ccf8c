//! Typed, validated settings: what the rest of seawall sees of the config file.
//!
//! Nothing here is a serde file type. `validate` turns the file model into
//! these; layers and the server take only these (durations are `Duration`,
//! limits are non-zero, names are unique, references resolve).

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use serde::Serialize;

use super::settings_retry::{RetryPolicy, RetrySettings};

/// The whole validated configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Config {
    /// The admin listener (health, config, later metrics).
    pub admin: AdminSettings,
    /// Log output.
    pub log: LogSettings,
    /// Graceful shutdown.
    pub shutdown: ShutdownSettings,
    /// Process memory.
    pub memory: MemorySettings,
    /// Downstream listeners, each with its own routes.
    pub listeners: Vec<ListenerSettings>,
    /// Upstream clusters, referenced by routes by name.
    pub clusters: Vec<ClusterSettings>,
}

/// Admin listener settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AdminSettings {
    /// Address to bind; loopback by default.
    pub address: SocketAddr,
    /// Bearer token that state-changing (non-GET) admin requests must
    /// carry; `None`: no token (fine on loopback).
    pub token: Option<AdminToken>,
}

/// An admin bearer token, read from `admin.token_file` or
/// `admin.token_env`. Never printed: `Debug` and the `/config` view show
/// `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// A token from its text (already trimmed, not empty).
    pub fn new(token: String) -> Self {
        Self(token)
    }

    /// The secret, for comparison only.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

impl Serialize for AdminToken {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// Log output settings. `RUST_LOG`, when set, overrides `level`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogSettings {
    /// A `tracing_subscriber::EnvFilter` directive, e.g. `info` or `seawall=debug`.
    pub level: String,
    /// Human-readable text or one JSON object per line.
    pub format: LogFormat,
    /// Whether to emit one access-log line per request.
    pub access_log: bool,
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable text.
    Text,
    /// One JSON object per line.
    Json,
}

/// Process memory settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemorySettings {
    /// After a burst, once the process is quiet, hand the heap memory the
    /// burst freed back to the OS (see `crate::server::memory`).
    pub release_when_idle: bool,
}

/// Graceful shutdown settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShutdownSettings {
    /// How long in-flight requests may run after SIGTERM before seawall exits.
    #[serde(with = "crate::config::duration::serde_str")]
    pub drain_timeout: Duration,
}

/// One downstream listener.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ListenerSettings {
    /// Unique listener name (used in logs and metrics).
    pub name: String,
    /// Address to bind.
    pub address: SocketAddr,
    /// Limits on what a downstream client may send.
    pub limits: ServerLimits,
    /// Routes, in file order. Matching picks the longest path prefix.
    pub routes: Vec<RouteSettings>,
    /// TLS termination; `None`: plaintext HTTP/1.1 and h2c.
    pub tls: Option<super::ListenerTls>,
}

/// Limits applied by the downstream HTTP server.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServerLimits {
    /// Time allowed for a client to send a complete request head.
    #[serde(with = "crate::config::duration::serde_str")]
    pub header_read_timeout: Duration,
    /// Time an idle keep-alive connection is kept open.
    #[serde(with = "crate::config::duration::serde_str")]
    pub keepalive_timeout: Duration,
    /// Largest request head (request line + headers) in bytes; larger gets 431.
    pub max_header_bytes: NonZeroUsize,
    /// Largest request body in bytes; larger gets 413.
    pub max_body_bytes: u64,
    /// Most concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// Longest request target in bytes; longer gets 414.
    pub max_uri_bytes: usize,
    /// How much of a request body is read before the request takes an
    /// admission slot (see `proxy::prebuffer`).
    pub request_buffer_bytes: usize,
    /// Most open downstream connections; further ones are accepted and
    /// closed at once.
    pub max_connections: usize,
    /// HTTP/2 abuse limits.
    pub http2: Http2Limits,
}

/// HTTP/2 server limits against protocol abuse (rapid reset, floods of
/// errors, slow readers).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Http2Limits {
    /// Streams the client reset before seawall accepted them (rapid reset,
    /// CVE-2023-44487); more gets GOAWAY `ENHANCE_YOUR_CALM`.
    pub max_pending_accept_reset_streams: usize,
    /// Streams seawall had to reset because of the client's protocol
    /// errors; more gets GOAWAY.
    pub max_local_error_reset_streams: usize,
    /// Bytes buffered per stream for a client that does not read (tiny
    /// flow-control window).
    pub max_send_buf_size: usize,
    /// Interval of PINGs on a silent connection.
    #[serde(with = "crate::config::duration::serde_str")]
    pub keepalive_interval: Duration,
    /// Time to wait for a PING's answer before closing the connection.
    #[serde(with = "crate::config::duration::serde_str")]
    pub keepalive_timeout: Duration,
}

/// One route: a match and the cluster it sends to.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RouteSettings {
    /// Unique (per listener) route name.
    pub name: String,
    /// Host to match (lower-case, without port); `None` matches any host.
    /// A leading `*.` matches any subdomain.
    pub host: Option<String>,
    /// Path prefix to match, starting with `/`. Longest prefix wins.
    pub path_prefix: String,
    /// Methods to match; `None` matches any method.
    pub methods: Option<Vec<String>>,
    /// Name of the target cluster (validated to exist).
    pub cluster: String,
    /// Timeouts this route sets itself; the rest come from its cluster.
    pub timeouts: TimeoutOverrides,
    /// The route's own admission compartment, when the route has an
    /// `admission:` block (keys it leaves out come from the cluster's block);
    /// `None` shares the cluster's compartment.
    pub admission: Option<AdmissionSettings>,
    /// The route's retry policy: its own `retry:` block over its cluster's,
    /// key by key. The budget is always the cluster's.
    pub retry: RetryPolicy,
}

/// One upstream cluster.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClusterSettings {
    /// Unique cluster name.
    pub name: String,
    /// Endpoints as written (`host:port`); hostnames are resolved at start
    /// and every `resolve_interval`.
    pub endpoints: Vec<EndpointSpec>,
    /// Protocol spoken to the upstream.
    pub protocol: UpstreamProtocol,
    /// Time allowed to establish a TCP connection.
    #[serde(with = "crate::config::duration::serde_str")]
    pub connect_timeout: Duration,
    /// Time an idle pooled connection is kept.
    #[serde(with = "crate::config::duration::serde_str")]
    pub pool_idle_timeout: Duration,
    /// Most idle pooled connections kept per endpoint.
    pub pool_max_idle_per_endpoint: usize,
    /// How often hostnames are re-resolved.
    #[serde(with = "crate::config::duration::serde_str")]
    pub resolve_interval: Duration,
    /// How an endpoint is chosen for each request.
    pub balance: BalanceSettings,
    /// Request, attempt and body timeouts of the cluster's routes.
    pub timeouts: TimeoutSettings,
    /// HTTP/2 only: a PING is sent after this long without a frame from
    /// the upstream; no answer within `connect_timeout` closes the
    /// connection, so a half-open one is never reused for long.
    #[serde(with = "crate::config::duration::serde_str")]
    pub http2_keepalive_interval: Duration,
    /// The cluster's admission compartment, shared by its routes.
    pub admission: AdmissionSettings,
    /// Upstream response statuses that count as failures for the breaker
    /// and outlier ejection (see `middleware::classify`).
    pub failure_statuses: Vec<u16>,
    /// The cluster circuit breaker.
    pub breaker: BreakerSettings,
    /// Per-endpoint outlier ejection.
    pub outlier: OutlierSettings,
    /// Active health checks; `None` when off (the default).
    pub health_check: Option<HealthCheckSettings>,
    /// TLS to the endpoints; `None`: plaintext.
    pub tls: Option<super::ClusterTls>,
    /// Retries: the default policy of the cluster's routes and the budget
    /// they all draw from.
    pub retry: RetrySettings,
}

/// The timeouts of a request, per cluster (see `middleware::timeout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TimeoutSettings {
    /// Total time for a request, from arrival to the last byte of the
    /// response: queueing, every attempt and backoff, and the body. A
    /// caller's propagated budget can only shorten it.
    #[serde(with = "crate::config::duration::serde_str")]
    pub request: Duration,
    /// Time for one attempt, to the response headers; `None`: only the
    /// request timeout bounds an attempt.
    #[serde(with = "crate::config::duration::serde_opt")]
    pub attempt: Option<Duration>,
    /// Time from the request having been sent in full to the response
    /// headers, per attempt; `None`: no separate bound.
    #[serde(with = "crate::config::duration::serde_opt")]
    pub response_header: Option<Duration>,
    /// Longest wait for the next piece of a body, in either direction.
    #[serde(with = "crate::config::duration::serde_str")]
    pub body_idle: Duration,
}

/// A route's own timeouts; each `Some` replaces its cluster's value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TimeoutOverrides {
    /// Replaces [`TimeoutSettings::request`].
    #[serde(with = "crate::config::duration::serde_opt")]
    pub request: Option<Duration>,
    /// Replaces [`TimeoutSettings::attempt`].
    #[serde(with = "crate::config::duration::serde_opt")]
    pub attempt: Option<Duration>,
    /// Replaces [`TimeoutSettings::response_header`].
    #[serde(with = "crate::config::duration::serde_opt")]
    pub response_header: Option<Duration>,
    /// Replaces [`TimeoutSettings::body_idle`].
    #[serde(with = "crate::config::duration::serde_opt")]
    pub body_idle: Option<Duration>,
}

impl TimeoutSettings {
    /// These settings with a route's overrides applied.
    pub fn with(&self, route: &TimeoutOverrides) -> Self {
        Self {
            request: route.request.unwrap_or(self.request),
            attempt: route.attempt.or(self.attempt),
            response_header: route.response_header.or(self.response_header),
            body_idle: route.body_idle.unwrap_or(self.body_idle),
        }
    }
}

/// A bulkhead with a bounded queue, shedding by queue length, queue delay
/// (CoDel) and deadline. See `middleware::admission` for the algorithm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AdmissionSettings {
    /// Most requests in flight to the upstream at once.
    pub max_concurrent: NonZeroUsize,
    /// Most requests waiting for a slot; 0 means no queue (pure bulkhead).
    pub max_queue: usize,
    /// Longest a request may wait for a slot, whatever CoDel says.
    #[serde(with = "crate::config::duration::serde_str")]
    pub max_queue_wait: Duration,
    /// CoDel target: acceptable standing queue delay.
    #[serde(with = "crate::config::duration::serde_str")]
    pub target: Duration,
    /// CoDel interval: how long the delay must stay above `target` before
    /// shedding starts (and the window its minimum is taken over).
    #[serde(with = "crate::config::duration::serde_str")]
    pub interval: Duration,
    /// Serve the newest waiter first while the queue is standing.
    pub adaptive_lifo: bool,
}

/// An endpoint as written in the config: a hostname or IP, and a port.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct EndpointSpec {
    /// Hostname or IP literal.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// Protocol spoken to a cluster's endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamProtocol {
    /// HTTP/1.1 with keep-alive.
    Http1,
    /// HTTP/2 with prior knowledge (h2c).
    Http2,
}

/// Load-balancing policy.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "policy", rename_all = "snake_case")]
pub enum BalanceSettings {
    /// Power of two choices over PeakEWMA latency × in-flight requests.
    P2cPeakEwma {
        /// Latency assumed for an endpoint that has not answered yet.
        #[serde(with = "crate::config::duration::serde_str")]
        default_rtt: Duration,
        /// Time constant over which old latency observations fade.
        #[serde(with = "crate::config::duration::serde_str")]
        decay: Duration,
    },
    /// Each endpoint in turn.
    RoundRobin,
}

impl Default for AdmissionSettings {
    /// The documented defaults (`config/seawall.yaml`).
    fn default() -> Self {
        use super::validate::defaults;
        Self {
            max_concurrent: defaults::MAX_CONCURRENT,
            max_queue: defaults::MAX_QUEUE,
            max_queue_wait: defaults::MAX_QUEUE_WAIT,
            target: defaults::TARGET,
            interval: defaults::INTERVAL,
            adaptive_lifo: defaults::ADAPTIVE_LIFO,
        }
    }
}

/// Manual override of a cluster breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerMode {
    /// Opens and closes by itself.
    Auto,
    /// Refuses every request (an operator isolating a dependency).
    ForceOpen,
    /// Admits every request and records nothing.
    ForceClosed,
    /// Records and logs transitions but never refuses (a dry run).
    MetricsOnly,
}

/// The window over which failure and slow-call rates are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerWindow {
    /// The last N calls.
    Count(u32),
    /// The calls of the last span of time.
    Time(#[serde(with = "crate::config::duration::serde_str")] Duration),
}

/// Cluster circuit breaker settings. A zero count or rate disables that trigger.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BreakerSettings {
    /// Manual override.
    pub mode: BreakerMode,
    /// Trip after this many failures in a row (0: off).
    pub consecutive_failures: u32,
    /// Trip when this share of the window failed (0: off).
    pub failure_rate: f64,
    /// Trip when this share of the window was slow (0: off).
    pub slow_call_rate: f64,
    /// A call slower than this is slow.
    #[serde(with = "crate::config::duration::serde_str")]
    pub slow_call_threshold: Duration,
    /// Window of the rate triggers.
    pub window: BreakerWindow,
    /// Rates are not judged on fewer calls than this.
    pub minimum_calls: u32,
    /// Time open after the first trip.
    #[serde(with = "crate::config::duration::serde_str")]
    pub open_duration: Duration,
    /// Cap of the doubling open time on repeated trips.
    #[serde(with = "crate::config::duration::serde_str")]
    pub max_open_duration: Duration,
    /// Share in `[0, 1]` by which an open time is shortened at random.
    pub jitter: f64,
    /// Probe calls admitted while half-open; that many successes close.
    pub half_open_probes: NonZeroU32,
}

/// Outlier ejection settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutlierSettings {
    /// Eject after this many failures in a row (0: ejection off).
    pub consecutive_failures: u32,
    /// Ejection time, multiplied by the number of times ejected.
    #[serde(with = "crate::config::duration::serde_str")]
    pub base_ejection_time: Duration,
    /// Cap of the ejection time.
    #[serde(with = "crate::config::duration::serde_str")]
    pub max_ejection_time: Duration,
    /// Most endpoints ejected at once, as a share (at least one, never all).
    pub max_ejection_percent: f64,
    /// An attempt cancelled after waiting this long counts as a failure.
    #[serde(with = "crate::config::duration::serde_str")]
    pub cancelled_after: Duration,
}

/// Active health check settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HealthCheckSettings {
    /// Path of the GET probe.
    pub path: String,
    /// Time between probes of one endpoint.
    #[serde(with = "crate::config::duration::serde_str")]
    pub interval: Duration,
    /// Share in `[0, 1]` by which an interval is lengthened at random.
    pub jitter: f64,
    /// Time a probe may take.
    #[serde(with = "crate::config::duration::serde_str")]
    pub timeout: Duration,
    /// Passing probes in a row that make an endpoint healthy.
    pub healthy_threshold: NonZeroU32,
    /// Failing probes in a row that make an endpoint unhealthy.
    pub unhealthy_threshold: NonZeroU32,
}

impl Config {
    /// Every certificate, key and CA file the config references, so the
    /// reload watcher can follow rotations of them too.
    pub fn tls_files(&self) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        for l in &self.listeners {
            if let Some(tls) = &l.tls {
                files.push(tls.certificate.clone());
                files.push(tls.private_key.clone());
                files.extend(tls.client_ca.clone());
            }
        }
        for c in &self.clusters {
            if let Some(tls) = &c.tls {
                files.extend(tls.ca.clone());
                files.extend(tls.certificate.clone());
                files.extend(tls.private_key.clone());
            }
        }
        files
    }
}
