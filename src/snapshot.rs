//! The routing state every request reads, swapped whole on reload.
//!
//! A request loads the current [`Snapshot`] once (one atomic load through
//! `ArcSwap`) and finishes on the stack it started with, even if a reload
//! swaps in a new one meanwhile. Long-lived state (endpoints, pools, later
//! breakers and budgets) sits in per-cluster objects behind `Arc`, so a new
//! snapshot can reuse it.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::Config;
use crate::discovery::Resolve;
use crate::middleware::admission::AdmissionState;
use crate::routing::RouteTable;
use crate::stack::carry::Carry;
use crate::stack::{self, Cluster, RouteService};
use crate::telemetry::Metrics;
use crate::telemetry::metrics::RouteMetrics;
use crate::telemetry::trace::Tracing;

/// What a matched route leads to.
#[derive(Debug)]
pub struct RouteTarget {
    /// The cluster the route sends to.
    pub cluster: Arc<Cluster>,
    /// The assembled route stack.
    pub service: RouteService,
    /// The route's own admission compartment (`None`: the cluster's), kept
    /// so a reload can carry it over.
    pub admission: Option<Arc<AdmissionState>>,
    /// The route's metric handles.
    pub metrics: RouteMetrics,
}

/// One generation of routing state.
#[derive(Debug)]
pub struct Snapshot {
    /// Increases by one with every applied config.
    pub generation: u64,
    /// The validated config this snapshot was built from.
    pub config: Arc<Config>,
    /// Route tables by listener name.
    pub listeners: HashMap<String, Arc<RouteTable<RouteTarget>>>,
    /// Clusters by name.
    pub clusters: HashMap<String, Arc<Cluster>>,
    /// The process's metrics (the same object in every generation).
    pub metrics: Arc<Metrics>,
    /// Span export, when `tracing:` sets a collector.
    pub tracing: Option<Arc<Tracing>>,
}

/// The handle shared by all connections.
pub type Shared = Arc<ArcSwap<Snapshot>>;

impl Snapshot {
    /// Builds a snapshot: starts each cluster (resolving new endpoints
    /// once, concurrently) and assembles every route's stack. With
    /// `previous`, state is carried over by name, as the rules in
    /// [`crate::stack::carry`] say.
    pub async fn build(
        config: Config,
        generation: u64,
        resolver: Arc<dyn Resolve>,
        previous: Option<&Snapshot>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let clusters = futures_util::future::join_all(config.clusters.iter().map(|c| {
            let old = previous.and_then(|p| p.clusters.get(&c.name));
            let (resolver, metrics) = (resolver.clone(), metrics.clone());
            async move {
                match old {
                    Some(old) if Carry::between(&old.settings, c).whole => old.clone(),
                    _ => Arc::new(
                        Cluster::build(c.clone(), resolver, old.map(|o| &**o), &metrics).await,
                    ),
                }
            }
        }))
        .await;
        let clusters: HashMap<String, Arc<Cluster>> = clusters
            .into_iter()
            .map(|c| (c.settings.name.clone(), c))
            .collect();
        let listeners = config
            .listeners
            .iter()
            .map(|l| {
                let old_table = previous.and_then(|p| p.listeners.get(&l.name));
                let routes = l.routes.iter().filter_map(|r| {
                    // Validation guarantees the reference resolves.
                    let cluster = clusters.get(&r.cluster)?.clone();
                    let old_own = old_table
                        .and_then(|t| t.routes().find(|o| o.settings.name == r.name))
                        .and_then(|o| o.target.admission.clone());
                    let admission = stack::route_compartment(r, &cluster, old_own);
                    let compartment = admission
                        .clone()
                        .unwrap_or_else(|| cluster.admission.clone());
                    let service = stack::route_service(r, &cluster, compartment);
                    Some((
                        r.clone(),
                        RouteTarget {
                            metrics: metrics.route(&l.name, &r.name, &r.cluster),
                            cluster,
                            service,
                            admission,
                        },
                    ))
                });
                (l.name.clone(), Arc::new(RouteTable::new(routes)))
            })
            .collect();
        let tracing = tracer(&config, previous, &metrics);
        Self {
            generation,
            config: Arc::new(config),
            listeners,
            clusters,
            metrics,
            tracing,
        }
    }

    /// True when every cluster knows at least one endpoint.
    pub fn all_clusters_have_endpoints(&self) -> bool {
        self.clusters.values().all(|c| !c.endpoints.is_empty())
    }
}

/// The snapshot's tracer: the previous one when the `tracing:` block is
/// unchanged, else a new one (or none, when it cannot start: logged, and
/// requests are served untraced).
fn tracer(config: &Config, previous: Option<&Snapshot>, metrics: &Metrics) -> Option<Arc<Tracing>> {
    let settings = config.tracing.as_ref()?;
    if let Some(old) = previous.and_then(|p| p.tracing.as_ref())
        && old.settings() == settings
    {
        return Some(old.clone());
    }
    match Tracing::start(settings, metrics.spans()) {
        Ok(started) => Some(Arc::new(started)),
        Err(error) => {
            tracing::error!(%error, endpoint = %settings.otlp_endpoint, "cannot start span export; requests are not traced");
            None
        }
    }
}
