//! The adaptive concurrency limit: learns how many requests the upstream can
//! work on at once, as a pure state machine fed with completed requests.
//!
//! # What it estimates
//!
//! An upstream with `N` workers serves `N` requests at the no-load latency;
//! every request beyond `N` waits in its queue. The useful limit is `N`,
//! plus a request or two for tiny `N` so that a freed worker does not idle
//! while the next request travels. Little's law turns latency into that
//! number without knowing `N`: a queue of `Q` requests in front of a
//! throughput `X` delays every request by `Q / X`, so
//! `Q = X × (latency − no-load latency)`, and the capacity is the
//! concurrency in use minus `Q`. A cut goes straight to that estimate (a
//! halved upstream is followed in a window or two); growth steps by one
//! request near the knee and, while the latency stays flat, accelerates by
//! 1/8, 1/4, then 1/2 of the limit (a doubled upstream is found in a few
//! windows). The limit holds while the estimated queue is inside a band,
//! `L/24` to `L/12` requests (at least ¼ to ¾): a small standing queue keeps
//! workers busy, a larger one is latency for nothing.
//!
//! # Why not the known controllers
//!
//! * **Vegas / Gradient** (Netflix) compare each RTT, or a short average,
//!   with the minimum RTT: one fast answer (a cache hit) sets the minimum
//!   for good, and in a 50/50 mix of 2 ms and 20 ms requests every slow one
//!   reads as a queue of 90 % of the limit. Here both sides compare the same
//!   statistic, the 25th percentile (the 4th smallest of each batch of 16),
//!   which a queue shifts by its delay and a mix or a slow tail leaves alone.
//! * **Gradient2** takes a long-term average as the no-load latency; under
//!   sustained load it creeps up to the loaded latency, and the limit with
//!   it. Here the no-load latency comes from *clean* windows only (past a
//!   provisional first value): searches (below), re-measurements below the
//!   estimated capacity, and windows that never reached the limit. Windows
//!   that hold the tolerated queue never feed it.
//! * **Envoy** re-measures its minimum RTT by dropping to a minimum
//!   concurrency (3) for a window, periodically: a burst of refusals each
//!   time. Here, after `refresh` (10 s) of use without a clean window, one
//!   window runs at 15/16 of the *estimated capacity*: the standing queue
//!   drains, the no-load latency shows, and barely more is refused than
//!   under the limit itself. Under light load it never happens.
//! * **AIMD** halves on loss: a ±50 % saw-tooth, and no signal before the
//!   upstream already times out. Drops still cut here (by 10 %), but
//!   queueing is seen long before them.
//!
//! # Failure modes, and what guards against each
//!
//! * *Light load*: a window that never reached the limit says nothing about
//!   capacity. The limit grows only while the concurrency in use reaches
//!   half of it (so to about twice the peak, never unboundedly); such a
//!   window never triggers a re-measurement, and cuts only if the upstream
//!   itself queues. At a latency near the baseline nothing is refused.
//! * *A limit far above the use* protects nothing: only a limit that binds
//!   is cut, and an overload (or a halved upstream) reaches it only after
//!   its excess has queued in the upstream. A limit of 64 over 7 requests
//!   in use let a halved upstream's queue grow to 64 (760 ms, then
//!   timeouts) before the first cut. So the limit is kept within twice the
//!   recent peak in use plus two, or that peak plus 25 ms of the recent
//!   rate if that is more (peaks fade with a time constant of 1 s): the
//!   excess of a step is refused within a window or two, and a stall of a
//!   few milliseconds in front of a fast upstream (a CPU-throttled pod)
//!   does not turn into refusals. A burst far above both meets that limit
//!   first and may see a few refusals while it grows (a window or two of
//!   flat latency).
//! * *Noise*: one window over the band may be a batch of slow requests;
//!   only two in a row cut. Growth needs two quiet windows (three under a
//!   limit of 16). A window lasts at least one typical (mean) latency and
//!   8–16 requests; after a raise it counts only requests admitted a
//!   typical latency later (the raise's burst sees a queue still forming),
//!   so it sees the new limit's steady state and a fair mix of fast and
//!   slow requests, not merely the first ones back.
//! * *Small limits*: steps are whole requests, cuts round up, and the band
//!   floors at ¼–¾ of a request per endpoint the requests are spread over
//!   (`band.rs`): `N = 4` behind one endpoint settles at 5.
//! * *The baseline itself*: at start-up once a queue shows, and whenever
//!   it is in doubt (cuts collapse the limit below a quarter of where it
//!   last held, or two re-measurements in a row find the latency
//!   higher), a **search** halves
//!   the concurrency window by window until the latency stops falling: a
//!   latency that no longer depends on concurrency is the no-load latency,
//!   whatever it was believed to be. So an upstream that got slower is
//!   relearnt (after a dip) instead of starved at `min`, and an initial
//!   limit far above capacity is walked down. A faster upstream is taken at
//!   once: a latency 1/8 below the baseline cannot be a queue. The first
//!   search starts from the capacity the light-load baseline implies, and
//!   does not settle while the latency stays far above that baseline.
//! * *Where it starts*: low (32 by default, as Envoy and Netflix's limiters
//!   start low). A limit far above capacity when an overload arrives lets
//!   that many requests queue in the upstream, and the walk down waits for
//!   them to drain: 4.8 s from 256 in front of 6 workers. A limit the
//!   traffic reaches grows while the latency stays flat.
//! * *An upstream that does not serve its queue in order* (a pool whose
//!   freed worker takes any waiter, new arrivals barging past woken ones):
//!   part of its queue is served at once, so a low percentile shows only a
//!   part of the queueing delay. It still grows with the queue, so cuts
//!   still come, later; what must not happen is learning a loaded latency
//!   as the baseline. So a baseline creeps only from windows within 1/8 of
//!   it, and a search that finds the latency *higher* at half the
//!   concurrency does not settle: the level above was measured while its
//!   queue was still forming, and it halves again. (A trimmed mean would
//!   see every order alike, by Little's law, but a window closed on its
//!   first completions holds the fast requests of a mixed upstream and not
//!   yet its slow ones: tried, it collapsed the limit on a 2/20 ms mix.)
//! * *Drops* (timeouts, overload answers): over 5 % of a window's requests
//!   cut the limit to 90 % of the concurrency in use.
//!
//! # Cost
//!
//! `on_sample` is O(1) and allocates nothing: a few additions and at most
//! four comparisons into a fixed array; the decision runs once per window.
//! The state is a plain struct: the caller holds it behind its lock.

use std::time::Duration;

use tokio::time::Instant;

mod band;
mod moves;
mod recheck;
mod settings;
mod window;

use recheck::Recheck;
pub use settings::AdaptiveSettings;
use window::{Stats, Window};

/// Shortest decision window, whatever the latency.
const MIN_WINDOW: Duration = Duration::from_millis(5);
/// Growth steps while the latency stays flat, as fractions of the limit.
const GROWTH: [f64; 3] = [1.0 / 8.0, 1.0 / 4.0, 1.0 / 2.0];
/// Share of dropped requests in a window that cuts the limit.
const DROP_RATIO: f64 = 0.05;
/// How long a peak of concurrency in use keeps the limit up (the time
/// constant of its fade).
const USE_MEMORY: f64 = 1.0;
/// Requests a limit keeps above twice the recent peak in use.
const HEADROOM: f64 = 2.0;
/// The stall whose arrivals a limit leaves room for above the recent peak
/// in use, seconds (see `keep_near_use`).
const BURST: f64 = 0.025;

/// Twice the capacity a window implies (its concurrency less its queue),
/// at most its concurrency: a search's first level is half of it. A right
/// baseline puts that level at the capacity, so an overloaded upstream is
/// found in two windows instead of one halving per window; a baseline
/// taken under load makes it the concurrency itself, and the search halves
/// as it would without it.
fn search_from(s: &Stats, queue: f64) -> f64 {
    (2.0 * (s.kbar - queue)).clamp(1.0, s.kbar.max(1.0))
}

/// The adaptive concurrency limit. Feed it every completed request with
/// [`on_sample`](Self::on_sample); admit while in flight < [`limit`](Self::limit).
#[derive(Debug)]
pub struct AdaptiveLimit {
    settings: AdaptiveSettings,
    limit: u32,
    /// No-load latency (25th percentile), seconds.
    base: Option<f64>,
    /// When `base` was last confirmed by a clean window.
    confirmed: Option<Instant>,
    recheck: Recheck,
    /// Refreshes in a row that found the latency above the baseline.
    misses: u32,
    slow_start: bool,
    /// Consecutive growth steps taken while the latency stayed flat.
    streak: usize,
    /// Quiet windows in a row, and their summed (signed) queue.
    calm: (u32, f64),
    /// Windows in a row over the band.
    hot: u32,
    /// Windows since the last one over the band.
    settled: u32,
    /// The limit where it last held or grew (collapse detection).
    anchor: u32,
    /// The peak concurrency in use, fading over [`USE_MEMORY`].
    used: f64,
    /// The peak completion rate per second, fading likewise.
    rate: f64,
    /// Endpoints the requests are spread over (see [`band`]).
    spread: u32,
    /// A running mean of all latencies (window length, settling time).
    typical: f64,
    changed_at: Instant,
    /// Whether the last change raised the limit.
    raised: bool,
    window: Window,
}

impl AdaptiveLimit {
    /// A limit at `settings.initial`, learning from `now` on.
    pub fn new(settings: AdaptiveSettings, now: Instant) -> Self {
        let min = settings.min.max(1);
        let settings = AdaptiveSettings {
            min,
            max: settings.max.max(min),
            ..settings
        };
        let limit = settings.initial.clamp(settings.min, settings.max);
        Self {
            settings,
            limit,
            base: None,
            confirmed: None,
            recheck: Recheck::None,
            misses: 0,
            slow_start: true,
            streak: 0,
            calm: (0, 0.0),
            hot: 0,
            settled: 0,
            anchor: limit,
            used: f64::from(limit) / 2.0,
            rate: 0.0,
            spread: 1,
            typical: 0.0,
            changed_at: now,
            raised: false,
            window: Window::new(now),
        }
    }

    /// Requests that may be in flight now.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// How many endpoints the requests are spread over (at least 1).
    pub fn set_spread(&mut self, endpoints: usize) {
        self.spread = u32::try_from(endpoints.max(1)).unwrap_or(u32::MAX);
    }

    /// The learnt no-load latency (25th percentile), once measured.
    pub fn baseline(&self) -> Option<Duration> {
        self.base.and_then(|b| Duration::try_from_secs_f64(b).ok())
    }

    /// Records one completed request: `rtt` from admission to its response
    /// (or failure), `inflight_at_start` the requests in flight right after
    /// it was admitted (itself included), `dropped` if it timed out or was
    /// refused by an overloaded upstream.
    pub fn on_sample(
        &mut self,
        now: Instant,
        rtt: Duration,
        inflight_at_start: u32,
        dropped: bool,
    ) {
        if dropped {
            self.window.drops += 1;
            self.window.drop_peak = self.window.drop_peak.max(inflight_at_start);
        } else {
            let secs = rtt.as_secs_f64();
            self.typical += (secs - self.typical) / if self.typical == 0.0 { 1.0 } else { 64.0 };
            self.window.completions += 1;
            // After a raise, the requests admitted in its burst see a queue
            // still forming: skip a typical latency's worth. After a cut,
            // nothing is admitted until the excess has left: no need.
            let settle = if self.raised { self.scale() } else { 0.0 };
            let since_change = now.saturating_duration_since(self.changed_at);
            if since_change.as_secs_f64() - secs >= settle {
                self.window.push(secs, inflight_at_start);
            }
        }
        if self.ready(now) {
            self.decide(now);
        }
    }

    /// The latency scale of windows and settling: the typical latency (in
    /// a search, at most the latency one level up: the mean of the loaded
    /// latencies decays too slowly to pace a walk down).
    fn scale(&self) -> f64 {
        let typical = match self.recheck {
            Recheck::Search { prev, .. } => self.typical.min(prev),
            _ => self.typical,
        };
        typical.max(self.base.unwrap_or(0.0))
    }

    fn ready(&self, now: Instant) -> bool {
        let mut wanted = self.limit.saturating_mul(2).clamp(8, 16);
        if !matches!(self.recheck, Recheck::None) {
            // A re-measurement sets the baseline: take more samples.
            wanted = self.limit.saturating_mul(2).clamp(8, 256);
        }
        let open = now.saturating_duration_since(self.window.opened);
        let long = open >= MIN_WINDOW && open.as_secs_f64() >= self.scale();
        long && (self.window.fresh >= wanted || self.window.drops >= wanted)
    }

    pub(super) fn set_limit(&mut self, limit: u32, now: Instant) {
        let limit = limit.clamp(self.settings.min, self.settings.max);
        if limit != self.limit {
            self.raised = limit > self.limit;
            self.limit = limit;
            self.changed_at = now;
        }
    }

    fn decide(&mut self, now: Instant) {
        let (fresh, drop_peak) = (self.window.fresh, self.window.drop_peak);
        let Some(s) = self.window.close(now) else {
            // Nothing but drops: cut, if the limit binds (as in `judge`).
            if fresh == 0 && drop_peak >= self.limit {
                self.cut_for_drops(now, self.limit);
            }
            return;
        };
        match std::mem::replace(&mut self.recheck, Recheck::None) {
            Recheck::None => {}
            Recheck::Refresh { restore } => {
                if self.finish_refresh(now, &s, restore) {
                    return;
                }
            }
            Recheck::Search { restore, prev } => return self.finish_search(now, &s, restore, prev),
        }
        let base = *self.base.get_or_insert(s.lat);
        tracing::trace!(
            limit = self.limit,
            lat_ms = s.lat * 1e3,
            base_ms = base * 1e3,
            x = s.x,
            kbar = s.kbar,
            peak = s.peak,
            drops = s.drop_ratio,
            "adaptive window"
        );
        if s.lat < base * 7.0 / 8.0 {
            // Lower than a queue could make it: the upstream got faster.
            self.base = Some(s.lat);
        }
        self.judge(now, &s);
    }

    /// The decision on an ordinary window.
    fn judge(&mut self, now: Instant, s: &Stats) {
        let base = self.base.unwrap_or(s.lat);
        let signed = s.x * (s.lat - base);
        // A queue of our own requests is at most what was in flight less
        // the one in service: a delay that would need more is not ours
        // (the path or the upstream got slower, or this process is starved
        // of CPU), and refusing requests would not shorten it.
        let queue = signed.max(0.0).min((s.kbar - 1.0).max(0.0));
        let saturated = s.peak >= self.limit;
        let (a, b) = band::band(self.limit, self.spread);
        if !saturated && queue < a && s.lat <= base * 9.0 / 8.0 {
            // Unqueued and not held back by the limit: keeps a measured
            // baseline current. (Not a first measurement: a window of a
            // ramp-up can be unsaturated and still queue upstream.)
            self.base = Some(base + (s.lat - base) / 8.0);
            if self.confirmed.is_some() {
                self.confirmed = Some(now);
            }
        }
        // Only a limit that binds is cut: below it the concurrency is the
        // callers' own (a closed loop, a CPU-starved host), and refusing
        // would turn latency into errors without shortening any queue.
        self.hot = if queue > b && saturated {
            self.hot + 1
        } else {
            0
        };
        self.settled = if self.hot > 0 {
            0
        } else {
            self.settled.saturating_add(1)
        };
        if s.drop_ratio > DROP_RATIO && saturated {
            self.cut_for_drops(now, s.peak);
        } else if saturated && self.confirmed.is_none() && (queue > a || s.lat > base * 1.25) {
            // A queue, and nothing measured below this concurrency yet (a
            // limit that binds with the latency flat grows instead, as it
            // starts low): search first,
            // from the capacity the provisional baseline implies when that
            // is below half the concurrency in use (a baseline from light
            // load makes it close; a loaded one makes it the concurrency
            // itself, and the search halves as usual).
            self.hot = 0;
            self.start_search(now, s.lat, search_from(s, queue));
        } else if self.hot >= 2 {
            self.cut(now, s, queue, a);
        } else if self.hot == 1 {
            // Over the band once: could be a batch of slow requests.
            self.calm = (0, 0.0);
            self.streak = 0;
        } else if saturated && self.settled >= 2 && self.stale(now) {
            self.start_refresh(now, s, queue < a);
        } else if self.slow_start && saturated && queue < b {
            self.set_limit(self.limit.saturating_mul(2), now);
            self.anchor = self.limit;
        } else if queue < a && (saturated || s.peak.saturating_mul(2) >= self.limit) {
            self.grow(now, signed, a, saturated);
        } else {
            self.hold();
        }
        self.keep_near_use(now, s);
    }
}
