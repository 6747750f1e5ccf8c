//! The RTT estimate: an averaged, time-weighted EWMA. Pure arithmetic, no
//! I/O, no tasks.
//!
//! The weights depend on *time*, not on the number of samples: after
//! `elapsed` time a previous estimate keeps the weight
//! `exp(-elapsed / decay)`, and each answer is averaged in with the rest.
//! Between answers the estimate fades with the same time constant.
//!
//! Why averaged and not *peak* (linkerd's and Finagle's PeakEWMA, where one
//! slow answer replaces the estimate at once): at sub-millisecond latencies
//! a single scheduling hiccup made an equal replica look many times dearer,
//! and with a 10 s `decay` it stayed so for about a minute; the balancer
//! herded every pairing to whichever replica had been lucky last. A slow
//! replica is still seen at once here: a 500 ms answer averaged with weight
//! 1/25 already reads 20 ms, forty times a 0.5 ms peer, and before any
//! answer its silence counts (below).
//!
//! # Evidence from requests still in flight
//!
//! [`Reading::silence`] is how long the endpoint has had requests in flight
//! without answering any: since its last answer, or since it went from
//! idle to busy if that is later (an endpoint idle for a minute and sent a
//! request a millisecond ago has been silent for a millisecond). The picker
//! judges an endpoint by its estimate or its silence, whichever is longer
//! (see `pick`), so a replica that turned slow or hung stops attracting
//! requests as soon as its first one has been out for twice its peers'
//! RTT, without waiting for that answer. linkerd's and Finagle's PeakEWMA
//! weigh outstanding requests only by their number; how long they have
//! gone unanswered is what lets the estimate itself be forgiving.
//!
//! # A fresh look after a pause
//!
//! An endpoint judged clearly slower gets no traffic, so no fresh answer
//! would ever tell that it recovered: waiting for the estimate to fade
//! below twice its peers' takes `decay × ln(ratio / 2)` (1.25 s for 500 ms
//! against 0.5 ms with `decay` 200 ms). Instead, once it is idle and its
//! last answer is `decay / 2` old, [`Reading::fresh_look`] lets the picker
//! send it one request (it is busy then, so only one); an answer after
//! such a pause that is more than twice as fast as the faded estimate
//! *replaces* it (the endpoint changed; averaging the news with the memory
//! of its slowness would keep it out for another `decay`s), while a slow
//! answer is averaged in as usual and the endpoint waits another
//! `decay / 2`. A 500 ms replica is thus sent one request every ≈ 0.6 s
//! (about 17 slow answers in 10 s, where nginx's `least_conn` lets about
//! 20 through), and a recovered one is back at its share on the first
//! answer after its last slow one plus `decay / 2`. Answers closer together
//! than `decay / 2` are always averaged, so noise between equal replicas
//! under load never replaces an estimate.
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

/// How many times faster than the faded estimate an answer after a pause
/// must be to replace it rather than be averaged in.
const CLEARLY_FASTER: f64 = 2.0;

/// What a pick reads of an endpoint's estimate at one instant.
#[derive(Clone, Copy, Debug)]
pub struct Reading {
    /// The estimate, if the endpoint has ever answered.
    pub rtt: Option<f64>,
    /// Seconds since it last answered or went from idle to busy, whichever
    /// is later, while it has requests in flight (0 when idle): how long it
    /// has had work and said nothing.
    pub silence: f64,
    /// Idle, and its last answer (or lower bound) is at least `decay / 2`
    /// old: whatever made it look slow may be over.
    pub fresh_look: bool,
}

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
                let faded = estimate * weight;
                let pause = now.saturating_duration_since(stamp).as_secs_f64();
                if pause >= self.fresh_look() && rtt * CLEARLY_FASTER < faded {
                    // News after a pause, far better than the memory: the
                    // endpoint has changed (recovered); believe the news.
                    rtt
                } else {
                    faded + rtt * (1.0 - weight)
                }
            }
        };
        self.last = Some((next, now));
        self.bound = false;
    }

    /// What a pick needs of the estimate at `now`, for an endpoint with
    /// (`busy`) or without requests in flight.
    pub fn reading(&self, now: Instant, busy: bool) -> Reading {
        let since = |stamp: Instant| now.saturating_duration_since(stamp).as_secs_f64();
        let stamp = self.last.map(|(_, stamp)| stamp);
        let silence = match (busy, stamp.max(self.busy_from)) {
            (true, Some(from)) => since(from),
            _ => 0.0,
        };
        Reading {
            rtt: self.measured(now),
            silence,
            fresh_look: !busy && stamp.is_some_and(|s| since(s) >= self.fresh_look()),
        }
    }

    /// How long without an answer before an idle endpoint deserves a
    /// fresh look: `decay / 2`.
    fn fresh_look(&self) -> f64 {
        self.decay / 2.0
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
    fn silence_counts_from_the_last_answer_or_from_going_busy() {
        let t0 = Instant::now();
        let mut ewma = RttEwma::new(30 * MS, 200 * MS);
        ewma.observe(MS, t0);
        // Idle: never silent, however old its last answer.
        assert!(close(ewma.reading(t0 + 300 * MS, false).silence, 0.0));
        // Idle for 300 ms, then busy: silent only since then.
        ewma.busy_from(t0 + 300 * MS);
        assert!(close(ewma.reading(t0 + 350 * MS, true).silence, 0.050));
        // An answer while busy restarts the count.
        ewma.observe(MS, t0 + 400 * MS);
        assert!(close(ewma.reading(t0 + 410 * MS, true).silence, 0.010));
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
    fn answers_closer_than_half_decay_are_averaged_by_time_weight() {
        let t0 = Instant::now();
        let mut ewma = RttEwma::new(30 * MS, DECAY);
        ewma.observe(500 * MS, t0);
        // A quarter of a time constant later the old peak keeps e^-1/4.
        let t1 = t0 + DECAY / 4;
        ewma.observe(10 * MS, t1);
        let w = (-0.25f64).exp();
        let expected = 0.500 * w + 0.010 * (1.0 - w);
        assert!(close(ewma.estimate(t1), expected), "{}", ewma.estimate(t1));
    }

    #[test]
    fn a_clearly_faster_answer_after_half_decay_replaces_the_estimate() {
        let t0 = Instant::now();
        let mut ewma = RttEwma::new(30 * MS, 200 * MS);
        ewma.observe(500 * MS, t0);
        let t1 = t0 + 100 * MS;
        ewma.observe(MS / 2, t1);
        assert!(close(ewma.estimate(t1), 0.0005), "{}", ewma.estimate(t1));
    }

    #[test]
    fn a_slow_answer_after_a_pause_is_averaged_in() {
        let t0 = Instant::now();
        let mut ewma = RttEwma::new(30 * MS, 200 * MS);
        ewma.observe(500 * MS, t0);
        // Still slow: not twice as fast as the faded memory.
        let t1 = t0 + 100 * MS;
        ewma.observe(400 * MS, t1);
        let w = (-0.5f64).exp();
        assert!(close(ewma.estimate(t1), 0.5 * w + 0.4 * (1.0 - w)));
    }

    #[test]
    fn an_idle_endpoint_deserves_a_fresh_look_after_half_decay() {
        let t0 = Instant::now();
        let mut ewma = RttEwma::new(30 * MS, 200 * MS);
        // Never answered: nothing to look at afresh.
        assert!(!ewma.reading(t0 + DECAY, false).fresh_look);
        ewma.observe(500 * MS, t0);
        assert!(!ewma.reading(t0 + 99 * MS, false).fresh_look);
        assert!(ewma.reading(t0 + 100 * MS, false).fresh_look);
        // Busy: its request in flight is the look.
        assert!(!ewma.reading(t0 + 100 * MS, true).fresh_look);
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
