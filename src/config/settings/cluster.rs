//! Typed settings of one upstream cluster: endpoints, protocol, pooling and
//! balancing, and the blocks of the other features it holds.

use std::time::Duration;

use serde::Serialize;

use super::admission::AdmissionSettings;
use super::resilience::{BreakerSettings, HealthCheckSettings, OutlierSettings};
use super::retry::RetrySettings;
use super::timeouts::TimeoutSettings;
use super::tls::ClusterTls;

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
    /// Most idle pooled connections kept in the whole cluster.
    pub pool_max_idle_per_cluster: usize,
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
    /// gRPC statuses that count as failures for the breaker and ejection.
    pub failure_grpc_codes: crate::wire::grpc::Codes,
    /// The cluster circuit breaker.
    pub breaker: BreakerSettings,
    /// Per-endpoint outlier ejection.
    pub outlier: OutlierSettings,
    /// Active health checks; `None` when off (the default).
    pub health_check: Option<HealthCheckSettings>,
    /// TLS to the endpoints; `None`: plaintext.
    pub tls: Option<ClusterTls>,
    /// Retries: the default policy of the cluster's routes and the budget
    /// they all draw from.
    pub retry: RetrySettings,
}

impl ClusterSettings {
    /// The warning for the ClusterIP trap: ejection or health checks on a
    /// cluster whose host names resolve to `addresses` = 1 address, where
    /// they can act on nothing (a Service's one virtual IP hides its
    /// pods). A lone IP literal is the operator's own choice: no warning.
    pub fn single_address_warning(&self, addresses: usize) -> Option<String> {
        let ejects = self.outlier.consecutive_failures > 0 || self.outlier.failure_percentage > 0.0;
        let probes = self.health_check.is_some();
        let named = self.endpoints.iter().any(|e| {
            e.host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_err()
        });
        let what = match (ejects, probes) {
            _ if addresses != 1 || !named => return None,
            (true, true) => "outlier ejection and health checks",
            (true, false) => "outlier ejection",
            (false, true) => "health checks",
            (false, false) => return None,
        };
        Some(format!(
            "cluster \"{}\" has {what} but its endpoints resolve to a single address: \
             behind one virtual IP (a Kubernetes ClusterIP Service, a load balancer) seawall \
             sees one endpoint, so it cannot eject or probe a bad replica and has nothing to \
             balance; point it at a headless Service (`clusterIP: None`), whose DNS name \
             answers with every ready pod's IP (README: Dependencies behind headless Services)",
            self.name
        ))
    }
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
    /// Power of two choices on requests in flight, with a latency penalty
    /// for a clearly slower endpoint (the name is kept from its PeakEWMA
    /// days so existing files keep working).
    P2cPeakEwma {
        /// Latency assumed for an endpoint that has not answered yet.
        #[serde(with = "crate::config::duration::serde_str")]
        default_rtt: Duration,
        /// Time constant over which old latency observations fade.
        #[serde(with = "crate::config::duration::serde_str")]
        decay: Duration,
        /// Ramp a new or readmitted endpoint's share up over this long;
        /// `None`: off.
        #[serde(with = "crate::config::duration::serde_opt")]
        slow_start: Option<Duration>,
    },
    /// Each endpoint in turn.
    RoundRobin,
}
