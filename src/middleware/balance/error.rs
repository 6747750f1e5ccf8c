//! The balancer's own error: nothing to send to.
//!
//! A local rejection (DESIGN.md error table: 503, `no-endpoint`); it never
//! counts against the upstream.

/// The cluster has no endpoint (discovery found none, or all were removed).
#[derive(Debug, thiserror::Error)]
#[error("no endpoint available")]
#[non_exhaustive]
pub struct NoEndpoint {}

impl NoEndpoint {
    /// Only the balancer reports this.
    pub(crate) fn new() -> Self {
        Self {}
    }
}
