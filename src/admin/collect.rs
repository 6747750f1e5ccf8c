//! Scrape-time metrics: read the state the layers keep anyway.
//!
//! Admission compartments, breakers and endpoint sets count in plain
//! atomics; this collector walks the current snapshot on each scrape and
//! encodes them. Nothing is registered per cluster, so clusters added or
//! removed by a reload appear and disappear without bookkeeping.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::middleware::admission::{AdmissionState, QUEUE_WAIT_BOUNDS};
use crate::middleware::breaker::Phase;
use crate::reload::ReloadHandle;
use crate::snapshot::Shared;

/// Reads snapshot state on each scrape.
#[derive(Debug)]
pub struct StateCollector {
    shared: Shared,
    reload: ReloadHandle,
}

impl StateCollector {
    /// A collector of the running snapshot and reload task.
    pub fn new(shared: Shared, reload: ReloadHandle) -> Self {
        Self { shared, reload }
    }
}

type Labels<const N: usize> = [(&'static str, String); N];

/// One metric family: name, help, type, samples.
struct Family<const N: usize> {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    samples: Vec<(Labels<N>, f64)>,
}

impl<const N: usize> Family<N> {
    fn new(name: &'static str, help: &'static str, kind: MetricType) -> Self {
        Self {
            name,
            help,
            kind,
            samples: Vec::new(),
        }
    }

    fn add(&mut self, labels: Labels<N>, value: f64) {
        self.samples.push((labels, value));
    }

    fn encode(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut metric = encoder.encode_descriptor(self.name, self.help, None, self.kind)?;
        for (labels, value) in &self.samples {
            let sample = metric.encode_family(labels)?;
            match self.kind {
                // Counters here are sums of u64 atomics or whole seconds.
                MetricType::Counter => ConstCounter::new(*value).encode(sample)?,
                _ => ConstGauge::new(*value).encode(sample)?,
            }
        }
        Ok(())
    }
}

fn load(v: &AtomicU64) -> f64 {
    // Precision loss above 2^53 events is irrelevant for metrics.
    #[allow(clippy::cast_precision_loss)]
    let f = v.load(Ordering::Relaxed) as f64;
    f
}

fn load_usize(v: &AtomicUsize) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let f = v.load(Ordering::Relaxed) as f64;
    f
}

impl Collector for StateCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let (shared, reload) = (&self.shared, &self.reload);
        let snapshot = shared.load();
        #[allow(clippy::cast_precision_loss)]
        let generation = snapshot.generation as f64;
        let mut generation_family = Family::<0>::new(
            "seawall_config_generation",
            "Generation of the config in force",
            MetricType::Gauge,
        );
        generation_family.add([], generation);
        generation_family.encode(&mut encoder)?;
        let mut reloads = Family::<1>::new(
            "seawall_config_reloads",
            "Config reloads by outcome",
            MetricType::Counter,
        );
        for (outcome, n) in reload.status().counts() {
            #[allow(clippy::cast_precision_loss)]
            reloads.add([("outcome", outcome.to_owned())], n as f64);
        }
        reloads.encode(&mut encoder)?;

        // Compartments: each cluster's, and routes' own, once each.
        let mut compartments: BTreeMap<String, (String, &AdmissionState)> = BTreeMap::new();
        let route_states: Vec<_> = snapshot
            .listeners
            .values()
            .flat_map(|t| t.routes())
            .filter_map(|r| {
                r.target
                    .admission
                    .clone()
                    .map(|a| (r.settings.cluster.clone(), a))
            })
            .collect();
        for cluster in snapshot.clusters.values() {
            compartments.insert(
                cluster.admission.name().to_owned(),
                (cluster.settings.name.clone(), &cluster.admission),
            );
        }
        for (cluster, state) in &route_states {
            compartments.insert(state.name().to_owned(), (cluster.clone(), state));
        }
        encode_admission(&mut encoder, &compartments)?;
        encode_clusters(&mut encoder, &snapshot)?;
        Ok(())
    }
}

fn encode_admission(
    encoder: &mut DescriptorEncoder,
    compartments: &BTreeMap<String, (String, &AdmissionState)>,
) -> Result<(), std::fmt::Error> {
    use MetricType::{Counter, Gauge};
    let mut in_flight = Family::<2>::new(
        "seawall_admission_in_flight",
        "Requests holding an admission slot",
        Gauge,
    );
    let mut queued = Family::<2>::new(
        "seawall_admission_queue_depth",
        "Requests waiting for a slot",
        Gauge,
    );
    let mut admitted = Family::<2>::new(
        "seawall_admission_admitted",
        "Requests given a slot",
        Counter,
    );
    let mut shed = Family::<3>::new(
        "seawall_shed",
        "Requests refused by admission, by reason",
        Counter,
    );
    for (name, (cluster, state)) in compartments {
        let m = state.metrics();
        let labels = || [("cluster", cluster.clone()), ("compartment", name.clone())];
        in_flight.add(labels(), load_usize(&m.in_flight));
        queued.add(labels(), load_usize(&m.queued));
        admitted.add(labels(), load(&m.admitted_total));
        for (reason, counter) in [
            ("queue-full", &m.shed_queue_full_total),
            ("queue-delay", &m.shed_queue_delay_total),
            ("deadline", &m.shed_deadline_total),
        ] {
            shed.add(
                [
                    ("cluster", cluster.clone()),
                    ("compartment", name.clone()),
                    ("reason", reason.to_owned()),
                ],
                load(counter),
            );
        }
    }
    for f in [&in_flight, &queued, &admitted] {
        f.encode(encoder)?;
    }
    encode_queue_wait_histogram(encoder, compartments)?;
    shed.encode(encoder)
}

/// `seawall_admission_queue_wait_seconds`: how long admitted
/// requests waited for a slot, from the compartment's bucket counters.
fn encode_queue_wait_histogram(
    encoder: &mut DescriptorEncoder,
    compartments: &BTreeMap<String, (String, &AdmissionState)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(
        "seawall_admission_queue_wait_seconds",
        "Time admitted requests waited in the queue",
        None,
        MetricType::Histogram,
    )?;
    for (name, (cluster, state)) in compartments {
        let m = state.metrics();
        let counts: Vec<u64> = m
            .queue_wait_buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let buckets: Vec<(f64, u64)> = QUEUE_WAIT_BOUNDS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(counts.iter().copied())
            .collect();
        let count = counts.iter().sum();
        let sum = load(&m.queue_wait_sum_micros) / 1e6;
        let labels = [("cluster", cluster.clone()), ("compartment", name.clone())];
        metric
            .encode_family(&labels)?
            .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                sum, count, &buckets, None,
            )?;
    }
    Ok(())
}

fn encode_clusters(
    encoder: &mut DescriptorEncoder,
    snapshot: &crate::snapshot::Snapshot,
) -> Result<(), std::fmt::Error> {
    use MetricType::{Counter, Gauge};
    let now = tokio::time::Instant::now();
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
    let mut names: Vec<_> = snapshot.clusters.keys().collect();
    names.sort();
    for name in names {
        let cluster = &snapshot.clusters[name];
        let c = || [("cluster", name.clone())];
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
            ("probe_failed", &counters.reopened),
            ("half_open", &counters.half_opened),
            ("closed", &counters.closed),
        ] {
            transitions.add(
                [("cluster", name.clone()), ("cause", cause.to_owned())],
                load(v),
            );
        }
        rejected.add(c(), load(&counters.rejected));
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
        {
            in_flight.add(c(), flying as f64);
        }
    }
    state.encode(encoder)?;
    transitions.encode(encoder)?;
    rejected.encode(encoder)?;
    endpoints.encode(encoder)?;
    ejections.encode(encoder)?;
    readmissions.encode(encoder)?;
    in_flight.encode(encoder)?;
    attempts.encode(encoder)?;
    retries.encode(encoder)?;
    exhausted.encode(encoder)?;
    retrying.encode(encoder)?;
    amplification.encode(encoder)
}
