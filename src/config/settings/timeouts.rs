//! Typed timeouts of a request: a cluster's, and a route's overrides.

use std::time::Duration;

use serde::Serialize;

/// The timeouts of a request, per cluster (see `middleware::timeout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TimeoutSettings {
    /// Time for a request to get its response started, from arrival to the
    /// response headers: queueing, every attempt and backoff. Once the
    /// response streams, `body_idle` governs it. A caller's propagated
    /// budget can only shorten it.
    #[serde(with = "crate::config::duration::serde_str")]
    pub request: Duration,
    /// Cap on the whole exchange, from arrival to the last byte of the
    /// response; `None`: no cap (a caller's budget still is one).
    #[serde(with = "crate::config::duration::serde_opt")]
    pub total: Option<Duration>,
    /// Time for one attempt, to the response headers; `None`: only the
    /// request timeout bounds an attempt.
    #[serde(with = "crate::config::duration::serde_opt")]
    pub attempt: Option<Duration>,
    /// Time from the request having been sent in full to the response
    /// headers, per attempt; `None`: no separate bound.
    #[serde(with = "crate::config::duration::serde_opt")]
    pub response_header: Option<Duration>,
    /// Longest wait for the next piece of a body, in either direction.
    #[serde(with = "crate::config::duration::serde_str")]
    pub body_idle: Duration,
}

impl TimeoutSettings {
    /// These settings with a route's overrides applied.
    pub fn with(&self, route: &TimeoutOverrides) -> Self {
        Self {
            request: route.request.unwrap_or(self.request),
            total: route.total.or(self.total),
            attempt: route.attempt.or(self.attempt),
            response_header: route.response_header.or(self.response_header),
            body_idle: route.body_idle.unwrap_or(self.body_idle),
        }
    }
}

/// A route's own timeouts; each `Some` replaces its cluster's value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TimeoutOverrides {
    /// Replaces [`TimeoutSettings::request`].
    #[serde(with = "crate::config::duration::serde_opt")]
    pub request: Option<Duration>,
    /// Replaces [`TimeoutSettings::total`].
    #[serde(with = "crate::config::duration::serde_opt")]
    pub total: Option<Duration>,
    /// Replaces [`TimeoutSettings::attempt`].
    #[serde(with = "crate::config::duration::serde_opt")]
    pub attempt: Option<Duration>,
    /// Replaces [`TimeoutSettings::response_header`].
    #[serde(with = "crate::config::duration::serde_opt")]
    pub response_header: Option<Duration>,
    /// Replaces [`TimeoutSettings::body_idle`].
    #[serde(with = "crate::config::duration::serde_opt")]
    pub body_idle: Option<Duration>,
}
