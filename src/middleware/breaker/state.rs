//! The breaker's decisions as a pure state machine: no I/O, no tasks, time
//! passed in. `Breaker` (in `shared.rs`) wraps it in a mutex; tests drive it
//! with explicit `Instant`s.

use std::time::Duration;

use tokio::time::Instant;

pub use super::events::{Admission, Call, Cause, Kind, Phase, STALL, Transition};
use super::throttle::Throttle;
use super::window::Window;
use crate::config::{BreakerMode, BreakerSettings};
use crate::middleware::classify::Outcome;

#[derive(Clone, Copy, Debug)]
enum State {
    Closed,
    Open { until: Instant },
    HalfOpen { in_flight: u32, successes: u32 },
}

/// The breaker of one cluster.
#[derive(Debug)]
pub struct BreakerState {
    settings: BreakerSettings,
    state: State,
    /// Hard failures (not timeouts) since the last success.
    consecutive: u32,
    /// Failures, timeouts and throttled refusals since the last success,
    /// and when the first of them happened.
    streak: u32,
    streak_since: Option<Instant>,
    /// Successes in a row: `minimum_calls` of them say the upstream
    /// accepts everything again, and the throttle forgets the dip.
    successes: u32,
    window: Window,
    throttle: Throttle,
    /// The throttle's admit ratio at the last decision.
    admit_ratio: f64,
    /// Trips since the breaker last closed: the backoff exponent.
    trips: u32,
    rng: fastrand::Rng,
}

impl BreakerState {
    /// A closed breaker; `rng` draws the open-time jitter (seed it in tests).
    pub fn new(settings: BreakerSettings, rng: fastrand::Rng) -> Self {
        Self {
            window: Window::new(settings.window),
            throttle: Throttle::new(settings.accept_multiplier, settings.minimum_calls),
            admit_ratio: 1.0,
            settings,
            state: State::Closed,
            consecutive: 0,
            streak: 0,
            streak_since: None,
            successes: 0,
            trips: 0,
            rng,
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        match self.state {
            State::Closed => Phase::Closed,
            State::Open { .. } => Phase::Open,
            State::HalfOpen { .. } => Phase::HalfOpen,
        }
    }

    /// The share of requests the throttle admitted at its last decision
    /// (1 when it refuses nothing).
    pub fn admit_ratio(&self) -> f64 {
        self.admit_ratio
    }

    /// The manual override in force.
    pub fn mode(&self) -> BreakerMode {
        self.settings.mode
    }

    /// Changes the override and starts afresh, closed: the previous counts
    /// were taken under another regime.
    pub fn set_mode(&mut self, mode: BreakerMode) {
        self.settings.mode = mode;
        self.state = State::Closed;
        self.trips = 0;
        self.reset_counts();
    }

    /// Decides whether a call may start at `now`.
    pub fn acquire(&mut self, now: Instant) -> (Admission, Option<Transition>) {
        let metrics_only = match self.settings.mode {
            BreakerMode::ForceOpen => {
                return (Admission::Reject(self.settings.open_duration), None);
            }
            BreakerMode::ForceClosed => return (Admission::Admit(Kind::Unrecorded), None),
            BreakerMode::MetricsOnly => true,
            BreakerMode::Auto => false,
        };
        let mut transition = None;
        if let State::Open { until } = self.state
            && now >= until
        {
            self.state = State::HalfOpen {
                in_flight: 0,
                successes: 0,
            };
            transition = Some(Transition::HalfOpened);
        }
        let refuse = |after: Duration| {
            if metrics_only {
                Admission::Admit(Kind::Unrecorded)
            } else {
                Admission::Reject(after)
            }
        };
        if let State::Closed = self.state {
            let (admission, change) = self.throttled(now, metrics_only);
            return (admission, transition.or(change));
        }
        let admission = match &mut self.state {
            State::Closed => Admission::Admit(Kind::Normal),
            State::Open { until } => refuse(until.saturating_duration_since(now)),
            State::HalfOpen {
                in_flight,
                successes,
            } => {
                if *in_flight + *successes < self.settings.half_open_probes.get() {
                    *in_flight += 1;
                    Admission::Admit(Kind::Probe)
                } else {
                    // The probes will have answered within a second or so.
                    refuse(Duration::from_secs(1))
                }
            }
        };
        (admission, transition)
    }

    /// A call while closed: admitted, or refused by the throttle with the
    /// probability it gives; a change of throttling is a transition.
    fn throttled(&mut self, now: Instant, metrics_only: bool) -> (Admission, Option<Transition>) {
        let ratio = self.throttle.admit_ratio(now);
        let change = match (ratio < 1.0, self.admit_ratio < 1.0) {
            (true, false) => Some(Transition::ThrottleStarted(ratio)),
            (false, true) => Some(Transition::ThrottleEnded),
            _ => None,
        };
        self.admit_ratio = ratio;
        if ratio < 1.0 && self.rng.f64() >= ratio {
            // A refused request is still a request: what goes through
            // settles near what the upstream accepts, times K. It also
            // extends the streak: a dependency that accepts nothing is
            // opened even when the throttle lets few calls through.
            self.throttle.request(now);
            self.streak += 1;
            if let Some(opened) = self.stalled(now) {
                let admission = match self.state {
                    State::Open { until } if !metrics_only => {
                        Admission::Reject(until.saturating_duration_since(now))
                    }
                    _ => Admission::Admit(Kind::Unrecorded),
                };
                return (admission, Some(opened));
            }
            if !metrics_only {
                return (Admission::Throttle, change);
            }
            return (Admission::Admit(Kind::Unrecorded), change);
        }
        (Admission::Admit(Kind::Normal), change)
    }

    /// Records how an admitted call ended after `elapsed`.
    pub fn record(
        &mut self,
        kind: Kind,
        outcome: Outcome,
        elapsed: Duration,
        now: Instant,
    ) -> Option<Transition> {
        self.record_call(kind, outcome.into(), elapsed, now)
    }

    /// Records how an admitted call ended after `elapsed`, telling a
    /// timeout from a failure.
    pub fn record_call(
        &mut self,
        kind: Kind,
        call: Call,
        elapsed: Duration,
        now: Instant,
    ) -> Option<Transition> {
        let slow = elapsed >= self.settings.slow_call_threshold;
        let outcome = match call {
            Call::Success => Outcome::Success,
            Call::Failure | Call::TimedOut => Outcome::Failure,
            Call::Ignored => Outcome::Ignored,
        };
        match (kind, self.state) {
            (Kind::Normal, State::Closed) if call != Call::Ignored => {
                self.closed_outcome(call, slow, now)
            }
            (
                Kind::Probe,
                State::HalfOpen {
                    in_flight,
                    successes,
                },
            ) => {
                let in_flight = in_flight.saturating_sub(1);
                let slow_counts = slow && self.settings.slow_call_rate > 0.0;
                match outcome {
                    Outcome::Failure | Outcome::Overloaded => {
                        Some(self.trip(Cause::ProbeFailed, now))
                    }
                    Outcome::Success if slow_counts => Some(self.trip(Cause::ProbeFailed, now)),
                    Outcome::Success => {
                        let successes = successes + 1;
                        if successes >= self.settings.half_open_probes.get() {
                            self.state = State::Closed;
                            self.trips = 0;
                            self.reset_counts();
                            Some(Transition::Closed)
                        } else {
                            self.state = State::HalfOpen {
                                in_flight,
                                successes,
                            };
                            None
                        }
                    }
                    // A local refusal says nothing: free the slot for another probe.
                    Outcome::Ignored => {
                        self.state = State::HalfOpen {
                            in_flight,
                            successes,
                        };
                        None
                    }
                }
            }
            // Late answers from an earlier phase, and unrecorded calls.
            _ => None,
        }
    }

    /// An admitted call was dropped before it ended (the caller gave up).
    /// A probe frees its slot, so half-open can never wedge; a normal call
    /// that had already been waiting past the slow threshold counts as slow.
    pub fn cancel(&mut self, kind: Kind, elapsed: Duration, now: Instant) -> Option<Transition> {
        self.record(kind, Outcome::Ignored, Duration::ZERO, now);
        if kind == Kind::Normal && elapsed >= self.settings.slow_call_threshold {
            return self.record(kind, Outcome::Success, elapsed, now);
        }
        None
    }

    fn closed_outcome(&mut self, call: Call, slow: bool, now: Instant) -> Option<Transition> {
        let failed = call != Call::Success;
        self.throttle.request(now);
        if failed {
            self.streak += 1;
            self.streak_since.get_or_insert(now);
            self.consecutive += u32::from(call == Call::Failure);
            self.successes = 0;
        } else {
            self.throttle.accept(now);
            (self.consecutive, self.streak, self.streak_since) = (0, 0, None);
            self.successes += 1;
            if self.successes >= self.settings.minimum_calls.max(1) {
                // Everything admitted lately succeeded: the dip is over, and
                // counts from it must not hold refusals for the rest of the
                // span.
                self.throttle.clear();
            }
        }
        self.window.record(failed, slow, now);
        let s = &self.settings;
        if s.consecutive_failures > 0 && self.consecutive >= s.consecutive_failures {
            return Some(self.trip(Cause::ConsecutiveFailures, now));
        }
        if let Some(opened) = self.stalled(now) {
            return Some(opened);
        }
        let s = &self.settings;
        let totals = self.window.totals(now);
        if totals.calls == 0 || totals.calls < s.minimum_calls {
            return None;
        }
        let share = |n: u32| f64::from(n) / f64::from(totals.calls);
        // A timeout judges the rate only once nothing has succeeded for
        // STALL: before that, a window of nothing but timeouts is a queue
        // (thirty callers at once on a cold start), which the throttle
        // answers, not an outage.
        let patient = call == Call::TimedOut
            && self
                .streak_since
                .is_none_or(|since| now.saturating_duration_since(since) < STALL);
        if !patient && s.failure_rate > 0.0 && share(totals.failures) >= s.failure_rate {
            return Some(self.trip(Cause::FailureRate, now));
        }
        if s.slow_call_rate > 0.0 && share(totals.slow) >= s.slow_call_rate {
            return Some(self.trip(Cause::SlowCallRate, now));
        }
        None
    }

    /// Opens when nothing has succeeded for [`STALL`] while
    /// `consecutive_failures` calls failed, timed out or were throttled.
    fn stalled(&mut self, now: Instant) -> Option<Transition> {
        let threshold = self.settings.consecutive_failures;
        let stalled = self
            .streak_since
            .is_some_and(|since| now.saturating_duration_since(since) >= STALL);
        (threshold > 0 && self.streak >= threshold && stalled)
            .then(|| self.trip(Cause::NoSuccess, now))
    }

    /// Opens for `open_duration × 2^(trips − 1)`, capped at
    /// `max_open_duration`, then shortened by up to `jitter` at random so
    /// that many seawalls tripped together do not probe together.
    fn trip(&mut self, cause: Cause, now: Instant) -> Transition {
        self.trips = self.trips.saturating_add(1);
        let factor = 2u32.saturating_pow(self.trips - 1);
        let base = self
            .settings
            .open_duration
            .saturating_mul(factor)
            .min(self.settings.max_open_duration);
        let open_for = base.mul_f64(1.0 - self.settings.jitter * self.rng.f64());
        self.state = State::Open {
            until: now + open_for,
        };
        self.reset_counts();
        Transition::Opened(cause, open_for)
    }

    fn reset_counts(&mut self) {
        (self.consecutive, self.streak, self.streak_since) = (0, 0, None);
        self.successes = 0;
        self.window.clear();
        self.throttle.clear();
        self.admit_ratio = 1.0;
    }
}
