//! The RTT estimate: an averaged, time-weighted EWMA. Pure arithmetic, no
//! I/O, no tasks.
//!
//! The weights depend on *time*, not on the number of samples: after
//! `elapsed` time a previous estimate keeps the weight
//! `exp(-elapsed / decay)`, and each answer is averaged in with the rest.
//! Between answers the estimate fades with the same time constant, so an
//! endpoint the balancer stopped picking looks cheap again after a few
//! `decay`s and is measured anew (with `decay` 200 ms, a 500 ms answer among
//! 0.5 ms peers fades below twice theirs in `0.2 s × ln(500)` ≈ 1.25 s).
//!
//! Why averaged and not *peak* (linkerd's and Finagle's PeakEWMA, where one
//! slow answer replaces the estimate at once): at sub-millisecond latencies
//! a single scheduling hiccup made an equal replica look many times dearer,
//! and with a 10 s `decay` it stayed so for about a minute; the balancer
//! herded every pairing to whichever replica had been lucky last. A slow
//! replica is still seen at once here: its in-flight count rises first, and
//! a 500 ms answer averaged with weight 1/25 already reads 20 ms, forty
//! times a 0.5 ms peer.
//!
//! Before the first sample the estimate is the configured default, held
//! constant; the first sample replaces that guess.
//!
//! A request that got no answer (cancelled, or failed without a response)
//! tells only a lower bound: "at least this long". Such a bound can raise
//! the estimate (to the bound itself) but never lower it, and the estimate
//! remembers that it rests on a bound. When later evidence shows the
//! endpoint answering again (a passing health check), [`RttEwma::forget_bound`]
//! drops it, so the endpoint is tried again at once.

use std::time::Duration;

use tokio::time::Instant;

/// A time-weighted, averaged RTT estimate, in seconds.
#[derive(Clone, Debug)]
pub struct RttEwma {
    default_rtt: f64,
    decay: f64,
    /// The estimate at `stamp`; `None` until the first observation.
    last: Option<(f64, Instant)>,
    /// The estimate was last raised by a lower bound, not by an answer.
    bound: bool,
    /// When the endpoint last went from idle to busy (a request in flight).
    busy_from: Option<Instant>,
}

impl RttEwma {
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
            busy_from: None,
        }
    }

    /// Records that the endpoint went from idle to busy at `now`: its
    /// requests in flight are only as old as that, whatever the age of its
    /// last answer.
    pub fn busy_from(&mut self, now: Instant) {
        self.busy_from = Some(now);
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
                estimate * weight + rtt * (1.0 - weight)
            }
        };
        self.last = Some((next, now));
        self.bound = false;
    }

    /// Whether the last answer (or bound) is more than `decay` old at
    /// `now`, and so is the moment the endpoint last went from idle to
    /// busy: a request of its has been waiting that long. (The last answer
    /// alone is not enough: an endpoint idle for a while and then sent a
    /// request would read as waiting at once, and lose every pairing.)
    pub fn stale(&self, now: Instant) -> bool {
        let old = |stamp: Instant| now.saturating_duration_since(stamp).as_secs_f64() > self.decay;
        self.last.is_some_and(|(_, stamp)| old(stamp)) && self.busy_from.is_none_or(old)
    }

    /// Records that a request has taken *at least* `rtt` (it was cancelled
    /// before it answered). Only raises the estimate, never lowers it: a hung
    /// endpoint must look expensive once the caller gives up on it.
    pub fn observe_at_least(&mut self, rtt: Duration, now: Instant) {
        let rtt = rtt.as_secs_f64();
        if rtt > self.estimate(now) {
            self.last = Some((rtt, now));
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
    fn an_idle_endpoint_sent_a_request_is_not_waiting() {
        let t0 = Instant::now();
        let mut ewma = RttEwma::new(30 * MS, 200 * MS);
        ewma.observe(MS, t0);
        // Idle for 300 ms, then busy again: its request is fresh.
        ewma.busy_from(t0 + 300 * MS);
        assert!(!ewma.stale(t0 + 350 * MS));
        // Still no answer 250 ms after it went busy: waiting.
        assert!(ewma.stale(t0 + 550 * MS));
    }

    #[test]
    fn reads_default_until_first_observation() {
        let t0 = Instant::now();
        let ewma = RttEwma::new(30 * MS, DECAY);
        assert!(close(ewma.estimate(t0), 0.030));
        // The default does not decay: it is a guess, not a measurement.
        assert!(close(ewma.estimate(t0 + 100 * DECAY), 0.030));
    }

    #[test]
    fn first_observation_replaces_default() {
        let t0 = Instant::now();
        let mut ewma = RttEwma::new(30 * MS, DECAY);
        ewma.observe(5 * MS, t0);
        assert!(close(ewma.estimate(t0), 0.005));
    }

    #[test]
    fn a_slow_answer_is_averaged_in_by_its_time_weight() {
        let t0 = Instant::now();
        let mut ewma = RttEwma::new(30 * MS, 200 * MS);
        ewma.observe(MS, t0);
        // 8 ms later (a replica at 125 rps) one 500 ms answer: weight 1 - e^-0.04.
        ewma.observe(500 * MS, t0 + 8 * MS);
        let w = (-0.04f64).exp();
        let expected = 0.001 * w + 0.500 * (1.0 - w);
        assert!(close(ewma.estimate(t0 + 8 * MS), expected));
        // Still far above a 1 ms peer (about 20 ms): slow is seen at once.
        assert!(ewma.estimate(t0 + 8 * MS) > 0.015);
    }

    #[test]
    fn one_old_slow_answer_fades_below_twice_a_fast_peer_within_1300ms() {
        let t0 = Instant::now();
        let mut ewma = RttEwma::new(30 * MS, 200 * MS);
        ewma.observe(500 * MS, t0);
        assert!(ewma.estimate(t0 + 1200 * MS) > 0.001);
        assert!(ewma.estimate(t0 + 1300 * MS) < 0.001);
    }

    #[test]
    fn fast_observations_bring_estimate_down_with_time_constant_decay() {
        let t0 = Instant::now();
        let mut ewma = RttEwma::new(30 * MS, DECAY);
        ewma.observe(500 * MS, t0);
        // One time constant later the old peak keeps a weight of 1/e.
        let t1 = t0 + DECAY;
        ewma.observe(10 * MS, t1);
        let e = std::f64::consts::E;
        let expected = 0.500 / e + 0.010 * (1.0 - 1.0 / e);
        assert!(close(ewma.estimate(t1), expected), "{}", ewma.estimate(t1));
        // After five more time constants it is back within 1.5 ms of 10 ms.
        let t2 = t1 + 5 * DECAY;
        ewma.observe(10 * MS, t2);
        assert!((ewma.estimate(t2) - 0.010).abs() < 0.0015);
    }

    #[test]
    fn samples_close_together_barely_lower_the_estimate() {
        let t0 = Instant::now();
        let mut ewma = RttEwma::new(30 * MS, DECAY);
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
        let mut ewma = RttEwma::new(30 * MS, DECAY);
        ewma.observe(100 * MS, t0);
        let expected = 0.100 / std::f64::consts::E;
        assert!(close(ewma.estimate(t0 + DECAY), expected));
    }

    #[test]
    fn lower_bound_only_raises() {
        let t0 = Instant::now();
        let mut ewma = RttEwma::new(30 * MS, DECAY);
        ewma.observe(100 * MS, t0);
        ewma.observe_at_least(MS, t0);
        assert!(close(ewma.estimate(t0), 0.100));
        // A bound above the estimate replaces it: no answer for this long.
        ewma.observe_at_least(2000 * MS, t0);
        assert!(close(ewma.estimate(t0), 2.0));
    }

    #[test]
    fn forget_bound_drops_an_estimate_set_by_a_lower_bound() {
        let t0 = Instant::now();
        let mut ewma = RttEwma::new(30 * MS, DECAY);
        ewma.observe(2 * MS, t0);
        ewma.observe_at_least(200 * MS, t0 + MS);
        assert!(ewma.forget_bound());
        assert_eq!(ewma.measured(t0 + MS), None);
        assert!(close(ewma.estimate(t0 + MS), 0.030));
    }

    #[test]
    fn forget_bound_keeps_an_estimate_made_of_answers() {
        let t0 = Instant::now();
        let mut ewma = RttEwma::new(30 * MS, DECAY);
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
        let mut ewma = RttEwma::new(30 * MS, DECAY);
        ewma.observe(100 * MS, t0);
        ewma.reconfigure(50 * MS, 2 * DECAY);
        assert!(close(ewma.estimate(t0), 0.100));
        let expected = 0.100 / std::f64::consts::E;
        assert!(close(ewma.estimate(t0 + 2 * DECAY), expected));
    }
}
