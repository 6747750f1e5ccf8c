//! What goes into and comes out of the breaker's state machine: how a call
//! ended, the phase, why it opened, and the transitions to log once.

use std::time::Duration;

use crate::middleware::classify::Outcome;

/// How long nothing may succeed, while failures keep coming, before the
/// breaker opens on a streak that includes timeouts (see [`Call::TimedOut`]).
pub const STALL: Duration = Duration::from_secs(1);

/// How a call ended, as the breaker counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// The upstream answered acceptably.
    Success,
    /// The upstream is broken for this call: refused or failed connection,
    /// reset, protocol error, a failure status.
    Failure,
    /// The attempt ran out of time: the upstream may be broken, or only
    /// busy. It opens the breaker only when nothing else succeeds for
    /// [`STALL`]; while other calls succeed it is overload, which the
    /// throttle answers by refusing the excess.
    TimedOut,
    /// Says nothing about the upstream (a local refusal).
    Ignored,
}

impl From<Outcome> for Call {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Success => Self::Success,
            Outcome::Failure => Self::Failure,
            Outcome::Ignored => Self::Ignored,
            // Busy, not broken: the throttle's business, like a timeout.
            Outcome::Overloaded => Self::TimedOut,
        }
    }
}

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
    /// Nothing succeeded for [`STALL`] while `consecutive_failures` calls
    /// failed or timed out.
    NoSuccess,
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
    /// Refused by the throttle: the upstream accepts only part of the load.
    Throttle,
}

/// A phase change, to be logged and counted once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Transition {
    /// Closed or half-open → open, for this long.
    Opened(Cause, Duration),
    /// Open → half-open.
    HalfOpened,
    /// Half-open → closed.
    Closed,
    /// The throttle started refusing part of the load (the upstream
    /// accepts only part of it: overload), admitting this share.
    ThrottleStarted(f64),
    /// The throttle admits everything again.
    ThrottleEnded,
}
