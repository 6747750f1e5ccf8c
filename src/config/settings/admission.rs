//! Typed admission settings: the bulkhead and queue of a cluster or route.

use std::num::NonZeroUsize;
use std::time::Duration;

use serde::Serialize;

use super::defaults;

/// A bulkhead with a bounded queue, shedding by queue length, queue delay
/// (CoDel) and deadline. See `middleware::admission` for the algorithm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AdmissionSettings {
    /// Most requests in flight to the upstream at once: the fixed limit, or
    /// with `adaptive` the ceiling the learned limit never passes.
    pub max_concurrent: NonZeroUsize,
    /// Learn the limit from the upstream's latency (the default: no
    /// `max_concurrent`); `None`: the fixed `max_concurrent`.
    pub adaptive: Option<AdaptiveLimitSettings>,
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

/// Bounds of a learned concurrency limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct AdaptiveLimitSettings {
    /// The learned limit never goes below this.
    pub min: u32,
    /// Nor above this.
    pub max: u32,
    /// Where it starts, before anything is known.
    pub initial: u32,
    /// How long the no-load latency may go unconfirmed under load before
    /// one short window re-measures it.
    #[serde(with = "crate::config::duration::serde_str")]
    pub refresh: Duration,
}

impl Default for AdaptiveLimitSettings {
    fn default() -> Self {
        Self {
            min: defaults::ADAPTIVE_MIN,
            max: defaults::ADAPTIVE_MAX,
            initial: defaults::ADAPTIVE_INITIAL,
            refresh: defaults::ADAPTIVE_REFRESH,
        }
    }
}

impl Default for AdmissionSettings {
    /// The documented defaults (`config/seawall.yaml`): a learned limit
    /// of at most `max_concurrent`.
    fn default() -> Self {
        Self {
            max_concurrent: defaults::MAX_CONCURRENT,
            adaptive: Some(AdaptiveLimitSettings::default()),
            max_queue: defaults::MAX_QUEUE,
            max_queue_wait: defaults::MAX_QUEUE_WAIT,
            target: defaults::TARGET,
            interval: defaults::INTERVAL,
            adaptive_lifo: defaults::ADAPTIVE_LIFO,
        }
    }
}
