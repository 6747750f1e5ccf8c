//! The serde model of a cluster's failure-isolation blocks: `breaker:`,
//! `outlier:` and `health_check:`.

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::scalar::NumberOrText;

/// `clusters[].breaker:`
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct BreakerFile {
    /// `auto`, `force_open`, `force_closed` or `metrics_only`.
    pub mode: Option<BreakerModeFile>,
    /// Failures in a row that trip; 0 disables.
    pub consecutive_failures: Option<u32>,
    /// Failure share of the window that trips; 0 disables.
    #[cfg_attr(test, schemars(with = "Option<NumberOrText>"))]
    pub failure_rate: Option<Spanned<NumberOrText>>,
    /// Slow share of the window that trips; 0 disables.
    #[cfg_attr(test, schemars(with = "Option<NumberOrText>"))]
    pub slow_call_rate: Option<Spanned<NumberOrText>>,
    /// The throttle's K: admit up to K × what the upstream accepts; 0 off.
    #[cfg_attr(test, schemars(with = "Option<f64>"))]
    pub accept_multiplier: Option<Spanned<f64>>,
    /// What "slow" means.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub slow_call_threshold: Option<Spanned<String>>,
    /// `100` (calls) or `10s` (time).
    #[cfg_attr(test, schemars(with = "Option<NumberOrText>"))]
    pub window: Option<Spanned<NumberOrText>>,
    /// Calls needed before a rate is judged.
    pub minimum_calls: Option<u32>,
    /// First open time.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub open_duration: Option<Spanned<String>>,
    /// Cap of the open time.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub max_open_duration: Option<Spanned<String>>,
    /// Random shortening of the open time.
    #[cfg_attr(test, schemars(with = "Option<NumberOrText>"))]
    pub jitter: Option<Spanned<NumberOrText>>,
    /// Probes admitted while half-open.
    #[cfg_attr(test, schemars(with = "Option<u32>"))]
    pub half_open_probes: Option<Spanned<u32>>,
}

/// `clusters[].breaker.mode`
#[derive(Clone, Copy, Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub(crate) enum BreakerModeFile {
    /// Opens and closes by itself.
    Auto,
    /// Refuses everything.
    ForceOpen,
    /// Admits everything.
    ForceClosed,
    /// Never refuses, still records.
    MetricsOnly,
}

/// `clusters[].outlier:`
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct OutlierFile {
    /// Failures in a row that eject; 0 disables.
    pub consecutive_failures: Option<u32>,
    /// Ejection time per ejection.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub base_ejection_time: Option<Spanned<String>>,
    /// Cap of the ejection time.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub max_ejection_time: Option<Spanned<String>>,
    /// Cap of the ejected share.
    #[cfg_attr(test, schemars(with = "Option<NumberOrText>"))]
    pub max_ejection_percent: Option<Spanned<NumberOrText>>,
    /// When a cancellation the endpoint did not cause counts as a failure.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub cancelled_after: Option<Spanned<String>>,
    /// How far above its peers' failure share ejects; 0 disables.
    #[cfg_attr(test, schemars(with = "Option<NumberOrText>"))]
    pub failure_percentage: Option<Spanned<NumberOrText>>,
    /// Requests in the window before the share is judged.
    #[cfg_attr(test, schemars(with = "Option<u32>"))]
    pub failure_percentage_request_volume: Option<Spanned<u32>>,
    /// Window of the failure share.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub failure_percentage_window: Option<Spanned<String>>,
}

/// `clusters[].health_check:`
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct HealthCheckFile {
    /// GET path.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub path: Option<Spanned<String>>,
    /// Period per endpoint.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub interval: Option<Spanned<String>>,
    /// Random lengthening of the period.
    #[cfg_attr(test, schemars(with = "Option<NumberOrText>"))]
    pub jitter: Option<Spanned<NumberOrText>>,
    /// Probe timeout.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub timeout: Option<Spanned<String>>,
    /// Passes in a row to become healthy.
    #[cfg_attr(test, schemars(with = "Option<u32>"))]
    pub healthy_threshold: Option<Spanned<u32>>,
    /// Failures in a row to become unhealthy.
    #[cfg_attr(test, schemars(with = "Option<u32>"))]
    pub unhealthy_threshold: Option<Spanned<u32>>,
    /// Passing probes readmit an ejected endpoint early.
    pub readmit_ejected: Option<bool>,
}
