//! Typed graceful shutdown settings.

use std::time::Duration;

use serde::Serialize;

/// Graceful shutdown settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShutdownSettings {
    /// How long in-flight requests may run after SIGTERM before seawall exits.
    #[serde(with = "crate::config::duration::serde_str")]
    pub drain_timeout: Duration,
}
