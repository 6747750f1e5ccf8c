//! The `tower::Layer`s of the two timeout services.

use std::time::Duration;

use tower::Layer;

use super::{Attempt, SetDeadline};
use crate::config::TimeoutSettings;

/// Builds [`SetDeadline`]: the outermost timeout of a route.
#[derive(Clone, Copy, Debug)]
pub struct DeadlineLayer {
    pub(super) request: Duration,
    pub(super) total: Option<Duration>,
    pub(super) body_idle: Duration,
}

impl DeadlineLayer {
    /// The route's request (start) timeout, total cap and body idle timeout.
    pub fn new(timeouts: &TimeoutSettings) -> Self {
        Self {
            request: timeouts.request,
            total: timeouts.total,
            body_idle: timeouts.body_idle,
        }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = SetDeadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SetDeadline {
            inner,
            layer: *self,
        }
    }
}

/// Builds [`Attempt`]: the per-try timeouts, innermost before balancing.
#[derive(Clone, Copy, Debug)]
pub struct AttemptLayer {
    pub(super) attempt: Option<Duration>,
    pub(super) response_header: Option<Duration>,
}

impl AttemptLayer {
    /// The route's attempt and response-header timeouts.
    pub fn new(timeouts: &TimeoutSettings) -> Self {
        Self {
            attempt: timeouts.attempt,
            response_header: timeouts.response_header,
        }
    }
}

impl<S> Layer<S> for AttemptLayer {
    type Service = Attempt<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Attempt {
            inner,
            layer: *self,
        }
    }
}
