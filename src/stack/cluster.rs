//! A cluster: endpoints, discovery and the cluster-level stack.

use std::sync::Arc;

use tower::ServiceBuilder;

use crate::config::ClusterSettings;
use crate::discovery::health::HealthChecker;
use crate::discovery::{Discovery, Resolve};
use crate::middleware::admission::AdmissionState;
use crate::middleware::balance::{Balance, BalanceLayer, EndpointSet};
use crate::middleware::breaker::Breaker;
use crate::middleware::classify::Classifier;
use crate::middleware::retry::RetryBudget;
use crate::telemetry::Metrics;
use crate::telemetry::timed::{Timed, TimedLayer};
use crate::upstream::client::UpstreamClient;

/// The cluster stack: balance → timing → client. A concrete type, not a
/// boxed service: a box would cost an allocation per clone and per call
/// on every request, and the route stack boxes once already.
pub type ClusterService = Balance<Timed<UpstreamClient>>;

/// One upstream cluster and the state shared by every request to it.
#[derive(Debug)]
pub struct Cluster {
    /// The cluster's settings.
    pub settings: ClusterSettings,
    /// The current endpoint set, kept fresh by discovery.
    pub endpoints: Arc<EndpointSet>,
    /// The cluster's admission compartment, shared by every route to it
    /// that has no `admission:` block of its own.
    pub admission: Arc<AdmissionState>,
    /// The cluster's circuit breaker, shared by every request to it.
    pub breaker: Arc<Breaker>,
    /// Judges outcomes for the breaker, outlier ejection and retries.
    pub classifier: Classifier,
    /// The retry budget every route to the cluster draws on.
    pub retry_budget: Arc<RetryBudget>,
    /// The cluster stack: balance → client.
    pub service: ClusterService,
    client: UpstreamClient,
    discovery: Arc<Discovery>,
    health: Option<Arc<HealthChecker>>,
}

impl Cluster {
    /// Resolves the endpoints once, starts re-resolution and builds the stack.
    pub async fn start(settings: ClusterSettings, resolver: Arc<dyn Resolve>) -> Self {
        Self::build(settings, resolver, None, &Metrics::new()).await
    }

    /// Builds the cluster for `settings`, carrying over from `previous` (the
    /// cluster of the same name in the snapshot being replaced) every piece
    /// of state a reload must not reset:
    ///
    /// - the endpoint set always (latency estimates, ejections and health
    ///   survive, by address); its outlier policy is replaced;
    /// - discovery, when endpoints and `resolve_interval` are unchanged;
    /// - the connection pool, when no connection setting changed;
    /// - the admission compartment always, resized in place when its limits
    ///   changed, so permits held by in-flight requests stay held;
    /// - the breaker (state, windows, manual override) when its settings are
    ///   unchanged;
    /// - the health checker when its settings and the pool's are unchanged;
    /// - the retry budget (deposits, withdrawals, counters) when its
    ///   settings are unchanged.
    pub async fn build(
        settings: ClusterSettings,
        resolver: Arc<dyn Resolve>,
        previous: Option<&Cluster>,
        metrics: &Metrics,
    ) -> Self {
        let endpoints = previous.map_or_else(EndpointSet::new, |p| p.endpoints.clone());
        let discovery = match previous {
            Some(p)
                if p.settings.endpoints == settings.endpoints
                    && p.settings.resolve_interval == settings.resolve_interval =>
            {
                p.discovery.clone()
            }
            _ => {
                // The endpoint set is shared with the previous cluster,
                // which lives on while requests hold the old snapshot: its
                // discovery must stop now, or its next round writes the
                // old endpoints back over the new ones.
                if let Some(p) = previous {
                    p.discovery.stop();
                }
                Arc::new(
                    Discovery::start(
                        settings.endpoints.clone(),
                        settings.resolve_interval,
                        resolver,
                        endpoints.clone(),
                    )
                    .await,
                )
            }
        };
        let same_pool =
            previous.is_some_and(|p| UpstreamClient::same_settings(&p.settings, &settings));
        let client = match previous {
            Some(p) if same_pool => p.client.clone(),
            _ => UpstreamClient::counted(&settings, metrics.upstream_connections(&settings.name)),
        };
        let admission = match previous {
            Some(p) => {
                if p.settings.admission != settings.admission {
                    p.admission.resize(settings.admission.clone());
                }
                p.admission.clone()
            }
            None => AdmissionState::new(settings.name.clone(), settings.admission.clone()),
        };
        let breaker = match previous {
            Some(p) if p.settings.breaker == settings.breaker => p.breaker.clone(),
            _ => Breaker::new(&settings.name, settings.breaker.clone()),
        };
        let retry_budget = match previous {
            Some(p) if p.settings.retry.budget == settings.retry.budget => p.retry_budget.clone(),
            _ => RetryBudget::new(settings.retry.budget.clone()),
        };
        let classifier = Classifier::new(&settings.failure_statuses);
        endpoints.set_outlier(settings.outlier.clone(), classifier.clone());
        let health = match previous {
            Some(p) if same_pool && p.settings.health_check == settings.health_check => {
                p.health.clone()
            }
            _ => settings
                .health_check
                .clone()
                .map(|check| Arc::new(HealthChecker::start(&settings, check, endpoints.clone()))),
        };
        let service = ServiceBuilder::new()
            // Pick the endpoint last, so every attempt is balanced afresh.
            .layer(BalanceLayer::new(endpoints.clone(), &settings.balance))
            // Innermost: time each attempt as the upstream sees it.
            .layer(TimedLayer::new(metrics.attempt_duration(&settings.name)))
            .service(client.clone());
        Self {
            admission,
            settings,
            endpoints,
            breaker,
            classifier,
            retry_budget,
            service,
            client,
            discovery,
            health,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::discovery::SystemResolver;

    fn settings(endpoint: &str) -> ClusterSettings {
        let yaml = format!(
            "listeners:\n  - name: i\n    address: 127.0.0.1:0\n    routes: [{{name: r, cluster: c}}]\nclusters:\n  - name: c\n    endpoints: [\"{endpoint}\"]\n    resolve_interval: 10ms\n"
        );
        crate::config::parse(&yaml, None)
            .expect("valid config")
            .clusters
            .remove(0)
    }

    fn ports(cluster: &Cluster) -> Vec<u16> {
        cluster
            .endpoints
            .endpoints()
            .iter()
            .map(|e| e.addr().port())
            .collect()
    }

    #[tokio::test]
    async fn a_replaced_cluster_stops_writing_its_endpoints_into_the_shared_set() {
        let resolver: Arc<dyn Resolve> = Arc::new(SystemResolver);
        let metrics = Metrics::new();
        let old =
            Cluster::build(settings("127.0.0.1:1001"), resolver.clone(), None, &metrics).await;
        let new = Cluster::build(settings("127.0.0.1:1002"), resolver, Some(&old), &metrics).await;
        assert_eq!(ports(&new), [1002]);
        // The old cluster is still alive (as while requests hold the old
        // snapshot) for many of its resolve intervals.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(ports(&new), [1002]);
        drop(old);
    }
}
