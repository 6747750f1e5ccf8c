//! What survives a reload: every carry-over rule, in one place.
//!
//! A reload builds a new snapshot next to the old one. Long-lived state
//! (learned latencies, an open breaker, a spent retry budget, warm
//! connections, held admission permits) must not be reset by it, or a
//! reload during an incident would undo the protection that is holding
//! the incident back. The rules, by piece, for a cluster of the same name:
//!
//! | piece | carried over when |
//! |---|---|
//! | the whole cluster | its settings are unchanged |
//! | endpoint set (latency estimates, ejections, health) | always (by address); its outlier policy is replaced |
//! | discovery | endpoints and `resolve_interval` are unchanged (else the old one stops at once) |
//! | connection pool | no connection setting changed (protocol, timeouts, pool sizes, TLS) |
//! | health checker | the pool is carried and `health_check` is unchanged |
//! | admission compartment | always; resized in place when its limits changed, so held permits stay held |
//! | breaker (state, windows, manual override) | `breaker` is unchanged |
//! | retry budget (tokens, counters) | `retry.budget` is unchanged |
//! | a route's own admission compartment | the route keeps its name and an `admission:` block (resized like the cluster's) |
//!
//! [`Carry::between`] answers these questions for a pair of settings;
//! `Cluster::build` and `route_compartment` only follow the answers.

use std::sync::Arc;

use crate::config::{AdmissionSettings, ClusterSettings};
use crate::middleware::admission::AdmissionState;
use crate::upstream::client::UpstreamClient;

/// Which pieces of the previous cluster a new one keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Carry {
    /// Nothing changed: keep the previous cluster itself.
    pub whole: bool,
    /// Keep the running discovery task.
    pub discovery: bool,
    /// Keep the connection pool.
    pub pool: bool,
    /// Keep the running health checker.
    pub health: bool,
    /// Keep the breaker.
    pub breaker: bool,
    /// Keep the retry budget.
    pub retry_budget: bool,
    /// The admission compartment (always kept) must take new limits.
    pub resize_admission: bool,
}

impl Carry {
    /// What a cluster built from `new` keeps of one built from `old`.
    pub fn between(old: &ClusterSettings, new: &ClusterSettings) -> Self {
        let pool = UpstreamClient::same_settings(old, new);
        Self {
            whole: old == new,
            discovery: old.endpoints == new.endpoints
                && old.resolve_interval == new.resolve_interval,
            pool,
            health: pool && old.health_check == new.health_check,
            breaker: old.breaker == new.breaker,
            retry_budget: old.retry.budget == new.retry.budget,
            resize_admission: old.admission != new.admission,
        }
    }
}

/// The cluster's admission compartment: the previous one (resized in place
/// when its limits changed), or a new one.
pub fn cluster_compartment(
    settings: &ClusterSettings,
    previous: Option<(&Arc<AdmissionState>, Carry)>,
) -> Arc<AdmissionState> {
    compartment(
        &settings.name,
        &settings.admission,
        previous.map(|(state, carry)| (state.clone(), carry.resize_admission)),
    )
}

/// A route's own compartment (named `cluster/route`): the one it had before
/// a reload, resized in place if its limits changed, or a new one.
pub fn route_compartment(
    name: String,
    settings: &AdmissionSettings,
    previous: Option<Arc<AdmissionState>>,
) -> Arc<AdmissionState> {
    let resize = previous.as_ref().map(|p| (p.clone(), true));
    compartment(&name, settings, resize)
}

fn compartment(
    name: &str,
    settings: &AdmissionSettings,
    previous: Option<(Arc<AdmissionState>, bool)>,
) -> Arc<AdmissionState> {
    match previous {
        Some((state, resize)) => {
            if resize {
                state.resize(settings.clone());
            }
            state
        }
        None => AdmissionState::new(name.to_owned(), settings.clone()),
    }
}
