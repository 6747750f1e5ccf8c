//! Exponential backoff with full jitter (AWS Architecture Blog, "Exponential
//! Backoff And Jitter"): the wait before retry `n` is uniform in
//! `[0, min(max, base × 2^(n-1))]`.
//!
//! Full jitter rather than "equal" or none: a fleet of sidecars that saw the
//! same failure at the same moment must not retry in lockstep, and full
//! jitter spreads them most for the least total wait. The random source is
//! a seedable `fastrand::Rng`, so tests can fix it.

use std::time::Duration;

/// Draws backoff waits for one request's retries.
#[derive(Clone, Debug)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    rng: fastrand::Rng,
}

impl Backoff {
    /// A backoff from `base` to `max` drawing from `rng`.
    pub fn new(base: Duration, max: Duration, rng: fastrand::Rng) -> Self {
        Self { base, max, rng }
    }

    /// The cap of the wait before retry `retry` (1 for the first retry).
    pub fn ceiling(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(31);
        self.base.saturating_mul(1u32 << doublings).min(self.max)
    }

    /// A wait before retry `retry`, uniform in `[0, ceiling(retry)]`.
    pub fn wait(&mut self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry);
        // Nanoseconds of at most `max`, which validation keeps far below
        // u64::MAX nanoseconds (584 years).
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.rng.u64(..=nanos))
    }
}

/// The delay an upstream asked for with `Retry-After: <seconds>`. An HTTP
/// date is ignored (it needs a clock agreement a sidecar cannot assume).
pub fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}
