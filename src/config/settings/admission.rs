//! Typed admission settings: the bulkhead and queue of a cluster or route.

use std::num::NonZeroUsize;
use std::time::Duration;

use serde::Serialize;

use super::defaults;

/// A bulkhead with a bounded queue, shedding by queue length, queue delay
/// (CoDel) and deadline. See `middleware::admission` for the algorithm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AdmissionSettings {
    /// Most requests in flight to the upstream at once.
    pub max_concurrent: NonZeroUsize,
    /// Most requests waiting for a slot; 0 means no queue (pure bulkhead).
    pub max_queue: usize,
    /// Longest a request may wait for a slot, whatever CoDel says.
    #[serde(with = "crate::config::duration::serde_str")]
    pub max_queue_wait: Duration,
    /// CoDel target: acceptable standing queue delay.
    #[serde(with = "crate::config::duration::serde_str")]
    pub target: Duration,
    /// CoDel interval: how long the delay must stay above `target` before
    /// shedding starts (and the window its minimum is taken over).
    #[serde(with = "crate::config::duration::serde_str")]
    pub interval: Duration,
    /// Serve the newest waiter first while the queue is standing.
    pub adaptive_lifo: bool,
}

impl Default for AdmissionSettings {
    /// The documented defaults (`config/seawall.yaml`).
    fn default() -> Self {
        Self {
            max_concurrent: defaults::MAX_CONCURRENT,
            max_queue: defaults::MAX_QUEUE,
            max_queue_wait: defaults::MAX_QUEUE_WAIT,
            target: defaults::TARGET,
            interval: defaults::INTERVAL,
            adaptive_lifo: defaults::ADAPTIVE_LIFO,
        }
    }
}
