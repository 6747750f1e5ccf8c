//! PeakEWMA latency estimate: pure arithmetic, no I/O, no tasks.
//!
//! The estimate is an exponentially weighted moving average whose weights
//! depend on *time*, not on the number of samples: after `elapsed` time a
//! previous estimate keeps the weight `exp(-elapsed / decay)`. Between samples
//! the estimate decays towards zero, so an endpoint nobody has asked for a
//! while drifts back to looking cheap and is probed again (this is what
//! linkerd and `tower::load::PeakEwma` do).
//!
//! "Peak": a sample above the current estimate replaces it at once. A slow
//! replica becomes expensive on its first slow answer; only time brings it
//! back down. Before the first sample the estimate is the configured default,
//! held constant; the first sample replaces that guess.
//!
//! A request that got no answer (cancelled, or failed without a response)
//! tells only a lower bound: "at least this long". Such a bound can raise
//! the estimate but never lower it, and the estimate remembers that it rests
//! on a bound. When later evidence shows the endpoint answering again (a
//! passing health check), [`PeakEwma::forget_bound`] drops it: an endpoint
//! P2C no longer picks would otherwise wait many decay constants before it
//! looked cheap enough to be tried, however healthy it was again.

use std::time::Duration;

use tokio::time::Instant;

/// A peak-sensitive, time-decayed RTT estimate, in seconds.
#[derive(Clone, Debug)]
pub struct PeakEwma {
    default_rtt: f64,
    decay: f64,
    /// The estimate at `stamp`; `None` until the first observation.
    last: Option<(f64, Instant)>,
    /// The estimate was last raised by a lower bound, not by an answer.
    bound: bool,
}

impl PeakEwma {
    /// An estimate that reads `default_rtt` until the first observation and
    /// forgets old observations with time constant `decay`.
    ///
    /// A zero `decay` is treated as one nanosecond (the estimate then follows
    /// the newest sample).
    pub fn new(default_rtt: Duration, decay: Duration) -> Self {
        Self {
            default_rtt: default_rtt.as_secs_f64(),
            decay: decay.as_secs_f64().max(1e-9),
            last: None,
            bound: false,
        }
    }

    /// Changes the parameters on reload, keeping what has been learnt.
    pub fn reconfigure(&mut self, default_rtt: Duration, decay: Duration) {
        let fresh = Self::new(default_rtt, decay);
        self.default_rtt = fresh.default_rtt;
        self.decay = fresh.decay;
    }

    /// Records that a request took `rtt`, observed at `now`.
    pub fn observe(&mut self, rtt: Duration, now: Instant) {
        let rtt = rtt.as_secs_f64();
        let next = match self.last {
            None => rtt,
            Some((estimate, stamp)) => {
                let weight = self.weight(stamp, now);
                let decayed = estimate * weight;
                if rtt > decayed {
                    // Peak: a slow answer counts in full, immediately.
                    rtt
                } else {
                    decayed + rtt * (1.0 - weight)
                }
            }
        };
        self.last = Some((next, now));
        self.bound = false;
    }

    /// Records that a request has taken *at least* `rtt` (it was cancelled
    /// before it answered). Only raises the estimate, never lowers it: a hung
    /// endpoint must look expensive once the caller gives up on it.
    pub fn observe_at_least(&mut self, rtt: Duration, now: Instant) {
        if rtt.as_secs_f64() > self.estimate(now) {
            self.observe(rtt, now);
            self.bound = true;
        }
    }

    /// Forgets the estimate if a lower bound set it (the endpoint was last
    /// seen not answering) and reads as unmeasured again; an estimate made
    /// of real answers is kept. Returns whether it forgot.
    pub fn forget_bound(&mut self) -> bool {
        let forget = self.bound;
        if forget {
            self.last = None;
            self.bound = false;
        }
        forget
    }

    /// The estimate at `now`, in seconds.
    pub fn estimate(&self, now: Instant) -> f64 {
        match self.last {
            None => self.default_rtt,
            Some((estimate, stamp)) => estimate * self.weight(stamp, now),
        }
    }

    /// The estimate at `now` if at least one request has been observed.
    pub fn measured(&self, now: Instant) -> Option<f64> {
        self.last
            .map(|(estimate, stamp)| estimate * self.weight(stamp, now))
    }

    /// Weight left to a value recorded at `stamp` when read at `now`.
    fn weight(&self, stamp: Instant, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(stamp).as_secs_f64();
        (-elapsed / self.decay).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const DECAY: Duration = Duration::from_secs(10);

    fn close(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() < 1e-9
    }

    #[test]
    fn reads_default_until_first_observation() {
        let t0 = Instant::now();
        let ewma = PeakEwma::new(30 * MS, DECAY);
        assert!(close(ewma.estimate(t0), 0.030));
        // The default does not decay: it is a guess, not a measurement.
        assert!(close(ewma.estimate(t0 + 100 * DECAY), 0.030));
    }

    #[test]
    fn first_observation_replaces_default() {
        let t0 = Instant::now();
        let mut ewma = PeakEwma::new(30 * MS, DECAY);
        ewma.observe(5 * MS, t0);
        assert!(close(ewma.estimate(t0), 0.005));
    }

    #[test]
    fn slow_observation_raises_estimate_at_once() {
        let t0 = Instant::now();
        let mut ewma = PeakEwma::new(30 * MS, DECAY);
        ewma.observe(10 * MS, t0);
        ewma.observe(500 * MS, t0 + MS);
        assert!(close(ewma.estimate(t0 + MS), 0.500));
    }

    #[test]
    fn fast_observations_bring_estimate_down_with_time_constant_decay() {
        let t0 = Instant::now();
        let mut ewma = PeakEwma::new(30 * MS, DECAY);
        ewma.observe(500 * MS, t0);
        // One time constant later the old peak keeps a weight of 1/e.
        let t1 = t0 + DECAY;
        ewma.observe(10 * MS, t1);
        let e = std::f64::consts::E;
        let expected = 0.500 / e + 0.010 * (1.0 - 1.0 / e);
        assert!(close(ewma.estimate(t1), expected), "{}", ewma.estimate(t1));
        // After five more time constants it is back within 1 ms of 10 ms.
        let t2 = t1 + 5 * DECAY;
        ewma.observe(10 * MS, t2);
        assert!((ewma.estimate(t2) - 0.010).abs() < 0.001);
    }

    #[test]
    fn samples_close_together_barely_lower_the_estimate() {
        let t0 = Instant::now();
        let mut ewma = PeakEwma::new(30 * MS, DECAY);
        ewma.observe(100 * MS, t0);
        for _ in 0..1000 {
            ewma.observe(MS, t0);
        }
        // Weights follow time, not sample count: a burst cannot erase a peak.
        assert!(close(ewma.estimate(t0), 0.100));
    }

    #[test]
    fn idle_estimate_decays_towards_zero() {
        let t0 = Instant::now();
        let mut ewma = PeakEwma::new(30 * MS, DECAY);
        ewma.observe(100 * MS, t0);
        let expected = 0.100 / std::f64::consts::E;
        assert!(close(ewma.estimate(t0 + DECAY), expected));
    }

    #[test]
    fn lower_bound_only_raises() {
        let t0 = Instant::now();
        let mut ewma = PeakEwma::new(30 * MS, DECAY);
        ewma.observe(100 * MS, t0);
        ewma.observe_at_least(MS, t0);
        assert!(close(ewma.estimate(t0), 0.100));
        ewma.observe_at_least(2000 * MS, t0);
        assert!(close(ewma.estimate(t0), 2.0));
    }

    #[test]
    fn forget_bound_drops_an_estimate_set_by_a_lower_bound() {
        let t0 = Instant::now();
        let mut ewma = PeakEwma::new(30 * MS, DECAY);
        ewma.observe(2 * MS, t0);
        ewma.observe_at_least(200 * MS, t0 + MS);
        assert!(ewma.forget_bound());
        assert_eq!(ewma.measured(t0 + MS), None);
        assert!(close(ewma.estimate(t0 + MS), 0.030));
    }

    #[test]
    fn forget_bound_keeps_an_estimate_made_of_answers() {
        let t0 = Instant::now();
        let mut ewma = PeakEwma::new(30 * MS, DECAY);
        // A slow replica: its answers are slow, and that is real.
        ewma.observe(200 * MS, t0);
        assert!(!ewma.forget_bound());
        assert!(close(ewma.estimate(t0), 0.200));
        // A bound below the estimate changes nothing, so it is kept too.
        ewma.observe_at_least(MS, t0);
        assert!(!ewma.forget_bound());
        // An answer after a bound makes the estimate real again.
        ewma.observe_at_least(500 * MS, t0);
        ewma.observe(400 * MS, t0 + MS);
        assert!(!ewma.forget_bound());
    }

    #[test]
    fn reconfigure_keeps_the_estimate() {
        let t0 = Instant::now();
        let mut ewma = PeakEwma::new(30 * MS, DECAY);
        ewma.observe(100 * MS, t0);
        ewma.reconfigure(50 * MS, 2 * DECAY);
        assert!(close(ewma.estimate(t0), 0.100));
        let expected = 0.100 / std::f64::consts::E;
        assert!(close(ewma.estimate(t0 + 2 * DECAY), expected));
    }
}
