//! Prometheus metrics, registered once at startup.
//!
//! Two kinds, by where the number lives:
//!
//! - **Events on the request path** (requests, durations, connections) are
//!   prometheus-client counters and histograms. Routes hold their handles
//!   (looked up once per snapshot build, see [`RouteMetrics`]), so the hot
//!   path does no label hashing for ordinary responses; only synthesized
//!   error responses look up their `reason` label. Response body cuts are
//!   counted on per-route handles, one per reason ([`CUT_REASONS`]).
//! - **State the layers already keep** (admission queues, breaker phases and
//!   transitions, ejections, reloads) is read at scrape time by a
//!   [`Collector`] walking the current snapshot: the layers stay free of
//!   metrics code, and a reload never resets a counter because the state
//!   objects it reads are carried over.
//!
//! Names follow `seawall_<subsystem>_<name>`, counters end in `_total`,
//! durations in `_seconds`; labels are bounded: route, cluster, listener,
//! reason, outcome, state, and the status `code` (exact for a fixed list,
//! else the class: see [`requests`](super::requests)) — never paths or
//! client addresses. The standard `process_*` families come from
//! [`process`](super::process).

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use prometheus_client::collector::Collector;

use super::grpc::{GrpcCalls, GrpcLabels};
use super::late::Late;
use super::process::ProcessCollector;
use super::requests::request_labels;
pub use super::requests::{CUT_REASONS, CutLabels, RequestLabels, RouteLabels, RouteMetrics};
use super::trace::queue::SpanCounters;

/// The two metric handles of one cluster.
#[derive(Clone, Debug, Default)]
pub struct ConnectionMetrics {
    /// Connections open now.
    pub open: Gauge,
    /// Connections made.
    pub total: Counter,
}

/// Labels naming a listener.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabels {
    /// Listener name.
    pub listener: String,
}

/// Labels naming a cluster.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterLabels {
    /// Cluster name.
    pub cluster: String,
}

/// Every metric seawall exports; one per process, shared by snapshots.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_duration: Family<RouteLabels, Histogram>,
    attempt_duration: Family<ClusterLabels, Histogram>,
    connections_open: Family<ListenerLabels, Gauge>,
    connections_total: Family<ListenerLabels, Counter>,
    upstream_open: Family<ClusterLabels, Gauge>,
    upstream_total: Family<ClusterLabels, Counter>,
    cuts: Family<CutLabels, Counter>,
    grpc: Family<GrpcLabels, Counter>,
    spans: SpanCounters,
    memory_releases: Counter,
    state: Arc<Late>,
}

/// `seawall_response_body_cuts_total`, registered once.
fn register_cuts(registry: &mut Registry) -> Family<CutLabels, Counter> {
    let cuts = Family::<CutLabels, Counter>::default();
    registry.register(
        "seawall_response_body_cuts",
        "Response bodies cut before their end (the client never got a complete body), \
         by route, cluster and reason",
        cuts.clone(),
    );
    cuts
}

fn latency_buckets() -> Histogram {
    // 0.5 ms … ~16 s, doubling.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "seawall_requests",
            "Requests answered, by route, cluster, status class and seawall's reason code",
            requests.clone(),
        );
        let request_duration =
            Family::<RouteLabels, Histogram>::new_with_constructor(latency_buckets as fn() -> _);
        registry.register(
            "seawall_request_duration_seconds",
            "Time from a request's arrival to its response headers",
            request_duration.clone(),
        );
        let attempt_duration =
            Family::<ClusterLabels, Histogram>::new_with_constructor(latency_buckets as fn() -> _);
        registry.register(
            "seawall_upstream_attempt_duration_seconds",
            "Time from sending one attempt upstream to its response headers or error",
            attempt_duration.clone(),
        );
        let connections_open = Family::<ListenerLabels, Gauge>::default();
        registry.register(
            "seawall_downstream_connections_open",
            "Downstream connections open now",
            connections_open.clone(),
        );
        let connections_total = Family::<ListenerLabels, Counter>::default();
        registry.register(
            "seawall_downstream_connections",
            "Downstream connections accepted",
            connections_total.clone(),
        );
        let upstream_open = Family::<ClusterLabels, Gauge>::default();
        registry.register(
            "seawall_upstream_connections_open",
            "Upstream connections open now (pooled or in use)",
            upstream_open.clone(),
        );
        let upstream_total = Family::<ClusterLabels, Counter>::default();
        registry.register(
            "seawall_upstream_connections",
            "Upstream connections made",
            upstream_total.clone(),
        );
        let cuts = register_cuts(&mut registry);
        let grpc = Family::<GrpcLabels, Counter>::default();
        registry.register(
            "seawall_grpc_responses",
            "gRPC calls answered, by route, cluster and the grpc-status they ended with \
             (`none`: no status)",
            grpc.clone(),
        );
        let spans = SpanCounters::default();
        registry.register(
            "seawall_trace_spans_exported",
            "Spans the OTLP collector accepted",
            spans.exported.clone(),
        );
        registry.register(
            "seawall_trace_spans_dropped",
            "Spans lost: the export queue was full, or their export failed or timed out",
            spans.dropped.clone(),
        );
        let memory_releases = Counter::default();
        registry.register(
            "seawall_memory_releases",
            "Times the heap memory a burst freed was handed back to the OS",
            memory_releases.clone(),
        );
        let build = Family::<[(&'static str, &'static str); 1], Gauge>::default();
        build
            .get_or_create(&[("version", env!("CARGO_PKG_VERSION"))])
            .set(1);
        registry.register("seawall_build_info", "seawall's version", build);
        registry.register_collector(Box::new(ProcessCollector::new()));
        let state = Arc::new(Late::default());
        registry.register_collector(Box::new(state.clone()));
        Arc::new(Self {
            registry,
            requests,
            request_duration,
            attempt_duration,
            connections_open,
            connections_total,
            upstream_open,
            upstream_total,
            cuts,
            grpc,
            spans,
            memory_releases,
            state,
        })
    }

    /// The counters of trace spans exported and dropped.
    pub fn spans(&self) -> SpanCounters {
        self.spans.clone()
    }

    /// The counter of memory releases (see [`crate::server::memory`]).
    pub fn memory_releases(&self) -> Counter {
        self.memory_releases.clone()
    }

    /// Installs the scrape-time collector, which reads the state the layers
    /// keep anyway (the admin endpoint's, which knows the running snapshot).
    /// Only the first call counts; before it a scrape has no such samples.
    pub fn observe(&self, collector: impl Collector) {
        self.state.set(Box::new(collector));
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// The handles of one route of `listener`, looked up once per
    /// snapshot build.
    pub fn route(&self, listener: &str, route: &str, cluster: &str) -> RouteMetrics {
        let labels = RouteLabels {
            listener: listener.to_owned(),
            route: route.to_owned(),
            cluster: cluster.to_owned(),
        };
        let duration = self.request_duration.get_or_create(&labels).clone();
        let grpc = GrpcCalls::new(self.grpc.clone());
        RouteMetrics::new(labels, self.requests.clone(), &self.cuts, duration, grpc)
    }

    /// Counts a synthesized response (a seawall reason code) on `route`,
    /// or on `listener` when no route matched.
    pub fn refused(&self, route: Option<&RouteLabels>, listener: &str, status: u16, reason: &str) {
        self.requests
            .get_or_create(&request_labels(route, listener, status, reason))
            .inc();
    }

    /// The attempt-duration histogram of a cluster.
    pub fn attempt_duration(&self, cluster: &str) -> Histogram {
        self.attempt_duration
            .get_or_create(&ClusterLabels {
                cluster: cluster.to_owned(),
            })
            .clone()
    }

    /// The upstream-connection handles of a cluster.
    pub fn upstream_connections(&self, cluster: &str) -> ConnectionMetrics {
        let labels = ClusterLabels {
            cluster: cluster.to_owned(),
        };
        ConnectionMetrics {
            open: self.upstream_open.get_or_create(&labels).clone(),
            total: self.upstream_total.get_or_create(&labels).clone(),
        }
    }

    /// Counts an accepted connection; the guard counts it closed.
    pub fn connection(&self, listener: &str) -> ConnectionGuard {
        let labels = ListenerLabels {
            listener: listener.to_owned(),
        };
        self.connections_total.get_or_create(&labels).inc();
        let open = self.connections_open.get_or_create(&labels).clone();
        open.inc();
        ConnectionGuard(open)
    }
}

/// Decrements the open-connections gauge when the connection ends.
#[derive(Debug)]
pub struct ConnectionGuard(Gauge);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}
