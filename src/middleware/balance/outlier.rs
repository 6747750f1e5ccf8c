//! Per-endpoint health: outlier ejection and active health-check state, as
//! pure arithmetic on explicit instants (no I/O, no tasks).
//!
//! # Ejection
//!
//! `consecutive_failures` upstream failures in a row (as the one classifier
//! judges them: connect errors, resets, configured 5xx, and attempts
//! cancelled after `cancelled_after`) eject the endpoint for
//! `base_ejection_time × ejections` (capped at `max_ejection_time`): a
//! replica that keeps failing stays out longer each time. The multiplier
//! starts over once the endpoint has stayed in for `max_ejection_time`. An
//! ejected endpoint rejoins by itself when its time is up.
//!
//! # Readmission proves health
//!
//! With active health checks, an ejected endpoint comes back early only
//! after `healthy_threshold` passing probes in a row that *started after* it
//! was ejected (HAProxy's `rise`): a probe already under way says nothing
//! about the failures that ejected it, and one pass readmitting at once let
//! a replica that failed half its requests flap in and out every second.
//! `health_check.readmit_ejected: false` turns early readmission off (the
//! endpoint serves out its ejection time; Envoy's
//! `successful_active_health_check_uneject_host: false`). An endpoint
//! ejected for its failure rate (`rate.rs`) always serves out its
//! time: it was passing its health checks while it failed, so passing them
//! again proves nothing. So does one ejected for a failure streak whose
//! window also holds successes at a failure share of `failure_percentage`
//! or more: it fails partially, which the same probes did not see (a
//! half-failing replica may string five failures together before it has the
//! request volume that failure-rate ejection needs).
//!
//! # The cap, and small clusters
//!
//! At most [`max_ejected`] endpoints are out at once: `max_ejection_percent`
//! of them, rounded, but at least one and never all. Envoy rounds down, so a
//! 3-endpoint cluster at 10% can never eject its one bad endpoint; rounding
//! that way would make ejection useless exactly where a bad replica hurts
//! most (one third of the traffic).
//!
//! # Health checks
//!
//! `unhealthy_threshold` failed probes in a row mark an endpoint unhealthy,
//! `healthy_threshold` passes in a row healthy again. An endpoint starts
//! healthy: a fresh start should serve at once, ejection covers the gap.

use std::time::Duration;

use tokio::time::Instant;

use super::rate::{Counts, FailureWindow};
use crate::config::{HealthCheckSettings, OutlierSettings};

/// How many of `n` endpoints may be ejected at once.
pub fn max_ejected(n: usize, percent: f64) -> usize {
    if n <= 1 || percent <= 0.0 {
        return 0;
    }
    // n is a count of endpoints: far below 2^53, and the product is in [0, n].
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let share = (n as f64 * percent).round() as usize;
    share.clamp(1, n - 1)
}

/// What changed for an endpoint, to be logged and counted once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Ejected for this long.
    Ejected(Duration),
    /// Back in rotation.
    Readmitted,
    /// Failed enough health checks.
    Unhealthy,
    /// Passed enough health checks.
    Healthy,
}

/// One endpoint's ejection and health-check state.
#[derive(Clone, Debug)]
pub struct EndpointHealth {
    consecutive: u32,
    ejections: u32,
    ejected_until: Option<Instant>,
    /// When the current ejection began.
    ejected_at: Option<Instant>,
    /// Passing probes in a row that started after `ejected_at`.
    rise: u32,
    /// The current ejection is for the failure rate: probes never end it early.
    by_rate: bool,
    /// Requests and failures over the failure-rate window.
    window: FailureWindow,
    in_since: Option<Instant>,
    /// When it last joined or came back: the start of its slow-start ramp.
    ramp_from: Option<Instant>,
    healthy: bool,
    passes: u32,
    fails: u32,
}

impl Default for EndpointHealth {
    fn default() -> Self {
        Self {
            consecutive: 0,
            ejections: 0,
            ejected_until: None,
            ejected_at: None,
            rise: 0,
            by_rate: false,
            window: FailureWindow::default(),
            in_since: None,
            ramp_from: None,
            healthy: true,
            passes: 0,
            fails: 0,
        }
    }
}

impl EndpointHealth {
    /// Whether the endpoint is out at `now`; readmits (once) when its time is up.
    pub fn ejected(&mut self, now: Instant) -> (bool, Option<Change>) {
        match self.ejected_until {
            Some(until) if now >= until => {
                self.readmit(now);
                (false, Some(Change::Readmitted))
            }
            Some(_) => (true, None),
            None => (false, None),
        }
    }

    /// When the current ejection ends, if it is ejected.
    pub fn ejected_until(&self) -> Option<Instant> {
        self.ejected_until
    }

    /// Whether the active health check considers it healthy.
    pub fn healthy(&self) -> bool {
        self.healthy
    }

    /// When it last joined or came back, if it ever did after the start.
    pub fn ramp_from(&self) -> Option<Instant> {
        self.ramp_from
    }

    /// Marks `now` as the start of a slow-start ramp.
    pub fn start_ramp(&mut self, now: Instant) {
        self.ramp_from = Some(now);
    }

    /// Records a success: the failure streak ends.
    pub fn success(&mut self, s: &OutlierSettings, now: Instant) {
        self.consecutive = 0;
        self.window.record(false, s.failure_percentage_window, now);
    }

    /// Records a failure. Returns the ejection time when this failure ejects
    /// the endpoint; `may_eject` says whether the cap leaves room.
    pub fn failure(
        &mut self,
        s: &OutlierSettings,
        may_eject: bool,
        now: Instant,
    ) -> Option<Change> {
        self.consecutive = self.consecutive.saturating_add(1);
        self.window.record(true, s.failure_percentage_window, now);
        let due = s.consecutive_failures > 0 && self.consecutive >= s.consecutive_failures;
        if !due || !may_eject || self.ejected_until.is_some() {
            return None;
        }
        // Successes between failures, and a failure share that failure-rate
        // ejection would call high, mean a partial failure that its health
        // check cannot see (a replica failing half its requests while its
        // `/health` passes): passing probes prove nothing, so they do not
        // end this ejection early, as for a failure-rate ejection.
        let seen = self.window.counts(s.failure_percentage_window, now);
        let partial = s.failure_percentage > 0.0
            && seen.failures < seen.requests
            && seen.share() >= s.failure_percentage;
        Some(self.eject(s, partial, now))
    }

    /// Ejects it for its failure rate (see `rate.rs`), unless it is out.
    pub fn eject_for_rate(&mut self, s: &OutlierSettings, now: Instant) -> Option<Change> {
        if self.ejected_until.is_some() {
            return None;
        }
        Some(self.eject(s, true, now))
    }

    /// Requests and failures over the failure-rate window at `now`.
    pub fn window(&mut self, s: &OutlierSettings, now: Instant) -> Counts {
        self.window.counts(s.failure_percentage_window, now)
    }

    fn eject(&mut self, s: &OutlierSettings, by_rate: bool, now: Instant) -> Change {
        if self
            .in_since
            .is_some_and(|since| now >= since + s.max_ejection_time)
        {
            self.ejections = 0;
        }
        self.ejections = self.ejections.saturating_add(1);
        let time = s
            .base_ejection_time
            .saturating_mul(self.ejections)
            .min(s.max_ejection_time);
        self.ejected_until = Some(now + time);
        self.ejected_at = Some(now);
        self.rise = 0;
        self.by_rate = by_rate;
        self.consecutive = 0;
        // It must earn its next ejection with new requests.
        self.window.clear();
        Change::Ejected(time)
    }

    /// Records one active health check that started at `started` and ended
    /// at `now`; `healthy_threshold` passes in a row that started after an
    /// ejection also readmit the endpoint, unless `readmit_ejected` is off.
    pub fn check(
        &mut self,
        s: &HealthCheckSettings,
        pass: bool,
        started: Instant,
        now: Instant,
    ) -> Vec<Change> {
        let mut changes = Vec::new();
        if pass {
            self.fails = 0;
            self.passes = self.passes.saturating_add(1);
            if !self.healthy && self.passes >= s.healthy_threshold.get() {
                self.healthy = true;
                self.ramp_from = Some(now);
                changes.push(Change::Healthy);
            }
            if self.ejected_at.is_some_and(|at| started >= at) {
                self.rise = self.rise.saturating_add(1);
            }
            if self.ejected_until.is_some()
                && s.readmit_ejected
                && !self.by_rate
                && self.rise >= s.healthy_threshold.get()
            {
                self.readmit(now);
                changes.push(Change::Readmitted);
            }
        } else {
            self.passes = 0;
            self.rise = 0;
            self.fails = self.fails.saturating_add(1);
            if self.healthy && self.fails >= s.unhealthy_threshold.get() {
                self.healthy = false;
                changes.push(Change::Unhealthy);
            }
        }
        changes
    }

    fn readmit(&mut self, now: Instant) {
        self.ejected_until = None;
        self.ejected_at = None;
        self.rise = 0;
        self.consecutive = 0;
        self.in_since = Some(now);
        self.ramp_from = Some(now);
    }
}
