//! One decision window of the adaptive limit: what the completed requests
//! of the window say, gathered in O(1) per request without allocating.
//!
//! The latency statistic is the 25th percentile, kept exactly per batch of
//! 16 requests as the 4th smallest (a four-slot sorted array), and averaged
//! over the window's batches. A low percentile because service times are
//! skewed to the right (a slow tail, a slow mode) while queueing shifts
//! every request alike: the lower part of the distribution moves by the
//! queueing delay and by little else.

use tokio::time::Instant;

/// Requests per batch, and the smallest kept of each (its lower quarter).
const BATCH: u32 = 16;
const KEEP: usize = 4;

/// The smallest latencies of up to [`BATCH`] requests.
#[derive(Clone, Copy, Debug)]
struct Batch {
    count: u32,
    low: [f64; KEEP],
}

impl Batch {
    const EMPTY: Self = Self {
        count: 0,
        low: [f64::INFINITY; KEEP],
    };

    fn push(&mut self, x: f64) {
        self.count += 1;
        if x < self.low[KEEP - 1] {
            let mut i = KEEP - 1;
            while i > 0 && self.low[i - 1] > x {
                self.low[i] = self.low[i - 1];
                i -= 1;
            }
            self.low[i] = x;
        }
    }

    /// The 25th percentile: the `count/4`-th smallest (rounded), once there
    /// are at least four samples.
    fn quartile(&self) -> Option<f64> {
        let rank = ((self.count + 2) / (BATCH / KEEP as u32)).clamp(1, KEEP as u32);
        (self.count >= KEEP as u32).then(|| self.low[rank as usize - 1])
    }
}

/// What a closed window says.
#[derive(Clone, Copy, Debug)]
pub(super) struct Stats {
    /// The latency statistic, seconds.
    pub lat: f64,
    /// Completions per second (every request, fresh or not).
    pub x: f64,
    /// Mean concurrency the fresh requests were admitted at.
    pub kbar: f64,
    /// Highest concurrency a fresh request was admitted at.
    pub peak: u32,
    /// Share of dropped requests.
    pub drop_ratio: f64,
    /// How long the window lasted, seconds.
    pub span: f64,
}

/// A window being filled.
#[derive(Clone, Copy, Debug)]
pub(super) struct Window {
    pub opened: Instant,
    /// Requests that completed (not dropped) during the window.
    pub completions: u32,
    /// Requests that were dropped (timed out, refused upstream).
    pub drops: u32,
    /// Highest concurrency a dropped request was admitted at.
    pub drop_peak: u32,
    /// Completed requests admitted under the current limit, settled.
    pub fresh: u32,
    inflight_sum: u64,
    peak: u32,
    batch: Batch,
    lat_sum: f64,
    lat_weight: f64,
}

impl Window {
    pub(super) fn new(now: Instant) -> Self {
        Self {
            opened: now,
            completions: 0,
            drops: 0,
            drop_peak: 0,
            fresh: 0,
            inflight_sum: 0,
            peak: 0,
            batch: Batch::EMPTY,
            lat_sum: 0.0,
            lat_weight: 0.0,
        }
    }

    /// Adds a fresh request: its latency (seconds) and the concurrency it
    /// was admitted at.
    pub(super) fn push(&mut self, secs: f64, inflight: u32) {
        self.fresh += 1;
        self.inflight_sum += u64::from(inflight);
        self.peak = self.peak.max(inflight);
        self.batch.push(secs);
        if self.batch.count == BATCH {
            if let Some(q) = self.batch.quartile() {
                self.lat_sum += q;
                self.lat_weight += 1.0;
            }
            self.batch = Batch::EMPTY;
        }
    }

    /// Ends the window (a new one opens at `now`); `None` when no batch had
    /// four fresh requests.
    pub(super) fn close(&mut self, now: Instant) -> Option<Stats> {
        let w = std::mem::replace(self, Self::new(now));
        let (mut sum, mut weight) = (w.lat_sum, w.lat_weight);
        if let Some(q) = w.batch.quartile() {
            // A partial batch counts for its share of a full one.
            let share = f64::from(w.batch.count) / f64::from(BATCH);
            sum += q * share;
            weight += share;
        }
        if weight == 0.0 {
            return None;
        }
        let elapsed = now.saturating_duration_since(w.opened).as_secs_f64();
        Some(Stats {
            lat: sum / weight,
            x: f64::from(w.completions) / elapsed.max(f64::MIN_POSITIVE),
            kbar: w.inflight_sum as f64 / f64::from(w.fresh.max(1)),
            peak: w.peak,
            drop_ratio: f64::from(w.drops) / f64::from((w.drops + w.completions).max(1)),
            span: elapsed,
        })
    }
}
