//! A collector registered at startup and filled in later: the metrics
//! registry is built before the snapshot and the reload task exist, and the
//! collector that reads them belongs to the admin endpoint, above this leaf.

use std::sync::OnceLock;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

/// Delegates to the collector set once; encodes nothing before that.
#[derive(Debug, Default)]
pub struct Late {
    inner: OnceLock<Box<dyn Collector>>,
}

impl Late {
    /// Sets the collector; a second call is ignored.
    pub fn set(&self, collector: Box<dyn Collector>) {
        let _ = self.inner.set(collector);
    }
}

impl Collector for Late {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        match self.inner.get() {
            Some(collector) => collector.encode(encoder),
            None => Ok(()),
        }
    }
}
