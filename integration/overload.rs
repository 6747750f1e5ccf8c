//! Overload: seawall in front of an upstream with a fixed capacity, offered
//! three times that capacity, open loop.
//!
//! The upstream's capacity is emulated: every request takes a fixed
//! `delay=20ms` and seawall's compartment allows `max_concurrent: 8`, so the
//! system serves at most 8 / 20 ms ≈ 400 req/s (the test upstream has no
//! concurrency limit of its own). The queue holds 2: a quarter of the slots,
//! so a waiter waits about a quarter of a service time. The claims: admitted
//! requests stay fast, the excess is refused at once with 503 +
//! `Retry-After`, goodput stays near capacity, and latency is back to
//! normal shortly after the load drops.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::load::{Sample, one, open_loop, quantile};
use common::{Seawall, Upstream, basic_config, h1_client};
use tokio::time::Instant;

const MAX_CONCURRENT: usize = 8;
const DELAY_MS: u64 = 20;
const LOAD: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sheds_excess_at_three_times_capacity_and_keeps_admitted_latency() {
    let upstream = Upstream::spawn("app").await;
    let config = format!(
        "{}    admission:\n      max_concurrent: {MAX_CONCURRENT}\n      max_queue: 2\n",
        basic_config(&[upstream.addr])
    );
    let sw = Seawall::start(&config).await;
    let url = sw.url(&format!("/work?delay={DELAY_MS}ms"));
    let client = h1_client();
    let client = Arc::new(client);

    // Open enough connections on both sides (client → seawall → upstream)
    // that the loaded phase measures queueing, not TCP handshakes.
    let warm = (0..4 * MAX_CONCURRENT).map(|_| one(&client, &url));
    futures_util::future::join_all(warm).await;
    // Unloaded: well under capacity.
    let base = open_loop(&client, &url, 50, Duration::from_secs(1)).await;
    assert!(base.iter().all(|s| s.status == 200));
    let base_lat: Vec<_> = base.iter().map(|s| s.latency).collect();
    let base_p99 = quantile(base_lat.clone(), 0.99);
    let base_mean = base_lat.iter().sum::<Duration>() / base_lat.len() as u32;
    let capacity = MAX_CONCURRENT as f64 / base_mean.as_secs_f64();

    // Three times capacity.
    let rate = (3.0 * capacity) as u64;
    let start = Instant::now();
    let loaded = open_loop(&client, &url, rate, LOAD).await;
    let load_dropped = Instant::now();
    let ok: Vec<&Sample> = loaded.iter().filter(|s| s.status == 200).collect();
    let shed: Vec<&Sample> = loaded.iter().filter(|s| s.status == 503).collect();
    assert_eq!(ok.len() + shed.len(), loaded.len(), "only 200s and 503s");
    let ok_p99 = quantile(ok.iter().map(|s| s.latency).collect(), 0.99);
    let ok_p50 = quantile(ok.iter().map(|s| s.latency).collect(), 0.5);
    let ok_p90 = quantile(ok.iter().map(|s| s.latency).collect(), 0.9);
    let shed_p99 = quantile(shed.iter().map(|s| s.latency).collect(), 0.99);
    let last_ok = ok.iter().map(|s| s.done).max().unwrap();
    let goodput = ok.len() as f64 / (last_ok - start).as_secs_f64();

    // Recovery: one request at a time until five in a row are 200 within
    // twice the unloaded p99.
    let mut streak = 0;
    let recovered = loop {
        let s = one(&client, &url).await;
        let good = s.status == 200 && s.latency <= 2 * base_p99;
        streak = if good { streak + 1 } else { 0 };
        if streak == 5 {
            break s.done - load_dropped;
        }
        assert!(
            load_dropped.elapsed() < Duration::from_secs(5),
            "no recovery"
        );
    };

    let mut reasons: Vec<&str> = shed.iter().filter_map(|s| s.reason.as_deref()).collect();
    reasons.sort();
    reasons.dedup();
    eprintln!(
        "capacity {capacity:.0}/s, offered {rate}/s for {LOAD:?}: {} sent, {} ok, {} shed ({reasons:?}); \
         unloaded p99 {base_p99:?} (mean {base_mean:?}); admitted p50/p90/p99 {ok_p50:?}/{ok_p90:?}/{ok_p99:?}; 503 p99 {shed_p99:?}; \
         goodput {goodput:.0}/s ({:.0}% of capacity); recovered in {recovered:?}",
        loaded.len(),
        ok.len(),
        shed.len(),
        100.0 * goodput / capacity,
    );

    assert!(shed.len() > loaded.len() / 3, "the excess is refused");
    assert!(
        ok_p99 <= 2 * base_p99,
        "admitted p99 {ok_p99:?} vs unloaded {base_p99:?}"
    );
    for s in &shed {
        assert!(
            s.retry_after.is_some_and(|r| r >= 1),
            "Retry-After on every 503"
        );
        assert!(s.reason.as_deref().is_some_and(|r| r.starts_with("shed-")));
    }
    // Refusals are local and immediate: well under one upstream round trip
    // plus scheduling noise on a busy 2-core machine.
    assert!(
        shed_p99 <= Duration::from_millis(50),
        "503 p99 {shed_p99:?}"
    );
    assert!(
        goodput >= 0.9 * capacity,
        "goodput {goodput:.0}/s of {capacity:.0}/s"
    );
    assert!(
        recovered <= Duration::from_secs(2),
        "recovered in {recovered:?}"
    );
}
