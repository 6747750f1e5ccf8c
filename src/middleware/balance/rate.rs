//! Failure-rate ejection (Envoy's `failure_percentage`): each endpoint
//! counts its requests and failures over a sliding window, and one whose
//! failure share is far above its peers' is ejected. Pure arithmetic on
//! explicit instants.
//!
//! Consecutive-failure ejection misses a replica that fails half its
//! requests: its successes keep breaking the streak, retries hide the
//! failures from users, and it keeps its full share of the traffic (and of
//! the retry budget). Comparing with its *peers* rather than with a fixed
//! threshold alone keeps a cluster-wide problem (every replica failing
//! alike, which is the breaker's business) from ejecting anyone.
//!
//! The window is two half-window buckets: the share is read over the
//! previous and the current one, so it covers between a half and a whole
//! window, without a per-request timestamp.

use std::time::Duration;

use tokio::time::Instant;

use crate::config::OutlierSettings;

/// Requests and failures of one endpoint over the last window.
#[derive(Clone, Debug, Default)]
pub struct FailureWindow {
    current: Counts,
    previous: Counts,
    /// When the current bucket ends.
    until: Option<Instant>,
}

/// Requests and the failures among them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests judged (successes and failures).
    pub requests: u32,
    /// Failures among them.
    pub failures: u32,
}

impl Counts {
    /// The failure share; 0 without requests.
    pub fn share(self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            f64::from(self.failures) / f64::from(self.requests)
        }
    }

    /// Both counts added up.
    pub fn plus(self, other: Self) -> Self {
        Self {
            requests: self.requests.saturating_add(other.requests),
            failures: self.failures.saturating_add(other.failures),
        }
    }
}

impl FailureWindow {
    /// Records one judged request at `now`.
    pub fn record(&mut self, failed: bool, window: Duration, now: Instant) {
        self.rotate(window, now);
        self.current.requests = self.current.requests.saturating_add(1);
        if failed {
            self.current.failures = self.current.failures.saturating_add(1);
        }
    }

    /// The counts over the last window at `now`.
    pub fn counts(&mut self, window: Duration, now: Instant) -> Counts {
        self.rotate(window, now);
        self.current.plus(self.previous)
    }

    /// Forgets everything (after an ejection: it must earn the next one anew).
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    fn rotate(&mut self, window: Duration, now: Instant) {
        // The common case, within the current bucket, is one comparison:
        // this runs on every judged request.
        match self.until {
            Some(until) if now < until => {}
            Some(until) => {
                let half = window / 2;
                self.previous = if now >= until + half {
                    Counts::default()
                } else {
                    self.current
                };
                self.current = Counts::default();
                self.until = Some(now + half);
            }
            None => self.until = Some(now + window / 2),
        }
    }
}

/// Whether an endpoint with `own` counts is a failure-rate outlier among
/// peers with `peers` counts (pooled): enough requests, and a failure share
/// at least `failure_percentage` above the peers'.
pub fn is_outlier(own: Counts, peers: Counts, s: &OutlierSettings) -> bool {
    s.failure_percentage > 0.0
        && own.requests >= s.failure_percentage_request_volume
        && own.share() - peers.share() >= s.failure_percentage
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn counts(requests: u32, failures: u32) -> Counts {
        Counts { requests, failures }
    }

    fn settings() -> OutlierSettings {
        OutlierSettings {
            consecutive_failures: 5,
            base_ejection_time: 30 * SEC,
            max_ejection_time: 300 * SEC,
            max_ejection_percent: 0.5,
            cancelled_after: 2 * SEC,
            failure_percentage: 0.3,
            failure_percentage_request_volume: 20,
            failure_percentage_window: 10 * SEC,
        }
    }

    #[test]
    fn half_failing_among_healthy_peers_is_an_outlier() {
        assert!(is_outlier(counts(40, 20), counts(80, 1), &settings()));
    }

    #[test]
    fn failing_like_its_peers_is_not_an_outlier() {
        // Every replica failing half: the breaker's business, not ejection's.
        assert!(!is_outlier(counts(40, 20), counts(80, 40), &settings()));
        assert!(!is_outlier(counts(40, 10), counts(80, 0), &settings()));
    }

    #[test]
    fn too_few_requests_are_not_judged() {
        assert!(!is_outlier(counts(19, 19), counts(80, 0), &settings()));
        let off = OutlierSettings {
            failure_percentage: 0.0,
            ..settings()
        };
        assert!(!is_outlier(counts(100, 100), counts(80, 0), &off));
    }

    #[test]
    fn the_window_forgets_what_is_older_than_a_window() {
        let t0 = Instant::now();
        let mut w = FailureWindow::default();
        for i in 0..10u32 {
            w.record(i.is_multiple_of(2), 10 * SEC, t0 + SEC * i);
        }
        assert_eq!(w.counts(10 * SEC, t0 + 9 * SEC), counts(10, 5));
        // Half a window on, the first bucket is the previous one: kept.
        assert_eq!(w.counts(10 * SEC, t0 + 12 * SEC), counts(5, 2));
        // A whole window without requests: nothing left.
        assert_eq!(w.counts(10 * SEC, t0 + 30 * SEC), counts(0, 0));
    }
}
