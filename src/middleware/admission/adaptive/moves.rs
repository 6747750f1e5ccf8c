//! The adaptive limit's moves once a window is judged: a cut to the
//! capacity estimate, growth while the latency stays flat, holding, and a
//! cut for drops.

use tokio::time::Instant;

use super::window::Stats;
use super::{AdaptiveLimit, BURST, GROWTH, HEADROOM, USE_MEMORY, search_from};

impl AdaptiveLimit {
    /// Straight to the capacity estimate plus the tolerated queue, at most
    /// halving; a collapse far below the last level is searched instead.
    pub(super) fn cut(&mut self, now: Instant, s: &Stats, queue: f64, a: f64) {
        self.hot = 0;
        self.slow_start = false;
        self.streak = 0;
        self.calm = (0, 0.0);
        let target = (s.kbar - queue + a).ceil().max(0.0) as u32;
        let new = target.max(self.limit / 2).min(self.limit.saturating_sub(1));
        if new < self.anchor / 4 && self.confirmed.is_some() {
            // Far below where it last held: suspect the baseline.
            self.start_search(now, s.lat, search_from(s, queue));
        } else {
            self.set_limit(new, now);
        }
    }

    /// Quiet windows: one step near the knee, accelerating while clear.
    pub(super) fn grow(&mut self, now: Instant, signed: f64, a: f64, saturated: bool) {
        self.slow_start = false;
        self.calm = (self.calm.0 + 1, self.calm.1 + signed);
        let avg = if self.streak > 0 {
            signed
        } else {
            self.calm.1 / f64::from(self.calm.0)
        };
        let clear = saturated && avg < a / 2.0;
        let need = match (saturated, self.limit < 16) {
            (false, _) => 1,
            (true, true) => 3,
            (true, false) => 2,
        };
        if clear && (self.streak > 0 || self.calm.0 >= need) {
            let step = f64::from(self.limit) * GROWTH[self.streak.min(GROWTH.len() - 1)];
            self.streak += 1;
            self.calm = (0, 0.0);
            self.set_limit(self.limit.saturating_add((step as u32).max(1)), now);
        } else if self.calm.0 >= need {
            self.streak = 0;
            self.calm = (0, 0.0);
            self.set_limit(self.limit.saturating_add((self.limit / 64).max(1)), now);
        } else if !clear {
            self.streak = 0;
        }
        self.anchor = self.limit;
    }

    pub(super) fn hold(&mut self) {
        self.slow_start = false;
        self.streak = 0;
        self.calm = (0, 0.0);
        self.anchor = self.limit;
    }

    pub(super) fn cut_for_drops(&mut self, now: Instant, peak: u32) {
        self.hold();
        let used = self.limit.min(peak.max(1));
        self.set_limit((used - used / 10).min(self.limit.saturating_sub(1)), now);
    }

    /// Brings a limit far above the recent use down to twice the recent
    /// peak in use plus [`HEADROOM`], or the peak plus what [`BURST`] of
    /// the recent rate brings, if that is more. Only a limit that binds is
    /// cut for a queue, and an open-loop overload reaches it only after
    /// its excess has queued in the upstream: a limit of 64 over 7
    /// requests in use let a halved upstream's queue grow to 64 (760 ms)
    /// before the first cut. The burst term is for fast upstreams under a
    /// high rate: a stall of a few milliseconds (a CPU-throttled pod, a
    /// client's pause) sends that much at once, and at 500 req/s with 2 or
    /// 3 in flight, twice the peak refused 45 of 7,500 requests to a fast,
    /// healthy upstream.
    pub(super) fn keep_near_use(&mut self, now: Instant, s: &Stats) {
        let fade = (-s.span / USE_MEMORY).exp();
        self.used = (self.used * fade).max(f64::from(s.peak));
        self.rate = (self.rate * fade).max(s.x);
        let burst = self.used + self.rate * BURST;
        let cap = (2.0 * self.used + HEADROOM).max(burst).ceil() as u32;
        if cap < self.limit {
            self.set_limit(cap, now);
            self.anchor = self.anchor.min(self.limit);
        }
    }

    pub(super) fn stale(&self, now: Instant) -> bool {
        self.confirmed
            .is_none_or(|at| now.saturating_duration_since(at) >= self.settings.refresh)
    }
}
