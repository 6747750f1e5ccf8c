//! Scrape-time metrics: read the state the layers keep anyway.
//!
//! Admission compartments, breakers and endpoint sets count in plain
//! atomics; this collector walks the current snapshot on each scrape and
//! encodes them. Nothing is registered per cluster, so clusters added or
//! removed by a reload appear and disappear without bookkeeping.

mod clusters;
mod family;
mod tls;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use crate::middleware::Priority;
use crate::middleware::admission::{AdmissionState, QUEUE_WAIT_BOUNDS};
use crate::reload::ReloadHandle;
use crate::snapshot::Shared;
use clusters::encode_clusters;
use family::{Family, load, load_usize};

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
        let mut successful = Family::<0>::new(
            "seawall_config_last_reload_successful",
            "1 when the last reload applied or found the file unchanged (or none was tried), \
             0 from a rejected reload until a good one",
            MetricType::Gauge,
        );
        successful.add([], f64::from(u8::from(reload.status().last_successful())));
        successful.encode(&mut encoder)?;

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
        tls::encode_expiry(&mut encoder, &snapshot)?;
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
    let mut limit = Family::<2>::new(
        "seawall_admission_limit",
        "Requests allowed in flight now (learned, or the fixed max_concurrent)",
        Gauge,
    );
    let mut baseline = Family::<2>::new(
        "seawall_admission_baseline_latency_seconds",
        "The upstream's no-load latency as the learned limit measured it (0 until known)",
        Gauge,
    );
    let mut shed = Family::<3>::new(
        "seawall_shed",
        "Requests refused by admission, by reason",
        Counter,
    );
    let mut by_priority = Family::<3>::new(
        "seawall_admission_shed_by_priority",
        "Requests refused by admission, by the request's priority",
        Counter,
    );
    let mut admitted_by_priority = Family::<3>::new(
        "seawall_admission_admitted_by_priority",
        "Requests given a slot, by the request's priority",
        Counter,
    );
    for (name, (cluster, state)) in compartments {
        let m = state.metrics();
        let labels = || [("cluster", cluster.clone()), ("compartment", name.clone())];
        in_flight.add(labels(), load_usize(&m.in_flight));
        queued.add(labels(), load_usize(&m.queued));
        admitted.add(labels(), load(&m.admitted_total));
        limit.add(labels(), load_usize(&m.limit));
        #[allow(clippy::cast_precision_loss)]
        baseline.add(labels(), load(&m.baseline_micros) / 1e6);
        for p in Priority::ALL {
            let labels = || {
                [
                    ("cluster", cluster.clone()),
                    ("compartment", name.clone()),
                    ("priority", p.name().to_owned()),
                ]
            };
            by_priority.add(labels(), load(&m.shed_by_priority[p.index()]));
            admitted_by_priority.add(labels(), load(&m.admitted_by_priority[p.index()]));
        }
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
    for f in [&in_flight, &queued, &admitted, &limit, &baseline] {
        f.encode(encoder)?;
    }
    encode_queue_wait_histogram(encoder, compartments)?;
    by_priority.encode(encoder)?;
    admitted_by_priority.encode(encoder)?;
    shed.encode(encoder)
}

/// `seawall_admission_queue_wait_seconds{priority}`: how long admitted
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
        for priority in Priority::ALL {
            let wait = &state.metrics().queue_wait[priority.index()];
            let counts: Vec<u64> = wait
                .buckets
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
            let sum = load(&wait.sum_micros) / 1e6;
            let labels = [
                ("cluster", cluster.clone()),
                ("compartment", name.clone()),
                ("priority", priority.name().to_owned()),
            ];
            metric
                .encode_family(&labels)?
                .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                    sum, count, &buckets, None,
                )?;
        }
    }
    Ok(())
}
