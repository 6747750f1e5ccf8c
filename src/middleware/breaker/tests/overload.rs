//! Overload is not an outage: timeouts while other calls succeed do not
//! open the breaker, the throttle admits about what the upstream accepts,
//! and only a dependency that accepts nothing is cut off.

use super::*;
use crate::middleware::breaker::state::{Call, STALL};

fn throttling() -> BreakerSettings {
    BreakerSettings {
        consecutive_failures: 20,
        failure_rate: 1.0,
        window: BreakerWindow::Time(10 * SEC),
        minimum_calls: 20,
        accept_multiplier: 2.0,
        ..settings()
    }
}

/// Offers one call at `now`, ending as `call()` says if admitted; the
/// refusal otherwise.
fn offer(b: &mut BreakerState, now: Instant, call: impl FnOnce() -> Call) -> Option<Admission> {
    let (admission, _) = b.acquire(now);
    if let Admission::Admit(kind) = admission {
        b.record_call(kind, call(), MS, now);
        return None;
    }
    Some(admission)
}

/// An upstream of fixed capacity: one call answered per `every`, the
/// rest time out.
struct Capacity {
    every: Duration,
    slot: Option<u128>,
}

impl Capacity {
    fn new(every: Duration) -> Self {
        Self { every, slot: None }
    }

    fn serve(&mut self, at: Duration) -> Call {
        let slot = at.as_nanos() / self.every.as_nanos();
        if self.slot == Some(slot) {
            Call::TimedOut
        } else {
            self.slot = Some(slot);
            Call::Success
        }
    }
}

#[tokio::test(start_paused = true)]
async fn timeouts_with_successes_in_between_never_open_it() {
    let t0 = Instant::now();
    let mut b = machine(throttling());
    // 500 calls a second to an upstream that answers 50 (one per 20 ms):
    // nine in ten time out, for 30 s.
    let mut upstream = Capacity::new(20 * MS);
    for i in 0..15_000u32 {
        let at = MS * i * 2;
        offer(&mut b, t0 + at, || upstream.serve(at));
        assert_ne!(b.phase(), Phase::Open, "opened after {i} calls");
    }
}

#[tokio::test(start_paused = true)]
async fn refused_connections_or_5xx_in_a_row_open_it_at_once() {
    let t0 = Instant::now();
    let mut b = machine(throttling());
    for i in 0..19 {
        offer(&mut b, t0 + MS * i, || Call::Failure);
        assert_eq!(b.phase(), Phase::Closed);
    }
    offer(&mut b, t0 + 19 * MS, || Call::Failure);
    assert_eq!(b.phase(), Phase::Open, "20 hard failures in 20 ms");
}

#[tokio::test(start_paused = true)]
async fn nothing_succeeding_for_the_stall_time_opens_it() {
    let t0 = Instant::now();
    let mut b = machine(throttling());
    for i in 0..100u32 {
        offer(&mut b, t0 + MS * i, || Call::Success);
    }
    // A paused dependency: every attempt times out from here on.
    let paused = t0 + 100 * MS;
    let mut opened = None;
    for i in 0..2000u32 {
        let now = paused + MS * i;
        offer(&mut b, now, || Call::TimedOut);
        if b.phase() == Phase::Open {
            opened = Some(now - paused);
            break;
        }
    }
    let opened = opened.expect("a paused dependency opens the breaker");
    assert!(opened >= STALL && opened < STALL + 100 * MS, "{opened:?}");
}

#[tokio::test(start_paused = true)]
async fn a_cold_start_whose_first_calls_all_time_out_does_not_open_it() {
    // Thirty callers at once in front of an upstream that serves five at a
    // time: on a slow start the first calls to end are all timeouts, enough
    // to fill `minimum_calls` with nothing succeeded in the window. That is
    // overload, not an outage: only STALL (nothing succeeding for 1 s)
    // may open the breaker on timeouts.
    let t0 = Instant::now();
    let mut b = machine(throttling());
    for i in 0..30u32 {
        offer(&mut b, t0 + MS * 60 + MS * i, || Call::TimedOut);
        assert_eq!(b.phase(), Phase::Closed, "opened after {} timeouts", i + 1);
    }
    let mut upstream = Capacity::new(20 * MS);
    for i in 0..1_000u32 {
        let at = MS * 100 + MS * i * 2;
        offer(&mut b, t0 + at, || upstream.serve(at));
        assert_ne!(b.phase(), Phase::Open, "opened while it serves");
    }
}

#[tokio::test(start_paused = true)]
async fn the_throttle_admits_about_k_times_what_the_upstream_accepts() {
    let t0 = Instant::now();
    let mut b = machine(throttling());
    // 400 calls a second to an upstream that answers 50: the throttle
    // settles near K × 50 = 100 admitted a second.
    let mut upstream = Capacity::new(20 * MS);
    let (mut offered, mut admitted) = (0u32, 0u32);
    for i in 0..40_000u32 {
        let at = MS * i * 5 / 2;
        let refused = offer(&mut b, t0 + at, || upstream.serve(at));
        assert_ne!(b.phase(), Phase::Open, "opened while it serves");
        if i >= 20_000 {
            offered += 1;
            match refused {
                None => admitted += 1,
                Some(Admission::Throttle) => {}
                Some(other) => panic!("{other:?}"),
            }
        }
    }
    let share = f64::from(admitted) / f64::from(offered);
    assert!(
        (0.18..=0.32).contains(&share),
        "admitted {share:.2} of the offered load"
    );
}

#[tokio::test(start_paused = true)]
async fn refusals_stop_within_a_second_once_the_upstream_accepts_again() {
    let t0 = Instant::now();
    let mut b = machine(throttling());
    // 2,000 calls a second to an upstream that answers 100.
    let mut upstream = Capacity::new(10 * MS);
    for i in 0..10_000u32 {
        let at = MS * i / 2;
        offer(&mut b, t0 + at, || upstream.serve(at));
    }
    assert!(b.admit_ratio() < 0.9, "throttling during the dip");
    let back = t0 + 5000 * MS;
    let mut last_refusal = None;
    for i in 0..4000u32 {
        let now = back + MS * i / 2;
        if offer(&mut b, now, || Call::Success).is_some() {
            last_refusal = Some(now - back);
        }
    }
    let last = last_refusal.unwrap_or_default();
    assert!(last < SEC, "refused until {last:?} after recovery");
    assert_eq!(b.admit_ratio(), 1.0);
    assert_eq!(b.phase(), Phase::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_quiet_cluster_with_a_few_failures_is_not_throttled() {
    let t0 = Instant::now();
    let mut b = machine(throttling());
    for i in 0..10u32 {
        assert_eq!(offer(&mut b, t0 + SEC * i, || Call::Failure), None);
    }
}
