//! The breaker's own error: the cluster is isolated for now.
//!
//! A local refusal (503, `breaker-open`, `Retry-After` = time left open,
//! marked no-retry). Its source is a [`LocalRefusal`], so it never counts
//! against the upstream, and a retry layer outside the breaker must not
//! retry it.

use std::time::Duration;

use crate::middleware::classify::LocalRefusal;

/// The breaker refused the request without sending it.
#[derive(Debug, thiserror::Error)]
#[error("circuit breaker open; retry after {retry_after:?}")]
pub struct BreakerOpen {
    retry_after: Duration,
    #[source]
    local: LocalRefusal,
}

impl BreakerOpen {
    /// Only the breaker refuses.
    pub(crate) fn new(retry_after: Duration) -> Self {
        Self {
            retry_after,
            local: LocalRefusal,
        }
    }

    /// Time until the breaker may admit requests again.
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }
}
