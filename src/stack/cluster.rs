//! A cluster: endpoints, discovery and the cluster-level stack.

use std::sync::Arc;

use super::carry::{self, Carry};
use crate::config::ClusterSettings;
use crate::discovery::health::HealthChecker;
use crate::discovery::{Discovery, Resolve};
use crate::middleware::admission::AdmissionState;
use crate::middleware::balance::{Balance, EndpointSet};
use crate::middleware::breaker::Breaker;
use crate::middleware::classify::Classifier;
use crate::middleware::retry::RetryBudget;
use crate::telemetry::Metrics;
use crate::telemetry::timed::Timed;
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
    /// What the cluster's routes share (see [`super::route_stack`]).
    pub fn shared(&self) -> super::Shared<'_> {
        super::Shared {
            settings: &self.settings,
            breaker: &self.breaker,
            retry_budget: &self.retry_budget,
            classifier: &self.classifier,
        }
    }

    /// Resolves the endpoints once, starts re-resolution and builds the stack.
    pub async fn start(settings: ClusterSettings, resolver: Arc<dyn Resolve>) -> Self {
        Self::build(settings, resolver, None, &Metrics::new()).await
    }

    /// Builds the cluster for `settings`, carrying over from `previous` (the
    /// cluster of the same name in the snapshot being replaced) every piece
    /// of state the rules in [`super::carry`] keep.
    pub async fn build(
        settings: ClusterSettings,
        resolver: Arc<dyn Resolve>,
        previous: Option<&Cluster>,
        metrics: &Metrics,
    ) -> Self {
        let carry = previous.map(|p| (p, Carry::between(&p.settings, &settings)));
        let keep = |wanted: fn(&Carry) -> bool| carry.filter(|(_, c)| wanted(c)).map(|(p, _)| p);
        let endpoints = previous.map_or_else(EndpointSet::new, |p| p.endpoints.clone());
        let discovery = match keep(|c| c.discovery) {
            Some(p) => p.discovery.clone(),
            None => {
                // The endpoint set is shared with the previous cluster,
                // which lives on while requests hold the old snapshot: its
                // discovery must stop now, or its next round writes the
                // old endpoints back over the new ones.
                if let Some(p) = previous {
                    p.discovery.stop();
                }
                let (specs, every) = (settings.endpoints.clone(), settings.resolve_interval);
                let discovery = Discovery::start(specs, every, resolver, endpoints.clone()).await;
                if let Some(warning) = settings.single_address_warning(endpoints.len()) {
                    tracing::warn!(cluster = %settings.name, "{warning}");
                }
                Arc::new(discovery)
            }
        };
        let client = keep(|c| c.pool).map_or_else(
            || UpstreamClient::counted(&settings, metrics.upstream_connections(&settings.name)),
            |p| p.client.clone(),
        );
        let admission =
            carry::cluster_compartment(&settings, carry.map(|(p, c)| (&p.admission, c)));
        admission.spread_over(endpoints.spread());
        let breaker = keep(|c| c.breaker).map_or_else(
            || {
                if let Some(p) = previous
                    && p.breaker.mode() != p.settings.breaker.mode
                {
                    // An operator's override (admin API) lives in the old
                    // breaker; new breaker settings start from the file.
                    tracing::warn!(
                        cluster = %settings.name,
                        dropped = ?p.breaker.mode(),
                        mode = ?settings.breaker.mode,
                        "breaker settings changed by reload: the manual breaker override is dropped"
                    );
                }
                Breaker::new(&settings.name, settings.breaker.clone())
            },
            |p| p.breaker.clone(),
        );
        let retry_budget = keep(|c| c.retry_budget).map_or_else(
            || RetryBudget::new(settings.retry.budget.clone()),
            |p| p.retry_budget.clone(),
        );
        let classifier =
            Classifier::new(&settings.failure_statuses).with_grpc(settings.failure_grpc_codes);
        endpoints.set_outlier(settings.outlier.clone(), classifier.clone());
        let health = match keep(|c| c.health) {
            Some(p) => p.health.clone(),
            None => settings.health_check.clone().map(|check| {
                Arc::new(HealthChecker::start(
                    check,
                    endpoints.clone(),
                    client.clone(),
                ))
            }),
        };
        let service = super::cluster_stack(
            endpoints.clone(),
            &settings.balance,
            metrics.attempt_duration(&settings.name),
            client.clone(),
        );
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
