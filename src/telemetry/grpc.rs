//! `seawall_grpc_responses_total`: gRPC calls by how they ended.
//!
//! A gRPC call answers HTTP 200 whatever happened; its outcome is the
//! `grpc-status` in the response headers (trailers-only) or the trailers.
//! The `grpc_status` label is bounded: one of gRPC's 17 code names
//! (`ok` … `unauthenticated`, as the config writes them; a number outside
//! them counts as `unknown`, as gRPC reads it), or `none` for a response
//! that ended without a status. A route's counters are created on first
//! use of each status, once, as for `seawall_requests_total`.

use std::sync::{Arc, OnceLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::requests::RouteLabels;
use crate::wire::grpc::{CODE_NAMES, UNKNOWN};

/// Labels of `seawall_grpc_responses_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GrpcLabels {
    /// Listener name.
    pub listener: String,
    /// Route name.
    pub route: String,
    /// Cluster name.
    pub cluster: String,
    /// A code name from `wire::grpc::CODE_NAMES`, or `none`.
    pub grpc_status: &'static str,
}

/// The label of a call that ended without a `grpc-status`.
pub const NO_STATUS: &str = "none";

/// Slots: one per code, then `none`.
const SLOTS: usize = CODE_NAMES.len() + 1;

/// The `grpc_status` label of `status` (`None`: no status).
pub fn status_label(status: Option<u32>) -> &'static str {
    match status {
        None => NO_STATUS,
        Some(code) => CODE_NAMES
            .get(code as usize)
            .copied()
            .unwrap_or(CODE_NAMES[UNKNOWN as usize]),
    }
}

fn slot(status: Option<u32>) -> usize {
    match status {
        None => CODE_NAMES.len(),
        Some(code) if (code as usize) < CODE_NAMES.len() => code as usize,
        Some(_) => UNKNOWN as usize,
    }
}

/// A route's gRPC counters.
#[derive(Clone, Debug)]
pub struct GrpcCalls {
    family: Family<GrpcLabels, Counter>,
    by_status: Arc<[OnceLock<Counter>; SLOTS]>,
}

impl GrpcCalls {
    pub(super) fn new(family: Family<GrpcLabels, Counter>) -> Self {
        Self {
            family,
            by_status: Arc::new(std::array::from_fn(|_| OnceLock::new())),
        }
    }

    /// Counts a gRPC call on `route` that ended with `status`.
    pub fn ended(&self, route: &RouteLabels, status: Option<u32>) {
        self.by_status[slot(status)]
            .get_or_init(|| {
                self.family
                    .get_or_create(&GrpcLabels {
                        listener: route.listener.clone(),
                        route: route.route.clone(),
                        cluster: route.cluster.clone(),
                        grpc_status: status_label(status),
                    })
                    .clone()
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_a_bounded_label() {
        assert_eq!(status_label(Some(0)), "ok");
        assert_eq!(status_label(Some(14)), "unavailable");
        assert_eq!(status_label(Some(16)), "unauthenticated");
        assert_eq!(status_label(Some(17)), "unknown", "out of range");
        assert_eq!(status_label(Some(u32::MAX)), "unknown");
        assert_eq!(status_label(None), "none");
        assert_eq!(slot(Some(99)), slot(Some(UNKNOWN)));
        assert!(slot(None) < SLOTS);
    }

    #[test]
    fn counts_by_status_on_the_routes_labels() {
        let family = Family::<GrpcLabels, Counter>::default();
        let calls = GrpcCalls::new(family.clone());
        let route = RouteLabels {
            listener: "in".into(),
            route: "r".into(),
            cluster: "c".into(),
        };
        calls.ended(&route, Some(14));
        calls.ended(&route, Some(14));
        calls.ended(&route, None);
        let get = |grpc_status| {
            family
                .get_or_create(&GrpcLabels {
                    listener: "in".into(),
                    route: "r".into(),
                    cluster: "c".into(),
                    grpc_status,
                })
                .get()
        };
        assert_eq!((get("unavailable"), get("none"), get("ok")), (2, 1, 0));
    }
}
