//! Typed retry settings (see `middleware::retry`): a policy, which a route
//! may override key by key, and a budget, which is the cluster's alone
//! because it must count every request to the cluster to mean anything.

use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use serde::Serialize;

use crate::wire::grpc::Codes;

/// A cluster's `retry:` block.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RetrySettings {
    /// The policy of routes that have no `retry:` block of their own.
    pub policy: RetryPolicy,
    /// The budget every route to the cluster draws its retries from.
    pub budget: RetryBudgetSettings,
}

/// When and how a request is tried again.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RetryPolicy {
    /// Whether failed attempts are retried at all.
    pub enabled: bool,
    /// Hard ceiling on attempts per request, the first included.
    pub max_attempts: NonZeroU32,
    /// Failures (errors) that may be retried.
    pub on: Vec<RetryOn>,
    /// Upstream response statuses that may be retried.
    pub statuses: Vec<u16>,
    /// gRPC statuses (of a trailers-only answer) that may be retried.
    pub grpc_codes: Codes,
    /// Base of the exponential backoff (the cap of the first jittered wait).
    #[serde(with = "crate::config::duration::serde_str")]
    pub backoff_base: Duration,
    /// Cap of the backoff.
    #[serde(with = "crate::config::duration::serde_str")]
    pub backoff_max: Duration,
    /// Longest upstream `Retry-After` honoured; a longer one is not retried.
    #[serde(with = "crate::config::duration::serde_str")]
    pub max_retry_after: Duration,
    /// Bytes of request body kept for replay; a larger body is not retried
    /// once any of it was sent.
    pub replay_buffer: usize,
}

impl RetryPolicy {
    /// True when this policy can ever send a second attempt.
    pub fn retries(&self) -> bool {
        self.enabled && self.max_attempts.get() > 1
    }
}

/// A failure, other than a response status, that a retry may follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RetryOn {
    /// The connection could not be established (refused, timed out).
    ConnectFailure,
    /// The connection was reset or closed before a response arrived.
    Reset,
    /// HTTP/2 REFUSED_STREAM, or a graceful GOAWAY that excluded the stream.
    RefusedStream,
    /// The per-try (or response-header) timeout fired.
    AttemptTimeout,
}

impl RetryOn {
    /// Every condition, in file spelling order.
    pub const ALL: [RetryOn; 4] = [
        Self::ConnectFailure,
        Self::Reset,
        Self::RefusedStream,
        Self::AttemptTimeout,
    ];

    /// The spelling in the config file and in logs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::ConnectFailure => "connect-failure",
            Self::Reset => "reset",
            Self::RefusedStream => "refused-stream",
            Self::AttemptTimeout => "attempt-timeout",
        }
    }
}

/// The cluster's retry budget (Finagle's, as `tower::retry::budget::TpsBudget`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RetryBudgetSettings {
    /// Retries allowed per request, over the TTL window.
    pub ratio: f64,
    /// Retries allowed per second whatever the traffic (a reserve of
    /// `min_per_second × ttl`).
    pub min_per_second: u32,
    /// How long a request's deposit counts.
    #[serde(with = "crate::config::duration::serde_str")]
    pub ttl: Duration,
    /// Most retries (backoff included) in progress at once.
    pub max_concurrent: NonZeroUsize,
}

impl Default for RetryPolicy {
    /// The documented defaults (`config/seawall.yaml`).
    fn default() -> Self {
        use super::defaults as d;
        Self {
            enabled: d::RETRY_ENABLED,
            max_attempts: NonZeroU32::new(d::RETRY_MAX_ATTEMPTS).unwrap_or(NonZeroU32::MIN),
            on: RetryOn::ALL.to_vec(),
            statuses: d::RETRY_STATUSES.to_vec(),
            grpc_codes: d::RETRY_GRPC_CODES,
            backoff_base: d::RETRY_BACKOFF_BASE,
            backoff_max: d::RETRY_BACKOFF_MAX,
            max_retry_after: d::RETRY_MAX_RETRY_AFTER,
            replay_buffer: usize::try_from(d::RETRY_REPLAY_BUFFER).unwrap_or(usize::MAX),
        }
    }
}

impl Default for RetryBudgetSettings {
    /// The documented defaults: 20 % of requests, 10 retries per second,
    /// over 10 s, at most 100 at once.
    fn default() -> Self {
        use super::defaults as d;
        Self {
            ratio: d::RETRY_BUDGET_RATIO,
            min_per_second: d::RETRY_BUDGET_MIN_PER_SECOND,
            ttl: d::RETRY_BUDGET_TTL,
            max_concurrent: NonZeroUsize::new(d::RETRY_BUDGET_MAX_CONCURRENT)
                .unwrap_or(NonZeroUsize::MIN),
        }
    }
}
