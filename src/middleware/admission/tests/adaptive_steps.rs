//! The adaptive limit step by step: requests fed one by one at explicit
//! instants, each test driving one rule.

use std::time::Duration;

use tokio::time::Instant;

use super::super::adaptive::{AdaptiveLimit, AdaptiveSettings};
use super::MS;

/// A controller and its clock.
struct Steps {
    ctl: AdaptiveLimit,
    now: Instant,
}

impl Steps {
    fn new(min: u32, max: u32, initial: u32) -> Self {
        let now = Instant::now();
        let settings = AdaptiveSettings {
            min,
            max,
            initial,
            refresh: Duration::from_secs(10),
        };
        Self {
            ctl: AdaptiveLimit::new(settings, now),
            now,
        }
    }

    /// `n` requests of latency `rtt` complete one every `gap`, each
    /// admitted at concurrency `inflight` (`None`: the current limit).
    fn feed(&mut self, n: u32, gap: Duration, rtt: Duration, inflight: Option<u32>) {
        for _ in 0..n {
            self.now += gap;
            let k = inflight.unwrap_or(self.ctl.limit());
            self.ctl.on_sample(self.now, rtt, k, false);
        }
    }

    /// Like [`feed`](Self::feed) for `span` of time, with a saturated limit
    /// and the throughput of an upstream of `workers` at `rtt` (when the
    /// limit exceeds the workers, the latency grows as a queue would).
    fn upstream(&mut self, span: Duration, workers: u32, service: Duration) {
        let end = self.now + span;
        while self.now < end {
            let limit = self.ctl.limit();
            let served = limit.min(workers);
            let rtt = service * limit / served;
            let gap = service / served;
            self.feed(1, gap, rtt, None);
        }
    }
}

#[test]
fn learns_the_no_load_latency_and_brings_an_unused_limit_near_the_use() {
    let mut s = Steps::new(1, 1000, 100);
    // Five in flight, 10 ms each: the limit of 100 is never reached.
    s.feed(2000, MS * 2, MS * 10, Some(5));
    let base = s.ctl.baseline().expect("measured");
    assert!(
        base.abs_diff(MS * 10) < Duration::from_micros(100),
        "{base:?}"
    );
    // Not cut for a queue (there is none), but a limit of 100 over five
    // requests protects nothing: a step in load or a halved upstream would
    // queue 100 there before the first cut. It keeps twice the peak in use
    // plus two (12), or here, at 500 a second, the peak plus 25 ms of that
    // rate (5 + 12.5), room for the arrivals of a short stall.
    assert_eq!(s.ctl.limit(), 18, "kept near the use");
}

#[test]
fn grows_a_limit_only_to_about_twice_what_is_used() {
    let mut s = Steps::new(1, 1000, 20);
    // Twelve in flight at most: more than half of 20, so it may grow,
    // but the latency says nothing about capacity beyond twice that.
    s.feed(20_000, MS, MS * 10, Some(12));
    let limit = s.ctl.limit();
    assert!((20..=25).contains(&limit), "grew to {limit}");
}

#[test]
fn grows_while_latency_stays_flat() {
    let mut s = Steps::new(1, 256, 8);
    // An upstream far bigger than the limit: latency never moves.
    s.upstream(Duration::from_secs(5), 10_000, MS * 10);
    assert_eq!(s.ctl.limit(), 256, "up to the ceiling");
    let base = s.ctl.baseline().expect("measured");
    assert!(
        base.abs_diff(MS * 10) < Duration::from_micros(100),
        "{base:?}"
    );
}

#[test]
fn cuts_to_the_capacity_estimate_when_a_queue_appears() {
    let mut s = Steps::new(1, 40, 40);
    // 40 workers at 10 ms: flat latency, the limit sits at its ceiling.
    s.upstream(Duration::from_secs(5), 40, MS * 10);
    assert_eq!(s.ctl.limit(), 40);
    // Half the workers go away: 40 in flight now take 20 ms (20 queued).
    s.upstream(Duration::from_secs(2), 20, MS * 10);
    let limit = s.ctl.limit();
    assert!((20..=24).contains(&limit), "cut to {limit}");
}

#[test]
fn one_slow_window_is_not_a_queue() {
    let mut s = Steps::new(1, 40, 40);
    s.upstream(Duration::from_secs(5), 40, MS * 10);
    // One batch of slow requests (a window needs at least 16): no cut.
    s.feed(16, Duration::from_micros(500), MS * 30, None);
    s.upstream(Duration::from_secs(1), 40, MS * 10);
    assert_eq!(s.ctl.limit(), 40, "no cut for a single window");
    // The same latency for several windows is a queue.
    s.feed(160, Duration::from_micros(500), MS * 30, None);
    assert!(s.ctl.limit() < 40, "cut when it lasts");
}

#[test]
fn cuts_when_requests_are_dropped() {
    let mut s = Steps::new(1, 40, 40);
    s.upstream(Duration::from_secs(5), 40, MS * 10);
    // Every fifth request times out (20 % > 5 %).
    for i in 0..200 {
        s.now += Duration::from_micros(250);
        s.ctl.on_sample(s.now, MS * 10, 40, i % 5 == 0);
    }
    assert!(s.ctl.limit() <= 36, "cut to {}", s.ctl.limit());
}

#[test]
fn stays_within_min_and_max() {
    let mut s = Steps::new(7, 7, 100);
    assert_eq!(s.ctl.limit(), 7, "initial clamped");
    s.upstream(Duration::from_secs(2), 10_000, MS * 10);
    assert_eq!(s.ctl.limit(), 7, "no growth past max");
    s.upstream(Duration::from_secs(2), 1, MS * 10);
    assert_eq!(s.ctl.limit(), 7, "no cut below min");
    let zero = Steps::new(0, 0, 0);
    assert_eq!(zero.ctl.limit(), 1, "min is at least 1");
}

#[test]
fn takes_a_faster_upstream_at_once() {
    let mut s = Steps::new(1, 1000, 100);
    s.feed(2000, MS * 2, MS * 10, Some(5));
    s.feed(500, MS * 2, MS * 5, Some(5));
    let base = s.ctl.baseline().expect("measured");
    assert!(
        base.abs_diff(MS * 5) < Duration::from_micros(100),
        "{base:?}"
    );
}

#[test]
fn never_cuts_a_limit_the_callers_do_not_reach() {
    // Eight callers in a closed loop on a host whose CPU is saturated: the
    // latency triples at the same concurrency, and a fifth of the answers
    // are 503s. The limit never binds, so refusing would turn the latency
    // into errors without shortening any queue: it is not cut below what
    // the callers use (only kept near twice that, as any unused limit).
    let mut s = Steps::new(2, 256, 32);
    s.feed(64, MS, MS * 8, Some(8));
    let mut lowest = u32::MAX;
    for i in 0..640 {
        s.now += MS * 3;
        s.ctl.on_sample(s.now, MS * 24, 8, i % 5 == 0);
        lowest = lowest.min(s.ctl.limit());
    }
    assert_eq!(lowest, 2 * 8 + 2);
}

#[test]
fn a_binding_start_with_flat_latency_grows_instead_of_searching() {
    // A burst of 32 at once meets the starting limit of 32, on an upstream
    // with room to spare: the latency stays at 50 ms. Searching (halving
    // the concurrency to re-measure) would refuse half the traffic for
    // nothing; the limit grows instead.
    let mut s = Steps::new(2, 256, 32);
    let mut lowest = u32::MAX;
    for _ in 0..256 {
        s.feed(1, MS * 2, MS * 50, None);
        lowest = lowest.min(s.ctl.limit());
    }
    assert_eq!(lowest, 32, "searched down");
    assert!(s.ctl.limit() > 32, "limit {}", s.ctl.limit());
}
