//! The balancer's own error: nothing to send to.
//!
//! A local rejection (503, `no-endpoint`); its source is a
//! [`LocalRefusal`], so it never counts against the upstream.

use crate::middleware::classify::LocalRefusal;

/// The cluster has no endpoint (discovery found none, or all were removed).
#[derive(Debug, thiserror::Error)]
#[error("no endpoint available")]
#[non_exhaustive]
pub struct NoEndpoint {
    #[source]
    local: LocalRefusal,
}

impl NoEndpoint {
    /// Only the balancer reports this.
    pub(crate) fn new() -> Self {
        Self {
            local: LocalRefusal,
        }
    }
}
