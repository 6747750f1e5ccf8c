//! Client-side adaptive throttling, the breaker's answer to overload.
//!
//! The SRE book (ch. 21) has each client keep, over the last moments, the
//! requests it wanted to send and the ones the upstream accepted, and refuse
//! a new request with probability
//!
//! ```text
//! p = max(0, (requests − K × accepts) / (requests + 1))
//! ```
//!
//! Refused requests count as requests, so what goes through settles near
//! `K × accepts`: about what the upstream has been accepting, with headroom
//! `K` for it to show that it can take more. An upstream that serves half
//! of what it gets (K = 2) is not throttled at all; one that serves a tenth
//! gets about a fifth of the traffic; one that serves nothing gets nearly
//! nothing, and the breaker's own rules open it fully. It never cuts off an
//! upstream that still serves, which a binary breaker tripped by a failure
//! rate does.
//!
//! The counts cover the last [`SPAN`] (ten buckets, whole-bucket expiry):
//! short, so that once the upstream accepts again the refusals stop within
//! about a second, and long enough to hold a few hundred calls at ordinary
//! rates. Below `minimum` requests in the span nothing is refused: one
//! failure of a quiet cluster is not a reason to refuse its next call.

use std::time::Duration;

use tokio::time::Instant;

/// The span the counts cover.
pub const SPAN: Duration = Duration::from_secs(2);

const BUCKETS: usize = 10;

#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    /// Which slice of time (`elapsed / (SPAN / BUCKETS)`) it counts.
    slice: u64,
    requests: u32,
    accepts: u32,
}

/// Requests and accepts over the last [`SPAN`].
#[derive(Clone, Debug)]
pub struct Throttle {
    k: f64,
    minimum: u32,
    /// Slices are counted from the first request.
    origin: Option<Instant>,
    buckets: [Bucket; BUCKETS],
}

impl Throttle {
    /// A throttle admitting up to `k` times what the upstream accepts (`k`
    /// of 0 turns it off), judging nothing on fewer than `minimum` requests.
    pub fn new(k: f64, minimum: u32) -> Self {
        Self {
            k,
            minimum,
            origin: None,
            buckets: [Bucket::default(); BUCKETS],
        }
    }

    /// The share of new requests to admit now, in `(0, 1]`.
    pub fn admit_ratio(&self, now: Instant) -> f64 {
        if self.k <= 0.0 {
            return 1.0;
        }
        let (requests, accepts) = self.totals(now);
        if requests < self.minimum.max(1) {
            return 1.0;
        }
        let requests = f64::from(requests);
        let refuse = (requests - self.k * f64::from(accepts)) / (requests + 1.0);
        1.0 - refuse.clamp(0.0, 1.0)
    }

    /// Counts a request the breaker had to decide on (admitted or refused).
    pub fn request(&mut self, now: Instant) {
        self.origin.get_or_insert(now);
        self.bucket(now).requests += 1;
    }

    /// Counts a request the upstream accepted (answered successfully).
    pub fn accept(&mut self, now: Instant) {
        self.origin.get_or_insert(now);
        self.bucket(now).accepts += 1;
    }

    /// Forgets every count (a new regime: the breaker closed again).
    pub fn clear(&mut self) {
        self.buckets = [Bucket::default(); BUCKETS];
    }

    fn slice(&self, now: Instant) -> u64 {
        let width = SPAN.as_nanos() / BUCKETS as u128;
        let Some(origin) = self.origin else {
            return 0;
        };
        let elapsed = now.saturating_duration_since(origin).as_nanos();
        u64::try_from(elapsed / width).unwrap_or(u64::MAX)
    }

    fn bucket(&mut self, now: Instant) -> &mut Bucket {
        let slice = self.slice(now);
        let index = usize::try_from(slice % BUCKETS as u64).unwrap_or(0);
        let bucket = &mut self.buckets[index];
        if bucket.slice != slice {
            *bucket = Bucket {
                slice,
                ..Bucket::default()
            };
        }
        bucket
    }

    fn totals(&self, now: Instant) -> (u32, u32) {
        let current = self.slice(now);
        self.buckets
            .iter()
            .filter(|b| current.saturating_sub(b.slice) < BUCKETS as u64)
            .fold((0, 0), |(r, a), b| (r + b.requests, a + b.accepts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test(start_paused = true)]
    async fn an_upstream_serving_half_is_not_throttled_at_k_2() {
        let t0 = Instant::now();
        let mut t = Throttle::new(2.0, 20);
        for i in 0..200 {
            let now = t0 + MS * i;
            t.request(now);
            if i % 2 == 0 {
                t.accept(now);
            }
        }
        assert!(t.admit_ratio(t0 + 200 * MS) > 0.99);
    }

    #[tokio::test(start_paused = true)]
    async fn the_admit_ratio_tracks_what_the_upstream_accepts() {
        let t0 = Instant::now();
        let mut t = Throttle::new(2.0, 20);
        // The upstream accepts one in ten: about a fifth gets through.
        for i in 0..1000 {
            let now = t0 + MS * i;
            t.request(now);
            if i % 10 == 0 {
                t.accept(now);
            }
        }
        let ratio = t.admit_ratio(t0 + 1000 * MS);
        assert!((0.15..=0.25).contains(&ratio), "{ratio}");
        // Nothing accepted for a whole span: almost nothing admitted.
        for i in 1000..3000 {
            t.request(t0 + MS * i);
        }
        assert!(t.admit_ratio(t0 + 3000 * MS) < 0.05);
    }

    #[tokio::test(start_paused = true)]
    async fn refusals_stop_once_the_old_counts_age_out() {
        let t0 = Instant::now();
        let mut t = Throttle::new(2.0, 20);
        for i in 0..100 {
            t.request(t0 + MS * i);
        }
        assert!(t.admit_ratio(t0 + 100 * MS) < 0.05);
        assert_eq!(t.admit_ratio(t0 + 100 * MS + SPAN), 1.0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_cluster_or_k_0_is_never_throttled() {
        let t0 = Instant::now();
        let mut t = Throttle::new(2.0, 20);
        for _ in 0..19 {
            t.request(t0);
        }
        assert_eq!(t.admit_ratio(t0), 1.0, "fewer than minimum requests");
        let mut off = Throttle::new(0.0, 20);
        for _ in 0..100 {
            off.request(t0);
        }
        assert_eq!(off.admit_ratio(t0), 1.0);
    }
}
