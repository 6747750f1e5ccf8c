//! What an adaptive limit is told rather than learns: its bounds, where it
//! starts, and how often it may re-measure the no-load latency.

use std::time::Duration;

/// Bounds and pacing of one [`AdaptiveLimit`](super::AdaptiveLimit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdaptiveSettings {
    /// The limit never goes below this (at least 1).
    pub min: u32,
    /// The limit never goes above this.
    pub max: u32,
    /// The limit before anything is known.
    pub initial: u32,
    /// How long the no-load latency may go unconfirmed while the limit is
    /// in use before one window re-measures it just below capacity.
    pub refresh: Duration,
}

impl Default for AdaptiveSettings {
    /// `min` 2, `max` 256, `initial` 32, `refresh` 10 s.
    fn default() -> Self {
        Self {
            min: 2,
            max: 256,
            initial: 32,
            refresh: Duration::from_secs(10),
        }
    }
}
