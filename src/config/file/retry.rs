//! The serde model of a `retry:` block, on a cluster or a route (the
//! `budget:` is the cluster's only; validation refuses it on a route).

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::scalar::{NumberOrText, SizeFile};

/// `clusters[].retry:` and `routes[].retry:`
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct RetryFile {
    /// Retries on or off.
    pub enabled: Option<bool>,
    /// Attempts per request, the first included.
    #[cfg_attr(test, schemars(with = "Option<u32>"))]
    pub max_attempts: Option<Spanned<u32>>,
    /// `connect-failure`, `reset`, `refused-stream`, `attempt-timeout`.
    #[cfg_attr(test, schemars(with = "Option<Vec<String>>"))]
    pub on: Option<Spanned<Vec<Spanned<String>>>>,
    /// Retried response statuses.
    #[cfg_attr(test, schemars(with = "Option<Vec<u16>>"))]
    pub statuses: Option<Spanned<Vec<Spanned<u16>>>>,
    /// Retried gRPC statuses (of trailers-only answers).
    #[cfg_attr(test, schemars(with = "Option<Vec<String>>"))]
    pub grpc_codes: Option<Spanned<Vec<Spanned<String>>>>,
    /// Exponential backoff with full jitter.
    pub backoff: Option<BackoffFile>,
    /// Longest upstream `Retry-After` honoured.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub max_retry_after: Option<Spanned<String>>,
    /// Request body bytes kept for replay.
    #[cfg_attr(test, schemars(with = "Option<SizeFile>"))]
    pub replay_buffer: Option<Spanned<SizeFile>>,
    /// Cluster only: the retry budget.
    #[cfg_attr(test, schemars(with = "Option<BudgetFile>"))]
    pub budget: Option<Spanned<BudgetFile>>,
}

/// `retry.backoff:`
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct BackoffFile {
    /// Cap of the first wait.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub base: Option<Spanned<String>>,
    /// Cap of every wait.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub max: Option<Spanned<String>>,
}

/// `clusters[].retry.budget:`
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct BudgetFile {
    /// Retries per request (`0.2` or `20%`).
    #[cfg_attr(test, schemars(with = "Option<NumberOrText>"))]
    pub ratio: Option<Spanned<NumberOrText>>,
    /// Retries per second allowed whatever the traffic.
    #[cfg_attr(test, schemars(with = "Option<u32>"))]
    pub min_per_second: Option<Spanned<u32>>,
    /// How long a request counts.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub ttl: Option<Spanned<String>>,
    /// Retries in progress at once.
    #[cfg_attr(test, schemars(with = "Option<u64>"))]
    pub max_concurrent: Option<Spanned<u64>>,
}
