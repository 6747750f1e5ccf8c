//! One metric family built at scrape time from plain numbers, and the
//! loads that turn the layers' atomics into samples.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

pub(super) type Labels<const N: usize> = [(&'static str, String); N];

/// One metric family: name, help, type, samples.
pub(super) struct Family<const N: usize> {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    samples: Vec<(Labels<N>, f64)>,
}

impl<const N: usize> Family<N> {
    pub(super) fn new(name: &'static str, help: &'static str, kind: MetricType) -> Self {
        Self {
            name,
            help,
            kind,
            samples: Vec::new(),
        }
    }

    pub(super) fn add(&mut self, labels: Labels<N>, value: f64) {
        self.samples.push((labels, value));
    }

    pub(super) fn encode(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
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

pub(super) fn load(v: &AtomicU64) -> f64 {
    // Precision loss above 2^53 events is irrelevant for metrics.
    #[allow(clippy::cast_precision_loss)]
    let f = v.load(Ordering::Relaxed) as f64;
    f
}

pub(super) fn load_usize(v: &AtomicUsize) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let f = v.load(Ordering::Relaxed) as f64;
    f
}
