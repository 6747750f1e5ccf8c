//! Assembles the tower stacks, in the one documented order.
//!
//! Per route (outer → inner), each layer with its place:
//!
//! ```text
//! observe, rescue   downstream::service (access log, request id, errors →
//!                   responses, through downstream::rescue)
//! deadline          middleware::timeout — total timeout, sets `Deadline`
//! admission         middleware::admission — bulkhead + bounded queue + CoDel,
//!                   per cluster or per route; reads `Deadline`
//! retry             middleware::retry — route policy, the Cluster's budget;
//!                   backoff, replay buffer, marks what it gives up on
//! breaker           middleware::breaker — the cluster's circuit breaker; the
//!                   state is the Cluster's, the layer is pushed per route so
//!                   the route-level attempt timeout sits inside it
//! attempt           middleware::timeout — per-try timeouts, forwards the budget
//! balance           middleware::balance — P2C PeakEWMA over the cluster's
//!                   non-ejected, healthy endpoints
//! timed             telemetry::timed — the attempt as the upstream sees it
//! client            upstream::client — the cluster's pooled client
//! ```
//!
//! Admission sits inside deadline (it reads the Deadline to refuse work that
//! cannot finish) and outside retry, breaker and balance: a request holds
//! one slot across all its attempts, so retries cannot raise concurrency,
//! and a shed request never reaches the breaker, which must only ever see
//! the upstream's failures. Retry sits outside the breaker so every attempt
//! is counted and an open breaker fails an attempt at once (a local refusal,
//! never retried), and outside attempt so each try gets its own timeout.
//!
//! [`route_stack`] and [`cluster_stack`] are generic over what lies below
//! them, so benches and tests assemble exactly this order over a scripted
//! service instead of restating it.
//!
//! Observe and rescue live in the proxy service rather than as layers because
//! they need the downstream request (connection, upgrade handle) that the
//! route stack never sees.

pub mod carry;
mod cluster;

pub use cluster::{Cluster, ClusterService};

use std::sync::Arc;

use prometheus_client::metrics::histogram::Histogram;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder};

use crate::config::{BalanceSettings, ClusterSettings, RouteSettings};
use crate::middleware::admission::{AdmissionLayer, AdmissionState};
use crate::middleware::balance::{Balance, BalanceLayer, EndpointSet};
use crate::middleware::breaker::{Breaker, BreakerLayer};
use crate::middleware::classify::Classifier;
use crate::middleware::retry::{RetryBudget, RetryLayer};
use crate::middleware::timeout::{AttemptLayer, DeadlineLayer};
use crate::telemetry::timed::{Timed, TimedLayer};
use crate::wire::BoxError;
use crate::wire::body::{Request, Response};

/// A route's assembled stack: cheap to clone, one clone per request.
pub type RouteService = BoxCloneSyncService<Request, Response, BoxError>;

/// The route's own admission compartment, when it has an `admission:`
/// block (carried over as [`carry`] says). `None`: the route shares its
/// cluster's.
pub fn route_compartment(
    route: &RouteSettings,
    cluster: &Cluster,
    previous: Option<Arc<AdmissionState>>,
) -> Option<Arc<AdmissionState>> {
    let own = route.admission.as_ref()?;
    let name = format!("{}/{}", cluster.settings.name, route.name);
    let compartment = carry::route_compartment(name, own, previous);
    compartment.spread_over(cluster.endpoints.spread());
    Some(compartment)
}

/// What a route's layers share with every other route to the same
/// cluster: its settings and the state kept per cluster.
#[derive(Clone, Copy, Debug)]
pub struct Shared<'a> {
    /// The cluster's settings (its timeouts are the routes' defaults).
    pub settings: &'a ClusterSettings,
    /// The cluster's breaker.
    pub breaker: &'a Arc<Breaker>,
    /// The retry budget every route to the cluster draws on.
    pub retry_budget: &'a Arc<RetryBudget>,
    /// Judges outcomes for the breaker and retries.
    pub classifier: &'a Classifier,
}

/// Assembles a route's stack on top of its cluster's shared stack, with
/// `compartment` as its admission state (see [`route_compartment`]).
pub fn route_service(
    route: &RouteSettings,
    cluster: &Cluster,
    compartment: Arc<AdmissionState>,
) -> RouteService {
    route_stack(
        route,
        cluster.shared(),
        compartment,
        cluster.service.clone(),
    )
}

/// The route layers, in the one documented order, over any `inner`
/// cluster stack (the real one is [`cluster_stack`] over the pool; benches
/// and tests put a scripted service there).
pub fn route_stack<S>(
    route: &RouteSettings,
    cluster: Shared<'_>,
    compartment: Arc<AdmissionState>,
    inner: S,
) -> RouteService
where
    S: Service<Request, Response = Response, Error = BoxError> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    // Route-level layers go here, outside the cluster stack, so a route's
    // policy never leaks into another route.
    let timeouts = cluster.settings.timeouts.with(&route.timeouts);
    let service = ServiceBuilder::new()
        // First, so queueing, every retry and the body count against it,
        // and inner layers can read the deadline.
        .layer(DeadlineLayer::new(&timeouts))
        // Refuse early what cannot be served in time; one slot per request
        // however many attempts it makes.
        .layer(AdmissionLayer::new(compartment))
        // Retries inside the slot (they cannot raise concurrency) and
        // outside the breaker (each attempt counted); the budget is the
        // cluster's, shared by its routes and kept across reloads.
        .option_layer(route.retry.retries().then(|| {
            RetryLayer::new(
                route.retry.clone(),
                cluster.retry_budget.clone(),
                cluster.classifier.clone(),
            )
        }))
        // The cluster's breaker, outside balance: it isolates the dependency
        // (one bad replica is ejection's business) and sees every attempt.
        .layer(BreakerLayer::new(
            cluster.breaker.clone(),
            cluster.classifier.clone(),
        ))
        // Last before balancing: each try gets its own bound and the
        // budget forwarded upstream is measured when the try is sent.
        .layer(AttemptLayer::new(&timeouts))
        .service(inner);
    BoxCloneSyncService::new(service)
}

/// The cluster stack over any `client` (the real one is the cluster's
/// pooled [`UpstreamClient`](crate::upstream::client::UpstreamClient)).
pub fn cluster_stack<S>(
    endpoints: Arc<EndpointSet>,
    balance: &BalanceSettings,
    attempt_duration: Histogram,
    client: S,
) -> Balance<Timed<S>> {
    ServiceBuilder::new()
        // Pick the endpoint last, so every attempt is balanced afresh.
        .layer(BalanceLayer::new(endpoints, balance))
        // Innermost: time each attempt as the upstream sees it.
        .layer(TimedLayer::new(attempt_duration))
        .service(client)
}
