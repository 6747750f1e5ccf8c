//! The per-cluster families: breaker state and transitions, endpoints by
//! state, and attempts and retries against the retry budget.

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::family::{Family, load};
use crate::middleware::breaker::Phase;
use crate::snapshot::Snapshot;
use crate::stack::Cluster;

/// The clusters of `snapshot`, by name.
fn clusters(snapshot: &Snapshot) -> Vec<(&String, &Cluster)> {
    let mut all: Vec<_> = snapshot.clusters.iter().map(|(n, c)| (n, &**c)).collect();
    all.sort_by(|a, b| a.0.cmp(b.0));
    all
}

pub(super) fn encode_clusters(
    encoder: &mut DescriptorEncoder,
    snapshot: &Snapshot,
) -> Result<(), std::fmt::Error> {
    encode_breakers(encoder, snapshot)?;
    encode_endpoints(encoder, snapshot)?;
    encode_retries(encoder, snapshot)
}

fn encode_breakers(
    encoder: &mut DescriptorEncoder,
    snapshot: &Snapshot,
) -> Result<(), std::fmt::Error> {
    use MetricType::{Counter, Gauge};
    let mut state = Family::<2>::new(
        "seawall_breaker_state",
        "1 for the breaker's current state",
        Gauge,
    );
    let mut transitions = Family::<2>::new(
        "seawall_breaker_transitions",
        "Breaker transitions by cause",
        Counter,
    );
    let mut rejected = Family::<1>::new(
        "seawall_breaker_rejected",
        "Requests refused by an open breaker",
        Counter,
    );
    let mut throttled = Family::<1>::new(
        "seawall_breaker_throttled",
        "Requests refused by the breaker's throttle (the upstream accepted only part of the load)",
        Counter,
    );
    let mut admit_ratio = Family::<1>::new(
        "seawall_breaker_admit_ratio",
        "Share of requests the breaker's throttle admits (1: it refuses nothing)",
        Gauge,
    );
    for (name, cluster) in clusters(snapshot) {
        let phase = cluster.breaker.phase();
        for (label, p) in [
            ("closed", Phase::Closed),
            ("open", Phase::Open),
            ("half_open", Phase::HalfOpen),
        ] {
            state.add(
                [("cluster", name.clone()), ("state", label.to_owned())],
                f64::from(u8::from(phase == p)),
            );
        }
        let counters = cluster.breaker.counters();
        for (cause, v) in [
            ("consecutive_failures", &counters.opened_consecutive),
            ("failure_rate", &counters.opened_failure_rate),
            ("slow_call_rate", &counters.opened_slow_call_rate),
            ("no_success", &counters.opened_no_success),
            ("probe_failed", &counters.reopened),
            ("throttle_started", &counters.throttle_started),
            ("half_open", &counters.half_opened),
            ("closed", &counters.closed),
        ] {
            transitions.add(
                [("cluster", name.clone()), ("cause", cause.to_owned())],
                load(v),
            );
        }
        rejected.add([("cluster", name.clone())], load(&counters.rejected));
        throttled.add([("cluster", name.clone())], load(&counters.throttled));
        admit_ratio.add([("cluster", name.clone())], cluster.breaker.admit_ratio());
    }
    state.encode(encoder)?;
    transitions.encode(encoder)?;
    rejected.encode(encoder)?;
    throttled.encode(encoder)?;
    admit_ratio.encode(encoder)
}

fn encode_endpoints(
    encoder: &mut DescriptorEncoder,
    snapshot: &Snapshot,
) -> Result<(), std::fmt::Error> {
    use MetricType::{Counter, Gauge};
    let now = tokio::time::Instant::now();
    let mut endpoints = Family::<2>::new("seawall_endpoints", "Endpoints by state", Gauge);
    // Per endpoint: upstream addresses are bounded by the cluster's size
    // (never client addresses or paths).
    let mut ejections = Family::<2>::new("seawall_ejections", "Endpoint ejections", Counter);
    let mut readmissions = Family::<2>::new(
        "seawall_readmissions",
        "Ejected endpoints readmitted",
        Counter,
    );
    let mut in_flight = Family::<1>::new(
        "seawall_upstream_in_flight",
        "Attempts in flight to the cluster",
        Gauge,
    );
    for (name, cluster) in clusters(snapshot) {
        let (mut available, mut ejected, mut unhealthy, mut flying) = (0u32, 0u32, 0u32, 0usize);
        for e in cluster.endpoints.endpoints().iter() {
            if e.ejected(now) {
                ejected += 1;
            } else if !e.healthy() {
                unhealthy += 1;
            } else {
                available += 1;
            }
            let endpoint = || {
                [
                    ("cluster", name.clone()),
                    ("endpoint", e.addr().to_string()),
                ]
            };
            #[allow(clippy::cast_precision_loss)]
            {
                ejections.add(endpoint(), e.ejections() as f64);
                readmissions.add(endpoint(), e.readmissions() as f64);
            }
            flying += e.in_flight();
        }
        for (label, n) in [
            ("available", available),
            ("ejected", ejected),
            ("unhealthy", unhealthy),
        ] {
            endpoints.add(
                [("cluster", name.clone()), ("state", label.to_owned())],
                f64::from(n),
            );
        }
        #[allow(clippy::cast_precision_loss)]
        in_flight.add([("cluster", name.clone())], flying as f64);
    }
    endpoints.encode(encoder)?;
    ejections.encode(encoder)?;
    readmissions.encode(encoder)?;
    in_flight.encode(encoder)
}

fn encode_retries(
    encoder: &mut DescriptorEncoder,
    snapshot: &Snapshot,
) -> Result<(), std::fmt::Error> {
    use MetricType::{Counter, Gauge};
    let mut attempts = Family::<2>::new(
        "seawall_upstream_attempts",
        "Attempts by outcome (failure: counted against the upstream; local: seawall's own refusal)",
        Counter,
    );
    let mut retries = Family::<1>::new("seawall_retries", "Retries sent", Counter);
    let mut exhausted = Family::<1>::new(
        "seawall_retry_budget_exhausted",
        "Retries wanted but refused by the retry budget",
        Counter,
    );
    let mut retrying = Family::<1>::new("seawall_retries_in_progress", "Retries in flight", Gauge);
    let mut amplification = Family::<1>::new(
        "seawall_retry_amplification",
        "Attempts per request since start (1.0: no retries)",
        Gauge,
    );
    for (name, cluster) in clusters(snapshot) {
        let c = || [("cluster", name.clone())];
        let budget = &cluster.retry_budget;
        let r = budget.counters();
        for (outcome, v) in [
            ("success", &r.attempts_success),
            ("failure", &r.attempts_failure),
            ("local", &r.attempts_local),
        ] {
            attempts.add(
                [("cluster", name.clone()), ("outcome", outcome.to_owned())],
                load(v),
            );
        }
        retries.add(c(), load(&r.retries));
        exhausted.add(c(), load(&r.budget_exhausted));
        #[allow(clippy::cast_precision_loss)]
        retrying.add(c(), budget.in_progress() as f64);
        amplification.add(c(), budget.amplification());
    }
    attempts.encode(encoder)?;
    retries.encode(encoder)?;
    exhausted.encode(encoder)?;
    retrying.encode(encoder)?;
    amplification.encode(encoder)
}
