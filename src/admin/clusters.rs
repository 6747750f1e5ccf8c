//! `GET /clusters` (endpoint, breaker and retry state) and
//! `POST /clusters/<name>/breaker?mode=<mode>` (manual breaker override).
//!
//! The override is the operator's lever in an incident: isolate a
//! dependency at once (`force_open`), stop a flapping breaker from refusing
//! traffic (`force_closed`), or watch what it would do (`metrics_only`);
//! `auto` hands control back. It holds until the next reload rebuilds the
//! cluster, which applies the file's `breaker.mode` again.

use http::StatusCode;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::config::BreakerMode;
use crate::middleware::Priority;
use crate::middleware::breaker::Phase;
use crate::snapshot::Snapshot;
use crate::stack::Cluster;

/// The state of every cluster, for `GET /clusters`.
pub fn list(snapshot: &Snapshot) -> Value {
    let mut names: Vec<&String> = snapshot.clusters.keys().collect();
    names.sort();
    let clusters: Vec<Value> = names
        .into_iter()
        .map(|name| cluster(name, &snapshot.clusters[name]))
        .collect();
    json!({ "generation": snapshot.generation, "clusters": clusters })
}

fn cluster(name: &str, cluster: &Cluster) -> Value {
    let now = Instant::now();
    let endpoints: Vec<Value> = cluster
        .endpoints
        .endpoints()
        .iter()
        .map(|e| {
            json!({
                "address": e.addr().to_string(),
                "ejected": e.ejected(now),
                "healthy": e.healthy(),
                "in_flight": e.in_flight(),
                "rtt_ms": e.measured_rtt(now).map(|s| s * 1000.0),
                "ejections": e.ejections(),
                "readmissions": e.readmissions(),
            })
        })
        .collect();
    let breaker = &cluster.breaker;
    let c = breaker.counters();
    let n = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    json!({
        "name": name,
        "endpoints": endpoints,
        "breaker": {
            "state": phase_name(breaker.phase()),
            "mode": mode_name(breaker.mode()),
            // Below 1 while the upstream accepts only part of the load
            // (overload): the throttle refuses the excess.
            "admit_ratio": breaker.admit_ratio(),
            "opened": {
                "consecutive_failures": n(&c.opened_consecutive),
                "failure_rate": n(&c.opened_failure_rate),
                "slow_call_rate": n(&c.opened_slow_call_rate),
                "no_success": n(&c.opened_no_success),
                "probe_failed": n(&c.reopened),
            },
            "half_opened": n(&c.half_opened),
            "closed": n(&c.closed),
            "rejected": n(&c.rejected),
            "throttle_started": n(&c.throttle_started),
            "throttled": n(&c.throttled),
        },
        "retry": retry(cluster),
        "admission": admission(cluster),
    })
}

/// The retry budget's counters and the amplification they imply.
fn admission(cluster: &Cluster) -> serde_json::Value {
    use std::sync::atomic::Ordering::Relaxed;
    let m = cluster.admission.metrics();
    let by_priority = |counters: &[std::sync::atomic::AtomicU64; 3]| {
        let mut out = serde_json::Map::new();
        for p in Priority::ALL {
            out.insert(p.name().into(), counters[p.index()].load(Relaxed).into());
        }
        serde_json::Value::Object(out)
    };
    let baseline = m.baseline_micros.load(Relaxed);
    json!({
        "adaptive": cluster.settings.admission.adaptive.is_some(),
        "limit": m.limit.load(Relaxed),
        "baseline_ms": (baseline > 0).then(|| baseline as f64 / 1000.0),
        "in_flight": m.in_flight.load(Relaxed),
        "queued": m.queued.load(Relaxed),
        "admitted_by_priority": by_priority(&m.admitted_by_priority),
        "shed_by_priority": by_priority(&m.shed_by_priority),
    })
}

fn retry(cluster: &Cluster) -> Value {
    let budget = &cluster.retry_budget;
    let c = budget.counters();
    let n = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    json!({
        "requests": n(&c.requests),
        "attempts": {
            "success": n(&c.attempts_success),
            "failure": n(&c.attempts_failure),
            "local": n(&c.attempts_local),
        },
        "retries": n(&c.retries),
        "budget_exhausted": n(&c.budget_exhausted),
        "concurrency_capped": n(&c.concurrency_capped),
        "given_up": n(&c.given_up),
        "in_progress": budget.in_progress(),
        "amplification": budget.amplification(),
    })
}

/// Handles `POST /clusters/<name>/breaker?mode=...`; `path` is what follows
/// `/clusters/`.
pub fn set_breaker(snapshot: &Snapshot, path: &str, query: Option<&str>) -> (StatusCode, Value) {
    let Some(name) = path.strip_suffix("/breaker") else {
        return (StatusCode::NOT_FOUND, json!({"error": "not found"}));
    };
    let Some(cluster) = snapshot.clusters.get(name) else {
        return (
            StatusCode::NOT_FOUND,
            json!({"error": format!("no cluster {name:?}")}),
        );
    };
    let mode = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("mode="));
    let mode = match mode {
        Some("auto") => BreakerMode::Auto,
        Some("force_open") => BreakerMode::ForceOpen,
        Some("force_closed") => BreakerMode::ForceClosed,
        Some("metrics_only") => BreakerMode::MetricsOnly,
        _ => {
            let error = "give ?mode=auto|force_open|force_closed|metrics_only";
            return (StatusCode::BAD_REQUEST, json!({ "error": error }));
        }
    };
    cluster.breaker.set_mode(mode);
    (StatusCode::OK, cluster_breaker(name, cluster))
}

fn cluster_breaker(name: &str, cluster: &Cluster) -> Value {
    json!({
        "cluster": name,
        "mode": mode_name(cluster.breaker.mode()),
        "state": phase_name(cluster.breaker.phase()),
    })
}

fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Closed => "closed",
        Phase::Open => "open",
        Phase::HalfOpen => "half_open",
    }
}

fn mode_name(mode: BreakerMode) -> &'static str {
    match mode {
        BreakerMode::Auto => "auto",
        BreakerMode::ForceOpen => "force_open",
        BreakerMode::ForceClosed => "force_closed",
        BreakerMode::MetricsOnly => "metrics_only",
    }
}
