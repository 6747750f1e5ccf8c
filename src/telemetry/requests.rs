//! The request families' labels and a route's handles.
//!
//! `seawall_requests_total` carries the status `code` as well as its class,
//! with a bound: the code is exact for the statuses in [`CODES`] (what
//! seawall itself answers, and what services commonly do) and the class
//! (`4xx`) for any other, so a route has at most `CODES.len() + 5` codes
//! per reason however odd its upstream. A route's counters are created on
//! first use of each code, once (a [`OnceLock`] per slot), so a scrape
//! lists the codes seen, not every possible one, and the hot path still
//! does no label hashing after the first request of a code.

use std::sync::{Arc, OnceLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

use super::grpc::GrpcCalls;

/// Labels of `seawall_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Listener name.
    pub listener: String,
    /// Route name, or empty when none matched.
    pub route: String,
    /// Cluster name, or empty when no route matched.
    pub cluster: String,
    /// The status: exact when in [`CODES`], else its class (`4xx`).
    pub code: &'static str,
    /// `1xx` … `5xx`.
    pub status_class: &'static str,
    /// The `x-seawall-error` reason, or empty for upstream answers.
    pub reason: String,
}

/// Labels of `seawall_response_body_cuts_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CutLabels {
    /// Listener name.
    pub listener: String,
    /// Route name.
    pub route: String,
    /// Cluster name.
    pub cluster: String,
    /// One of [`CUT_REASONS`].
    pub reason: &'static str,
}

/// Labels naming a route (its listener's names are its own: two
/// listeners may both have a route `default`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// Listener name.
    pub listener: String,
    /// Route name.
    pub route: String,
    /// Cluster name.
    pub cluster: String,
}

/// Why a response body can be cut (the reason codes of the error taxonomy
/// that a body error classifies as), and `other` for anything else.
pub const CUT_REASONS: [&str; 8] = [
    "timeout",
    "total-timeout",
    "upstream-body-timeout",
    "upstream-reset",
    "upstream-protocol",
    "downstream-body-timeout",
    "downstream-body",
    "other",
];

/// The status codes counted exactly, sorted; any other counts as its class.
pub const CODES: [u16; 34] = [
    100, 101, 200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405, 408,
    409, 410, 412, 413, 414, 415, 422, 429, 431, 499, 500, 501, 502, 503, 504,
];

const CODE_NAMES: [&str; 34] = [
    "100", "101", "200", "201", "202", "204", "206", "301", "302", "303", "304", "307", "308",
    "400", "401", "403", "404", "405", "408", "409", "410", "412", "413", "414", "415", "422",
    "429", "431", "499", "500", "501", "502", "503", "504",
];

const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Slots of a route's counters: one per exact code, then one per class.
const SLOTS: usize = CODES.len() + STATUS_CLASSES.len();

fn class_index(status: u16) -> usize {
    usize::from((status / 100).clamp(1, 5) - 1)
}

/// The `status_class` label of `status`.
pub fn status_class(status: u16) -> &'static str {
    STATUS_CLASSES[class_index(status)]
}

/// The slot of `status`: its exact code's, or its class's.
fn slot(status: u16) -> usize {
    CODES
        .binary_search(&status)
        .unwrap_or_else(|_| CODES.len() + class_index(status))
}

/// The `code` label of `status` (see the module doc for the bound).
pub fn code(status: u16) -> &'static str {
    let i = slot(status);
    CODE_NAMES
        .get(i)
        .copied()
        .unwrap_or_else(|| status_class(status))
}

/// A route's metric handles.
#[derive(Clone, Debug)]
pub struct RouteMetrics {
    /// The route's labels, for synthesized responses.
    pub labels: RouteLabels,
    requests: Family<RequestLabels, Counter>,
    by_code: Arc<[OnceLock<Counter>; SLOTS]>,
    cuts: [Counter; CUT_REASONS.len()],
    duration: Histogram,
    grpc: GrpcCalls,
}

impl RouteMetrics {
    pub(super) fn new(
        labels: RouteLabels,
        requests: Family<RequestLabels, Counter>,
        cuts: &Family<CutLabels, Counter>,
        duration: Histogram,
        grpc: GrpcCalls,
    ) -> Self {
        let cuts = CUT_REASONS.map(|reason| {
            cuts.get_or_create(&CutLabels {
                listener: labels.listener.clone(),
                route: labels.route.clone(),
                cluster: labels.cluster.clone(),
                reason,
            })
            .clone()
        });
        Self {
            labels,
            requests,
            by_code: Arc::new(std::array::from_fn(|_| OnceLock::new())),
            cuts,
            duration,
            grpc,
        }
    }

    /// Counts a gRPC call that ended with `status` (`None`: no status).
    pub fn grpc_ended(&self, status: Option<u32>) {
        self.grpc.ended(&self.labels, status);
    }

    /// Records an upstream answer (no reason code) and its latency.
    pub fn answered(&self, status: u16, seconds: f64) {
        self.by_code[slot(status)]
            .get_or_init(|| {
                self.requests
                    .get_or_create(&request_labels(Some(&self.labels), "", status, ""))
                    .clone()
            })
            .inc();
        self.duration.observe(seconds);
    }

    /// Records the latency of a synthesized answer (counted by `refused`).
    pub fn observe(&self, seconds: f64) {
        self.duration.observe(seconds);
    }

    /// Counts a response body cut for `reason` (a reason not in
    /// [`CUT_REASONS`] counts as `other`). A scan of eight names, on a cut
    /// only: no label lookup.
    pub fn cut(&self, reason: &str) {
        let other = CUT_REASONS.len() - 1;
        let i = CUT_REASONS[..other]
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(other);
        self.cuts[i].inc();
    }
}

/// The labels of a response of `status` on `route` (or, with no route, on
/// `listener`), with seawall's `reason` (empty for an upstream answer).
pub(super) fn request_labels(
    route: Option<&RouteLabels>,
    listener: &str,
    status: u16,
    reason: &str,
) -> RequestLabels {
    let (listener, route, cluster) = match route {
        Some(r) => (r.listener.clone(), r.route.clone(), r.cluster.clone()),
        None => (listener.to_owned(), String::new(), String::new()),
    };
    RequestLabels {
        listener,
        route,
        cluster,
        code: code(status),
        status_class: status_class(status),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_codes_are_exact_and_others_their_class() {
        assert_eq!(code(200), "200");
        assert_eq!(code(499), "499");
        assert_eq!(code(504), "504");
        assert_eq!(code(418), "4xx");
        assert_eq!(code(299), "2xx");
        assert_eq!(code(599), "5xx");
        assert_eq!(code(99), "1xx");
        assert_eq!(code(999), "5xx");
        for (c, name) in CODES.iter().zip(CODE_NAMES) {
            assert_eq!(c.to_string(), name);
        }
        assert!(CODES.windows(2).all(|w| w[0] < w[1]), "sorted");
    }
}
