//! Typed failure-isolation settings of a cluster: the circuit breaker,
//! outlier ejection and active health checks.

use std::num::NonZeroU32;
use std::time::Duration;

use serde::Serialize;

/// Manual override of a cluster breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerMode {
    /// Opens and closes by itself.
    Auto,
    /// Refuses every request (an operator isolating a dependency).
    ForceOpen,
    /// Admits every request and records nothing.
    ForceClosed,
    /// Records and logs transitions but never refuses (a dry run).
    MetricsOnly,
}

/// The window over which failure and slow-call rates are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerWindow {
    /// The last N calls.
    Count(u32),
    /// The calls of the last span of time.
    Time(#[serde(with = "crate::config::duration::serde_str")] Duration),
}

/// Cluster circuit breaker settings. A zero count or rate disables that trigger.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BreakerSettings {
    /// Manual override.
    pub mode: BreakerMode,
    /// Trip after this many failures in a row (0: off).
    pub consecutive_failures: u32,
    /// Trip when this share of the window failed (0: off; 1: only when
    /// nothing succeeds).
    pub failure_rate: f64,
    /// The throttle admits up to this many times what the upstream has
    /// been accepting (0: off).
    pub accept_multiplier: f64,
    /// Trip when this share of the window was slow (0: off).
    pub slow_call_rate: f64,
    /// A call slower than this is slow.
    #[serde(with = "crate::config::duration::serde_str")]
    pub slow_call_threshold: Duration,
    /// Window of the rate triggers.
    pub window: BreakerWindow,
    /// Rates are not judged on fewer calls than this.
    pub minimum_calls: u32,
    /// Time open after the first trip.
    #[serde(with = "crate::config::duration::serde_str")]
    pub open_duration: Duration,
    /// Cap of the doubling open time on repeated trips.
    #[serde(with = "crate::config::duration::serde_str")]
    pub max_open_duration: Duration,
    /// Share in `[0, 1]` by which an open time is shortened at random.
    pub jitter: f64,
    /// Probe calls admitted while half-open; that many successes close.
    pub half_open_probes: NonZeroU32,
}

/// Outlier ejection settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutlierSettings {
    /// Eject after this many failures in a row (0: ejection off).
    pub consecutive_failures: u32,
    /// Ejection time, multiplied by the number of times ejected.
    #[serde(with = "crate::config::duration::serde_str")]
    pub base_ejection_time: Duration,
    /// Cap of the ejection time.
    #[serde(with = "crate::config::duration::serde_str")]
    pub max_ejection_time: Duration,
    /// Most endpoints ejected at once, as a share (at least one, never all).
    pub max_ejection_percent: f64,
    /// A cancellation the endpoint did not cause (not its attempt's own
    /// timeout) counts as a failure after waiting this long.
    #[serde(with = "crate::config::duration::serde_str")]
    pub cancelled_after: Duration,
    /// Eject an endpoint whose failure share over the window is at least
    /// this much above its peers' (0: failure-rate ejection off).
    pub failure_percentage: f64,
    /// Requests an endpoint must have had in the window to be judged.
    pub failure_percentage_request_volume: u32,
    /// The window of the failure share.
    #[serde(with = "crate::config::duration::serde_str")]
    pub failure_percentage_window: Duration,
}

/// Active health check settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HealthCheckSettings {
    /// Path of the GET probe.
    pub path: String,
    /// Time between probes of one endpoint.
    #[serde(with = "crate::config::duration::serde_str")]
    pub interval: Duration,
    /// Share in `[0, 1]` by which an interval is lengthened at random.
    pub jitter: f64,
    /// Time a probe may take.
    #[serde(with = "crate::config::duration::serde_str")]
    pub timeout: Duration,
    /// Passing probes in a row that make an endpoint healthy.
    pub healthy_threshold: NonZeroU32,
    /// Failing probes in a row that make an endpoint unhealthy.
    pub unhealthy_threshold: NonZeroU32,
    /// Whether `healthy_threshold` passes in a row, started after an
    /// ejection, readmit the ejected endpoint before its time is up.
    pub readmit_ejected: bool,
}
