//! Assembles the tower stacks, in the one documented order.
//!
//! Per route (outer → inner), as DESIGN.md draws it; the layers this build
//! has are marked with their place:
//!
//! ```text
//! observe, rescue   proxy::service (access log, request id, errors → responses)
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
//! client            proxy::client — pooled hyper-util client of the cluster
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
//! Observe and rescue live in the proxy service rather than as layers because
//! they need the downstream request (connection, upgrade handle) that the
//! route stack never sees.

pub mod carry;
mod cluster;

pub use cluster::{Cluster, ClusterService};

use std::sync::Arc;

use tower::ServiceBuilder;
use tower::util::BoxCloneSyncService;

use crate::config::RouteSettings;
use crate::middleware::admission::{AdmissionLayer, AdmissionState};
use crate::middleware::breaker::BreakerLayer;
use crate::middleware::retry::RetryLayer;
use crate::middleware::timeout::{AttemptLayer, DeadlineLayer};
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
    Some(carry::route_compartment(name, own, previous))
}

/// Assembles a route's stack on top of its cluster's shared stack, with
/// `compartment` as its admission state (see [`route_compartment`]).
pub fn route_service(
    route: &RouteSettings,
    cluster: &Cluster,
    compartment: Arc<AdmissionState>,
) -> RouteService {
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
        .service(cluster.service.clone());
    BoxCloneSyncService::new(service)
}
