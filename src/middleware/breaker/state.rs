//! The breaker's decisions as a pure state machine: no I/O, no tasks, time
//! passed in. `Breaker` (in `shared.rs`) wraps it in a mutex; tests drive it
//! with explicit `Instant`s.

use std::time::Duration;

use tokio::time::Instant;

use super::window::Window;
use crate::config::{BreakerMode, BreakerSettings};
use crate::middleware::classify::Outcome;

/// The breaker's phase, as metrics and the admin API show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Requests flow; outcomes are counted.
    Closed,
    /// Requests are refused until the open time ends.
    Open,
    /// A few probe requests test whether the upstream recovered.
    HalfOpen,
}

/// Why the breaker opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// `consecutive_failures` in a row.
    ConsecutiveFailures,
    /// The failure share of the window reached `failure_rate`.
    FailureRate,
    /// The slow share of the window reached `slow_call_rate`.
    SlowCallRate,
    /// A half-open probe failed (or was slow).
    ProbeFailed,
}

/// How an admitted call is accounted for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A call while closed: its outcome feeds the triggers.
    Normal,
    /// A half-open probe: holds a probe slot until it ends.
    Probe,
    /// Admitted without being counted (forced closed, or metrics-only while open).
    Unrecorded,
}

/// The answer to "may this call go ahead?".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead, accounted as this kind.
    Admit(Kind),
    /// Refused; the breaker may admit again after this long.
    Reject(Duration),
}

/// A phase change, to be logged and counted once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Closed or half-open → open, for this long.
    Opened(Cause, Duration),
    /// Open → half-open.
    HalfOpened,
    /// Half-open → closed.
    Closed,
}

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
    consecutive: u32,
    window: Window,
    /// Trips since the breaker last closed: the backoff exponent.
    trips: u32,
    rng: fastrand::Rng,
}

impl BreakerState {
    /// A closed breaker; `rng` draws the open-time jitter (seed it in tests).
    pub fn new(settings: BreakerSettings, rng: fastrand::Rng) -> Self {
        Self {
            window: Window::new(settings.window),
            settings,
            state: State::Closed,
            consecutive: 0,
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

    /// Records how an admitted call ended after `elapsed`.
    pub fn record(
        &mut self,
        kind: Kind,
        outcome: Outcome,
        elapsed: Duration,
        now: Instant,
    ) -> Option<Transition> {
        let slow = elapsed >= self.settings.slow_call_threshold;
        match (kind, self.state) {
            (Kind::Normal, State::Closed) if outcome != Outcome::Ignored => {
                self.closed_outcome(outcome == Outcome::Failure, slow, now)
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
                    Outcome::Failure => Some(self.trip(Cause::ProbeFailed, now)),
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

    fn closed_outcome(&mut self, failed: bool, slow: bool, now: Instant) -> Option<Transition> {
        self.consecutive = if failed { self.consecutive + 1 } else { 0 };
        self.window.record(failed, slow, now);
        let s = &self.settings;
        if s.consecutive_failures > 0 && self.consecutive >= s.consecutive_failures {
            return Some(self.trip(Cause::ConsecutiveFailures, now));
        }
        let totals = self.window.totals(now);
        if totals.calls == 0 || totals.calls < s.minimum_calls {
            return None;
        }
        let share = |n: u32| f64::from(n) / f64::from(totals.calls);
        if s.failure_rate > 0.0 && share(totals.failures) >= s.failure_rate {
            return Some(self.trip(Cause::FailureRate, now));
        }
        if s.slow_call_rate > 0.0 && share(totals.slow) >= s.slow_call_rate {
            return Some(self.trip(Cause::SlowCallRate, now));
        }
        None
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
        self.consecutive = 0;
        self.window.clear();
    }
}
