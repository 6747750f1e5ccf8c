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
#[error("circuit breaker {}; retry after {retry_after:?}", if *throttled { "throttling" } else { "open" })]
pub struct BreakerOpen {
    retry_after: Duration,
    throttled: bool,
    #[source]
    local: LocalRefusal,
}

impl BreakerOpen {
    /// Only the breaker refuses.
    pub(crate) fn new(retry_after: Duration) -> Self {
        Self {
            retry_after,
            throttled: false,
            local: LocalRefusal,
        }
    }

    /// Refused by the throttle: the upstream accepts only part of the load.
    pub(crate) fn throttled() -> Self {
        Self {
            retry_after: Duration::from_secs(1),
            throttled: true,
            local: LocalRefusal,
        }
    }

    /// True when the throttle refused (overload), not an open breaker.
    pub fn is_throttle(&self) -> bool {
        self.throttled
    }

    /// Time until the breaker may admit requests again.
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }
}
