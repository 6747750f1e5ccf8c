//! The adaptive limit against upstreams that break the easy assumptions:
//! mixed latencies, a slow tail, an upstream that slows down, and a start
//! far above capacity. Same simulated upstream as `adaptive`, 3× overload.

use std::time::Duration;

use super::super::adaptive::AdaptiveSettings;
use super::MS;
use super::adaptive_sim::{Service, Sim};

fn settings(initial: u32) -> AdaptiveSettings {
    AdaptiveSettings {
        min: 1,
        max: 4096,
        initial,
        refresh: Duration::from_secs(2),
    }
}

/// Runs `service` on `n` workers at 3× capacity for `warm`, then returns
/// the mean limit, its share of time within ±20 % of `n`, and the goodput
/// over the next `span`.
fn overload(n: u32, service: Service, warm: Duration, span: Duration) -> (f64, f64, f64) {
    let capacity = f64::from(n) / service.mean().as_secs_f64();
    let mut sim = Sim::new(settings(16), n, service, 3.0 * capacity, 5);
    sim.run(warm);
    sim.reset();
    sim.run(span);
    let (mean, _, _) = sim.period.limits();
    let (lo, hi) = (0.8 * f64::from(n), 1.2 * f64::from(n));
    let trace = &sim.period.trace;
    let inside = trace
        .iter()
        .filter(|t| (lo..=hi).contains(&f64::from(t.1)))
        .count();
    let goodput = sim.period.completed as f64 / (capacity * span.as_secs_f64());
    (mean, inside as f64 / trace.len() as f64, goodput)
}

#[test]
fn tolerates_bimodal_latencies() {
    // Half the requests take 2 ms (cache hits), half 20 ms. A minimum-RTT
    // controller reads every slow one as a 90 % queue.
    let mix = Service::Mix {
        fast: MS * 2,
        slow: MS * 20,
        share: 0.5,
    };
    for n in [32, 256] {
        let (mean, inside, goodput) = overload(n, mix, secs(5), secs(10));
        let cell = format!("N={n}: mean {mean:.1}, in band {inside:.2}");
        assert!((0.8..=1.2).contains(&(mean / f64::from(n))), "{cell}");
        assert!(inside >= 0.9, "{cell}");
        assert!(goodput >= 0.97, "{cell}: goodput {goodput:.3}");
    }
}

#[test]
fn ignores_rare_very_slow_requests() {
    // 2 % of requests take 50 times longer: they hold workers (capacity is
    // counted with the mean service time) but are no queue.
    let tail = Service::Mix {
        fast: MS * 20,
        slow: MS * 1000,
        share: 0.02,
    };
    let (mean, inside, goodput) = overload(32, tail, secs(10), secs(20));
    let cell = format!("mean {mean:.1}, in band {inside:.2}");
    assert!((25.6..=38.4).contains(&mean), "{cell}");
    assert!(inside >= 0.9, "{cell}");
    assert!(goodput >= 0.9, "{cell}: goodput {goodput:.3}");
}

#[test]
fn relearns_the_baseline_when_the_upstream_slows() {
    // Same 32 workers, every request now twice as slow: the no-load latency
    // rose, the capacity in requests did not. Cuts cannot bring the latency
    // back; the search must find the new baseline instead of starving the
    // upstream at the floor.
    let s = MS * 20;
    let mut sim = Sim::new(settings(16), 32, Service::around(s), 3.0 * 1600.0, 5);
    sim.run(secs(10));
    let before = sim.ctl.baseline().expect("measured");
    sim.service = Service::around(s * 2);
    sim.run(secs(5));
    sim.reset();
    sim.run(secs(10));
    let after = sim.ctl.baseline().expect("measured");
    let (mean, min, _) = sim.period.limits();
    assert!(
        after.as_secs_f64() > 1.8 * before.as_secs_f64(),
        "{before:?} -> {after:?}"
    );
    assert!((25.6..=38.4).contains(&mean), "mean {mean:.1}");
    assert!(min >= 16, "starved at {min}");
    let goodput = sim.period.completed as f64 / (800.0 * 10.0);
    assert!(goodput >= 0.97, "goodput {goodput:.3}");
}

#[test]
fn finds_capacity_from_an_initial_limit_far_above_it() {
    // Starting at 1024 in front of 32 workers already 3× overloaded: the
    // first window looks like "no queue" (it is all the latency there is),
    // so the controller searches down before trusting it.
    let s = MS * 20;
    let mut sim = Sim::new(settings(1024), 32, Service::around(s), 3.0 * 1600.0, 5);
    sim.run(secs(3));
    sim.reset();
    sim.run(secs(5));
    let (mean, min, max) = sim.period.limits();
    assert!(
        (25.6..=38.4).contains(&mean),
        "mean {mean:.1} [{min}..{max}]"
    );
    assert!(max <= 48, "still far above: {max}");
    let base = sim.ctl.baseline().expect("measured");
    assert!(base < s, "baseline {base:?} is the loaded latency");
}

#[test]
fn sees_a_queue_served_out_of_order() {
    // Workers that take a random waiter (a pool whose waiters race for a
    // freed slot, new arrivals barging past woken ones): some queued
    // requests are served almost at once, so the low end of the latency
    // distribution moves less than the queue's mean delay, which still
    // grows by Q / X whatever the order (Little's law). From far above
    // capacity the first saturated windows see a queue still forming: a
    // search that trusted them learnt a loaded latency as the baseline and
    // wandered between 1 and 219 for N = 5.
    let s = MS * 20;
    for (n, initial) in [(5, 16), (32, 16), (5, 64), (32, 128), (5, 256), (32, 256)] {
        let capacity = f64::from(n) / s.as_secs_f64();
        let mut sim = Sim::new(settings(initial), n, Service::around(s), 3.0 * capacity, 7);
        sim.random_order = true;
        sim.run(secs(10));
        sim.reset();
        sim.run(secs(20));
        let (mean, min, max) = sim.period.limits();
        let goodput = sim.period.completed as f64 / (capacity * 20.0);
        let p99 = sim.period.p99();
        let tiny = if n < 10 { 2.0 } else { 0.0 };
        let cell = format!(
            "N={n} from {initial}: mean {mean:.1} [{min}..{max}], goodput {goodput:.3}, p99 {p99:?}"
        );
        assert!(mean <= 1.2 * f64::from(n) + tiny, "{cell}: queue unseen");
        assert!(mean >= 0.8 * f64::from(n), "{cell}");
        assert!(goodput >= 0.97, "{cell}");
        assert!(p99 <= s * 3, "{cell}");
    }
}

#[test]
fn walks_down_from_the_ceiling_within_two_seconds_of_an_overload() {
    // The defaults, the upstream lightly used (the limit unused, so never
    // grown past its start), then three times its capacity at once, served
    // out of order. The limit must reach the upstream's capacity within
    // 2 s. Starting at 256 took 4.8 s for N = 6: the upstream's queue of 256
    // drains at its own pace, and every level of the walk down waits for
    // it; and the percentile, blind to most of an out-of-order queue,
    // settled the first search at a loaded latency until the search was
    // held to the baseline seen at light load.
    for (n, ms) in [(6, 36), (32, 20), (5, 200)] {
        let s = MS * ms;
        let capacity = f64::from(n) / s.as_secs_f64();
        let mut sim = Sim::new(
            AdaptiveSettings::default(),
            n,
            Service::around(s),
            0.5 * capacity,
            9,
        );
        sim.random_order = true;
        sim.run(secs(4));
        sim.reset();
        sim.rate = 3.0 * capacity;
        let from = sim.elapsed();
        sim.run(secs(6));
        let trace = &sim.period.trace;
        let hi = 1.2 * f64::from(n) + if n < 10 { 2.0 } else { 0.0 };
        let reached = trace
            .iter()
            .find(|t| f64::from(t.1) <= hi)
            .map(|t| t.0 - from);
        let later: Vec<u32> = trace
            .iter()
            .filter(|t| t.0 >= from + secs(2))
            .map(|t| t.1)
            .collect();
        let cell = format!(
            "N={n} S={s:?}: reached {hi} after {reached:?}, then up to {:?}",
            later.iter().max()
        );
        assert!(reached.is_some_and(|r| r <= secs(2)), "{cell}");
        assert!(later.iter().all(|&l| f64::from(l) <= 1.5 * hi), "{cell}");
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
