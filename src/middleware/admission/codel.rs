//! The two estimators the queue decides with: CoDel's "is the queue
//! standing?" and an EWMA of the service time. Pure: time comes in as
//! arguments.
//!
//! CoDel (Nichols & Jacobson, as folly's `Codel` applies it to server
//! queues) looks at the *minimum* sojourn time over an interval rather than
//! the average or the current length: a burst that drains within one
//! interval leaves at least one short sojourn and is a good queue; when even
//! the luckiest request of a whole interval waited longer than `target`, the
//! queue is standing, a bad queue, and the layer starts shedding.

use std::time::Duration;

use tokio::time::Instant;

/// CoDel's state: the minimum sojourn seen in the current interval.
#[derive(Debug)]
pub(crate) struct Codel {
    target: Duration,
    interval: Duration,
    interval_end: Instant,
    min_sojourn: Option<Duration>,
    overloaded: bool,
}

impl Codel {
    /// A CoDel estimator whose first interval starts at `now`.
    pub(crate) fn new(target: Duration, interval: Duration, now: Instant) -> Self {
        Self {
            target,
            interval,
            interval_end: now + interval,
            min_sojourn: None,
            overloaded: false,
        }
    }

    /// Applies new parameters; the current interval and verdict are kept.
    pub(crate) fn set(&mut self, target: Duration, interval: Duration) {
        self.target = target;
        self.interval = interval;
    }

    /// The acceptable standing delay.
    pub(crate) fn target(&self) -> Duration {
        self.target
    }

    /// Records the queue delay of a request that got (or was denied) its
    /// turn; a request admitted at once records zero.
    pub(crate) fn observe(&mut self, sojourn: Duration) {
        self.min_sojourn = Some(self.min_sojourn.map_or(sojourn, |m| m.min(sojourn)));
    }

    /// Closes the interval if it has ended and returns whether the queue is
    /// standing. `head_age` is how long the oldest waiter has waited: when
    /// nobody left the queue during a whole interval, it is a lower bound of
    /// every sojourn still to come. Returns `Some(new_verdict)` when the
    /// verdict changed, for a log line per transition. Like CoDel, only
    /// requests that left the queue count when there are any: a waiter
    /// that just arrived says nothing about how long the queue has stood.
    pub(crate) fn roll(&mut self, now: Instant, head_age: Option<Duration>) -> Option<bool> {
        if now < self.interval_end {
            return None;
        }
        let min = self.min_sojourn.or(head_age);
        let overloaded = min.is_some_and(|m| m > self.target);
        self.min_sojourn = None;
        self.interval_end = now + self.interval;
        let changed = overloaded != self.overloaded;
        self.overloaded = overloaded;
        changed.then_some(overloaded)
    }

    /// Whether the last closed interval found a standing queue.
    pub(crate) fn overloaded(&self) -> bool {
        self.overloaded
    }
}

/// Weight of a new latency sample in the service-time average. 0.1 follows
/// roughly the last 10–20 requests: fast enough to notice an upstream that
/// slowed down within a fraction of a second at production rates, steady
/// enough that one outlier does not swing the deadline checks.
const EWMA_WEIGHT: f64 = 0.1;

/// An exponentially weighted moving average of service time (permit granted
/// → response headers), `None` until the first sample.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ServiceTime {
    secs: Option<f64>,
}

impl ServiceTime {
    /// Folds one sample in.
    pub(crate) fn observe(&mut self, sample: Duration) {
        let x = sample.as_secs_f64();
        self.secs = Some(match self.secs {
            Some(avg) => avg + EWMA_WEIGHT * (x - avg),
            None => x,
        });
    }

    /// The current estimate, if any request has completed.
    pub(crate) fn get(&self) -> Option<Duration> {
        self.secs.and_then(|s| Duration::try_from_secs_f64(s).ok())
    }
}
