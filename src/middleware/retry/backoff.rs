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

/// The delay an upstream asked for with `Retry-After: <seconds>`
/// (RFC 9110 `delay-seconds`: digits only, so not `+5`). An HTTP date is
/// ignored (it needs a clock agreement a sidecar cannot assume). More
/// seconds than fit in a `u64` is a very long wait, not no wait: the retry
/// layer gives up on a wait beyond `max_retry_after`.
pub fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .as_bytes()
        .trim_ascii();
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let seconds = value.iter().try_fold(0u64, |n, digit| {
        n.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    });
    Some(Duration::from_secs(seconds.unwrap_or(u64::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(value: &str) -> Option<Duration> {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::RETRY_AFTER, value.parse().unwrap());
        retry_after(&headers)
    }

    #[test]
    fn retry_after_is_delay_seconds_only() {
        assert_eq!(parsed("120"), Some(Duration::from_secs(120)));
        assert_eq!(parsed(" 5 "), Some(Duration::from_secs(5)));
        assert_eq!(parsed("0"), Some(Duration::ZERO));
        // Found by fuzz/ (retry_after): `+5` was read as 5 seconds.
        for not_seconds in ["+5", "-1", "5s", "1.5", "", "Fri, 31 Dec 1999 23:59:59 GMT"] {
            assert_eq!(parsed(not_seconds), None, "{not_seconds:?}");
        }
        let huge = "99999999999999999999999";
        assert_eq!(parsed(huge), Some(Duration::from_secs(u64::MAX)));
        assert_eq!(retry_after(&http::HeaderMap::new()), None);
    }
}
