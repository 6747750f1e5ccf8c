//! The adaptive limit's two re-measurements of the no-load latency, each a
//! window run at a lower limit on purpose.
//!
//! * **Refresh**: after `refresh` in use without a clean window, one window
//!   at 15/16 of the estimated capacity. The standing queue drains, so the
//!   window sees the no-load latency; then the limit goes back. If even
//!   there the latency is higher, the knee moved: the window is judged as
//!   an ordinary one and the refresh is retried soon.
//! * **Search**: at start-up (nothing confirmed yet), when cuts collapse
//!   the limit, and when two refreshes in a row find the latency higher,
//!   halve concurrency window by window until the latency stops falling
//!   with it. A latency that no longer depends on concurrency is the
//!   no-load latency, whatever it was believed to be; the limit goes back
//!   to the last level before the latency stopped falling.

use tokio::time::Instant;

use super::AdaptiveLimit;
use super::window::Stats;

/// A measurement window in progress, with what to do with its result.
#[derive(Clone, Copy, Debug)]
pub(super) enum Recheck {
    /// An ordinary window.
    None,
    /// Runs just below capacity to re-measure the no-load latency; then
    /// back to `restore`.
    Refresh { restore: u32 },
    /// Halves concurrency until the latency stops falling; `prev` is the
    /// latency one level up, `restore` that level.
    Search { restore: u32, prev: f64 },
}

impl AdaptiveLimit {
    /// One window at 15/16 of the estimated capacity, to see the no-load
    /// latency with the standing queue drained.
    pub(super) fn start_refresh(&mut self, now: Instant, s: &Stats, quiet: bool) {
        let base = self.base.unwrap_or(s.lat);
        let estimate = s.kbar - s.x * (s.lat - base).max(0.0);
        let target = (estimate * 15.0 / 16.0).round().max(0.0) as u32;
        if target.max(self.settings.min) >= self.limit {
            // No room below (a tiny limit): this window is as clean as any.
            if quiet {
                self.base = Some(base + (s.lat - base) / 2.0);
            }
            self.confirmed = Some(now);
            return;
        }
        self.slow_start = false;
        self.streak = 0;
        self.recheck = Recheck::Refresh {
            restore: self.limit,
        };
        self.set_limit(target, now);
    }

    /// Returns whether the window was used up by the refresh.
    pub(super) fn finish_refresh(&mut self, now: Instant, s: &Stats, restore: u32) -> bool {
        let base = self.base.unwrap_or(s.lat);
        if s.lat > base * 17.0 / 16.0 {
            self.misses += 1;
            if self.misses >= 2 && self.limit >= 16 {
                // Twice higher than the baseline below the estimate: the
                // baseline itself is in doubt. Settle it by a search.
                self.misses = 0;
                self.start_search(now, s.lat, s.kbar);
                return true;
            }
            // Higher below the estimate: the knee moved, or the window was
            // noise (a few samples at a low level). Back to where it was,
            // judge this window like any other (a queue that is real
            // shows again at that level and is cut), and look again soon.
            // Staying at the lower level would refuse what the upstream
            // may well serve.
            self.confirmed = now.checked_sub(self.settings.refresh.mul_f64(0.75));
            self.set_limit(restore, now);
            return false;
        }
        self.misses = 0;
        // Within 1/16: average (the drain's own noise halves); far lower:
        // the baseline was high, take the measurement.
        self.base = Some(if s.lat < base * 15.0 / 16.0 {
            s.lat
        } else {
            (base + s.lat) / 2.0
        });
        self.confirmed = Some(now);
        self.set_limit(restore, now);
        true
    }

    /// One window at half the concurrency in use (`kbar`); `lat` is the
    /// latency measured at the current level.
    pub(super) fn start_search(&mut self, now: Instant, lat: f64, kbar: f64) {
        let level = ((kbar / 2.0) as u32).max(self.settings.min);
        if level >= self.limit {
            // At the floor: what is seen is the no-load latency.
            self.base = Some(lat);
            self.confirmed = Some(now);
            return;
        }
        self.recheck = Recheck::Search {
            restore: self.limit,
            prev: lat,
        };
        self.set_limit(level, now);
    }

    /// Lower again while the latency falls with concurrency; else settle.
    pub(super) fn finish_search(&mut self, now: Instant, s: &Stats, restore: u32, prev: f64) {
        let fell = s.lat < prev * 7.0 / 8.0;
        // Higher at half the concurrency: the level above was measured
        // while its queue was still forming (a transient), so nothing is
        // known yet; lower again rather than take a loaded latency.
        let rose = s.lat > prev * 9.0 / 8.0;
        // Before any confirmation, a baseline seen at light load is the
        // best guess there is: flat latency far above it is a queue that
        // this upstream's order of service hides from the percentile.
        let above = self.confirmed.is_none() && self.base.is_some_and(|b| s.lat > b * 9.0 / 8.0);
        if (fell || rose || above) && self.limit > self.settings.min {
            // Latency fell with concurrency: that was a queue. Lower again.
            return self.start_search(now, s.lat, s.kbar);
        }
        // Latency no longer depends on concurrency: the no-load latency.
        self.base = Some(s.lat);
        self.confirmed = Some(now);
        self.anchor = restore;
        self.set_limit(restore, now);
    }
}
