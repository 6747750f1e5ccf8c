//! The serde model of an `admission:` block, on a cluster or a route.

use serde::Deserialize;
use serde_saphyr::Spanned;

/// `clusters[].admission:` and `routes[].admission:`
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct AdmissionFile {
    /// Most requests in flight.
    #[cfg_attr(test, schemars(with = "Option<u64>"))]
    pub max_concurrent: Option<Spanned<u64>>,
    /// Most requests waiting.
    #[cfg_attr(test, schemars(with = "Option<u64>"))]
    pub max_queue: Option<Spanned<u64>>,
    /// Longest wait for a slot.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub max_queue_wait: Option<Spanned<String>>,
    /// CoDel target delay.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub target: Option<Spanned<String>>,
    /// CoDel interval.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub interval: Option<Spanned<String>>,
    /// Newest first while the queue is standing.
    pub adaptive_lifo: Option<bool>,
    /// Bounds of the learned limit (used when `max_concurrent` is absent).
    pub adaptive: Option<AdaptiveFile>,
}

/// `admission.adaptive:`
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct AdaptiveFile {
    /// Floor of the learned limit.
    #[cfg_attr(test, schemars(with = "Option<u64>"))]
    pub min: Option<Spanned<u64>>,
    /// Ceiling of the learned limit.
    #[cfg_attr(test, schemars(with = "Option<u64>"))]
    pub max: Option<Spanned<u64>>,
}
